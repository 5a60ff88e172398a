package runner

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/probe"
)

// checkState is one check's record and its run of consecutive failures.
type checkState struct {
	c     *experiment.Check
	rec   *journal.Check
	abort bool
	fails int
}

func (r *run) initChecks() {
	add := func(c *experiment.Check, abort bool) {
		kind := "probe"
		if c.From != "" {
			kind = "load"
		}
		rec := &journal.Check{Name: c.Name, Kind: kind, Abort: abort, From: c.From, Expect: experiment.ExpectText(c.Expect),
			When: c.When, Failures: c.Failures, Results: map[string]string{}, Samples: []journal.Sample{}}
		if c.Probe != nil && len(rec.Expect) == 0 {
			if k, ok := probe.Lookup(c.Probe.Kind); ok {
				rec.Default = k.Doc.Default
			}
		}
		r.rec.j.Checks = append(r.rec.j.Checks, rec)
		r.checks = append(r.checks, &checkState{c: c, rec: rec, abort: abort})
	}
	for _, c := range r.exp.SteadyState {
		add(c, false)
	}
	for _, c := range r.exp.AbortWhen {
		add(c, true)
	}
}

// record adds a sample to a check, with the faults in effect while it was
// made, and emits it.
func (r *run) record(cs *checkState, phase string, smp journal.Sample) {
	smp.Phase = phase
	smp.Reason = r.rec.m(smp.Reason)
	smp.Observed = r.maskAll(smp.Observed)
	r.rec.recordFunc(func(j *journal.Journal) journal.Event {
		smp.Faults = r.rec.faultsInEffect(smp.Start(), smp.End())
		cs.rec.Samples = append(cs.rec.Samples, smp)
		value := observedText(smp.Observed)
		if !smp.OK {
			value = smp.Reason
			if len(smp.Faults) > 0 {
				value += " (under " + stepList(j, smp.Faults) + ")"
			}
		}
		ev := journal.SampleEvent(cs.c.Name, phase, smp.OK, value)
		ev.Observed = smp.Observed
		return ev
	})
}

func observedText(obs map[string]string) string {
	keys := make([]string, 0, len(obs))
	for k := range obs {
		// A command's last lines stay in the journal, out of the one-line
		// message.
		if !strings.HasPrefix(k, "errors.") && k != "stdout" && k != "stderr" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + obs[k]
	}
	return strings.Join(parts, ", ")
}

// result sets a check's outcome in a phase and emits it.
func (r *run) result(cs *checkState, phase, result, reason string) {
	msg := fmt.Sprintf("%s %s %s", cs.c.Name, result, phase)
	if reason != "" {
		msg += ": " + reason
	}
	r.rec.record(journal.Event{Type: journal.CheckResult(result), Check: cs.c.Name, Phase: phase, Message: msg}, func(*journal.Journal) {
		cs.rec.Results[phase] = result
		if reason != "" {
			if cs.rec.Reasons == nil {
				cs.rec.Reasons = map[string]string{}
			}
			cs.rec.Reasons[phase] = r.rec.m(reason)
		}
	})
}

// stepList quotes step names for a message.
func stepList(j *journal.Journal, steps []string) string {
	q := make([]string, len(steps))
	for i, s := range steps {
		q[i] = strconv.Quote(s)
		if f := j.StepFault(s); f != s {
			// The fault's strength, after its step's name.
			q[i] += strings.TrimPrefix(f, s)
		}
	}
	return strings.Join(q, " and ")
}

// probeSample runs a check's probe once. It gives the probe its own time
// limit and no more, so that a probe that hangs is a failed observation.
// The error says the probe could not observe at all (a command that cannot
// start): that is the experiment's fault, and no observation.
func (r *run) probeSample(ctx context.Context, c *experiment.Check) (journal.Sample, error) {
	start := time.Now()
	spec, err := r.expandOutputs(c.Probe.Spec)
	if err != nil {
		return journal.Sample{Started: start, Time: time.Now(), Reason: err.Error()}, err
	}
	limit := probe.Limit(spec)
	pctx, cancel := context.WithTimeout(ctx, limit+time.Second)
	defer cancel()
	res := probe.Run(pctx, c.Probe.Kind, spec, c.Expect)
	smp := journal.Sample{Started: start, Time: time.Now(), OK: res.OK, Observed: res.Observed, Reason: res.Reason}
	if !res.Since.IsZero() && res.Since.Before(start) {
		// What it judged was there from then on: a fault injected
		// after it was not seen.
		smp.Data = res.Since
		smp.Note = fmt.Sprintf("judged data from %s before the probe ran", fmtDur(start.Sub(res.Since)))
	}
	if !res.OK && ctx.Err() == nil && pctx.Err() != nil {
		smp.Reason = fmt.Sprintf("no answer within the probe's %s: %s", limit, res.Reason)
	}
	return smp, res.Err
}

