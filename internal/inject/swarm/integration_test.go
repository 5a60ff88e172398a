package swarm_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	chaosswarm "github.com/gamedayhq/chaos/internal/inject/swarm"
	"github.com/gamedayhq/chaos/internal/inject/swarm/swarmtest"
	"github.com/gamedayhq/chaos/internal/probe"
)

// warnings collects what reverts report.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) all() string  { w.mu.Lock(); defer w.mu.Unlock(); return strings.Join(w.msgs, "\n") }

// newEnv returns a run's environment; another one stands for another
// process, such as chaos recover.
func newEnv(t *testing.T, w *warnings) *inject.Env {
	env := inject.NewEnv(1, w.add)
	t.Cleanup(func() { env.Close() })
	return env
}

// elsewhere reverts u the way chaos recover would: from its JSON, in an
// environment of its own.
func elsewhere(t *testing.T, w *warnings, u inject.Undo) error {
	t.Helper()
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back inject.Undo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return inject.Revert(context.Background(), newEnv(t, w), back)
}

func fault(t *testing.T, name string, with map[string]any) inject.Fault {
	t.Helper()
	k, ok := inject.LookupFault("swarm", name)
	if !ok {
		t.Fatalf("no swarm fault %s", name)
	}
	f := k.New()
	if d, ok := f.(interface{ SetDefaults() }); ok {
		d.SetDefaults()
	}
	if with != nil {
		b, _ := json.Marshal(with)
		if err := json.Unmarshal(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func apply(t *testing.T, env *inject.Env, f inject.Fault, tg inject.Target) inject.Undo {
	t.Helper()
	ctx := context.Background()
	if pc, ok := f.(inject.Prechecker); ok {
		if err := pc.Precheck(ctx, env, tg); err != nil {
			t.Fatalf("precheck on %s: %v", tg, err)
		}
	}
	u, err := f.Plan(ctx, env, tg)
	if err != nil {
		t.Fatalf("plan on %s: %v", tg, err)
	}
	u, err = f.Inject(ctx, env, tg, u)
	if err != nil {
		t.Fatalf("inject on %s: %v", tg, err)
	}
	return u
}

func selectTasks(t *testing.T, env *inject.Env, spec *chaosswarm.TargetSpec) []inject.Target {
	t.Helper()
	kind, _ := inject.LookupTarget("swarm")
	picked, _, err := inject.Select(context.Background(), env, "web", kind, spec)
	if err != nil {
		t.Fatal(err)
	}
	return picked
}

func replicas(t *testing.T, d *dockertest.Env, id string) uint64 {
	t.Helper()
	svc, _, err := d.Client.ServiceInspectWithRaw(context.Background(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *svc.Spec.Mode.Replicated.Replicas
}

func observe(t *testing.T, env *inject.Env, spec *chaosswarm.ProbeSpec, want string) probe.Result {
	t.Helper()
	x := &chaosswarm.ProbeExpect{}
	if want != "" {
		c, err := chaosswarm.ParseReplicaCond(want)
		if err != nil {
			t.Fatal(err)
		}
		x.Replicas = c
	}
	ctx, cancel := context.WithTimeout(inject.WithEnv(context.Background(), env), probe.Limit(spec))
	defer cancel()
	return probe.Run(ctx, "swarm", spec, x)
}

func TestSwarmFaults(t *testing.T) {
	d := dockertest.New(t)
	swarmtest.Join(t, d)
	stack := d.Name("stack")
	id := swarmtest.Service(t, d, swarmtest.Spec{Name: "web", Replicas: 3, Labels: map[string]string{chaosswarm.StackLabel: stack}})
	swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)
	var w warnings
	env := newEnv(t, &w)
	name := d.Name("web")
	ctx := context.Background()

	t.Run("select", func(t *testing.T) {
		if got := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name}); len(got) != 3 {
			t.Fatalf("service %s selects %d tasks; want 3: %v", name, len(got), got)
		}
		tasks := selectTasks(t, env, &chaosswarm.TargetSpec{Stack: stack, Selection: experiment.Selection{Pick: experiment.Pick{N: 1}}})
		if len(tasks) != 1 || !strings.HasPrefix(tasks[0].Name, name+".") {
			t.Fatalf("stack %s with pick 1 selects %v; want one task of %s", stack, tasks, name)
		}
		host := tasks[0].Name[strings.LastIndex(tasks[0].Name, " on ")+4:]
		if got := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name, Node: host}); len(got) != 3 {
			t.Errorf("node %s selects %d tasks; want 3", host, len(got))
		}
		kind, _ := inject.LookupTarget("swarm")
		if _, _, err := inject.Select(ctx, env, "web", kind, &chaosswarm.TargetSpec{Service: name, Node: "no-such-node"}); err == nil || !strings.Contains(err.Error(), "no swarm node") {
			t.Errorf("a node that does not exist gives %v; want an error naming it", err)
		}
		if _, _, err := inject.Select(ctx, env, "web", kind, &chaosswarm.TargetSpec{Service: name + "-none"}); err == nil {
			t.Error("a service that does not exist matches something")
		}
	})

	t.Run("kill", func(t *testing.T) {
		tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name, Selection: experiment.Selection{Pick: experiment.Pick{N: 1}}})[0]
		u := apply(t, env, fault(t, "kill", nil), tg)
		if u.Action != "" {
			t.Errorf("kill planned an undo %q; want none", u.Action)
		}
		// Swarm needs a moment to see the task fail; the probe does not
		// count the killed container meanwhile.
		if r := observe(t, env, &chaosswarm.ProbeSpec{Service: name}, ""); r.OK {
			t.Errorf("right after the kill the probe holds (%v); want 2 of 3 running", r.Observed)
		}
		r := observe(t, env, &chaosswarm.ProbeSpec{Service: name, Within: experiment.Duration(30 * time.Second)}, "== desired")
		if !r.OK || r.Observed["replicas"] != "3/3" {
			t.Fatalf("the probe did not see 3/3 within 30s after the kill: %v %s", r.Observed, r.Reason)
		}
		t.Logf("back to 3/3 after %s", r.Observed["waited"])
		// The task killed is not among the running ones.
		for _, again := range selectTasks(t, env, &chaosswarm.TargetSpec{Service: name}) {
			if again.ID == tg.ID {
				t.Errorf("the killed task %s is still selected", tg)
			}
		}
	})

	t.Run("pause", func(t *testing.T) {
		swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)
		tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name, Selection: experiment.Selection{Pick: experiment.Pick{N: 1}}})[0]
		u := apply(t, env, fault(t, "pause", nil), tg)
		var rec struct {
			ContainerID string `json:"container_id"`
		}
		json.Unmarshal(u.Data, &rec)
		if info := d.Inspect(rec.ContainerID); !info.State.Paused {
			t.Fatalf("task %s's container is not paused after the fault", tg)
		}
		if _, err := fault(t, "pause", nil).Plan(ctx, env, tg); err == nil || !strings.Contains(err.Error(), "paused already") {
			t.Errorf("a second pause of the same task plans with %v; want it refused", err)
		}
		for range 2 {
			if err := elsewhere(t, &w, u); err != nil {
				t.Fatalf("revert pause: %v", err)
			}
			if info := d.Inspect(rec.ContainerID); info.State.Paused {
				t.Fatal("the container is still paused after the revert")
			}
		}
	})

	t.Run("scale", func(t *testing.T) {
		swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)
		tasks := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name})
		f := fault(t, "scale", map[string]any{"replicas": 1})
		// Two tasks of one service: the second fault must remember 3,
		// not the 1 the first left, though Swarm may be stopping its
		// task already.
		u1 := apply(t, env, f, tasks[0])
		stopping, err := waitTaskStopping(ctx, d, tasks[1:])
		if err != nil {
			t.Fatal(err)
		}
		u2 := apply(t, env, f, stopping)
		// Both faults hold the service's replicas, whatever task they
		// came through: another run's fault holding them is refused.
		if want := []string{"replicas of Swarm service " + id}; !slices.Equal(u1.Holds, want) || !slices.Equal(u2.Holds, want) {
			t.Errorf("the scale faults hold %q and %q; want %q", u1.Holds, u2.Holds, want)
		}
		if got := replicas(t, d, id); got != 1 {
			t.Fatalf("replicas after scale = %d; want 1", got)
		}
		r := observe(t, env, &chaosswarm.ProbeSpec{Service: name, Within: experiment.Duration(30 * time.Second)}, "1")
		if !r.OK {
			t.Fatalf("the service did not come down to 1 running task: %v %s", r.Observed, r.Reason)
		}
		if r := observe(t, env, &chaosswarm.ProbeSpec{Service: name}, ">= 2"); r.OK {
			t.Errorf("the probe holds >= 2 with %v", r.Observed)
		}
		if err := elsewhere(t, &w, u2); err != nil {
			t.Fatalf("revert scale: %v", err)
		}
		if got := replicas(t, d, id); got != 3 {
			t.Fatalf("replicas after the revert = %d; want 3", got)
		}
		if err := elsewhere(t, &w, u1); err != nil {
			t.Fatalf("revert scale again: %v", err)
		}
		if got := replicas(t, d, id); got != 3 {
			t.Fatalf("replicas after the second revert = %d; want 3", got)
		}
		swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)
	})

	t.Run("gone", func(t *testing.T) {
		other := swarmtest.Service(t, d, swarmtest.Spec{Name: "gone", Replicas: 1})
		swarmtest.WaitRunning(t, d, other, 1, 60*time.Second)
		tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: d.Name("gone")})[0]
		u := apply(t, env, fault(t, "scale", map[string]any{"replicas": 2}), tg)
		if err := d.Client.ServiceRemove(ctx, other); err != nil {
			t.Fatal(err)
		}
		before := len(w.all())
		if err := elsewhere(t, &w, u); err != nil {
			t.Fatalf("revert scale of a removed service: %v; want a warning", err)
		}
		if got := w.all()[before:]; !strings.Contains(got, "no longer exists") {
			t.Errorf("warnings = %q; want one saying the service no longer exists", got)
		}
	})
}

