package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// runAsync runs `chaos run` in-process on an experiment written to a temp
// dir and returns a channel with its exit code and output, and a function
// that delivers a signal to the run.
func runAsync(t *testing.T, yaml string, args ...string) (<-chan runResult, func(os.Signal)) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	io, out, errb := testStdio()
	sigs := make(chan os.Signal, 1)
	io.signals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	done := make(chan runResult, 1)
	argv := append([]string{"run", "--report-dir", filepath.Join(dir, "out"), "--ledger", filepath.Join(dir, "ledger")}, args...)
	go func() {
		code := run(append(argv, file), io)
		done <- runResult{code: code, stdout: out.String(), stderr: errb.String()}
	}()
	return done, func(s os.Signal) { sigs <- s }
}

type runResult struct {
	code           int
	stdout, stderr string
}

func waitRun(t *testing.T, done <-chan runResult, want int) runResult {
	t.Helper()
	select {
	case r := <-done:
		if r.code != want {
			t.Fatalf("chaos run exited %d, want %d\nstderr:\n%s", r.code, want, r.stderr)
		}
		return r
	case <-time.After(90 * time.Second):
		t.Fatal("chaos run did not finish within 90s")
	}
	return runResult{}
}

// eventually polls the container until cond holds.
func eventually(t *testing.T, env *dockertest.Env, id, what string, cond func(container.InspectResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond(env.Inspect(id)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s: %s did not happen within 20s", id, what)
}

func paused(i container.InspectResponse) bool  { return i.State.Paused }
func running(i container.InspectResponse) bool { return i.State.Running && !i.State.Paused }

func TestDockerFaults(t *testing.T) {
	env := dockertest.New(t)
	label := fmt.Sprintf("{%s: %s, role: victim}", dockertest.Label, env.RunID)

	t.Run("kill", func(t *testing.T) {
		id := env.Run(dockertest.Spec{Name: "kill", Labels: env.Labels(map[string]string{"role": "victim-kill"})})
		exp := fmt.Sprintf(`version: v1
title: kill
targets:
  victim: {docker: {labels: {%s: %s, role: victim-kill}}}
method:
  - {fault: kill, target: victim}
`, dockertest.Label, env.RunID)
		done, _ := runAsync(t, exp)
		r := waitRun(t, done, exitPassed)
		eventually(t, env, id, "exit by SIGKILL", func(i container.InspectResponse) bool { return !i.State.Running && i.State.ExitCode == 137 })
		if !strings.Contains(r.stderr, "fault.injected       kill (signal SIGKILL) on docker") {
			t.Errorf("no injection line:\n%s", r.stderr)
		}
	})

	t.Run("pause reverted at the end of for", func(t *testing.T) {
		id := env.Run(dockertest.Spec{Name: "pause", Labels: env.Labels(map[string]string{"role": "victim"})})
		exp := fmt.Sprintf(`version: v1
title: pause
targets:
  victim: {docker: {labels: %s}}
method:
  - {fault: pause, target: victim, for: 1s}
`, label)
		done, _ := runAsync(t, exp)
		eventually(t, env, id, "pause", paused)
		waitRun(t, done, exitPassed)
		if !running(env.Inspect(id)) {
			t.Fatal("the container is still paused after the run")
		}
	})

	t.Run("stop reverted by start", func(t *testing.T) {
		id := env.Run(dockertest.Spec{Name: "stop", Labels: env.Labels(map[string]string{"role": "victim-stop"})})
		exp := fmt.Sprintf(`version: v1
title: stop
targets:
  victim: {docker: {name: %s}}
method:
  - {fault: stop, target: victim, for: 1s, with: {timeout: 1s}}
`, env.Name("stop"))
		done, _ := runAsync(t, exp)
		eventually(t, env, id, "stop", func(i container.InspectResponse) bool { return !i.State.Running })
		waitRun(t, done, exitPassed)
		if !running(env.Inspect(id)) {
			t.Fatal("the container was not started again")
		}
	})

	t.Run("restart", func(t *testing.T) {
		id := env.Run(dockertest.Spec{Name: "restart", Labels: env.Labels(nil)})
		before := env.Inspect(id).State.StartedAt
		exp := fmt.Sprintf(`version: v1
title: restart
targets:
  victim: {docker: {name_regex: "^%s$"}}
method:
  - {fault: restart, target: victim, with: {timeout: 1s}}
`, env.Name("restart"))
		done, _ := runAsync(t, exp)
		waitRun(t, done, exitPassed)
		after := env.Inspect(id)
		if !after.State.Running || after.State.StartedAt == before {
			t.Fatalf("not restarted: running %v, started %s then %s", after.State.Running, before, after.State.StartedAt)
		}
	})

	t.Run("disconnect reverted with the same address and aliases", func(t *testing.T) {
		netID, subnet := env.Network("cut", true)
		ip := strings.TrimSuffix(subnet, "0/24") + "7"
		id := env.Run(dockertest.Spec{Name: "cut", Labels: env.Labels(nil), Network: netID, Aliases: []string{"payment"}, IPv4: ip})
		exp := fmt.Sprintf(`version: v1
title: disconnect
targets:
  victim: {docker: {name: %s}}
method:
  - {fault: disconnect, target: victim, for: 1s, with: {network: %s}}
`, env.Name("cut"), env.Name("cut"))
		done, _ := runAsync(t, exp)
		eventually(t, env, id, "disconnect", func(i container.InspectResponse) bool { return len(i.NetworkSettings.Networks) == 0 })
		waitRun(t, done, exitPassed)
		nets := env.Inspect(id).NetworkSettings.Networks
		ep, ok := nets[env.Name("cut")]
		if !ok {
			t.Fatalf("not reconnected: networks %v", nets)
		}
		if ep.IPAddress != ip || !strings.Contains(strings.Join(ep.Aliases, ","), "payment") {
			t.Errorf("reconnected with address %s and aliases %v; want %s and payment", ep.IPAddress, ep.Aliases, ip)
		}
	})

	t.Run("SIGTERM during a pause leaves the container running", func(t *testing.T) {
		id := env.Run(dockertest.Spec{Name: "term", Labels: env.Labels(map[string]string{"role": "victim-term"})})
		exp := fmt.Sprintf(`version: v1
title: pause and interrupt
targets:
  victim: {docker: {labels: {%s: %s, role: victim-term}}}
method:
  - {fault: pause, target: victim, for: 60s}
`, dockertest.Label, env.RunID)
		done, signal := runAsync(t, exp)
		eventually(t, env, id, "pause", paused)
		signal(syscall.SIGTERM)
		r := waitRun(t, done, exitInterrupted)
		if !running(env.Inspect(id)) {
			t.Fatal("the container is still paused after the interrupted run")
		}
		if !strings.Contains(r.stderr, "fault.reverted") {
			t.Errorf("no revert line:\n%s", r.stderr)
		}
	})

	t.Run("SIGINT during a disconnect leaves the container connected", func(t *testing.T) {
		netID, _ := env.Network("cut-int", false)
		id := env.Run(dockertest.Spec{Name: "cut-int", Labels: env.Labels(nil), Network: netID, Aliases: []string{"db"}})
		exp := fmt.Sprintf(`version: v1
title: disconnect and interrupt
targets:
  victim: {docker: {name: %s}}
method:
  - {fault: disconnect, target: victim, for: 60s, with: {network: %s}}
`, env.Name("cut-int"), env.Name("cut-int"))
		done, signal := runAsync(t, exp)
		eventually(t, env, id, "disconnect", func(i container.InspectResponse) bool { return len(i.NetworkSettings.Networks) == 0 })
		signal(syscall.SIGINT)
		waitRun(t, done, exitInterrupted)
		ep, ok := env.Inspect(id).NetworkSettings.Networks[env.Name("cut-int")]
		if !ok || !strings.Contains(strings.Join(ep.Aliases, ","), "db") {
			t.Fatalf("not reconnected with its alias after the interrupt: %+v", env.Inspect(id).NetworkSettings.Networks)
		}
	})

	t.Run("a kill that crashes comes back with its restart policy", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("crash signals the container's process from the host: needs root")
		}
		id := env.Run(dockertest.Spec{Name: "crash", Labels: env.Labels(nil), Restart: "always"})
		exp := fmt.Sprintf(`version: v1
title: crash and come back
targets:
  victim: {docker: {name: %s}}
method:
  - {fault: kill, target: victim, with: {crash: true}}
  - name: back again
    probe: {docker: {name: %s, within: 20s, interval: 100ms}}
    expect: {running: true, min_restarts: 1}
`, env.Name("crash"), env.Name("crash"))
		done, _ := runAsync(t, exp)
		waitRun(t, done, exitPassed)
		if i := env.Inspect(id); i.RestartCount < 1 || !i.State.Running {
			t.Fatalf("restart count %d, running %v", i.RestartCount, i.State.Running)
		}
	})
}