// unobserved records that a check could not observe a phase it is meant
// for. The run is then an error: a verdict about what was not seen would
// be a guess.
func (r *run) unobserved(cs *checkState, phase, why string) {
	r.result(cs, phase, journal.Unobserved, why)
	r.fail(fmt.Errorf("check %q could not be judged %s: %s", cs.c.Name, journal.PhaseText(phase), why))
}

// checkOnce judges every check of a phase once (a probe with its retries, a
// load check over its window of traffic recorded after since) and reports
// whether all held.
func (r *run) checkOnce(ctx context.Context, phase string, since time.Time) bool {
	var wg sync.WaitGroup
	for _, cs := range r.checks {
		if cs.abort || !cs.c.Runs(phase) {
			continue
		}
		wg.Add(1)
		r.goSafe(func() {
			defer wg.Done()
			var smp journal.Sample
			var err error
			held := ""
			if cs.c.From != "" {
				smp = r.loadOnce(ctx, cs.c, since)
			} else {
				var failed []journal.Sample
				smp, failed, err = r.probeWithRetries(ctx, cs.c)
				if ctx.Err() != nil {
					return
				}
				// A pass after failed tries is a system that failed
				// and then passed: the tries stay in the journal, and
				// the result says so.
				for _, f := range failed {
					r.record(cs, phase, f)
				}
				if err == nil && smp.OK && len(failed) > 0 {
					held = fmt.Sprintf("on try %d of %d, after %s that failed: %s", len(failed)+1, cs.c.Retries+1, tries(len(failed)), failed[0].Reason)
				}
				if err == nil && stalePass(smp, since) {
					smp, err = r.probeFresh(ctx, cs.c, smp, since)
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.unobserved(cs, phase, err.Error())
				return
			}
			r.record(cs, phase, smp)
			if stalePass(smp, since) {
				r.unobserved(cs, phase, fmt.Sprintf("it passed on data from %s before the faults ended, what Prometheus last scraped, and Prometheus had scraped nothing newer %s after they ended",
					fmtDur(since.Sub(smp.Data)), fmtDur(smp.Started.Sub(since))))
				return
			}
			if smp.OK {
				r.result(cs, phase, journal.Held, held)
			} else {
				r.result(cs, phase, journal.Broken, smp.Reason)
			}
		})
	}
	wg.Wait()
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, cs := range r.checks {
		if cs.rec.Results[phase] == journal.Broken {
			return false
		}
	}
	return true
}

// stalePass reports whether a probe's observation passed on data older
// than since, such as what Prometheus scraped before the faults ended: it
// says nothing of the system since.
func stalePass(smp journal.Sample, since time.Time) bool {
	return smp.OK && !smp.Data.IsZero() && smp.Data.Before(since)
}

// maxStaleWait bounds how long a check waits for data newer than the end of
// the faults.
const maxStaleWait = time.Minute

// probeFresh observes again, every interval of the check, until the data
// its probe reads is from since on, or it fails: a source that refreshes
// its data every so often (Prometheus's scrape interval) has newer data
// within twice the age of what it gave. It returns the last observation.
func (r *run) probeFresh(ctx context.Context, c *experiment.Check, smp journal.Sample, since time.Time) (journal.Sample, error) {
	deadline := time.Now().Add(min(max(2*smp.Started.Sub(smp.Data), c.Interval.D()), maxStaleWait))
	for stalePass(smp, since) && time.Now().Before(deadline) {
		if !r.sleepCtx(ctx, c.Interval.D()) {
			break
		}
		var err error
		if smp, err = r.probeSample(ctx, c); err != nil {
			return smp, err
		}
	}
	return smp, nil
}

// probeWithRetries runs a check's probe until it passes or its retries are
// spent. It returns the last observation, and the failed ones before it.
func (r *run) probeWithRetries(ctx context.Context, c *experiment.Check) (smp journal.Sample, failed []journal.Sample, err error) {
	for attempt := 0; attempt <= c.Retries; attempt++ {
		if attempt > 0 {
			if !r.sleepCtx(ctx, c.Interval.D()) {
				break
			}
			failed = append(failed, smp)
		}
		smp, err = r.probeSample(ctx, c)
		if smp.OK || err != nil {
			return smp, failed, err
		}
	}
	return smp, failed, nil
}

// tries says how many tries: "1 try", "2 tries".
func tries(n int) string {
	if n == 1 {
		return "1 try"
	}
	return fmt.Sprintf("%d tries", n)
}

func (r *run) sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// loadOnce waits until a check's window of traffic, all of it after since,
// has been recorded, and judges it.
func (r *run) loadOnce(ctx context.Context, c *experiment.Check, since time.Time) journal.Sample {
	start, ok := r.streamStart(c.From)
	if !ok {
		return journal.Sample{Time: time.Now(), Reason: fmt.Sprintf("load stream %q is not running", c.From)}
	}
	if since.After(start) {
		start = since
	}
	stopped := r.streamOf(c.From).done
	for {
		wake := r.windowsChanged()
		end := r.latestEnd(c.From)
		if !end.IsZero() && end.Sub(start) >= c.Window.D()-time.Millisecond {
			ws := r.recentWindows(c.From, start, end, c.Window.D())
			var late int64
			if len(ws) > 0 {
				ws, late = r.withLate(ctx, c, r.streamOf(c.From), ws, ws[0].Start, end)
			}
			smp := judge(c, ws)
			if late > 0 {
				smp.Note = fmt.Sprintf("with the outcomes of %s sent in the judged traffic that came after it", plural(int(late), "request"))
			}
			return smp
		}
		select {
		case <-wake:
		case <-stopped:
			// A stream that stopped early (its command could not start)
			// records no more windows: waiting for them would never end.
			if r.latestEnd(c.From).Equal(end) {
				return journal.Sample{Time: time.Now(), Reason: fmt.Sprintf("load stream %q stopped", c.From)}
			}
		case <-ctx.Done():
			return journal.Sample{Time: time.Now(), Reason: "interrupted"}
		}
	}
}

// judgeLoadNow judges an assert step over the most recent window of
// traffic sent since since, the start of the last step that acted on the
// system, waiting for it if there is not a window of it yet: traffic from
// before says nothing of what that step did, such as the window that ended
// as a fault began.
func (r *run) judgeLoadNow(ctx context.Context, c *experiment.Check, since time.Time) (journal.Sample, bool) {
	smp := r.loadOnce(ctx, c, since)
	return smp, smp.OK
}

// watch observes the during checks and abort conditions until the phase
// ends. ctx is the run's: when it ends, the run is interrupted. When only
// phase ends, what is still being observed is finished and judged: a probe
// running then is awaited up to its time limit, and a load check judges
// the traffic recorded since its last judgement.
func (r *run) watch(ctx, phase context.Context, wg *sync.WaitGroup) {
	for _, cs := range r.checks {
		if !cs.abort && !cs.c.Runs(experiment.During) {
			continue
		}
		wg.Add(1)
		r.goSafe(func() {
			defer wg.Done()
			if cs.c.From != "" {
				r.watchLoad(ctx, phase, cs)
			} else {
				r.watchProbe(ctx, phase, cs)
			}
		})
	}
}

func (r *run) watchProbe(ctx, phase context.Context, cs *checkState) {
	for {
		smp, err := r.probeSample(ctx, cs.c)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.unobserved(cs, experiment.During, err.Error())
			return
		}
		if phase.Err() != nil {
			smp.Note = "started during the method and finished after it ended"
		}
		r.observeDuring(cs, smp)
		if !r.sleepCtx(phase, cs.c.Interval.D()) {
			return
		}
	}
}

