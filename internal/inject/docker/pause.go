package docker

import (
	"context"
	"encoding/json"
	"fmt"

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

// Plan refuses a container that is paused already.
func (p *PauseParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	r := newRecord(env, "pause", t)
	info, err := e.inspect(ctx, r)
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
	var r Record
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	return u, e.strike(ctx, env, r, Effect{}, func() error {
		return e.failed("pause container "+r.target(), e.api.ContainerPause(ctx, r.ContainerID))
	})
}

// revert unpauses the container, unless it is not paused.
func (p *PauseParams) revert(ctx context.Context, e *Engine, data json.RawMessage) (string, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("revert pause: bad record: %w", err)
	}
	info, found, err := e.current(ctx, r)
	switch {
	case err != nil:
		return "", err
	case !found:
		if id, ok := e.replacement(ctx, r); ok {
			return "", inject.GoneEarly("container %s was gone before the revert, and another of the same name (%s) ran in its place, not paused: the pause did not last", r.target(), shortID(id))
		}
		// Removed with no successor of its name: a container that is
		// gone refuses or drops what a paused one would have held
		// unanswered, so what was seen since was not under the pause.
		return "", inject.GoneEarly("container %s was removed before the revert, at a moment chaos did not see: the pause did not last", r.target())
	case !info.State.Paused && !info.State.Running:
		return "", inject.GoneEarly("container %s had stopped before the revert (at %s, status %s), not paused any more: the pause did not last", r.target(), info.State.FinishedAt, info.State.Status)
	case !info.State.Paused:
		return "", inject.GoneEarly("container %s was not paused any more before the revert: someone unpaused it", r.target())
	}
	if err := e.api.ContainerUnpause(ctx, r.ContainerID); err != nil {
		return e.revertFailed(r, err, "docker unpause "+r.ContainerID, vanished(r))
	}
	return "", nil
}
