// Package dockertest runs integration tests against the real Docker
// engine: it skips a test when no daemon answers (or fails it when
// CHAOS_REQUIRE_DOCKER=1), builds a tiny test image FROM scratch from a
// static Go server, creates labelled networks and containers, and removes
// all of them when the test ends, checking that nothing is left.
//
// Only tests import it.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
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
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// Label is the label key every container and network made here carries;
// its value is the Env's RunID.
const Label = "chaos.test"

// Image is the repository of the test image. Its tag is a digest of the
// server's source (see ImageRef), so that test binaries built from different
// sources can share an engine without running each other's server.
const Image = "chaos-test-server"

// RequireEnv is the variable that turns a missing daemon from a skip into
// a failure.
const RequireEnv = "CHAOS_REQUIRE_DOCKER"

//go:embed testdata/server/main.go
var serverSource []byte

// ImageRef is the reference of the test image this binary builds and runs.
var ImageRef = func() string {
	sum := sha256.Sum256(serverSource)
	return Image + ":" + hex.EncodeToString(sum[:6])
}()

// Env is one test's share of the engine.
type Env struct {
	// Client talks to the daemon.
	Client *client.Client
	// Host is the daemon address.
	Host string
	// RunID is the value of Label on everything this Env creates, and the
	// prefix of their names.
	RunID string

	tb testing.TB

	imgMu  sync.Mutex
	images []string // built by BuildDir, removed at cleanup
}

// New connects to the daemon, builds the test image (once per test
// binary) and registers the cleanup of everything the Env creates. Without
// a daemon it skips the test, or fails it when CHAOS_REQUIRE_DOCKER=1.
func New(tb testing.TB) *Env {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Fatalf("configure the Docker client: %v", err)
	}
	return connect(tb, cli, "start dockerd or set DOCKER_HOST")
}

// SecondHostEnv is the variable that names the second engine's address;
// its default is SecondHost.
const SecondHostEnv = "CHAOS_DOCKER_SECOND"

// SecondHost is where scripts/docker-second.sh starts the second engine.
const SecondHost = "unix:///var/run/docker-b.sock"

// SecondAddress is the second engine's address: CHAOS_DOCKER_SECOND, else
// SecondHost.
func SecondAddress() string {
	if h := os.Getenv(SecondHostEnv); h != "" {
		return h
	}
	return SecondHost
}

// NewSecond is New for a second engine on the same machine, the one
// scripts/docker-second.sh starts (or CHAOS_DOCKER_SECOND names), for
// tests of experiments that span engines. It builds the test image there
// too. Without it the test skips, or fails when CHAOS_REQUIRE_DOCKER=1.
func NewSecond(tb testing.TB) *Env {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(SecondAddress()), client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Fatalf("configure the Docker client for %s: %v", SecondAddress(), err)
	}
	return connect(tb, cli, "start a second engine with scripts/docker-second.sh (as root), or set "+SecondHostEnv+" to one")
}

func connect(tb testing.TB, cli *client.Client, hint string) *Env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ping, err := cli.Ping(ctx)
	if err != nil {
		_ = cli.Close()
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("no Docker daemon at %s and %s=1: %s (%v)", cli.DaemonHost(), RequireEnv, hint, err)
		}
		tb.Skipf("no Docker daemon at %s: %s; set %s=1 to make this a failure (%v)", cli.DaemonHost(), hint, RequireEnv, err)
	}
	cli.NegotiateAPIVersionPing(ping)
	if err := buildImage(cli); err != nil {
		_ = cli.Close()
		tb.Fatalf("build the test image %s on %s: %v", ImageRef, cli.DaemonHost(), err)
	}
	e := &Env{Client: cli, Host: cli.DaemonHost(), RunID: "chaostest-" + randomHex(4), tb: tb}
	tb.Cleanup(func() {
		e.removeAll()
		_ = cli.Close()
	})
	return e
}

// Name returns a name unique to this Env.
func (e *Env) Name(suffix string) string { return e.RunID + "-" + suffix }