func (r *run) watchLoad(ctx, phase context.Context, cs *checkState) {
	// Each judgement covers fresh traffic, a check window of it, so that
	// failures: N means N bad windows in a row and one bad second cannot
	// fail several overlapping judgements.
	// The first judgement starts where the stream was cut as the method
	// began: a window begun before it holds traffic from before the
	// faults, which dilutes theirs.
	s := r.streamOf(cs.c.From)
	judged := r.latestEnd(cs.c.From)
	if s != nil && !s.methodFrom.IsZero() {
		judged = s.methodFrom
	} else if judged.IsZero() {
		judged, _ = r.streamStart(cs.c.From)
	}
	from := judged
	for {
		wake := r.windowsChanged()
		if end := r.latestEnd(cs.c.From); end.Sub(judged) >= cs.c.Window.D()-time.Millisecond {
			r.observeDuring(cs, judge(cs.c, r.windowsOf(cs.c.From, judged, end)))
			judged = end
		}
		select {
		case <-wake:
		case <-phase.Done():
			if ctx.Err() == nil {
				// The last window ends where the stream was cut once the
				// faults were gone: one that went on past it held the
				// healthy traffic after them.
				end := time.Now()
				if s != nil && !s.methodTo.IsZero() {
					end = s.methodTo
				}
				r.judgeRest(ctx, cs, from, judged, end)
			}
			return
		}
	}
}

