package docker_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/probe"
)

const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// target is the container the unit tests look at.
var target = docker.Container{ID: cid, ShortID: cid[:12], Name: "web"}

// web is that container as the docker target kind resolves it.
var web = inject.Target{Kind: "docker", ID: cid[:12], Name: "web"}

// testRun is a run's environment over a fake engine or a real one.
type testRun struct {
	env      *inject.Env
	warnings []string
}

func newRun(api docker.API, host string) *testRun { return engineRun(docker.New(api, host)) }

func engineRun(e *docker.Engine) *testRun {
	r := &testRun{}
	r.env = inject.NewEnv(1, func(m string) { r.warnings = append(r.warnings, m) })
	docker.SetEngine(r.env, e)
	return r
}

// plan plans f on web, and passes the undo through JSON as the ledger
// does.
func (r *testRun) plan(t *testing.T, f inject.Fault) (inject.Undo, error) {
	t.Helper()
	return r.planOn(t, f, web)
}

// planOn plans f on tg.
func (r *testRun) planOn(t *testing.T, f inject.Fault, tg inject.Target) (inject.Undo, error) {
	t.Helper()
	u, err := f.Plan(context.Background(), r.env, tg)
	if err != nil {
		return u, err
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back inject.Undo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back, nil
}

// hit plans f on web and injects it, as a run does.
func (r *testRun) hit(t *testing.T, f inject.Fault) (inject.Undo, error) {
	t.Helper()
	return r.hitOn(t, f, web)
}

// hitOn plans f on tg and injects it.
func (r *testRun) hitOn(t *testing.T, f inject.Fault, tg inject.Target) (inject.Undo, error) {
	t.Helper()
	u, err := r.planOn(t, f, tg)
	if err != nil {
		return u, err
	}
	return f.Inject(context.Background(), r.env, tg, u)
}

// revert reverts u as a run or chaos recover does, and returns the
// warning it gave.
func (r *testRun) revert(u inject.Undo) (string, error) {
	r.warnings = nil
	err := inject.Revert(context.Background(), r.env, u)
	return strings.Join(r.warnings, "; "), err
}

// fault returns new settings of a docker fault, with their defaults.
func fault(t *testing.T, name string) inject.Fault {
	t.Helper()
	k, ok := inject.LookupFault("docker", name)
	if !ok {
		t.Fatalf("no docker fault %q", name)
	}
	f := k.New()
	if d, ok := f.(interface{ SetDefaults() }); ok {
		d.SetDefaults()
	}
	return f
}

// record returns the record an undo carries, as JSON.
func record(t *testing.T, u inject.Undo) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(u.Data, &m); err != nil {
		t.Fatalf("undo data %s: %v", u.Data, err)
	}
	return m
}