// TestSwarmRevertThroughAnotherEngine reverts a scale from a process whose
// DOCKER_HOST names an engine that is in no swarm, as chaos recover run
// from another shell does: that must not pass for the service being gone,
// and the replicas come back once the revert reaches the manager again.
func TestSwarmRevertThroughAnotherEngine(t *testing.T) {
	d := dockertest.New(t)
	second := dockertest.NewSecond(t)
	swarmtest.Join(t, d)
	id := swarmtest.Service(t, d, swarmtest.Spec{Name: "web", Replicas: 2})
	swarmtest.WaitRunning(t, d, id, 2, 60*time.Second)
	var w warnings
	env := newEnv(t, &w)
	tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: d.Name("web")})[0]
	u := apply(t, env, fault(t, "scale", map[string]any{"replicas": 1}), tg)

	t.Setenv("DOCKER_HOST", second.Host)
	if err := elsewhere(t, &w, u); err == nil || !strings.Contains(err.Error(), d.Host) {
		t.Errorf("revert through the engine at %s = %v (warnings %q); want an error naming %s, the manager", second.Host, err, w.all(), d.Host)
	}
	if got := replicas(t, d, id); got != 1 {
		t.Fatalf("replicas after the revert through another engine = %d; want 1 still", got)
	}
	t.Setenv("DOCKER_HOST", d.Host)
	if err := elsewhere(t, &w, u); err != nil {
		t.Fatalf("revert through the manager: %v", err)
	}
	if got := replicas(t, d, id); got != 2 {
		t.Errorf("replicas after the revert = %d; want 2", got)
	}
}

