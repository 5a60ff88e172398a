package runner_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/runner"
)

// The sinks see exactly the journal's events, in its order, with the
// typed fields the journal's records agree with; and the journal written
// and read back gives the same events.
func TestSinksSeeTheJournal(t *testing.T) {
	s := newService(t)
	src := strings.NewReplacer("${up}", strings.TrimPrefix(s.URL, "http://"), "${px}", "127.0.0.1:"+freePort(t)).Replace(`version: v1
title: sinks
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 20/s
    window: 250ms
steady_state:
  - name: up
    probe: {http: {url: "http://${px}/"}}
    interval: 100ms
method:
  - {name: slow, fault: latency, target: link, with: {delay: 10ms}, for: 700ms}
`)
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []journal.Event
	sink := journal.SinkFunc(func(ev journal.Event) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
	})
	dir := t.TempDir()
	j := runner.Run(context.Background(), exp, runner.Options{RunID: "sinks", Seed: 7, ReportDir: dir, LedgerDir: dir + "/ledger", Sinks: []journal.Sink{sink}})
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(seen, j.Events) {
		t.Fatalf("the sink saw %d events, the journal has %d, and they differ", len(seen), len(j.Events))
	}
	count := map[journal.Type]int{}
	var requests int64
	samples := 0
	for _, ev := range seen {
		count[ev.Type]++
		switch ev.Type {
		case journal.RunStarted:
			if ev.RunID != "sinks" || ev.Seed != 7 {
				t.Errorf("run.started: run %q seed %d", ev.RunID, ev.Seed)
			}
		case journal.StepStarted:
			if ev.Step != "slow" || ev.Kind != "fault" || ev.Planned != 700*time.Millisecond {
				t.Errorf("step.started: %+v", ev)
			}
		case journal.FaultInjected, journal.FaultReverted:
			if ev.Fault != "latency" || ev.TargetID != j.Faults[0].Target.ID {
				t.Errorf("%s: fault %q id %q; want latency on %q", ev.Type, ev.Fault, ev.TargetID, j.Faults[0].Target.ID)
			}
		case journal.StepFinished:
			if ev.Outcome != j.Steps[0].Outcome {
				t.Errorf("step.finished: outcome %q; the journal's step %q", ev.Outcome, j.Steps[0].Outcome)
			}
		case journal.CheckSample:
			if !ev.OK || ev.Message != "up: "+ev.Value {
				t.Errorf("check.sample: ok %v, value %q, message %q", ev.OK, ev.Value, ev.Message)
			}
			// The event carries the sample's values, for live views.
			if samples < len(j.Checks[0].Samples) {
				if want := j.Checks[0].Samples[samples].Observed; len(want) == 0 || !reflect.DeepEqual(ev.Observed, want) {
					t.Errorf("check.sample %d: observed %v; the journal's sample %v", samples, ev.Observed, want)
				}
			}
			samples++
		case journal.LoadWindow:
			// A loaded machine may leave a window without a request.
			requests += ev.Requests
			if ev.Stream != "calls" || ev.Requests > 0 && ev.Success != 1 {
				t.Errorf("load.window: %+v", ev)
			}
		case journal.RunVerdict:
			if ev.Verdict != j.Verdict || ev.Reason != j.Reason {
				t.Errorf("run.verdict: %s: %s; the journal's %s: %s", ev.Verdict, ev.Reason, j.Verdict, j.Reason)
			}
		}
	}
	if requests == 0 {
		t.Error("no load window had a request")
	}
	if count[journal.LoadWindow] != len(j.Windows) || count[journal.FaultInjected] != len(j.Faults) || count[journal.RunVerdict] != 1 {
		t.Errorf("events %v; the journal has %d windows, %d faults", count, len(j.Windows), len(j.Faults))
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back journal.Journal
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if samples != len(j.Checks[0].Samples) {
		t.Errorf("%d check.sample events; the journal has %d samples", samples, len(j.Checks[0].Samples))
	}
	for i := range back.Events {
		got, want := back.Events[i], j.Events[i]
		got.Time, want.Time = time.Time{}, time.Time{}
		// The journal keeps what a sample observed in the check's samples,
		// not in its event.
		want.Observed = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d read back as %+v; want %+v", i, got, want)
		}
	}
}

// A secret that is one of chaos's own words (a verdict) is still masked
// in what the file gives, but the verdict the sinks act on and the
// journal's stay as they are: a passed run is not reported otherwise.
func TestSecretThatIsAVerdict(t *testing.T) {
	src := `version: v1
title: words
method:
  - name: step ${env:CHAOSTEST_WORD}
    exec: {run: [sh, -c, "true", "${env:CHAOSTEST_WORD}"]}
`
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{},
		LookupEnv: func(string) (string, bool) { return journal.Passed, true }})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var verdict, step string
	sink := journal.SinkFunc(func(ev journal.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case journal.RunVerdict:
			verdict = ev.Verdict
		case journal.StepStarted:
			step = ev.Step
		}
	})
	dir := t.TempDir()
	j := runner.Run(context.Background(), exp, runner.Options{RunID: "words", ReportDir: dir, LedgerDir: dir + "/ledger", Sinks: []journal.Sink{sink}})
	mu.Lock()
	defer mu.Unlock()
	if j.Verdict != journal.Passed || verdict != journal.Passed {
		t.Errorf("verdict %q, the sinks saw %q; want passed", j.Verdict, verdict)
	}
	if step != "step ***" || j.Steps[0].Name != "step ***" {
		t.Errorf("step %q, in the journal %q; want it masked", step, j.Steps[0].Name)
	}
}
