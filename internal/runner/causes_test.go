package runner_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
	"github.com/gamedayhq/chaos/internal/runner"
)

// stuckFault goes on and cannot be removed.
type stuckFault struct{}

func (*stuckFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Action: "test.stuck", Target: t}, nil
}

func (*stuckFault) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return u, nil
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_stuck", New: func() inject.Fault { return &stuckFault{} }})
	inject.RegisterUndo("test.stuck", func(context.Context, *inject.Env, inject.Undo) error {
		return errors.New("chaostest-stuck: device busy")
	})
}

// runWith runs an experiment with a sink and operator commands, and with
// ctx, which the sink may cancel.
func runWith(t *testing.T, ctx context.Context, src string, s *service, sink journal.SinkFunc, cmds chan journal.Command) *journal.Journal {
	t.Helper()
	src = strings.NewReplacer("${up}", strings.TrimPrefix(s.URL, "http://"), "${px}", "127.0.0.1:"+freePort(t)).Replace(src)
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := runner.Options{RunID: "test", ReportDir: dir, LedgerDir: filepath.Join(dir, "ledger")}
	if sink != nil {
		opts.Sinks = []journal.Sink{sink}
	}
	if cmds != nil {
		opts.Commands = cmds
	}
	return runner.Run(ctx, exp, opts)
}

// When several things go wrong in one run, the verdict is the first that
// applies of revert-failed, interrupted, error, aborted and deviated, and
// its reason, which the run.verdict event carries to CI and the
// notifiers, names every one of them: a revert that failed after a check
// broke does not hide that the check broke, nor an interrupt the errors
// that came before it.
func TestVerdictReasonNamesEveryCause(t *testing.T) {
	const broken = `check "broken" broke during the method`
	const stepErr = `step "exec false": false exited with code 1`
	for _, tt := range []struct {
		name, method, rollbacks, abortWhen string
		// cancelOn interrupts the run at the first event of this type;
		// abortOn sends the operator's abort then.
		cancelOn, abortOn journal.Type
		verdict           string
		want              []string
	}{
		{name: "revert failed after a break and an error",
			method:  "- {fault: test_stuck, target: link, background: true, for: 5s}\n  - wait: 600ms\n  - exec: {run: [\"false\"]}",
			verdict: journal.RevertFailed, want: []string{"chaostest-stuck: device busy", stepErr, broken}},
		{name: "interrupted after a break and an error",
			method:   "- wait: 600ms\n  - exec: {run: [\"false\"]}\n  - wait: 30s",
			cancelOn: journal.Error, verdict: journal.Interrupted,
			want: []string{"chaos was stopped by SIGTERM during the method", stepErr, broken}},
		{name: "interrupted after an abort",
			method:   "- wait: 30s",
			abortOn:  journal.CheckBroken,
			cancelOn: journal.RunAborted, verdict: journal.Interrupted,
			want: []string{"chaos was stopped by SIGTERM", "aborted by the operator", broken}},
		{name: "error after an abort",
			method:  "- exec: {run: [sh, -c, \"sleep 1; exit 3\"]}",
			abortOn: journal.CheckBroken, verdict: journal.Errored,
			want: []string{`step "exec sh": sh exited with code 3`, "aborted by the operator", broken}},
		{name: "rollback failed after an abort",
			method:    "- wait: 30s",
			rollbacks: "- exec: {run: [\"false\"]}",
			abortOn:   journal.CheckBroken, verdict: journal.RevertFailed,
			want: []string{`rollback "exec false" error: step "exec false": false exited with code 1`, "aborted by the operator", broken}},
		{name: "aborted after a break",
			method:  "- wait: 30s",
			abortOn: journal.CheckBroken, verdict: journal.Aborted,
			want: []string{"aborted by the operator; every fault was reverted", broken}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := `version: v1
title: chaostest-causes
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: broken
    probe: {exec: {run: ["false"]}}
    interval: 50ms
    when: [during]
method:
  ` + tt.method + "\n"
			if tt.rollbacks != "" {
				src += "rollbacks:\n  " + tt.rollbacks + "\n"
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			cmds := make(chan journal.Command, 1)
			aborted := false
			sink := journal.SinkFunc(func(ev journal.Event) {
				if tt.cancelOn != "" && ev.Type == tt.cancelOn {
					cancel(errors.New("SIGTERM"))
				}
				if tt.abortOn != "" && ev.Type == tt.abortOn && !aborted {
					aborted = true
					cmds <- journal.AbortRun
				}
			})
			j := runWith(t, ctx, src, newService(t), sink, cmds)
			if j.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s); want %s", j.Verdict, j.Reason, tt.verdict)
			}
			var evReason string
			for _, ev := range j.Events {
				if ev.Type == journal.RunVerdict {
					evReason = ev.Reason
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(j.Reason, w) {
					t.Errorf("reason %q; want it to name %q", j.Reason, w)
				}
				if !strings.Contains(evReason, w) {
					t.Errorf("run.verdict's reason %q; want it to name %q", evReason, w)
				}
			}
		})
	}
}

