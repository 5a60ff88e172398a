package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// TestProxyImage builds the chaos proxy image as `make proxy-image` does,
// runs it with its default command on the real engine, and drives it
// with Toxiproxy's Go client, as a compose file that ran Toxiproxy's
// image would.
func TestProxyImage(t *testing.T) {
	env := dockertest.New(t)
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv(dockertest.RequireEnv) == "1" {
			t.Fatalf("the docker command is not installed, and %s=1", dockertest.RequireEnv)
		}
		t.Skip("the docker command is not installed")
	}
	tag := env.Name("proxy") + ":test"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "../../scripts/proxy-image.sh", tag).CombinedOutput()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := env.Client.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", tag, err)
		}
	})
	if err != nil {
		t.Fatalf("scripts/proxy-image.sh %s: %v\n%s", tag, err, out)
	}
	created, err := env.Client.ContainerCreate(ctx, &container.Config{Image: tag, Labels: env.Labels(nil)}, nil, nil, nil, env.Name("proxy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ip := env.Inspect(created.ID).NetworkSettings.Networks["bridge"].IPAddress
	if ip == "" {
		t.Fatal("the container has no address on the default bridge")
	}
	api := net.JoinHostPort(ip, "8474")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + api + "/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /version from the container = %d; want 200 (the API must take a Host that is the container's address)", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's API did not answer within 20s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A proxy in the container in front of the container's own API.
	client := toxiproxy.NewClient(api)
	p, err := client.CreateProxy("self", "0.0.0.0:9000", "127.0.0.1:8474")
	if err != nil {
		t.Fatal(err)
	}
	through := "http://" + net.JoinHostPort(ip, "9000") + "/version"
	get := func() (time.Duration, error) {
		start := time.Now()
		resp, err := http.Get(through)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return time.Since(start), err
	}
	if _, err := get(); err != nil {
		t.Fatalf("GET through the proxy: %v", err)
	}
	if _, err := p.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": 300}); err != nil {
		t.Fatal(err)
	}
	if d, err := get(); err != nil || d < 290*time.Millisecond {
		t.Errorf("GET through latency 300 took %v, %v", d, err)
	}
	if err := p.Disable(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET through a disabled proxy = %v; want connection refused", err)
	}
}
