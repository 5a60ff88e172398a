package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/dashboard"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/proc"
)

// dashboardRun is the real binary's dashboard running an experiment in a
// tmux pane of its own server.
type dashboardRun struct {
	t    *testing.T
	dir  string
	tmux func(args ...string) string
}

// startDashboard builds the binary and runs experiment src (with the
// files in files beside it) in a tmux pane of 100x30; the exit code goes
// to a file once the run is over.
func startDashboard(t *testing.T, src string, files map[string]string) *dashboardRun {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs it in tmux")
	}
	tmuxBin, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "chaos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	files["experiment.yaml"] = src
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A server of its own, so that no tmux the user runs is touched.
	socket := fmt.Sprintf("chaos-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	r := &dashboardRun{t: t, dir: dir}
	r.tmux = func(args ...string) string {
		out, err := exec.Command(tmuxBin, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _ = exec.Command(tmuxBin, "-L", socket, "kill-server").Run() })
	// The exit code is written aside and renamed: the test waits for the
	// file, and could otherwise read it created by the redirection, empty.
	shell := fmt.Sprintf("cd %s && %s run --dashboard --report-dir out --ledger ledger experiment.yaml; echo $? > exit.tmp; mv exit.tmp exit.code; sleep 600", dir, bin)
	r.tmux("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", shell)
	return r
}

func (r *dashboardRun) screen() string { return r.tmux("capture-pane", "-p", "-t", "e2e") }

func (r *dashboardRun) keys(k string) { r.tmux("send-keys", "-t", "e2e", k) }

// waitFor waits up to 20s for ok.
func (r *dashboardRun) waitFor(what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not happen within 20s; the screen:\n%s", what, r.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exitCode waits for the run to end and returns its exit code.
func (r *dashboardRun) exitCode() string {
	r.t.Helper()
	code := filepath.Join(r.dir, "exit.code")
	r.waitFor("the exit", func() bool { _, err := os.Stat(code); return err == nil })
	b, err := os.ReadFile(code)
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// stoppedState reports whether process pid is stopped.
func stoppedState(t *testing.T, pid int) bool {
	t.Helper()
	st, err := proc.State(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st == "T" || st == "t"
}

// TestDashboardInTmux drives the real binary's dashboard in a tmux pane:
// a process is stopped for a minute, a is pressed and confirmed, and the
// process runs again, the verdict is aborted and the exit code 3, with the summary left
// on the screen.
func TestDashboardInTmux(t *testing.T) {
	pid := sleeper(t, "")
	r := startDashboard(t, `version: v1
title: Stop the victim for a minute
targets:
  victim: {process: {pid_file: victim.pid}}
method:
  - {fault: stop, target: victim, for: 60s}
`, map[string]string{"victim.pid": strconv.Itoa(pid)})

	r.waitFor("the fault on screen", func() bool { return strings.Contains(r.screen(), "1 active") })
	r.waitFor("the stop", func() bool { return stoppedState(t, pid) })
	if s := r.screen(); !strings.Contains(s, "stop on process") || !strings.Contains(s, "a abort") {
		t.Fatalf("the dashboard does not show the fault and the keys:\n%s", s)
	}
	r.keys("a")
	// With a fault in place, the abort asks once to be confirmed.
	r.waitFor("the question", func() bool { return strings.Contains(r.screen(), "abort and revert?") })
	r.keys("y")
	if got := r.exitCode(); got != "3" {
		t.Errorf("exit code %s; want 3; the screen:\n%s", got, r.screen())
	}
	if stoppedState(t, pid) {
		t.Errorf("process %d is still stopped after the abort", pid)
	}
	s := r.screen()
	for _, want := range []string{"ABORTED  Stop the victim for a minute", "aborted by the operator", "summary: out/summary.md", "journal: out/journal.json"} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen after the run lacks %q:\n%s", want, s)
		}
	}
	j, err := os.ReadFile(filepath.Join(r.dir, "out", "journal.json"))
	if err != nil || !bytes.Contains(j, []byte(`"verdict": "aborted"`)) {
		t.Errorf("journal: %v; want verdict aborted", err)
	}
}

// TestDashboardSkipInTmux stops a process for a minute under a check
// that holds whatever the process does, and skips the rest of the
// minute at once: the check held under the fault for a moment only, so
// the run is an error (exit 4) that says the operator cut the fault
// short, not a pass; the process runs again.
func TestDashboardSkipInTmux(t *testing.T) {
	pid := sleeper(t, "")
	r := startDashboard(t, `version: v1
title: Stop the victim for a minute
targets:
  victim: {process: {pid_file: victim.pid}}
steady_state:
  - name: always fine
    probe: {exec: {run: ["true"]}}
    interval: 50ms
    when: [during]
method:
  - {name: stop victim, fault: stop, target: victim, for: 60s}
`, map[string]string{"victim.pid": strconv.Itoa(pid)})

	r.waitFor("the fault on screen", func() bool { return strings.Contains(r.screen(), "1 active") })
	r.waitFor("the stop", func() bool { return stoppedState(t, pid) })
	r.waitFor("a pass under the fault", func() bool { return strings.Contains(r.screen(), "✓ always fine") })
	r.keys("s")
	r.waitFor("the question", func() bool { return strings.Contains(r.screen(), "cut it short?") })
	r.keys("y")
	if got := r.exitCode(); got != "4" {
		t.Errorf("exit code %s; want 4; the screen:\n%s", got, r.screen())
	}
	if stoppedState(t, pid) {
		t.Errorf("process %d is still stopped after the skip", pid)
	}
	s := r.screen()
	for _, want := range []string{"ERROR  Stop the victim for a minute", `the operator cut step "stop victim" short after`} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen after the run lacks %q:\n%s", want, s)
		}
	}
}

// brokenInput is a terminal whose keys can no longer be read.
type brokenInput struct{}

func (brokenInput) Read([]byte) (int, error) { return 0, errors.New("input/output error") }

// lockedBuffer is a bytes.Buffer for writers on several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDashboardEndedEarlyShowsTheVerdict: a dashboard that ends while
// the run goes on (here its keys cannot be read) gives the terminal back;
// the messages and the verdict that follow are written on it in plain
// lines rather than into the dashboard no one sees.
func TestDashboardEndedEarlyShowsTheVerdict(t *testing.T) {
	sio, _, _ := testStdio()
	var term lockedBuffer
	sio.err = &term
	f := &frontend{io: sio, shown: sio, plans: []dashboard.Plan{{Title: "Stop the victim"}}}
	f.startDashboard(brokenInput{}, &term)
	// Where the experiment under way writes its messages.
	during := f.shown
	deadline := time.Now().Add(10 * time.Second)
	for !f.dashGone() {
		if time.Now().After(deadline) {
			t.Fatalf("the frontend does not see that the dashboard ended on its broken input: %q", term.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintln(during.err, "chaos: interrupt: reverting every fault, then stopping")
	f.start(0)
	j := &journal.Journal{Title: "Stop the victim", File: "stop.yaml", Verdict: journal.Deviated, Reason: `check "up" broke during the method`}
	f.finished(0, j, map[string]string{"summary": "out/summary.md"})
	f.close()
	out := term.String()
	for _, want := range []string{"reverting every fault", `check "up" broke during the method`, "summary.md"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal lacks %q after the dashboard ended:\n%q", want, out)
		}
	}
}