// judgeRest judges the traffic of the phase that no judgement covered yet,
// even when it is less than the check's window: traffic that is never
// judged cannot break a check. It waits for the window in which the phase
// ended, up to one stream window longer. A check on the share or count of
// failures also waits for the outcomes of the requests sent from from to
// the end of the phase that were still waiting then, up to the stream's
// timeout, and counts them: a request held by a fault fails only once its
// timeout comes, after the fault, and unjudged it left the check holding
// on the requests that came back.
func (r *run) judgeRest(ctx context.Context, cs *checkState, from, judged, phaseEnd time.Time) {
	s := r.streamOf(cs.c.From)
	if s == nil {
		return
	}
	wait := time.NewTimer(s.spec.Window.D() + time.Second)
	defer wait.Stop()
	for {
		wake := r.windowsChanged()
		if !r.latestEnd(cs.c.From).Before(phaseEnd) {
			break
		}
		select {
		case <-wake:
			continue
		case <-ctx.Done():
			return
		case <-s.done:
		case <-wait.C:
		}
		break
	}
	end := r.latestEnd(cs.c.From)
	var rest []load.Window
	for _, w := range r.windowsOf(cs.c.From, judged, end) {
		if w.Start.Before(phaseEnd) {
			rest = append(rest, w)
		}
	}
	if len(rest) == 0 {
		return
	}
	r.rec.mu.Lock()
	broken := cs.rec.Results[experiment.During] == journal.Broken
	r.rec.mu.Unlock()
	var late int64
	if !broken {
		rest, late = r.withLate(ctx, cs.c, s, rest, from, phaseEnd)
	}
	// A rest shorter than the time between two requests may hold none:
	// nothing completed in it, nothing waited at its end and nothing came
	// later. No request was sent in it, which is no outage and says
	// nothing of the faults. A check left with no observation of the
	// method at all cannot be judged (closeDuring).
	if sum, err := load.Merge(rest...); err == nil && sum.Requests == 0 && sum.Inflight == 0 {
		return
	}
	smp := judge(cs.c, rest)
	if span := smp.To.Sub(smp.From); span < cs.c.Window.D()-time.Millisecond {
		smp.Note = fmt.Sprintf("judged on the last %s of traffic of the method, less than the check's %s window", span.Round(time.Millisecond), cs.c.Window)
	}
	if late > 0 {
		if smp.Note != "" {
			smp.Note += "; "
		}
		smp.Note += fmt.Sprintf("with the outcomes of %s sent during the method that came after it", plural(int(late), "request"))
	}
	r.observeDuring(cs, smp)
}

// withLate adds to ws, the windows a load check judges, the outcomes of
// the requests of stream s due from from to end that came in a window
// starting at end or later, once none due before end is still waiting (up
// to the stream's timeout), when the check judges the share or count of
// failures or a latency: a request a fault held fails only at its timeout,
// or is answered only once the fault is gone, after the judged span, and
// unjudged it left the check holding on the requests that came back fast.
// late is how many there were.
func (r *run) withLate(ctx context.Context, c *experiment.Check, s *stream, ws []load.Window, from, end time.Time) (_ []load.Window, late int64) {
	e := c.Expect.(*experiment.LoadExpect)
	if len(ws) == 0 || e.Success.IsZero() && e.Errors.IsZero() && e.P50.IsZero() && e.P90.IsZero() && e.P99.IsZero() && e.Max.IsZero() {
		return ws, 0
	}
	lw, settled, ok := r.lateOutcomes(ctx, s, from, end)
	if !ok {
		return ws, 0
	}
	if settled {
		// A window of no length at the end of the last: every request of
		// the span is now known, and none is waiting any more, so it is
		// the newest, whose waiting requests Merge counts (none).
		lw.Start = ws[len(ws)-1].End
	} else {
		// Some are still waiting: a window of no length at the start of
		// the first adds counts, and the span's last window still says
		// what waits. Latencies are left out, as the waiting requests'
		// ages already count those old enough.
		lw.Start, lw.Latency = ws[0].Start, load.Latency{}
	}
	lw.End = lw.Start
	return append(ws, lw), lw.Requests
}

// lateOutcomes waits until no request of stream s due before phaseEnd is
// still waiting, up to the stream's timeout, and returns the outcomes of
// those due from from to phaseEnd that came in windows starting at
// phaseEnd or later, as a window's counts and latencies. settled is true
// when none was still waiting; ok is false when there are none.
func (r *run) lateOutcomes(ctx context.Context, s *stream, from, phaseEnd time.Time) (lw load.Window, settled, ok bool) {
	wait := time.NewTimer(s.spec.Timeout.D() + s.spec.Window.D() + time.Second)
	defer wait.Stop()
	for {
		wake := r.windowsChanged()
		if settled = r.settled(s.spec.Name, phaseEnd); settled {
			break
		}
		select {
		case <-wake:
			continue
		case <-ctx.Done():
			return load.Window{}, false, false
		case <-s.done:
		case <-wait.C:
		}
		break
	}
	lw, err := load.LateOf(r.windowsOf(s.spec.Name, phaseEnd, time.Now().Add(time.Hour)), from, phaseEnd)
	if err != nil {
		r.fail(fmt.Errorf("load stream %q: %w", s.spec.Name, err))
		return load.Window{}, false, false
	}
	return lw, settled, lw.Requests > 0
}

