package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "pause", New: func() inject.Fault { return &PauseParams{} }, Doc: experiment.Doc{
		Summary: "Freezes every process of each container, and unpauses it when the fault ends. It takes no settings.",
		Example: "{}",
	}})
}

// PauseParams are the settings of the pause fault, which freezes every
// process of each container; its revert unpauses it. It has none.
type PauseParams struct{}

// pauseRecord is what a pause does to one container.
type pauseRecord struct {
	Record
	// Began is when the pause was about to be asked for, and Paused is
	// set once the engine said it was done. The engine carries out a
	// pause its client gave up on: a revert that comes before Paused (in
	// the watchdog of a run killed while it waited) may find the
	// container not paused yet.
	Began  time.Time `json:"began,omitzero"`
	Paused bool      `json:"paused,omitempty"`
}

// Plan refuses a container that is paused already.
func (p *PauseParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	r := pauseRecord{Record: newRecord(env, "pause", t), Began: time.Now()}
	info, err := e.inspect(ctx, r.Record)
	if err != nil {
		return inject.Undo{}, err
	}
	if info.State.Paused {
		return inject.Undo{}, fmt.Errorf("pause container %s: it is paused already; leaving it alone so that the revert does not unpause someone else's pause", r.target())
	}
	return planned(p, t, r)
}

// Inject pauses the container.
func (p *PauseParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var r pauseRecord
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	err = e.strike(ctx, env, r.Record, Effect{}, func() error {
		return e.failed("pause container "+r.target(), e.api.ContainerPause(ctx, r.ContainerID))
	})
	if err != nil {
		return u, err
	}
	r.Paused = true
	u.Data, err = json.Marshal(r)
	return u, err
}

// revert unpauses the container, unless it is not paused.
func (p *PauseParams) revert(ctx context.Context, e *Engine, data json.RawMessage) (string, error) {
	var r pauseRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("revert pause: bad record: %w", err)
	}
	// Records of earlier versions of chaos say neither when the pause was
	// asked for nor whether it was done.
	unsure := !r.Paused && !r.Began.IsZero()
	info, found, err := e.current(ctx, r.Record)
	if err == nil && found && !info.State.Paused && unsure && !answered(ctx) {
		// The run that asked for the pause died before the answer, and
		// the engine may carry it out yet: wait for it to land rather
		// than take the container for one someone unpaused, and leave
		// it paused once it does.
		info, found, err = e.awaitLanding(ctx, r.Record, r.Began, func(i container.InspectResponse) bool { return i.State.Paused })
	}
	switch {
	case err != nil:
		return "", err
	case !found:
		if id, ok := e.replacement(ctx, r.Record); ok {
			return "", inject.GoneEarly("container %s was gone before the revert, and another of the same name (%s) ran in its place, not paused: the pause did not last", r.target(), shortID(id))
		}
		// Removed with no successor of its name: a container that is
		// gone refuses or drops what a paused one would have held
		// unanswered, so what was seen since was not under the pause.
		return "", inject.GoneEarly("container %s was removed before the revert, at a moment chaos did not see: the pause did not last", r.target())
	case !info.State.Paused && unsure:
		if answered(ctx) {
			return "", nil // the pause failed: its error says so
		}
		return fmt.Sprintf("container %s was never paused: the pause its run asked for before it ended did not take effect within %s", r.target(), requestSettle), nil
	case !info.State.Paused && !info.State.Running:
		return "", inject.GoneEarly("container %s had stopped before the revert (at %s, status %s), not paused any more: the pause did not last", r.target(), info.State.FinishedAt, info.State.Status)
	case !info.State.Paused:
		return "", inject.GoneEarly("container %s was not paused any more before the revert: someone unpaused it", r.target())
	}
	if err := e.api.ContainerUnpause(ctx, r.ContainerID); err != nil {
		return e.revertFailed(r.Record, err, "docker unpause "+r.ContainerID, vanished(r.Record))
	}
	return "", nil
}
