package docker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// Addresses gives a container's IPv4 and IPv6 addresses on each of its
// networks, in the order of the networks' names, and refuses a name that
// stands for no address.
func TestAddresses(t *testing.T) {
	containers := map[string]container.InspectResponse{
		"payment": {
			ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{Running: true}},
			NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
				"shop":    {IPAddress: "172.19.0.5"},
				"backend": {IPAddress: "172.18.0.3", GlobalIPv6Address: "fd00:c4a1::3"},
				"v6only":  {IPAddress: "", GlobalIPv6Address: "fd00::3"},
			}},
		},
		"stopped": {
			ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{}},
			NetworkSettings:   &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"shop": {}}},
		},
	}
	e := docker.New(&fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		if c, ok := containers[id]; ok {
			return c, nil
		}
		return container.InspectResponse{}, notFound("container")
	}}, "unix:///fake.sock")

	got, err := e.Addresses(context.Background(), "payment")
	if want := "[{backend 172.18.0.3} {backend fd00:c4a1::3} {shop 172.19.0.5} {v6only fd00::3}]"; err != nil || fmt.Sprint(got) != want {
		t.Errorf("Addresses(payment) = %v, %v; want %s", got, err, want)
	}
	for name, want := range map[string]string{
		"stopped": `container "stopped" (not running) has no IP address on any network`,
		"nobody":  `no container named "nobody"`,
	} {
		if got, err := e.Addresses(context.Background(), name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Addresses(%s) = %v, %v; want an error with %q", name, got, err, want)
		}
	}
}