// TestDockerFaultOnAContainerReplacedMeanwhile: a container stopped,
// paused or disconnected by the run, removed and run again under its name
// during the fault
// (as a service manager around docker run --rm does, or Compose), was not
// down until the revert: a check that saw it run under the fault observed
// nothing of it, and the run is an error, not a pass.
func TestDockerFaultOnAContainerReplacedMeanwhile(t *testing.T) {
	env := dockertest.New(t)
	ctx := context.Background()
	netID, _ := env.Network("replaced", false)
	replacedNet := env.Name("replaced")
	for _, c := range []struct {
		fault, with string
		spec        dockertest.Spec
		hit         func(container.InspectResponse) bool
		want        string
	}{
		{fault: "stop", with: "{timeout: 1s}", spec: dockertest.Spec{Name: "replaced-stop", AutoRemove: true},
			hit: func(container.InspectResponse) bool { return false }, want: "ran in its place: the stop did not last"},
		{fault: "pause", with: "{}", spec: dockertest.Spec{Name: "replaced-pause"},
			hit: paused, want: "ran in its place, not paused: the pause did not last"},
		// Made again in its place by Compose, connected to its networks.
		{fault: "disconnect", with: fmt.Sprintf("{network: %s}", replacedNet), spec: dockertest.Spec{Name: "replaced-disconnect", Network: netID},
			hit: func(i container.InspectResponse) bool {
				return i.NetworkSettings != nil && i.NetworkSettings.Networks[replacedNet] == nil
			},
			want: "ran in its place, connected to network " + replacedNet + ": the disconnect did not last"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			t.Parallel()
			c.spec.Labels = env.Labels(nil)
			if c.spec.Network == "" {
				c.spec.Network = "none"
			}
			id := env.Run(c.spec)
			exp := fmt.Sprintf(`version: v1
title: a container replaced during the fault
targets:
  victim: {docker: {name: %[1]s}}
steady_state:
  - name: it runs
    probe: {docker: {name: %[1]s, within: 10s, interval: 100ms}}
    expect: {running: true}
    interval: 250ms
method:
  - {fault: %[2]s, target: victim, for: 4s, with: %[3]s}
`, env.Name(c.spec.Name), c.fault, c.with)
			done, _ := runAsync(t, exp)
			// Hit, then gone: removed by the engine or by hand.
			deadline := time.Now().Add(20 * time.Second)
			for {
				i, err := env.Client.ContainerInspect(ctx, id)
				if err != nil || c.hit(i) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the %s did not hit the container within 20s", c.fault)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := env.Client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !strings.Contains(err.Error(), "No such container") && !strings.Contains(err.Error(), "is already in progress") {
				t.Fatal(err)
			}
			for {
				if _, err := env.Client.ContainerInspect(ctx, env.Name(c.spec.Name)); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the container was not removed within 20s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			env.Run(c.spec) // its replacement, under the same name
			r := waitRun(t, done, exitErr)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("the run does not say the fault did not last (%q):\n%s", c.want, r.stderr)
			}
		})
	}
}

