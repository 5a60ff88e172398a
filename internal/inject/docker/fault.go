package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// Kind names a fault, as the experiment format spells it.
type Kind string

// The faults this package injects.
const (
	// Kill sends a signal (SIGKILL by default). It is not reverted: a
	// restart policy or an orchestrator is what brings the container back,
	// and that is what the experiment observes. Note that the daemon takes
	// a kill through its API as a manual stop and does not apply the
	// restart policy; Fault.Crash kills the way a crash does.
	Kill Kind = "kill"
	// Stop stops the container (SIGTERM, then SIGKILL after the grace
	// period). Its revert starts the container again unless it is already
	// running, so that the system is left as the experiment found it.
	Stop Kind = "stop"
	// Restart restarts the container. It is not reverted.
	Restart Kind = "restart"
	// Pause freezes every process of the container. Its revert unpauses it.
	Pause Kind = "pause"
	// Disconnect cuts the container off one network. Its revert connects it
	// again with the same aliases, and the same addresses when they were
	// fixed by the user.
	Disconnect Kind = "disconnect"
)

// Kinds lists every fault kind.
var Kinds = []Kind{Kill, Stop, Restart, Pause, Disconnect}

// Fault is one fault to inject into a container.
type Fault struct {
	Kind Kind
	// Signal is the signal a kill sends, by name ("SIGTERM", "TERM") or
	// number; empty means SIGKILL.
	Signal string
	// Timeout is the grace period of a stop or restart before SIGKILL,
	// rounded up to whole seconds; nil means the container's own stop
	// timeout (10 s unless the container sets one).
	Timeout *time.Duration
	// Network is the network, by name or ID, a disconnect cuts the
	// container off.
	Network string
	// Crash makes a kill signal the container's main process directly
	// instead of asking the daemon, so that the daemon sees the process die
	// on its own and applies the restart policy, as after a real crash.
	// It needs Linux, the daemon on this host (a unix socket) and the
	// permission to signal its processes.
	Crash bool
}

// Validate reports a fault that cannot be injected, before any container
// is looked at.
func (f Fault) Validate() error {
	if !slices.Contains(Kinds, f.Kind) {
		return fmt.Errorf("unknown docker fault %q: want one of kill, stop, restart, pause, disconnect", f.Kind)
	}
	if f.Signal != "" {
		if f.Kind != Kill {
			return fmt.Errorf("docker fault %s takes no signal: only kill does", f.Kind)
		}
		if _, err := ParseSignal(f.Signal); err != nil {
			return err
		}
	}
	if f.Timeout != nil {
		if f.Kind != Stop && f.Kind != Restart {
			return fmt.Errorf("docker fault %s takes no timeout: only stop and restart do", f.Kind)
		}
		if *f.Timeout < 0 {
			return fmt.Errorf("negative timeout %s for docker fault %s", *f.Timeout, f.Kind)
		}
	}
	if f.Crash && f.Kind != Kill {
		return fmt.Errorf("docker fault %s cannot crash: only kill can", f.Kind)
	}
	if (f.Kind == Disconnect) != (f.Network != "") {
		if f.Kind == Disconnect {
			return errors.New("docker fault disconnect needs a network: name the network to cut the container off")
		}
		return fmt.Errorf("docker fault %s takes no network: only disconnect does", f.Kind)
	}
	return nil
}

// Record says what was done to one container and how to undo it. It is
// written to the ledger before the fault is injected and survives the
// process: Revert needs nothing else.
type Record struct {
	Kind        Kind   `json:"kind"`
	ContainerID string `json:"container_id"`
	// Container is the container name, for messages.
	Container string `json:"container,omitempty"`
	// Signal is the signal a kill sends, canonical ("SIGKILL").
	Signal string `json:"signal,omitempty"`
	// PID is the host pid of the main process a crash signals.
	PID int `json:"pid,omitempty"`
	// TimeoutSeconds is the stop or restart grace period; absent means the
	// container's own.
	TimeoutSeconds *int `json:"timeout_seconds,omitempty"`
	// AutoRemove is set when the daemon removes the container once it
	// stops, so a stop cannot be reverted.
	AutoRemove bool `json:"auto_remove,omitempty"`
	// Endpoint is how the container was attached to the network a
	// disconnect cuts.
	Endpoint *Endpoint `json:"endpoint,omitempty"`
}