// An abort by the operator, by chaos halt or by max_duration is no abort
// condition firing: the reports say what stopped the run.
func TestAbortNotAConditionInReports(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		cmd         journal.Command
		want        string
	}{
		{"operator", "", journal.AbortRun, "aborted by the operator"},
		{"halt", "", journal.Halt, "halted by chaos halt"},
		{"max_duration", "max_duration: 500ms\n", 0, "the run took its max"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: v1\ntitle: chaostest-stopped\n" + tt.extra + "method:\n  - wait: 30s\n"
			cmds := make(chan journal.Command, 1)
			sent := false
			sink := journal.SinkFunc(func(ev journal.Event) {
				if tt.cmd != 0 && ev.Type == journal.StepStarted && !sent {
					sent = true
					cmds <- tt.cmd
				}
			})
			j := runWith(t, context.Background(), src, newService(t), sink, cmds)
			if j.Verdict != journal.Aborted {
				t.Fatalf("verdict %s (%s); want aborted", j.Verdict, j.Reason)
			}
			h, err := report.HTML(j)
			if err != nil {
				t.Fatal(err)
			}
			x, err := report.JUnit(j)
			if err != nil {
				t.Fatal(err)
			}
			for name, text := range map[string]string{"summary.md": report.Markdown(j), "report.html": string(h), "junit.xml": string(x)} {
				if strings.Contains(text, "fired") {
					t.Errorf("%s says an abort condition fired:\n%s", name, text)
				}
				if !strings.Contains(text, tt.want) {
					t.Errorf("%s does not say %q:\n%s", name, tt.want, text)
				}
			}
		})
	}
}

// What an interrupt leaves unjudged (a check that could not observe the
// rest of the method) is not something else that went wrong: the reason
// of the interrupted verdict does not name it.
func TestInterruptedReasonLeavesOutWhatItCut(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sink := journal.SinkFunc(func(ev journal.Event) {
		if ev.Type == journal.FaultInjected {
			cancel(errors.New("SIGINT"))
		}
	})
	j := runWith(t, ctx, `version: v1
title: chaostest-cut-by-interrupt
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 5s
method:
  - {fault: latency, target: link, with: {delay: 10ms}, for: 5s}
`, newService(t), sink, nil)
	if want := "chaos was stopped by SIGINT during the method; every fault was reverted"; j.Verdict != journal.Interrupted || j.Reason != want {
		t.Errorf("verdict %s: %q; want interrupted: %q", j.Verdict, j.Reason, want)
	}
}

// An abort condition whose name is one of the words an abort by the
// operator, chaos halt or max_duration records is an abort condition all
// the same: the verdict says it fired.
func TestAbortConditionNamedOperator(t *testing.T) {
	j := runWith(t, context.Background(), `version: v1
title: chaostest-named-operator
abort_when:
  - name: operator
    probe: {exec: {run: ["false"]}}
    interval: 50ms
method:
  - wait: 30s
`, newService(t), nil, nil)
	if want := `abort condition "operator" fired: exit code 1`; j.Verdict != journal.Aborted || !strings.Contains(j.Reason, want) {
		t.Errorf("verdict %s: %q; want aborted: %q", j.Verdict, j.Reason, want)
	}
	if md := report.Markdown(j); !strings.Contains(md, "Abort condition **operator** fired") {
		t.Errorf("summary.md does not say the abort condition fired:\n%s", md)
	}
}

// A rollback that fails leaves what the method changed in place, kept in
// the ledger for chaos recover, as an exec step's undo that fails does:
// the verdict is revert-failed (exit 5, which chaos recover gives for it
// too), not an error, and its reason says so once.
func TestRollbackFailedIsRevertFailed(t *testing.T) {
	j := runWith(t, context.Background(), `version: v1
title: chaostest-rollback-fails
method:
  - wait: 10ms
rollbacks:
  - exec: {run: ["false"]}
`, newService(t), nil, nil)
	const stepErr = `step "exec false": false exited with code 1`
	if j.Verdict != journal.RevertFailed || !strings.Contains(j.Reason, `rollback "exec false"`) || strings.Count(j.Reason, stepErr) != 1 {
		t.Errorf("verdict %s: %q; want revert-failed, naming the rollback and its error once", j.Verdict, j.Reason)
	}
}