// TestSwarmDrain drains the only node, which stops every task of the
// swarm: it runs alone.
func TestSwarmDrain(t *testing.T) {
	d := dockertest.New(t)
	swarmtest.JoinAlone(t, d)
	id := swarmtest.Service(t, d, swarmtest.Spec{Name: "web", Replicas: 3})
	var w warnings
	env := newEnv(t, &w)
	name := d.Name("web")
	ctx := context.Background()
	swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)
	tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: name, Selection: experiment.Selection{Pick: experiment.Pick{N: 1}}})[0]
	u := apply(t, env, fault(t, "drain", nil), tg)
	var rec struct {
		NodeID       string `json:"node_id"`
		Availability string `json:"availability"`
	}
	json.Unmarshal(u.Data, &rec)
	if rec.Availability != "active" {
		t.Fatalf("drain recorded availability %q; want active", rec.Availability)
	}
	if want := []string{"availability of Swarm node " + rec.NodeID}; !slices.Equal(u.Holds, want) {
		t.Errorf("the drain holds %q; want %q", u.Holds, want)
	}
	node := func() swarm.NodeAvailability {
		n, _, err := d.Client.NodeInspectWithRaw(ctx, rec.NodeID)
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Availability
	}
	if a := node(); a != swarm.NodeAvailabilityDrain {
		t.Fatalf("node availability after drain = %s; want drain", a)
	}
	// The only node is drained: nothing runs.
	if r := observe(t, env, &chaosswarm.ProbeSpec{Service: name, Within: experiment.Duration(30 * time.Second)}, "0"); !r.OK {
		t.Fatalf("tasks still run on the drained node: %v %s", r.Observed, r.Reason)
	}
	for range 2 {
		if err := elsewhere(t, &w, u); err != nil {
			t.Fatalf("revert drain: %v", err)
		}
		if a := node(); a != swarm.NodeAvailabilityActive {
			t.Fatalf("node availability after the revert = %s; want active", a)
		}
	}
	swarmtest.WaitRunning(t, d, id, 3, 60*time.Second)

}

