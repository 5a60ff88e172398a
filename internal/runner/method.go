package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/probe"
)

// applied is one fault on one target, or an exec step's undo, until it is
// reverted.
type applied struct {
	ledgerID int
	undo     inject.Undo
	fault    int // index in the journal's faults; -1 for an exec step's undo
	step     string
	once     sync.Once
}

// startTargets starts the targets that live for the whole run (proxies):
// with beforeServices those that depend on nothing the services start (the
// run's own proxies, which a service may reach its dependency through),
// else the others.
func (r *run) startTargets(ctx context.Context, beforeServices bool) bool {
	for _, t := range r.exp.Targets {
		kind, ok := inject.LookupTarget(t.Kind)
		if !ok || kind.Start == nil {
			continue
		}
		if early := kind.BeforeServices != nil && kind.BeforeServices(t.Spec); early != beforeServices {
			continue
		}
		c, err := kind.Start(ctx, r.env, t.Name, t.Spec)
		if err != nil {
			r.fail(fmt.Errorf("start target %q: %w", t.Name, err))
			return false
		}
		r.env.Put("target:"+t.Name, c)
		r.emit(journal.Event{Type: journal.TargetStarted, Message: fmt.Sprintf("%s target %s started", t.Kind, t.Name)})
	}
	return true
}

// runMethod runs the method steps while watching the hypothesis and the
// abort conditions.
func (r *run) runMethod(ctx context.Context) {
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The checks during the method judge its traffic alone, from a window
	// cut where it starts to one cut where its faults are gone.
	for _, s := range r.streams {
		s.methodFrom = s.cut()
	}
	r.watch(ctx, watchCtx, &wg)
	r.runSteps(ctx, r.exp.Method, journal.PhaseMethod)
	// Faults without for last until the method ends; the hypothesis is still
	// watched while they are removed.
	r.rec.update(func(*journal.Journal) { r.rec.stepsEnded = time.Now() })
	close(r.methodDone)
	r.background.Wait()
	r.revertAll(ctx)
	for _, s := range r.streams {
		s.methodTo = s.cut()
	}
	stopWatch()
	wg.Wait()
	r.closeDuring()
}

// runSteps runs steps in order until one fails or the run is stopped.
func (r *run) runSteps(ctx context.Context, steps []*experiment.Step, section string) {
	for _, s := range steps {
		if section == journal.PhaseMethod {
			r.waitHold(ctx)
		}
		if ctx.Err() != nil || section == journal.PhaseMethod && r.stopped() {
			return
		}
		if !r.runStep(ctx, s, section) && section == journal.PhaseMethod {
			return
		}
	}
}

// runStep runs one step and reports whether the method may go on.
func (r *run) runStep(ctx context.Context, s *experiment.Step, section string) bool {
	var idx int
	r.rec.record(journal.Event{Type: journal.StepStarted, Step: s.Name, Message: s.Name, Kind: s.Kind, Planned: s.Planned()}, func(j *journal.Journal) {
		idx = len(j.Steps)
		j.Steps = append(j.Steps, journal.Step{Name: s.Name, Kind: s.Kind, Section: section, Started: time.Now(), Outcome: journal.StepDone, Planned: s.Planned()})
	})

	if s.Kind == experiment.StepFault || s.Kind == experiment.StepExec {
		r.acted = time.Now()
	}
	outcome, errText, observed := r.doStep(ctx, s)
	if ctx.Err() != nil && outcome == journal.StepDone && s.Kind == experiment.StepWait {
		outcome = journal.StepSkipped
	}
	if section == journal.PhaseRollbacks {
		r.rollbackDone(s, outcome, errText)
	}
	if s.As != "" {
		// Undos and rollbacks recorded earlier may use this output.
		r.refreshCommands()
	}
	msg := s.Name + " " + outcome
	if errText != "" {
		msg += ": " + errText
	}
	r.rec.record(journal.Event{Type: journal.StepFinished, Step: s.Name, Message: msg, Outcome: outcome}, func(j *journal.Journal) {
		st := &j.Steps[idx]
		st.Ended, st.Outcome, st.Error, st.Observed = time.Now(), outcome, r.rec.m(errText), r.maskAll(observed)
	})
	return outcome == journal.StepDone || outcome == journal.StepSkipped
}

