// Package runner carries out one experiment: it starts the declared
// services, the long-lived targets and the load, checks the steady state
// before, runs the method while watching the hypothesis and the abort
// conditions, reverts every fault, checks that the system recovers, and
// decides the verdict. It reports what happens as events to sinks and keeps
// the journal; it never formats text for a terminal.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/probe"
)

// The names an abort records in place of an abort condition's.
const (
	operatorCheck    = journal.AbortByOperator
	haltCheck        = journal.AbortByHalt
	maxDurationCheck = journal.AbortByMaxDuration
)

// Options are the settings of one run.
type Options struct {
	RunID     string
	ReportDir string
	// LedgerDir holds the run's ledger; ledger.DefaultDir() when empty.
	LedgerDir   string
	ToolVersion string
	// Only limits the run to these phases (journal.RunPhases); empty runs
	// all.
	Only []string
	// Seed makes random picks reproducible.
	Seed  uint64
	Sinks []journal.Sink
	// Commands carries operator commands; nil when nobody steers.
	Commands <-chan journal.Command
	// RevertTimeout bounds the reverts after an interrupt; 60 s when zero.
	RevertTimeout time.Duration
	// Protected names local processes no fault may hit (chaos's watchdog),
	// by pid, with what they are.
	Protected map[int]string
	// FlushTimeout bounds how long the run waits, after its verdict, for
	// the sinks that are journal.Flushers (notifiers); 10 s when zero.
	FlushTimeout time.Duration
}

// run is the state of one experiment run.
type run struct {
	exp  *experiment.Experiment
	opts Options
	env  *inject.Env
	led  *ledger.Ledger
	rec  *recorder

	// mu guards the run's own state; the journal is the recorder's.
	mu      sync.Mutex
	active  []*applied
	outputs map[string]map[string]string
	wake    chan struct{} // closed and replaced when a load window arrives
	held    bool          // the operator holds the run until resume closes
	resume  chan struct{}

	abortOnce sync.Once
	abortCh   chan struct{}
	haltOnce  sync.Once
	haltCh    chan struct{} // closed when the run cannot go on (a service died)
	skip      chan struct{}

	rollbacks   map[*experiment.Step]*pendingCommand // recorded, not run yet
	services    []*service
	streams     []*stream
	stopStreams context.CancelFunc
	background  sync.WaitGroup // background faults waiting for their for
	methodDone  chan struct{}  // closed when the method's steps are over
	deadline    time.Time      // when max_duration ends the run; zero without one
	loadWG      *sync.WaitGroup
	checks      []*checkState
	// acted is when the last step that acts on the system (a fault, a
	// command) began: an assert judges the traffic sent since. Only the
	// steps' goroutine uses it.
	acted time.Time
}

