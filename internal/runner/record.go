package runner

import (
	"reflect"
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
	// cut says, masked, where the operator cut short a step while faults
	// were in place: a run that would have passed is an error.
	cut []string
	// stepsEnded is when the method's steps were over; revertBegan, by
	// fault index, when each fault's revert began.
	stepsEnded  time.Time
	revertBegan map[int]time.Time
	// stoppedIn is the phase the run was in when its context was done;
	// stoppedSet says it was.
	stoppedIn  string
	stoppedSet bool
	// errsAtStop is how many errors were recorded by then: those after
	// may be what the stop itself left undone (a check that could not
	// observe the rest of the method).
	errsAtStop int
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
	// The verdict, kind, outcome and fault are words of chaos's own, which the
	// sinks act on (a passed run), as the journal keeps them.
	for _, p := range []*string{&ev.Message, &ev.Reason, &ev.Value, &ev.Service, &ev.Status,
		&ev.Target, &ev.TargetID, &ev.Since, &ev.Stream, &ev.Step, &ev.Check} {
		*p = r.m(*p)
	}
	if len(ev.Observed) > 0 {
		observed := make(map[string]string, len(ev.Observed))
		for k, v := range ev.Observed {
			observed[k] = r.m(v)
		}
		ev.Observed = observed
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

// leftBehind records, with an error event when event, a change the run
// could not undo, which the ledger keeps for chaos recover: the verdict is
// revert-failed.
func (r *recorder) leftBehind(err error, event bool) {
	change := func(*journal.Journal) { r.revertErrs = append(r.revertErrs, r.m(err.Error())) }
	if !event {
		r.update(change)
		return
	}
	r.record(journal.Event{Type: journal.Error, Message: err.Error()}, change)
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

// keptAsIs are the journal's fields that hold words of chaos's own (a
// verdict, a phase, an outcome) or paths the reports find files by: a
// secret that happens to be one of those words must not change what the
// run decided.
var keptAsIs = map[string]bool{"RunID": true, "ToolVersion": true, "Host": true, "Only": true, "Verdict": true,
	"ReportDir": true, "Log": true, "Kind": true, "Section": true, "Outcome": true, "Phase": true, "When": true,
	"Results": true, "Signal": true, "Type": true, "Default": true, "Fault": true}

// maskJournal masks the secrets in every text of the journal, once the
// run is over: besides the events and messages, masked as they are
// recorded, the names the file gives (title, tags, steps, checks,
// streams, expectations) may show them too.
func (r *recorder) maskJournal() {
	if r.mask.Empty() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	maskValue(reflect.ValueOf(r.j).Elem(), r.mask)
}

// maskValue masks the secrets in the strings v holds, but for the fields
// keptAsIs. It writes only what changes: the sinks may still read the
// maps the journal's events share with theirs.
func maskValue(v reflect.Value, m *experiment.Masker) {
	switch v.Kind() {
	case reflect.String:
		if s := m.Replace(v.String()); s != v.String() && v.CanSet() {
			v.SetString(s)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			maskValue(v.Elem(), m)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && !keptAsIs[f.Name] {
				maskValue(v.Field(i), m)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			maskValue(v.Index(i), m)
		}
	case reflect.Map:
		// A map's values cannot be set in place: a text is put back
		// masked; maps and slices inside are masked where they are.
		iter := v.MapRange()
		for iter.Next() {
			val := iter.Value()
			if val.Kind() == reflect.Interface && !val.IsNil() {
				val = val.Elem()
			}
			if val.Kind() != reflect.String {
				maskValue(val, m)
				continue
			}
			if s := m.Replace(val.String()); s != val.String() {
				v.SetMapIndex(iter.Key(), reflect.ValueOf(s).Convert(v.Type().Elem()))
			}
		}
	}
}