func (r *run) doStep(ctx context.Context, s *experiment.Step) (outcome, errText string, observed map[string]string) {
	switch s.Kind {
	case experiment.StepWait:
		return journal.StepDone, r.sleep(ctx, s.Name, s.Wait.D()), nil
	case experiment.StepFault:
		return r.faultStep(ctx, s)
	case experiment.StepProbe:
		return r.probeStep(ctx, s, "probe", s.Probe, s.Expect)
	case experiment.StepAssert:
		if s.Assert.Probe != nil {
			// An assert of a probe's check: one observation now.
			return r.probeStep(ctx, s, "assert", s.Assert.Probe, s.Assert.Expect)
		}
		smp, ok := r.judgeLoadNow(ctx, s.Assert, r.acted)
		if !ok && ctx.Err() != nil {
			return journal.StepSkipped, "interrupted", smp.Observed
		}
		if !ok {
			r.deviate(fmt.Sprintf("assert step %q failed: %s", s.Name, smp.Reason))
			return journal.StepFailed, smp.Reason, smp.Observed
		}
		return journal.StepDone, "", smp.Observed
	case experiment.StepExec:
		spec, err := r.expandOutputs(s.Exec)
		if err != nil {
			r.fail(fmt.Errorf("step %q: %w", s.Name, err))
			return journal.StepError, err.Error(), nil
		}
		var undo *applied
		if s.Undo != nil {
			// Ledger first, as for a fault: the undo is known before
			// anything is changed.
			if undo, err = r.recordUndo(s); err != nil {
				r.fail(err)
				return journal.StepError, err.Error(), nil
			}
		}
		res, err := probe.Command(ctx, spec.(*experiment.Exec))
		out := map[string]string{"exit_code": strconv.Itoa(res.ExitCode), "stdout": strings.TrimSpace(string(res.Stdout))}
		r.keepOutput(s.As, out)
		if undo != nil && notStarted(err) {
			r.forget(undo) // the command changed nothing
		}
		var obs map[string]string
		if !notStarted(err) {
			obs = probe.Observe(res, r.rec.m)
		}
		switch {
		case ctx.Err() != nil:
			return journal.StepSkipped, "interrupted", obs
		case err != nil:
			r.fail(fmt.Errorf("step %q: %w", s.Name, err))
			return journal.StepError, err.Error(), obs
		case res.ExitCode != 0:
			err := fmt.Errorf("step %q: %s exited with code %d", s.Name, s.Exec.Run[0], res.ExitCode)
			if msg := strings.TrimSpace(string(res.Stderr)); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			r.fail(err)
			return journal.StepError, err.Error(), obs
		}
		return journal.StepDone, "", obs
	}
	return journal.StepError, "unknown step kind " + s.Kind, nil
}

// maskAll returns observed values with the secrets masked.
func (r *run) maskAll(observed map[string]string) map[string]string {
	if len(observed) == 0 {
		return observed
	}
	out := make(map[string]string, len(observed))
	for k, v := range observed {
		out[k] = r.rec.m(v)
	}
	return out
}

// probeStep observes once with a probe step's or an assert step's probe.
func (r *run) probeStep(ctx context.Context, s *experiment.Step, kind string, p *experiment.Probe, expect any) (string, string, map[string]string) {
	spec, err := r.expandOutputs(p.Spec)
	if err != nil {
		r.fail(fmt.Errorf("step %q: %w", s.Name, err))
		return journal.StepError, err.Error(), nil
	}
	start := time.Now()
	res := probe.Run(ctx, p.Kind, spec, expect)
	// A pass on data from before the faults last changed (what
	// Prometheus last scraped) says nothing of the system since: observe
	// again until the data is newer, as a check does.
	changed := r.rec.faultsChanged(start)
	deadline := time.Now().Add(min(max(2*start.Sub(res.Since), time.Second), maxStaleWait))
	for res.OK && !res.Since.IsZero() && res.Since.Before(changed) && time.Now().Before(deadline) && r.sleepCtx(ctx, time.Second) {
		if spec, err = r.expandOutputs(p.Spec); err != nil {
			break
		}
		res = probe.Run(ctx, p.Kind, spec, expect)
	}
	if res.OK && !res.Since.IsZero() && res.Since.Before(changed) && ctx.Err() == nil {
		err := fmt.Errorf("step %q could not be judged: it passed on data from %s before the faults last changed, what Prometheus last scraped, and Prometheus had scraped nothing newer %s after they changed",
			s.Name, fmtDur(changed.Sub(res.Since)), fmtDur(time.Since(changed).Round(time.Millisecond)))
		r.fail(err)
		return journal.StepError, err.Error(), res.Observed
	}
	r.keepOutput(s.As, res.Output)
	if res.Err != nil && ctx.Err() == nil {
		// The probe could not observe: the experiment is broken, not
		// the system.
		r.fail(fmt.Errorf("step %q: %w", s.Name, res.Err))
		return journal.StepError, res.Err.Error(), nil
	}
	if !res.OK {
		if ctx.Err() != nil {
			return journal.StepSkipped, "interrupted", res.Observed
		}
		r.deviate(fmt.Sprintf("%s step %q failed: %s", kind, s.Name, res.Reason))
		return journal.StepFailed, res.Reason, res.Observed
	}
	return journal.StepDone, "", res.Observed
}