// Run carries out the experiment and returns its journal, which is also
// written to the report directory. ctx ends the run early as interrupted:
// every fault is still reverted before Run returns.
func Run(ctx context.Context, exp *experiment.Experiment, opts Options) *journal.Journal {
	host, _ := os.Hostname()
	r := &run{
		exp:        exp,
		opts:       opts,
		outputs:    map[string]map[string]string{},
		wake:       make(chan struct{}),
		abortCh:    make(chan struct{}),
		haltCh:     make(chan struct{}),
		skip:       make(chan struct{}, 1),
		methodDone: make(chan struct{}),
		rollbacks:  map[*experiment.Step]*pendingCommand{},
	}
	r.rec = &recorder{sinks: opts.Sinks, mask: exp.Masker(),
		j: &journal.Journal{
			SchemaVersion: journal.SchemaVersion,
			RunID:         opts.RunID,
			ToolVersion:   opts.ToolVersion,
			Host:          host,
			File:          exp.File,
			Title:         exp.Title,
			Description:   exp.Description,
			Tags:          exp.Tags,
			Experiment:    exp.Resolved,
			Seed:          opts.Seed,
			Only:          opts.Only,
			Started:       time.Now(),
			ReportDir:     opts.ReportDir,
			Steps:         []journal.Step{},
			Faults:        []journal.Fault{},
			Checks:        []*journal.Check{},
			Events:        []journal.Event{},
		},
	}
	r.env = inject.NewEnv(opts.Seed, func(msg string) { r.warn(msg) })
	r.env.Protected = opts.Protected
	r.env.Engines = exp.Engines
	r.env.RunID = opts.RunID
	ctx = inject.WithEnv(ctx, r.env)
	ctx = probe.WithMask(ctx, r.rec.m)
	r.led = ledger.Create(cmp.Or(opts.LedgerDir, ledger.DefaultDir()), opts.RunID, exp.File)
	r.initChecks()

	r.emit(journal.Event{Type: journal.RunStarted, Message: fmt.Sprintf("%q from %s", exp.Title, exp.File), RunID: opts.RunID, Seed: opts.Seed})
	if err := r.led.Begin(); err != nil {
		r.warn(fmt.Sprintf("chaos halt will not find this run until it records a change: %v", err))
	}
	for _, w := range exp.Warnings() {
		r.warn(w.Error())
	}
	if d := exp.MaxDuration.D(); d > 0 {
		// The run ends itself once it has taken max_duration: an abort,
		// which reverts every fault.
		r.deadline = r.rec.j.Started.Add(d)
		t := time.AfterFunc(d, func() {
			r.abort(maxDurationCheck, fmt.Sprintf("the run took its max_duration of %s", exp.MaxDuration), maxDurationCheck)
		})
		defer t.Stop()
	}
	if opts.Commands != nil {
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		r.goSafe(func() { r.listen(lctx, opts.Commands) })
	}
	// The phase the run was in when it was told to stop, for the verdict:
	// by the time it is decided, the run has moved on to revert.
	stopWatch := context.AfterFunc(ctx, func() {
		r.rec.update(func(*journal.Journal) {
			if !r.rec.stoppedSet {
				r.rec.stoppedIn, r.rec.stoppedSet = r.rec.phase, true
				r.rec.errsAtStop = len(r.rec.errs)
			}
		})
	})
	r.execute(ctx)
	stopWatch()
	r.finish(ctx)
	r.rec.maskJournal()
	return r.rec.j
}

func (r *run) enabled(phase string) bool {
	return len(r.opts.Only) == 0 || slices.Contains(r.opts.Only, phase)
}

func (r *run) emit(ev journal.Event) { r.rec.emit(ev) }
func (r *run) warn(msg string)       { r.rec.warn(msg) }
func (r *run) fail(err error)        { r.rec.fail(err) }
func (r *run) deviate(reason string) { r.rec.deviate(reason) }
func (r *run) failedToRun() bool     { return r.rec.failedToRun() }

// goSafe runs fn in a goroutine of its own. A panic there is a bug in
// chaos: rather than end the process with exit 2 and leave the faults to
// the watchdog, the run records it as an error (exit 4), stops its method
// and reverts as on any other error.
func (r *run) goSafe(fn func()) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Errorf("internal error: %v (this is a bug in chaos; the stack follows)\n%s", p, debug.Stack()))
				r.halt()
			}
		}()
		fn()
	}()
}

// recoverPanic is execute's answer to a panic on the run's own goroutine,
// a bug in chaos as in goSafe: the run records it as an error, reverts the
// faults still on and runs the rollbacks the method left, then ends as any
// other run does, with its journal and reports. A panic in the rollbacks
// themselves leaves the rest in the ledger for chaos recover.
func (r *run) recoverPanic(ctx context.Context) {
	p := recover()
	if p == nil {
		return
	}
	r.fail(fmt.Errorf("internal error: %v (this is a bug in chaos; the stack follows)\n%s", p, debug.Stack()))
	r.halt()
	ctx = context.WithoutCancel(ctx)
	r.revertAll(ctx)
	if len(r.rollbacks) == 0 {
		return
	}
	if r.rec.currentPhase() != journal.PhaseRollbacks {
		r.runRollbacks(ctx)
		return
	}
	for _, s := range r.exp.Rollbacks {
		if _, left := r.rollbacks[s]; left {
			r.rec.leftBehind(fmt.Errorf("rollback %q did not run; it is left in the ledger %s for chaos recover", s.Name, r.led.Path()), true)
		}
	}
}