// TestDockerKillWithASignalNeverDelivered: a kill with a signal the
// container's main process ignores did nothing, and a run under it passed;
// it is refused before any container is hit. A signal the process handles
// is sent, and ends it.
func TestDockerKillWithASignalNeverDelivered(t *testing.T) {
	env := dockertest.New(t)
	for _, c := range []struct {
		name   string
		ignore bool
		code   int
	}{
		{name: "ignores-term", ignore: true, code: exitErr},
		{name: "handles-term", code: exitPassed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := env.Run(dockertest.Spec{Name: c.name, Labels: env.Labels(nil), Network: "none", IgnoreTerm: c.ignore, Health: true})
			// The server sets SIGTERM aside before it serves.
			eventually(t, env, id, "healthy", func(i container.InspectResponse) bool {
				return i.State.Health != nil && i.State.Health.Status == "healthy"
			})
			exp := fmt.Sprintf(`version: v1
title: a kill with SIGTERM
targets:
  victim: {docker: {name: %s}}
method:
  - {fault: kill, target: victim, with: {signal: SIGTERM}}
`, env.Name(c.name))
			done, _ := runAsync(t, exp)
			r := waitRun(t, done, c.code)
			if c.ignore {
				if !strings.Contains(r.stderr, "with SIGTERM: its main process") || !strings.Contains(r.stderr, "ignores the signal: the kill would do nothing") {
					t.Errorf("the error does not say the signal is ignored:\n%s", r.stderr)
				}
				if !env.Inspect(id).State.Running {
					t.Error("the container was hit")
				}
				return
			}
			eventually(t, env, id, "exit by SIGTERM", func(i container.InspectResponse) bool { return !i.State.Running })
		})
	}
}