// Labels returns the Env's label together with extra.
func (e *Env) Labels(extra map[string]string) map[string]string {
	l := map[string]string{Label: e.RunID}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// Network creates a bridge network named Name(suffix) and returns its ID
// and subnet. With fixed set it gets a subnet of its own (10.213.x.0/24,
// tried until one is free) so that containers can take fixed addresses.
func (e *Env) Network(suffix string, fixed bool) (id, subnet string) {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		opts := network.CreateOptions{Driver: "bridge", Labels: e.Labels(nil)}
		subnet = ""
		if fixed {
			subnet = fmt.Sprintf("10.213.%d.0/24", mrand.IntN(254)+1)
			opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}
		}
		resp, err := e.Client.NetworkCreate(ctx, e.Name(suffix), opts)
		if err == nil {
			return resp.ID, subnet
		}
		if !fixed || attempt == 10 || !strings.Contains(err.Error(), "overlap") {
			e.tb.Fatalf("create network %s: %v", e.Name(suffix), err)
		}
	}
}

// Spec describes a test container.
type Spec struct {
	// Name is suffixed to the RunID to form the container name.
	Name   string
	Labels map[string]string
	// Network is the network to attach, by name or ID; empty means the
	// default bridge, "none" no network.
	Network string
	Aliases []string
	// IPv4 fixes the address on Network (which needs a subnet).
	IPv4 string
	// Health adds a healthcheck every 200 ms. A loaded machine may take
	// seconds to exec it: it must time out or fail five times in a row
	// before the container counts as unhealthy.
	Health bool
	// Restart is the restart policy name ("always", "on-failure").
	Restart string
	// IgnoreTerm makes the server ignore SIGTERM.
	IgnoreTerm bool
	// AutoRemove removes the container when it stops.
	AutoRemove bool
	// StopTimeout is the container's own stop grace period in seconds.
	StopTimeout *int
	// ReadyAfter makes the server wait this long after it starts before it
	// listens, as a service that loads its data first.
	ReadyAfter time.Duration
	// Lock makes the server take a lock file that it removes when it
	// stops on SIGTERM, and refuse to start while the file exists: after
	// a crash it never starts again.
	Lock bool
	// Image runs this image (one BuildDir made) instead of the test
	// image, with Cmd as its command; IgnoreTerm, ReadyAfter, Lock and
	// Health, which are the test server's flags, do not apply to it.
	Image string
	Cmd   []string
}

// Run creates and starts a container from the test image and returns its
// ID.
func (e *Env) Run(s Spec) string {
	e.tb.Helper()
	id, err := e.run(s)
	if err != nil {
		e.tb.Fatal(err)
	}
	return id
}

// RunMany starts n containers, a few at a time, and returns their IDs.
func (e *Env) RunMany(n int, spec func(i int) Spec) []string {
	e.tb.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ids[i], errs[i] = e.run(spec(i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.tb.Fatal(err)
	}
	return ids
}

func (e *Env) run(s Spec) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := &container.Config{
		Image:       ImageRef,
		Labels:      e.Labels(s.Labels),
		StopTimeout: s.StopTimeout,
	}
	if s.Image != "" {
		cfg.Image, cfg.Cmd = s.Image, s.Cmd
	}
	if s.IgnoreTerm {
		cfg.Cmd = append(cfg.Cmd, "-ignore-term")
	}
	if s.ReadyAfter > 0 {
		cfg.Cmd = append(cfg.Cmd, "-ready-after", s.ReadyAfter.String())
	}
	if s.Lock {
		cfg.Cmd = append(cfg.Cmd, "-lock", "/server.lock")
	}
	if s.Health {
		cfg.Healthcheck = &container.HealthConfig{
			Test:     []string{"CMD", "/server", "-probe"},
			Interval: 200 * time.Millisecond,
			Timeout:  10 * time.Second,
			Retries:  5,
		}
	}
	host := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(s.Restart)},
		AutoRemove:    s.AutoRemove,
	}
	var netCfg *network.NetworkingConfig
	if s.Network != "" {
		host.NetworkMode = container.NetworkMode(s.Network)
		if s.Network != "none" {
			es := &network.EndpointSettings{Aliases: s.Aliases}
			if s.IPv4 != "" {
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: s.IPv4}
			}
			netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network: es}}
		}
	}
	name := e.Name(s.Name)
	created, err := e.Client.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	if err := e.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start container %s: %w", name, err)
	}
	return created.ID, nil
}

