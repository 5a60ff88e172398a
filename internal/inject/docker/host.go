package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// MainProcess is a container's main process as this host sees it: what
// faults that act from the host (in the container's cgroups, through its
// root file system) need to find the container.
type MainProcess struct {
	// ID is the full container ID, Name its name without the slash.
	ID   string
	Name string
	// Exists is false when the container no longer exists.
	Exists bool
	// Running and Paused are the container's state.
	Running bool
	Paused  bool
	// PID is the host pid of the container's main process; 0 when the
	// container does not run.
	PID int
}

// MainProcess returns the main process of container id (a name or an ID).
// A container that no longer exists is not an error: Exists is false.
// The daemon must be on this host (a unix socket), and the pid is checked
// from /proc to be the container's.
func (e *Engine) MainProcess(ctx context.Context, id string) (MainProcess, error) {
	if !strings.HasPrefix(e.host, "unix://") {
		return MainProcess{}, fmt.Errorf("container %s: the Docker daemon at %s is not on this host, so chaos cannot reach the container's processes: run chaos on the Docker host", shortID(id), e.host)
	}
	info, err := e.api.ContainerInspect(ctx, id)
	if err != nil {
		if gone(err) {
			return MainProcess{ID: id}, nil
		}
		return MainProcess{}, fmt.Errorf("inspect container %s: %w", shortID(id), e.unreachable(err))
	}
	p := MainProcess{ID: info.ID, Name: strings.TrimPrefix(info.Name, "/"), Exists: true}
	if info.State == nil || !info.State.Running || info.State.Pid <= 0 {
		return p, nil
	}
	p.Running, p.Paused, p.PID = true, info.State.Paused, info.State.Pid
	if err := ownsPID(p.PID, info.ID); err != nil {
		return MainProcess{}, fmt.Errorf("container %s: %w", p.Name, err)
	}
	return p, nil
}

// NetworkAddress is a container's IPv4 or IPv6 address on one of its
// networks.
type NetworkAddress struct {
	Network string
	Addr    netip.Addr
}

// Addresses returns the addresses of container name (a name or an ID) on
// its networks, sorted by network name, each network's IPv4 address
// before its global IPv6 one (on a network with IPv6 enabled). A
// container that does not exist, or has no address (it does not run, or
// shares another's network), is an error that says so.
func (e *Engine) Addresses(ctx context.Context, name string) ([]NetworkAddress, error) {
	info, err := e.api.ContainerInspect(ctx, name)
	switch {
	case gone(err):
		return nil, fmt.Errorf("no container named %q", name)
	case err != nil:
		return nil, fmt.Errorf("inspect container %s: %w", name, e.unreachable(err))
	}
	var out []NetworkAddress
	if info.NetworkSettings != nil {
		for net, ep := range info.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			if a, err := netip.ParseAddr(ep.IPAddress); err == nil && a.Is4() {
				out = append(out, NetworkAddress{Network: net, Addr: a})
			}
			if a, err := netip.ParseAddr(ep.GlobalIPv6Address); err == nil && a.Is6() {
				out = append(out, NetworkAddress{Network: net, Addr: a})
			}
		}
	}
	if len(out) == 0 {
		state := "running"
		if info.State == nil || !info.State.Running {
			state = "not running"
		}
		return nil, fmt.Errorf("container %q (%s) has no IP address on any network", name, state)
	}
	slices.SortStableFunc(out, func(a, b NetworkAddress) int { return strings.Compare(a.Network, b.Network) })
	return out, nil
}
