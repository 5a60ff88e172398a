package docker_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// endpointOf returns the endpoint a disconnect's record keeps.
func endpointOf(t *testing.T, data []byte) *docker.Endpoint {
	t.Helper()
	var r struct{ Endpoint *docker.Endpoint }
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r.Endpoint
}

func TestDisconnectPlan(t *testing.T) {
	attached := map[string]*network.EndpointSettings{
		"backend": {
			NetworkID:  "net-backend-id",
			Aliases:    []string{"api", cid[:12], "web.internal"},
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.9.0.7"},
			IPAddress:  "10.9.0.7",
		},
		"frontend": {NetworkID: "net-front-id", IPAddress: "10.8.0.3"},
	}
	tests := []struct {
		name    string
		network string
		nets    map[string]*network.EndpointSettings
		want    *docker.Endpoint
		wantErr string
	}{
		{"keeps aliases and fixed IP", "backend", attached,
			&docker.Endpoint{NetworkID: "net-backend-id", Network: "backend", Aliases: []string{"api", "web.internal"}, IPv4: "10.9.0.7"}, ""},
		{"by network ID", "net-backend-id", map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id", IPAddress: "10.9.0.2"}},
			&docker.Endpoint{NetworkID: "net-backend-id", Network: "backend"}, ""},
		{"from a network it is not on", "backend", map[string]*network.EndpointSettings{"frontend": {NetworkID: "net-front-id"}, "bridge": {NetworkID: "b"}},
			nil, "disconnect container web (0123456789ab) from network backend: the container is not attached to it; it is attached to: bridge, frontend"},
		{"from a missing network", "nope", attached, nil, "disconnect container web (0123456789ab) from network nope: no such network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					return inspected(cid, container.State{Running: true}, tt.nets), nil
				},
				netInspect: func(id string) (network.Inspect, error) {
					if n := backendNet(); id == n.Name || id == n.ID {
						return n, nil
					}
					return network.Inspect{}, notFound("network")
				},
			}
			u, err := newRun(api, "fake").plan(t, &docker.DisconnectParams{Network: tt.network})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("plan error = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := endpointOf(t, u.Data); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan keeps endpoint %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	var calls []string
	u, err := newRun(running(&calls), "fake").hit(t, &docker.DisconnectParams{Network: "backend"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []string{"disconnect net-backend-id"}) || u.Action == "" {
		t.Errorf("disconnect: calls %q, undo action %q; want one disconnect by network ID, to be reverted", calls, u.Action)
	}
	api := running(&calls)
	api.netDisconnect = func(string, string) error { return notFound("container") }
	if _, err := newRun(api, "fake").hit(t, &docker.DisconnectParams{Network: "backend"}); err == nil ||
		err.Error() != "disconnect container web (0123456789ab) from network backend: it no longer exists" {
		t.Errorf("disconnect of a container removed meanwhile = %v", err)
	}
}

func TestDisconnectRevert(t *testing.T) {
	fixed := &docker.Endpoint{NetworkID: "net-backend-id", Network: "backend", Aliases: []string{"api"}, IPv4: "10.9.0.7"}
	connected := map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id"}}
	tests := []struct {
		name     string
		endpoint *docker.Endpoint
		state    *container.State // nil: the container is gone
		nets     map[string]*network.EndpointSettings
		netGone  bool
		// replaced: the container is gone, and another of its name runs
		// connected to the network (Compose made it again).
		replaced bool
		// disconnected: the record says the fault disconnected it.
		disconnected bool
		failWith     error
		wantCalls    []string
		wantWarning  string
		wantErr      string
	}{
		{name: "reconnects", endpoint: fixed, state: &container.State{Running: true},
			nets: map[string]*network.EndpointSettings{}, wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"}},
		{name: "reconnects with a dynamic IP", endpoint: &docker.Endpoint{NetworkID: "net-backend-id", Network: "backend"},
			state: &container.State{Running: true}, wantCalls: []string{"connect net-backend-id aliases=[] ipv4="}},
		{name: "of a connected one", endpoint: fixed, state: &container.State{Running: true}, nets: connected},
		{name: "of a removed one", endpoint: fixed, wantWarning: "container web (0123456789ab) no longer exists: nothing to revert after disconnect"},
		// Made again in its place, connected: what it answered since was
		// not cut off, and must not count as the system coping.
		{name: "of one made again in its place", endpoint: fixed, replaced: true, disconnected: true,
			wantWarning: "container web (0123456789ab) was gone before the revert, and another of the same name (fedcba987654) ran in its place, connected to network backend: the disconnect did not last"},
		{name: "of one made again in its place, not connected", endpoint: fixed, replaced: true, disconnected: true, nets: map[string]*network.EndpointSettings{},
			wantWarning: "container web (0123456789ab) no longer exists: nothing to revert after disconnect"},
		{name: "from a removed network", endpoint: fixed, state: &container.State{Running: true},
			netGone: true, wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"}, wantWarning: "network backend no longer exists"},
		{name: "connected meanwhile", endpoint: fixed, state: &container.State{Running: true},
			failWith: errors.New("endpoint with name web already exists in network backend"), wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"}},
		{name: "of one someone connected again", endpoint: fixed, state: &container.State{Running: true}, nets: connected, disconnected: true,
			wantWarning: "container web (0123456789ab) was connected to network backend again before the revert: someone connected it"},
		{name: "of one someone connected again meanwhile", endpoint: fixed, state: &container.State{Running: true}, disconnected: true,
			failWith: errors.New("endpoint with name web already exists in network backend"), wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"},
			wantWarning: "container web (0123456789ab) was connected to network backend again before the revert: someone connected it"},
		{name: "reconnect fails", endpoint: fixed, state: &container.State{Running: true},
			failWith: errors.New("address in use"), wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"},
			wantErr: "revert disconnect of container web (0123456789ab): address in use; to restore it by hand run: docker network connect --alias api --ip 10.9.0.7 backend 0123456789ab"},
		{name: "a record without a network", state: &container.State{Running: true}, wantErr: "the record names no network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			api := &fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					if tt.replaced && (id == "web" || id == "fedcba9876543210") {
						nets := connected
						if tt.nets != nil {
							nets = tt.nets
						}
						r := inspected("fedcba9876543210", container.State{Running: true}, nets)
						r.Name = "/web"
						return r, nil
					}
					if tt.state == nil {
						return container.InspectResponse{}, notFound("container")
					}
					return inspected(id, *tt.state, tt.nets), nil
				},
				netConnect: func(netID, id string, es *network.EndpointSettings) error {
					ip := ""
					if es.IPAMConfig != nil {
						ip = es.IPAMConfig.IPv4Address
					}
					calls = append(calls, "connect "+netID+" aliases=["+strings.Join(es.Aliases, " ")+"] ipv4="+ip)
					if tt.netGone {
						return notFound("network")
					}
					return tt.failWith
				},
				netInspect: func(string) (network.Inspect, error) {
					if tt.netGone {
						return network.Inspect{}, notFound("network")
					}
					return backendNet(), nil
				},
			}
			data, _ := json.Marshal(map[string]any{"kind": "disconnect", "container_id": cid[:12], "container": "web", "endpoint": tt.endpoint, "disconnected": tt.disconnected})
			warning, err := newRun(api, "fake").revert(inject.Undo{Action: "docker.revert", Target: web, Data: data})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("revert: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("revert error = %v; want %q", err, tt.wantErr)
			}
			if (tt.wantWarning == "") != (warning == "") || !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("revert warning = %q; want %q", warning, tt.wantWarning)
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("revert calls %q; want %q", calls, tt.wantCalls)
			}
		})
	}
}
