package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var target = docker.Container{ID: cid, ShortID: cid[:12], Name: "web"}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"SIGKILL", "SIGKILL", false},
		{"kill", "SIGKILL", false},
		{" sigterm ", "SIGTERM", false},
		{"9", "SIGKILL", false},
		{"15", "SIGTERM", false},
		{"HUP", "SIGHUP", false},
		{"SIGRTMIN+3", "SIGRTMIN+3", false},
		{"40", "40", false},
		{"SIGFOO", "", true},
		{"0", "", true},
		{"65", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := docker.ParseSignal(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseSignal(%q) = %q, %v; want %q, error %t", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFaultValidate(t *testing.T) {
	sec := time.Second
	neg := -time.Second
	tests := []struct {
		f    docker.Fault
		want string // empty: valid
	}{
		{docker.Fault{Kind: docker.Kill}, ""},
		{docker.Fault{Kind: docker.Kill, Signal: "TERM"}, ""},
		{docker.Fault{Kind: docker.Stop, Timeout: &sec}, ""},
		{docker.Fault{Kind: docker.Restart}, ""},
		{docker.Fault{Kind: docker.Pause}, ""},
		{docker.Fault{Kind: docker.Disconnect, Network: "backend"}, ""},
		{docker.Fault{Kind: "explode"}, `unknown docker fault "explode"`},
		{docker.Fault{Kind: docker.Kill, Signal: "SIGNOPE"}, "unknown signal"},
		{docker.Fault{Kind: docker.Stop, Signal: "TERM"}, "only kill does"},
		{docker.Fault{Kind: docker.Pause, Timeout: &sec}, "only stop and restart do"},
		{docker.Fault{Kind: docker.Stop, Timeout: &neg}, "negative timeout"},
		{docker.Fault{Kind: docker.Disconnect}, "needs a network"},
		{docker.Fault{Kind: docker.Pause, Network: "x"}, "only disconnect does"},
	}
	for _, tt := range tests {
		err := tt.f.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v.Validate() = %v; want %q", tt.f, err, tt.want)
		}
	}
}

func backendNet() network.Inspect { return network.Inspect{ID: "net-backend-id", Name: "backend"} }

func TestPrepare(t *testing.T) {
	grace := 1500 * time.Millisecond
	two := 2
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
		f       docker.Fault
		state   container.State
		nets    map[string]*network.EndpointSettings
		want    docker.Record
		wantErr string
	}{
		{"kill defaults to SIGKILL", docker.Fault{Kind: docker.Kill}, container.State{Running: true}, nil,
			docker.Record{Kind: docker.Kill, ContainerID: cid, Container: "web", Signal: "SIGKILL"}, ""},
		{"kill signal canonical", docker.Fault{Kind: docker.Kill, Signal: "term"}, container.State{Running: true}, nil,
			docker.Record{Kind: docker.Kill, ContainerID: cid, Container: "web", Signal: "SIGTERM"}, ""},
		{"stop grace rounded up", docker.Fault{Kind: docker.Stop, Timeout: &grace}, container.State{Running: true}, nil,
			docker.Record{Kind: docker.Stop, ContainerID: cid, Container: "web", TimeoutSeconds: &two}, ""},
		{"pause", docker.Fault{Kind: docker.Pause}, container.State{Running: true}, nil,
			docker.Record{Kind: docker.Pause, ContainerID: cid, Container: "web"}, ""},
		{"pause of a paused one", docker.Fault{Kind: docker.Pause}, container.State{Running: true, Paused: true}, nil,
			docker.Record{}, "paused already"},
		{"disconnect keeps aliases and fixed IP", docker.Fault{Kind: docker.Disconnect, Network: "backend"}, container.State{Running: true}, attached,
			docker.Record{Kind: docker.Disconnect, ContainerID: cid, Container: "web", Endpoint: &docker.Endpoint{
				NetworkID: "net-backend-id", Network: "backend", Aliases: []string{"api", "web.internal"}, IPv4: "10.9.0.7"}}, ""},
		{"disconnect by network ID", docker.Fault{Kind: docker.Disconnect, Network: "net-backend-id"}, container.State{Running: true},
			map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id", IPAddress: "10.9.0.2"}},
			docker.Record{Kind: docker.Disconnect, ContainerID: cid, Container: "web", Endpoint: &docker.Endpoint{
				NetworkID: "net-backend-id", Network: "backend"}}, ""},
		{"disconnect from a network it is not on", docker.Fault{Kind: docker.Disconnect, Network: "backend"}, container.State{Running: true},
			map[string]*network.EndpointSettings{"frontend": {NetworkID: "net-front-id"}, "bridge": {NetworkID: "b"}},
			docker.Record{}, "not attached to it; it is attached to: bridge, frontend"},
		{"disconnect from a missing network", docker.Fault{Kind: docker.Disconnect, Network: "nope"}, container.State{Running: true}, attached,
			docker.Record{}, "no such network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := docker.New(&fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) { return inspected(id, tt.state, tt.nets), nil },
				netInspect: func(id string) (network.Inspect, error) {
					if n := backendNet(); id == n.Name || id == n.ID {
						return n, nil
					}
					return network.Inspect{}, notFound("network")
				},
			}, "fake")
			got, err := e.Prepare(context.Background(), tt.f, target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Prepare(%+v) error = %v; want %q", tt.f, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare(%+v): %v", tt.f, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Prepare(%+v) = %+v (endpoint %+v); want %+v (endpoint %+v)", tt.f, got, got.Endpoint, tt.want, tt.want.Endpoint)
			}
			// The record goes to the ledger and comes back in another process.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back docker.Record
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("record %s did not survive JSON: %+v, %v", b, back, err)
			}
		})
	}
}

