package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// stream is a running load stream.
type stream struct {
	spec    *experiment.Stream
	started time.Time
	done    chan struct{}
	cutter  load.Cutter
	// methodFrom and methodTo are where the stream's windows were cut at
	// the start and at the end of the method, zero when they were not.
	methodFrom, methodTo time.Time
}

// cut ends the stream's current window now (see load.Cutter) and returns
// where it was cut, or zero when the stream is not running.
func (s *stream) cut() time.Time {
	if t, ok := s.cutter.Cut(); ok {
		return t
	}
	return time.Time{}
}

// startLoad starts every load stream; they run until stopLoad.
func (r *run) startLoad(ctx context.Context) {
	if len(r.exp.Load) == 0 {
		return
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopStreams = cancel
	var wg sync.WaitGroup
	for _, spec := range r.exp.Load {
		ls := load.Stream{
			Name:        spec.Name,
			Rate:        spec.Rate.PerSecond(),
			Timeout:     spec.Timeout.D(),
			MaxInflight: spec.MaxInflight,
			Window:      spec.Window.D(),
			Success:     spec.Success,
		}
		if err := load.Configure(&ls, spec.Kind, spec.Spec); err != nil {
			r.fail(fmt.Errorf("load stream %q: %w", spec.Name, err))
			continue
		}
		s := &stream{spec: spec, started: time.Now(), done: make(chan struct{})}
		ls.Cutter = &s.cutter
		r.streams = append(r.streams, s)
		wg.Add(1)
		r.goSafe(func() {
			defer wg.Done()
			defer close(s.done)
			if err := load.Run(lctx, ls, r.addWindow); err != nil {
				r.fail(fmt.Errorf("load stream %q: %w", spec.Name, err))
			}
		})
		// What is sent, as the method and the URL of an HTTP request: the
		// kind and its target for the other kinds.
		method, target, _ := strings.Cut(spec.Describe(), " ")
		r.rec.record(journal.Event{Type: journal.LoadStarted, Message: fmt.Sprintf("%s: %s at %s", spec.Name, r.rec.m(spec.Describe()), spec.Rate)}, func(j *journal.Journal) {
			j.Streams = append(j.Streams, journal.Stream{Name: spec.Name, Method: method, URL: r.rec.m(target), Rate: spec.Rate.PerSecond()})
		})
	}
	r.loadWG = &wg
}

// stopLoad stops the streams and waits for their last windows.
func (r *run) stopLoad() {
	if r.stopStreams == nil {
		return
	}
	r.stopStreams()
	r.loadWG.Wait()
	r.stopStreams = nil
}

func (r *run) addWindow(w load.Window) {
	// The window carries its own counts and percentiles: no merge needed.
	r.rec.record(journal.WindowEvent(w),
		func(j *journal.Journal) { j.Windows = append(j.Windows, w) })
	// Checks waiting for traffic look again, now that it is recorded.
	r.mu.Lock()
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// windowsChanged returns a channel closed when the next window arrives.
func (r *run) windowsChanged() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wake
}

// streamStart is when a stream started sending.
func (r *run) streamStart(name string) (time.Time, bool) {
	if s := r.streamOf(name); s != nil {
		return s.started, true
	}
	return time.Time{}, false
}

// streamOf returns the running stream of that name, or nil.
func (r *run) streamOf(name string) *stream {
	for _, s := range r.streams {
		if s.spec.Name == name {
			return s
		}
	}
	return nil
}

// requestEvery is the time between two requests of a load check's stream,
// at least a nanosecond; zero for a probe's check.
func (r *run) requestEvery(c *experiment.Check) time.Duration {
	if c.From == "" {
		return 0
	}
	s := r.streamOf(c.From)
	if s == nil {
		return time.Nanosecond
	}
	return max(time.Duration(float64(time.Second)/s.spec.Rate.PerSecond()), time.Nanosecond)
}

// windowsOf returns a stream's windows that lie within [from, to].
func (r *run) windowsOf(name string, from, to time.Time) []load.Window {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []load.Window
	for _, w := range r.rec.j.Windows {
		if w.Stream == name && !w.Start.Before(from) && !w.End.After(to) {
			out = append(out, w)
		}
	}
	return out
}

// recentWindows returns the stream's newest windows that end by end and
// start at notBefore or later, as many as it takes to cover span. Windows
// vary in length (a stream's first one may be longer than a check's
// window), so they are counted back from end rather than cut at end-span,
// which would leave out a window that starts just before the cut.
func (r *run) recentWindows(name string, notBefore, end time.Time, span time.Duration) []load.Window {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []load.Window
	for i := len(r.rec.j.Windows) - 1; i >= 0; i-- {
		w := r.rec.j.Windows[i]
		if w.Stream != name || w.End.After(end) || w.Start.Before(notBefore) {
			continue
		}
		out = append(out, w)
		if end.Sub(w.Start) >= span-time.Millisecond {
			break
		}
	}
	slices.Reverse(out)
	return out
}

// latestEnd is the end of the stream's newest window.
func (r *run) latestEnd(name string) time.Time {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for i := len(r.rec.j.Windows) - 1; i >= 0; i-- {
		if r.rec.j.Windows[i].Stream == name {
			return r.rec.j.Windows[i].End
		}
	}
	return time.Time{}
}

// noRequest says that a span had traffic sent but none of it completed;
// noSuccess that some completed, and all of them failed.
const (
	noRequest = "no request completed"
	noSuccess = "no request succeeded"
)

// judge merges windows and compares them with a load check's expectations.
//
// A latency expectation with a bound T also counts the requests still
// waiting at the end of the span that had waited T or longer by then, at
// that age: they will take at least that, so the value judged is a lower
// bound of the one the span will have once they are answered, shown with a
// "+" when it is not exact. A wanted < T or <= T can then only fail sooner,
// and a wanted > T or >= T holds only on what is known. Waiting requests
// younger than T are left out: counted at their age they would pull the
// value down, and nothing is known yet of how long they will take.
func judge(c *experiment.Check, ws []load.Window) journal.Sample {
	smp := journal.Sample{Time: time.Now()}
	if len(ws) == 0 {
		smp.Reason = "no traffic was recorded"
		return smp
	}
	sum, err := load.Merge(ws...)
	if err != nil {
		smp.Reason = err.Error()
		return smp
	}
	smp.From, smp.To = sum.Start, sum.End
	smp.Time = sum.End
	e := c.Expect.(*experiment.LoadExpect)
	smp.Observed = map[string]string{
		"requests": fmt.Sprint(sum.Requests),
		"rps":      experiment.FormatValue(round(sum.RPS, 1), experiment.UnitNumber),
		"success":  experiment.FormatValue(successShown(sum.Successes, sum.Requests, e.Success.Cond), experiment.UnitPercent),
		"p50":      fmtDur(sum.Latency.P50),
		"p90":      fmtDur(sum.Latency.P90),
		"p99":      fmtDur(sum.Latency.P99),
		"max":      fmtDur(sum.Latency.Max),
	}
	var errCount int64
	for _, n := range sum.Errors {
		errCount += n
	}
	smp.Observed["errors"] = fmt.Sprint(errCount)
	for class, n := range sum.Errors {
		smp.Observed["errors."+class] = fmt.Sprint(n)
	}
	type item struct {
		name string
		cond experiment.Cond
		v    float64
	}
	items := []item{
		{"p50", e.P50.Cond, sum.Latency.P50.Seconds()},
		{"p90", e.P90.Cond, sum.Latency.P90.Seconds()},
		{"p99", e.P99.Cond, sum.Latency.P99.Seconds()},
		{"max", e.Max.Cond, sum.Latency.Max.Seconds()},
		{"success", e.Success.Cond, sum.SuccessRatio},
		{"rps", e.RPS.Cond, sum.RPS},
		{"errors", e.Errors.Cond, float64(errCount)},
	}
	// What was not observed is not judged, and fails the judgement: with
	// no request completed there is no share or count of failures (a
	// success of 0% would say every request failed, 0 errors that none
	// did), and with no request succeeded, as when every one was dropped
	// for max_inflight or refused, there is no latency of the service's
	// answers (0s or the 1ms of a refusal would say all were fast),
	// unless requests waited at least the bound.
	unseen := map[string]bool{}
	if sum.Requests == 0 {
		unseen["success"], unseen["errors"] = true, true
		delete(smp.Observed, "success")
	}
	if sum.Successes == 0 {
		for _, k := range []string{"p50", "p90", "p99", "max"} {
			unseen[k] = true
			delete(smp.Observed, k)
		}
	}
	waited := false
	for i, p := range []float64{50, 90, 99, 100} {
		it := &items[i]
		if it.cond.IsZero() || sum.Inflight == 0 {
			continue
		}
		bound := time.Duration(it.cond.Value * float64(time.Second))
		v, added, ok := sum.AtLeast(p, bound)
		if !ok || added == 0 {
			continue
		}
		waited = true
		it.v = v.Seconds()
		unseen[it.name] = false
		smp.Observed[it.name] = fmtDur(v)
		if v >= bound {
			smp.Observed[it.name] += "+"
		}
	}
	missed := false
	for _, it := range items {
		if it.cond.IsZero() {
			continue
		}
		if unseen[it.name] {
			missed = true
			continue
		}
		if it.cond.Holds(it.v) {
			continue
		}
		if smp.Reason != "" {
			smp.Reason += ", "
		}
		smp.Reason += fmt.Sprintf("%s %s, want %s", it.name, smp.Observed[it.name], it.cond)
	}
	if missed {
		if smp.Reason != "" {
			smp.Reason = ", " + smp.Reason
		}
		if sum.Latency.Histogram != "" {
			smp.Reason = noSuccess + smp.Reason
		} else {
			smp.Reason = noRequest + smp.Reason
		}
	}
	smp.OK = smp.Reason == ""
	// With nothing completed, the requests still waiting tell a stall
	// from a lull, even those younger than the bounds.
	if !smp.OK && (waited || missed && sum.Inflight > 0) {
		smp.Reason += fmt.Sprintf(" (%s still waiting, the oldest for %s)", plural(int(sum.Inflight), "request"), fmtDur(sum.Waiting.Max))
	}
	if !smp.OK && len(sum.Errors) > 0 {
		smp.Reason += " (errors: " + errorText(sum) + ")"
	}
	return smp
}

func errorText(s load.Summary) string {
	out := ""
	for i, c := range s.ErrorClasses() {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", c, s.Errors[c])
	}
	return out
}

// successShown is the share of ok in n requests as a check's observation
// shows it: to 4 decimals (99.95%), more where fewer would say what is not
// so: 1 with a request failed, 0 with one succeeded, or a share on the
// other side of the check's condition from the one judged ("success
// 99.9%, want >= 99.9%" for 99.895%).
func successShown(ok, n int64, c experiment.Cond) float64 {
	exact := float64(ok) / float64(max(n, 1))
	for prec := 4; ; prec++ {
		r := journal.Share(ok, n, prec)
		if prec >= 6 || c.IsZero() {
			return r
		}
		// The share as a reader reads it off the text, as the
		// condition's own value was read: 99.9% is the 0.999 of ">=
		// 99.9%" to the last bit.
		read, err := experiment.ParseCond("== "+experiment.FormatValue(r, experiment.UnitPercent), experiment.UnitPercent)
		if err != nil || c.Holds(read.Value) == c.Holds(exact) {
			return r
		}
	}
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

func fmtDur(d time.Duration) string {
	return experiment.FormatValue(d.Seconds(), experiment.UnitDuration)
}