// settled reports whether the newest window of a stream ended with no
// request due before t still waiting.
func (r *run) settled(name string, t time.Time) bool {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for i := len(r.rec.j.Windows) - 1; i >= 0; i-- {
		if w := r.rec.j.Windows[i]; w.Stream == name {
			return !w.End.Before(t) && (w.Inflight == 0 || !w.End.Add(-w.Waiting.Max).Before(t))
		}
	}
	return false
}

// observeDuring counts consecutive failures; the check breaks, or the abort
// fires, when they reach the tolerance.
func (r *run) observeDuring(cs *checkState, smp journal.Sample) {
	r.record(cs, experiment.During, smp)
	r.rec.mu.Lock()
	if smp.OK {
		cs.fails = 0
	} else {
		cs.fails++
	}
	breaks := !smp.OK && cs.fails == cs.c.Failures && cs.rec.Results[experiment.During] != journal.Broken
	if breaks {
		cs.rec.BrokeAt = smp.Time
	}
	r.rec.mu.Unlock()
	if !breaks {
		return
	}
	reason := smp.Reason
	if cs.c.Failures > 1 {
		reason = fmt.Sprintf("%s (%d failures in a row)", reason, cs.fails)
	}
	r.result(cs, experiment.During, journal.Broken, reason)
	r.rec.update(func(j *journal.Journal) {
		if faults := cs.rec.Samples[len(cs.rec.Samples)-1].Faults; len(faults) > 0 {
			reason += " (under " + stepList(j, faults) + ")"
		}
	})
	if cs.abort {
		r.abort(cs.c.Name, reason)
		r.revertAll(context.Background())
		return
	}
	r.deviate(fmt.Sprintf("check %q broke during the method: %s", cs.c.Name, reason))
}

