package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/gamedayhq/chaos/internal/inject"
)

// fakeAPI answers the calls the scale and drain reverts make; the methods
// a test does not set panic through the nil embedded interface.
type fakeAPI struct {
	API
	info    system.Info
	service swarm.Service
	node    swarm.Node
	// updates fail with these errors, one per call, before they succeed.
	failures []error
	updates  int
}

func (f *fakeAPI) Info(context.Context) (system.Info, error) { return f.info, nil }

func (f *fakeAPI) ServiceInspectWithRaw(_ context.Context, id string, _ swarm.ServiceInspectOptions) (swarm.Service, []byte, error) {
	if id != f.service.ID {
		return swarm.Service{}, nil, notFound{}
	}
	s := f.service
	n := *s.Spec.Mode.Replicated.Replicas
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	return s, nil, nil
}

func (f *fakeAPI) ServiceUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, _ swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.updates++
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		return swarm.ServiceUpdateResponse{}, err
	}
	if v != f.service.Version {
		return swarm.ServiceUpdateResponse{}, errors.New("update out of sequence")
	}
	f.service.Spec, f.service.Version.Index = spec, f.service.Version.Index+1
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *fakeAPI) NodeInspectWithRaw(_ context.Context, id string) (swarm.Node, []byte, error) {
	if id != f.node.ID {
		return swarm.Node{}, nil, notFound{}
	}
	return f.node, nil, nil
}

func (f *fakeAPI) NodeUpdate(_ context.Context, id string, v swarm.Version, spec swarm.NodeSpec) error {
	f.updates++
	f.node.Spec, f.node.Version.Index = spec, f.node.Version.Index+1
	return nil
}

type notFound struct{}

func (notFound) Error() string { return "not found" }
func (notFound) NotFound()     {}

func manager() system.Info {
	var i system.Info
	i.Swarm.LocalNodeState, i.Swarm.ControlAvailable, i.Swarm.NodeID = swarm.LocalNodeStateActive, true, "node1"
	return i
}

func withCluster(api API) (*inject.Env, *[]string) {
	var warned []string
	env := inject.NewEnv(1, func(m string) { warned = append(warned, m) })
	env.Put("swarm", New(api, "unix:///fake.sock"))
	return env, &warned
}

func scaleUndo(replicas uint64) inject.Undo {
	data, _ := json.Marshal(scaleRecord{ServiceID: "svc1", Service: "web", Replicas: replicas})
	return inject.Undo{Action: undoScale, Data: data}
}

func TestScaleBack(t *testing.T) {
	three := uint64(3)
	one := uint64(1)
	for _, c := range []struct {
		name        string
		have        *uint64
		failures    []error
		wantUpdates int
		wantErr     string
	}{
		{name: "scaled down", have: &one, wantUpdates: 1},
		{name: "back already", have: &three, wantUpdates: 0},
		{name: "lost a race twice", have: &one, failures: []error{errors.New("rpc error: update out of sequence"), errors.New("update out of sequence")}, wantUpdates: 3},
		{name: "refused", have: &one, failures: []error{errors.New("permission denied")}, wantUpdates: 1, wantErr: "docker service scale svc1=3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &fakeAPI{info: manager(), failures: c.failures}
			api.service.ID = "svc1"
			api.service.Spec.Name = "web"
			api.service.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: c.have}
			env, warned := withCluster(api)
			err := inject.Revert(context.Background(), env, scaleUndo(3))
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("revert = %v; want error containing %q", err, c.wantErr)
			}
			if api.updates != c.wantUpdates {
				t.Errorf("revert made %d updates; want %d", api.updates, c.wantUpdates)
			}
			if got := *api.service.Spec.Mode.Replicated.Replicas; c.wantErr == "" && got != 3 {
				t.Errorf("replicas after the revert = %d; want 3", got)
			}
			if len(*warned) > 0 {
				t.Errorf("warnings %q; want none", *warned)
			}
		})
	}
}

