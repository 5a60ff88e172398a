package swarm

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "swarm", Name: "pause", New: func() inject.Fault { return &PauseParams{} }, Doc: experiment.Doc{
		Summary: "Freezes the container of each picked task, and unpauses it when the fault ends. Swarm still counts a paused task as running: its clients and a healthcheck notice. It takes no settings.",
		Example: "{}",
	}})
	inject.RegisterUndo(undoUnpause, unpause)
}

// PauseParams are the settings of the pause fault, which freezes the
// container of each picked task and unpauses it on revert; it has none.
// Swarm still counts a paused task as running: what notices is whoever
// sends it requests, and a healthcheck.
type PauseParams struct{}

const undoUnpause = "swarm.unpause"

// pauseRecord names the container to unpause.
type pauseRecord struct {
	TaskID      string `json:"task_id"`
	Task        string `json:"task"`
	ContainerID string `json:"container_id"`
	// Host is the engine the container was paused through.
	Host string `json:"host,omitempty"`
}

// Precheck refuses a task whose container is on another node than the
// engine's.
func (p *PauseParams) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	_, err := localTask(ctx, env, t)
	return err
}

// Plan records the container to unpause. A container paused already is
// left alone, so that the revert does not end someone else's pause.
func (p *PauseParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	task, err := localTask(ctx, env, t)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("pause task: %w", err)
	}
	c, _ := cluster(ctx, env)
	info, err := c.api.ContainerInspect(ctx, task.ContainerID)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("pause task %s: inspect its container: %w", task.Name(), c.unreachable(err))
	}
	if info.State != nil && info.State.Paused {
		return inject.Undo{}, fmt.Errorf("pause task %s: its container is paused already; leaving it alone so that the revert does not unpause someone else's pause", task.Name())
	}
	data, _ := json.Marshal(pauseRecord{TaskID: task.ID, Task: task.Name(), ContainerID: task.ContainerID, Host: c.Host()})
	return inject.Undo{Action: undoUnpause, Target: t, Data: data}, nil
}

// Inject pauses the container.
func (p *PauseParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return u, err
	}
	var rec pauseRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("pause task: bad record: %w", err)
	}
	if err := c.api.ContainerPause(ctx, rec.ContainerID); err != nil {
		if gone(err) {
			return u, fmt.Errorf("pause task %s: its container %s no longer exists", rec.Task, shortID(rec.ContainerID))
		}
		return u, fmt.Errorf("pause task %s: container %s: %w", rec.Task, shortID(rec.ContainerID), c.unreachable(err))
	}
	return u, nil
}

// unpause unpauses the container unless it runs already or is gone.
func unpause(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var rec pauseRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return fmt.Errorf("unpause task: bad undo record: %w", err)
	}
	c, err := cluster(ctx, env)
	if err != nil {
		return err
	}
	if err := docker.Reaches(rec.Host, c.Host()); err != nil {
		return fmt.Errorf("unpause task %s: %w", rec.Task, err)
	}
	info, err := c.api.ContainerInspect(ctx, rec.ContainerID)
	if gone(err) {
		// The orchestrator replaced the task and its container was
		// removed (or someone removed it): the service ran on without
		// the frozen container.
		return inject.GoneEarly("the container of task %s was gone before the revert, at a moment chaos did not see (swarm may have replaced the task, or someone removed it): the pause did not last", rec.Task)
	}
	if err != nil {
		return fmt.Errorf("unpause task %s: inspect container %s: %w", rec.Task, shortID(rec.ContainerID), c.unreachable(err))
	}
	switch {
	case info.State == nil:
		return inject.GoneEarly("the container of task %s was not paused any more before the revert", rec.Task)
	case !info.State.Paused && !info.State.Running:
		return inject.GoneEarly("the container of task %s had stopped before the revert (at %s, status %s), not paused any more (swarm may have replaced the task): the pause did not last", rec.Task, info.State.FinishedAt, info.State.Status)
	case !info.State.Paused:
		return inject.GoneEarly("the container of task %s was not paused any more before the revert: someone unpaused it", rec.Task)
	}
	if err := c.api.ContainerUnpause(ctx, rec.ContainerID); err != nil {
		if gone(err) {
			return inject.GoneEarly("the container of task %s was removed as the revert came: the pause did not last", rec.Task)
		}
		return fmt.Errorf("unpause task %s: %w; to restore it by hand run: docker unpause %s", rec.Task, c.unreachable(err), rec.ContainerID)
	}
	return nil
}
