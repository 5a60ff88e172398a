package docker_test

import (
	"os"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// TestRealRunningAfterCrash looks at a crashed container with a restart
// policy as fast as it can until it runs again: no look may call it
// running while the daemon waits to restart it or still reports the dead
// process, and the restart counts once it is done.
func TestRealRunningAfterCrash(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("crash signals the container's process from the host: needs root")
	}
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "phoenix", Network: "none", Restart: "always"})
	sel := docker.Selector{Name: env.Name("phoenix"), Labels: env.Labels(nil)}
	run := engineRun(e)
	h := docker.RunHistory(run.env)
	if _, err := e.Observe(ctxT(t), sel, h); err != nil {
		t.Fatal(err)
	}
	killedStart := env.Inspect(id).State.StartedAt

	injectInto(t, run, &docker.KillParams{Signal: experiment.MustSignal("SIGKILL"), Crash: true}, one(t, e, env, "phoenix"))
	var notRunning, restarting int
	for deadline := time.Now().Add(30 * time.Second); ; {
		obs, err := e.Observe(ctxT(t), sel, h)
		if err != nil {
			t.Fatal(err)
		}
		o := obs[0]
		if !o.Running {
			notRunning++
			if o.Restarting {
				restarting++
			}
			if o.Restarts != 0 {
				t.Fatalf("not running again yet (%s), but %d restarts counted", o.Status, o.Restarts)
			}
		} else {
			if o.Status != "running" || o.StartedAt.Format(time.RFC3339Nano) == killedStart {
				t.Fatalf("running at a look where Docker says %s and the process started at %s (the killed one started at %s)", o.Status, o.StartedAt, killedStart)
			}
			if o.Restarts != 1 {
				t.Errorf("running again after one crash with %d restarts (Docker's count %d); want 1", o.Restarts, o.RestartCount)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container did not run again within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if notRunning == 0 {
		t.Error("no look saw the container down: the crash was not observed")
	}
	t.Logf("%d looks saw it down, %d of them restarting", notRunning, restarting)
}

// TestRealRestartsByHand counts the restarts the run's restart and stop
// faults cause, which Docker does not count (it sets its count back to
// zero when a container is started by hand).
func TestRealRestartsByHand(t *testing.T) {
	e, env := real(t)
	env.Run(dockertest.Spec{Name: "web", Network: "none", Restart: "always"})
	sel := docker.Selector{Name: env.Name("web"), Labels: env.Labels(nil)}
	run := engineRun(e)
	h := docker.RunHistory(run.env)
	zero := new(experiment.Duration)
	for _, f := range []inject.Fault{&docker.RestartParams{Timeout: zero}, &docker.StopParams{Timeout: zero}} {
		u := injectInto(t, run, f, one(t, e, env, "web"))
		if _, ok := f.(*docker.StopParams); ok {
			obs, err := e.Observe(ctxT(t), sel, h)
			if err != nil || obs[0].Running || obs[0].Restarts != 0 {
				t.Fatalf("stopped: %+v, %v; want not running, no restart", obs, err)
			}
			revertAgain(t, run, u, "was running again before the revert")
		}
		res, err := e.Probe(ctxT(t), docker.Probe{Target: sel, Expect: docker.Condition{Running: ptr(true), MinRestarts: ptr(1)},
			Within: 20 * time.Second, Interval: 20 * time.Millisecond, History: h})
		if err != nil || !res.Held {
			t.Fatalf("after %T: %+v, %v; want running with one restart", f, res, err)
		}
		if o := res.Observations[0]; o.Restarts != 1 {
			t.Errorf("after %T: %d restarts since %s; want 1", f, o.Restarts, o.RestartsSince)
		}
	}
}