// TestDockerDisconnectUndoneByOthers: a container that someone connected
// to its network again during a disconnect was not cut off until the
// revert: a run whose checks saw it under the fault is an error, not a
// pass.
func TestDockerDisconnectUndoneByOthers(t *testing.T) {
	t.Parallel()
	env := dockertest.New(t)
	netID, _ := env.Network("reconnected", true)
	id := env.Run(dockertest.Spec{Name: "reconnected", Labels: env.Labels(nil), Network: netID})
	exp := fmt.Sprintf(`version: v1
title: a container connected again by someone
targets:
  victim: {docker: {name: %[1]s}}
steady_state:
  - name: it runs
    probe: {docker: {name: %[1]s}}
    expect: {running: true}
    interval: 250ms
method:
  - {fault: disconnect, target: victim, for: 4s, with: {network: %[1]s}}
`, env.Name("reconnected"))
	done, _ := runAsync(t, exp)
	eventually(t, env, id, "disconnect", func(i container.InspectResponse) bool { return len(i.NetworkSettings.Networks) == 0 })
	if err := env.Client.NetworkConnect(context.Background(), netID, id, nil); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, done, exitErr)
	if !strings.Contains(r.stderr, "again before the revert: someone connected it") {
		t.Errorf("the run does not say the container was connected again:\n%s", r.stderr)
	}
}

// TestDockerStopStartedMeanwhile: a container that someone started
// during a stop, and that has stopped again by the revert, was not down
// all along: the run is an error, not a pass, and the revert starts it.
func TestDockerStopStartedMeanwhile(t *testing.T) {
	t.Parallel()
	env := dockertest.New(t)
	ctx := context.Background()
	id := env.Run(dockertest.Spec{Name: "started-meanwhile", Labels: env.Labels(nil), Network: "none"})
	exp := fmt.Sprintf(`version: v1
title: a stopped container started by someone
targets:
  victim: {docker: {name: %[1]s}}
steady_state:
  - name: it runs
    probe: {docker: {name: %[1]s, within: 10s, interval: 100ms}}
    expect: {running: true}
    interval: 250ms
method:
  - {fault: stop, target: victim, for: 4s, with: {timeout: 1s}}
`, env.Name("started-meanwhile"))
	done, _ := runAsync(t, exp)
	eventually(t, env, id, "stop", func(i container.InspectResponse) bool { return !i.State.Running })
	if err := env.Client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := env.Client.ContainerKill(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, done, exitErr)
	if !strings.Contains(r.stderr, "was started again during the fault") {
		t.Errorf("the run does not say the container was started during the fault:\n%s", r.stderr)
	}
	if !running(env.Inspect(id)) {
		t.Error("the revert did not start the container")
	}
}

func TestDockerUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	done, _ := runAsync(t, `version: v1
title: no daemon
targets:
  victim: {docker: {name: anything}}
method:
  - {fault: kill, target: victim}
`)
	r := waitRun(t, done, exitErr)
	if !strings.Contains(r.stderr, "cannot reach the Docker daemon at unix:///nonexistent/docker.sock: is dockerd running? set DOCKER_HOST") {
		t.Errorf("no hint in:\n%s", r.stderr)
	}
}