func TestPrepareVanished(t *testing.T) {
	e := docker.New(&fakeAPI{inspect: func(string) (container.InspectResponse, error) {
		return container.InspectResponse{}, notFound("container")
	}}, "fake")
	_, err := e.Prepare(context.Background(), docker.Fault{Kind: docker.Pause}, target)
	if err == nil || !strings.Contains(err.Error(), "web (0123456789ab): it no longer exists") {
		t.Errorf("Prepare on a removed container = %v; want it named as gone", err)
	}
}

func TestInject(t *testing.T) {
	five := 5
	var calls []string
	e := docker.New(&fakeAPI{
		kill: func(id, sig string) error { calls = append(calls, "kill "+sig); return nil },
		stop: func(id string, o container.StopOptions) error {
			if o.Timeout == nil || *o.Timeout != 5 {
				t.Errorf("stop timeout = %v; want 5", o.Timeout)
			}
			calls = append(calls, "stop")
			return nil
		},
		restart: func(id string, o container.StopOptions) error {
			if o.Timeout != nil {
				t.Errorf("restart timeout = %v; want the container's own", *o.Timeout)
			}
			calls = append(calls, "restart")
			return nil
		},
		pause:         func(string) error { calls = append(calls, "pause"); return nil },
		netDisconnect: func(netID, id string) error { calls = append(calls, "disconnect "+netID); return nil },
	}, "fake")
	for _, r := range []docker.Record{
		{Kind: docker.Kill, ContainerID: cid, Signal: "SIGUSR1"},
		{Kind: docker.Stop, ContainerID: cid, TimeoutSeconds: &five},
		{Kind: docker.Restart, ContainerID: cid},
		{Kind: docker.Pause, ContainerID: cid},
		{Kind: docker.Disconnect, ContainerID: cid, Endpoint: &docker.Endpoint{NetworkID: "n1", Network: "backend"}},
	} {
		if err := e.Inject(context.Background(), r); err != nil {
			t.Errorf("Inject(%s): %v", r.Kind, err)
		}
	}
	want := []string{"kill SIGUSR1", "stop", "restart", "pause", "disconnect n1"}
	if !slices.Equal(calls, want) {
		t.Errorf("Inject calls = %q; want %q", calls, want)
	}

	gone := docker.New(&fakeAPI{pause: func(string) error { return notFound("container") }}, "fake")
	err := gone.Inject(context.Background(), docker.Record{Kind: docker.Pause, ContainerID: cid, Container: "web"})
	if err == nil || !strings.Contains(err.Error(), "pause container web (0123456789ab): it no longer exists") {
		t.Errorf("Inject on a removed container = %v", err)
	}
}

