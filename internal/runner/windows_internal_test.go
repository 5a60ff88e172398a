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
// completed, a p99 of 0 where every request was dropped for max_inflight
// and none was answered, or a p99 of 1ms where every request was refused
// at once, would pass a system that did not answer at all.
func TestJudgeUnobservedFigures(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	none := load.Window{Stream: "a", Start: t0, End: t0.Add(time.Second)}
	dropped := load.Window{Stream: "a", Start: t0, End: t0.Add(time.Second), Requests: 40,
		Errors: map[string]int64{load.ClassMaxInflight: 40}}
	failed := func(class string) load.Window {
		tl := load.NewTally("a", t0)
		for range 40 {
			tl.Add(time.Millisecond, class)
		}
		return tl.Window(t0.Add(time.Second))
	}
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
		{"p99 with every request refused", `{p99: "< 300ms"}`, failed(load.ClassRefused), "no request succeeded (errors: refused 40)", "p99"},
		{"p50 with every request failed", `{p50: "< 300ms"}`, failed("status_503"), "no request succeeded (errors: status_503 40)", "p50"},
		{"success and max with every request refused", `{success: ">= 99%", max: "< 1s"}`, failed(load.ClassRefused),
			"no request succeeded, success 0%, want >= 99% (errors: refused 40)", "max"},
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

// A latency expectation counts the requests still waiting at the end of
// the span that have waited at least its bound, at their age: they will
// take at least that. Younger ones stay out, as do those that waited at
// the end of an older window of the span.
func TestJudgeWaitingRequests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// window makes a window of second i with n requests completed after
	// done and requests waiting at its end with the given ages.
	window := func(i, n int, done time.Duration, waiting ...time.Duration) load.Window {
		start := t0.Add(time.Duration(i) * time.Second)
		tl := load.NewTally("a", start)
		for range n {
			tl.Add(done, "")
		}
		for _, a := range waiting {
			tl.AddWaiting(a)
		}
		return tl.Window(start.Add(time.Second))
	}
	ages := func(n int, age time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = age
		}
		return out
	}
	fast := window(0, 200, 10*time.Millisecond)
	// Latencies read from histograms are within 0.1%: 2s reads 2.001s.
	cases := []struct {
		name   string
		expect string
		ws     []load.Window
		ok     bool
		reason string
		p99    string
	}{
		{"old waiting requests break a p99", `{p99: "< 500ms"}`,
			[]load.Window{fast, window(1, 200, 10*time.Millisecond, ages(5, 2*time.Second)...)},
			false, "p99 2.001s+, want < 500ms (5 requests still waiting, the oldest for 2.001s)", "2.001s+"},
		{"and the max", `{max: "<= 1s"}`,
			[]load.Window{window(1, 200, 10*time.Millisecond, 3*time.Second)},
			false, "max 3s+, want <= 1s (1 request still waiting, the oldest for 3s)", ""},
		{"too few to move the p99", `{p99: "< 500ms"}`,
			[]load.Window{window(1, 400, 10*time.Millisecond, 2*time.Second)},
			true, "", "10.01ms"},
		{"young ones do not count", `{p99: "< 500ms"}`,
			[]load.Window{window(1, 200, 10*time.Millisecond, ages(50, 100*time.Millisecond)...)},
			true, "", "10.01ms"},
		// Counted at their age, the 100 young requests would make a p50
		// of 100ms out of the 10 answers of 1s, and a false pass.
		{"young ones do not pull a percentile down", `{p50: "< 500ms"}`,
			[]load.Window{window(1, 10, time.Second, ages(100, 100*time.Millisecond)...)},
			false, "p50 1s, want < 500ms", ""},
		{"the waiting of older windows completed or still waits", `{p99: "< 500ms"}`,
			[]load.Window{window(0, 200, 10*time.Millisecond, ages(5, 900*time.Millisecond)...), window(1, 200, 10*time.Millisecond)},
			true, "", "10.01ms"},
		{"a lower bound above the bound holds a >=", `{max: ">= 1s"}`,
			[]load.Window{window(1, 200, 10*time.Millisecond, 2*time.Second)},
			true, "", ""},
		{"a lower bound is no answer below the bound", `{max: "> 1s"}`,
			[]load.Window{window(1, 200, 10*time.Millisecond, 500*time.Millisecond)},
			false, "max 10.01ms, want > 1s", ""},
		{"no request completed, some waited past the bound", `{p99: "< 300ms"}`,
			[]load.Window{window(1, 0, 0, ages(3, 2*time.Second)...)},
			false, "p99 2.001s+, want < 300ms (3 requests still waiting, the oldest for 2.001s)", "2.001s+"},
		{"no request completed, some waited past the bound, with success", `{success: ">= 99%", p99: "< 300ms"}`,
			[]load.Window{window(1, 0, 0, ages(3, 2*time.Second)...)},
			false, "no request completed, p99 2.001s+, want < 300ms (3 requests still waiting, the oldest for 2.001s)", "2.001s+"},
		// Requests still waiting, though younger than the bound, are what
		// tells a stall (psql behind 1.5s of latency a round trip) from a
		// lull (nothing sent): the reason says so, as the window does.
		{"no request completed, none waited past the bound", `{p99: "< 300ms"}`,
			[]load.Window{window(1, 0, 0, 100*time.Millisecond)},
			false, "no request completed (1 request still waiting, the oldest for 100.03ms)", ""},
		{"no request completed, none waited past the bound, with success", `{success: ">= 90%", p99: "< 3s"}`,
			[]load.Window{window(1, 0, 0, ages(8, 1900*time.Millisecond)...)},
			false, "no request completed (8 requests still waiting, the oldest for 1.901s)", ""},
	}
	for _, c := range cases {
		var e experiment.LoadExpect
		if err := yaml.Unmarshal([]byte(c.expect), &e); err != nil {
			t.Fatal(err)
		}
		smp := judge(&experiment.Check{Expect: &e}, c.ws)
		if smp.OK != c.ok || smp.Reason != c.reason {
			t.Errorf("%s: judge = ok %v, reason %q; want %v, %q", c.name, smp.OK, smp.Reason, c.ok, c.reason)
		}
		if c.p99 != "" && smp.Observed["p99"] != c.p99 {
			t.Errorf("%s: observed p99 %q; want %q", c.name, smp.Observed["p99"], c.p99)
		}
	}
}

