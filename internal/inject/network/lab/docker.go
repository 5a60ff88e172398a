package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// Docker is a test's share of the Docker engine: containers FROM scratch
// whose only process waits (the tests serve and dial from the test
// process, inside the containers' namespaces), on networks of the test,
// all labelled and named for it and removed when it ends.
//
// The image is its own (chaos-lab-wait, tagged by the hash of its
// program, built reproducibly): building it never retags an image that
// other tests' containers were made from.
type Docker struct {
	Client *client.Client
	// RunID prefixes every name and is the value of the label.
	RunID string
	tb    testing.TB
}

// DockerLabel is the label of everything a Docker makes.
const DockerLabel = "chaos.test.network"

// waitProgram is the containers' process: it waits for SIGTERM.
const waitProgram = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// WaitImage is the tag of the containers' image.
var WaitImage = func() string {
	sum := sha256.Sum256([]byte(waitProgram + runtime.GOARCH))
	return "chaos-lab-wait:" + hex.EncodeToString(sum[:6])
}()

// NewDocker connects to the engine and builds the image if it is missing.
// Without an engine it skips the test, or fails it when
// CHAOS_REQUIRE_DOCKER=1.
func NewDocker(tb testing.TB) *Docker {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Fatalf("configure the Docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		if os.Getenv(dockertest.RequireEnv) == "1" {
			tb.Fatalf("no Docker daemon at %s and %s=1: %v", cli.DaemonHost(), dockertest.RequireEnv, err)
		}
		tb.Skipf("no Docker daemon at %s: start dockerd or set DOCKER_HOST; set %s=1 to make this a failure (%v)", cli.DaemonHost(), dockertest.RequireEnv, err)
	}
	if err := ensureImage(cli); err != nil {
		_ = cli.Close()
		tb.Fatalf("build the test image %s: %v", WaitImage, err)
	}
	d := &Docker{Client: cli, RunID: "chaoslab-" + randomHex(4), tb: tb}
	tb.Cleanup(func() {
		d.removeAll()
		_ = cli.Close()
	})
	return d
}

// Name returns a name unique to this Docker.
func (d *Docker) Name(suffix string) string { return d.RunID + "-" + suffix }

func (d *Docker) labels() map[string]string { return map[string]string{DockerLabel: d.RunID} }

// Network creates a bridge network; an internal one has no route out.
func (d *Docker) Network(suffix string, internal bool) string {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Client.NetworkCreate(ctx, d.Name(suffix), network.CreateOptions{Driver: "bridge", Internal: internal, Labels: d.labels()}); err != nil {
		d.tb.Fatalf("create network %s: %v", d.Name(suffix), err)
	}
	return d.Name(suffix)
}

// Network6 creates an internal bridge network with IPv6 as well as IPv4,
// on a unique local /64 of its own (fd00:c4a1:XXXX::/64), and returns its
// name.
func (d *Docker) Network6(suffix string) string {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	on := true
	subnet := "fd00:c4a1:" + randomHex(2) + "::/64"
	opts := network.CreateOptions{Driver: "bridge", Internal: true, EnableIPv6: &on, Labels: d.labels(),
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}}
	if _, err := d.Client.NetworkCreate(ctx, d.Name(suffix), opts); err != nil {
		d.tb.Fatalf("create network %s with IPv6 (%s): %v", d.Name(suffix), subnet, err)
	}
	return d.Name(suffix)
}

// Run starts a container on the network and returns its id.
func (d *Docker) Run(suffix, net string) string {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop := 1
	created, err := d.Client.ContainerCreate(ctx,
		&container.Config{Image: WaitImage, Labels: d.labels(), StopTimeout: &stop},
		&container.HostConfig{NetworkMode: container.NetworkMode(net)}, nil, nil, d.Name(suffix))
	if err != nil {
		d.tb.Fatalf("create container %s: %v", d.Name(suffix), err)
	}
	if err := d.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		d.tb.Fatalf("start container %s: %v", d.Name(suffix), err)
	}
	return created.ID
}

// Inspect returns the container's state.
func (d *Docker) Inspect(id string) container.InspectResponse {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := d.Client.ContainerInspect(ctx, id)
	if err != nil {
		d.tb.Fatalf("inspect container %s: %v", id, err)
	}
	return info
}

// removeAll removes the containers and networks of this Docker and fails
// the test if any is left.
func (d *Docker) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", DockerLabel+"="+d.RunID))
	list, err := d.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		d.tb.Errorf("cleanup: list containers: %v", err)
		return
	}
	for _, c := range list {
		if err := d.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			d.tb.Errorf("cleanup: remove container %s: %v", c.ID[:12], err)
		}
	}
	nets, err := d.Client.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		d.tb.Errorf("cleanup: list networks: %v", err)
		return
	}
	for _, n := range nets {
		if err := d.Client.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			d.tb.Errorf("cleanup: remove network %s: %v", n.Name, err)
		}
	}
	left, err := d.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err == nil && len(left) > 0 {
		d.tb.Errorf("cleanup: %d containers labelled %s=%s are left", len(left), DockerLabel, d.RunID)
	}
}

var (
	imageOnce sync.Once
	imageErr  error
)

func ensureImage(cli *client.Client) error {
	imageOnce.Do(func() { imageErr = buildImage(cli) })
	return imageErr
}

// buildImage builds the image unless it exists: the program is built with
// -trimpath, so that every build gives the same bytes.
func buildImage(cli *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, WaitImage); err == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "chaos-lab-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(waitProgram), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module wait\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "wait", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the containers' program: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "wait"))
	if err != nil {
		return err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY wait /wait\nENTRYPOINT [\"/wait\"]\n")}, {"wait", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{WaitImage}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the build output: %w", err)
		}
		if msg.Error != "" {
			return errors.New(strings.TrimSpace(msg.Error))
		}
	}
}
