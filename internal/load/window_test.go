package load_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/load"
)

var t0 = time.Date(2025, 11, 27, 10, 0, 0, 0, time.UTC)

// tallies records latencies drawn from a wide distribution into n one-second
// windows, and all of them into one reference window.
func tallies(n, perWindow int) ([]load.Window, load.Window) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := load.NewTally("cart", t0)
	var windows []load.Window
	for i := range n {
		start := t0.Add(time.Duration(i) * time.Second)
		tl := load.NewTally("cart", start)
		for j := range perWindow {
			// Log-uniform from 100µs to 10s, plus a few errors.
			lat := time.Duration(100e3 * rng.ExpFloat64() * float64(int64(1)<<rng.IntN(16)))
			class := ""
			if j%97 == 0 {
				class = load.StatusClass(503)
			}
			tl.Add(lat, class)
			all.Add(lat, class)
		}
		tl.Drop(load.ClassMaxInflight)
		all.Drop(load.ClassMaxInflight)
		windows = append(windows, tl.Window(start.Add(time.Second)))
	}
	return windows, all.Window(t0.Add(time.Duration(n) * time.Second))
}

func TestMergeIsExact(t *testing.T) {
	windows, ref := tallies(5, 2000)
	refSum, err := load.Merge(ref)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := load.Merge(windows...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{0, 1, 10, 50, 75, 90, 95, 99, 99.9, 99.99, 100} {
		if got, want := sum.Percentile(p), refSum.Percentile(p); got != want {
			t.Errorf("Merge(windows).Percentile(%v) = %v; want %v as for all latencies in one histogram", p, got, want)
		}
	}
	if sum.Latency != refSum.Latency {
		t.Errorf("Merge(windows).Latency = %+v; want %+v", sum.Latency, refSum.Latency)
	}
	if sum.Latency.P99 != ref.Latency.P99 || sum.Latency.Max != ref.Latency.Max {
		t.Errorf("merged p99/max = %v/%v; want %v/%v", sum.Latency.P99, sum.Latency.Max, ref.Latency.P99, ref.Latency.Max)
	}
	// Averaging the windows' p99 would not give the p99 of the whole: make
	// sure the test data can tell the two apart.
	var avg time.Duration
	for _, w := range windows {
		avg += w.Latency.P99 / time.Duration(len(windows))
	}
	if avg == sum.Latency.P99 {
		t.Errorf("average of window p99s equals the merged p99 (%v); the test data cannot tell merging from averaging", avg)
	}
	if sum.Requests != 5*2001 || sum.Successes != ref.Successes || !reflect.DeepEqual(sum.Errors, ref.Errors) {
		t.Errorf("Merge counts = %d requests, %d successes, %v; want %d, %d, %v",
			sum.Requests, sum.Successes, sum.Errors, ref.Requests, ref.Successes, ref.Errors)
	}
	// The request dropped for max_inflight in each window was not sent:
	// it is not in the rate.
	if sum.Covered != 5*time.Second || sum.RPS != float64(5*2000)/5 {
		t.Errorf("Merge covered %v at %v rps; want 5s at %v", sum.Covered, sum.RPS, float64(5*2000)/5)
	}
	if want := float64(ref.Successes) / float64(ref.Requests); sum.SuccessRatio != want {
		t.Errorf("Merge success ratio = %v; want %v", sum.SuccessRatio, want)
	}
	if sum.Stream != "cart" || !sum.Start.Equal(t0) || !sum.End.Equal(t0.Add(5*time.Second)) {
		t.Errorf("Merge = stream %q from %v to %v; want cart from %v to %v", sum.Stream, sum.Start, sum.End, t0, t0.Add(5*time.Second))
	}
}

func TestWindowJSONRoundTrip(t *testing.T) {
	windows, _ := tallies(3, 1000)
	data, err := json.Marshal(windows)
	if err != nil {
		t.Fatal(err)
	}
	if per := len(data) / len(windows); per > 3000 {
		t.Errorf("a window of 1000 latencies encodes in %d bytes; want a compact encoding under 3000", per)
	}
	var back []load.Window
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, windows) {
		t.Errorf("windows changed in a JSON round trip:\n got %+v\nwant %+v", back, windows)
	}
	want, _ := load.Merge(windows...)
	got, err := load.Merge(back...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{50, 90, 99, 99.9, 100} {
		if got.Percentile(p) != want.Percentile(p) {
			t.Errorf("after a JSON round trip, Percentile(%v) = %v; want %v", p, got.Percentile(p), want.Percentile(p))
		}
	}
}

func TestMergeCoveredTime(t *testing.T) {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	win := func(stream string, from, to float64, requests int) load.Window {
		tl := load.NewTally(stream, at(from))
		for range requests {
			tl.Add(time.Millisecond, "")
		}
		return tl.Window(at(to))
	}
	tests := []struct {
		name    string
		windows []load.Window
		covered time.Duration
		rps     float64
		stream  string
	}{
		{"none", nil, 0, 0, ""},
		{"one", []load.Window{win("a", 0, 1, 10)}, time.Second, 10, "a"},
		{"gap is not covered", []load.Window{win("a", 0, 1, 10), win("a", 5, 6, 10)}, 2 * time.Second, 10, "a"},
		{"order does not matter", []load.Window{win("a", 1, 2, 10), win("a", 0, 1, 10)}, 2 * time.Second, 10, "a"},
		{"overlap counts once", []load.Window{win("a", 0, 1, 10), win("b", 0.5, 1.5, 20)}, 1500 * time.Millisecond, 20, ""},
		{"empty window", []load.Window{win("a", 0, 0, 0)}, 0, 0, "a"},
	}
	for _, tt := range tests {
		s, err := load.Merge(tt.windows...)
		if err != nil {
			t.Fatal(err)
		}
		if s.Covered != tt.covered || s.RPS != tt.rps || s.Stream != tt.stream {
			t.Errorf("%s: Merge = covered %v, %v rps, stream %q; want %v, %v, %q", tt.name, s.Covered, s.RPS, s.Stream, tt.covered, tt.rps, tt.stream)
		}
	}
}

func TestMergeRejectsBadHistogram(t *testing.T) {
	w := load.NewTally("a", t0).Window(t0.Add(time.Second))
	w.Latency.Histogram = "not an hdr histogram"
	if _, err := load.Merge(w); err == nil {
		t.Errorf("Merge(window with a corrupt histogram) = nil error; want an error")
	}
}

func TestTallyClampsLongLatencies(t *testing.T) {
	tl := load.NewTally("a", t0)
	tl.Add(2*time.Minute, load.ClassTimeout)
	w := tl.Window(t0.Add(time.Second))
	if w.Latency.Max < 59*time.Second || w.Latency.Max > 61*time.Second {
		t.Errorf("a 2m latency is recorded as max %v; want about 60s", w.Latency.Max)
	}
}

func BenchmarkMerge5Windows(b *testing.B) {
	windows, _ := tallies(5, 2000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load.Merge(windows...); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLagIsTheLargest(t *testing.T) {
	var windows []load.Window
	for i, lags := range [][]time.Duration{{time.Millisecond, 3 * time.Millisecond}, {}, {250 * time.Millisecond, 2 * time.Millisecond}} {
		start := t0.Add(time.Duration(i) * time.Second)
		tl := load.NewTally("a", start)
		for _, lag := range lags {
			tl.AddLag(lag)
		}
		windows = append(windows, tl.Window(start.Add(time.Second)))
	}
	if got := windows[0].Lag; got != 3*time.Millisecond {
		t.Errorf("window lag = %v; want the largest, 3ms", got)
	}
	s, err := load.Merge(windows...)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lag != 250*time.Millisecond {
		t.Errorf("Merge lag = %v; want the largest, 250ms", s.Lag)
	}
}

// waitingWindow is a window of stream with one completed request of
// latency done and requests still waiting at its end with the given ages.
func waitingWindow(stream string, from, to time.Time, done time.Duration, ages ...time.Duration) load.Window {
	tl := load.NewTally(stream, from)
	tl.Add(done, "")
	for _, a := range ages {
		tl.AddWaiting(a)
	}
	return tl.Window(to)
}

// The requests waiting at the end of an older window either completed
// later in the span, and are counted there, or still wait at its end: a
// span counts the waiting requests of its newest window alone, of each
// stream, whatever the order of the windows.
func TestMergeCountsTheNewestWaiting(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a1 := waitingWindow("a", at(0), at(1), time.Millisecond, 900*time.Millisecond, 100*time.Millisecond)
	a2 := waitingWindow("a", at(1), at(2), time.Millisecond, 1900*time.Millisecond)
	a3 := waitingWindow("a", at(2), at(2), 2500*time.Millisecond) // the last one, after the stop
	b1 := waitingWindow("b", at(0), at(1), time.Millisecond, 3*time.Second, 2*time.Second)
	if a1.Inflight != 2 || a1.Waiting.Max < 899*time.Millisecond || a1.Waiting.Max > 901*time.Millisecond {
		t.Fatalf("a window with 2 requests waiting up to 900ms has inflight %d, waiting %+v", a1.Inflight, a1.Waiting)
	}
	tests := []struct {
		name     string
		windows  []load.Window
		inflight int64
		max      time.Duration
	}{
		{"one window", []load.Window{a1}, 2, 900 * time.Millisecond},
		{"the newest of two", []load.Window{a1, a2}, 1, 1900 * time.Millisecond},
		{"order does not matter", []load.Window{a2, a1}, 1, 1900 * time.Millisecond},
		{"an empty last window after the stop", []load.Window{a1, a2, a3}, 0, 0},
		{"the newest of each stream", []load.Window{b1, a2, a1}, 3, 3 * time.Second},
	}
	for _, tt := range tests {
		s := merge(t, tt.windows)
		if s.Inflight != tt.inflight || s.Waiting.Max < tt.max*999/1000 || s.Waiting.Max > tt.max*1001/1000 {
			t.Errorf("%s: Merge = inflight %d, oldest waiting %v; want %d, %v", tt.name, s.Inflight, s.Waiting.Max, tt.inflight, tt.max)
		}
	}
	// Waiting requests are not completed ones.
	if s := merge(t, []load.Window{a1, a2}); s.Requests != 2 || s.Latency.Max > 2*time.Millisecond {
		t.Errorf("Merge = %d requests, max latency %v; want the 2 completed ones of 1ms", s.Requests, s.Latency.Max)
	}
}

func TestWaitingJSONRoundTrip(t *testing.T) {
	w := waitingWindow("a", t0, t0.Add(time.Second), time.Millisecond, 2*time.Second)
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back load.Window
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, w) {
		t.Errorf("window changed in a JSON round trip:\n got %+v\nwant %+v", back, w)
	}
	// A window with nothing waiting writes no waiting fields, as windows
	// written before they existed.
	data, err = json.Marshal(waitingWindow("a", t0, t0.Add(time.Second), time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); strings.Contains(s, "waiting") || strings.Contains(s, "inflight") {
		t.Errorf("a window with nothing waiting encodes as %s; want no waiting fields", s)
	}
}

// AtLeast counts the waiting requests that waited at least the bound, at
// their age: a lower bound of the percentile once they are answered. It
// leaves the younger ones out, which at their age would pull it down.
func TestSummaryAtLeast(t *testing.T) {
	tl := load.NewTally("a", t0)
	for range 90 {
		tl.Add(10*time.Millisecond, "")
	}
	for range 5 {
		tl.AddWaiting(2 * time.Second)
	}
	for range 50 {
		tl.AddWaiting(5 * time.Millisecond)
	}
	s := merge(t, []load.Window{tl.Window(t0.Add(3 * time.Second))})
	near := func(got, want time.Duration) bool { return got >= want*999/1000 && got <= want*1001/1000 }
	tests := []struct {
		p     float64
		least time.Duration
		v     time.Duration
		added int64
	}{
		{99, 500 * time.Millisecond, 2 * time.Second, 5},
		{100, 500 * time.Millisecond, 2 * time.Second, 5},
		{50, 500 * time.Millisecond, 10 * time.Millisecond, 5},
		{99, 3 * time.Second, 10 * time.Millisecond, 0},
		{99, time.Millisecond, 2 * time.Second, 55},
	}
	for _, tt := range tests {
		v, added, ok := s.AtLeast(tt.p, tt.least)
		if !ok || !near(v, tt.v) || added != tt.added {
			t.Errorf("AtLeast(%v, %v) = %v, %d added, %v; want %v, %d added", tt.p, tt.least, v, added, ok, tt.v, tt.added)
		}
	}
	if v, added, ok := merge(t, nil).AtLeast(99, 0); ok || v != 0 || added != 0 {
		t.Errorf("AtLeast of nothing = %v, %d, %v; want nothing", v, added, ok)
	}
}

// Late outcomes keep their latencies: LateOf adds up, for the requests due
// in a span and answered in a window after it, their counts and how long
// they took, and leaves out those due before the span, those due after
// it, and those answered within it.
func TestLateOfKeepsLatencies(t *testing.T) {
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	inside := load.NewTally("s", sec(1))
	inside.AddLate(sec(0), 900*time.Millisecond, "")
	after := load.NewTally("s", sec(2))
	after.AddLate(sec(0), 2*time.Second, "") // due before the span
	after.AddLate(sec(1), 1500*time.Millisecond, "")
	after.AddLate(sec(1), 3*time.Second, load.ClassTimeout)
	after.Add(10*time.Millisecond, "") // due in its own window
	later := load.NewTally("s", sec(3))
	later.AddLate(sec(1), 2500*time.Millisecond, "")
	later.AddLate(sec(2), 4*time.Second, "") // due after the span
	ws := []load.Window{inside.Window(sec(2)), after.Window(sec(3)), later.Window(sec(4))}

	lw, err := load.LateOf(ws, sec(1), sec(2))
	if err != nil {
		t.Fatal(err)
	}
	if lw.Requests != 3 || lw.Successes != 2 || lw.Errors[load.ClassTimeout] != 1 {
		t.Errorf("late %d requests, %d successes, errors %v; want 3, 2 and one timeout", lw.Requests, lw.Successes, lw.Errors)
	}
	if !lw.Start.Equal(sec(2)) || !lw.End.Equal(sec(2)) || lw.Stream != "s" {
		t.Errorf("late window %s %s to %s; want s, of no length at the span's end", lw.Stream, lw.Start, lw.End)
	}
	sum, err := load.Merge(lw)
	if err != nil {
		t.Fatal(err)
	}
	if p50, max := sum.Percentile(50), sum.Latency.Max; p50 < 2490*time.Millisecond || p50 > 2510*time.Millisecond || max < 2990*time.Millisecond || max > 3010*time.Millisecond {
		t.Errorf("late latencies p50 %s, max %s; want 2.5s and 3s (1.5s, 2.5s and 3s)", p50, max)
	}
}
