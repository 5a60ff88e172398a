package docker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// real returns an Engine over the daemon of the environment and a test
// environment on it; every selector a test uses includes env's label, so
// that it never touches containers it did not create.
func real(t *testing.T) (*docker.Engine, *dockertest.Env) {
	t.Helper()
	env := dockertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Ping(ctx); err != nil || e.Host() != env.Host {
		t.Fatalf("Ping of %s = %v (engine host %s)", env.Host, err, e.Host())
	}
	return e, env
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// one resolves the container env named name.
func one(t *testing.T, e *docker.Engine, env *dockertest.Env, name string) docker.Container {
	t.Helper()
	r, err := e.Resolve(ctxT(t), docker.Selector{Name: env.Name(name), Labels: env.Labels(nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Picked[0]
}

// targetOf is c as the docker target kind resolves it.
func targetOf(c docker.Container) inject.Target {
	return inject.Target{Kind: "docker", ID: c.ShortID, Name: c.Name}
}

// injectInto plans f on c and injects it, as a run does, and returns the
// undo.
func injectInto(t *testing.T, r *testRun, f inject.Fault, c docker.Container) inject.Undo {
	t.Helper()
	u, err := r.hitOn(t, f, targetOf(c))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// revertTwice reverts u twice, as a run and then a recover would, and
// wants both to succeed without warning.
// revertAgain reverts u, which must go through, then again: a fault that
// can tell it is gone (a stopped container running, a paused one not)
// says so the second time, as it would had someone else ended it.
func revertAgain(t *testing.T, r *testRun, u inject.Undo, second string) {
	t.Helper()
	if w, err := r.revert(u); err != nil || w != "" {
		t.Fatalf("revert of %s = %q, %v; want no warning and no error", u.Data, w, err)
	}
	if w, err := r.revert(u); err != nil || !strings.Contains(w, second) {
		t.Fatalf("second revert of %s = %q, %v; want a warning saying %q", u.Data, w, err, second)
	}
}

func revertTwice(t *testing.T, r *testRun, u inject.Undo) {
	t.Helper()
	for i := range 2 {
		w, err := r.revert(u)
		if err != nil || w != "" {
			t.Fatalf("revert #%d of %s = %q, %v; want no warning and no error", i+1, u.Data, w, err)
		}
	}
}

func TestRealResolve(t *testing.T) {
	e, env := real(t)
	compose := func(svc string) map[string]string {
		return map[string]string{docker.ComposeProjectLabel: env.RunID, docker.ComposeServiceLabel: svc}
	}
	env.RunMany(4, func(i int) dockertest.Spec {
		svc := []string{"web", "web", "web", "db"}[i]
		return dockertest.Spec{Name: fmt.Sprintf("%s-%d", svc, i), Labels: compose(svc), Network: "none"}
	})
	stopped := env.Run(dockertest.Spec{Name: "web-stopped", Labels: compose("web"), Network: "none"})
	if err := env.Client.ContainerStop(ctxT(t), stopped, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}

	sel := docker.Selector{Compose: docker.Compose{Project: env.RunID, Service: "web"}, Image: "chaos-test-server", Pick: docker.Pick{Count: 2}}
	r, err := e.Resolve(ctxT(t), sel, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{env.Name("web-0"), env.Name("web-1"), env.Name("web-2")}
	if got := names(r.Matched); !slices.Equal(got, want) {
		t.Errorf("Resolve(%s) matched %q; want %q (the stopped one left out)", sel, got, want)
	}
	if len(r.Picked) != 2 {
		t.Errorf("Resolve(%s) picked %d; want 2", sel, len(r.Picked))
	}

	sel.Max = 2
	if _, err := e.Resolve(ctxT(t), sel, nil); err == nil || !strings.Contains(err.Error(), "3 containers match") {
		t.Errorf("Resolve over max = %v; want a refusal naming 3 matches", err)
	}
	sel = docker.Selector{Compose: docker.Compose{Project: env.RunID, Service: "cache"}}
	if _, err := e.Resolve(ctxT(t), sel, nil); err == nil || !strings.Contains(err.Error(), "no running container matches") {
		t.Errorf("Resolve of nothing = %v; want a no-match error", err)
	}
}

func TestRealKill(t *testing.T) {
	e, env := real(t)
	env.Run(dockertest.Spec{Name: "victim", Network: "none"})
	env.Run(dockertest.Spec{Name: "phoenix", Network: "none", Restart: "always"})

	run := engineRun(e)
	victim := one(t, e, env, "victim")
	u := injectInto(t, run, &docker.KillParams{Signal: experiment.MustSignal("SIGKILL")}, victim)
	if st := env.Inspect(victim.ID).State; st.Running || st.ExitCode != 137 {
		t.Errorf("after kill: running=%t exit=%d; want a dead container with exit code 137", st.Running, st.ExitCode)
	}
	if u.Action != "" {
		t.Error("kill undo claims to be reversible")
	}
	revertTwice(t, run, u)
	res, err := e.Probe(ctxT(t), docker.Probe{Target: docker.Selector{Name: env.Name("victim"), Labels: env.Labels(nil)}, Expect: docker.Condition{Running: ptr(false), ExitCode: ptr(137)}})
	if err != nil || !res.Held {
		t.Errorf("probe of the killed container = %+v, %v; want exited with 137", res, err)
	}

	// A crash brings a container with a restart policy back; the probe
	// waits for it.
	phoenix := one(t, e, env, "phoenix")
	if os.Geteuid() != 0 {
		t.Skip("crash signals the container's process from the host: needs root")
	}
	u = injectInto(t, run, &docker.KillParams{Signal: experiment.MustSignal("SIGKILL"), Crash: true}, phoenix)
	if pid, _ := record(t, u)["pid"].(float64); pid <= 0 {
		t.Errorf("crash record %s has no pid", u.Data)
	}
	res, err = e.Probe(ctxT(t), docker.Probe{
		Target: docker.Selector{Name: env.Name("phoenix"), Labels: env.Labels(nil)},
		Expect: docker.Condition{Running: ptr(true), MinRestarts: ptr(1)},
		Within: 20 * time.Second, Interval: 50 * time.Millisecond,
	})
	if err != nil || !res.Held {
		t.Fatalf("probe after killing a container with restart=always = %+v, %v; want it running again", res, err)
	}
	if res.Observations[0].RestartCount < 1 {
		t.Errorf("restart count = %d; want at least 1", res.Observations[0].RestartCount)
	}
}

func TestRealStop(t *testing.T) {
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "stubborn", Network: "none", IgnoreTerm: true, Health: true})
	// Until the server has set SIGTERM aside, SIGTERM ends it: wait until
	// it serves, which it does after.
	res, err := e.Probe(ctxT(t), docker.Probe{Target: docker.Selector{Name: env.Name("stubborn"), Labels: env.Labels(nil)},
		Expect: docker.Condition{Healthy: ptr(true)}, Within: 20 * time.Second, Interval: 50 * time.Millisecond})
	if err != nil || !res.Held {
		t.Fatalf("the server did not become healthy: %+v, %v", res, err)
	}
	grace := experiment.Duration(time.Second)
	start := time.Now()
	run := engineRun(e)
	u := injectInto(t, run, &docker.StopParams{Timeout: &grace}, one(t, e, env, "stubborn"))
	took := time.Since(start)
	st := env.Inspect(id).State
	if st.Running || st.ExitCode != 137 {
		t.Errorf("after stop: running=%t exit=%d; want stopped by SIGKILL after the grace period", st.Running, st.ExitCode)
	}
	if took < 900*time.Millisecond || took > 20*time.Second {
		t.Errorf("stop with 1s grace of a container ignoring SIGTERM took %s", took)
	}
	revertAgain(t, run, u, "was running again before the revert")
	if st := env.Inspect(id).State; !st.Running {
		t.Errorf("after revert of stop: status %s; want running", st.Status)
	}

	// An auto-removed container cannot come back: the revert warns. The
	// daemon removes it just after the stop, so the revert may also find
	// it still there and start it; either way it must not fail.
	env.Run(dockertest.Spec{Name: "ephemeral", Network: "none", AutoRemove: true})
	u = injectInto(t, run, &docker.StopParams{}, one(t, e, env, "ephemeral"))
	if w, err := run.revert(u); err != nil || (w != "" && !strings.Contains(w, "auto-remove")) {
		t.Errorf("Revert of a stop of an auto-removed container = %q, %v; want a warning naming auto-remove", w, err)
	}
}

func TestRealRestart(t *testing.T) {
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "web", Network: "none"})
	before := env.Inspect(id).State.StartedAt
	run := engineRun(e)
	u := injectInto(t, run, &docker.RestartParams{Timeout: new(experiment.Duration)}, one(t, e, env, "web"))
	st := env.Inspect(id).State
	if !st.Running || st.StartedAt == before {
		t.Errorf("after restart: running=%t started %s (was %s); want running, started anew", st.Running, st.StartedAt, before)
	}
	revertTwice(t, run, u)
}

func TestRealPause(t *testing.T) {
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "web", Network: "none", Labels: map[string]string{"app": "web"}})
	c := one(t, e, env, "web")
	run := engineRun(e)
	u := injectInto(t, run, &docker.PauseParams{}, c)
	if st := env.Inspect(id).State; !st.Paused {
		t.Fatalf("after pause: status %s; want paused", st.Status)
	}

	// A paused container is not a target of further faults by default.
	sel := docker.Selector{Labels: env.Labels(map[string]string{"app": "web"}), SkipEmpty: true}
	if res, err := e.Resolve(ctxT(t), sel, nil); err != nil || len(res.Matched) != 0 {
		t.Errorf("Resolve while paused = %q, %v; want nothing", names(res.Matched), err)
	}
	if _, err := run.planOn(t, &docker.PauseParams{}, targetOf(c)); err == nil || !strings.Contains(err.Error(), "paused already") {
		t.Errorf("plan of a second pause = %v; want a refusal", err)
	}

	if w, err := run.revert(u); err != nil || w != "" {
		t.Fatalf("revert of pause = %q, %v; want no warning and no error", w, err)
	}
	if st := env.Inspect(id).State; st.Paused || !st.Running {
		t.Errorf("after revert of pause: status %s; want running", st.Status)
	}
	// Reverted again, it finds the container running: it says the pause
	// was gone already, and changes nothing.
	if w, err := run.revert(u); err != nil || !strings.Contains(w, "not paused any more before the revert") {
		t.Errorf("second revert of pause = %q, %v; want a warning that it was not paused", w, err)
	}

	// A container removed while paused: the pause did not last, and
	// the revert says so.
	u = injectInto(t, run, &docker.PauseParams{}, c)
	if err := env.Client.ContainerRemove(ctxT(t), id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if ended, err := inject.RevertEarly(ctxT(t), run.env, u); err != nil || !strings.Contains(ended.Early, "was removed before the revert") {
		t.Errorf("Revert of a pause of a removed container = %+v, %v; want it to say the pause did not last", ended, err)
	}
}

// TestRealRevertOnAnotherDefaultEngine reverts a pause made on the default
// engine from a process whose default engine is another one, as chaos
// recover run from a shell with another DOCKER_HOST does: the container is
// not there, which must not pass for its removal, and the pause is
// reverted once the revert reaches the engine it was made on.
func TestRealRevertOnAnotherDefaultEngine(t *testing.T) {
	e, env := real(t)
	second := dockertest.NewSecond(t)
	id := env.Run(dockertest.Spec{Name: "web", Network: "none"})
	u := injectInto(t, engineRun(e), &docker.PauseParams{}, one(t, e, env, "web"))

	t.Setenv("DOCKER_HOST", second.Host)
	var warned []string
	there := inject.NewEnv(1, func(m string) { warned = append(warned, m) })
	defer there.Close()
	if err := inject.Revert(ctxT(t), there, u); err == nil || !strings.Contains(err.Error(), env.Host) {
		t.Errorf("revert through the engine at %s = %v (warnings %q); want an error naming %s, where the fault was made", second.Host, err, warned, env.Host)
	}
	if st := env.Inspect(id).State; !st.Paused {
		t.Fatalf("after the revert through another engine: status %s; want paused still", st.Status)
	}

	t.Setenv("DOCKER_HOST", env.Host)
	here := inject.NewEnv(1, nil)
	defer here.Close()
	if err := inject.Revert(ctxT(t), here, u); err != nil {
		t.Fatalf("revert through the engine at %s = %v", env.Host, err)
	}
	if st := env.Inspect(id).State; st.Paused || !st.Running {
		t.Errorf("after the revert: status %s; want running", st.Status)
	}
}

func TestRealDisconnect(t *testing.T) {
	e, env := real(t)
	netID, subnet := env.Network("backend", true)
	fixedIP := strings.TrimSuffix(subnet, "0/24") + "7"
	fixed := env.Run(dockertest.Spec{Name: "fixed", Network: env.Name("backend"), Aliases: []string{"api", "api.internal"}, IPv4: fixedIP})
	dynamic := env.Run(dockertest.Spec{Name: "dynamic", Network: env.Name("backend"), Aliases: []string{"worker"}})

	endpoint := func(id string) *network.EndpointSettings {
		return env.Inspect(id).NetworkSettings.Networks[env.Name("backend")]
	}
	attachedTo := func(id string) bool {
		nw, err := env.Client.NetworkInspect(ctxT(t), netID, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, ok := nw.Containers[id]
		return ok
	}

	for _, tt := range []struct {
		name, id, wantIP string
		wantAliases      []string
	}{
		{"fixed", fixed, fixedIP, []string{"api", "api.internal"}},
		{"dynamic", dynamic, "", []string{"worker"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := engineRun(e)
			u := injectInto(t, run, &docker.DisconnectParams{Network: env.Name("backend")}, one(t, e, env, tt.name))
			if ep := endpointOf(t, u.Data); ep.IPv4 != tt.wantIP {
				t.Errorf("record IPv4 = %q; want %q (only a fixed address is kept)", ep.IPv4, tt.wantIP)
			}
			if attachedTo(tt.id) || endpoint(tt.id) != nil {
				t.Fatal("after disconnect the container is still attached to the network")
			}
			revertAgain(t, run, u, "again before the revert: someone connected it")
			ep := endpoint(tt.id)
			if ep == nil || !attachedTo(tt.id) {
				t.Fatal("after revert of disconnect the container is not attached to the network")
			}
			if tt.wantIP != "" && ep.IPAddress != tt.wantIP {
				t.Errorf("after revert: IP %s; want the fixed %s", ep.IPAddress, tt.wantIP)
			}
			if ep.IPAddress == "" {
				t.Error("after revert: no IP address")
			}
			for _, a := range tt.wantAliases {
				if !slices.Contains(ep.Aliases, a) {
					t.Errorf("after revert: aliases %q; want %q among them", ep.Aliases, a)
				}
			}
		})
	}

	// A container removed while cut off: the revert warns.
	run := engineRun(e)
	u := injectInto(t, run, &docker.DisconnectParams{Network: netID}, one(t, e, env, "dynamic"))
	if err := env.Client.ContainerRemove(ctxT(t), dynamic, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if w, err := run.revert(u); err != nil || !strings.Contains(w, "no longer exists") {
		t.Errorf("Revert of a disconnect of a removed container = %q, %v; want a warning", w, err)
	}
}

func TestRealProbeHealth(t *testing.T) {
	e, env := real(t)
	env.Run(dockertest.Spec{Name: "web", Network: "none", Health: true})
	res, err := e.Probe(ctxT(t), docker.Probe{
		Target: docker.Selector{Name: env.Name("web"), Labels: env.Labels(nil)},
		Expect: docker.Condition{Running: ptr(true), Healthy: ptr(true)},
		Within: 20 * time.Second, Interval: 50 * time.Millisecond,
	})
	if err != nil || !res.Held {
		t.Fatalf("probe of a container with a passing healthcheck = %+v, %v; want healthy", res, err)
	}
	if h := res.Observations[0].Health; h != "healthy" {
		t.Errorf("health = %q; want healthy", h)
	}
}

// TestRealStoppedBeforePlan hits containers that were running when the
// target was resolved but have stopped since, as a container that exits
// when a dependency stopped by the same step goes: a stop or a restart
// would have its revert, or itself, start a container the run found
// stopped, so both are refused and the container is left stopped.
func TestRealStoppedBeforePlan(t *testing.T) {
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "exited", Network: "none"})
	c := one(t, e, env, "exited")
	zero := experiment.Duration(0)
	if err := env.Client.ContainerStop(ctxT(t), id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	run := engineRun(e)
	for _, f := range []inject.Fault{&docker.StopParams{Timeout: &zero}, &docker.RestartParams{Timeout: &zero}} {
		u, err := run.hitOn(t, f, targetOf(c))
		if err == nil {
			run.revert(u)
		}
		if err == nil || !strings.Contains(err.Error(), "is not running") {
			t.Errorf("%T on a container stopped since it was resolved = %v; want a refusal saying it is not running", f, err)
		}
		if st := env.Inspect(id).State; st.Running {
			t.Errorf("after %T on a stopped container and its revert: status %s; want it left exited", f, st.Status)
		}
	}
}
