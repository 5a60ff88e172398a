// Package docker injects faults into containers of a Docker engine: it
// resolves selectors to concrete containers, kills, stops, restarts, pauses
// them or cuts them off a network, undoes what it did from a record that can
// be stored and replayed by another process, and observes container state
// for probes.
//
// It is the only package of the project that talks to Docker. Everything it
// needs from the engine is the [API] interface, so that the logic around the
// calls can be tested with a fake; [Connect] returns an [Engine] over the real
// client.
package docker

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// API is the part of the Docker engine API this package uses.
// *client.Client implements it.
type API interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerRestart(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerPause(ctx context.Context, containerID string) error
	ContainerUnpause(ctx context.Context, containerID string) error
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
	Ping(ctx context.Context) (types.Ping, error)
}

// Engine acts on the containers of one Docker engine. It is safe for
// concurrent use.
type Engine struct {
	api  API
	host string
}

// New returns an Engine over api. host is the daemon address used in
// messages.
func New(api API, host string) *Engine {
	return &Engine{api: api, host: host}
}

// pingTimeout bounds the first contact with the daemon, so that a socket
// that accepts connections but never answers fails fast instead of hanging
// a run before its first step.
const pingTimeout = 5 * time.Second

// Connect connects to the default daemon, as the Docker CLI chooses it:
// the one the environment names (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH, DOCKER_API_VERSION), else the current context of the
// Docker CLI (DOCKER_CONTEXT, or the one docker context use chose), else
// the default socket; and it negotiates the API version with it. A daemon
// that does not answer gives an *UnreachableError.
func Connect(ctx context.Context) (*Engine, error) {
	if os.Getenv("DOCKER_HOST") == "" {
		if name := currentContext(); name != "" && name != "default" {
			p, err := contextDaemon(name)
			if err != nil {
				return nil, fmt.Errorf("the current Docker context: %w", err)
			}
			return ConnectTo(ctx, p)
		}
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("configure the Docker client from the environment: %w: check DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", err)
	}
	return ping(ctx, cli, cli.DaemonHost(), "")
}

// ping checks that the daemon behind cli answers and negotiates the API
// version with it. host is its address for messages, and name its name
// under the experiment's engines:, empty for the default engine.
func ping(ctx context.Context, cli *client.Client, host, name string) (*Engine, error) {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	p, err := cli.Ping(pctx)
	if err != nil {
		_ = cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to the Docker daemon at %s: %w", host, ctx.Err())
		}
		return nil, &UnreachableError{Host: host, Engine: name, Err: err}
	}
	cli.NegotiateAPIVersionPing(p)
	return New(cli, host), nil
}

// Host returns the address of the daemon.
func (e *Engine) Host() string { return e.host }

// Reaches says, as an error, whether here, the address of the engine a
// revert goes through, is made, the one its fault was made on: through
// another, the revert would not find the container, service or node, and
// would take it for removed. A record of an earlier version of chaos has
// no address (made is empty), and any engine is taken for it.
func Reaches(made, here string) error {
	if made == "" || made == here {
		return nil
	}
	return fmt.Errorf("it was made on the engine at %s, and the default engine here is the one at %s: set DOCKER_HOST=%s (or the Docker context the run used) and try again", made, here, made)
}

// Ping checks that the daemon answers.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.api.Ping(ctx); err != nil {
		return &UnreachableError{Host: e.host, Err: err}
	}
	return nil
}

// Close releases the connection to the daemon.
func (e *Engine) Close() error {
	if c, ok := e.api.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// UnreachableError reports a daemon that could not be reached. Its message
// tells the user what to check.
type UnreachableError struct {
	Host string // the daemon address that was tried
	// Engine is the engine's name under the experiment's engines:, empty
	// for the default engine.
	Engine string
	Err    error // the cause
}

func (e *UnreachableError) Error() string {
	if e.Engine != "" {
		return fmt.Sprintf("cannot reach Docker engine %q at %s: %v: check its entry under engines: (host and tls, or its context), and that its dockerd runs", e.Engine, e.Host, e.Err)
	}
	hint := "is dockerd running? set DOCKER_HOST to use another"
	if e.Err != nil && strings.Contains(e.Err.Error(), "permission denied") {
		hint = "permission denied: run as a member of the docker group, or set DOCKER_HOST to a daemon you may use"
	}
	if e.Err == nil || client.IsErrConnectionFailed(e.Err) {
		// The client's own message says the same as the hint, less well.
		return fmt.Sprintf("cannot reach the Docker daemon at %s: %s", e.Host, hint)
	}
	return fmt.Sprintf("cannot reach the Docker daemon at %s: %s (%v)", e.Host, hint, e.Err)
}

// Unwrap returns the cause.
func (e *UnreachableError) Unwrap() error { return e.Err }

// gone reports whether err says that a container or network does not exist.
func gone(err error) bool {
	return err != nil && cerrdefs.IsNotFound(err)
}

// unreachable turns a connection failure in the middle of a run into the
// same hint Connect gives.
func (e *Engine) unreachable(err error) error {
	if client.IsErrConnectionFailed(err) {
		return &UnreachableError{Host: e.host, Err: err}
	}
	return err
}