func (r *run) keepOutput(as string, out map[string]string) {
	if as == "" {
		return
	}
	r.mu.Lock()
	r.outputs[as] = out
	r.mu.Unlock()
}

// expandOutputs returns a copy of a settings struct with the references the
// loader left for run time expanded in its strings: ${NAME.field} with step
// outputs, ${uuid} with a UUID new for this use of the settings (one
// observation of a probe, one run of a command, one injection).
func (r *run) expandOutputs(v any) (any, error) {
	r.mu.Lock()
	outputs := r.outputs
	r.mu.Unlock()
	src := reflect.ValueOf(v)
	if src.Kind() != reflect.Pointer {
		return v, nil
	}
	dst := reflect.New(src.Elem().Type())
	dst.Elem().Set(src.Elem())
	var firstErr error
	var id string
	newID := func() string {
		if id == "" {
			id = uuid.NewString()
		}
		return id
	}
	walkStrings(dst.Elem(), func(s string) string {
		out, err := experiment.ExpandRuntime(s, outputs, newID)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return out
	})
	return dst.Interface(), firstErr
}

// walkStrings rewrites every settable string under v, copying slices and
// maps so that the original settings are left as loaded.
func walkStrings(v reflect.Value, fn func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() && strings.Contains(v.String(), "${") {
			v.SetString(fn(v.String()))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walkStrings(v.Field(i), fn)
			}
		}
	case reflect.Slice:
		if v.IsNil() || !v.CanSet() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range v.Len() {
			walkStrings(v.Index(i), fn)
		}
	case reflect.Map:
		if v.IsNil() || !v.CanSet() || v.Type().Elem().Kind() != reflect.String {
			return
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			c.SetMapIndex(k, reflect.ValueOf(fn(v.MapIndex(k).String())).Convert(v.Type().Elem()))
		}
		v.Set(c)
	case reflect.Pointer:
		if !v.IsNil() && v.Elem().Kind() == reflect.Struct && v.CanSet() {
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(v.Elem())
			v.Set(c)
			walkStrings(c.Elem(), fn)
		}
	}
}