// running is a fake daemon where web runs, attached to the network
// backend, and every call a fault makes succeeds and is noted.
func running(calls *[]string) *fakeAPI {
	note := func(s string) error { *calls = append(*calls, s); return nil }
	return &fakeAPI{
		inspect: func(id string) (container.InspectResponse, error) {
			r := inspected(id, container.State{Running: true, Status: "running"},
				map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id"}})
			r.Name = "/web"
			return r, nil
		},
		netInspect: func(string) (network.Inspect, error) { return backendNet(), nil },
		kill:       func(_, sig string) error { return note("kill " + sig) },
		stop:       func(string, container.StopOptions) error { return note("stop") },
		restart:    func(string, container.StopOptions) error { return note("restart") },
		pause:      func(string) error { return note("pause") },
		unpause:    func(string) error { return note("unpause") },
		start:      func(string) error { return note("start") },
		netDisconnect: func(netID, _ string) error {
			return note("disconnect " + netID)
		},
		netConnect: func(netID, _ string, _ *network.EndpointSettings) error { return note("connect " + netID) },
	}
}

func backendNet() network.Inspect { return network.Inspect{ID: "net-backend-id", Name: "backend"} }

// TestEveryFaultRegistered lists the docker faults and which leave
// something to revert.
func TestEveryFaultRegistered(t *testing.T) {
	want := []string{"disconnect", "kill", "pause", "restart", "stop"}
	var got []string
	for _, name := range inject.FaultNames("docker") {
		if slices.Contains(want, name) {
			got = append(got, name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("docker faults %q; want %q among them", inject.FaultNames("docker"), want)
	}
	reversible := map[string]bool{"stop": true, "pause": true, "disconnect": true}
	for _, name := range want {
		var calls []string
		u, err := newRun(running(&calls), "fake").plan(t, fault(t, name))
		if name == "disconnect" {
			u, err = newRun(running(&calls), "fake").plan(t, &docker.DisconnectParams{Network: "backend"})
		}
		if err != nil {
			t.Fatalf("plan %s: %v", name, err)
		}
		if (u.Action != "") != reversible[name] || u.Target != web {
			t.Errorf("plan %s: undo action %q, target %v; want reversible %t, target %v", name, u.Action, u.Target, reversible[name], web)
		}
		if got := record(t, u)["kind"]; got != name {
			t.Errorf("plan %s: record names fault %v", name, got)
		}
	}
}

// TestLegacyRecords reverts undos as ledgers written by earlier versions
// of chaos hold them: action docker.revert, and a record of one form for
// every fault. chaos recover must still revert them.
func TestLegacyRecords(t *testing.T) {
	tests := []struct {
		name, data  string
		state       container.State
		nets        map[string]*network.EndpointSettings
		wantCalls   []string
		wantWarning string
	}{
		{"stop", `{"kind":"stop","container_id":"0123456789ab","container":"web","timeout_seconds":5}`,
			container.State{Status: "exited"}, nil, []string{"start 0123456789ab"}, ""},
		{"pause", `{"kind":"pause","container_id":"0123456789ab","container":"web","host":"fake"}`,
			container.State{Running: true, Paused: true}, nil, []string{"unpause 0123456789ab"}, ""},
		{"disconnect", `{"kind":"disconnect","container_id":"0123456789ab","container":"web","endpoint":{"network_id":"net-backend-id","network":"backend","aliases":["api"],"ipv4":"10.9.0.7"}}`,
			container.State{Running: true}, map[string]*network.EndpointSettings{"bridge": {NetworkID: "b"}},
			[]string{"connect net-backend-id 0123456789ab aliases=[api] ipv4=10.9.0.7"}, ""},
		{"auto-removed stop", `{"kind":"stop","container_id":"0123456789ab","container":"web","auto_remove":true}`,
			container.State{}, nil, nil, "container web (0123456789ab) was removed by the daemon when it stopped (auto-remove)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			api := &fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					if tt.wantWarning != "" {
						return container.InspectResponse{}, notFound("container")
					}
					return inspected(id, tt.state, tt.nets), nil
				},
				start:   func(id string) error { calls = append(calls, "start "+id); return nil },
				unpause: func(id string) error { calls = append(calls, "unpause "+id); return nil },
				netConnect: func(netID, id string, es *network.EndpointSettings) error {
					calls = append(calls, "connect "+netID+" "+id+" aliases=["+strings.Join(es.Aliases, " ")+"] ipv4="+es.IPAMConfig.IPv4Address)
					return nil
				},
			}
			var u inject.Undo
			entry := `{"action":"docker.revert","target":{"kind":"docker","id":"0123456789ab","name":"web"},"data":` + tt.data + `}`
			if err := json.Unmarshal([]byte(entry), &u); err != nil {
				t.Fatal(err)
			}
			r := newRun(api, "fake")
			warning, err := r.revert(u)
			if err != nil {
				t.Fatalf("revert of %s: %v", tt.data, err)
			}
			if !slices.Equal(calls, tt.wantCalls) || !strings.Contains(warning, tt.wantWarning) || (warning == "") != (tt.wantWarning == "") {
				t.Errorf("revert of %s: calls %q, warning %q; want %q, %q", tt.data, calls, warning, tt.wantCalls, tt.wantWarning)
			}
		})
	}
}

// TestRecordsKeepTheirForm plans each fault and compares its record with
// the form ledgers have always held, so that an earlier chaos can still
// revert what this one writes: the default engine's address, a stop's
// began, grace_seconds and stopped, and a pause's and a disconnect's
// began, which it ignores, are the fields added since.
func TestRecordsKeepTheirForm(t *testing.T) {
	five := experiment.Duration(4500e6)
	tests := []struct {
		f    inject.Fault
		want string
	}{
		{&docker.KillParams{Signal: experiment.MustSignal("KILL")}, `{"kind":"kill","container_id":"0123456789ab","container":"web","host":"fake","signal":"SIGKILL"}`},
		{&docker.StopParams{Timeout: &five}, `{"kind":"stop","container_id":"0123456789ab","container":"web","host":"fake","timeout_seconds":5}`},
		{&docker.RestartParams{Timeout: &five}, `{"kind":"restart","container_id":"0123456789ab","container":"web","host":"fake","timeout_seconds":5}`},
		{&docker.PauseParams{}, `{"kind":"pause","container_id":"0123456789ab","container":"web","host":"fake"}`},
		{&docker.DisconnectParams{Network: "backend"}, `{"kind":"disconnect","container_id":"0123456789ab","container":"web","host":"fake","endpoint":{"network_id":"net-backend-id","network":"backend"}}`},
	}
	for _, tt := range tests {
		var calls []string
		u, err := newRun(running(&calls), "fake").plan(t, tt.f)
		if err != nil {
			t.Fatalf("plan %T: %v", tt.f, err)
		}
		if _, ok := tt.f.(*docker.StopParams); ok {
			added := regexp.MustCompile(`,"began":"[^"]+","grace_seconds":5`)
			if !added.Match(u.Data) {
				t.Errorf("plan of a stop: record %s; want when it began and its grace", u.Data)
			}
			u.Data = added.ReplaceAll(u.Data, nil)
		}
		switch tt.f.(type) {
		case *docker.PauseParams, *docker.DisconnectParams:
			added := regexp.MustCompile(`,"began":"[^"]+"`)
			if !added.Match(u.Data) {
				t.Errorf("plan of %T: record %s; want when it began", tt.f, u.Data)
			}
			u.Data = added.ReplaceAll(u.Data, nil)
		}
		if string(u.Data) != tt.want {
			t.Errorf("plan %T: record %s; want %s", tt.f, u.Data, tt.want)
		}
		if len(calls) != 0 {
			t.Errorf("plan %T changed something: %q", tt.f, calls)
		}
	}
}

