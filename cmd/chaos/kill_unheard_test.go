package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A kill whose signal the process ignores does nothing: the run is refused
// before the signal is sent, rather than passing on a process that never
// felt it. The same signal to a process that takes it ends that process,
// and the run under it deviates.
func TestProcessKillWithASignalNeverDelivered(t *testing.T) {
	t.Parallel()
	const exp = `version: v1
title: Kill the victim
targets:
  victim: {process: {pid_file: %s}}
steady_state:
  - name: victim runs
    probe: {exec: {run: [kill, "-0", "%d"]}}
    when: [before, after]
method:
  - {fault: kill, target: victim, with: {signal: SIGTERM}}
  - wait: 200ms
recovery: {within: 1s}
`
	for _, row := range []struct {
		name, script string
		code         int
		verdict, why string
	}{
		{"ignores", `trap "" TERM; exec sleep 30`, 4, "error", "it ignores the signal: the kill would do nothing"},
		{"takes it", `exec sleep 30`, 1, "deviated", ""},
	} {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			victim := exec.Command("sh", "-c", row.script)
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			// Reaped as soon as it ends: a zombie still answers kill -0.
			ended := make(chan struct{})
			go func() { _ = victim.Wait(); close(ended) }()
			t.Cleanup(func() { _ = victim.Process.Kill(); <-ended })
			pid := victim.Process.Pid
			// The kill goes to sleep, once sh has become it.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(b)) == "sleep" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("sleep did not start within 5s")
				}
			}
			pidFile := filepath.Join(t.TempDir(), "victim.pid")
			if err := os.WriteFile(pidFile, fmt.Append(nil, pid), 0o644); err != nil {
				t.Fatal(err)
			}
			code, j, _ := runExperiment(t, fmt.Sprintf(exp, pidFile, pid))
			if code != row.code || j.Verdict != row.verdict || !strings.Contains(j.Reason, row.why) {
				t.Errorf("exit %d, verdict %s (%s); want %d, %s: %q", code, j.Verdict, j.Reason, row.code, row.verdict, row.why)
			}
		})
	}
}
