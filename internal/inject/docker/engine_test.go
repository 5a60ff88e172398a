package docker_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestConnectUnreachable(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", host)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx)
	if err == nil {
		e.Close()
		t.Fatal("Connect to a missing socket succeeded")
	}
	want := "cannot reach the Docker daemon at " + host + ": is dockerd running? set DOCKER_HOST to use another"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Connect error = %q; want it to start with %q", err, want)
	}
	var ue *docker.UnreachableError
	if !errors.As(err, &ue) || ue.Host != host {
		t.Errorf("Connect error = %#v; want an *UnreachableError for %s", err, host)
	}
	if err.Error() != want {
		t.Errorf("Connect error = %q; want exactly %q", err, want)
	}
	if strings.Contains(err.Error(), "goroutine") || strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("Connect error spans lines: %q", err)
	}
}

func TestConnectBadHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "no-scheme")
	_, err := docker.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "check DOCKER_HOST") {
		t.Errorf("Connect with a malformed DOCKER_HOST = %v; want a hint to check it", err)
	}
}
