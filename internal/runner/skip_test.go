package runner_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/runner"
)

// An operator's skip of a wait, or of a blocking fault's for, ends the
// step early, and the journal says so: the step is done, cut short by the
// operator, after how long of its planned length. A step that ran its
// full length says nothing of the kind.
func TestOperatorSkipIsRecorded(t *testing.T) {
	s := newService(t)
	src := `version: v1
title: skipped
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
method:
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}, for: 20s}
  - {name: settle, wait: 20s}
  - {name: short, wait: 100ms}
`
	start := time.Now()
	j := runSkipping(t, src, s, time.Second, 300*time.Millisecond)
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the run took %s; want the skips to cut its 40s of steps short", took)
	}
	if len(j.Steps) != 3 {
		t.Fatalf("steps %+v; want 3", j.Steps)
	}
	cut := regexp.MustCompile(`^cut short by the operator after [0-9.]+m?s of 20s$`)
	for _, st := range j.Steps[:2] {
		if st.Outcome != journal.StepDone || !cut.MatchString(st.Error) {
			t.Errorf("step %q skipped by the operator: outcome %q, %q; want done, cut short by the operator after some of 20s", st.Name, st.Outcome, st.Error)
		}
	}
	if st := j.Steps[2]; st.Outcome != journal.StepDone || st.Error != "" {
		t.Errorf("step %q run in full: outcome %q, %q; want done, with nothing to say", st.Name, st.Outcome, st.Error)
	}
}

// A skip that cuts short the time faults are in place (a fault's for, or
// a wait while a fault without for is on) leaves the hypothesis judged
// under them for only that long: a target that would break under the
// planned length may not have had the time to. Such a run cannot pass; it
// is an error that says what was cut. A skip with no fault in place cuts
// nothing of what is judged, and the run passes. A check that broke
// before the skip still makes the run deviate.
func TestOperatorSkipOfFaultCannotPass(t *testing.T) {
	for _, tt := range []struct {
		name, method, p99, verdict, reason string
	}{
		{"fault's for", `
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}, for: 20s}`,
			"< 2s", journal.Errored, `the operator cut step "slow link" short after `},
		{"wait with a fault on", `
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}}
  - {name: settle, wait: 20s}`,
			"< 2s", journal.Errored, `the operator cut step "settle" short after `},
		{"wait with an exec step's change on", `
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}, for: 1s}
  - {name: change, exec: {run: ["true"]}, undo: {run: ["true"]}}
  - {name: settle, wait: 20s}`,
			"< 2s", journal.Errored, `the operator cut step "settle" short after `},
		{"wait without a fault", `
  - {name: settle, wait: 20s}
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}, for: 1s}`,
			"< 2s", journal.Passed, "the hypothesis held"},
		{"broken before the skip", `
  - {name: slow link, fault: latency, target: link, with: {delay: 100ms}, for: 20s}`,
			"< 50ms", journal.Deviated, `check "fast"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t)
			src := `version: v1
title: skipped
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 250ms
steady_state:
  - name: fast
    from: calls
    window: 500ms
    expect: {p99: "` + tt.p99 + `"}
    when: [during]
method:` + tt.method + "\n"
			j := runSkipping(t, src, s, 10*time.Second, time.Second)
			if j.Verdict != tt.verdict || !strings.Contains(j.Reason, tt.reason) {
				t.Fatalf("verdict %s (%s); want %s, with %q", j.Verdict, j.Reason, tt.verdict, tt.reason)
			}
		})
	}
}

// runSkipping runs src against s, as run does, and has the operator skip
// each step planned for longer than planned, after it has run for after.
func runSkipping(t *testing.T, src string, s *service, planned, after time.Duration) *journal.Journal {
	t.Helper()
	src = strings.NewReplacer("${up}", strings.TrimPrefix(s.URL, "http://"), "${px}", "127.0.0.1:"+freePort(t)).Replace(src)
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan journal.Command, 4)
	skip := journal.SinkFunc(func(ev journal.Event) {
		if ev.Type == journal.StepStarted && ev.Planned > planned {
			time.AfterFunc(after, func() { cmds <- journal.SkipWait })
		}
	})
	dir := t.TempDir()
	return runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger", Sinks: []journal.Sink{skip}, Commands: cmds})
}