func TestRevertsOfWhatIsGone(t *testing.T) {
	api := &fakeAPI{info: manager()}
	env, warned := withCluster(api)
	if err := inject.Revert(context.Background(), env, scaleUndo(3)); err != nil {
		t.Fatalf("scale back of a removed service = %v; want a warning", err)
	}
	data, _ := json.Marshal(nodeRecord{NodeID: "node9", Node: "gone-host", Availability: "active"})
	if err := inject.Revert(context.Background(), env, inject.Undo{Action: undoAvailability, Data: data}); err != nil {
		t.Fatalf("availability of a removed node = %v; want a warning", err)
	}
	// An engine that left the swarm has no services left to scale back.
	api.info = system.Info{}
	if err := inject.Revert(context.Background(), env, scaleUndo(3)); err != nil {
		t.Fatalf("scale back on an engine in no swarm = %v; want a warning", err)
	}
	if len(*warned) != 3 || !strings.Contains((*warned)[0], "service web no longer exists") || !strings.Contains((*warned)[1], "node gone-host no longer exists") {
		t.Errorf("warnings = %q; want three saying what is gone", *warned)
	}
	if api.updates != 0 {
		t.Errorf("%d updates of things that are gone", api.updates)
	}
}

func TestDrainRestoresThePreviousAvailability(t *testing.T) {
	api := &fakeAPI{info: manager()}
	api.node.ID, api.node.Description.Hostname = "node1", "host1"
	api.node.Spec.Availability = swarm.NodeAvailabilityPause
	env, _ := withCluster(api)
	c, _ := cluster(context.Background(), env)
	// Two drains of the run on one node, through two of its tasks: both
	// remember what the node was before the first.
	first := c.hold("node:node1", string(api.node.Spec.Availability))
	if err := c.setAvailability(context.Background(), "node1", swarm.NodeAvailabilityDrain); err != nil {
		t.Fatal(err)
	}
	if second := c.hold("node:node1", string(api.node.Spec.Availability)); second != first {
		t.Fatalf("the second drain remembers %q; want %q, what the node was before the first", second, first)
	}
	data, _ := json.Marshal(nodeRecord{NodeID: "node1", Node: "host1", Availability: first})
	for range 2 {
		if err := inject.Revert(context.Background(), env, inject.Undo{Action: undoAvailability, Data: data}); err != nil {
			t.Fatal(err)
		}
		if a := api.node.Spec.Availability; a != swarm.NodeAvailabilityPause {
			t.Fatalf("availability after the revert = %s; want pause, as before", a)
		}
	}
	if api.updates != 2 {
		t.Errorf("%d updates; want 2 (the drain and one revert)", api.updates)
	}
}

