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
	src = strings.NewReplacer("${up}", strings.TrimPrefix(s.URL, "http://"), "${px}", "127.0.0.1:"+freePort(t)).Replace(src)
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan journal.Command, 4)
	skip := journal.SinkFunc(func(ev journal.Event) {
		if ev.Type == journal.StepStarted && ev.Planned > time.Second {
			time.AfterFunc(300*time.Millisecond, func() { cmds <- journal.SkipWait })
		}
	})
	dir := t.TempDir()
	start := time.Now()
	j := runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger", Sinks: []journal.Sink{skip}, Commands: cmds})
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
