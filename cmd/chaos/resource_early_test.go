package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/journal"
)

// workerKilledFile puts a resource fault on a process and, while it is on,
// kills its worker (a child of chaos, as the steps' commands are), as the
// OOM killer or a person might; the check holds throughout, before the
// kill and after it.
const workerKilledFile = `version: v1
title: A resource fault whose worker is killed while it is on
targets:
  victim: {process: {pid_file: victim.pid}}
steady_state:
  - name: the victim runs
    probe: {exec: {run: [test, -d, /proc/%d]}}
    expect: {exit_code: 0}
    interval: 500ms
method:
  - {fault: %s, target: victim, with: %s, for: 3s, background: true}
  - wait: 1200ms
  - exec: {run: [sh, -c, "pkill -KILL -P $PPID -f stress-worke[r]"]}
  - wait: 1200ms
`

// TestResourceFaultWhoseWorkerDiedIsNotAPass: a resource fault's worker
// killed while the fault was on took the load with it, and the run,
// whose checks all held, passed as though the target had coped with the
// fault. The revert now finds the worker gone, and the run is an error
// that says the fault ended before its revert.
func TestResourceFaultWhoseWorkerDiedIsNotAPass(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("resource faults move a worker into the target's cgroups, which needs root")
	}
	for _, c := range []struct{ fault, with string }{
		{"cpu", "{workers: 1}"},
		{"memory", "{size: 8MiB}"},
		{"io", "{path: %s, file_size: 1MiB, block_size: 64KiB}"},
		{"disk_fill", "{path: %s, size: 1MiB}"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pid := sleeper(t, filepath.Join(dir, "victim.pid"))
			with := c.with
			if strings.Contains(with, "%s") {
				data := t.TempDir()
				with = fmt.Sprintf(with, data)
			}
			text := fmt.Sprintf(workerKilledFile, pid, c.fault, with)
			if err := os.WriteFile(filepath.Join(dir, "exp.yaml"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			code, j, out := runInDir(t, dir, "exp.yaml")
			if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "gone before its revert") {
				t.Errorf("exit %d, verdict %s (%s); want 4, error: the fault was gone before its revert\n%s", code, j.Verdict, j.Reason, out)
			}
			if len(j.Faults) != 1 || !strings.Contains(j.Faults[0].EndedEarly, "SIGKILL") {
				t.Errorf("faults %+v; want the %s fault, saying its worker was killed", j.Faults, c.fault)
			}
		})
	}
}

// TestIOFaultOnATmpfsIsRefused: an io fault on a directory held in memory
// (a tmpfs) has its writers wait for no disk, and a target writing there
// waits for nothing either: the run passed, though no disk was ever
// loaded. The fault is refused before any target is hit, saying why.
func TestIOFaultOnATmpfsIsRefused(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("resource faults move a worker into the target's cgroups, which needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is no tmpfs here")
	}
	dir := t.TempDir()
	pid := sleeper(t, filepath.Join(dir, "victim.pid"))
	text := fmt.Sprintf(workerKilledFile, pid, "io", "{path: /dev/shm, file_size: 1MiB, block_size: 64KiB}")
	text = strings.Replace(text, "whose worker is killed while it is on", "on a tmpfs", 1)
	text = strings.Replace(text, "  - exec: {run: [sh, -c, \"pkill -KILL -P $PPID -f stress-worke[r]\"]}\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "exp.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chaos", "run", "--report-dir", "out", "--ledger", "ledger", "exp.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code == 0 || !strings.Contains(string(out), "tmpfs, held in memory") {
		t.Errorf("exit %d; want a refusal that says /dev/shm is a tmpfs\n%s", code, out)
	}
	if strings.Contains(string(out), "fault.injected") {
		t.Errorf("the fault was injected; want it refused first\n%s", out)
	}
}

// runInDir runs the chaos binary on file in dir, with its report and
// ledger there, and returns its exit code, the run's journal and what it
// printed.
func runInDir(t *testing.T, dir, file string) (int, *journal.Journal, []byte) {
	t.Helper()
	cmd := exec.Command("chaos", "run", "--report-dir", "out", "--ledger", "ledger", file)
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
	return code, j, out
}