// TestDockerRecoverOldLedger recovers a ledger as chaos wrote it before
// each container fault was a type of its own, left by a run that died with
// one container paused, one stopped and one cut off its network: chaos
// recover must still undo all three.
func TestDockerRecoverOldLedger(t *testing.T) {
	env := dockertest.New(t)
	ctx := context.Background()
	pausedID := env.Run(dockertest.Spec{Name: "old-pause", Labels: env.Labels(nil), Network: "none"})
	stoppedID := env.Run(dockertest.Spec{Name: "old-stop", Labels: env.Labels(nil), Network: "none"})
	netID, _ := env.Network("old-cut", false)
	cutID := env.Run(dockertest.Spec{Name: "old-cut", Labels: env.Labels(nil), Network: netID, Aliases: []string{"ledger-db"}})
	if err := env.Client.ContainerPause(ctx, pausedID); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.ContainerStop(ctx, stoppedID, container.StopOptions{Timeout: new(int)}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.NetworkDisconnect(ctx, netID, cutID, false); err != nil {
		t.Fatal(err)
	}

	// The run that wrote the ledger is gone: a pid with another start time.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	entry := func(id int, fault, cid, name, data string) string {
		return fmt.Sprintf(`{"id": %d, "step": "%s it", "fault": %q,
  "undo": {"action": "docker.revert", "target": {"kind": "docker", "id": %q, "name": %q}, "data": %s},
  "state": "open", "written": "2026-11-30T10:00:00Z", "updated": "2026-11-30T10:00:00Z"}`, id, fault, fault, cid[:12], name, data)
	}
	entries := []string{
		entry(1, "pause", pausedID, env.Name("old-pause"),
			fmt.Sprintf(`{"kind":"pause","container_id":%q,"container":%q}`, pausedID[:12], env.Name("old-pause"))),
		entry(2, "stop", stoppedID, env.Name("old-stop"),
			fmt.Sprintf(`{"kind":"stop","container_id":%q,"container":%q,"timeout_seconds":0}`, stoppedID[:12], env.Name("old-stop"))),
		entry(3, "disconnect", cutID, env.Name("old-cut"),
			fmt.Sprintf(`{"kind":"disconnect","container_id":%q,"container":%q,"endpoint":{"network_id":%q,"network":%q,"aliases":["ledger-db"]}}`,
				cutID[:12], env.Name("old-cut"), netID, env.Name("old-cut"))),
	}
	led := fmt.Sprintf(`{"run_id": "old-run", "file": "gameday.yaml", "pid": %d, "pid_start": "1", "host": %q,
 "started": "2026-11-30T10:00:00Z", "entries": [%s]}`, dead.Process.Pid, host, strings.Join(entries, ",\n"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old-run.json"), []byte(led), 0o644); err != nil {
		t.Fatal(err)
	}

	io, out, errb := testStdio()
	if code := run([]string{"recover", "--ledger", dir}, io); code != 0 {
		t.Fatalf("chaos recover exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	for _, f := range []string{"pause", "stop", "disconnect"} {
		if !strings.Contains(out.String(), "  old-run  "+f+" on docker ") {
			t.Errorf("chaos recover did not list the %s:\n%s", f, out)
		}
	}
	if errb.Len() > 0 {
		t.Errorf("chaos recover warned:\n%s", errb)
	}
	if !running(env.Inspect(pausedID)) {
		t.Error("the paused container was not unpaused")
	}
	if !running(env.Inspect(stoppedID)) {
		t.Error("the stopped container was not started")
	}
	ep, ok := env.Inspect(cutID).NetworkSettings.Networks[env.Name("old-cut")]
	if !ok || !strings.Contains(strings.Join(ep.Aliases, ","), "ledger-db") {
		t.Errorf("the disconnected container was not reconnected with its alias: %+v", env.Inspect(cutID).NetworkSettings.Networks)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 0 {
		t.Errorf("ledger left behind after the recovery: %q", files)
	}
}