// faultStep resolves the target, records each fault in the ledger, applies
// it, and keeps it for its for (or until the method ends).
func (r *run) faultStep(ctx context.Context, s *experiment.Step) (string, string, map[string]string) {
	t := r.exp.Targets.Get(s.Target)
	tk, _ := inject.LookupTarget(t.Kind)
	// A target's settings are used as loaded, as the dry run and the
	// start of proxies use them: only a step's own settings hold
	// references for run time.
	spec := t.Spec
	with, err := r.expandOutputs(s.With)
	if err != nil {
		r.fail(fmt.Errorf("step %q: %w", s.Name, err))
		return journal.StepError, err.Error(), nil
	}
	targets, matched, err := inject.Select(ctx, r.env, t.Name, tk, spec)
	if err != nil {
		r.fail(fmt.Errorf("step %q: %w", s.Name, err))
		return journal.StepError, err.Error(), nil
	}
	names := make([]string, len(targets))
	ids := make([]string, len(targets))
	for i, tg := range targets {
		names[i], ids[i] = tg.Name, tg.ID
	}
	r.emit(journal.Event{Type: journal.TargetResolved, Step: s.Name,
		Message: fmt.Sprintf("%s: %d of %d matching picked: %s", t.Name, len(targets), matched, describeTargets(targets)),
		Target:  t.Name, Matched: matched, Picked: len(targets)})
	out := map[string]string{"count": strconv.Itoa(len(targets)), "ids": strings.Join(ids, ","), "names": strings.Join(names, ",")}
	if len(targets) > 0 {
		out["id"], out["name"] = ids[0], names[0]
	}
	r.keepOutput(s.As, out)
	if len(targets) == 0 {
		return journal.StepSkipped, "the target matches nothing (empty: skip)", nil
	}
	f := with.(inject.Fault)
	if b, ok := f.(inject.Bounded); ok {
		b.Bound(r.faultBound(s))
	}
	if pc, ok := f.(inject.Prechecker); ok {
		for _, tg := range targets {
			if err := pc.Precheck(ctx, r.env, tg); err != nil {
				err = fmt.Errorf("step %q: %s on %s: %w", s.Name, s.Fault, tg, err)
				r.fail(err)
				return journal.StepError, err.Error(), nil
			}
		}
	}
	params, _ := journal.Params(with)
	var mine []*applied
	for _, tg := range targets {
		if ctx.Err() != nil || r.stopped() {
			// Stop hitting more targets: the run is ending.
			r.revert(ctx, mine...)
			return journal.StepSkipped, "the run was stopped while the fault was being applied", nil
		}
		a, err := r.inject(ctx, s, f, tg, params)
		if err != nil {
			r.fail(err)
			r.revert(ctx, mine...)
			return journal.StepError, err.Error(), nil
		}
		if a != nil {
			mine = append(mine, a)
		}
	}
	if s.For == 0 {
		return journal.StepDone, "", nil
	}
	if s.Background {
		r.background.Add(1)
		r.goSafe(func() {
			defer r.background.Done()
			if r.sleepBackground(ctx, s.For.D()) {
				r.revert(ctx, mine...)
			}
		})
		return journal.StepDone, "", nil
	}
	cut := r.sleep(ctx, s.Name, s.For.D())
	r.revert(ctx, mine...)
	return journal.StepDone, cut, nil
}

// faultBound is the longest a fault of step s can last: its for, or what
// is left of the run's max_duration when that is shorter; 0 when neither
// bounds it.
func (r *run) faultBound(s *experiment.Step) time.Duration {
	d := s.For.D()
	if !r.deadline.IsZero() {
		left := max(time.Until(r.deadline), time.Millisecond)
		if d == 0 || left < d {
			d = left
		}
	}
	return d
}

// sleepBackground waits for a background fault's for; it returns false when
// the method ends first, in which case revertAll takes care of the fault.
func (r *run) sleepBackground(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-r.abortCh:
	case <-r.haltCh:
	case <-r.methodDone:
	}
	return false
}

func describeTargets(ts []inject.Target) string {
	if len(ts) == 0 {
		return "none"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", ")
}

