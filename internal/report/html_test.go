package report_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/report"
)

func html(t *testing.T, j *journal.Journal) string {
	t.Helper()
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHTMLLeadsWithVerdictAndTimeline checks the order of the page: the
// verdict, the timeline and the charts come before the checks, steps and
// faults.
func TestHTMLLeadsWithVerdictAndTimeline(t *testing.T) {
	s := html(t, readJournal(t, "deviated"))
	last := -1
	for _, mark := range []string{`class="banner`, `<section id="timeline">`, `<section id="load">`, `<section id="checks">`, `<section id="steps">`, `<section id="faults">`} {
		i := strings.Index(s, mark)
		if i < 0 {
			t.Fatalf("the report has no %s", mark)
		}
		if i < last {
			t.Errorf("%s comes before what precedes it in the list", mark)
		}
		last = i
	}
}

// TestHTMLCollapsesRepeatedObservations gives a check twenty identical
// observations between two others: they make one row with the count,
// with every time under a closed details element.
func TestHTMLCollapsesRepeatedObservations(t *testing.T) {
	j := readJournal(t, "deviated")
	c := j.Checks[0]
	t0 := j.Started
	sample := func(s int, ok bool, status string) journal.Sample {
		return journal.Sample{Time: t0.Add(time.Duration(s) * time.Second), Phase: "before", OK: ok, Observed: map[string]string{"status": status}}
	}
	c.Samples = []journal.Sample{sample(0, true, "201")}
	for i := range 20 {
		c.Samples = append(c.Samples, sample(i+1, true, "200"))
	}
	// The same value again after a different one is a row of its own:
	// only runs collapse.
	c.Samples = append(c.Samples, sample(21, false, "500"), sample(22, true, "200"))
	s := html(t, j)
	if n := strings.Count(s, `<summary>×20</summary>`); n != 1 {
		t.Errorf("%d rows say ×20; want 1", n)
	}
	if !strings.Contains(s, "23 observations in 4 rows") {
		t.Error(`the summary does not say "23 observations in 4 rows"`)
	}
	if !strings.Contains(s, "&#43;1s to &#43;20s") {
		t.Error("the repeated row does not span +1s to +20s")
	}

	// A status check whose observations differ only in what it does not
	// judge (the latency): one row, that shows the status, with each
	// observation in full under it.
	c.Expect = map[string]string{"status": "200"}
	c.Samples = nil
	for i := range 12 {
		s := sample(i, true, "200")
		s.Observed["latency"] = (time.Duration(i+1) * time.Millisecond).String()
		c.Samples = append(c.Samples, s)
	}
	s = html(t, j)
	if !regexp.MustCompile(`<summary>×12</summary><span class="mono muted">&#43;0s status 200, latency 1ms<br>`).MatchString(s) {
		t.Error("observations differing in an unjudged value do not share a row that lists each in full")
	}
	if !strings.Contains(s, `<td class="mono">status 200</td>`) {
		t.Error("the shared row does not show the judged status alone")
	}
}

// TestHTMLSuccessAxisIsFixed checks that every chart draws success from 0
// to 100%, whatever the data, and adds the 90-100% panel only where
// something lies there.
func TestHTMLSuccessAxisIsFixed(t *testing.T) {
	ticks := regexp.MustCompile(`text-anchor="end">(\d+%)</text>`)
	for _, name := range []string{"latency", "deviated", "aborted"} {
		s := html(t, readJournal(t, name))
		got := map[string]bool{}
		for _, m := range ticks.FindAllStringSubmatch(s, -1) {
			got[m[1]] = true
		}
		for _, want := range []string{"0%", "25%", "50%", "75%", "100%"} {
			if !got[want] {
				t.Errorf("%s: the success axis has no %s tick", name, want)
			}
		}
	}

	// All at 100% with no threshold near it: no zoom.
	j := readJournal(t, "latency")
	for i := range j.Windows {
		j.Windows[i].Successes = j.Windows[i].Requests
	}
	for _, c := range j.Checks {
		delete(c.Expect, "success")
	}
	if s := html(t, j); strings.Contains(s, "90-100%") {
		t.Error("a run at 100% with no success threshold has a zoomed success panel")
	}
	// One window at 95%: the zoom shows it.
	j.Windows[3].Successes = j.Windows[3].Requests * 95 / 100
	if s := html(t, j); !strings.Contains(s, "success, 90-100%") || !strings.Contains(s, `text-anchor="end">90%</text>`) {
		t.Error("a run with a window at 95% has no zoomed success panel")
	}
}

// TestHTMLMarksEmptyWindows empties three windows in a row: the chart
// shades them with a title that says so, and the lines cross them dotted
// instead of stopping.
func TestHTMLMarksEmptyWindows(t *testing.T) {
	j := readJournal(t, "deviated")
	for i := 4; i < 7; i++ {
		w := &j.Windows[i]
		w.Requests, w.Successes, w.Errors = 0, 0, nil
		w.Latency = load.Latency{}
	}
	s := html(t, j)
	if n := strings.Count(s, `<rect class="gap"`); n < 1 {
		t.Fatal("no band marks the windows where no request completed")
	}
	if !strings.Contains(s, "no request completed from") || !strings.Contains(s, "(3 windows)") {
		t.Error("the band's title does not say that no request completed in 3 windows")
	}
	for _, line := range []string{"p50", "p99", "success"} {
		if !strings.Contains(s, `class="line bridge `+line+`"`) {
			t.Errorf("the %s line stops at the empty windows with no dotted bridge", line)
		}
	}
	if s := html(t, readJournal(t, "latency")); strings.Contains(s, `class="line bridge`) {
		t.Error("a run where every window has requests has a bridged line")
	}
}

// TestHTMLShowsWaiting stalls a stream: in three windows nothing
// completes while 50 requests hang, then answers come back but one
// request still waits. The latency lines only count answers, so the chart
// draws the oldest request still waiting where it is older than the p99,
// and the band of the empty windows says that requests waited there.
func TestHTMLShowsWaiting(t *testing.T) {
	j := readJournal(t, "deviated")
	for i := 4; i < 9; i++ {
		w := &j.Windows[i]
		if i < 7 {
			w.Requests, w.Successes, w.Errors = 0, 0, nil
			w.Latency = load.Latency{}
			w.Inflight = 50
		} else {
			w.Inflight = 1
		}
		w.Waiting = load.Latency{Max: time.Duration(i-3)*time.Second + 200*time.Millisecond}
	}
	s := html(t, j)
	if !strings.Contains(s, "(3 windows), 50 still waiting at its end, the oldest for 3.2s") {
		t.Error("the band of the empty windows does not say that 50 requests still waited, the oldest for 3.2s")
	}
	m := regexp.MustCompile(`<path class="line waited" d="([^"]*)">`).FindStringSubmatch(s)
	if m == nil {
		t.Fatal("the chart has no line of the oldest request still waiting")
	}
	if got := strings.Count(m[1], "M") + strings.Count(m[1], "L"); got != 5 || strings.Count(m[1], "M") != 1 {
		t.Errorf("the waiting line is %q; want one line through the 5 windows that waited longer than their p99", m[1])
	}
	if !strings.Contains(s, "oldest request still waiting</span>") {
		t.Error("the legend does not name the waiting line")
	}
	if !strings.Contains(s, `text-anchor="end">10s</text>`) {
		t.Error("the latency axis does not reach the 5.2s the last request waited")
	}
	// Requests waiting no longer than the p99 of their window are not
	// drawn: they are what any window has in flight.
	j = readJournal(t, "latency")
	for i := range j.Windows {
		j.Windows[i].Inflight, j.Windows[i].Waiting = 2, load.Latency{Max: j.Windows[i].Latency.P99}
	}
	if s := html(t, j); strings.Contains(s, `class="line waited"`) || strings.Contains(s, "oldest request still waiting") {
		t.Error("a run whose waiting requests were younger than the p99 draws a waiting line")
	}
}

// TestHTMLFaultBandsShowStrength checks that a chart's fault band and
// the fault's bar in the timeline are labelled with the fault's settings.
func TestHTMLFaultBandsShowStrength(t *testing.T) {
	s := html(t, readJournal(t, "deviated"))
	if !strings.Contains(s, `class="fault-label"`) || !strings.Contains(s, ">latency (delay 200ms, jitter 20ms) → hello-link<") {
		t.Error("the fault band is not labelled latency (delay 200ms, jitter 20ms) → hello-link")
	}
	if !regexp.MustCompile(`<text class="bar-label" [^>]*>delay 200ms, jitter 20ms</text>`).MatchString(s) {
		t.Error("the fault's bar in the timeline does not show delay 200ms, jitter 20ms")
	}
}

// TestHTMLFaultLabelStaysInThePlot moves a fault near the end of the run:
// its label ends at the plot's right edge instead of running off it.
func TestHTMLFaultLabelStaysInThePlot(t *testing.T) {
	j := readJournal(t, "deviated")
	f := &j.Faults[0]
	f.Injected = j.Ended.Add(-200 * time.Millisecond)
	f.Reverted = j.Ended
	s := html(t, j)
	if !regexp.MustCompile(`<text class="fault-label" x="[\d.]+" y="[\d.]+" text-anchor="end">latency \(delay 200ms`).MatchString(s) {
		t.Error("the label of a fault at the end of the run is not anchored at its end")
	}
}