// waitTaskStopping waits until Swarm no longer wants one of the tasks
// running, and returns it.
func waitTaskStopping(ctx context.Context, d *dockertest.Env, tasks []inject.Target) (inject.Target, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		for _, tg := range tasks {
			task, _, err := d.Client.TaskInspectWithRaw(ctx, tg.ID)
			if err != nil {
				return tg, err
			}
			if task.DesiredState != swarm.TaskStateRunning {
				return tg, nil
			}
		}
		select {
		case <-ctx.Done():
			return inject.Target{}, errors.New("swarm wants every task running 30s after the scale down")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestSwarmProbeWithoutSwarm(t *testing.T) {
	var w warnings
	env := newEnv(t, &w)
	chaosEnv := env
	spec := &chaosswarm.ProbeSpec{Service: "x"}
	d := dockertest.New(t)
	info, err := d.Client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Swarm.LocalNodeState == swarm.LocalNodeStateActive {
		t.Skip("the engine is in a swarm now (another test uses it)")
	}
	r := observe(t, chaosEnv, spec, "")
	if r.Err == nil || !strings.Contains(r.Reason, "docker swarm init") {
		t.Errorf("a probe on an engine in no swarm gives %+v; want an error saying how to make one", r)
	}
}

// A kill with a signal the task's process ignores would do nothing: it is
// refused before any task is hit. One the process handles is not.
func TestSwarmKillWithASignalNeverDelivered(t *testing.T) {
	d := dockertest.New(t)
	swarmtest.Join(t, d)
	ctx := context.Background()
	var w warnings
	env := newEnv(t, &w)
	for _, c := range []struct {
		name   string
		ignore bool
	}{{name: "ignores-term", ignore: true}, {name: "handles-term"}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := swarmtest.Service(t, d, swarmtest.Spec{Name: c.name, Replicas: 1, IgnoreTerm: c.ignore})
			swarmtest.WaitRunning(t, d, id, 1, 60*time.Second)
			// The server sets SIGTERM aside before it serves.
			deadline := time.Now().Add(30 * time.Second)
			for {
				ports, err := swarmtest.Ports(ctx, d, id)
				if err == nil && len(ports) == 1 && swarmtest.Answers(ctx, ports[0]) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the task did not answer within 30s")
				}
				time.Sleep(100 * time.Millisecond)
			}
			tg := selectTasks(t, env, &chaosswarm.TargetSpec{Service: d.Name(c.name)})[0]
			f := &chaosswarm.KillParams{Signal: experiment.MustSignal("SIGTERM")}
			err := f.Precheck(ctx, env, tg)
			if !c.ignore {
				if err != nil {
					t.Fatalf("precheck of SIGTERM to a process that handles it: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "with SIGTERM: its main process") || !strings.Contains(err.Error(), "ignores the signal: the kill would do nothing") {
				t.Fatalf("precheck of SIGTERM to a process that ignores it = %v; want a refusal saying so", err)
			}
		})
	}
}