// inject applies one fault to one target, ledger first.
func (r *run) inject(ctx context.Context, s *experiment.Step, f inject.Fault, tg inject.Target, params json.RawMessage) (*applied, error) {
	undo, err := f.Plan(ctx, r.env, tg)
	if err != nil {
		if cerr := r.led.Conflict(tg); cerr != nil {
			err = cerr // another run's fault is in the way: say whose
		}
		return nil, fmt.Errorf("step %q: %w", s.Name, err)
	}
	// The claim refuses a target another live run has a fault on: its
	// revert would end this run's fault, or this run's its.
	id, err := r.led.Claim(s.Name, s.Fault, tg, undo)
	var conflict *ledger.ConflictError
	switch {
	case errors.As(err, &conflict):
		return nil, fmt.Errorf("step %q: %w", s.Name, err)
	case err != nil:
		return nil, fmt.Errorf("step %q: the ledger could not be written, so nothing was injected: %w", s.Name, err)
	}
	// The injection is carried to its end even when the run is stopped
	// meanwhile: a request abandoned half way (a pause sent to the Docker
	// engine) may still take effect after the revert that follows, and
	// leave the fault on. The interrupt is acted on once it returns.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.revertTimeout())
	began := time.Now()
	undo2, err := f.Inject(ictx, r.env, tg, undo)
	cancel()
	if err != nil {
		// A fault that failed half way may have done something: undo it.
		rerr := inject.Revert(context.WithoutCancel(ctx), r.env, undo)
		if rerr != nil {
			r.mark(id, ledger.Failed, rerr, fmt.Sprintf("%s on %s", s.Fault, tg))
			// What it did is left in place: the journal's faults, which
			// every report's list of faults is drawn from, must hold it.
			var notes []string
			for _, n := range undo.Notes {
				notes = append(notes, r.rec.m(n))
			}
			r.rec.record(journal.Event{Type: journal.FaultRevertFailed, Step: s.Name, Message: fmt.Sprintf("%s: %v", tg, rerr), Fault: s.Fault, TargetID: tg.ID},
				func(j *journal.Journal) {
					j.Faults = append(j.Faults, journal.Fault{Step: s.Name, Fault: s.Fault, TargetName: s.Target,
						Target:   journal.Target{Kind: tg.Kind, ID: tg.ID, Name: tg.Name, Engine: tg.Engine},
						Params:   json.RawMessage(r.rec.m(string(params))),
						Injected: began, InjectError: r.rec.m(err.Error()), RevertError: r.rec.m(rerr.Error()), Notes: notes})
					r.rec.revertErrs = append(r.rec.revertErrs, r.rec.m(rerr.Error()))
				})
		} else {
			r.mark(id, ledger.Done, nil, fmt.Sprintf("%s on %s", s.Fault, tg))
		}
		return nil, fmt.Errorf("step %q: %w", s.Name, err)
	}
	if !reflect.DeepEqual(undo2, undo) {
		if err := r.led.Update(id, undo2); err != nil {
			r.fail(fmt.Errorf("step %q: the ledger %s could not record how to revert %s on %s, so chaos recover may not be able to: %w", s.Name, r.led.Path(), s.Fault, tg, err))
		}
	}
	var idx int
	msg := fmt.Sprintf("%s on %s", journal.FaultText(s.Fault, params), tg)
	var notes []string
	for _, n := range undo2.Notes {
		notes = append(notes, r.rec.m(n))
	}
	if len(notes) > 0 {
		msg += ": " + strings.Join(notes, "; ")
	}
	r.rec.record(journal.Event{Type: journal.FaultInjected, Step: s.Name, Message: msg,
		Fault: s.Fault, Target: s.Target, TargetID: tg.ID, Irreversible: undo2.Action == ""}, func(j *journal.Journal) {
		idx = len(j.Faults)
		j.Faults = append(j.Faults, journal.Fault{Step: s.Name, Fault: s.Fault, TargetName: s.Target,
			Target:   journal.Target{Kind: tg.Kind, ID: tg.ID, Name: tg.Name, Engine: tg.Engine},
			Params:   json.RawMessage(r.rec.m(string(params))),
			Injected: time.Now(), Irreversible: undo2.Action == "", Notes: notes})
	})
	if undo2.Action == "" {
		return nil, nil
	}
	a := &applied{ledgerID: id, undo: undo2, fault: idx, step: s.Name}
	r.mu.Lock()
	r.active = append(r.active, a)
	r.mu.Unlock()
	return a, nil
}

// revertTimeout bounds a revert, and an injection, that an interrupt does
// not cut short.
func (r *run) revertTimeout() time.Duration { return cmp.Or(r.opts.RevertTimeout, 60*time.Second) }

// mark records in the ledger that an entry was undone (or failed to be). A
// ledger that cannot be written then still lists the change as in place, so
// that chaos recover would act on it again: the run is an error, and says
// so.
func (r *run) mark(id int, state string, undoErr error, what string) {
	err := r.led.Mark(id, state, undoErr)
	switch {
	case err == nil:
	case state == ledger.Done:
		r.fail(fmt.Errorf("the ledger %s could not record that %s was undone, and still lists it as in place: %w", r.led.Path(), what, err))
	default:
		r.warn(fmt.Sprintf("update ledger: %v", err))
	}
}

// revert removes faults, newest first. It uses a context of its own so that
// an interrupt cannot stop it half way.
func (r *run) revert(ctx context.Context, faults ...*applied) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.revertTimeout())
	defer cancel()
	for i := len(faults) - 1; i >= 0; i-- {
		a := faults[i]
		a.once.Do(func() { r.undo(rctx, a) })
	}
}

