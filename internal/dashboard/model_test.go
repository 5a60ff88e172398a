package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/proc"
	"github.com/gamedayhq/chaos/internal/runner"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest waits for SIGINT for the whole test binary.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"),
	)
}

// running is a model whose first experiment is in its method with one
// fault in place.
func running(t *testing.T, interrupt func()) (*model, *teatest.TestModel) {
	t.Helper()
	m := testModel([]Plan{shopPlan()})
	m.interrupt = interrupt
	for _, e := range shopEvents() {
		m.q.push(item{exp: 0, ev: e})
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	t.Cleanup(func() {
		m.q.close()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	waitOutput(t, tm, "1 active")
	return m, tm
}

// waitOutput waits until the screen updates written since the last wait
// show every one of the texts.
func waitOutput(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	},
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

func receive(t *testing.T, ch <-chan journal.Command, want journal.Command) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("command %d; want %d", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no command; want %d", want)
	}
}

func TestKeysSendCommands(t *testing.T) {
	for _, tc := range []struct {
		keys string
		want []journal.Command
	}{
		// With a fault in place, a asks once to confirm.
		{"ay", []journal.Command{journal.AbortRun}},
		{"aa", []journal.Command{journal.AbortRun}},
		// A skip cuts the fault short, and asks once too.
		{"axsy", []journal.Command{journal.SkipWait}},
		{"ss", []journal.Command{journal.SkipWait}},
		{"sx", nil},
		{"hc", []journal.Command{journal.Hold, journal.Continue}},
		// Keys still steer the run while the log has the focus.
		{"lkkss", []journal.Command{journal.SkipWait}},
	} {
		t.Run(tc.keys, func(t *testing.T) {
			m, tm := running(t, nil)
			tm.Type(tc.keys)
			for _, c := range tc.want {
				receive(t, m.cmds[0], c)
			}
			select {
			case c := <-m.cmds[0]:
				t.Fatalf("unexpected command %d", c)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

func TestHoldShowsUntilContinue(t *testing.T) {
	m, tm := running(t, nil)
	tm.Type("h")
	receive(t, m.cmds[0], journal.Hold)
	m.q.push(item{exp: 0, ev: ev(23*time.Second, "", func(e *journal.Event) { *e = journal.OperatorEvent(journal.Hold); e.Time = t0.Add(23 * time.Second) })})
	waitOutput(t, tm, "hold before next")
	m.q.push(item{exp: 0, ev: ev(24*time.Second, "run.held", func(e *journal.Event) { e.Message = "held: waiting for continue" })})
	waitOutput(t, tm, "HELD: c continues")
	tm.Type("c")
	receive(t, m.cmds[0], journal.Continue)
	m.q.push(item{exp: 0, ev: ev(25*time.Second, "", func(e *journal.Event) {
		*e = journal.OperatorEvent(journal.Continue)
		e.Time = t0.Add(25 * time.Second)
	})})
	waitOutput(t, tm, "method  elapsed")
}

func TestQuitAsksWhileFaultsAreActive(t *testing.T) {
	var calls atomic.Int32
	_, tm := running(t, func() { calls.Add(1) })
	tm.Type("q")
	waitOutput(t, tm, "1 fault in place: interrupt and revert?")
	tm.Type("x") // any other key says no
	waitOutput(t, tm, "q interrupt")
	if n := calls.Load(); n != 0 {
		t.Fatalf("interrupted %d times after no; want 0", n)
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	waitOutput(t, tm, "interrupt and revert?")
	tm.Type("y")
	waitOutput(t, tm, "INTERRUPTED: reverting")
	// Once interrupting, q goes straight through, as a second SIGINT would.
	tm.Type("q")
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("interrupted %d times; want 2", n)
	}
}

func TestAbortAsksWhileFaultsAreActive(t *testing.T) {
	m, tm := running(t, nil)
	tm.Type("a")
	waitOutput(t, tm, "1 fault in place: abort and revert? a/y yes")
	tm.Type("x") // any other key says no
	waitOutput(t, tm, "a abort")
	select {
	case c := <-m.cmds[0]:
		t.Fatalf("command %d after no; want none", c)
	default:
	}
	tm.Type("a")
	waitOutput(t, tm, "abort and revert?")
	tm.Type("a")
	receive(t, m.cmds[0], journal.AbortRun)
}

func TestSkipAsksWhileFaultsAreActive(t *testing.T) {
	m, tm := running(t, nil)
	tm.Type("s")
	waitOutput(t, tm, "1 fault in place: cut it short? no pass then; s/y yes")
	tm.Type("x")
	waitOutput(t, tm, "s skip wait")
	select {
	case c := <-m.cmds[0]:
		t.Fatalf("command %d after no; want none", c)
	default:
	}
	tm.Type("s")
	waitOutput(t, tm, "cut it short?")
	tm.Type("y")
	receive(t, m.cmds[0], journal.SkipWait)
}

func TestSkipWithoutFaultsSendsAtOnce(t *testing.T) {
	m := testModel([]Plan{shopPlan()})
	m.q.push(item{exp: 0, ev: ev(0, "run.started", nil)})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	defer tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	defer m.q.close()
	waitOutput(t, tm, "starting")
	tm.Type("s")
	receive(t, m.cmds[0], journal.SkipWait)
}

func TestAbortWithoutFaultsSendsAtOnce(t *testing.T) {
	m := testModel([]Plan{shopPlan()})
	m.q.push(item{exp: 0, ev: ev(0, "run.started", nil)})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	defer tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	defer m.q.close()
	waitOutput(t, tm, "starting")
	tm.Type("a")
	receive(t, m.cmds[0], journal.AbortRun)
}

func TestQuitWithoutFaultsInterruptsAtOnce(t *testing.T) {
	interrupted := make(chan struct{})
	m := testModel([]Plan{shopPlan()})
	m.interrupt = func() { close(interrupted) }
	m.q.push(item{exp: 0, ev: ev(0, "run.started", nil)})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	defer tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	defer m.q.close()
	tm.Type("q")
	select {
	case <-interrupted:
	case <-time.After(5 * time.Second):
		t.Fatal("q did not interrupt")
	}
}

func TestHelpAndLogFocus(t *testing.T) {
	_, tm := running(t, nil)
	tm.Type("?")
	waitOutput(t, tm, "hold before the next step (walk")
	tm.Type("?l")
	waitOutput(t, tm, "esc leaves", "esc leave log")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	waitOutput(t, tm, "l log")
}

// TestAbortReverts drives a real run: a process is stopped for a minute,
// a is pressed, and the process runs again with the verdict aborted.
func TestAbortReverts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	victim := exec.Command("sleep", "120")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		victim.Process.Kill()
		victim.Wait()
	}()
	pidFile := filepath.Join(dir, "victim.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(victim.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	src := "version: v1\ntitle: Stop the victim\ntargets:\n  victim: {process: {pid_file: " + pidFile + "}}\nmethod:\n  - {fault: stop, target: victim, for: 60s}\n"
	exp, err := experiment.Parse(filepath.Join(dir, "stop.yaml"), []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	d := New([]Plan{PlanOf(exp)}, Options{Input: &bytes.Buffer{}, Output: &bytes.Buffer{}})
	tm := teatest.NewTestModel(t, d.m, teatest.WithInitialTermSize(100, 30))
	verdict := make(chan string, 1)
	go func() {
		// As the CLI does: the runner listens for commands until its
		// context ends.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		j := runner.Run(ctx, exp, runner.Options{RunID: "dash", ReportDir: filepath.Join(dir, "out"), LedgerDir: filepath.Join(dir, "ledger"),
			Sinks: []journal.Sink{d.Sink(0)}, Commands: d.Commands(0)})
		verdict <- j.Verdict
	}()
	waitOutput(t, tm, "1 active")
	if st := procState(t, victim.Process.Pid); st != "T" && st != "t" {
		t.Fatalf("victim is in state %s with the fault in place; want stopped", st)
	}
	tm.Type("a")
	waitOutput(t, tm, "abort and revert?")
	tm.Type("y")
	select {
	case v := <-verdict:
		if v != journal.Aborted {
			t.Fatalf("verdict %s; want aborted", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not end after a")
	}
	waitOutput(t, tm, "ABORTED")
	if st := procState(t, victim.Process.Pid); st == "T" || st == "t" {
		t.Fatalf("victim still stopped after the abort")
	}
	d.Quit()
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	summary := summaryView(d.m.exps, d.m.st)
	if !strings.Contains(summary, "ABORTED  Stop the victim") || !strings.Contains(summary, "aborted by the operator") {
		t.Errorf("summary:\n%s\nwant the verdict and its reason", summary)
	}
}

func procState(t *testing.T, pid int) string {
	t.Helper()
	st, err := proc.State(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSummaryKeepsTheCallersMessages: what chaos says beside the events
// (its reports could not be written, a halt stopped the call) is in the
// log while the dashboard is up; the summary left on the terminal keeps
// it, or a run shown as passed would end with exit 4 and no word why.
func TestSummaryKeepsTheCallersMessages(t *testing.T) {
	var out bytes.Buffer
	d := New([]Plan{shopPlan()}, Options{Input: strings.NewReader(""), Output: &out})
	d.Sink(0).Event(journal.Event{Time: t0, Type: journal.RunStarted})
	d.Sink(0).Event(journal.VerdictEvent(journal.Passed, "the hypothesis held"))
	fmt.Fprintf(d, "chaos: write reports: open out/journal.json: not a directory\n")
	d.Finished(0, Result{Verdict: journal.Passed, Reason: "the hypothesis held"})
	d.Quit()
	if err := d.Run(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if i := strings.LastIndex(got, "\x1b[?1049l"); i >= 0 {
		got = got[i:]
	}
	for _, want := range []string{"PASSED", "chaos: write reports: open out/journal.json: not a directory"} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal after the dashboard lacks %q:\n%q", want, got)
		}
	}
	// Once the dashboard is over, what is written goes to the terminal.
	fmt.Fprintf(d, "chaos: later\n")
	if !strings.Contains(out.String(), "chaos: later\n") {
		t.Errorf("a message written after the dashboard ended is lost")
	}
}
