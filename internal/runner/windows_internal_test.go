package runner

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// A check judges the newest windows that cover its span, also when the
// stream's first window is longer than the span: cutting at end-span would
// leave it out and judge no traffic at all.
func TestRecentWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	win := func(stream string, from, to int) load.Window {
		return load.Window{Stream: stream, Start: at(from), End: at(to)}
	}
	r := &run{rec: &recorder{j: &journal.Journal{Windows: []load.Window{
		win("a", 0, 1400), // a first window, longer than the stream's 1s
		win("b", 0, 500),
		win("a", 1400, 2400),
		win("a", 2400, 3400),
	}}}}
	cases := []struct {
		name      string
		notBefore time.Time
		end       time.Time
		span      time.Duration
		want      [][2]int
	}{
		{"first window longer than the span", time.Time{}, at(1400), time.Second, [][2]int{{0, 1400}}},
		{"newest window covers the span", time.Time{}, at(3400), time.Second, [][2]int{{2400, 3400}}},
		{"two windows for a longer span", time.Time{}, at(3400), 1500 * time.Millisecond, [][2]int{{1400, 2400}, {2400, 3400}}},
		{"nothing from before notBefore", at(1000), at(3400), 5 * time.Second, [][2]int{{1400, 2400}, {2400, 3400}}},
		{"nothing after end", time.Time{}, at(2400), time.Second, [][2]int{{1400, 2400}}},
	}
	for _, c := range cases {
		got := r.recentWindows("a", c.notBefore, c.end, c.span)
		var spans [][2]int
		for _, w := range got {
			spans = append(spans, [2]int{int(w.Start.Sub(t0).Milliseconds()), int(w.End.Sub(t0).Milliseconds())})
		}
		if len(spans) != len(c.want) {
			t.Errorf("%s: recentWindows = %v; want %v", c.name, spans, c.want)
			continue
		}
		for i := range spans {
			if spans[i] != c.want[i] {
				t.Errorf("%s: recentWindows = %v; want %v", c.name, spans, c.want)
				break
			}
		}
	}
}

// A span in which no request completed says so: not a success of 0%,
// which would say every request failed, and it still breaks the check.
func TestJudgeNoRequestCompleted(t *testing.T) {
	var e experiment.LoadExpect
	if err := yaml.Unmarshal([]byte(`{success: ">= 99%", p99: "< 300ms"}`), &e); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	smp := judge(&experiment.Check{Expect: &e}, []load.Window{{Stream: "a", Start: t0, End: t0.Add(time.Second)}})
	if smp.OK || smp.Reason != "no request completed" {
		t.Errorf("judge of a window with no request: ok %v, reason %q; want a failure, %q", smp.OK, smp.Reason, "no request completed")
	}
	if v, ok := smp.Observed["success"]; ok {
		t.Errorf("observed success %q for no request", v)
	}
	if smp.Observed["requests"] != "0" {
		t.Errorf("observed requests %q; want 0", smp.Observed["requests"])
	}
}

// What a span did not observe cannot hold: 0 errors where no request
// completed, or a p99 of 0 where every request was dropped for
// max_inflight and none was answered, would pass a system that did not
// answer at all.
func TestJudgeUnobservedFigures(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	none := load.Window{Stream: "a", Start: t0, End: t0.Add(time.Second)}
	dropped := load.Window{Stream: "a", Start: t0, End: t0.Add(time.Second), Requests: 40,
		Errors: map[string]int64{load.ClassMaxInflight: 40}}
	cases := []struct {
		name   string
		expect string
		w      load.Window
		reason string
		absent string
	}{
		{"errors with no request completed", `{errors: "== 0"}`, none, "no request completed", ""},
		{"p99 with every request dropped", `{p99: "< 300ms"}`, dropped, "no request completed (errors: max_inflight 40)", "p99"},
		{"max with every request dropped", `{max: "< 1s"}`, dropped, "no request completed (errors: max_inflight 40)", "max"},
		{"success and p99 with every request dropped", `{success: ">= 99%", p99: "< 300ms"}`, dropped,
			"no request completed, success 0%, want >= 99% (errors: max_inflight 40)", "p99"},
	}
	for _, c := range cases {
		var e experiment.LoadExpect
		if err := yaml.Unmarshal([]byte(c.expect), &e); err != nil {
			t.Fatal(err)
		}
		smp := judge(&experiment.Check{Expect: &e}, []load.Window{c.w})
		if smp.OK || smp.Reason != c.reason {
			t.Errorf("%s: judge = ok %v, reason %q; want a failure, %q", c.name, smp.OK, smp.Reason, c.reason)
		}
		if v, ok := smp.Observed[c.absent]; c.absent != "" && ok {
			t.Errorf("%s: observed %s %q; want none", c.name, c.absent, v)
		}
	}
}