// closeDuring ends the during phase of each check. One that never broke
// held, if it observed the method: a check without an observation of the
// method, or, when the method injected faults, without one that saw a
// fault (sawFault), cannot be judged, and the run is an error (unless it
// already ended in one, or was aborted).
func (r *run) closeDuring() {
	r.rec.mu.Lock()
	faulted := len(r.rec.j.Faults) > 0
	early, unreached := r.rec.earlyNote(""), r.rec.anyUnreached()
	r.rec.mu.Unlock()
	for _, cs := range r.checks {
		if !cs.abort && !cs.c.Runs(experiment.During) {
			continue
		}
		load, every := cs.c.From != "", r.requestEvery(cs.c)
		r.rec.mu.Lock()
		res, n, inEffect, underFaultOK, underFaultFailed := cs.rec.Results[experiment.During], 0, 0, 0, 0
		var lastUnder journal.Sample
		// passedGone: after its last failure under a fault, it passed,
		// but no pass counted as seeing a fault.
		var passedGone bool
		// The oldest data a probe read that was from before a fault it
		// ran under.
		var oldest time.Duration
		for _, smp := range cs.rec.Samples {
			if smp.Phase != experiment.During {
				continue
			}
			n++
			for _, f := range r.rec.j.Faults {
				if !smp.Data.IsZero() && smp.Data.Before(f.Injected) && !smp.Started.Before(f.Injected) {
					oldest = max(oldest, smp.Started.Sub(smp.Data))
				}
			}
			if len(smp.Faults) > 0 {
				inEffect++
			}
			switch {
			case !smp.OK && len(smp.Faults) > 0:
				lastUnder = smp
				underFaultFailed++
				passedGone = false
			case smp.OK && r.rec.sawAnyFault(every, smp):
				underFaultOK++
			case smp.OK && underFaultFailed > 0:
				passedGone = true
			}
		}
		// The faults the last failure was under that were gone before
		// their revert came.
		var goneNote string
		for _, f := range r.rec.j.Faults {
			if goneNote == "" && f.EndedEarly != "" && slices.Contains(lastUnder.Faults, f.Step) {
				goneNote = r.rec.earlyNote(f.Step)
			}
		}
		r.rec.mu.Unlock()
		if res != "" {
			continue
		}
		if !cs.abort && underFaultFailed > 0 && underFaultOK == 0 && passedGone && goneNote != "" && !r.isAborted() {
			// The streak did not end with the method: the check passed
			// after it, but only once the fault was gone (a frozen
			// process that its supervisor replaced), which does not
			// count as the system coping with the fault, nor as it
			// failing for as long as failures: N asks.
			r.unobserved(cs, experiment.During, fmt.Sprintf("it failed %s made while a fault was in effect, fewer than %d in a row, and passed only once the fault was gone%s",
				allOf(underFaultFailed, "observation"), cs.c.Failures, goneNote))
			continue
		}
		if !cs.abort && underFaultFailed > 0 && underFaultOK == 0 && !r.isAborted() {
			// failures: N tolerates a short streak among passing
			// observations; it cannot make a check hold that failed every
			// observation made while a fault was in effect, only because
			// the method ended before the streak reached N.
			r.breakCutShort(cs, lastUnder, underFaultFailed)
			continue
		}
		if cs.abort && underFaultFailed > 0 && underFaultOK == 0 && !r.isAborted() {
			// Nor did such an abort condition hold: it did not fire.
			why := fmt.Sprintf("it failed %s made while a fault was in effect, and passed none, but the method ended before %d failures in a row (%s)",
				allOf(underFaultFailed, "observation"), cs.c.Failures, lastUnder.Reason)
			r.result(cs, experiment.During, journal.Skipped, why)
			r.warn(fmt.Sprintf("abort condition %q did not fire: %s", cs.c.Name, why))
			continue
		}
		var why string
		switch {
		case !faulted && r.failedToRun() && slices.ContainsFunc(r.exp.Method, func(s *experiment.Step) bool { return s.Fault != "" }):
			// The method stopped on an error before its first fault was
			// on: what the check saw was the system left alone, not
			// under a fault, and "held" would read as the hypothesis
			// holding under it.
			why = "no fault was in effect: the method stopped on an error before any was on"
		case n == 0 && load:
			why = fmt.Sprintf("no traffic of load stream %q was recorded during the method", cs.c.From)
		case n == 0:
			why = "no observation finished during the method"
		case !faulted || underFaultOK > 0 || underFaultFailed > 0:
		case inEffect > 0 && unreached != "":
			why = fmt.Sprintf("none of its %s was made under a fault that met traffic%s", plural(n, "observation"), unreached)
		case load && inEffect > 0 && early == "":
			why = fmt.Sprintf("none of its %s was made while a fault was on for as long as the %s between two requests of load stream %q",
				plural(n, "observation"), fmtDur(every), cs.c.From)
		case inEffect == 0 || load:
			why = fmt.Sprintf("none of its %s was made while a fault was in effect", plural(n, "observation"))
			if !load && early == "" {
				why += fmt.Sprintf(" (it observes every %s)", cs.c.Interval)
			}
			why += early
		default:
			// A probe's one answer may have been made at any moment
			// while it ran: before the fault was on, or once its revert
			// began. A window of load traffic holds the requests sent
			// under the fault, and judges them.
			why = fmt.Sprintf("none of its %s was made while a fault was on for the whole of it (it observes every %s)%s", plural(n, "observation"), cs.c.Interval, early)
			if oldest > 0 {
				why += fmt.Sprintf("; they read data up to %s old, what Prometheus last scraped, from before the fault was on", fmtDur(oldest))
			}
		}
		switch {
		case why == "":
			r.result(cs, experiment.During, journal.Held, "")
		case r.isAborted() || r.failedToRun():
			// The run already has its verdict; the method was cut short.
			r.result(cs, experiment.During, journal.Skipped, why)
		case cs.abort:
			// An abort condition guards the run; it is not part of the
			// hypothesis, so the verdict does not hang on it.
			r.result(cs, experiment.During, journal.Skipped, why)
			r.warn(fmt.Sprintf("abort condition %q did not guard the method: %s", cs.c.Name, why))
		default:
			r.unobserved(cs, experiment.During, why)
		}
	}
	r.markUnseen()
	r.faultsUnobserved()
}

// markUnseen names, in each passing observation of the method, the fault
// steps that were in effect at some moment of it but that it does not
// count as observing (sawFault): a probe that waited out the revert, a
// window in which the fault was on too briefly. What each fault did to
// the checks (journal.ByFault) leaves them out, so that it cannot say a
// check held under a fault that the verdict says no check observed.
func (r *run) markUnseen() {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, cs := range r.checks {
		every := r.requestEvery(cs.c)
		for k := range cs.rec.Samples {
			smp := &cs.rec.Samples[k]
			if smp.Phase != experiment.During || !smp.OK {
				continue
			}
			for _, step := range smp.Faults {
				saw := false
				for i, f := range r.rec.j.Faults {
					if f.Step == step && r.rec.sawFault(every, *smp, i) {
						saw = true
					}
				}
				if !saw {
					smp.Unseen = append(smp.Unseen, step)
				}
			}
		}
	}
}