func TestRevertRefuses(t *testing.T) {
	r := newRun(&fakeAPI{}, "fake")
	for data, want := range map[string]string{
		`{"kind":"explode","container_id":"0123456789ab","container":"web"}`: `revert docker fault "explode" of container web (0123456789ab): this version of chaos cannot revert it`,
		`{"kind":"kill","container_id":"0123456789ab"}`:                      `revert docker fault "kill" of container 0123456789ab: this version of chaos cannot revert it`,
		`["pause"]`: "revert docker fault: bad record",
	} {
		_, err := r.revert(inject.Undo{Action: "docker.revert", Target: web, Data: json.RawMessage(data)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("revert of %s = %v; want %q", data, err, want)
		}
	}
}

// TestFaultsTellTheHistory injects each fault and looks at the container
// with the run's docker probe: a kill, stop or restart counts restarts
// afresh, and the process a SIGKILL killed is not running while the
// daemon still reports it.
func TestFaultsTellTheHistory(t *testing.T) {
	tests := []struct {
		f inject.Fault
		// running is whether the probe sees the container running after the
		// fault, which the fake daemon does not carry out; counts is
		// whether the restart seen before the fault still counts.
		running, counts bool
	}{
		{&docker.KillParams{Signal: experiment.MustSignal("SIGKILL")}, false, false},
		{&docker.KillParams{Signal: experiment.MustSignal("SIGHUP")}, true, false},
		{&docker.StopParams{}, true, false},
		{&docker.RestartParams{}, true, false},
		{&docker.PauseParams{}, true, true},
		{&docker.DisconnectParams{Network: "backend"}, true, true},
	}
	for _, tt := range tests {
		var calls []string
		api := running(&calls)
		count, started := 1, "2026-05-01T10:00:00Z"
		api.inspect = func(string) (container.InspectResponse, error) {
			// The daemon answers with the full ID whatever it is asked by.
			r := inspected(cid, container.State{Running: true, Status: "running", StartedAt: started},
				map[string]*network.EndpointSettings{"backend": {NetworkID: "net-backend-id"}})
			r.Name, r.RestartCount = "/web", count
			return r, nil
		}
		api.list = func(container.ListOptions) ([]container.Summary, error) {
			s := summary("web", "running", "web", nil)
			s.ID = cid
			return []container.Summary{s}, nil
		}
		r := newRun(api, "fake")
		ctx := inject.WithEnv(context.Background(), r.env)
		look := func(expect *docker.ProbeExpect) probe.Result {
			return probe.Run(ctx, "docker", &docker.ProbeSpec{Name: "web"}, expect)
		}
		look(nil)
		count, started = 2, "2026-05-01T10:00:05Z"
		if res := look(&docker.ProbeExpect{MinRestarts: ptr(1)}); !res.OK {
			t.Fatalf("a restart before the fault: %+v; want it counted", res)
		}
		if _, err := r.hit(t, tt.f); err != nil {
			t.Fatalf("%T: %v", tt.f, err)
		}
		if res := look(nil); res.OK != tt.running {
			t.Errorf("%T %v: running %t (%+v); want %t", tt.f, tt.f, res.OK, res, tt.running)
		}
		if res := look(&docker.ProbeExpect{MinRestarts: ptr(1)}); res.OK != tt.counts {
			t.Errorf("%T %v: the restart before it counts: %t (%+v); want %t", tt.f, tt.f, res.OK, res, tt.counts)
		}
	}
}
