package docker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestRestart(t *testing.T) {
	grace := experiment.Duration(1200 * time.Millisecond)
	tests := []struct {
		p    *docker.RestartParams
		want *int
	}{
		{&docker.RestartParams{}, nil},
		{&docker.RestartParams{Timeout: &grace}, ptr(2)},
		{&docker.RestartParams{Timeout: new(experiment.Duration)}, ptr(0)},
	}
	for _, tt := range tests {
		var calls []string
		api := running(&calls)
		var got *int
		api.restart = func(_ string, o container.StopOptions) error {
			calls, got = append(calls, "restart"), o.Timeout
			return nil
		}
		u, err := newRun(api, "fake").hit(t, tt.p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(calls, []string{"restart"}) || (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("restart with timeout %v: calls %q, timeout %v; want one restart with %v", tt.p.Timeout, calls, got, tt.want)
		}
		if u.Action != "" {
			t.Errorf("restart: undo action %q; a restart has nothing to undo", u.Action)
		}
	}

	var calls []string
	api := running(&calls)
	api.restart = func(string, container.StopOptions) error { return notFound("container") }
	if _, err := newRun(api, "fake").hit(t, &docker.RestartParams{}); err == nil || !strings.Contains(err.Error(), "restart container web (0123456789ab): it no longer exists") {
		t.Errorf("restart of a removed container = %v", err)
	}
}
