package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/porttest"
)

// The verdict truth table: for each fault kind, an experiment in
// testdata/truth runs through the chaos binary against a target that must
// break under the fault (verdict deviated, exit 1) and one that must
// survive it (passed, exit 0). The two targets differ only in their
// defence against that fault, and the fragile one must hold before the
// fault, so that its breaking is the fault's doing.

// truthCase is one row of the table.
type truthCase struct {
	fault string // target kind and fault, as registered: "proxy/latency"
	file  string // in testdata/truth
	// robust are the vars that give the target its defence.
	robust map[string]string
	// breaks is the phase in which the fragile target's check breaks:
	// "during", or "after" for a fault it is expected to heal from.
	breaks string
	// ports are the vars to set to free loopback ports.
	ports []string
	// dir, when set, is the var to set to the run's own directory.
	dir string
	// variant names another fragile target of the same fault, run
	// without a robust counterpart of its own.
	variant string
	// vars are set for every run of the row.
	vars map[string]string
	// known names a verdict bug that this row shows, until it is fixed:
	// a run that fails is skipped with this note.
	known string
	// network rows run in TestTruthTableNetwork.
	network bool
}

var truthCases = []truthCase{
	{fault: "process/kill", file: "process-kill.yaml", robust: vars("restart", "true"), breaks: "during", ports: []string{"port"}, dir: "dir"},
	{fault: "process/stop", file: "process-stop.yaml", robust: vars("timeout", "150ms", "replica", "127.0.0.1:${b}"), breaks: "during", ports: []string{"a", "b", "front"}, dir: "dir"},
	{fault: "proxy/latency", file: "latency.yaml", robust: vars("timeout", "200ms", "fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/bandwidth", file: "bandwidth.yaml", robust: vars("timeout", "200ms", "fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/timeout", file: "timeout.yaml", robust: vars("timeout", "200ms", "fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/reset", file: "reset.yaml", robust: vars("fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/down", file: "down.yaml", robust: vars("fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/slicer", file: "slicer.yaml", robust: vars("read", "framed"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/limit_data", file: "limit_data.yaml", robust: vars("read", "framed", "fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/slow_close", file: "slow_close.yaml", robust: vars("read", "framed"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/http_error", file: "http_error.yaml", robust: vars("fallback", "true"), breaks: "during", ports: proxyPorts},
	{fault: "proxy/http_delay", file: "http_delay.yaml", robust: vars("timeout", "200ms", "fallback", "true"), breaks: "during", ports: proxyPorts},
	// A load check, judged on live traffic, whose window is longer than
	// the method. (Its robust run is left out: the latency of live
	// traffic, counted from when each request was due, measures a loaded
	// machine as much as the target.)
	{fault: "proxy/latency", file: "latency-load.yaml", variant: "long-window", breaks: "during", ports: proxyPorts},
	// A check that needs more failures in a row than the method has time
	// to observe.
	{fault: "proxy/latency", file: "latency.yaml", variant: "short-streak", vars: vars("interval", "2s", "failures", "3"), breaks: "during", ports: proxyPorts},
	// The docker rows get their containers, and the vars naming them, from
	// TestTruthTableDocker.
	{fault: "docker/kill", file: "docker-kill.yaml", breaks: "after"},
	{fault: "docker/kill", file: "docker-kill.yaml", breaks: "after", variant: "crash-loop"},
	{fault: "docker/stop", file: "docker-stop.yaml", robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}},
	{fault: "docker/restart", file: "docker-restart.yaml", robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}},
	{fault: "docker/pause", file: "docker-pause.yaml", robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}},
	{fault: "docker/disconnect", file: "docker-disconnect.yaml", robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}},
	// The swarm rows get their services, and the vars naming them and
	// their ports, from TestTruthTableSwarm.
	{fault: "swarm/kill", file: "swarm-kill.yaml", breaks: "after"},
	{fault: "swarm/pause", file: "swarm-pause.yaml", robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}},
	{fault: "swarm/scale", file: "swarm-scale.yaml", breaks: "during", ports: []string{"front"}},
	{fault: "swarm/drain", file: "swarm-drain.yaml", robust: vars("fallback", "true"), breaks: "during", ports: []string{"front"}},
	// The resource rows get their containers, and the vars naming them,
	// from TestTruthTableResource; a process row hits the container's
	// process. The robust vars are also the service's flags.
	{fault: "docker/cpu", file: "cpu.yaml", robust: vars("cache", "true"), breaks: "during", vars: vars("on", "docker")},
	{fault: "process/cpu", file: "cpu.yaml", robust: vars("cache", "true"), breaks: "during", vars: vars("on", "process")},
	{fault: "docker/limits", file: "limits.yaml", robust: vars("cache", "true"), breaks: "during"},
	{fault: "docker/memory", file: "memory.yaml", robust: vars("buffer", "65536"), breaks: "during", vars: vars("on", "docker")},
	{fault: "process/memory", file: "memory.yaml", robust: vars("buffer", "65536"), breaks: "during", vars: vars("on", "process")},
	{fault: "docker/io", file: "io.yaml", robust: vars("sync", "false"), breaks: "during", vars: vars("on", "docker")},
	{fault: "process/io", file: "io.yaml", robust: vars("sync", "false"), breaks: "during", vars: vars("on", "process")},
	{fault: "docker/disk_fill", file: "disk_fill.yaml", robust: vars("spool_optional", "true"), breaks: "during", vars: vars("on", "docker")},
	{fault: "process/disk_fill", file: "disk_fill.yaml", robust: vars("spool_optional", "true"), breaks: "during", vars: vars("on", "process")},
}

// resourceRow reports whether a row is a resource fault's, which
// TestTruthTableResource runs.
func resourceRow(c truthCase) bool {
	_, f, _ := strings.Cut(c.fault, "/")
	return slices.Contains([]string{"cpu", "memory", "io", "disk_fill", "limits"}, f)
}

var proxyPorts = []string{"backend", "proxy", "front"}

// netFaults are the network faults with rows: one per target kind they
// act on, from the same file (testdata/truth/net-FAULT.yaml).
var netFaults = []string{"blackhole", "reject", "loss", "partition", "bandwidth", "latency", "corrupt", "reorder", "intercept"}

// netTargets are the target kinds of the network rows, with the target
// of the file that each one hits.
var netTargets = map[string]string{"docker": "container", "process": "process", "host": "host"}

// noVerdict names the faults no row can show, and why.
var noVerdict = map[string]string{
	"duplicate": "a copy of a TCP segment is dropped by the receiving stack, so no TCP target breaks under it; internal/inject/network tests that copies arrive",
}

func init() {
	for _, f := range netFaults {
		for _, kind := range slices.Sorted(maps.Keys(netTargets)) {
			c := truthCase{fault: kind + "/" + f, file: "net-" + f + ".yaml", network: true,
				robust: vars("timeout", "150ms"), breaks: "during", ports: []string{"front"}, vars: vars("target", netTargets[kind])}
			truthCases = append(truthCases, c)
		}
	}
}

func vars(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestTruthTableCoversEveryFault fails when a fault kind has no row.
func TestTruthTableCoversEveryFault(t *testing.T) {
	rows := map[string]bool{}
	for _, c := range truthCases {
		rows[c.fault] = true
	}
	for _, kind := range inject.TargetKinds() {
		for _, f := range inject.FaultNames(kind) {
			if _, ok := noVerdict[f]; !ok && !rows[kind+"/"+f] {
				t.Errorf("fault %s of %s targets has no row in the verdict truth table", f, kind)
			}
		}
	}
}

// truthRun is one run of a row.
type truthRun struct {
	c      truthCase
	robust bool
	vars   map[string]string
	dir    string
	// skip says why this machine cannot show the row's verdict; the run
	// is not made.
	skip string
	// before, when set, runs right before the row, alone, and returns
	// why this machine cannot show the row's verdict, or "".
	before func() string

	code           int
	stdout, stderr string
	journal        string
	err            error
	took           time.Duration
	retried        int      // runs again
	again          []string // why each ran again
}

func (r *truthRun) name() string {
	if r.c.network {
		kind, _, _ := strings.Cut(r.c.fault, "/")
		return strings.TrimSuffix(r.c.file, ".yaml") + "-" + kind + "/" + r.target()
	}
	return strings.TrimSuffix(r.c.file, ".yaml") + "/" + r.target()
}

// target names the run's target: fragile, robust, or fragile-VARIANT.
func (r *truthRun) target() string {
	switch {
	case r.robust:
		return "robust"
	case r.c.variant != "":
		return "fragile-" + r.c.variant
	}
	return "fragile"
}

// targets lists the runs of a row: fragile, and robust unless the row is
// a variant.
func (c truthCase) targets() []bool {
	if c.variant != "" {
		return []bool{false}
	}
	return []bool{false, true}
}

// TestTruthTable runs the rows of processes and proxies.
func TestTruthTable(t *testing.T) {
	t.Parallel()
	var runs []*truthRun
	for _, c := range truthCases {
		if strings.HasPrefix(c.fault, "docker/") || strings.HasPrefix(c.fault, "swarm/") || c.network || resourceRow(c) {
			continue
		}
		for _, robust := range c.targets() {
			runs = append(runs, newTruthRun(t, c, robust))
		}
	}
	runTruth(t, runs)
}

// TestTruthTableDocker runs the rows of containers.
func TestTruthTableDocker(t *testing.T) {
	t.Parallel()
	env := dockertest.New(t)
	netID, subnet := env.Network("truth", true)
	ip := func(n int) string { return strings.TrimSuffix(subnet, "0/24") + strconv.Itoa(n) }
	// The replica the robust fronts fall back on; no fault touches it.
	replica := dockertest.Spec{Name: "replica", Labels: env.Labels(nil), Network: netID, IPv4: ip(10)}
	specs := []dockertest.Spec{replica}
	var runs []*truthRun
	for _, c := range truthCases {
		kind, ok := strings.CutPrefix(c.fault, "docker/")
		if !ok || c.network || resourceRow(c) {
			continue
		}
		if kind == "kill" && os.Geteuid() != 0 {
			t.Log("skip docker/kill: a crash signals the container's process from the host, which needs root")
			continue
		}
		for _, robust := range c.targets() {
			r := newTruthRun(t, c, robust)
			victim := kind + "-" + r.target()
			spec := dockertest.Spec{Name: victim, Labels: env.Labels(nil), Network: netID, IPv4: ip(10 + len(specs))}
			v := r.vars
			v["victim"] = env.Name(victim)
			switch kind {
			case "kill":
				// The defence is a restart policy and a clean start.
				spec.Health = true
				switch {
				case robust:
					spec.Restart = "always"
				case c.variant == "crash-loop":
					// Restarted, but its crash leaves a lock file
					// behind, and it exits at once on every start.
					spec.Restart, spec.Lock = "always", true
				}
			default:
				v["victim_ip"] = spec.IPv4
				if kind == "disconnect" {
					v["network"] = env.Name("truth")
				}
				if kind == "restart" {
					// Down for a while after the restart: long enough
					// that two probes in a row (1s timeout each) wait
					// on it even where a restart takes 0.35s.
					spec.ReadyAfter = 2 * time.Second
				}
				if robust {
					v["replica"] = replica.IPv4 + ":8080"
				}
			}
			specs = append(specs, spec)
			runs = append(runs, r)
		}
	}
	setup := time.Now()
	ids := env.RunMany(len(specs), func(i int) dockertest.Spec { return specs[i] })
	// Every container answers, and is healthy where it has a healthcheck,
	// before a run starts against it.
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitHTTP(s.IPv4+":8080", 30*time.Second)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		if s.Health {
			eventually(t, env, ids[i], "healthy", func(i container.InspectResponse) bool {
				return i.State.Health != nil && i.State.Health.Status == "healthy"
			})
		}
	}
	t.Logf("%d containers ready in %s", len(specs), time.Since(setup).Round(time.Millisecond))
	runTruth(t, runs)
}

// newTruthRun prepares one run: its directory and vars; ports are taken
// when it runs.
func newTruthRun(t *testing.T, c truthCase, robust bool) *truthRun {
	r := &truthRun{c: c, robust: robust, dir: t.TempDir(), vars: map[string]string{}}
	if c.dir != "" {
		r.vars[c.dir] = r.dir
	}
	maps.Copy(r.vars, c.vars)
	if _, err := os.Stat(filepath.Join("testdata", "truth", c.file)); err != nil {
		t.Fatal(err)
	}
	return r
}

func httpGet(url string, timeout time.Duration) (int, error) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// freePort returns a free loopback port that no other test or script of
// this process is given (see porttest.Free).
func freePort() (int, error) { return porttest.Free() }

// waitHTTP waits until addr answers /health.
func waitHTTP(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		code, err := httpGet("http://"+addr+"/health", time.Second)
		if err == nil && code == 200 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer /health within %s: %v (status %d)", addr, within, err, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// truthParallel is how many runs go at once. Their services mostly wait,
// but they also answer within latency bounds: on two cores more would
// measure the machine, not the targets.
const truthParallel = 6

// buildApp builds the system under test, without the race detector (its
// processes would be slow to start and sleep a second on exit), into a
// directory it returns.
func buildApp(t *testing.T) string {
	t.Helper()
	return filepath.Dir(buildStatic(t, "github.com/gamedayhq/chaos/internal/testprog/app"))
}

// buildStatic builds the package pkg as a static binary, without the race
// detector, into a directory of its own, and returns the binary's path.
func buildStatic(t *testing.T, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	// go test puts the go command of its toolchain first on PATH.
	cmd := exec.Command("go", "build", "-o", dir, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return filepath.Join(dir, filepath.Base(pkg))
}

// runTruth runs every run through the chaos binary, a few at a time, and
// then judges each in a subtest.
func runTruth(t *testing.T, runs []*truthRun) {
	t.Helper()
	runTruthWith(t, runs, buildApp(t), truthParallel)
}

// runTruthWith is runTruth with the app already built into appDir.
func runTruthWith(t *testing.T, runs []*truthRun, appDir string, parallel int) {
	t.Helper()
	start := time.Now()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if r.before != nil && r.skip == "" {
				r.skip = r.before()
			}
			r.run(appDir)
		}()
	}
	wg.Wait()
	t.Logf("%d runs in %s", len(runs), time.Since(start).Round(time.Millisecond))
	for _, r := range runs {
		t.Run(r.name(), func(t *testing.T) { r.judge(t) })
	}
}

// run runs chaos as its own process, as a user would, with app on its
// PATH. A run whose port was taken meanwhile is run again on others, and
// one whose steady state broke before its fault is run again too: the
// machine was busy with other tests, and a run that never got to its
// fault proves nothing either way. Three runs at most, so that a tool
// that always finds the steady state broken still fails the row.
func (r *truthRun) run(appDir string) {
	if r.skip != "" {
		return
	}
	for attempt := 1; ; attempt++ {
		r.runOnce(appDir)
		why := ""
		switch {
		case r.err != nil:
		case r.code == exitErr && (strings.Contains(r.stderr, "address already in use") || strings.Contains(r.stderr, "already answers before the service is started")):
			why = "a port was taken"
		case r.code == exitDeviated:
			if broke := r.brokeBefore(); broke != "" {
				why = "the steady state broke before the fault: " + broke
			}
		}
		if why == "" || attempt == 3 {
			return
		}
		r.retried++
		r.again = append(r.again, why)
	}
}

// brokeBefore returns why the run's steady state broke before its fault,
// or "" when it held or the journal does not say.
func (r *truthRun) brokeBefore() string {
	b, err := os.ReadFile(r.journal)
	if err != nil {
		return ""
	}
	var j journal.Journal
	if json.Unmarshal(b, &j) != nil {
		return ""
	}
	for _, c := range j.Checks {
		if c.Results["before"] == journal.Broken {
			return c.Name + ": " + c.Reasons["before"]
		}
	}
	return ""
}

func (r *truthRun) runOnce(appDir string) {
	*r = truthRun{c: r.c, robust: r.robust, vars: r.vars, dir: r.dir, skip: r.skip, before: r.before, retried: r.retried, again: r.again}
	file := r.c.file
	if !filepath.IsAbs(file) {
		file = filepath.Join("testdata", "truth", file)
	}
	file, err := filepath.Abs(file)
	if err != nil {
		r.err = err
		return
	}
	// Each port var gets a port of its own: two picks may draw the same.
	taken := map[int]bool{}
	for _, p := range r.c.ports {
		port, err := freePort()
		for err == nil && taken[port] {
			port, err = freePort()
		}
		if err != nil {
			r.err = err
			return
		}
		taken[port] = true
		r.vars[p] = strconv.Itoa(port)
	}
	if r.robust {
		for k, v := range r.c.robust {
			// A robust var may name a port: ${b}.
			for _, p := range r.c.ports {
				v = strings.ReplaceAll(v, "${"+p+"}", r.vars[p])
			}
			r.vars[k] = v
		}
	}
	out := filepath.Join(r.dir, fmt.Sprintf("out-%d", r.retried))
	args := []string{"run", "--report-dir", out, "--ledger", filepath.Join(r.dir, "ledger")}
	for _, k := range slices.Sorted(maps.Keys(r.vars)) {
		args = append(args, "--var", k+"="+r.vars[k])
	}
	args = append(args, file)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chaos", args...)
	cmd.Dir = r.dir
	// chaos is this test binary: built with -race, it would sleep a second
	// on exit for reports that never come.
	cmd.Env = append(os.Environ(), "HOME="+r.dir, "PATH="+appDir+string(filepath.ListSeparator)+os.Getenv("PATH"),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r.took = time.Since(start)
	r.stdout, r.stderr, r.journal = stdout.String(), stderr.String(), filepath.Join(out, "journal.json")
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.err = err
	}
}

// judge checks the verdict, the exit code and where the check broke. A
// row with a known bug is skipped with its note while the bug shows, and
// fails once it no longer does, so that the note goes.
func (r *truthRun) judge(t *testing.T) {
	if r.skip != "" {
		t.Skip(r.skip)
	}
	t.Logf("%s in %s (%d runs again)", r.name(), r.took.Round(time.Millisecond), r.retried)
	for _, why := range r.again {
		t.Logf("ran again: %s", why)
	}
	if b, err := os.ReadFile(r.journal); err == nil {
		var j journal.Journal
		if json.Unmarshal(b, &j) == nil && len(j.Checks) > 0 {
			t.Logf("%s: %v %v", j.Verdict, j.Checks[0].Results, j.Checks[0].Reasons)
		}
	}
	problems := r.problems()
	switch {
	case r.c.known != "" && len(problems) > 0:
		t.Skipf("known: %s\n%s", r.c.known, strings.Join(problems, "\n"))
	case r.c.known != "":
		t.Errorf("the known bug no longer shows: drop the note from the row (%s)", r.c.known)
	case len(problems) > 0:
		t.Errorf("%s\nchaos run output:\n%s", strings.Join(problems, "\n"), r.stderr)
	}
}

// problems lists how the run differs from what the row wants.
func (r *truthRun) problems() []string {
	if r.err != nil {
		return []string{fmt.Sprintf("chaos run: %v", r.err)}
	}
	b, err := os.ReadFile(r.journal)
	if err != nil {
		return []string{fmt.Sprintf("no journal (exit %d): %v", r.code, err)}
	}
	var j journal.Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return []string{err.Error()}
	}
	wantCode, wantVerdict := exitDeviated, "deviated"
	if r.robust {
		wantCode, wantVerdict = exitPassed, "passed"
	}
	if r.code != wantCode || j.Verdict != wantVerdict {
		return []string{fmt.Sprintf("exit %d, verdict %s (%s); want exit %d, %s", r.code, j.Verdict, j.Reason, wantCode, wantVerdict)}
	}
	var out []string
	if len(j.Faults) == 0 {
		out = append(out, "no fault was injected")
	}
	for _, f := range j.Faults {
		if f.Injected.IsZero() || f.RevertError != "" {
			out = append(out, fmt.Sprintf("fault %s on %s: injected %s, revert error %q", f.Fault, f.Target.ID, f.Injected, f.RevertError))
		}
	}
	if len(j.Checks) != 1 {
		return append(out, fmt.Sprintf("%d checks; want the one of the hypothesis", len(j.Checks)))
	}
	res := j.Checks[0].Results
	if res["before"] != journal.Held {
		out = append(out, fmt.Sprintf("check results %v: it must hold before the fault, or its breaking proves nothing", res))
	}
	if r.robust {
		for _, phase := range slices.Sorted(maps.Keys(res)) {
			if res[phase] != journal.Held {
				out = append(out, fmt.Sprintf("check %s %s; want held in every phase (results %v)", res[phase], phase, res))
			}
		}
		if _, ok := res[r.c.breaks]; !ok {
			out = append(out, fmt.Sprintf("check results %v: no judgement %s, where the fragile target breaks", res, r.c.breaks))
		}
	} else if res[r.c.breaks] != journal.Broken {
		out = append(out, fmt.Sprintf("check results %v; want broken %s", res, r.c.breaks))
	}
	return out
}
