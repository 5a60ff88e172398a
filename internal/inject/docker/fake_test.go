package docker_test

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// fakeAPI implements docker.API with function fields; a call whose field
// is nil fails, so a test notices calls it did not expect.
type fakeAPI struct {
	list          func(container.ListOptions) ([]container.Summary, error)
	inspect       func(id string) (container.InspectResponse, error)
	kill          func(id, signal string) error
	stop          func(id string, o container.StopOptions) error
	start         func(id string) error
	restart       func(id string, o container.StopOptions) error
	pause         func(id string) error
	unpause       func(id string) error
	netInspect    func(id string) (network.Inspect, error)
	netConnect    func(netID, id string, es *network.EndpointSettings) error
	netDisconnect func(netID, id string) error
}

func unexpected(call string) error { return fmt.Errorf("unexpected call %s", call) }

func notFound(what string) error { return fmt.Errorf("no such %s: %w", what, cerrdefs.ErrNotFound) }

func (f *fakeAPI) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	if f.list == nil {
		return nil, unexpected("ContainerList")
	}
	return f.list(o)
}

func (f *fakeAPI) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	if f.inspect == nil {
		return container.InspectResponse{}, unexpected("ContainerInspect")
	}
	return f.inspect(id)
}

func (f *fakeAPI) ContainerKill(_ context.Context, id, signal string) error {
	if f.kill == nil {
		return unexpected("ContainerKill")
	}
	return f.kill(id, signal)
}

func (f *fakeAPI) ContainerStop(_ context.Context, id string, o container.StopOptions) error {
	if f.stop == nil {
		return unexpected("ContainerStop")
	}
	return f.stop(id, o)
}

func (f *fakeAPI) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	if f.start == nil {
		return unexpected("ContainerStart")
	}
	return f.start(id)
}

func (f *fakeAPI) ContainerRestart(_ context.Context, id string, o container.StopOptions) error {
	if f.restart == nil {
		return unexpected("ContainerRestart")
	}
	return f.restart(id, o)
}

func (f *fakeAPI) ContainerPause(_ context.Context, id string) error {
	if f.pause == nil {
		return unexpected("ContainerPause")
	}
	return f.pause(id)
}

func (f *fakeAPI) ContainerUnpause(_ context.Context, id string) error {
	if f.unpause == nil {
		return unexpected("ContainerUnpause")
	}
	return f.unpause(id)
}

func (f *fakeAPI) NetworkInspect(_ context.Context, id string, _ network.InspectOptions) (network.Inspect, error) {
	if f.netInspect == nil {
		return network.Inspect{}, unexpected("NetworkInspect")
	}
	return f.netInspect(id)
}

func (f *fakeAPI) NetworkConnect(_ context.Context, netID, id string, es *network.EndpointSettings) error {
	if f.netConnect == nil {
		return unexpected("NetworkConnect")
	}
	return f.netConnect(netID, id, es)
}

func (f *fakeAPI) NetworkDisconnect(_ context.Context, netID, id string, _ bool) error {
	if f.netDisconnect == nil {
		return unexpected("NetworkDisconnect")
	}
	return f.netDisconnect(netID, id)
}

func (f *fakeAPI) Ping(context.Context) (types.Ping, error) {
	return types.Ping{APIVersion: "1.41"}, nil
}

// summary returns a list entry; the ID is derived from the name so tests
// can predict it.
func summary(name, state, image string, labels map[string]string) container.Summary {
	return container.Summary{
		ID:     fmt.Sprintf("%x", name+"________________________________")[:64],
		Names:  []string{"/" + name},
		Image:  image,
		State:  state,
		Labels: labels,
	}
}

// inspected returns an inspect answer with the given state.
func inspected(id string, st container.State, nets map[string]*network.EndpointSettings) container.InspectResponse {
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/c", State: &st, HostConfig: &container.HostConfig{}},
		NetworkSettings:   &container.NetworkSettings{Networks: nets},
	}
}