func TestRevert(t *testing.T) {
	endpoint := &docker.Endpoint{NetworkID: "net-backend-id", Network: "backend", Aliases: []string{"api"}, IPv4: "10.9.0.7"}
	connected := map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id"}}
	tests := []struct {
		name        string
		rec         docker.Record
		state       *container.State // nil: the container is gone
		nets        map[string]*network.EndpointSettings
		netGone     bool
		failWith    error
		wantCalls   []string
		wantWarning string
		wantErr     string
	}{
		{name: "kill has nothing to undo", rec: docker.Record{Kind: docker.Kill}},
		{name: "restart has nothing to undo", rec: docker.Record{Kind: docker.Restart}},
		{name: "stop starts it again", rec: docker.Record{Kind: docker.Stop}, state: &container.State{Status: "exited"}, wantCalls: []string{"start"}},
		{name: "stop of a running one", rec: docker.Record{Kind: docker.Stop}, state: &container.State{Running: true}},
		{name: "stop of a removed one", rec: docker.Record{Kind: docker.Stop}, wantWarning: "no longer exists: nothing to revert after stop"},
		{name: "stop of an auto-removed one", rec: docker.Record{Kind: docker.Stop, AutoRemove: true}, wantWarning: "auto-remove"},
		{name: "pause unpauses", rec: docker.Record{Kind: docker.Pause}, state: &container.State{Running: true, Paused: true}, wantCalls: []string{"unpause"}},
		{name: "pause of a running one", rec: docker.Record{Kind: docker.Pause}, state: &container.State{Running: true}},
		{name: "pause of a stopped one", rec: docker.Record{Kind: docker.Pause}, state: &container.State{Status: "exited"}},
		{name: "pause of a removed one", rec: docker.Record{Kind: docker.Pause}, wantWarning: "no longer exists"},
		{name: "unpause fails", rec: docker.Record{Kind: docker.Pause}, state: &container.State{Running: true, Paused: true},
			failWith: errors.New("cgroup trouble"), wantCalls: []string{"unpause"}, wantErr: "cgroup trouble; to restore it by hand run: docker unpause " + cid},
		{name: "disconnect reconnects", rec: docker.Record{Kind: docker.Disconnect, Endpoint: endpoint}, state: &container.State{Running: true},
			nets: map[string]*network.EndpointSettings{}, wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"}},
		{name: "disconnect reconnects with a dynamic IP", rec: docker.Record{Kind: docker.Disconnect, Endpoint: &docker.Endpoint{NetworkID: "net-backend-id", Network: "backend"}},
			state: &container.State{Running: true}, wantCalls: []string{"connect net-backend-id aliases=[] ipv4="}},
		{name: "disconnect of a connected one", rec: docker.Record{Kind: docker.Disconnect, Endpoint: endpoint}, state: &container.State{Running: true}, nets: connected},
		{name: "disconnect of a removed one", rec: docker.Record{Kind: docker.Disconnect, Endpoint: endpoint}, wantWarning: "no longer exists"},
		{name: "disconnect from a removed network", rec: docker.Record{Kind: docker.Disconnect, Endpoint: endpoint}, state: &container.State{Running: true},
			netGone: true, wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"}, wantWarning: "network backend no longer exists"},
		{name: "reconnect fails", rec: docker.Record{Kind: docker.Disconnect, Endpoint: endpoint}, state: &container.State{Running: true},
			failWith: errors.New("address in use"), wantCalls: []string{"connect net-backend-id aliases=[api] ipv4=10.9.0.7"},
			wantErr: "docker network connect --alias api --ip 10.9.0.7 backend " + cid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			e := docker.New(&fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					if tt.state == nil {
						return container.InspectResponse{}, notFound("container")
					}
					return inspected(id, *tt.state, tt.nets), nil
				},
				start:   func(string) error { calls = append(calls, "start"); return tt.failWith },
				unpause: func(string) error { calls = append(calls, "unpause"); return tt.failWith },
				netConnect: func(netID, id string, es *network.EndpointSettings) error {
					ip := ""
					if es.IPAMConfig != nil {
						ip = es.IPAMConfig.IPv4Address
					}
					a := es.Aliases
					if a == nil {
						a = []string{}
					}
					calls = append(calls, "connect "+netID+" aliases="+strings.Join(strings.Fields("["+strings.Join(a, " ")+"]"), " ")+" ipv4="+ip)
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
			}, "fake")
			rec := tt.rec
			rec.ContainerID, rec.Container = cid, "web"
			if !rec.Reversible() && (rec.Kind != docker.Kill && rec.Kind != docker.Restart) {
				t.Fatalf("%s record not reversible", rec.Kind)
			}
			warning, err := e.Revert(context.Background(), rec)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Revert(%s) error: %v", rec.Kind, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Revert(%s) error = %v; want %q", rec.Kind, err, tt.wantErr)
			}
			if (tt.wantWarning == "") != (warning == "") || !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("Revert(%s) warning = %q; want %q", rec.Kind, warning, tt.wantWarning)
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("Revert(%s) calls = %q; want %q", rec.Kind, calls, tt.wantCalls)
			}
		})
	}
}

func TestCrashRefusesForeignProcesses(t *testing.T) {
	// The fake daemon claims the container's main process is this test: the
	// cgroup check must refuse to signal it.
	api := &fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		return inspected(id, container.State{Running: true, Pid: os.Getpid()}, nil), nil
	}}
	crash := docker.Fault{Kind: docker.Kill, Crash: true}
	tests := []struct {
		host, want string
	}{
		{"tcp://10.0.0.1:2376", "is not on this host"},
		{"unix:///var/run/docker.sock", "is not in the container's cgroup"},
	}
	for _, tt := range tests {
		_, err := docker.New(api, tt.host).Prepare(context.Background(), crash, target)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Prepare(crash) with daemon %s = %v; want %q", tt.host, err, tt.want)
		}
	}
	// A record naming a pid that is not the container's is refused at
	// injection too, as after a pid was reused.
	rec := docker.Record{Kind: docker.Kill, ContainerID: cid, Signal: "SIGKILL", PID: os.Getpid()}
	if err := docker.New(api, "unix:///var/run/docker.sock").Inject(context.Background(), rec); err == nil {
		t.Error("Inject of a crash record with a foreign pid succeeded")
	}
	if err := (docker.Fault{Kind: docker.Stop, Crash: true}).Validate(); err == nil || !strings.Contains(err.Error(), "only kill can") {
		t.Errorf("Validate(stop with crash) = %v", err)
	}
}