// abort stops the method and reverts every fault: an abort condition
// named check fired, or, by set, the operator, chaos halt or max_duration
// aborted the run.
func (r *run) abort(check, reason string, by ...string) {
	r.abortOnce.Do(func() {
		a := &journal.Abort{Check: check, At: time.Now(), Reason: r.rec.m(reason)}
		if len(by) > 0 {
			a.By = by[0]
		}
		msg := check + ": " + reason
		if a.By != "" {
			msg = reason
		}
		r.rec.record(journal.Event{Type: journal.RunAborted, Check: check, Message: msg}, func(j *journal.Journal) {
			j.Abort = a
		})
		close(r.abortCh)
	})
}

// halt ends the method early because the run cannot be carried out (a
// service it needs exited): the steps stop and the faults are reverted. The
// reason is recorded with fail.
func (r *run) halt() { r.haltOnce.Do(func() { close(r.haltCh) }) }

// stopped reports whether the method must end now: aborted or halted.
func (r *run) stopped() bool {
	select {
	case <-r.abortCh:
		return true
	case <-r.haltCh:
		return true
	default:
		return false
	}
}

func (r *run) isAborted() bool {
	select {
	case <-r.abortCh:
		return true
	default:
		return false
	}
}

// listen applies operator commands until the run ends.
func (r *run) listen(ctx context.Context, cmds <-chan journal.Command) {
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-cmds:
			if !ok {
				return
			}
			switch c {
			case journal.AbortRun:
				r.abort(operatorCheck, "aborted by the operator", operatorCheck)
			case journal.Halt:
				r.abort(haltCheck, "halted by chaos halt", haltCheck)
			case journal.SkipWait:
				select {
				case r.skip <- struct{}{}:
				default:
				}
				r.emit(journal.OperatorEvent(c))
			case journal.Hold:
				r.mu.Lock()
				if !r.held {
					r.held, r.resume = true, make(chan struct{})
				}
				r.mu.Unlock()
				r.emit(journal.OperatorEvent(c))
			case journal.Continue:
				r.mu.Lock()
				if r.held {
					r.held = false
					close(r.resume)
				}
				r.mu.Unlock()
				r.emit(journal.OperatorEvent(c))
			}
		}
	}
}

// waitHold blocks while the operator holds the run.
func (r *run) waitHold(ctx context.Context) {
	r.mu.Lock()
	held, resume := r.held, r.resume
	r.mu.Unlock()
	if !held {
		return
	}
	r.emit(journal.Event{Type: journal.RunHeld, Message: "held: waiting for continue"})
	select {
	case <-resume:
	case <-ctx.Done():
	case <-r.abortCh:
	case <-r.haltCh:
	}
}

// sleep waits for d, or less when the run is interrupted or aborted, or the
// operator skips. When the operator skips, cut says so for the step's
// record: how much of d had passed. A skip while faults are in place cuts
// short the time the hypothesis is judged under them: the run cannot pass.
func (r *run) sleep(ctx context.Context, step string, d time.Duration) (cut string) {
	select {
	case <-r.skip:
	default:
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.skip:
		after := time.Since(start).Round(time.Millisecond)
		// An exec step's change waiting for its undo is cut short as a
		// fault is.
		var faults, changes int
		r.mu.Lock()
		for _, a := range r.active {
			if a.fault >= 0 {
				faults++
			} else {
				changes++
			}
		}
		r.mu.Unlock()
		var on []string
		if faults > 0 {
			on = append(on, plural(faults, "fault"))
		}
		switch {
		case changes == 1:
			on = append(on, "1 exec step's change")
		case changes > 1:
			on = append(on, fmt.Sprintf("%d exec steps' changes", changes))
		}
		if len(on) > 0 {
			r.rec.update(func(*journal.Journal) {
				r.rec.cut = append(r.rec.cut, r.rec.m(fmt.Sprintf("the operator cut step %q short after %s of %s with %s in place", step, after, d, strings.Join(on, " and "))))
			})
		}
		return fmt.Sprintf("cut short by the operator after %s of %s", after, d)
	case <-ctx.Done():
	case <-r.abortCh:
	case <-r.haltCh:
	}
	return ""
}

