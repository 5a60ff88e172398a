package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// Chart geometry, in SVG user units; the SVG scales to the page width.
const (
	chartW      = 960.0
	plotLeft    = 64.0
	plotRight   = 16.0
	plotW       = chartW - plotLeft - plotRight
	latencyH    = 190.0
	successH    = 90.0
	zoomH       = 60.0
	panelGap    = 30.0
	labelRowH   = 14.0
	columns     = 240 // downsampling columns across the plot
	laneH       = 20.0
	gutterW     = 190.0
	timelinePlW = chartW - gutterW - plotRight
)

// timeScale maps times of the run onto x.
type timeScale struct {
	t0, t1    time.Time
	left, w   float64
	secs      float64
	tickEvery time.Duration
}

func newTimeScale(j *journal.Journal, left, w float64) timeScale {
	t0, t1 := extent(j)
	s := timeScale{t0: t0, t1: t1, left: left, w: w, secs: t1.Sub(t0).Seconds()}
	if s.secs <= 0 {
		s.secs = 1
	}
	s.tickEvery = tickInterval(time.Duration(s.secs * float64(time.Second)))
	return s
}

// extent is the span the charts cover: the run, widened to anything
// recorded outside it.
func extent(j *journal.Journal) (t0, t1 time.Time) {
	t0, t1 = j.Started, j.Ended
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
	}
	for _, w := range j.Windows {
		widen(w.Start)
		widen(w.End)
	}
	for _, f := range j.Faults {
		widen(f.Injected)
		widen(f.Reverted)
	}
	for _, s := range j.Steps {
		widen(s.Started)
		widen(s.Ended)
	}
	return t0, t1
}

func (s timeScale) x(t time.Time) float64 { return s.xs(t.Sub(s.t0).Seconds()) }

func (s timeScale) xs(secs float64) float64 {
	return s.left + math.Max(0, math.Min(1, secs/s.secs))*s.w
}

// ticks are the time axis labels, offsets from the start of the run.
func (s timeScale) ticks(j *journal.Journal) []tick {
	var out []tick
	// Ticks count from the start of the run, which may be after t0.
	first := j.Started.Sub(s.t0)
	for d := time.Duration(0); ; d += s.tickEvery {
		secs := (first + d).Seconds()
		if secs > s.secs+1e-9 {
			break
		}
		out = append(out, tick{Pos: s.xs(secs), Label: "+" + trimZero(d.String())})
	}
	return out
}

func tickInterval(span time.Duration) time.Duration {
	for _, iv := range []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	} {
		if span/iv <= 10 {
			return iv
		}
	}
	return 24 * time.Hour
}

type tick struct {
	Pos   float64
	Label string
}

// band is a shaded span of time: a phase or a fault.
type band struct {
	X, W   float64
	LabelY float64
	// LabelX is where a fault's label starts, or ends when LabelEnd.
	LabelX   float64
	LabelEnd bool
	Label    string
	Title    string
	Class    string
}

// hline is a check's threshold drawn across a panel.
type hline struct {
	Y     float64
	Label string
}

// mark is a failed observation of a check, where it failed.
type mark struct {
	X, Y  float64
	Title string
}

type panel struct {
	Top, H float64
	// Name labels the panel.
	Name   string
	Ticks  []tick
	Lines  []series
	Limits []hline
	Marks  []mark
	Empty  bool
}

type series struct {
	Class, Name string
	D           string
	// Bridge is dotted path data across the gaps of the line: windows
	// where no request completed.
	Bridge string
}

// loadChart is the chart of one stream.
type loadChart struct {
	W, H   float64
	PlotX  float64
	PlotW  float64
	PlotR  float64
	Phases []band
	Faults []band
	// Gaps are the spans of windows where no request completed.
	Gaps []band
	// Waited is set when the latency panel has the line of the oldest
	// request still waiting.
	Waited  bool
	Latency panel
	// Success is on the same 0-100% scale in every report; Zoom, when
	// some value or threshold lies between 90% and 100%, shows that
	// range alone.
	Success panel
	Zoom    *panel
	XTicks  []tick
	AxisY   float64
	Desc    string
}

