package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// HourJournal builds the journal of a one-hour run: three streams with a
// window a second each (3,600 windows per stream), three faults, checks
// observed every second, and an event per window, as the runner records
// them.
func HourJournal(tb testing.TB) *journal.Journal {
	tb.Helper()
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	j := &journal.Journal{
		SchemaVersion: journal.SchemaVersion, RunID: "20260102T100000Z-hour", ToolVersion: "test", Host: "ci",
		File: "experiments/hour.yaml", Title: "An hour of Black Friday traffic with a slow and a dead payment service",
		Started: t0, Ended: sec(3600), Verdict: journal.Deviated, Seed: 1,
		Reason: `check "checkout stays fast" broke during the method: p99 412ms, want < 300ms`,
		Phases: []journal.Phase{
			{Name: "before", Started: t0, Ended: sec(60)},
			{Name: "method", Started: sec(60), Ended: sec(3540)},
			{Name: "after", Started: sec(3540), Ended: sec(3600)},
		},
		Streams: []journal.Stream{
			{Name: "browse", Method: "GET", URL: "http://127.0.0.1:8080/cart/42", Rate: 50},
			{Name: "checkout", Method: "POST", URL: "http://127.0.0.1:8080/orders", Rate: 20},
			{Name: "search", Method: "GET", URL: "http://127.0.0.1:8080/search?q=book", Rate: 100},
		},
		Faults: []journal.Fault{
			{Step: "latency payment-link", Fault: "latency", TargetName: "payment-link", Target: journal.Target{Kind: "proxy", ID: "payment-link", Name: "127.0.0.1:9091 -> 127.0.0.1:9090"},
				Injected: sec(1200), Reverted: sec(1800)},
			{Step: "kill payment", Fault: "kill", TargetName: "payment-container", Target: journal.Target{Kind: "docker", ID: "3f2a1c9b7d11", Name: "payment-1"},
				Injected: sec(2400), Irreversible: true},
			{Step: "errors payment-link", Fault: "http_error", TargetName: "payment-link", Target: journal.Target{Kind: "proxy", ID: "payment-link", Name: "127.0.0.1:9091 -> 127.0.0.1:9090"},
				Injected: sec(2700), Reverted: sec(2820)},
		},
	}
	j.Steps = []journal.Step{
		{Name: "wait 19m", Kind: "wait", Section: "method", Started: sec(60), Ended: sec(1200), Outcome: journal.StepDone, Planned: 19 * time.Minute},
		{Name: "latency payment-link", Kind: "fault", Section: "method", Started: sec(1200), Ended: sec(1800), Outcome: journal.StepDone, Planned: 10 * time.Minute},
		{Name: "kill payment", Kind: "fault", Section: "method", Started: sec(2400), Ended: sec(2400), Outcome: journal.StepDone},
		{Name: "errors payment-link", Kind: "fault", Section: "method", Started: sec(2700), Ended: sec(2820), Outcome: journal.StepDone, Planned: 2 * time.Minute},
		{Name: "wait 12m", Kind: "wait", Section: "method", Started: sec(2820), Ended: sec(3540), Outcome: journal.StepDone, Planned: 12 * time.Minute},
	}

	// A few windows per stream and mood, reused across the hour: encoding
	// a histogram per window would make the test slow, not the report.
	r := rand.New(rand.NewPCG(7, 8))
	type mood int
	const (
		calm mood = iota
		slow
		failing
	)
	templates := map[string][3][]load.Window{}
	for _, s := range j.Streams {
		var set [3][]load.Window
		for m := calm; m <= failing; m++ {
			for range 8 {
				tl := load.NewTally(s.Name, t0)
				for range int(s.Rate) {
					lat := time.Duration(1+r.ExpFloat64()*4) * time.Millisecond
					class := ""
					switch m {
					case slow:
						lat += time.Duration(200+r.IntN(250)) * time.Millisecond
					case failing:
						if r.IntN(10) == 0 {
							class = "5xx"
						}
					}
					tl.Add(lat, class)
				}
				set[m] = append(set[m], tl.Window(t0.Add(time.Second)))
			}
		}
		templates[s.Name] = set
	}
	moodAt := func(s int) mood {
		switch {
		case s >= 1200 && s < 1800:
			return slow
		case s >= 2700 && s < 2820:
			return failing
		}
		return calm
	}
	for s := range 3600 {
		for _, st := range j.Streams {
			w := templates[st.Name][moodAt(s)][s%8]
			w.Start, w.End = sec(s), sec(s+1)
			j.Windows = append(j.Windows, w)
			j.Events = append(j.Events, journal.Event{Time: sec(s + 1), Type: "load.window", Message: fmt.Sprintf("%s: %d requests", st.Name, w.Requests)})
		}
	}

	check := &journal.Check{Name: "checkout stays fast", Kind: "load", From: "checkout", Failures: 1,
		Expect: map[string]string{"p99": "< 300ms", "success": ">= 99%"}, When: []string{"before", "during", "after"},
		Results: map[string]string{"before": journal.Held, "during": journal.Broken, "after": journal.Held},
		Reasons: map[string]string{"during": "p99 412ms, want < 300ms"}, BrokeAt: sec(1201),
		Recovered: &journal.Recovery{At: sec(1803), After: 3 * time.Second, OK: true}}
	abort := &journal.Check{Name: "shop still answers", Kind: "load", From: "browse", Abort: true, Failures: 3,
		Expect: map[string]string{"success": ">= 50%"}, When: []string{"during"}, Results: map[string]string{"during": journal.Held}}
	for s := 1; s <= 3600; s++ {
		phase := "during"
		if s <= 60 {
			phase = "before"
		} else if s > 3540 {
			phase = "after"
		}
		m := moodAt(s - 1)
		ok := m == calm
		obs := map[string]string{"p99": "9.1ms", "success": "100%", "requests": "20"}
		reason := ""
		switch m {
		case slow:
			obs["p99"] = fmt.Sprintf("%dms", 400+s%50)
			reason = "p99 " + obs["p99"] + ", want < 300ms"
		case failing:
			obs["success"] = "90%"
			reason = "success 90%, want >= 99%"
		}
		check.Samples = append(check.Samples, journal.Sample{Time: sec(s), Phase: phase, OK: ok, Observed: obs, Reason: reason, From: sec(s - 1), To: sec(s)})
		if phase == "during" {
			abort.Samples = append(abort.Samples, journal.Sample{Time: sec(s), Phase: phase, OK: true, Observed: map[string]string{"success": "100%"}, From: sec(s - 1), To: sec(s)})
		}
	}
	j.Checks = []*journal.Check{check, abort}
	return j
}