// faultsUnobserved makes the run an error for each fault step that no
// check of the hypothesis observed while its fault was in effect, when
// some check is judged during the method: each check may have observed
// another fault, and none this one. An observation counts as it does for
// closeDuring (sawFault).
func (r *run) faultsUnobserved() {
	if r.isAborted() || r.failedToRun() {
		return
	}
	every := map[*checkState]time.Duration{}
	for _, cs := range r.checks {
		every[cs] = r.requestEvery(cs.c)
	}
	r.rec.mu.Lock()
	watched := false
	seen := map[string]bool{}
	for _, cs := range r.checks {
		if cs.abort || !cs.c.Runs(experiment.During) {
			continue
		}
		watched = true
		for _, smp := range cs.rec.Samples {
			if smp.Phase != experiment.During {
				continue
			}
			for i, f := range r.rec.j.Faults {
				if r.rec.sawFault(every[cs], smp, i) {
					seen[f.Step] = true
				}
			}
		}
	}
	var unseen []string
	for _, f := range r.rec.j.Faults {
		if !seen[f.Step] && !slices.Contains(unseen, f.Step) {
			unseen = append(unseen, f.Step)
		}
	}
	r.rec.mu.Unlock()
	if !watched {
		return
	}
	for _, step := range unseen {
		r.rec.mu.Lock()
		why := r.rec.earlyNote(step)
		r.rec.mu.Unlock()
		r.fail(fmt.Errorf("no check observed the system while the fault of step %q was in effect, so the hypothesis was not judged under it%s", step, why))
	}
}

// breakCutShort breaks a check whose every observation under a fault
// failed, though fewer in a row than its failures: N.
func (r *run) breakCutShort(cs *checkState, last journal.Sample, n int) {
	reason := fmt.Sprintf("%s (failed %s made while a fault was in effect, and passed none; the method ended before %d failures in a row)",
		last.Reason, allOf(n, "observation"), cs.c.Failures)
	r.rec.mu.Lock()
	cs.rec.BrokeAt = last.Time
	r.rec.mu.Unlock()
	r.result(cs, experiment.During, journal.Broken, reason)
	if len(last.Faults) > 0 {
		r.rec.update(func(j *journal.Journal) { reason += " (under " + stepList(j, last.Faults) + ")" })
	}
	r.deviate(fmt.Sprintf("check %q broke during the method: %s", cs.c.Name, reason))
}