// The success share a check observed is never rounded up to 100% while
// some request failed, nor onto the side of its condition it was not on:
// "success 100%, want == 100%" or "success 99.9%, want >= 99.9%" would
// say that the check broke on a system that met it.
func TestJudgeSuccessNotRoundedAway(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := load.NewTally("a", t0)
	for range 29999 {
		tl.Add(time.Millisecond, "")
	}
	tl.Add(time.Millisecond, "status_503")
	w := tl.Window(t0.Add(time.Second))
	// 103 failures in 100000: 99.897%, which 99.9% would show as
	// holding ">= 99.9%".
	tl = load.NewTally("a", t0)
	for range 99897 {
		tl.Add(time.Millisecond, "")
	}
	for range 103 {
		tl.Add(time.Millisecond, "status_503")
	}
	edge := tl.Window(t0.Add(time.Second))
	for _, c := range []struct {
		expect   string
		w        load.Window
		observed string
		reason   string
	}{
		{`{success: "== 100%"}`, w, "99.99%", "success 99.99%, want == 100% (errors: status_503 1)"},
		{`{success: ">= 99.99%"}`, w, "99.99%", ""},
		{`{p99: "< 1s"}`, w, "99.99%", ""},
		{`{success: ">= 99.9%"}`, edge, "99.897%", "success 99.897%, want >= 99.9% (errors: status_503 103)"},
		{`{success: ">= 99%"}`, edge, "99.9%", ""},
	} {
		var e experiment.LoadExpect
		if err := yaml.Unmarshal([]byte(c.expect), &e); err != nil {
			t.Fatal(err)
		}
		smp := judge(&experiment.Check{Expect: &e}, []load.Window{c.w})
		if smp.OK != (c.reason == "") || smp.Reason != c.reason || smp.Observed["success"] != c.observed {
			t.Errorf("judge %s of %d requests, %d succeeded = ok %v, reason %q, observed success %q; want reason %q, success %s",
				c.expect, c.w.Requests, c.w.Successes, smp.OK, smp.Reason, smp.Observed["success"], c.reason, c.observed)
		}
	}
}

// The rest of the method's traffic, judged once the method ends even when
// it is less than the check's window, may be shorter than the time
// between two requests: nothing completed in it and nothing waited at its
// end. No request was sent in it, which is no outage, and it broke the
// check for "no request completed" on a link 20ms slower. A rest in which
// requests wait is judged.
func TestJudgeRestWithoutRequests(t *testing.T) {
	var e experiment.LoadExpect
	if err := yaml.Unmarshal([]byte(`{success: ">= 90%"}`), &e); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := load.Window{Stream: "a", Start: at(0), End: at(1000), Requests: 4, Successes: 4}
	waiting := func() load.Window {
		tl := load.NewTally("a", at(1000))
		tl.AddWaiting(100 * time.Millisecond)
		return tl.Window(at(1300))
	}()
	for _, c := range []struct {
		name   string
		rest   load.Window
		judged bool
	}{
		{"no request sent", load.Window{Stream: "a", Start: at(1000), End: at(1300)}, false},
		{"a request waiting", waiting, true},
	} {
		done := make(chan struct{})
		close(done)
		r := &run{
			rec:     &recorder{mask: experiment.NewMasker(nil), j: &journal.Journal{Windows: []load.Window{full, c.rest}}},
			wake:    make(chan struct{}),
			streams: []*stream{{spec: &experiment.Stream{Name: "a"}, done: done}},
		}
		cs := &checkState{c: &experiment.Check{Name: "ok", From: "a", Expect: &e, Failures: 2},
			rec: &journal.Check{Name: "ok", Results: map[string]string{}}}
		r.judgeRest(t.Context(), cs, at(0), at(1000), at(1300))
		if judged := len(cs.rec.Samples) > 0; judged != c.judged {
			t.Errorf("%s: samples %+v; want judged %v", c.name, cs.rec.Samples, c.judged)
		}
	}
}
