package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "disconnect", New: func() inject.Fault { return &DisconnectParams{} }, Doc: experiment.Doc{
		Summary: "Disconnects each container from a network, and connects it again, with the same aliases (and the same addresses, when they were set), when the fault ends.",
		Example: "{network: shop_default}",
	}})
}

// DisconnectParams are the settings of the disconnect fault, which cuts
// each container off one network. Its revert connects it again with the
// same aliases, and the same addresses when they were fixed by the user.
type DisconnectParams struct {
	// Network is the network, by name or ID.
	Network string `yaml:"network" json:"network" chaos:"required" doc:"the network the container is disconnected from, and reconnected to afterwards"`
}

// disconnectRecord is what a disconnect does to one container.
type disconnectRecord struct {
	Record
	// Endpoint is how the container was attached to the network.
	Endpoint *Endpoint `json:"endpoint,omitempty"`
	// Disconnected is set once the container was disconnected; the records
	// of earlier versions of chaos do not say.
	Disconnected bool `json:"disconnected,omitempty"`
	// Began is when the disconnect was about to be asked for. The engine
	// carries out a disconnect its client gave up on: a revert that comes
	// before Disconnected (in the watchdog of a run killed while it
	// waited) may find the container still connected.
	Began time.Time `json:"began,omitzero"`
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

// Plan records how the container is attached to the network, for the
// revert to restore.
func (p *DisconnectParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	r := disconnectRecord{Record: newRecord(env, "disconnect", t), Began: time.Now()}
	info, err := e.inspect(ctx, r.Record)
	if err != nil {
		return inject.Undo{}, err
	}
	if r.Endpoint, err = e.endpoint(ctx, info, p.Network); err != nil {
		return inject.Undo{}, fmt.Errorf("disconnect container %s from network %s: %w", r.target(), p.Network, err)
	}
	return planned(p, t, r)
}

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

// Inject disconnects the container from the network.
func (p *DisconnectParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var r disconnectRecord
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	if r.Endpoint == nil {
		return u, fmt.Errorf("disconnect container %s: the record names no network", r.target())
	}
	err = e.strike(ctx, env, r.Record, Effect{}, func() error {
		return e.failed("disconnect container "+r.target()+" from network "+r.Endpoint.Network,
			e.api.NetworkDisconnect(ctx, r.Endpoint.NetworkID, r.ContainerID, false))
	})
	if err != nil {
		return u, err
	}
	r.Disconnected = true
	u.Data, err = json.Marshal(r)
	return u, err
}

// revert connects the container to the network again, as it was, unless
// it is connected: then someone connected it during the fault, which
// ended early.
func (p *DisconnectParams) revert(ctx context.Context, e *Engine, data json.RawMessage) (string, error) {
	var r disconnectRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("revert disconnect: bad record: %w", err)
	}
	ep := r.Endpoint
	if ep == nil {
		return "", fmt.Errorf("revert disconnect of container %s: the record names no network", r.target())
	}
	connected := func(info container.InspectResponse) bool {
		if info.NetworkSettings != nil {
			for name, es := range info.NetworkSettings.Networks {
				if name == ep.Network || (es != nil && es.NetworkID == ep.NetworkID) {
					return true
				}
			}
		}
		return false
	}
	// Records of earlier versions of chaos say neither when the
	// disconnect was asked for nor whether it was done.
	unsure := !r.Disconnected && !r.Began.IsZero()
	info, found, err := e.current(ctx, r.Record)
	if err == nil && found && connected(info) && unsure && !answered(ctx) {
		// The run that asked for the disconnect died before the answer,
		// and the engine may carry it out yet: wait for it to land
		// rather than leave the container to be disconnected after the
		// revert.
		info, found, err = e.awaitLanding(ctx, r.Record, r.Began, func(i container.InspectResponse) bool { return !connected(i) })
	}
	switch {
	case err != nil:
		return "", err
	case !found:
		if id, ok := e.replacement(ctx, r.Record); ok && r.Disconnected && e.connectedTo(ctx, id, ep) {
			// Made again in its place (Compose, a script), with the
			// networks of its definition: what it answered since was
			// not cut off.
			return "", inject.GoneEarly("container %s was gone before the revert, and another of the same name (%s) ran in its place, connected to network %s: the disconnect did not last", r.target(), shortID(id), ep.Network)
		}
		return vanished(r.Record), nil
	case connected(info) && unsure && !answered(ctx):
		return fmt.Sprintf("container %s was never disconnected from network %s: the disconnect its run asked for before it ended did not take effect within %s", r.target(), ep.Network, requestSettle), nil
	case connected(info):
		return "", r.connectedMeanwhile()
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
	err = e.api.NetworkConnect(ctx, ep.NetworkID, r.ContainerID, settings)
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
		return "", r.connectedMeanwhile()
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
	return e.revertFailed(r.Record, err, cmd+" "+ep.Network+" "+r.ContainerID, vanished(r.Record))
}

// connectedMeanwhile is what a revert that finds the container connected
// to the network returns: the fault ended early, once it had disconnected
// the container.
func (r disconnectRecord) connectedMeanwhile() error {
	if !r.Disconnected {
		return nil
	}
	return inject.GoneEarly("container %s was connected to network %s again before the revert: someone connected it", r.target(), r.Endpoint.Network)
}

// connectedTo reports whether container id is connected to the network of
// ep, as far as the engine says.
func (e *Engine) connectedTo(ctx context.Context, id string, ep *Endpoint) bool {
	info, err := e.api.ContainerInspect(ctx, id)
	if err != nil || info.NetworkSettings == nil {
		return false
	}
	for name, es := range info.NetworkSettings.Networks {
		if name == ep.Network || (es != nil && es.NetworkID == ep.NetworkID) {
			return true
		}
	}
	return false
}