// Endpoint is a container's attachment to a network, as much of it as a
// reconnect can restore.
type Endpoint struct {
	NetworkID string `json:"network_id"`
	Network   string `json:"network"`
	// Aliases are the user's DNS aliases, without the short container ID
	// Docker adds by itself.
	Aliases []string `json:"aliases,omitempty"`
	// IPv4 and IPv6 are set only when the address was fixed by the user
	// (IPAM config); otherwise the reconnect gets whatever the network gives.
	IPv4         string            `json:"ipv4,omitempty"`
	IPv6         string            `json:"ipv6,omitempty"`
	LinkLocalIPs []string          `json:"link_local_ips,omitempty"`
	Links        []string          `json:"links,omitempty"`
	DriverOpts   map[string]string `json:"driver_opts,omitempty"`
}

// Reversible reports whether Revert has something to undo.
func (r Record) Reversible() bool {
	return r.Kind == Stop || r.Kind == Pause || r.Kind == Disconnect
}

func (r Record) target() string {
	if r.Container == "" {
		return shortID(r.ContainerID)
	}
	return r.Container + " (" + shortID(r.ContainerID) + ")"
}

// Prepare checks that f can be injected into c and returns the record to
// store before injecting it. It changes nothing. Stop, pause and disconnect
// inspect the container to capture what the revert will restore.
func (e *Engine) Prepare(ctx context.Context, f Fault, c Container) (Record, error) {
	if err := f.Validate(); err != nil {
		return Record{}, err
	}
	r := Record{Kind: f.Kind, ContainerID: c.ID, Container: c.Name}
	switch f.Kind {
	case Kill:
		sig := "SIGKILL"
		if f.Signal != "" {
			sig, _ = ParseSignal(f.Signal)
		}
		r.Signal = sig
		if f.Crash {
			if err := e.prepareCrash(ctx, &r); err != nil {
				return Record{}, err
			}
		}
		return r, nil
	case Restart:
		r.TimeoutSeconds = seconds(f.Timeout)
		return r, nil
	}
	info, err := e.api.ContainerInspect(ctx, c.ID)
	if err != nil {
		if gone(err) {
			return Record{}, fmt.Errorf("prepare %s of container %s: it no longer exists", f.Kind, r.target())
		}
		return Record{}, fmt.Errorf("prepare %s of container %s: inspect: %w", f.Kind, r.target(), e.unreachable(err))
	}
	switch f.Kind {
	case Stop:
		r.TimeoutSeconds = seconds(f.Timeout)
		r.AutoRemove = info.HostConfig != nil && info.HostConfig.AutoRemove
	case Pause:
		if info.State != nil && info.State.Paused {
			return Record{}, fmt.Errorf("pause container %s: it is paused already; leaving it alone so that the revert does not unpause someone else's pause", r.target())
		}
	case Disconnect:
		ep, err := e.endpoint(ctx, info, f.Network)
		if err != nil {
			return Record{}, fmt.Errorf("disconnect container %s from network %s: %w", r.target(), f.Network, err)
		}
		r.Endpoint = ep
	}
	return r, nil
}

// prepareCrash records the pid a crash signals, once it is sure the pid is
// the container's.
func (e *Engine) prepareCrash(ctx context.Context, r *Record) error {
	if !strings.HasPrefix(e.host, "unix://") {
		return fmt.Errorf("crash container %s: the Docker daemon at %s is not on this host: kill without crash", r.target(), e.host)
	}
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil {
		if gone(err) {
			return fmt.Errorf("crash container %s: it no longer exists", r.target())
		}
		return fmt.Errorf("crash container %s: inspect: %w", r.target(), e.unreachable(err))
	}
	if info.State == nil || !info.State.Running || info.State.Pid <= 0 {
		return fmt.Errorf("crash container %s: it is not running", r.target())
	}
	if err := ownsPID(info.State.Pid, r.ContainerID); err != nil {
		return fmt.Errorf("crash container %s: %w", r.target(), err)
	}
	r.PID = info.State.Pid
	return nil
}