// execute runs the phases. Whatever happens, every fault is reverted and
// every service stopped before it returns.
func (r *run) execute(ctx context.Context) {
	defer r.env.Close()
	defer r.stopServices()
	defer r.recoverPanic(ctx)
	if !r.startTargets(ctx, true) {
		return
	}
	if !r.startServices(ctx) {
		return
	}
	if !r.startTargets(ctx, false) {
		return
	}
	r.startLoad(ctx)
	defer r.stopLoad()

	if r.enabled(journal.PhaseBefore) && ctx.Err() == nil {
		end := r.rec.startPhase(journal.PhaseBefore)
		held := r.checkOnce(ctx, experiment.Before, time.Time{})
		end()
		if !held && ctx.Err() == nil {
			r.deviate("the steady state did not hold before the method, so the method was not run: " + r.brokenSummary(experiment.Before))
			return
		}
	}
	methodRan := false
	var methodEnd time.Time
	if r.enabled(journal.PhaseMethod) && ctx.Err() == nil && !r.failedToRun() && r.recordRollbacks() {
		end := r.rec.startPhase(journal.PhaseMethod)
		r.runMethod(ctx)
		end()
		methodRan, methodEnd = true, time.Now()
	}
	r.revertAll(ctx)
	if r.enabled(journal.PhaseAfter) && ctx.Err() == nil && !r.isAborted() && !r.failedToRun() {
		end := r.rec.startPhase(journal.PhaseAfter)
		r.checkAfter(ctx, methodRan, methodEnd)
		end()
	}
	if methodRan && r.exp.Recovery != nil {
		r.recoveryTimes()
	}
	if methodRan && len(r.exp.Rollbacks) > 0 {
		r.runRollbacks(ctx)
	}
}

// runRollbacks runs the rollbacks once the method has run, whatever ended
// it: after an interrupt too, within the revert timeout. What does not run
// stays in the ledger for chaos recover.
func (r *run) runRollbacks(ctx context.Context) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), r.revertTimeout())
		defer cancel()
	}
	end := r.rec.startPhase(journal.PhaseRollbacks)
	r.runSteps(ctx, r.exp.Rollbacks, journal.PhaseRollbacks)
	end()
	for _, s := range r.exp.Rollbacks {
		if _, left := r.rollbacks[s]; left {
			r.rec.leftBehind(fmt.Errorf("rollback %q did not run before the revert timeout; it is left in the ledger %s for chaos recover", s.Name, r.led.Path()), true)
		}
	}
}

