package dashboard

import (
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// expState is one experiment as the dashboard sees it: a sub-model per
// panel, each fed the runner's events.
type expState struct {
	plan   Plan
	head   header
	steps  stepsPanel
	faults faultsPanel
	checks checksPanel
	load   loadPanel
	result *Result
}

func newExpState(p Plan) *expState {
	return &expState{
		plan:   p,
		head:   header{title: p.Title, file: p.File},
		steps:  newStepsPanel(p.Steps),
		checks: newChecksPanel(p.Checks),
		load:   newLoadPanel(p.Streams),
	}
}

// apply routes an event to every panel; each takes what concerns it.
func (e *expState) apply(ev journal.Event) {
	e.head.apply(ev)
	e.steps.apply(ev)
	e.faults.apply(ev, e.plan)
	e.checks.apply(ev)
	e.load.apply(ev)
}

// running reports whether the run has started and has no verdict yet.
func (e *expState) running() bool { return !e.head.started.IsZero() && e.head.verdict == "" }

// verdict is the verdict so far: from the run, else from the result.
func (e *expState) verdict() string {
	if e.result != nil && e.result.Verdict != "" {
		return e.result.Verdict
	}
	return e.head.verdict
}

// progress is how far along the run is, and how much of its planned
// timeline is left. Finished steps count for their whole planned length,
// so that a skipped wait moves the bar on at once. The share is the time
// elapsed over elapsed and left together, so that the percentage, the
// elapsed time and the time left shown beside it agree; a run without
// planned time counts its finished method steps.
func (e *expState) progress(now time.Time) (frac float64, left time.Duration) {
	if e.head.verdict != "" {
		return 1, 0
	}
	if e.head.started.IsZero() {
		return 0, e.plan.Timeline()
	}
	var method, done time.Duration
	steps, finished := 0, 0
	for _, r := range e.steps.rows {
		if r.Section != journal.PhaseMethod {
			continue
		}
		steps++
		if r.state != statePending && r.state != stateRunning {
			finished++
		}
		method += r.Holds
		switch r.state {
		case statePending:
		case stateRunning:
			done += min(max(now.Sub(r.started), 0), r.Holds)
		default:
			done += r.Holds
		}
	}
	switch e.head.phase {
	case journal.PhaseAfter, journal.PhaseRollbacks:
		done = method + min(max(now.Sub(e.head.phaseAt), 0), e.plan.Recovery)
	}
	total := method + e.plan.Recovery
	if total <= 0 {
		if steps == 0 {
			return 0, 0
		}
		return float64(finished) / float64(steps), 0
	}
	left = total - done
	elapsed := e.head.elapsed(now)
	if elapsed+left <= 0 {
		return 0, left
	}
	return float64(elapsed) / float64(elapsed+left), left
}

// Hold states, as the operator asked and the runner answered.
const (
	holdNone = iota
	holdAsked
	holdWaiting
)

// header is the run as a whole: title, phase, times, verdict.
type header struct {
	title, file     string
	started, ended  time.Time
	phase           string
	phaseAt         time.Time
	verdict, reason string
	hold            int
	aborted         bool
}

func (h *header) apply(ev journal.Event) {
	switch ev.Type {
	case journal.RunStarted:
		h.started = ev.Time
	case journal.PhaseStarted:
		h.phase, h.phaseAt = ev.Phase, ev.Time
		if ev.Phase != journal.PhaseMethod && h.hold == holdAsked {
			// The method holds before its steps only: it ended first.
			h.hold = holdNone
		}
	case journal.RunHeld:
		h.hold = holdWaiting
	case journal.Operator:
		switch ev.Command {
		case journal.Hold:
			if h.hold == holdNone {
				h.hold = holdAsked
			}
		case journal.Continue:
			h.hold = holdNone
		}
	case journal.RunAborted:
		h.aborted = true
	case journal.RunVerdict:
		h.verdict, h.reason, h.ended, h.hold = ev.Verdict, ev.Reason, ev.Time, holdNone
	}
}

// elapsed is the time since the run started, frozen at its end.
func (h *header) elapsed(now time.Time) time.Duration {
	switch {
	case h.started.IsZero():
		return 0
	case !h.ended.IsZero():
		return h.ended.Sub(h.started)
	}
	return now.Sub(h.started)
}

// Step states besides the outcomes of step.finished.
const (
	statePending = "pending"
	stateRunning = "running"
)

type stepRow struct {
	PlanStep
	state   string
	started time.Time
	ended   time.Time
}

// stepsPanel is the method and rollback steps with their states.
type stepsPanel struct{ rows []stepRow }

func newStepsPanel(plan []PlanStep) stepsPanel {
	rows := make([]stepRow, len(plan))
	for i, s := range plan {
		rows[i] = stepRow{PlanStep: s, state: statePending}
	}
	return stepsPanel{rows: rows}
}

func (p *stepsPanel) apply(ev journal.Event) {
	switch ev.Type {
	case journal.StepStarted:
		i := p.find(ev.Step, statePending)
		if i < 0 {
			// A step the plan did not list: show it all the same.
			p.rows = append(p.rows, stepRow{PlanStep: PlanStep{Name: ev.Step, Kind: ev.Kind, Section: journal.PhaseMethod, Planned: ev.Planned, Holds: ev.Planned}})
			i = len(p.rows) - 1
		}
		p.rows[i].state, p.rows[i].started = stateRunning, ev.Time
	case journal.StepFinished:
		if i := p.find(ev.Step, stateRunning); i >= 0 {
			p.rows[i].state, p.rows[i].ended = ev.Outcome, ev.Time
		}
	}
}

// find returns the first row with the name in the state, or -1.
func (p *stepsPanel) find(name, state string) int {
	for i, r := range p.rows {
		if r.Name == name && r.state == state {
			return i
		}
	}
	return -1
}

// current is the running step, else the next pending one, else -1.
func (p *stepsPanel) current() int {
	next := -1
	for i, r := range p.rows {
		if r.state == stateRunning {
			return i
		}
		if next < 0 && r.state == statePending {
			next = i
		}
	}
	return next
}

type faultRow struct {
	step, fault, id string
	desc            string
	injected        time.Time
	planned         time.Duration
	failed          string
}

// faultsPanel is the faults in place now, and those that could not be
// removed.
type faultsPanel struct {
	active   []faultRow
	failed   []faultRow
	reverted int
	// done counts the faults with nothing to revert (a kill): over once
	// applied, never in place.
	done int
}

func (p *faultsPanel) apply(ev journal.Event, plan Plan) {
	switch ev.Type {
	case journal.FaultInjected:
		if ev.Irreversible {
			p.done++
			break
		}
		r := faultRow{step: ev.Step, fault: ev.Fault, id: ev.TargetID, desc: ev.Message, injected: ev.Time}
		for _, s := range plan.Steps {
			if s.Name == ev.Step {
				r.planned = s.Planned
				break
			}
		}
		p.active = append(p.active, r)
	case journal.FaultReverted:
		if i := p.find(ev.Step, ev.TargetID); i >= 0 {
			p.active = append(p.active[:i], p.active[i+1:]...)
		}
		p.reverted++
	case journal.FaultRevertFailed:
		// A fault that failed half way and could not be undone has no
		// fault.injected: it is in place all the same.
		r := faultRow{step: ev.Step, fault: ev.Fault, id: ev.TargetID, desc: ev.Fault + " on " + ev.Message, injected: ev.Time}
		if i := p.find(ev.Step, ev.TargetID); i >= 0 {
			r = p.active[i]
			p.active = append(p.active[:i], p.active[i+1:]...)
		}
		r.failed = ev.Message
		p.failed = append(p.failed, r)
	case journal.StepUndoFailed:
		// An exec step's change whose undo failed is left in place as a
		// fault would be, in the ledger for chaos recover.
		p.failed = append(p.failed, faultRow{step: ev.Step, desc: ev.Message, injected: ev.Time, failed: ev.Message})
	}
}

// find returns the active fault of a step with the id; the step's first
// fault when the event names none. A fault of the step on another target
// is not the one: that of an id no fault has was never injected.
func (p *faultsPanel) find(step, id string) int {
	for i, r := range p.active {
		if r.step == step && (id == "" || r.id == id) {
			return i
		}
	}
	return -1
}

type checkRow struct {
	PlanCheck
	value string
	// observed is the latest observation's values by key, when the
	// event carried them.
	observed map[string]string
	// sampled is set once an observation came in; sampleLast when the
	// latest news is an observation rather than a phase result.
	sampled, sampleLast bool
	ok                  bool
	fails               int
	result, phase       string
	results             map[string]string
	recovered           string
}

// checksPanel is the hypothesis and the abort conditions, with their
// latest observations.
type checksPanel struct {
	rows  []checkRow
	index map[string]int
}

func newChecksPanel(plan []PlanCheck) checksPanel {
	p := checksPanel{rows: make([]checkRow, len(plan)), index: make(map[string]int, len(plan))}
	for i, c := range plan {
		p.rows[i] = checkRow{PlanCheck: c, results: map[string]string{}}
		p.index[c.Name] = i
	}
	return p
}

func (p *checksPanel) apply(ev journal.Event) {
	if ev.Type == journal.PhaseStarted {
		for i := range p.rows {
			p.rows[i].fails = 0
		}
		return
	}
	result, isResult := ev.Type.Result()
	if ev.Check == "" || !isResult && ev.Type != journal.CheckSample && ev.Type != journal.CheckRecovered {
		return
	}
	i, ok := p.index[ev.Check]
	if !ok {
		p.rows = append(p.rows, checkRow{PlanCheck: PlanCheck{Name: ev.Check, Failures: 1}, results: map[string]string{}})
		i = len(p.rows) - 1
		p.index[ev.Check] = i
	}
	r := &p.rows[i]
	switch ev.Type {
	case journal.CheckSample:
		r.value, r.observed = ev.Value, ev.Observed
		r.sampled, r.sampleLast = true, true
		r.ok = ev.OK
		if r.ok {
			r.fails = 0
		} else {
			r.fails++
		}
	case journal.CheckRecovered:
		r.recovered = ev.After.String()
	default:
		r.result, r.phase, r.sampleLast = result, ev.Phase, false
		r.results[ev.Phase] = r.result
	}
}

type point struct {
	at time.Time
	// requests is how many completed in the window: with none, success
	// says nothing.
	requests int64
	rps      float64
	success  float64
	// p99 is the window's p99, or the longest a request still waiting
	// at its end had waited if that is longer: the p99 counts answers
	// only, so a stall, where nothing is answered, would show as no
	// latency at all.
	p99 time.Duration
	// waiting is the number of requests still waiting at the end of the
	// window, waited the longest any of them had waited.
	waiting int64
	waited  time.Duration
}

type streamRow struct {
	PlanStream
	pts []point
}

// loadPanel is the traffic: the last minute of windows per stream.
type loadPanel struct{ rows []streamRow }

// history is how much traffic the sparklines cover.
const history = time.Minute

func newLoadPanel(plan []PlanStream) loadPanel {
	rows := make([]streamRow, len(plan))
	for i, s := range plan {
		rows[i] = streamRow{PlanStream: s}
	}
	return loadPanel{rows: rows}
}

func (p *loadPanel) apply(ev journal.Event) {
	if ev.Type != journal.LoadWindow {
		return
	}
	name := ev.Stream
	i := -1
	for k, r := range p.rows {
		if r.Name == name {
			i = k
			break
		}
	}
	if i < 0 {
		p.rows = append(p.rows, streamRow{PlanStream: PlanStream{Name: name}})
		i = len(p.rows) - 1
	}
	pt := point{at: ev.Time, requests: ev.Requests, rps: ev.RPS, success: ev.Success, p99: max(ev.P99, ev.Waited), waiting: ev.Waiting, waited: ev.Waited}
	if pt.requests == 0 && pt.waiting == 0 {
		// Nothing sent or answered: the sparkline keeps its last share.
		pt.success = 1
		if r := p.rows[i].pts; len(r) > 0 {
			pt.success = r[len(r)-1].success
		}
	}
	r := &p.rows[i]
	r.pts = append(r.pts, pt)
	cut := 0
	for cut < len(r.pts) && r.pts[cut].at.Before(ev.Time.Add(-history)) {
		cut++
	}
	if cut > 0 {
		r.pts = append(r.pts[:0], r.pts[cut:]...)
	}
}