// undo removes one fault, or runs an exec step's undo, and records it.
func (r *run) undo(ctx context.Context, a *applied) {
	began := time.Now()
	ended, err := inject.RevertEarly(ctx, r.env, a.undo)
	now := time.Now()
	r.mu.Lock()
	r.dropActive(a)
	r.mu.Unlock()
	what := fmt.Sprintf("the undo of step %q (%s)", a.step, a.undo.Target.Name)
	fault := ""
	if a.fault >= 0 {
		var text string
		r.rec.update(func(j *journal.Journal) { fault, text = j.Faults[a.fault].Fault, j.Faults[a.fault].Text() })
		what = fmt.Sprintf("%s on %s", text, a.undo.Target)
	}
	var ev journal.Event
	switch {
	case err != nil && a.fault < 0:
		ev = journal.Event{Type: journal.StepUndoFailed, Step: a.step, Message: fmt.Sprintf("%s: %v", what, err)}
	case err != nil:
		ev = journal.Event{Type: journal.FaultRevertFailed, Step: a.step, Message: fmt.Sprintf("%s: %v", a.undo.Target, err), Fault: fault, TargetID: a.undo.Target.ID}
	case a.fault < 0:
		ev = journal.Event{Type: journal.StepUndone, Step: a.step, Message: fmt.Sprintf("%s: %s", a.step, a.undo.Target.Name)}
	case ended.Early != "":
		ev = journal.Event{Type: journal.FaultReverted, Step: a.step, Message: fmt.Sprintf("%s: it was gone already: %s", what, ended.Early), Fault: fault, TargetID: a.undo.Target.ID}
	case ended.Unreached != "":
		ev = journal.Event{Type: journal.FaultReverted, Step: a.step, Message: fmt.Sprintf("%s: it met no traffic: %s", what, ended.Unreached), Fault: fault, TargetID: a.undo.Target.ID}
	default:
		ev = journal.Event{Type: journal.FaultReverted, Step: a.step, Message: what, Fault: fault, TargetID: a.undo.Target.ID}
	}
	r.rec.record(ev, func(j *journal.Journal) {
		if a.fault >= 0 {
			if r.rec.revertBegan == nil {
				r.rec.revertBegan = map[int]time.Time{}
			}
			r.rec.revertBegan[a.fault] = began
			f := &j.Faults[a.fault]
			if err != nil {
				f.RevertError = r.rec.m(err.Error())
			} else {
				// Read under the journal's lock, as the event's time is
				// just after: notifiers draw the fault's window from the
				// event, and must agree with the journal.
				f.Reverted = time.Now()
			}
			if ended.Early != "" {
				f.EndedEarly = r.rec.m(ended.Early)
			}
			if ended.Unreached != "" {
				f.Unreached = r.rec.m(ended.Unreached)
			}
		}
		if err != nil {
			msg := err.Error()
			if a.fault < 0 {
				msg = what + ": " + msg
			}
			r.rec.revertErrs = append(r.rec.revertErrs, r.rec.m(msg))
		}
		if j.Abort != nil {
			j.Abort.Reverted = now
		}
	})
	state := ledger.Done
	if err != nil {
		state = ledger.Failed
	}
	r.mark(a.ledgerID, state, err, what)
}

// dropActive removes a from the active list; r.mu must be held.
func (r *run) dropActive(a *applied) {
	for k, x := range r.active {
		if x == a {
			r.active = append(r.active[:k], r.active[k+1:]...)
			return
		}
	}
}

// revertAll removes every fault still active.
func (r *run) revertAll(ctx context.Context) {
	r.mu.Lock()
	all := append([]*applied(nil), r.active...)
	r.mu.Unlock()
	r.revert(ctx, all...)
}

// faultsInEffect names the steps whose faults were in effect at some moment
// from from to to: injected by to, and not reverted before from. A fault
// with nothing to revert (a kill) has effects chaos cannot see end, so it
// counts as in effect from its injection until the method's steps are
// over. r.mu must be held.
// faultsChanged is the last time before t a fault was injected or
// reverted, or zero.
func (r *recorder) faultsChanged(t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, f := range r.j.Faults {
		for _, at := range []time.Time{f.Injected, f.Reverted} {
			if at.Before(t) && at.After(last) {
				last = at
			}
		}
	}
	return last
}

func (r *recorder) faultsInEffect(from, to time.Time) []string {
	var out []string
	for _, f := range r.j.Faults {
		end := f.Reverted
		if f.Irreversible {
			end = r.stepsEnded
		}
		if f.Injected.After(to) || !end.IsZero() && end.Before(from) || slices.Contains(out, f.Step) {
			continue
		}
		out = append(out, f.Step)
	}
	return out
}

