package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/proc"
)

// replacedStopFile stops a process that a supervisor kills once it finds
// it frozen, and replaces with another, rewriting the pid file; the check
// wants the pid file's process running, and tolerates the few failures
// before the replacement.
const replacedStopFile = `version: v1
title: A frozen process that its supervisor replaces
targets:
  victim: {process: {pid_file: %[1]s}}
steady_state:
  - name: the victim runs, not frozen
    probe: {exec: {run: [sh, -c, "grep -Eq '^State:.*(running|sleeping)' /proc/$(cat %[1]s)/status"]}}
    expect: {exit_code: 0}
    interval: 300ms
    failures: 4
method:
  - {fault: stop, target: victim, for: 3s}
`

// supervise runs sleep with its pid in pidFile and, until the test ends,
// kills it when it is found stopped and starts another in its place, as a
// watchdog does with a hung service.
func supervise(t *testing.T, pidFile string) {
	t.Helper()
	var mu sync.Mutex
	var cur *exec.Cmd
	startOne := func() {
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		cur = c
		mu.Unlock()
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(c.Process.Pid)), 0o644); err != nil {
			t.Error(err)
		}
	}
	startOne()
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case <-done:
				return
			case <-deadline:
				return
			case <-time.After(50 * time.Millisecond):
			}
			mu.Lock()
			c := cur
			mu.Unlock()
			if st, err := proc.State(c.Process.Pid); err == nil && st == "T" {
				_ = c.Process.Kill()
				_ = c.Wait()
				startOne()
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-ended
		mu.Lock()
		defer mu.Unlock()
		_ = cur.Process.Signal(syscall.SIGCONT)
		_ = cur.Process.Kill()
		_ = cur.Wait()
	})
}

// TestStopOfAReplacedProcessIsNotAPass: a frozen process that its
// supervisor killed and replaced was, at the revert, a warning ("gone;
// nothing to continue"), and the run, whose check held once the
// replacement ran, passed as though the system had coped with a frozen
// process for the fault's whole time. The revert now says the stop did not
// last, and the run is an error that says so.
func TestStopOfAReplacedProcessIsNotAPass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "victim.pid")
	supervise(t, pidFile)
	if err := os.WriteFile(filepath.Join(dir, "exp.yaml"), []byte(fmt.Sprintf(replacedStopFile, pidFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chaos", "run", "--report-dir", "out", "--ledger", "ledger", "exp.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "journal.json"))
	if err != nil {
		t.Fatalf("no journal (exit %d): %v\n%s", code, err, out)
	}
	j := &journal.Journal{}
	if err := json.Unmarshal(b, j); err != nil {
		t.Fatal(err)
	}
	if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "gone before its revert") {
		t.Errorf("exit %d, verdict %s (%s); want 4, error: the fault was gone before its revert\n%s", code, j.Verdict, j.Reason, out)
	}
	if len(j.Faults) != 1 || !strings.Contains(j.Faults[0].EndedEarly, "ended before the revert") {
		t.Errorf("faults %+v; want the stop, saying its process ended before the revert", j.Faults)
	}
}