// passedReason says what a passing run showed, and what it did not judge.
// r.rec.mu must be held.
func (r *run) passedReason(j *journal.Journal) string {
	var checks, judged int
	for _, c := range j.Checks {
		if !c.Abort {
			checks++
			if slices.Contains(slices.Collect(maps.Values(c.Results)), journal.Held) {
				judged++
			}
		}
	}
	var phases []string // in which some check held
	for _, ph := range journal.CheckPhases {
		for _, c := range j.Checks {
			if !c.Abort && c.Results[ph] == journal.Held {
				phases = append(phases, ph)
				break
			}
		}
	}
	var reason string
	switch {
	case checks == 0:
		reason = "no check was judged: the experiment has no steady_state"
	case judged == 0 && len(r.opts.Only) > 0:
		reason = fmt.Sprintf("no check was judged: --only %s ran none of the phases its checks are judged in", strings.Join(r.opts.Only, ","))
	case judged == 0:
		reason = "no check was judged"
	case !r.enabled(journal.PhaseMethod):
		reason = fmt.Sprintf("the hypothesis held %s; --only %s did not run the method", andList(phases), strings.Join(r.opts.Only, ","))
	case len(j.Faults) == 0:
		reason = fmt.Sprintf("the hypothesis held %s the method, which injected no fault", andList(phases))
	default:
		reason = fmt.Sprintf("the hypothesis held %s the faults", andList(phases))
		if !slices.Contains(phases, experiment.During) {
			reason += "; no check observed the system while they were in effect"
		}
	}
	if judged > 0 && len(r.opts.Only) > 0 && r.enabled(journal.PhaseMethod) {
		reason += fmt.Sprintf(" (--only %s)", strings.Join(r.opts.Only, ","))
	}
	if judged > 0 && judged < checks {
		reason += fmt.Sprintf(" (%d of %d checks judged)", judged, checks)
	}
	if judged == 0 && len(j.Faults) > 0 {
		reason += "; every fault was reverted"
	}
	for _, s := range j.Steps {
		// A fault step whose target matched nothing (empty: skip): the
		// checks held without it.
		if s.Section == journal.PhaseMethod && s.Kind == experiment.StepFault && s.Outcome == journal.StepSkipped {
			reason += fmt.Sprintf("; step %q injected nothing: %s", s.Name, s.Error)
		}
	}
	if c := j.SlowestRecovery(); c != nil {
		reason += fmt.Sprintf("; %q took the longest to hold again: %s after %q ended", c.Name, c.Recovered.After.Round(time.Millisecond), c.Recovered.Fault)
	}
	return reason
}

// andList joins words as a sentence does: "before, during and after".
func andList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// interruptedReason says what stopped the run, and when: "chaos was
// stopped by SIGINT during the method; every fault was reverted". The
// context's cause names the signal, when the caller gave one.
func interruptedReason(ctx context.Context, phase string) string {
	reason := "chaos was stopped"
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		reason += " by " + cause.Error()
	}
	if phase != "" {
		reason += " during the " + phase
	}
	return reason + everyFaultReverted
}