// faultBands are the fault windows, labelled fault and target; labels of
// overlapping faults go on separate rows. rows is the number of label rows.
func faultBands(j *journal.Journal, ts timeScale, top float64) (bands []band, rows int) {
	var rowEnd []float64
	for _, f := range j.Faults {
		end, state, _ := faultState(j, f)
		x0, x1 := ts.x(f.Injected), ts.x(end)
		label := faultLabel(f)
		title := fmt.Sprintf("%s on %s (%s) from %s: %s", f.Text(), f.TargetName, hitText(f.Target), at(j, f.Injected), state)
		// Roughly 6 units per character at the label font size. A label
		// that would run off the plot ends where it does.
		labelW := 6*float64(len([]rune(label))) + 8
		b := band{X: x0, W: math.Max(x1-x0, 1.5), Label: label, Title: title, Class: "fault", LabelX: x0 + 3}
		labelStart := x0
		if right := ts.left + ts.w; x0+labelW > right {
			b.LabelX, b.LabelEnd = right-3, true
			labelStart = math.Max(ts.left, right-labelW)
		}
		row := 0
		for row < len(rowEnd) && rowEnd[row] > labelStart {
			row++
		}
		if row == len(rowEnd) {
			rowEnd = append(rowEnd, 0)
		}
		rowEnd[row] = labelStart + labelW
		b.LabelY = top + float64(row+1)*labelRowH - 3
		bands = append(bands, b)
	}
	return bands, len(rowEnd)
}

// faultLabel names a fault, its strength as its parameters give it, and
// its target: "latency (delay 300ms) → payment-link".
func faultLabel(f journal.Fault) string { return faultName(f, 40) + " → " + f.TargetName }

// faultName is a fault with its parameters, cut to n characters.
func faultName(f journal.Fault, n int) string {
	if p := journal.Strength(f.Params); p != "" {
		return f.Fault + " (" + clip(p, n) + ")"
	}
	return f.Fault
}

// gapBands are the spans of consecutive windows in which no request
// completed, drawn across the panels so that a line that stops there
// says why.
func gapBands(j *journal.Journal, ts timeScale, ws []load.Window, top float64) []band {
	var out []band
	for i := 0; i < len(ws); i++ {
		if ws[i].Requests > 0 {
			continue
		}
		k := i
		for k+1 < len(ws) && ws[k+1].Requests == 0 {
			k++
		}
		from, to := ws[i].Start, ws[k].End
		x0, x1 := ts.x(from), ts.x(to)
		title := fmt.Sprintf("no request completed from %s to %s (%s)", at(j, from), at(j, to), plural(k-i+1, "window"))
		if last := ws[k]; last.Inflight > 0 {
			// Requests hung there: a stall, not a pause in the traffic.
			title += fmt.Sprintf(", %d still waiting at its end, the oldest for %s", last.Inflight, dur(last.Waiting.Max))
		}
		if n := len(out); n > 0 && x0-(out[n-1].X+out[n-1].W) < 1 {
			// Too close to the last band to tell apart: one band.
			out[n-1].W = math.Max(x1-out[n-1].X, 1.5)
			out[n-1].Title = "no request completed in several windows, the last " + title[len("no request completed "):]
		} else {
			out = append(out, band{X: x0, W: math.Max(x1-x0, 1.5), LabelY: top + 12, Label: "nothing completed", Title: title, Class: "gap"})
		}
		i = k
	}
	return out
}

func phaseBands(j *journal.Journal, ts timeScale, y float64) []band {
	var out []band
	for _, p := range j.Phases {
		x0, x1 := ts.x(p.Started), ts.x(p.Ended)
		if p.Ended.IsZero() {
			x1 = ts.x(ts.t1)
		}
		out = append(out, band{X: x0, W: math.Max(x1-x0, 1), LabelY: y, Label: p.Name, Title: fmt.Sprintf("%s: %s to %s", p.Name, at(j, p.Started), at(j, p.Ended)), Class: "phase-" + p.Name})
	}
	return out
}

