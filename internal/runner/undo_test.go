package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/runner"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// An exec step's undo is in the ledger before the step runs, and runs when
// the method ends, with the step's own output filled in.
func TestExecUndo(t *testing.T) {
	dir := t.TempDir()
	j := runIn(t, dir, `version: v1
title: exec with undo
method:
  - name: make a file
    exec: {run: [mktemp, `+filepath.Join(dir, "made-XXXX")+`]}
    undo: {run: [rm, "${made.stdout}"]}
    as: made
  - name: look at the ledger
    exec: {run: [sh, -c, "cat `+filepath.Join(dir, "ledger")+`/*.json >`+filepath.Join(dir, "seen")+`"]}
`)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	made, _ := filepath.Glob(filepath.Join(dir, "made-*"))
	if len(made) != 0 {
		t.Errorf("the undo did not run: %v is left", made)
	}
	seen, _ := os.ReadFile(filepath.Join(dir, "seen"))
	if !strings.Contains(string(seen), `"kind": "undo"`) || !strings.Contains(string(seen), filepath.Join(dir, "made-")) {
		t.Errorf("the ledger while the method ran does not hold the undo with the step's output:\n%s", seen)
	}
	if event(j, "step.undone") == nil {
		t.Error("no step.undone event")
	}
}

// An undo that fails leaves the system changed: revert-failed.
func TestExecUndoFails(t *testing.T) {
	j := runIn(t, t.TempDir(), `version: v1
title: exec with a failing undo
method:
  - exec: {run: ["true"]}
    undo: {run: [sh, -c, "echo cannot >&2; exit 2"]}
`)
	if j.Verdict != journal.RevertFailed || !strings.Contains(j.Reason, "sh exited with code 2: cannot") {
		t.Errorf("verdict %s: %s; want revert-failed naming the undo", j.Verdict, j.Reason)
	}
}

// An exec step that cannot start changed nothing: its undo does not run.
func TestExecUndoNotStarted(t *testing.T) {
	dir := t.TempDir()
	j := runIn(t, dir, `version: v1
title: exec that cannot start
method:
  - exec: {run: [/no/such/command]}
    undo: {run: [touch, `+filepath.Join(dir, "undone")+`]}
`)
	if j.Verdict != journal.Errored {
		t.Errorf("verdict %s: %s; want error", j.Verdict, j.Reason)
	}
	if exists(filepath.Join(dir, "undone")) {
		t.Error("the undo of a step that never started ran")
	}
}

// Rollbacks run after an interrupt too, and so do exec undos.
func TestRollbacksOnInterrupt(t *testing.T) {
	dir := t.TempDir()
	exp, err := experiment.Parse("test.yaml", []byte(`version: v1
title: interrupted
method:
  - exec: {run: [touch, `+filepath.Join(dir, "changed")+`]}
    undo: {run: [rm, `+filepath.Join(dir, "changed")+`]}
  - wait: 30s
rollbacks:
  - exec: {run: [touch, `+filepath.Join(dir, "rolled-back")+`]}
`), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// Interrupted once the method waits, by a signal the caller names.
	stop := journal.SinkFunc(func(ev journal.Event) {
		if ev.Type == journal.StepStarted && ev.Kind == experiment.StepWait {
			cancel(errors.New("SIGTERM"))
		}
	})
	j := runner.Run(ctx, exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: filepath.Join(dir, "ledger"), Sinks: []journal.Sink{stop}})
	if j.Verdict != journal.Interrupted {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	// The phase it was stopped in, not the rollbacks that ran after.
	if want := "chaos was stopped by SIGTERM during the method; every fault was reverted"; j.Reason != want {
		t.Errorf("reason %q; want %q", j.Reason, want)
	}
	if !exists(filepath.Join(dir, "rolled-back")) {
		t.Error("the rollback did not run after the interrupt")
	}
	if exists(filepath.Join(dir, "changed")) {
		t.Error("the exec step's undo did not run after the interrupt")
	}
}
