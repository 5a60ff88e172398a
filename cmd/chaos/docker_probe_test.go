package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/journal"
)

var reportLine = regexp.MustCompile(`(?m)^\s*report: (.+)/report\.html$`)

// readJournal reads the journal of a finished run from the report
// directory its output names.
func readJournal(t *testing.T, r runResult) *journal.Journal {
	t.Helper()
	m := reportLine.FindStringSubmatch(r.stdout + r.stderr)
	if m == nil {
		t.Fatalf("no report line in the output:\n%s", r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(m[1], "journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j journal.Journal
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("read %s: %v", filepath.Join(m[1], "journal.json"), err)
	}
	return &j
}

// crash kills the container's process from the host, as a crash would, and
// waits until its restart policy has brought it back.
func crash(t *testing.T, env *dockertest.Env, id string) {
	t.Helper()
	before := env.Inspect(id)
	if err := syscall.Kill(before.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("crash container %s: %v", id, err)
	}
	eventually(t, env, id, "restart after a crash", func(i container.InspectResponse) bool {
		return i.State.Status == container.StateRunning && i.State.StartedAt != before.State.StartedAt
	})
}

// TestDockerProbeAfterCrash runs the docker probe right after a crash of
// a container with a restart policy: Docker then reports the container
// running (its Running flag stays set while it waits to be restarted, and
// its state lags the crash), healthy (the last healthcheck of the dead
// process), and restarted as many times as in its whole life.
func TestDockerProbeAfterCrash(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("crash signals the container's process from the host: needs root")
	}
	env := dockertest.New(t)

	t.Run("not running while it waits to be restarted", func(t *testing.T) {
		t.Parallel()
		id := env.Run(dockertest.Spec{Name: "restarting", Labels: env.Labels(nil), Network: "none", Restart: "always"})
		crash(t, env, id) // a restart in its past makes the next back-off longer
		exp := fmt.Sprintf(`version: v1
title: running at once after a crash
targets:
  victim: {docker: {name: %[1]s}}
method:
  - {fault: kill, target: victim, with: {crash: true}}
  - name: running at once
    probe: {docker: {name: %[1]s}}
    expect: {running: true}
`, env.Name("restarting"))
		done, _ := runAsync(t, exp)
		r := waitRun(t, done, exitDeviated)
		if !strings.Contains(r.stderr, "want running=true") {
			t.Errorf("no reason naming running=true:\n%s", r.stderr)
		}
	})

	t.Run("healthy waits for the healthcheck of the new process", func(t *testing.T) {
		t.Parallel()
		netID, subnet := env.Network("healthy", true)
		ip := strings.TrimSuffix(subnet, "0/24") + "9"
		name := env.Name("healthy")
		id := env.Run(dockertest.Spec{Name: "healthy", Labels: env.Labels(nil), Network: netID, IPv4: ip,
			Restart: "always", Health: true, ReadyAfter: time.Second})
		eventually(t, env, id, "healthy", func(i container.InspectResponse) bool {
			return i.State.Health != nil && i.State.Health.Status == "healthy"
		})
		exp := fmt.Sprintf(`version: v1
title: healthy again after a crash means it answers
targets:
  victim: {docker: {name: %[1]s}}
method:
  - {fault: kill, target: victim, with: {crash: true}}
  - name: healthy again
    probe: {docker: {name: %[1]s, within: 30s, interval: 50ms}}
    expect: {healthy: true}
  - name: answers
    probe: {http: {url: "http://%[2]s:8080/health", timeout: 1s}}
    expect: {status: 200}
`, name, ip)
		done, _ := runAsync(t, exp)
		waitRun(t, done, exitPassed)
	})

	t.Run("restarts are counted from the run's own kill", func(t *testing.T) {
		t.Parallel()
		id := env.Run(dockertest.Spec{Name: "counted", Labels: env.Labels(nil), Network: "none", Restart: "always"})
		name := env.Name("counted")
		exp := func(probe string) string {
			return fmt.Sprintf(`version: v1
title: restarted after a crash
targets:
  victim: {docker: {name: %[1]s}}
method:
  - {fault: kill, target: victim, with: {crash: true}}
  - name: restarted
    probe: {docker: {name: %[1]s%[2]s}}
    expect: {min_restarts: 1}
`, name, probe)
		}
		// The first run waits for the restart it caused.
		done, _ := runAsync(t, exp(", within: 30s, interval: 50ms"))
		r := waitRun(t, done, exitPassed)
		if got := readJournal(t, r).Steps[1].Observed["restarts"]; got != "1" {
			t.Errorf("first run: restarts observed %q; want 1", got)
		}
		if n := env.Inspect(id).RestartCount; n < 1 {
			t.Fatalf("restart count after the first run = %d; want at least 1", n)
		}
		// The second run looks at once: the container's life holds a
		// restart, but none since this run's kill.
		done, _ = runAsync(t, exp(""))
		r = waitRun(t, done, exitDeviated)
		if !strings.Contains(r.stderr, "restarted 0 times since this run's kill") {
			t.Errorf("second run: no reason counting from its kill:\n%s", r.stderr)
		}
	})
}

// TestDockerProbeUnreachable: a docker probe that cannot ask the daemon
// observed nothing, and the run is an error, not a deviation.
func TestDockerProbeUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	done, _ := runAsync(t, `version: v1
title: no daemon to ask
steady_state:
  - name: the database runs
    probe: {docker: {name: db}}
method:
  - wait: 10ms
`)
	r := waitRun(t, done, exitErr)
	if !strings.Contains(r.stderr, "cannot reach the Docker daemon at unix:///nonexistent/docker.sock") {
		t.Errorf("no reason naming the daemon:\n%s", r.stderr)
	}
}