// TestHourHTMLSize checks that an hour of traffic renders to a page that
// stays small: charts are downsampled, tables merged.
func TestHourHTMLSize(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a one-hour journal")
	}
	j := HourJournal(t)
	b, err := HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 2 << 20
	if len(b) >= limit {
		t.Errorf("HTML of a one-hour journal is %d bytes; want < %d", len(b), limit)
	}
	t.Logf("HTML of a one-hour journal (%d windows): %d bytes", len(j.Windows), len(b))
}

func BenchmarkHourHTML(b *testing.B) {
	j := HourJournal(b)
	var size int
	for b.Loop() {
		out, err := HTML(j)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/page")
	if perOp := b.Elapsed() / time.Duration(b.N); perOp >= time.Second {
		b.Errorf("rendering a one-hour journal takes %v; want < 1s", perOp)
	}
}

func BenchmarkHourJUnit(b *testing.B) {
	j := HourJournal(b)
	for b.Loop() {
		if _, err := JUnit(j); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHourMarkdown(b *testing.B) {
	j := HourJournal(b)
	for b.Loop() {
		_ = Markdown(j)
	}
}

// TestSummarizeIsMerge checks that the table rows, merged here from decoded
// histograms, are what load.Merge gives for the same windows.
func TestSummarizeIsMerge(t *testing.T) {
	for _, name := range []string{"latency", "deviated", "aborted"} {
		j, err := journal.Read("testdata/" + name + ".journal.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range streams(j) {
			if err := d.summarize(); err != nil {
				t.Fatal(err)
			}
			checkRow := func(what string, got stat, ws []load.Window) {
				want, err := load.Merge(ws...)
				if err != nil {
					t.Fatal(err)
				}
				if got.Requests != want.Requests || got.Successes != want.Successes ||
					got.P50 != want.Latency.P50 || got.P90 != want.Latency.P90 || got.P99 != want.Latency.P99 || got.Max != want.Latency.Max {
					t.Errorf("%s %s %s: got %+v; load.Merge gives %+v", name, d.Stream.Name, what, got, want)
				}
			}
			checkRow("total", d.Total, d.Windows)
			for _, row := range d.Rows {
				var ws []load.Window
				for _, w := range d.Windows {
					if !w.Start.Before(row.Start.Truncate(d.Interval)) && w.Start.Before(row.Start.Truncate(d.Interval).Add(d.Interval)) {
						ws = append(ws, w)
					}
				}
				if len(ws) != row.Windows {
					t.Fatalf("%s row at %s: %d windows; found %d", name, row.Start, row.Windows, len(ws))
				}
				checkRow("row at "+row.Start.String(), row, ws)
			}
		}
	}
}

func TestRowIntervalOfHour(t *testing.T) {
	j := HourJournal(t)
	d := streams(j)[0]
	if got := rowInterval(d.Windows); got != time.Minute {
		t.Errorf("rowInterval(one hour of 1s windows) = %v; want 1m", got)
	}
}

// TestDownsampleKeepsExtremes checks that a spike of one point in a
// thousand survives downsampling, as do gaps.
func TestDownsampleKeepsExtremes(t *testing.T) {
	var pts []point
	for i := range 10000 {
		v := 1.0
		switch i {
		case 4321:
			v = 50
		case 777:
			v = -3
		case 9000:
			v = math.NaN()
		}
		pts = append(pts, point{T: float64(i), V: v})
	}
	got := downsample(pts, 0, 10000, 100)
	if len(got) > 4*100+100 {
		t.Errorf("downsample to 100 columns kept %d points", len(got))
	}
	var hi, lo float64
	gaps := 0
	for i, p := range got {
		if math.IsNaN(p.V) {
			gaps++
			continue
		}
		hi, lo = math.Max(hi, p.V), math.Min(lo, p.V)
		if i > 0 && p.T < got[i-1].T {
			t.Fatalf("points out of order at %d: %v after %v", i, p.T, got[i-1].T)
		}
	}
	if hi != 50 || lo != -3 || gaps != 1 {
		t.Errorf("downsample kept max %v, min %v, %d gaps; want 50, -3, 1", hi, lo, gaps)
	}
}