// worstText says how bad each broken check got, where it failed more than
// once: the first failure, which the reasons tell, may not be the worst.
func worstText(j *journal.Journal) string {
	var parts []string
	for _, c := range j.Checks {
		for _, b := range c.Breakages() {
			if b.Worst == nil || b.Failed < 2 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%q at its worst %s: %s", c.Name, journal.PhaseText(b.Phase), b.WorstValue))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// byFaultText says, for each fault, which checks failed while it was in
// effect: with several faults, which of them broke what.
func byFaultText(j *journal.Journal) string {
	effects := j.ByFault()
	if len(effects) < 2 {
		// A failed observation already names the fault it was made under.
		return ""
	}
	var parts []string
	for _, e := range effects {
		var broke []string
		for _, c := range e.Broke() {
			broke = append(broke, fmt.Sprintf("%q failed %d of %d observations", c.Check, c.Failed, c.Observed))
		}
		if len(broke) > 0 {
			parts = append(parts, fmt.Sprintf("while %q was in effect, %s", e.Step, strings.Join(broke, ", ")))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// finish decides the verdict and records it.
func (r *run) finish(ctx context.Context) {
	// An abort that comes from here on (max_duration running out, or
	// chaos halt, while the notifiers flush) has nothing left to stop:
	// the once is used up, so that the journal never records an abort
	// its verdict does not tell. Do waits for an abort under way, which
	// the verdict then tells.
	r.abortOnce.Do(func() {})
	var verdict, reason string
	r.rec.update(func(j *journal.Journal) { verdict, reason = r.verdict(ctx, j) })
	r.rec.record(journal.VerdictEvent(verdict, reason), func(j *journal.Journal) {
		j.Verdict, j.Reason, j.Ended = verdict, reason, time.Now()
	})
	// The ledger goes last: while it is there, chaos halt finds the call
	// (the notifiers may take seconds to flush) and stops it before it
	// runs its next experiment.
	r.flushSinks(ctx)
	if err := r.led.Close(); err != nil {
		r.warn(fmt.Sprintf("remove ledger %s: %v", r.led.Path(), err))
	}
}

// flushSinks waits for the sinks that send the events elsewhere, all at
// once and at most FlushTimeout, also after an interrupt. One that could
// not send everything is a warning: the verdict stands.
func (r *run) flushSinks(ctx context.Context) {
	var fs []journal.Flusher
	for _, s := range r.opts.Sinks {
		if f, ok := s.(journal.Flusher); ok {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(r.opts.FlushTimeout, 10*time.Second))
	defer cancel()
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = f.Flush(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.warn("notify: " + err.Error())
		}
	}
}

// verdict decides the run's verdict and says why. r.rec.mu must be held.
// When several things went wrong, the verdict is the first that applies
// of revert-failed, interrupted, error, aborted and deviated, and the
// reason names each of the others after its own: CI and the notifiers
// read the verdict's reason alone.
func (r *run) verdict(ctx context.Context, j *journal.Journal) (verdict, reason string) {
	// What else went wrong, in the verdicts' order, for the reason of a
	// verdict that one before it in that order took.
	var also []string
	interrupted := ""
	// The errors a stopped run names besides its stop: those that came
	// before it, not what it left undone.
	var errs []string
	for _, e := range r.rec.errs {
		// An error that a change left behind tells already (a rollback's
		// step) is named once.
		if !slices.ContainsFunc(r.rec.revertErrs, func(re string) bool { return strings.Contains(re, e) }) {
			errs = append(errs, e)
		}
	}
	if ctx.Err() != nil {
		phase := r.rec.phase
		if r.rec.stoppedSet {
			phase = r.rec.stoppedIn
			errs = slices.DeleteFunc(errs, func(e string) bool { return !slices.Contains(r.rec.errs[:r.rec.errsAtStop], e) })
		}
		interrupted = interruptedReason(ctx, phase)
	}
	switch {
	case len(r.rec.revertErrs) > 0:
		verdict = journal.RevertFailed
		what := "a change the run made (an exec step's undo, a rollback) could not be undone"
		if slices.ContainsFunc(j.Faults, func(f journal.Fault) bool { return f.RevertError != "" }) {
			what = "a fault could not be removed"
		}
		reason = what + ", the system may still be degraded: " + strings.Join(r.rec.revertErrs, "; ") + "; run chaos recover to try again"
		if interrupted != "" {
			also = append(also, strings.TrimSuffix(interrupted, everyFaultReverted))
		}
		also = append(also, errs...)
		if j.Abort != nil {
			also = append(also, j.Abort.Text())
		}
		also = append(also, r.rec.failed...)
	case interrupted != "":
		verdict = journal.Interrupted
		reason = interrupted
		also = append(also, errs...)
		if j.Abort != nil {
			also = append(also, j.Abort.Text())
		}
		also = append(also, r.rec.failed...)
	case len(r.rec.errs) > 0:
		verdict = journal.Errored
		reason = strings.Join(r.rec.errs, "; ")
		if j.Abort != nil {
			also = append(also, j.Abort.Text())
		}
		also = append(also, r.rec.failed...)
	case j.Abort != nil:
		verdict = journal.Aborted
		reason = j.Abort.Text() + everyFaultReverted
		also = append(also, r.rec.failed...)
	case len(r.rec.failed) > 0:
		verdict = journal.Deviated
		reason = strings.Join(r.rec.failed, "; ") + worstText(j) + byFaultText(j)
	case len(r.rec.cut) > 0:
		// The hypothesis held, but under faults the operator cut short: a
		// target that breaks under their planned length may not have had
		// the time to.
		verdict = journal.Errored
		reason = strings.Join(r.rec.cut, "; ") + ": the hypothesis was judged under them for that long only, not for what the experiment plans; run it again without skipping"
	default:
		verdict = journal.Passed
		reason = r.passedReason(j)
	}
	for _, a := range also {
		reason += "; also: " + a
	}
	return verdict, reason
}

// everyFaultReverted ends the reason of a run that stopped early with
// nothing left in place.
const everyFaultReverted = "; every fault was reverted"
