package runner

import (
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// recorder owns the journal, the mask and the sinks. Each fact of the run
// is written to the journal and emitted to the sinks by one call, masked
// once, so that the journal and the live views cannot disagree; the sinks
// get the events in the journal's order.
type recorder struct {
	sinks []journal.Sink
	mask  *experiment.Masker
	// emitMu is held while an event is recorded and handed to the sinks.
	emitMu sync.Mutex

	// mu guards the journal and the facts below, which the run reads back
	// to decide what to do and what the verdict is.
	mu    sync.Mutex
	j     *journal.Journal
	phase string
	// Reasons, masked, that the run deviated, could not be carried out, or
	// left a fault or an undo in place.
	failed, errs, revertErrs []string
	// stepsEnded is when the method's steps were over; revertBegan, by
	// fault index, when each fault's revert began.
	stepsEnded  time.Time
	revertBegan map[int]time.Time
	// stoppedIn is the phase the run was in when its context was done;
	// stoppedSet says it was.
	stoppedIn  string
	stoppedSet bool
}

// record writes a fact: change, when not nil, updates the journal (under
// the lock; it masks what it writes with r.m), then ev is added to the
// journal's events, masked, and handed to the sinks.
func (r *recorder) record(ev journal.Event, change func(j *journal.Journal)) {
	r.recordFunc(func(j *journal.Journal) journal.Event {
		if change != nil {
			change(j)
		}
		return ev
	})
}

// recordFunc is record for an event that says what the change found:
// fn updates the journal under the lock and returns the event.
func (r *recorder) recordFunc(fn func(j *journal.Journal) journal.Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.mu.Lock()
	ev := fn(r.j)
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Phase == "" {
		ev.Phase = r.phase
	}
	r.maskEvent(&ev)
	r.j.Events = append(r.j.Events, ev)
	r.mu.Unlock()
	for _, s := range r.sinks {
		s.Event(ev)
	}
}

// emit records an event that changes nothing else in the journal.
func (r *recorder) emit(ev journal.Event) { r.record(ev, nil) }

// update changes the journal, or reads the facts, without an event.
func (r *recorder) update(change func(j *journal.Journal)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(r.j)
}

// currentPhase is the phase the run is in.
func (r *recorder) currentPhase() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phase
}

// m masks the secrets in s.
func (r *recorder) m(s string) string { return r.mask.Replace(s) }

// maskEvent masks every text an event carries.
func (r *recorder) maskEvent(ev *journal.Event) {
	for _, p := range []*string{&ev.Message, &ev.Reason, &ev.Value, &ev.RunID, &ev.Verdict, &ev.Service, &ev.Status,
		&ev.Kind, &ev.Outcome, &ev.Target, &ev.Fault, &ev.TargetID, &ev.Since, &ev.Stream} {
		*p = r.m(*p)
	}
}

// warn records a warning: the run goes on.
func (r *recorder) warn(msg string) {
	r.record(journal.Event{Type: journal.Warning, Message: msg}, func(j *journal.Journal) {
		j.Warnings = append(j.Warnings, r.m(msg))
	})
}

// fail records a reason the run could not be carried out.
func (r *recorder) fail(err error) {
	r.record(journal.Event{Type: journal.Error, Message: err.Error()}, func(*journal.Journal) {
		r.errs = append(r.errs, r.m(err.Error()))
	})
}

// deviate records a reason the hypothesis did not hold.
func (r *recorder) deviate(reason string) {
	r.update(func(*journal.Journal) { r.failed = append(r.failed, r.m(reason)) })
}

// failedToRun reports whether the run hit an error or a failed revert.
func (r *recorder) failedToRun() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0 || len(r.revertErrs) > 0
}

// startPhase records that a phase began; the function it returns records
// that it ended.
func (r *recorder) startPhase(name string) func() {
	var i int
	r.record(journal.Event{Type: journal.PhaseStarted, Phase: name, Message: name}, func(j *journal.Journal) {
		r.phase = name
		j.Phases = append(j.Phases, journal.Phase{Name: name, Started: time.Now()})
		i = len(j.Phases) - 1
	})
	return func() { r.update(func(j *journal.Journal) { j.Phases[i].Ended = time.Now() }) }
}
