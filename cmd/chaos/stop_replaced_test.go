package main

import (
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
// kills it once it has been found stopped for hung, and starts another in
// its place, as a watchdog does with a hung service.
func supervise(t *testing.T, pidFile string, hung time.Duration) {
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
		var stoppedAt time.Time
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
			st, err := proc.State(c.Process.Pid)
			switch {
			case err != nil || st != "T":
				stoppedAt = time.Time{}
			case stoppedAt.IsZero():
				stoppedAt = time.Now()
			case time.Since(stoppedAt) >= hung:
				_ = c.Process.Kill()
				_ = c.Wait()
				startOne()
				stoppedAt = time.Time{}
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
// replacement ran (its few failures under the stop tolerated), passed as
// though the system had coped with a frozen process for the fault's whole
// time. The revert now says the stop did not last, and when; the check,
// which failed under it and passed only once it was gone, could not be
// judged, and the run is an error that says so.
func TestStopOfAReplacedProcessIsNotAPass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "victim.pid")
	// The watchdog waits long enough for the check to fail under the
	// stop (every 300ms), fewer times in a row than it tolerates.
	supervise(t, pidFile, 700*time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "exp.yaml"), []byte(fmt.Sprintf(replacedStopFile, pidFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, j, out := runInDir(t, dir, "exp.yaml")
	if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "gone before its revert") {
		t.Errorf("exit %d, verdict %s (%s); want 4, error: the fault was gone before its revert\n%s", code, j.Verdict, j.Reason, out)
	}
	if c := j.Checks[0]; c.Results["during"] != journal.Unobserved || !strings.Contains(c.Reasons["during"], "passed only once the fault was gone") {
		t.Errorf("check %s during the method: %s (%s); want it unobserved: it failed under the stop, and passed only once the stop was gone", c.Name, c.Results["during"], c.Reasons["during"])
	}
	if len(j.Faults) != 1 || !strings.Contains(j.Faults[0].EndedEarly, "ended before the revert, at ") {
		t.Errorf("faults %+v; want the stop, saying its process ended before the revert, and when", j.Faults)
	}
}
