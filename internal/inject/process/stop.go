package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "stop", New: func() inject.Fault { return &StopParams{} }, Doc: experiment.Doc{
		Summary: "Freezes each process hit with SIGSTOP, and continues it with SIGCONT when the fault ends. It takes no settings. Only the processes hit are frozen, not their children: a server whose workers serve (nginx, PostgreSQL) goes on answering when only its master, the process of its pid file, is stopped; select the workers too, or run it as one process (nginx: master_process off). A process that ends while frozen (a watchdog or supervisor killed it, and may have started another) ends the fault early: the run says when, and counts no pass since as the system coping with the stop.",
		Example: "{}",
	}})
	inject.RegisterUndo(undoCont, cont)
}

// StopParams are the settings of the stop fault, which freezes each picked
// process with SIGSTOP and continues it with SIGCONT on revert; it has
// none.
type StopParams struct{}

const undoCont = "process.cont"

// Plan records which process to stop and continue: its pid and start
// time. A process stopped already is left alone, so that the revert does
// not continue someone else's stop.
func (p *StopParams) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	pid, _ := strconv.Atoi(t.ID)
	id, err := proc.Identify(pid)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("stop process %d: %w", pid, err)
	}
	if st, err := proc.State(pid); err == nil && (st == "T" || st == "t") {
		return inject.Undo{}, fmt.Errorf("stop process %d: it is stopped already; leaving it alone so that the revert does not continue someone else's stop", pid)
	}
	data, _ := json.Marshal(id)
	return inject.Undo{Action: undoCont, Target: t, Data: data}, nil
}

// stopWithin is how long a process may take to be stopped once sent
// SIGSTOP: each of its threads stops when it is next scheduled.
const stopWithin = 10 * time.Second

// Inject stops the process planned on, and no other: a pid that names
// another process now is left alone. It returns once every thread of the
// process is stopped: kill returns as soon as SIGSTOP is sent, and on a
// busy machine the process's other threads go on serving until each has
// been scheduled to see it.
func (p *StopParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var id proc.ID
	if err := json.Unmarshal(u.Data, &id); err != nil {
		return u, fmt.Errorf("stop process: bad undo record: %w", err)
	}
	if err := id.Signal(syscall.SIGSTOP); err != nil {
		return u, fmt.Errorf("stop process %d: %w", id.PID, err)
	}
	deadline := time.Now().Add(stopWithin)
	for {
		ok, state := proc.AllStopped(id.PID)
		if ok || !id.Alive() {
			// One gone meanwhile: the revert says so, and when.
			env.Put(endKey(id), watchEnd(id))
			return u, nil
		}
		if time.Now().After(deadline) {
			return u, fmt.Errorf("stop process %d: sent SIGSTOP, but %s later a thread of it was still in state %s, not stopped", id.PID, stopWithin, state)
		}
		select {
		case <-ctx.Done():
			return u, fmt.Errorf("stop process %d: sent SIGSTOP, but a thread of it was still in state %s, not stopped, when the injection was given up: %w", id.PID, state, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// cont continues the stopped process, unless it is gone. One that runs
// already was continued by someone else (a SIGCONT, a shell's fg) before
// the revert: the fault ended early. So did one that ended (a zombie
// too): a supervisor or watchdog that kills a frozen process may have
// started another in its place, which served unfrozen, so nothing seen
// since the injection counts as the system coping with the stop.
func cont(_ context.Context, env *inject.Env, u inject.Undo) error {
	var id proc.ID
	if err := json.Unmarshal(u.Data, &id); err != nil {
		return fmt.Errorf("continue process: bad undo record: %w", err)
	}
	when := " (when, chaos did not see)"
	if v, ok := env.Lookup(endKey(id)); ok {
		w := v.(*endWatch)
		w.Close()
		if at := w.at(); !at.IsZero() {
			when = fmt.Sprintf(", at %s (%s before it)", at.UTC().Format("15:04:05.000"), time.Since(at).Round(time.Millisecond))
		}
	}
	state, serr := proc.State(id.PID)
	err := id.Signal(syscall.SIGCONT)
	switch {
	case errors.Is(err, proc.ErrGone) || err == nil && !id.Alive():
		return inject.GoneEarly("process %d ended before the revert%s: something killed it, and a supervisor may have started another in its place; nothing to continue, and the stop did not last", id.PID, when)
	case err != nil:
		return fmt.Errorf("continue process %d: %w", id.PID, err)
	case serr == nil && state != "T" && state != "t":
		return inject.GoneEarly("process %d was running again before the revert (state %s): something continued it", id.PID, state)
	}
	return nil
}

// endKey is where the run keeps the endWatch of a stopped process.
func endKey(id proc.ID) string { return fmt.Sprintf("process.stop:%d:%d", id.PID, id.Start) }

// endWatch notes when a stopped process ends (a supervisor or watchdog
// that kills a frozen process), for a revert that finds it gone to say
// when the stop stopped holding. It looks every endEvery until the
// process ends or it is closed, by the revert or the run's end.
type endWatch struct {
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	ended time.Time
}

const endEvery = 50 * time.Millisecond

func watchEnd(id proc.ID) *endWatch {
	w := &endWatch{done: make(chan struct{})}
	go func() {
		t := time.NewTicker(endEvery)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
			}
			if !id.Alive() {
				w.mu.Lock()
				w.ended = time.Now()
				w.mu.Unlock()
				return
			}
		}
	}()
	return w
}

// Close stops the watch.
func (w *endWatch) Close() error {
	w.once.Do(func() { close(w.done) })
	return nil
}

// at is when the process was seen ended, or zero.
func (w *endWatch) at() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended
}
