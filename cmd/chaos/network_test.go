package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/journal"
)

// A network fault on a container through the chaos binary, for each way a
// run can end: chaos interrupted (SIGINT), chaos and its watchdog killed
// (SIGKILL) and then chaos recover, and the container restarted while the
// fault is on. Each time, the run's tables are listed in the container's
// namespace afterwards.

const netLifecycleFile = `version: v1
title: A long network fault
vars: {victim: ""}
targets:
  victim: {docker: {name: "${victim}"}}
method:
  - {fault: %s, target: victim, with: %s, for: %s}
`

// netRun is one chaos run of its own process, with a ledger and a report
// directory in a directory of its own.
type netRun struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

// startNetRun runs a long fault on the container victim.
func startNetRun(t *testing.T, victim, fault, with, length string) *netRun {
	t.Helper()
	return startRun(t, fmt.Sprintf(netLifecycleFile, fault, with, length), "--var", "victim="+victim)
}

// startRun starts chaos run on the experiment exp, with args before the
// file.
func startRun(t *testing.T, exp string, args ...string) *netRun {
	t.Helper()
	r := &netRun{t: t, dir: t.TempDir(), done: make(chan error, 1)}
	file := filepath.Join(r.dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"run", "--ledger", r.ledger(), "--report-dir", filepath.Join(r.dir, "out")}, args...)
	r.cmd = exec.Command("chaos", append(args, file)...)
	r.cmd.Dir = r.dir
	r.cmd.Env = append(os.Environ(), "HOME="+r.dir, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *netRun) ledger() string { return filepath.Join(r.dir, "ledger") }

// kill kills the run's watchdog, then the run, with SIGKILL, and waits for
// it to end: without its watchdog, a killed run leaves its faults behind.
func (r *netRun) kill(within time.Duration) {
	r.t.Helper()
	if err := syscall.Kill(watchdogOf(r.t, r.cmd.Process.Pid), syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	r.wait(within)
}

// recover runs chaos recover on the run's ledger and returns what it
// printed.
func (r *netRun) recover() []byte {
	r.t.Helper()
	out, err := exec.Command("chaos", "recover", "--ledger", r.ledger()).CombinedOutput()
	if err != nil {
		r.t.Fatalf("chaos recover: %v\n%s", err, out)
	}
	return out
}

// wait waits for the run to end and returns its exit code.
func (r *netRun) wait(within time.Duration) int {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			r.t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		r.t.Fatalf("chaos run still running after %s\n%s", within, r.stderr.String())
	}
	return -1
}

// journal reads the run's journal.
func (r *netRun) journal() journal.Journal {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "out", "journal.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	var j journal.Journal
	if err := json.Unmarshal(b, &j); err != nil {
		r.t.Fatal(err)
	}
	return j
}

