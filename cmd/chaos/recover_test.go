package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/proc"
)

// A ledger directory shared between hosts holds the ledgers of runs made
// elsewhere: their processes, namespaces and local engine are that host's,
// and whether they still run cannot be seen from here. chaos recover leaves
// them alone, saying where to run it, unless --force; here the pid names a
// process of this host that the other host's fault never touched.
func TestRecoverLeavesAnotherHostsLedgerAlone(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pid := victim.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP) // stopped by someone on this host
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(id)
	dir := t.TempDir()
	l := ledger.Create(dir, "elsewhere", "shared.yaml")
	l.Host = "another-host"
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sleep"}
	if _, err := l.Add(ledger.KindFault, "stop", "stop", inject.Undo{Action: "process.cont", Target: tg, Data: data}); err != nil {
		t.Fatal(err)
	}

	io, out, errb := testStdio()
	code := run([]string{"recover", "--ledger", dir}, io)
	if code != exitErr || !strings.Contains(errb.String(), "was made on host another-host: run chaos recover there") {
		t.Errorf("chaos recover exited %d; want %d, saying where to run it\n%s\n%s", code, exitErr, out, errb)
	}
	time.Sleep(50 * time.Millisecond)
	if st, _ := proc.State(pid); st != "T" {
		t.Errorf("the process is %s after chaos recover; want still stopped (T): the other host's revert reached it", st)
	}

	io, out, errb = testStdio()
	if code := run([]string{"recover", "--force", "--ledger", dir}, io); code != exitPassed {
		t.Errorf("chaos recover --force exited %d\n%s\n%s", code, out, errb)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 1 {
		t.Errorf("ledgers left after chaos recover --force: %v", entries)
	}
}

// The experiments of one call run one after the other in one process: one
// whose revert failed closes its ledger with the fault in it, and the call
// goes on with the next. That run has said what it could not undo and
// will not try again, so chaos recover undoes it while the call lives on,
// rather than leave it for a process that has given up on it.
func TestRecoverUndoesWhatALiveCallGaveUp(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pid := victim.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP)
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(id)
	dir := t.TempDir()
	// This test process is the call, alive.
	l := ledger.Create(dir, "gaveup", "first.yaml")
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sleep"}
	eid, err := l.Add(ledger.KindFault, "stop", "stop", inject.Undo{Action: "process.cont", Target: tg, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Mark(eid, ledger.Failed, errors.New("the revert timed out")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The next experiment of the call is in progress: its ledger is left
	// alone.
	next := ledger.Create(dir, "gaveup", "second.yaml")
	if err := next.Begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Add(ledger.KindRollback, "restore", "", inject.Undo{Action: "exec.run", Target: inject.Target{Kind: "exec", Name: "true"}}); err != nil {
		t.Fatal(err)
	}

	io, out, errb := testStdio()
	code := run([]string{"recover", "--ledger", dir}, io)
	if !strings.Contains(out.String(), "reverted  gaveup  stop on process") {
		t.Errorf("chaos recover did not revert the fault the ended experiment left (exit %d)\n%s\n%s", code, out, errb)
	}
	if code != exitErr || !strings.Contains(errb.String(), "of second.yaml") || strings.Contains(errb.String(), "of first.yaml") {
		t.Errorf("chaos recover exited %d; want %d, leaving the experiment in progress alone, and saying so of it alone\n%s\n%s", code, exitErr, out, errb)
	}
	time.Sleep(50 * time.Millisecond)
	if st, _ := proc.State(pid); st == "T" {
		t.Error("the process is still stopped after chaos recover")
	}
	if ls, _ := ledger.Load(dir); len(ls) != 1 || ls[0].File != "second.yaml" {
		t.Errorf("ledgers left: %d, want the one in progress alone", len(ls))
	}
}

// A ledger that another process is undoing (the run's watchdog, another
// chaos recover) is left to it, --force or not: chaos recover says so,
// and does not send the operator to --force, which would not take it.
func TestRecoverLeavesALedgerAnotherProcessIsUndoing(t *testing.T) {
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	start, err := proc.StartTime(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := ledger.Create(dir, "dead", "dead.yaml")
	l.PID, l.PIDStart = 0, "" // its run is gone
	l.Recoverer, l.RecovererStart = other.Process.Pid, strconv.FormatUint(start, 10)
	tg := inject.Target{Kind: "process", ID: "1", Name: "init"}
	if _, err := l.Add(ledger.KindFault, "stop", "stop", inject.Undo{Action: "process.cont", Target: tg}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"recover", "--ledger", dir}, {"recover", "--force", "--ledger", dir}} {
		io, out, errb := testStdio()
		code := run(args, io)
		if code != exitErr || !strings.Contains(errb.String(), "is being recovered by pid") || strings.Contains(errb.String(), "or with --force") {
			t.Errorf("%v exited %d; want %d, saying another process is at it, without sending to --force\n%s\n%s", args, code, exitErr, out, errb)
		}
	}
	if ls, _ := ledger.Load(dir); len(ls) != 1 || len(ls[0].Pending()) != 1 {
		t.Error("chaos recover touched the ledger another process is undoing")
	}
}

// chaos recover --force undoes what a run in progress changed, and says
// that it pulled it from under a live run, not just that it reverted it.
func TestRecoverForceSaysTheRunIsInProgress(t *testing.T) {
	dir := t.TempDir()
	l := ledger.Create(dir, "live", "live.yaml") // this test process: alive
	tg := inject.Target{Kind: "process", ID: "0", Name: "none"}
	if _, err := l.Add(ledger.KindUndo, "change", "", inject.Undo{Action: "process.cont", Target: tg, Data: []byte(`{"pid":2147483646,"start":1}`)}); err != nil {
		t.Fatal(err)
	}
	io, out, errb := testStdio()
	run([]string{"recover", "--force", "--ledger", dir}, io)
	if !strings.Contains(errb.String(), "run live of live.yaml (pid "+strconv.Itoa(os.Getpid())+") is still in progress: undoing its changes from under it (--force)") {
		t.Errorf("chaos recover --force did not say the run it undid is in progress\n%s\n%s", out, errb)
	}
}

// A ledger that chaos recover cannot take over (its directory's lock
// cannot be opened: another user's directory) has nothing of it undone:
// chaos recover says so, and does not tell the operator to wait for the
// run to end or to use --force, which would change nothing.
func TestRecoverSaysWhatItCouldNotTakeOver(t *testing.T) {
	dir := t.TempDir()
	l := ledger.Create(dir, "dead", "dead.yaml")
	l.PID, l.PIDStart = 0, "" // its run is gone
	tg := inject.Target{Kind: "process", ID: "1", Name: "init"}
	if _, err := l.Add(ledger.KindFault, "stop", "stop", inject.Undo{Action: "process.cont", Target: tg}); err != nil {
		t.Fatal(err)
	}
	// The lock is a file chaos opens for writing: a directory in its
	// place cannot be.
	if err := os.Mkdir(dir+"/.lock", 0o755); err != nil {
		t.Fatal(err)
	}
	io, out, errb := testStdio()
	code := run([]string{"recover", "--ledger", dir}, io)
	if code != exitErr || !strings.Contains(errb.String(), "nothing of run dead of dead.yaml was undone") || strings.Contains(errb.String(), "--force") {
		t.Errorf("chaos recover exited %d; want %d, saying nothing of the run was undone, without sending to --force\n%s\n%s", code, exitErr, out, errb)
	}
}
