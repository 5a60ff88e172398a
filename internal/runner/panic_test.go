package runner_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/probe"
	"github.com/gamedayhq/chaos/internal/runner"
)

func init() {
	// A probe kind with a bug: it panics on its first observation, a
	// second after it began, once the method's fault is surely on.
	probe.Register(probe.Kind{
		Name: "test_panics",
		New:  func() (any, any) { return &struct{}{}, nil },
		Run: func(context.Context, any, any) probe.Result {
			time.Sleep(time.Second)
			panic("a probe with a bug")
		},
	})
}

// A panic in one of the run's goroutines (here a check's, while a fault is
// on) is a bug in chaos: the run ends as an error naming it, at once, with
// its fault reverted, instead of the process dying with exit 2.
func TestPanicInAGoroutineIsAnError(t *testing.T) {
	s := newService(t)
	start := time.Now()
	j := run(t, `version: v1
title: a probe with a bug
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: buggy
    probe: {test_panics: {}}
    interval: 100ms
    when: [during]
method:
  - {fault: latency, target: link, with: {delay: 10ms}, for: 30s}
`, s)
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "internal error: a probe with a bug") {
		t.Fatalf("verdict %s (%s); want error naming the internal error", j.Verdict, j.Reason)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the run took %s: the panic did not end the 30 s fault early", took)
	}
	if len(j.Faults) != 1 || j.Faults[0].Reverted.IsZero() {
		t.Errorf("faults %+v; want the latency reverted", j.Faults)
	}
}

// panickyFault has a bug in its injection, which runs on the run's own
// goroutine rather than one of its helpers.
type panickyFault struct{}

func (*panickyFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Target: t}, nil
}

func (*panickyFault) Inject(context.Context, *inject.Env, inject.Target, inject.Undo) (inject.Undo, error) {
	panic("a fault with a bug")
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "test_panics", New: func() inject.Fault { return &panickyFault{} }})
}

// A panic on the run's own goroutine, while an earlier fault is on, is a
// bug in chaos like one in a helper goroutine: the run still ends with a
// journal whose verdict is error naming it, and the earlier fault (a
// stopped process) is reverted by the run itself, not left to a watchdog,
// and the rollbacks run.
func TestPanicInTheRunIsAnError(t *testing.T) {
	dir := t.TempDir()
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	src := fmt.Sprintf(`version: v1
title: a fault with a bug
targets:
  victim: {process: {pid: %d}}
method:
  - {fault: stop, target: victim, for: 30s, background: true}
  - {fault: test_panics, target: victim}
rollbacks:
  - exec: {run: [touch, %s]}
`, victim.Process.Pid, filepath.Join(dir, "rolled-back"))
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	var j *journal.Journal
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("the panic went past the run: %v", p)
			}
		}()
		j = runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger"})
	}()
	if state := procState(t, victim.Process.Pid); state == 'T' {
		t.Errorf("the victim is still stopped after the run")
	}
	if _, err := os.Stat(filepath.Join(dir, "rolled-back")); err != nil {
		t.Errorf("the rollback did not run: %v", err)
	}
	if j == nil {
		return
	}
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "internal error: a fault with a bug") {
		t.Errorf("verdict %s (%s); want error naming the internal error", j.Verdict, j.Reason)
	}
	if len(j.Faults) == 0 || j.Faults[0].Reverted.IsZero() {
		t.Errorf("faults %+v; want the stop reverted", j.Faults)
	}
}

// procState is the state letter of a process in /proc (T: stopped).
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return s[strings.LastIndex(s, ")")+2]
}
