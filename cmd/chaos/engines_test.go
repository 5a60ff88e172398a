package main

import (
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

// twoEngines is a container engine of the test beside its name in the
// experiments: "a" is the default engine, named by its address, and "b"
// the second engine, named by a Docker context of the test's own
// DOCKER_CONFIG.
type twoEngines struct {
	a, b *dockertest.Env
	// engines is the experiments' engines: section.
	engines string
}

func newTwoEngines(t *testing.T) *twoEngines {
	t.Helper()
	a := dockertest.New(t)
	b := dockertest.NewSecond(t)
	// A Docker context named second, as docker context create writes it.
	cfg := t.TempDir()
	writeContext(t, cfg, "second", b.Host)
	t.Setenv("DOCKER_CONFIG", cfg)
	return &twoEngines{a: a, b: b, engines: fmt.Sprintf("engines:\n  a: {host: %q}\n  b: {context: second}\n", a.Host)}
}

// on returns the engine of a test container by the experiments' name.
func (e *twoEngines) on(name string) *dockertest.Env {
	if name == "a" {
		return e.a
	}
	return e.b
}

// run starts containers on both engines with the label role=role, n on
// each, and returns their IDs by engine.
func (e *twoEngines) run(role string, n int) map[string][]string {
	ids := map[string][]string{}
	for _, name := range []string{"a", "b"} {
		env := e.on(name)
		ids[name] = env.RunMany(n, func(i int) dockertest.Spec {
			return dockertest.Spec{Name: fmt.Sprintf("%s-%d", role, i), Labels: env.Labels(map[string]string{"chaos.engines": e.a.RunID + "-" + role})}
		})
	}
	return ids
}

// target is a docker target on both engines of the containers of role.
func (e *twoEngines) target(role, extra string) string {
	return fmt.Sprintf("targets:\n  victims: {docker: {labels: {chaos.engines: %s-%s}, engine: [a, b]%s}}\n", e.a.RunID, role, extra)
}

// eventuallyAll polls every container until cond holds for all of them,
// for up to a minute: a chaos process of its own may take long to start on
// a loaded machine.
func (e *twoEngines) eventuallyAll(t *testing.T, ids map[string][]string, what string, cond func(container.InspectResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for name, l := range ids {
		for _, id := range l {
			for !cond(e.on(name).Inspect(id)) {
				if time.Now().After(deadline) {
					t.Fatalf("container %s on engine %s: %s did not happen within a minute", id[:12], name, what)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func TestEngines(t *testing.T) {
	e := newTwoEngines(t)

	t.Run("kill one container on each engine", func(t *testing.T) {
		ids := e.run("kill", 1)
		exp := "version: v1\ntitle: kill on two engines\n" + e.engines + e.target("kill", "") + "method:\n  - {fault: kill, target: victims}\n"
		reports := t.TempDir()
		done, _ := runAsync(t, exp, "--report-dir", reports)
		r := waitRun(t, done, exitPassed)
		e.eventuallyAll(t, ids, "exit by SIGKILL", func(i container.InspectResponse) bool { return !i.State.Running && i.State.ExitCode == 137 })
		for _, f := range []string{"summary.md", "report.html"} {
			b, err := os.ReadFile(filepath.Join(reports, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "b"} {
				if !strings.Contains(string(b), "on engine "+name) {
					t.Errorf("%s does not name engine %s", f, name)
				}
			}
		}
		for _, name := range []string{"a", "b"} {
			if !regexp.MustCompile(`fault.injected +kill \(signal SIGKILL\) on docker [0-9a-f]{12} \(chaostest-[0-9a-f]+-kill-0\) on ` + name + `\b`).MatchString(r.stderr) {
				t.Errorf("no injection line for engine %s:\n%s", name, r.stderr)
			}
		}
	})

	t.Run("pick 1 across both engines, repeatable with a seed", func(t *testing.T) {
		ids := e.run("pick", 2)
		exp := "version: v1\ntitle: pick one of two engines\n" + e.engines + e.target("pick", ", pick: 1") + "method:\n  - {fault: kill, target: victims}\n"
		dir := t.TempDir()
		file := filepath.Join(dir, "exp.yaml")
		if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
			t.Fatal(err)
		}
		hit := regexp.MustCompile(`1 of 4 matching would be hit: docker ([0-9a-f]{12}) \(\S+\) on (a|b)\n`)
		plan := func(seed int) (id, engine string) {
			t.Helper()
			io, out, errb := testStdio()
			if code := run([]string{"run", "--dry-run", "--seed", fmt.Sprint(seed), file}, io); code != 0 {
				t.Fatalf("chaos run --dry-run exited %d\n%s", code, errb)
			}
			m := hit.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no pick of 1 of 4 in the plan:\n%s", out)
			}
			return m[1], m[2]
		}
		engines := map[string]int{}
		var seedB int
		for seed := 1; seed <= 12; seed++ {
			id, engine := plan(seed)
			if id2, engine2 := plan(seed); id2 != id || engine2 != engine {
				t.Fatalf("seed %d picked %s on %s, then %s on %s", seed, id, engine, id2, engine2)
			}
			engines[engine]++
			if engine == "b" && seedB == 0 {
				seedB = seed
			}
		}
		if engines["a"] == 0 || engines["b"] == 0 {
			t.Fatalf("12 seeds picked only on one engine: %v", engines)
		}
		// max caps the matches of both engines together.
		capped := filepath.Join(dir, "capped.yaml")
		if err := os.WriteFile(capped, []byte(strings.Replace(exp, "pick: 1", "pick: 1, max: 3", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		io, out, _ := testStdio()
		run([]string{"run", "--dry-run", "--seed", "1", capped}, io)
		if !strings.Contains(out.String(), `target "victims" matches 4, more than its max of 3`) {
			t.Errorf("max 3 over 2 containers on each engine; the plan says:\n%s", out)
		}
		// The run picks what the dry run said, on the second engine.
		want, _ := plan(seedB)
		done, _ := runAsync(t, exp, "--seed", fmt.Sprint(seedB))
		waitRun(t, done, exitPassed)
		deadline := time.Now().Add(30 * time.Second)
		for {
			killed := map[string]bool{}
			for name, l := range ids {
				for _, id := range l {
					if !e.on(name).Inspect(id).State.Running {
						killed[name+"/"+id[:12]] = true
					}
				}
			}
			if len(killed) == 1 && killed["b/"+want] {
				break
			}
			if len(killed) > 1 || time.Now().After(deadline) {
				t.Fatalf("killed %v; want only %s on engine b", killed, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("SIGINT during a pause on both engines unpauses both", func(t *testing.T) {
		ids := e.run("int", 1)
		exp := "version: v1\ntitle: pause on two engines\n" + e.engines + e.target("int", "") + "method:\n  - {fault: pause, target: victims, for: 120s}\n"
		done, signal := runAsync(t, exp)
		e.eventuallyAll(t, ids, "pause", paused)
		signal(syscall.SIGINT)
		r := waitRun(t, done, exitInterrupted)
		e.eventuallyAll(t, ids, "unpause", running)
		if n := strings.Count(r.stderr, "fault.reverted"); n != 2 {
			t.Errorf("%d revert lines, want 2:\n%s", n, r.stderr)
		}
	})

	t.Run("chaos recover after SIGKILL unpauses on both engines", func(t *testing.T) {
		ids := e.run("rec", 1)
		r := startRun(t, "version: v1\ntitle: pause on two engines, then die\n"+e.engines+e.target("rec", "")+"method:\n  - {fault: pause, target: victims, for: 120s}\n")
		e.eventuallyAll(t, ids, "pause", paused)
		r.kill(30 * time.Second)
		for name, l := range ids {
			if !paused(e.on(name).Inspect(l[0])) {
				t.Fatalf("the container on engine %s is not paused after SIGKILL: the test cannot tell what recover does\n%s", name, r.stderr.String())
			}
		}
		out := r.recover()
		e.eventuallyAll(t, ids, "unpause", running)
		for _, name := range []string{"a", "b"} {
			if !regexp.MustCompile(`pause on docker [0-9a-f]{12} \(\S+\) on ` + name + `\b`).Match(out) {
				t.Errorf("chaos recover does not list the pause on engine %s:\n%s", name, out)
			}
		}
	})

	t.Run("a docker probe looks at both engines", func(t *testing.T) {
		e.run("probe", 1)
		probe := fmt.Sprintf("{docker: {labels: {chaos.engines: %s-probe}, engine: [a, b]}}", e.a.RunID)
		exp := "version: v1\ntitle: probe two engines\n" + e.engines +
			fmt.Sprintf("targets:\n  only-b: {docker: {labels: {chaos.engines: %s-probe}, engine: [b]}}\n", e.a.RunID) +
			"method:\n  - {name: both up, probe: " + probe + "}\n  - {fault: kill, target: only-b}\n  - {name: both up again, probe: " + probe + "}\n"
		reports := t.TempDir()
		done, _ := runAsync(t, exp, "--report-dir", reports)
		waitRun(t, done, exitDeviated)
		b, err := os.ReadFile(filepath.Join(reports, "journal.json"))
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			Steps []struct {
				Name, Outcome, Error string
				Observed             map[string]string
			}
		}
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range j.Steps {
			got[s.Name] = s.Outcome
		}
		if got["both up"] != "done" || got["both up again"] != "failed" {
			t.Errorf("steps %v; want both up done, both up again failed", got)
		}
		if !strings.Contains(string(b), "on engine b") {
			t.Errorf("the journal does not say engine b's container is down:\n%s", b)
		}
	})

	t.Run("a network fault on the second engine, reverted after SIGINT", func(t *testing.T) {
		lab.RequireRoot(t)
		ids := e.run("net", 1)
		exp := "version: v1\ntitle: latency on the second engine\n" + e.engines +
			fmt.Sprintf("targets:\n  victim: {docker: {labels: {chaos.engines: %s-net}, engine: [b]}}\n", e.a.RunID) +
			"method:\n  - {fault: latency, target: victim, with: {delay: 100ms}, for: 120s}\n"
		done, signal := runAsync(t, exp)
		id := ids["b"][0]
		deadline := time.Now().Add(time.Minute)
		for len(tablesOf(t, e.b, id)) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no table of chaos in the container on engine b after a minute")
			}
			time.Sleep(50 * time.Millisecond)
		}
		signal(syscall.SIGINT)
		waitRun(t, done, exitInterrupted)
		if tables := tablesOf(t, e.b, id); len(tables) > 0 {
			t.Errorf("tables left in the container on engine b after SIGINT: %v", tables)
		}
		if tables := tablesOf(t, e.a, ids["a"][0]); len(tables) > 0 {
			t.Errorf("tables in the container on engine a, which the target does not search: %v", tables)
		}
	})

	t.Run("a resource fault on the second engine, recovered after SIGKILL", func(t *testing.T) {
		lab.RequireRoot(t)
		ids := e.run("lim", 1)
		id := ids["b"][0]
		r := startRun(t, "version: v1\ntitle: limits on the second engine, then die\n"+e.engines+
			fmt.Sprintf("targets:\n  victim: {docker: {labels: {chaos.engines: %s-lim}, engine: [b]}}\n", e.a.RunID)+
			"method:\n  - {fault: limits, target: victim, with: {cpus: 0.5}, for: 120s}\n")
		// The CPU limit, however Docker keeps it (--cpus or a quota), in
		// billionths of a CPU.
		nanoCPUs := func(i container.InspectResponse) int64 {
			r := i.HostConfig.Resources
			l := docker.Limits{NanoCPUs: r.NanoCPUs, CPUQuota: r.CPUQuota, CPUPeriod: r.CPUPeriod}
			return int64(l.CPUs() * 1e9)
		}
		lowered := map[string][]string{"b": {id}}
		deadline := time.Now().Add(time.Minute)
		for nanoCPUs(e.b.Inspect(id)) != 5e8 {
			if time.Now().After(deadline) {
				t.Fatalf("the container on engine b has no CPU limit of 0.5 after a minute:\n%s", r.stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := nanoCPUs(e.a.Inspect(ids["a"][0])); got != 0 {
			t.Errorf("the container on engine a, which the target does not search, has a CPU limit of %d nano-CPUs", got)
		}
		r.kill(30 * time.Second)
		if got := nanoCPUs(e.b.Inspect(id)); got != 5e8 {
			t.Fatalf("the container on engine b has %d nano-CPUs after SIGKILL, not the fault's: the test cannot tell what recover does\n%s", got, r.stderr.String())
		}
		out := r.recover()
		e.eventuallyAll(t, lowered, "no CPU limit again", func(i container.InspectResponse) bool { return nanoCPUs(i) == 0 })
		if !regexp.MustCompile(`reverted .* limits on docker [0-9a-f]{12} \(\S+\) on b\b`).Match(out) {
			t.Errorf("chaos recover does not list the limits on engine b:\n%s", out)
		}
	})

	t.Run("chaos targets lists the matches per engine", func(t *testing.T) {
		e.run("list", 1)
		dir := t.TempDir()
		file := filepath.Join(dir, "exp.yaml")
		exp := "version: v1\ntitle: list\n" + e.engines + e.target("list", "") + "method:\n  - {fault: pause, target: victims}\n"
		if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
			t.Fatal(err)
		}
		io, out, errb := testStdio()
		if code := run([]string{"targets", file}, io); code != 0 {
			t.Fatalf("chaos targets exited %d\n%s", code, errb)
		}
		for _, name := range []string{"a", "b"} {
			if !regexp.MustCompile(`(?m)^  on engine ` + name + `: 1 match: [0-9a-f]{12} \(chaostest-[0-9a-f]+-list-0\)$`).MatchString(out.String()) {
				t.Errorf("no line for engine %s:\n%s", name, out)
			}
		}
	})
}

// writeContext writes a Docker context into the Docker CLI configuration
// directory cfg, as docker context create does.
func writeContext(t *testing.T, cfg, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"Name": name, "Metadata": map[string]any{},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": false}}})
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
}
