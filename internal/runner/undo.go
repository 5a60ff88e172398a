package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/probe"
)

// undoCommand runs a command recorded in the ledger: an exec step's undo,
// or a rollback the run did not get to.
const undoCommand = "command.run"

// command is how the ledger records a command: as the step has it, with
// step outputs filled in and its directory made absolute, so that chaos
// recover runs it the same from anywhere.
type command struct {
	experiment.Exec
	// Unresolved says why the command could not be completed (it needs a
	// step output the run never produced); such a command is not run.
	Unresolved string `json:"unresolved,omitempty"`
	// Secrets are the experiment's secrets the command carries: what it
	// writes on stderr is masked with them in its error, which chaos
	// recover and the watchdog print.
	Secrets []string `json:"secrets,omitempty"`
}

func init() {
	inject.RegisterUndo(undoCommand, runCommand)
}

func runCommand(ctx context.Context, _ *inject.Env, u inject.Undo) error {
	var c command
	if err := json.Unmarshal(u.Data, &c); err != nil {
		return fmt.Errorf("run %s: bad undo record: %w", u.Target.Name, err)
	}
	if c.Unresolved != "" {
		return fmt.Errorf("%s was not run: %s", u.Target.Name, c.Unresolved)
	}
	mask := experiment.NewMasker(c.Secrets)
	res, err := probe.Command(ctx, &c.Exec)
	if err != nil {
		if text := mask.Replace(err.Error()); text != err.Error() {
			return errors.New(text)
		}
		return err
	}
	if res.ExitCode != 0 {
		err := fmt.Errorf("%s exited with code %d", mask.Replace(c.Run[0]), res.ExitCode)
		if msg := strings.TrimSpace(string(res.Stderr)); msg != "" {
			err = fmt.Errorf("%w: %s", err, mask.Replace(msg))
		}
		return err
	}
	return nil
}

// commandUndo returns the ledger record that runs e, with the step outputs
// known so far filled in.
func (r *run) commandUndo(kind, step string, e *experiment.Exec) inject.Undo {
	c := command{Exec: *e}
	if x, err := r.expandOutputs(e); err != nil {
		c.Unresolved = err.Error()
	} else {
		c.Exec = *x.(*experiment.Exec)
	}
	if abs, err := filepath.Abs(string(c.Dir)); err == nil {
		c.Dir = experiment.Path(abs)
	}
	// The ledger keeps the command as it is run; what is shown of it (by
	// chaos recover, the watchdog) is masked.
	carried := fmt.Sprint(c.Run, c.Env, c.Dir, c.Unresolved)
	for _, secret := range r.exp.Secrets {
		if strings.Contains(carried, secret) && !slices.Contains(c.Secrets, secret) {
			c.Secrets = append(c.Secrets, secret)
		}
	}
	c.Unresolved = r.rec.m(c.Unresolved)
	data, _ := json.Marshal(c)
	return inject.Undo{Action: undoCommand, Target: inject.Target{Kind: kind, ID: r.rec.m(step), Name: r.rec.m(strings.Join(c.Run, " "))}, Data: data}
}

// recordUndo writes an exec step's undo to the ledger before the step
// runs, and keeps it with the faults, to be run when the method ends.
func (r *run) recordUndo(s *experiment.Step) (*applied, error) {
	u := r.commandUndo("exec", s.Name, s.Undo)
	id, err := r.led.Add(ledger.KindUndo, r.rec.m(s.Name), "", u)
	if err != nil {
		return nil, fmt.Errorf("step %q: the ledger could not record its undo, so it was not run: %w", s.Name, err)
	}
	a := &applied{ledgerID: id, undo: u, fault: -1, step: s.Name}
	r.mu.Lock()
	r.active = append(r.active, a)
	r.mu.Unlock()
	return a, nil
}

// forget drops an undo that need not run (its step could not start).
func (r *run) forget(a *applied) {
	a.once.Do(func() {
		r.mu.Lock()
		r.dropActive(a)
		r.mu.Unlock()
		r.mark(a.ledgerID, ledger.Done, nil, fmt.Sprintf("the undo of step %q", a.step))
	})
}

// recordRollbacks writes the rollbacks' commands to the ledger when the
// method starts, so that they run even if the run dies before it gets to
// them: by its watchdog, or chaos recover. It reports whether it could.
func (r *run) recordRollbacks() bool {
	for _, s := range r.exp.Rollbacks {
		if s.Kind != experiment.StepExec {
			continue // observations and waits change nothing
		}
		u := r.commandUndo(ledger.KindRollback, s.Name, s.Exec)
		id, err := r.led.Add(ledger.KindRollback, r.rec.m(s.Name), "", u)
		if err != nil {
			r.fail(fmt.Errorf("the ledger could not record rollback %q, so the method was not run: %w", s.Name, err))
			return false
		}
		r.rollbacks[s] = &pendingCommand{ledgerID: id, undo: u, step: s}
	}
	return true
}

// pendingCommand is a command recorded in the ledger that may use step
// outputs not known when it was recorded.
type pendingCommand struct {
	ledgerID int
	undo     inject.Undo
	step     *experiment.Step
}

// refreshCommands records again the undos and rollbacks still to run once
// a step has produced an output they may use.
func (r *run) refreshCommands() {
	r.mu.Lock()
	active := append([]*applied(nil), r.active...)
	r.mu.Unlock()
	for _, a := range active {
		if a.fault >= 0 {
			continue
		}
		for _, s := range r.exp.Method {
			if s.Name == a.step && s.Undo != nil {
				r.rerecord(a.ledgerID, &a.undo, r.commandUndo("exec", s.Name, s.Undo))
			}
		}
	}
	for _, p := range r.rollbacks {
		r.rerecord(p.ledgerID, &p.undo, r.commandUndo(ledger.KindRollback, p.step.Name, p.step.Exec))
	}
}

func (r *run) rerecord(id int, old *inject.Undo, u inject.Undo) {
	if string(old.Data) == string(u.Data) {
		return
	}
	*old = u
	if err := r.led.Update(id, u); err != nil {
		r.fail(fmt.Errorf("the ledger %s could not record %s: %w", r.led.Path(), u.Target.Name, err))
	}
}

// rollbackDone records that a rollback step ran, or failed: a failed one
// stays in the ledger for chaos recover.
func (r *run) rollbackDone(s *experiment.Step, outcome, errText string) {
	p, ok := r.rollbacks[s]
	if !ok {
		return
	}
	delete(r.rollbacks, s)
	if outcome == journal.StepDone {
		r.mark(p.ledgerID, ledger.Done, nil, fmt.Sprintf("rollback %q", s.Name))
		return
	}
	r.mark(p.ledgerID, ledger.Failed, fmt.Errorf("%s", errText), fmt.Sprintf("rollback %q", s.Name))
	// What the method changed is left in place, as by an undo that
	// failed; the step's own error is recorded already.
	r.rec.leftBehind(fmt.Errorf("rollback %q %s: %s", s.Name, outcome, errText), false)
}

// notStarted reports whether a command failed before it started (not found,
// not executable, no such directory): then it changed nothing.
func notStarted(err error) bool {
	var se *probe.StartError
	return errors.As(err, &se)
}