// signalNumber returns the Linux number of a canonical signal name as
// ParseSignal gives it.
func signalNumber(sig string) (int, error) {
	if n, err := strconv.Atoi(sig); err == nil {
		return n, nil
	}
	name := strings.TrimPrefix(sig, "SIG")
	if n, ok := signals[name]; ok {
		return n, nil
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN+"); ok {
		if n, err := strconv.Atoi(rest); err == nil {
			return sigRTMin + n, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", sig)
}

// sigRTMin is SIGRTMIN as the C library and Docker number it (the kernel
// keeps 32 and 33 for threading).
const sigRTMin = 34

// endpoint captures how the container is attached to the network.
func (e *Engine) endpoint(ctx context.Context, info container.InspectResponse, name string) (*Endpoint, error) {
	nw, err := e.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		if gone(err) {
			return nil, errors.New("no such network; list them with docker network ls")
		}
		return nil, fmt.Errorf("inspect network: %w", e.unreachable(err))
	}
	var attached []string
	if info.NetworkSettings != nil {
		for netName, es := range info.NetworkSettings.Networks {
			attached = append(attached, netName)
			if es == nil || (es.NetworkID != nw.ID && netName != nw.Name) {
				continue
			}
			ep := &Endpoint{
				NetworkID:  nw.ID,
				Network:    nw.Name,
				Links:      slices.Clone(es.Links),
				DriverOpts: es.DriverOpts,
			}
			for _, a := range es.Aliases {
				// Docker adds the short ID itself on every connect.
				if !strings.HasPrefix(info.ID, a) || len(a) != 12 {
					ep.Aliases = append(ep.Aliases, a)
				}
			}
			if es.IPAMConfig != nil {
				ep.IPv4 = es.IPAMConfig.IPv4Address
				ep.IPv6 = es.IPAMConfig.IPv6Address
				ep.LinkLocalIPs = slices.Clone(es.IPAMConfig.LinkLocalIPs)
			}
			return ep, nil
		}
	}
	slices.Sort(attached)
	return nil, fmt.Errorf("the container is not attached to it; it is attached to: %s", strings.Join(attached, ", "))
}

// Inject applies the fault the record describes. A kill with SIGKILL
// returns once the daemon has seen the container die; other signals return
// as soon as the signal is sent.
func (e *Engine) Inject(ctx context.Context, r Record) error {
	var err error
	switch r.Kind {
	case Kill:
		if r.PID > 0 {
			if err := signalProcess(r.PID, r.ContainerID, r.Signal); err != nil {
				return fmt.Errorf("crash container %s: %w", r.target(), err)
			}
			return nil
		}
		err = e.api.ContainerKill(ctx, r.ContainerID, r.Signal)
	case Stop:
		err = e.api.ContainerStop(ctx, r.ContainerID, container.StopOptions{Timeout: r.TimeoutSeconds})
	case Restart:
		err = e.api.ContainerRestart(ctx, r.ContainerID, container.StopOptions{Timeout: r.TimeoutSeconds})
	case Pause:
		err = e.api.ContainerPause(ctx, r.ContainerID)
	case Disconnect:
		if r.Endpoint == nil {
			return fmt.Errorf("disconnect container %s: the record names no network", r.target())
		}
		err = e.api.NetworkDisconnect(ctx, r.Endpoint.NetworkID, r.ContainerID, false)
	default:
		return fmt.Errorf("inject docker fault %q: unknown kind", r.Kind)
	}
	if err != nil {
		what := fmt.Sprintf("%s container %s", r.Kind, r.target())
		if r.Kind == Disconnect {
			what += " from network " + r.Endpoint.Network
		}
		if gone(err) {
			return fmt.Errorf("%s: it no longer exists", what)
		}
		return fmt.Errorf("%s: %w", what, e.unreachable(err))
	}
	return nil
}

// Revert undoes the fault the record describes. It is idempotent: a
// container that is running, unpaused or connected already is left alone.
// A container (or network) that no longer exists is not an error: the
// returned warning says what could not be restored. Kill and restart have
// nothing to undo.
func (e *Engine) Revert(ctx context.Context, r Record) (warning string, err error) {
	if !r.Reversible() {
		return "", nil
	}
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil {
		if gone(err) {
			return vanished(r), nil
		}
		return "", fmt.Errorf("revert %s of container %s: inspect: %w", r.Kind, r.target(), e.unreachable(err))
	}
	state := info.State
	if state == nil {
		state = &container.State{}
	}
	switch r.Kind {
	case Stop:
		if state.Running {
			return "", nil
		}
		if err := e.api.ContainerStart(ctx, r.ContainerID, container.StartOptions{}); err != nil {
			return e.revertFailed(r, err, "docker start "+r.ContainerID)
		}
	case Pause:
		if !state.Paused {
			return "", nil
		}
		if err := e.api.ContainerUnpause(ctx, r.ContainerID); err != nil {
			return e.revertFailed(r, err, "docker unpause "+r.ContainerID)
		}
	case Disconnect:
		return e.reconnect(ctx, r, info)
	}
	return "", nil
}

func (e *Engine) reconnect(ctx context.Context, r Record, info container.InspectResponse) (string, error) {
	ep := r.Endpoint
	if ep == nil {
		return "", fmt.Errorf("revert disconnect of container %s: the record names no network", r.target())
	}
	if info.NetworkSettings != nil {
		for name, es := range info.NetworkSettings.Networks {
			if name == ep.Network || (es != nil && es.NetworkID == ep.NetworkID) {
				return "", nil
			}
		}
	}
	settings := &network.EndpointSettings{
		Aliases:    ep.Aliases,
		Links:      ep.Links,
		DriverOpts: ep.DriverOpts,
	}
	if ep.IPv4 != "" || ep.IPv6 != "" || len(ep.LinkLocalIPs) > 0 {
		settings.IPAMConfig = &network.EndpointIPAMConfig{
			IPv4Address:  ep.IPv4,
			IPv6Address:  ep.IPv6,
			LinkLocalIPs: ep.LinkLocalIPs,
		}
	}
	err := e.api.NetworkConnect(ctx, ep.NetworkID, r.ContainerID, settings)
	if err == nil {
		return "", nil
	}
	if gone(err) {
		if _, ierr := e.api.NetworkInspect(ctx, ep.NetworkID, network.InspectOptions{}); gone(ierr) {
			return fmt.Sprintf("network %s no longer exists: container %s stays disconnected from it", ep.Network, r.target()), nil
		}
		if _, ierr := e.api.ContainerInspect(ctx, r.ContainerID); gone(ierr) {
			return fmt.Sprintf("container %s no longer exists: nothing to reconnect to network %s", r.target(), ep.Network), nil
		}
	}
	if strings.Contains(err.Error(), "already exists in network") {
		// Connected meanwhile by someone else: the state is what we want.
		return "", nil
	}
	cmd := "docker network connect"
	for _, a := range ep.Aliases {
		cmd += " --alias " + a
	}
	if ep.IPv4 != "" {
		cmd += " --ip " + ep.IPv4
	}
	if ep.IPv6 != "" {
		cmd += " --ip6 " + ep.IPv6
	}
	return e.revertFailed(r, err, cmd+" "+ep.Network+" "+r.ContainerID)
}

func (e *Engine) revertFailed(r Record, err error, fix string) (string, error) {
	if gone(err) || strings.Contains(err.Error(), "marked for removal") {
		return vanished(r), nil
	}
	return "", fmt.Errorf("revert %s of container %s: %w; to restore it by hand run: %s", r.Kind, r.target(), e.unreachable(err), fix)
}

// vanished is the warning for a container that went away before its revert.
func vanished(r Record) string {
	if r.Kind == Stop && r.AutoRemove {
		return fmt.Sprintf("container %s was removed by the daemon when it stopped (auto-remove): it cannot be started again; recreate it", r.target())
	}
	return fmt.Sprintf("container %s no longer exists: nothing to revert after %s", r.target(), r.Kind)
}

// seconds converts a grace period to the whole seconds Docker takes,
// rounding up so that the container gets at least the time asked for.
func seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(math.Ceil(d.Seconds()))
	return &s
}

// signals are the Linux signal numbers by name.
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
	"FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
	"TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
	"TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26,
	"PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}

// ParseSignal returns the canonical name ("SIGTERM") of a signal given by
// name, with or without the SIG prefix and in any case, or by number.
// Real-time signals are given as "SIGRTMIN+N" or by number.
func ParseSignal(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > 64 {
			return "", fmt.Errorf("invalid signal %q: numbers go from 1 to 64", s)
		}
		for name, v := range signals {
			if v == n && name != "IOT" && name != "POLL" {
				return "SIG" + name, nil
			}
		}
		return strconv.Itoa(n), nil
	}
	t = strings.TrimPrefix(t, "SIG")
	if _, ok := signals[t]; ok {
		return "SIG" + t, nil
	}
	if rest, ok := strings.CutPrefix(t, "RTMIN+"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n <= 30 {
			return "SIG" + t, nil
		}
	}
	return "", fmt.Errorf("unknown signal %q: use a name like SIGTERM or SIGKILL, or a number", s)
}