// newLoadChart draws one stream: p50 and p99 latency on a log scale,
// success rate below, fault windows shaded, thresholds dashed and failed
// checks marked at the value that failed them.
func newLoadChart(j *journal.Journal, d *streamData) loadChart {
	ts := newTimeScale(j, plotLeft, plotW)
	c := loadChart{W: chartW, PlotX: plotLeft, PlotW: plotW, PlotR: plotLeft + plotW}
	c.Phases = phaseBands(j, ts, 12)
	bands, rows := faultBands(j, ts, 18)
	c.Faults = bands
	c.Latency.Top = 22 + float64(rows)*labelRowH
	c.Latency.H = latencyH
	c.Latency.Name = "latency"
	c.Success.Top = c.Latency.Top + latencyH + panelGap
	c.Success.H = successH
	c.Success.Name = "success"
	c.XTicks = ts.ticks(j)

	secs := func(t time.Time) float64 { return t.Sub(ts.t0).Seconds() }
	nan := math.NaN()
	p50 := make([]point, 0, len(d.Windows))
	p99 := make([]point, 0, len(d.Windows))
	ok := make([]point, 0, len(d.Windows))
	// waited is the oldest request still waiting at the end of a window,
	// where it had waited longer than the window's p99: the latencies
	// count only answered requests, so when some hang they stay low, or
	// stop where none is answered, while the requests wait longer and
	// longer.
	waited := make([]point, 0, len(d.Windows))
	anyWaited := false
	for _, w := range d.Windows {
		mid := (secs(w.Start) + secs(w.End)) / 2
		if w.Latency.Histogram == "" && w.Latency.P99 == 0 {
			p50 = append(p50, point{mid, nan})
			p99 = append(p99, point{mid, nan})
		} else {
			p50 = append(p50, point{mid, w.Latency.P50.Seconds()})
			p99 = append(p99, point{mid, w.Latency.P99.Seconds()})
		}
		if w.Inflight > 0 && w.Waiting.Max > w.Latency.P99 {
			waited = append(waited, point{mid, w.Waiting.Max.Seconds()})
			anyWaited = true
		} else {
			waited = append(waited, point{mid, nan})
		}
		if w.Requests == 0 {
			ok = append(ok, point{mid, nan})
		} else {
			ok = append(ok, point{mid, float64(w.Successes) / float64(w.Requests)})
		}
	}
	p50 = downsample(p50, 0, ts.secs, columns)
	p99 = downsample(p99, 0, ts.secs, columns)
	waited = downsample(waited, 0, ts.secs, columns)
	ok = downsample(ok, 0, ts.secs, columns)

	// Thresholds and failed samples of the checks judged on this stream.
	type limit struct {
		v     float64
		label string
	}
	var latLimits, okLimits []limit
	type failed struct {
		t     time.Time
		key   string
		v     float64
		known bool
		title string
	}
	var fails []failed
	for _, ch := range j.Checks {
		if ch.From != d.Stream.Name {
			continue
		}
		for _, e := range parseExpect(ch.Expect) {
			l := limit{e.Value, e.Key + " " + strings.TrimSpace(ch.Expect[e.Key])}
			if ch.Abort {
				l.label = "abort if not " + l.label
			}
			if e.Key == "success" {
				okLimits = append(okLimits, l)
			} else {
				latLimits = append(latLimits, l)
			}
		}
		lastCol := -1
		for _, s := range ch.Samples {
			if s.OK {
				continue
			}
			col := int(secs(s.Time) / ts.secs * columns)
			if col == lastCol {
				continue // one mark per column and check is enough to see
			}
			lastCol = col
			key, v, known := failedValue(s)
			what := "check"
			if ch.Abort {
				what = "abort condition"
			}
			fails = append(fails, failed{s.Time, key, v, known,
				fmt.Sprintf("%s %q failed %s at %s: %s", what, ch.Name, s.Phase, at(j, s.Time), s.Reason)})
		}
	}

	// Latency scale: log, from the lowest p50 to the highest p99, widened
	// to the thresholds and the failed values.
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if v > 0 && !math.IsNaN(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, p := range p50 {
		see(p.V)
	}
	for _, p := range p99 {
		see(p.V)
	}
	for _, p := range waited {
		see(p.V)
	}
	for _, l := range latLimits {
		see(l.v)
	}
	for _, f := range fails {
		if f.known && f.key != "success" {
			see(f.v)
		}
	}
	if math.IsInf(lo, 1) {
		c.Latency.Empty = true
		lo, hi = 0.001, 1
	}
	ls := newLogScale(lo, hi, c.Latency.Top, latencyH)
	c.Latency.Ticks = ls.ticks()
	c.Latency.Lines = []series{lineOf("p50", "p50", p50, ts, ls.y), lineOf("p99", "p99", p99, ts, ls.y)}
	if anyWaited {
		w := lineOf("waited", "oldest request still waiting", waited, ts, ls.y)
		// Where the line stops, nothing waited longer than the p99: no
		// bridge, which would say that nothing was measured there.
		w.Bridge = ""
		c.Latency.Lines = append(c.Latency.Lines, w)
		c.Waited = true
	}
	for _, l := range latLimits {
		c.Latency.Limits = append(c.Latency.Limits, hline{Y: ls.y(l.v), Label: l.label})
	}

	// Success: linear from 0 to 100% in every report, so that a flat line
	// looks flat; a zoomed panel from 90% to 100% where something lies
	// there, values below it on its bottom edge.
	okY := func(v float64) float64 { return c.Success.Top + (1-v)*successH }
	c.Success.Ticks = percentTicks(0, okY)
	c.Success.Lines = []series{lineOf("success", "success", ok, ts, okY)}
	for _, l := range okLimits {
		c.Success.Limits = append(c.Success.Limits, hline{Y: okY(l.v), Label: l.label})
	}
	zoomed := false
	for _, p := range ok {
		zoomed = zoomed || p.V >= zoomLo && p.V < 1
	}
	for _, l := range okLimits {
		zoomed = zoomed || l.v >= zoomLo && l.v < 1
	}
	c.AxisY = c.Success.Top + successH
	var zoomY func(float64) float64
	if zoomed {
		z := &panel{Top: c.AxisY + panelGap, H: zoomH, Name: "success, 90-100% (lower on the bottom edge)"}
		zoomY = func(v float64) float64 {
			return z.Top + (1-(math.Max(v, zoomLo)-zoomLo)/(1-zoomLo))*zoomH
		}
		z.Ticks = percentTicks(zoomLo, zoomY)
		z.Lines = []series{lineOf("success", "success", ok, ts, zoomY)}
		for _, l := range okLimits {
			if l.v >= zoomLo {
				z.Limits = append(z.Limits, hline{Y: zoomY(l.v), Label: l.label})
			}
		}
		c.Zoom = z
		c.AxisY = z.Top + zoomH
	}
	c.H = c.AxisY + 22
	c.Gaps = gapBands(j, ts, d.Windows, c.Latency.Top)
	for _, f := range fails {
		m := mark{X: ts.x(f.t), Title: f.title}
		switch {
		case f.known && f.key == "success":
			m.Y = okY(f.v)
			c.Success.Marks = append(c.Success.Marks, m)
			if c.Zoom != nil && f.v >= zoomLo {
				c.Zoom.Marks = append(c.Zoom.Marks, mark{X: m.X, Y: zoomY(f.v), Title: f.title})
			}
		case f.known:
			m.Y = ls.y(f.v)
			c.Latency.Marks = append(c.Latency.Marks, m)
		default:
			m.Y = c.Latency.Top + 6
			c.Latency.Marks = append(c.Latency.Marks, m)
		}
	}
	lat := "p50, p99"
	if c.Waited {
		lat += ", oldest request still waiting"
	}
	c.Desc = fmt.Sprintf("Latency (%s) and success rate of stream %s over %s, %d windows.", lat, d.Stream.Name, dur(time.Duration(ts.secs*float64(time.Second))), len(d.Windows))
	return c
}

// zoomLo is the bottom of the zoomed success panel.
const zoomLo = 0.9

func lineOf(class, name string, pts []point, ts timeScale, y func(float64) float64) series {
	d, bridge := linePath(pts, ts, y)
	return series{Class: class, Name: name, D: d, Bridge: bridge}
}

// linePath is SVG path data through the points; NaN values break the
// line. bridge joins the ends on either side of each break, to be drawn
// dotted: the line goes on, and the gap shows that nothing was measured.
func linePath(pts []point, ts timeScale, y func(float64) float64) (d, bridge string) {
	var b, g strings.Builder
	b.Grow(len(pts) * 14)
	pen, broken := false, false
	var lastX, lastY string
	for _, p := range pts {
		if math.IsNaN(p.V) {
			broken = pen || broken
			pen = false
			continue
		}
		x, yy := num(ts.xs(p.T)), num(y(p.V))
		if pen {
			b.WriteString("L")
		} else {
			b.WriteString("M")
			pen = true
			if broken && lastX != "" {
				g.WriteString("M" + lastX + " " + lastY + "L" + x + " " + yy)
			}
			broken = false
		}
		b.WriteString(x)
		b.WriteByte(' ')
		b.WriteString(yy)
		lastX, lastY = x, yy
	}
	return b.String(), g.String()
}

func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// logScale maps seconds onto y on a log scale over whole decades or
// 1-2-5 steps.
type logScale struct {
	lo, hi   float64 // log10 of the bounds
	top, h   float64
	decLo    int
	decHi    int
	fineTick bool
}

func newLogScale(lo, hi, top, h float64) logScale {
	dl := int(math.Floor(math.Log10(lo) + 1e-9))
	dh := int(math.Ceil(math.Log10(hi) - 1e-9))
	if dh <= dl {
		dh = dl + 1
	}
	return logScale{lo: float64(dl), hi: float64(dh), top: top, h: h, decLo: dl, decHi: dh, fineTick: dh-dl <= 3}
}

func (s logScale) y(v float64) float64 {
	if v <= 0 {
		return s.top + s.h
	}
	f := (math.Log10(v) - s.lo) / (s.hi - s.lo)
	return s.top + (1-math.Max(0, math.Min(1, f)))*s.h
}

func (s logScale) ticks() []tick {
	var out []tick
	for d := s.decLo; d <= s.decHi; d++ {
		for _, m := range []float64{1, 2, 5} {
			if m != 1 && (!s.fineTick || d == s.decHi) {
				continue
			}
			v := m * math.Pow(10, float64(d))
			out = append(out, tick{Pos: s.y(v), Label: secondsText(v)})
		}
	}
	return out
}

// secondsText labels a latency axis value: 500µs, 2ms, 1s.
func secondsText(v float64) string {
	switch {
	case v >= 1:
		return strconv.FormatFloat(v, 'f', -1, 64) + "s"
	case v >= 1e-3:
		return strconv.FormatFloat(math.Round(v*1e6)/1e3, 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(math.Round(v*1e9)/1e3, 'f', -1, 64) + "µs"
}

func percentTicks(lo float64, y func(float64) float64) []tick {
	step := 0.25
	for _, s := range []float64{0.01, 0.02, 0.05, 0.1, 0.25} {
		if (1-lo)/s <= 5 {
			step = s
			break
		}
	}
	var out []tick
	for v := 1.0; v >= lo-1e-9; v -= step {
		out = append(out, tick{Pos: y(v), Label: strconv.FormatFloat(math.Round(v*100), 'f', -1, 64) + "%"})
	}
	return out
}

// timeline is the run drawn as lanes: phases, steps, faults and the
// observations of every check.
type timeline struct {
	W, H    float64
	PlotX   float64
	PlotR   float64
	Phases  []band
	Shades  []band
	Lanes   []lane
	XTicks  []tick
	AxisY   float64
	GutterW float64
}

type lane struct {
	Y, Mid float64
	Label  string
	Title  string
	Bars   []band
	Dots   []dot
}

type dot struct {
	X     float64
	Class string
	Title string
}

func newTimeline(j *journal.Journal) timeline {
	ts := newTimeScale(j, gutterW, timelinePlW)
	tl := timeline{W: chartW, PlotX: gutterW, PlotR: gutterW + timelinePlW, GutterW: gutterW}
	tl.Phases = phaseBands(j, ts, 12)
	y := 20.0
	add := func(l lane) {
		l.Y, l.Mid = y, y+laneH/2
		l.Label = clip(l.Label, 30)
		tl.Lanes = append(tl.Lanes, l)
		y += laneH
	}
	for _, s := range j.Steps {
		end := s.Ended
		if end.IsZero() {
			end = ts.t1
		}
		x0, x1 := ts.x(s.Started), ts.x(end)
		title := fmt.Sprintf("%s step %q (%s): %s at %s, took %s", s.Section, s.Name, s.Kind, s.Outcome, at(j, s.Started), dur(end.Sub(s.Started)))
		if s.Error != "" {
			title += ": " + s.Error
		}
		add(lane{Label: s.Name, Title: title, Bars: []band{{X: x0, W: math.Max(x1-x0, 2), Class: "step-" + s.Outcome, Title: title}}})
	}
	for _, f := range j.Faults {
		end, state, bad := faultState(j, f)
		x0, x1 := ts.x(f.Injected), ts.x(end)
		class := "fault"
		if bad {
			class = "fault-bad"
		}
		title := fmt.Sprintf("%s on %s, hit %s, injected at %s, %s", f.Text(), f.TargetName, hitText(f.Target), at(j, f.Injected), state)
		bar := band{X: x0, W: math.Max(x1-x0, 2), Class: class, Title: title}
		// The fault's settings beside its bar: after it, else before it,
		// else over it.
		if p := journal.Strength(f.Params); p != "" {
			bar.Label = clip(p, 40)
			w := 6 * float64(len([]rune(bar.Label)))
			switch {
			case x1+4+w <= tl.PlotR:
				bar.LabelX = x1 + 4
			case x0-4-w >= tl.PlotX:
				bar.LabelX, bar.LabelEnd = x0-4, true
			default:
				bar.LabelX = x0 + 3
			}
		}
		add(lane{Label: f.Fault + " → " + f.TargetName, Title: title, Bars: []band{bar}})
		tl.Shades = append(tl.Shades, band{X: x0, W: math.Max(x1-x0, 1.5), Class: "fault"})
	}
	for _, c := range j.Checks {
		l := lane{Label: c.Name, Title: "check " + c.Name + ": " + c.ExpectText()}
		if c.Abort {
			l.Label = "abort: " + c.Name
			l.Title = "abort condition " + c.Name + ": " + c.ExpectText()
		}
		// One dot per column: the first failure in it if any, else the
		// first observation.
		lastCol, lastOK := -1, false
		for _, s := range c.Samples {
			col := int(s.Time.Sub(ts.t0).Seconds() / ts.secs * columns)
			if col == lastCol && (!lastOK || s.OK) {
				continue
			}
			d := dot{X: ts.x(s.Time), Class: "held", Title: fmt.Sprintf("%s at %s: held: %s", s.Phase, at(j, s.Time), observedText(s.Observed))}
			if !s.OK {
				d.Class = "broken"
				d.Title = fmt.Sprintf("%s at %s: %s", s.Phase, at(j, s.Time), s.Reason)
			}
			if col == lastCol {
				l.Dots[len(l.Dots)-1] = d
			} else {
				l.Dots = append(l.Dots, d)
			}
			lastCol, lastOK = col, s.OK
		}
		add(l)
	}
	tl.AxisY = y + 4
	tl.H = tl.AxisY + 22
	tl.XTicks = ts.ticks(j)
	return tl
}

// clip shortens a label to n characters.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