// allOf says "the 1 observation" or "all 3 observations".
func allOf(n int, noun string) string {
	if n == 1 {
		return "the 1 " + noun
	}
	return fmt.Sprintf("all %d %ss", n, noun)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// checkAfter judges the after checks. With recovery, each is observed until
// it holds or the deadline passes, and the time it took is recorded.
func (r *run) checkAfter(ctx context.Context, methodRan bool, methodEnd time.Time) {
	// Recovery is measured from the moment the system is left alone: the
	// last revert, or the end of the method when steps ran after it.
	base := r.rec.lastRevert()
	if base.Before(methodEnd) {
		base = methodEnd
	}
	if r.exp.Recovery == nil || !methodRan {
		if !r.checkOnce(ctx, experiment.After, base) {
			r.deviate("the steady state did not hold after the method: " + r.brokenSummary(experiment.After))
		}
		return
	}
	deadline := base.Add(r.exp.Recovery.Within.D())
	var wg sync.WaitGroup
	for _, cs := range r.checks {
		if cs.abort || !cs.c.Runs(experiment.After) {
			continue
		}
		wg.Add(1)
		r.goSafe(func() {
			defer wg.Done()
			r.recover(ctx, cs, base, deadline)
		})
	}
	wg.Wait()
}

// recover observes one check after the faults until it holds or the deadline
// passes.
func (r *run) recover(ctx context.Context, cs *checkState, base, deadline time.Time) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// A window of traffic that began by the deadline is judged, though it
	// ends after it: the time to recover counts to its start.
	wctx := dctx
	if s := r.streamOf(cs.c.From); s != nil {
		width := s.spec.Window.D()
		if width == 0 {
			width = load.DefaultWindow
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(width+time.Second))
		defer cancel()
	}
	var last journal.Sample
	// The window the revert fell in ends where the stream was cut once the
	// faults were gone, a moment before base.
	first := base
	if s := r.streamOf(cs.c.From); s != nil && !s.methodTo.IsZero() && !s.methodTo.After(first) {
		first = s.methodTo.Add(-time.Nanosecond)
	}
	seen := first
	for {
		var smp journal.Sample
		if cs.c.From != "" {
			// Each new window is judged on its own, from the one the revert
			// fell in: the time to recover is then known to within one
			// window. That one holds traffic from under the faults, which
			// may be most of it: its failure says the system had not
			// recovered yet, its pass says little of the system left
			// alone, and counts for nothing.
			wake := r.windowsChanged()
			ws := r.windowsOf(cs.c.From, seen.Add(-time.Hour), time.Now().Add(time.Hour))
			var next *load.Window
			for i := range ws {
				if ws[i].End.After(seen) {
					next = &ws[i]
					break
				}
			}
			if next == nil {
				select {
				case <-wake:
					continue
				case <-wctx.Done():
				}
				break
			}
			if next.Start.After(deadline) {
				break
			}
			seen = next.End
			// The requests due in it and still waiting when it closed
			// count too: a system that holds some of them has not
			// recovered, though all that came back succeeded.
			ws, late := r.withLate(ctx, cs.c, r.streamOf(cs.c.From), []load.Window{*next}, next.Start, next.End)
			smp = judge(cs.c, ws)
			if late > 0 {
				smp.Note = fmt.Sprintf("with the outcomes of %s sent in the window that came after it", plural(int(late), "request"))
			}
			if smp.OK && next.Start.Before(base) {
				continue
			}
		} else {
			var err error
			smp, err = r.probeSample(dctx, cs.c)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.unobserved(cs, experiment.After, err.Error())
				return
			}
			if dctx.Err() != nil && !smp.OK {
				// A probe still running at the deadline is an answer too:
				// the system did not give a good one in time.
				smp.Reason = "still running at the recovery deadline: " + smp.Reason
			}
		}
		r.record(cs, experiment.After, smp)
		last = smp
		if stalePass(smp, base) {
			// Data from before the faults ended says nothing of the
			// recovery: observe again.
			if dctx.Err() != nil || !r.sleepCtx(dctx, cs.c.Interval.D()) {
				break
			}
			continue
		}
		if smp.OK {
			r.result(cs, experiment.After, journal.Held, "")
			return
		}
		if dctx.Err() != nil || cs.c.From == "" && !r.sleepCtx(dctx, cs.c.Interval.D()) {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	if stalePass(last, base) {
		r.unobserved(cs, experiment.After, fmt.Sprintf("its last observation passed on data from %s before the faults ended, what Prometheus last scraped, and none read newer data by the recovery deadline", fmtDur(base.Sub(last.Data))))
		return
	}
	reason := last.Reason
	if reason == "" {
		reason = "no observation completed"
	}
	r.rec.update(func(*journal.Journal) {
		cs.rec.Recovered = &journal.Recovery{OK: false, After: r.exp.Recovery.Within.D()}
	})
	r.result(cs, experiment.After, journal.Broken, reason)
	r.deviate(fmt.Sprintf("check %q did not recover within %s: %s", cs.c.Name, r.exp.Recovery.Within, reason))
}

// recoveryTimes records how long each check that failed during or after
// the method took to hold again once the faults had ended: from the end
// of the last fault to end before its first passing observation after its
// last failed one (the fault's revert, or its injection when it had
// nothing to revert, like a kill) to the start of that observation, so
// that a slow probe does not count its own time. Checks that never failed
// get no time: they had nothing to recover from.
func (r *run) recoveryTimes() {
	type end struct {
		at   time.Time
		step string
		text string
	}
	r.rec.mu.Lock()
	var ends []end
	for _, f := range r.rec.j.Faults {
		switch {
		case f.Irreversible:
			ends = append(ends, end{f.Injected, f.Step, fmt.Sprintf("%q was injected (it has nothing to revert)", f.Step)})
		case !f.Reverted.IsZero():
			ends = append(ends, end{f.Reverted, f.Step, fmt.Sprintf("%q was reverted", f.Step)})
		}
	}
	type found struct {
		cs  *checkState
		rec *journal.Recovery
		ev  journal.Event
	}
	var all []found
	for _, cs := range r.checks {
		if cs.abort || cs.rec.Recovered != nil {
			continue
		}
		ss := cs.rec.Samples
		lastFail := -1
		for i, smp := range ss {
			if smp.Phase != experiment.Before && !smp.OK {
				lastFail = i
			}
		}
		if lastFail < 0 {
			continue
		}
		// The first observation to pass that began once a fault had ended:
		// one that began while every fault was still on says the check
		// coped, not that it recovered.
		var pass *journal.Sample
		var since end
		for i := lastFail + 1; i < len(ss) && pass == nil; i++ {
			if !ss[i].OK {
				continue
			}
			for _, e := range ends {
				if !e.at.After(ss[i].Start()) && e.at.After(since.at) {
					since, pass = e, &ss[i]
				}
			}
		}
		if pass == nil {
			continue
		}
		after := pass.Start().Sub(since.at)
		d := after.Round(time.Millisecond)
		all = append(all, found{cs, &journal.Recovery{At: pass.Start(), After: after, OK: true, Since: since.at, Fault: since.step},
			journal.Event{Type: journal.CheckRecovered, Check: cs.c.Name,
				Message: fmt.Sprintf("%s recovered %s after %s", cs.c.Name, d, since.text), After: d, Since: since.step}})
	}
	r.rec.mu.Unlock()
	for _, f := range all {
		r.rec.record(f.ev, func(*journal.Journal) { f.cs.rec.Recovered = f.rec })
	}
}

// brokenSummary names the checks broken in a phase with their reasons.
func (r *run) brokenSummary(phase string) string {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var parts []string
	for _, cs := range r.checks {
		if cs.rec.Results[phase] == journal.Broken {
			parts = append(parts, fmt.Sprintf("check %q: %s", cs.c.Name, cs.rec.Reasons[phase]))
		}
	}
	return strings.Join(parts, "; ")
}