// A scale or drain that someone undid during the fault (a stack deployed
// again, an autoscaler, an operator making the node active) ended early:
// its revert says so and leaves the service or node as it is; one that
// held, or that another fault of the run on the same service or node set
// back first, does not.
func TestScaleAndDrainUndoneByOthersEndedEarly(t *testing.T) {
	ctx := context.Background()
	scaled := func(to uint64) inject.Undo {
		data, _ := json.Marshal(scaleRecord{ServiceID: "svc1", Service: "web", Replicas: 3, Scaled: &to})
		return inject.Undo{Action: undoScale, Data: data}
	}
	service := func(have uint64) *fakeAPI {
		api := &fakeAPI{info: manager()}
		api.service.ID, api.service.Spec.Name = "svc1", "web"
		api.service.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &have}
		return api
	}
	drained := func() inject.Undo {
		data, _ := json.Marshal(nodeRecord{NodeID: "node1", Node: "host1", Availability: "active", Drained: true})
		return inject.Undo{Action: undoAvailability, Data: data}
	}
	node := func(a swarm.NodeAvailability) *fakeAPI {
		api := &fakeAPI{info: manager()}
		api.node.ID, api.node.Description.Hostname, api.node.Spec.Availability = "node1", "host1", a
		return api
	}
	for _, c := range []struct {
		name      string
		api       *fakeAPI
		undos     []inject.Undo
		wantEarly []string
	}{
		{name: "scaled back by someone", api: service(3), undos: []inject.Undo{scaled(0)},
			wantEarly: []string{"service web had 3 replicas before the revert, not the 0 the fault set: someone scaled it"}},
		{name: "scaled elsewhere by someone", api: service(5), undos: []inject.Undo{scaled(1)},
			wantEarly: []string{"service web had 5 replicas before the revert, not the 1 the fault set"}},
		{name: "scale held", api: service(0), undos: []inject.Undo{scaled(0)}, wantEarly: []string{""}},
		{name: "two scales of one service", api: service(0), undos: []inject.Undo{scaled(0), scaled(0)}, wantEarly: []string{"", ""}},
		{name: "made active by someone", api: node(swarm.NodeAvailabilityActive), undos: []inject.Undo{drained()},
			wantEarly: []string{"swarm node host1 was active before the revert, not drained: someone changed its availability"}},
		{name: "drain held", api: node(swarm.NodeAvailabilityDrain), undos: []inject.Undo{drained()}, wantEarly: []string{""}},
		{name: "two drains of one node", api: node(swarm.NodeAvailabilityDrain), undos: []inject.Undo{drained(), drained()}, wantEarly: []string{"", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, warned := withCluster(c.api)
			cl, _ := cluster(ctx, env)
			cl.hold("service:svc1", "3")
			cl.hold("node:node1", "active")
			before := c.api.updates
			for i, u := range c.undos {
				ended, err := inject.RevertEarly(ctx, env, u)
				if err != nil {
					t.Fatal(err)
				}
				if want := c.wantEarly[i]; want == "" && ended.Early != "" || !strings.Contains(ended.Early, want) {
					t.Errorf("revert %d ended early %q; want %q", i+1, ended.Early, want)
				}
			}
			early := c.wantEarly[0] != ""
			if early && c.api.updates != before {
				t.Errorf("a revert of a fault someone undid made %d updates; want none", c.api.updates-before)
			}
			if !early && c.api.updates-before != 1 {
				t.Errorf("the reverts made %d updates; want 1", c.api.updates-before)
			}
			if len(*warned) > 0 {
				t.Errorf("warnings %q; want none", *warned)
			}
		})
	}
}

// containerAPI is a fakeAPI whose one container is as state says, or gone
// when state is nil.
type containerAPI struct {
	fakeAPI
	state    *container.State
	unpaused int
}

func (f *containerAPI) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	if f.state == nil || id != "c1" {
		return container.InspectResponse{}, notFound{}
	}
	var r container.InspectResponse
	r.ContainerJSONBase = &container.ContainerJSONBase{ID: id, State: f.state}
	return r, nil
}

func (f *containerAPI) ContainerUnpause(context.Context, string) error {
	f.unpaused++
	return nil
}

// A paused task whose container was gone before the revert (the
// orchestrator replaced the task and its container was removed, or
// someone removed it), or had stopped (replaced, its old container kept in
// the task's history): the pause did not last, and the revert says so, so
// that the run does not count the replacement's answers as the service
// coping with a frozen task.
func TestUnpauseOfAReplacedTask(t *testing.T) {
	for _, c := range []struct {
		name  string
		state *container.State
		want  string
	}{
		{name: "still paused", state: &container.State{Status: "paused", Running: true, Paused: true}},
		{name: "removed", want: "was gone before the revert"},
		{name: "stopped", state: &container.State{Status: "exited", FinishedAt: "2026-12-07T23:59:01.5Z"}, want: "had stopped before the revert (at 2026-12-07T23:59:01.5Z"},
		{name: "unpaused", state: &container.State{Status: "running", Running: true}, want: "someone unpaused it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &containerAPI{fakeAPI: fakeAPI{info: manager()}, state: c.state}
			env, warned := withCluster(api)
			data, _ := json.Marshal(pauseRecord{TaskID: "t1", Task: "web.1", ContainerID: "c1"})
			ended, err := inject.RevertEarly(context.Background(), env, inject.Undo{Action: undoUnpause, Data: data})
			if err != nil || c.want == "" && ended.Early != "" || !strings.Contains(ended.Early, c.want) {
				t.Errorf("revert = %+v, %v; want it gone early with %q", ended, err, c.want)
			}
			want := 0
			if c.want == "" {
				want = 1
			}
			if api.unpaused != want {
				t.Errorf("%d unpauses; want %d", api.unpaused, want)
			}
			if len(*warned) > 0 {
				t.Errorf("warnings %q; want none", *warned)
			}
		})
	}
}