// earlyNote says which fault of step (of any step when step is empty) was
// gone before its revert came, or met no traffic, and why, for a reason
// that blames that; it is empty when none was. r.mu must be held.
func (r *recorder) earlyNote(step string) string {
	for _, f := range r.j.Faults {
		if step != "" && f.Step != step {
			continue
		}
		switch {
		case f.EndedEarly != "":
			return fmt.Sprintf(" (the fault of step %q on %s was gone before its revert came: %s)", f.Step, f.TargetName, f.EndedEarly)
		case f.Unreached != "":
			return unreachedNote(f)
		}
	}
	return ""
}

func unreachedNote(f journal.Fault) string {
	return fmt.Sprintf(" (the fault of step %q on %s met no traffic while it was on: %s)", f.Step, f.TargetName, f.Unreached)
}

// anyUnreached is earlyNote for the first fault that met no traffic, of
// any step. r.mu must be held.
func (r *recorder) anyUnreached() string {
	for _, f := range r.j.Faults {
		if f.Unreached != "" {
			return unreachedNote(f)
		}
	}
	return ""
}

// sawFault reports whether an observation of a check during the method
// counts as observing the journal's fault i: a failure while the fault was
// in effect always does; a pass of a load check's window, which holds the
// requests sent under it, does unless the fault was found gone before its
// revert came, met no traffic, or its injection failed half way (no one knows how much of
// it took), or was surely on within the window for less than every, the
// time between two of the stream's requests, in which no request may have
// been sent; a probe's pass (every is zero) does only if the fault was on
// for the whole of it: one that began before it may carry an answer made
// before it, one that waited out the revert saw the system without it.
// r.mu must be held.
func (r *recorder) sawFault(every time.Duration, smp journal.Sample, i int) bool {
	f := r.j.Faults[i]
	switch {
	case !slices.Contains(smp.Faults, f.Step):
		return false
	case !smp.OK:
		return true
	case every > 0:
		return f.EndedEarly == "" && f.Unreached == "" && f.InjectError == "" && r.onFor(i, smp.Start(), smp.End()) >= every
	}
	return r.faultOnThroughout(i, smp.Start(), smp.End())
}

// sawAnyFault reports whether the observation saw some fault (sawFault).
// r.mu must be held.
func (r *recorder) sawAnyFault(every time.Duration, smp journal.Sample) bool {
	for i := range r.j.Faults {
		if r.sawFault(every, smp, i) {
			return true
		}
	}
	return false
}

// onFor is how long the journal's fault i was surely on from from to to:
// from its injection to the start of its revert (a fault with nothing to
// revert: to the end of the method's steps), or to to if it was still on.
// r.mu must be held.
func (r *recorder) onFor(i int, from, to time.Time) time.Duration {
	f := r.j.Faults[i]
	end := f.Reverted
	if began := r.revertBegan[i]; !began.IsZero() {
		end = began
	}
	if f.Irreversible {
		end = r.stepsEnded
	}
	if end.IsZero() || end.After(to) {
		end = to
	}
	if f.Injected.After(from) {
		from = f.Injected
	}
	return max(end.Sub(from), 0)
}

// faultOnThroughout reports whether the journal's fault i was surely on
// from from to to: injected by from, in full, not found gone before its
// revert nor without traffic, and its revert not yet begun at to (a fault with nothing to revert: until the
// method's steps were over). An observation that ended while its fault was
// being reverted may have seen the system without it. r.mu must be held.
func (r *recorder) faultOnThroughout(i int, from, to time.Time) bool {
	f := r.j.Faults[i]
	if f.Injected.After(from) || f.EndedEarly != "" || f.Unreached != "" || f.InjectError != "" {
		return false
	}
	end, began := f.Reverted, r.revertBegan[i]
	if !began.IsZero() {
		end = began
	}
	if f.Irreversible {
		end = r.stepsEnded
	}
	return end.IsZero() || to.Before(end)
}

// lastRevert is when the last fault was removed, or the zero time.
func (r *recorder) lastRevert() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, f := range r.j.Faults {
		if f.Reverted.After(t) {
			t = f.Reverted
		}
		if f.Irreversible && f.Injected.After(t) {
			t = f.Injected
		}
	}
	return t
}