// Inspect returns the container's state, failing the test on error.
func (e *Env) Inspect(id string) container.InspectResponse {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := e.Client.ContainerInspect(ctx, id)
	if err != nil {
		e.tb.Fatalf("inspect container %s: %v", id, err)
	}
	return info
}

// removeAll removes every container and network with this Env's label and
// fails the test if any is left.
func (e *Env) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", Label+"="+e.RunID))
	list, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		e.tb.Errorf("cleanup: list containers: %v", err)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
				e.tb.Errorf("cleanup: remove container %s: %v", c.ID[:12], err)
			}
		}()
	}
	wg.Wait()
	defer e.removeImages(ctx)
	nets, err := e.Client.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		e.tb.Errorf("cleanup: list networks: %v", err)
		return
	}
	for _, n := range nets {
		if err := e.Client.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			e.tb.Errorf("cleanup: remove network %s: %v", n.Name, err)
		}
	}
	// Auto-removed containers and removals in progress take a moment.
	for deadline := time.Now().Add(30 * time.Second); ; {
		left, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			e.tb.Errorf("cleanup: list containers: %v", err)
			return
		}
		leftNets, err := e.Client.NetworkList(ctx, network.ListOptions{Filters: f})
		if err != nil {
			e.tb.Errorf("cleanup: list networks: %v", err)
			return
		}
		if len(left) == 0 && len(leftNets) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.tb.Errorf("cleanup: %d containers and %d networks labelled %s=%s are left", len(left), len(leftNets), Label, e.RunID)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BuildDir builds an image FROM scratch, named Name(suffix), from the
// files in dir (paths kept, modes kept) and the Dockerfile given, and
// returns its reference. It is removed with the Env's containers.
func (e *Env) BuildDir(suffix, dir, dockerfile string) string {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: time.Unix(0, 0)}); err != nil {
		e.tb.Fatal(err)
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		e.tb.Fatal(err)
	}
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		e.tb.Fatalf("build context from %s: %v", dir, err)
	}
	if err := tw.Close(); err != nil {
		e.tb.Fatal(err)
	}
	ref := e.Name(suffix) + ":test"
	e.imgMu.Lock()
	e.images = append(e.images, ref)
	e.imgMu.Unlock()
	if err := imageBuild(ctx, e.Client, &ctxTar, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true,
		Labels: map[string]string{Label: e.RunID},
	}); err != nil {
		e.tb.Fatalf("build image %s from %s: %v", ref, dir, err)
	}
	return ref
}

// removeImages removes the images BuildDir made.
func (e *Env) removeImages(ctx context.Context) {
	e.imgMu.Lock()
	defer e.imgMu.Unlock()
	for _, ref := range e.images {
		if _, err := e.Client.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			e.tb.Errorf("cleanup: remove image %s: %v", ref, err)
		}
	}
	e.images = nil
}

var (
	buildMu sync.Mutex
	built   = map[string]error{} // by daemon address
)

// buildImage builds the test image once per test binary and engine.
func buildImage(cli *client.Client) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err, ok := built[cli.DaemonHost()]; ok {
		return err
	}
	err := doBuild(cli)
	built[cli.DaemonHost()] = err
	return err
}

func doBuild(cli *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ImageRef); err == nil {
		return nil // built from the same source by an earlier test binary
	}
	dir, err := os.MkdirTemp("", "chaos-test-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), serverSource, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module server\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	// go test puts the go command of its toolchain first on PATH.
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", "server", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the test server: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "server"))
	if err != nil {
		return err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	dockerfile := []byte("FROM scratch\nCOPY server /server\nEXPOSE 8080\nENTRYPOINT [\"/server\"]\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"server", 0o755, bin}} {
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
	return imageBuild(ctx, cli, &ctxTar, build.ImageBuildOptions{
		Tags:        []string{ImageRef},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{Label + ".image": "server"},
	})
}

// imageBuild builds an image from a tar of its context and reads the
// build's output to its end, returning the error it reports.
func imageBuild(ctx context.Context, cli *client.Client, ctxTar io.Reader, opts build.ImageBuildOptions) error {
	resp, err := cli.ImageBuild(ctx, ctxTar, opts)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the build output: %w", err)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