// tablesOf lists chaos's tables in the namespace of a container's main
// process.
func tablesOf(t *testing.T, env *dockertest.Env, id string) []string {
	t.Helper()
	ns, err := network.ProcessNamespace(env.Inspect(id).State.Pid)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := network.Tables(ns, "")
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// waitTables waits until the container's namespace holds a table of chaos.
func waitTables(t *testing.T, env *dockertest.Env, id string, r *netRun) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if tables := tablesOf(t, env, id); len(tables) > 0 {
			return tables
		}
		if time.Now().After(deadline) {
			t.Fatalf("no table of chaos in the container after 20s\n%s", r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchdogOf returns the pid of the watchdog of the chaos process pid.
func watchdogOf(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			stat, err1 := os.ReadFile(filepath.Join(d, "stat"))
			cmd, err2 := os.ReadFile(filepath.Join(d, "cmdline"))
			f := strings.Fields(string(stat))
			if err1 == nil && err2 == nil && len(f) >= 4 && f[3] == strconv.Itoa(pid) && strings.HasPrefix(string(cmd), "chaos\x00watchdog\x00") {
				w, _ := strconv.Atoi(filepath.Base(d))
				return w
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chaos %d has no watchdog after 10s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNetworkFaultLifecycle(t *testing.T) {
	t.Parallel()
	lab.RequireRoot(t)
	env := dockertest.New(t)
	victims := env.RunMany(3, func(i int) dockertest.Spec {
		return dockertest.Spec{Name: "netlife-" + strconv.Itoa(i), Labels: env.Labels(nil)}
	})
	name := func(i int) string { return env.Name("netlife-" + strconv.Itoa(i)) }

	t.Run("interrupt", func(t *testing.T) {
		t.Parallel()
		id := victims[0]
		r := startNetRun(t, name(0), "intercept", "{port: 9999, cut_established: true, latency: {delay: 100ms}}", "60s")
		t.Logf("in place: %v", waitTables(t, env, id, r))
		if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(30 * time.Second); code != 130 {
			t.Errorf("exit %d after SIGINT; want 130\n%s", code, r.stderr.String())
		}
		if tables := tablesOf(t, env, id); len(tables) > 0 {
			t.Errorf("tables left after SIGINT: %v", tables)
		}
		// Nothing was open to port 9999: the journal says none was cut.
		if fs := r.journal().Faults; len(fs) != 1 || !slices.Contains(fs[0].Notes, "cut 0 open connections to the dependency") {
			t.Errorf("faults in the journal %+v; want the intercept, with how many connections it cut", fs)
		}
	})

	t.Run("kill-recover", func(t *testing.T) {
		t.Parallel()
		id := victims[1]
		r := startNetRun(t, name(1), "latency", "{delay: 100ms}", "60s")
		t.Logf("in place: %v", waitTables(t, env, id, r))
		r.kill(10 * time.Second)
		// Killed, chaos left its fault behind: the table is still there.
		if tables := tablesOf(t, env, id); len(tables) == 0 {
			t.Fatal("no table left after SIGKILL: the test cannot tell what recover does")
		}
		out := r.recover()
		if !strings.Contains(string(out), "latency on docker") {
			t.Errorf("chaos recover did not say it reverted the latency:\n%s", out)
		}
		if tables := tablesOf(t, env, id); len(tables) > 0 {
			t.Errorf("tables left after chaos recover: %v\n%s", tables, out)
		}
	})

	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		id := victims[2]
		r := startNetRun(t, name(2), "blackhole", "{}", "6s")
		waitTables(t, env, id, r)
		before := env.Inspect(id).State.Pid
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		timeout := 1
		if err := env.Client.ContainerRestart(ctx, id, container.StopOptions{Timeout: &timeout}); err != nil {
			t.Fatal(err)
		}
		code := r.wait(30 * time.Second)
		j := r.journal()
		if code != 0 || j.Verdict != "passed" {
			t.Errorf("exit %d, verdict %s (%s); want 0, passed: a restarted container counts as reverted\n%s", code, j.Verdict, j.Reason, r.stderr.String())
		}
		for _, f := range j.Faults {
			if f.RevertError != "" || f.Reverted.IsZero() {
				t.Errorf("fault %s: reverted %s, error %q", f.Fault, f.Reverted, f.RevertError)
			}
		}
		if after := env.Inspect(id).State.Pid; after == before {
			t.Fatalf("the container's process is still %d: it did not restart", after)
		}
		// The engine may give the restarted container a new namespace
		// (the fault went with the old one: a warning) or keep its
		// sandbox's (the revert removes the rules); either way the run
		// ends cleanly and nothing is left.
		t.Logf("namespace gone with the restart: %v", strings.Contains(r.stderr.String(), "network namespace is gone"))
		if tables := tablesOf(t, env, id); len(tables) > 0 {
			t.Errorf("tables in the restarted container: %v", tables)
		}
	})
}

// A partition's peer, and a fault's host, may name a container: the dry
// run shows the addresses the engine gives for it, and touches nothing.
func TestNetworkNamesDryRun(t *testing.T) {
	t.Parallel()
	lab.RequireRoot(t)
	env := dockertest.New(t)
	ids := env.RunMany(2, func(i int) dockertest.Spec {
		return dockertest.Spec{Name: "netname-" + strconv.Itoa(i), Labels: env.Labels(nil)}
	})
	var peerIP string
	for _, n := range env.Inspect(ids[1]).NetworkSettings.Networks {
		peerIP = n.IPAddress
	}
	if peerIP == "" {
		t.Fatal("the peer container has no address")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	src := fmt.Sprintf(`version: v1
title: Names for addresses
targets:
  victim: {docker: {name: %q}}
method:
  - {fault: partition, target: victim, with: {peers: [%q], port: 5432}}
  - {fault: reject, target: victim, with: {host: %q, port: 80, protocol: tcp}}
`, env.Name("netname-0"), env.Name("netname-1"), env.Name("netname-1"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chaos", "run", "--dry-run", "--ledger", filepath.Join(dir, "ledger"), file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chaos run --dry-run: %v\n%s", err, out)
	}
	t.Logf("dry run:\n%s", out)
	for _, want := range []string{
		"container " + env.Name("netname-1") + " is " + peerIP,
		"ip daddr " + peerIP + " meta l4proto tcp th dport 5432 counter drop",
		"ip daddr " + peerIP + " meta l4proto tcp th dport 80 counter reject with tcp reset",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if tables := tablesOf(t, env, ids[0]); len(tables) > 0 {
		t.Errorf("tables after a dry run: %v", tables)
	}

	// Run for real, the journal keeps the addresses with each fault.
	r := &netRun{t: t, dir: dir}
	cmd = exec.Command("chaos", "run", "--ledger", filepath.Join(dir, "ledger"), "--report-dir", filepath.Join(dir, "out"), file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chaos run: %v\n%s", err, out)
	}
	fs := r.journal().Faults
	if len(fs) != 2 {
		t.Fatalf("faults in the journal: %+v; want the partition and the reject", fs)
	}
	for _, f := range fs {
		if want := "container " + env.Name("netname-1") + " is " + peerIP; !slices.Contains(f.Notes, want) {
			t.Errorf("%s in the journal has notes %q; want %q", f.Fault, f.Notes, want)
		}
	}
	if tables := tablesOf(t, env, ids[0]); len(tables) > 0 {
		t.Errorf("tables after the run: %v", tables)
	}
}
