package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/proc"
)

// TestDashboardInTmux drives the real binary's dashboard in a tmux pane:
// a process is stopped for a minute, a is pressed and confirmed, and the
// process runs again, the verdict is aborted and the exit code 3, with the summary left
// on the screen.
func TestDashboardInTmux(t *testing.T) {
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

	victim := exec.Command("sleep", "300")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		victim.Process.Kill()
		victim.Wait()
	}()
	pid := victim.Process.Pid
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("victim.pid", strconv.Itoa(pid))
	write("stop.yaml", `version: v1
title: Stop the victim for a minute
targets:
  victim: {process: {pid_file: victim.pid}}
method:
  - {fault: stop, target: victim, for: 60s}
`)

	// A server of its own, so that no tmux the user runs is touched.
	socket := fmt.Sprintf("chaos-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		out, err := exec.Command(tmuxBin, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	defer exec.Command(tmuxBin, "-L", socket, "kill-server").Run()
	shell := fmt.Sprintf("cd %s && %s run --dashboard --report-dir out --ledger ledger stop.yaml; echo $? > exit.code; sleep 600", dir, bin)
	tmux("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", shell)
	screen := func() string { return tmux("capture-pane", "-p", "-t", "e2e") }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen within 20s; the screen:\n%s", what, screen())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopped := func() bool {
		st, err := proc.State(pid)
		if err != nil {
			t.Fatal(err)
		}
		return st == "T" || st == "t"
	}

	waitFor("the fault on screen", func() bool { return strings.Contains(screen(), "1 active") })
	waitFor("the stop", stopped)
	if s := screen(); !strings.Contains(s, "stop on process") || !strings.Contains(s, "a abort") {
		t.Fatalf("the dashboard does not show the fault and the keys:\n%s", s)
	}
	tmux("send-keys", "-t", "e2e", "a")
	// With a fault in place, the abort asks once to be confirmed.
	waitFor("the question", func() bool { return strings.Contains(screen(), "abort and revert?") })
	tmux("send-keys", "-t", "e2e", "y")
	code := filepath.Join(dir, "exit.code")
	waitFor("the exit", func() bool { _, err := os.Stat(code); return err == nil })
	b, err := os.ReadFile(code)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "3" {
		t.Errorf("exit code %s; want 3; the screen:\n%s", got, screen())
	}
	if stopped() {
		t.Errorf("process %d is still stopped after the abort", pid)
	}
	s := screen()
	for _, want := range []string{"ABORTED  Stop the victim for a minute", "aborted by the operator", "summary: out/summary.md", "journal: out/journal.json"} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen after the run lacks %q:\n%s", want, s)
		}
	}
	j, err := os.ReadFile(filepath.Join(dir, "out", "journal.json"))
	if err != nil || !bytes.Contains(j, []byte(`"verdict": "aborted"`)) {
		t.Errorf("journal: %v; want verdict aborted", err)
	}
}
