package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "swarm", Name: "kill", New: func() inject.Fault { return &KillParams{} }, Doc: experiment.Doc{
		Summary: "Sends a signal to the container of each picked task. Swarm sees the task fail and starts another by the service's restart policy; nothing is undone.",
		Example: "{signal: SIGKILL}",
	}})
}

// KillParams are the settings of the kill fault: the container of each
// picked task gets a signal. Swarm sees the task fail and starts another in
// its place, by the service's restart policy; nothing is undone.
type KillParams struct {
	Signal experiment.Signal `yaml:"signal" json:"signal"`
}

// SetDefaults kills with SIGKILL.
func (p *KillParams) SetDefaults() { p.Signal = experiment.MustSignal("SIGKILL") }

// Validate refuses the signals that stop a process: kill never undoes
// them; the pause fault freezes a task and unpauses it afterwards.
func (p *KillParams) Validate() error {
	switch p.Signal.Name {
	case "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU":
		return fmt.Errorf("signal %s stops the task's process and kill never undoes it: use the pause fault, which unpauses it afterwards", p.Signal.Name)
	}
	return nil
}

// Precheck refuses a task whose container is on another node than the
// engine's, and a signal the container's main process would never
// receive (docker.Unheard): the kill would do nothing.
func (p *KillParams) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	task, err := localTask(ctx, env, t)
	if err != nil {
		return err
	}
	c, _ := cluster(ctx, env)
	if !strings.HasPrefix(c.Host(), "unix://") {
		return nil
	}
	info, err := c.api.ContainerInspect(ctx, task.ContainerID)
	if err != nil || info.ContainerJSONBase == nil || info.State == nil {
		return nil // the injection reports what is wrong
	}
	if why := docker.Unheard(info.State.Pid, task.ContainerID, p.Signal); why != "" {
		return fmt.Errorf("kill task %s with %s: %s: the kill would do nothing; send a signal the process handles, or SIGKILL", task.Name(), p.Signal.Name, why)
	}
	return nil
}

// killRecord names the container a kill signals. There is nothing to
// undo; it is kept for the journal.
type killRecord struct {
	TaskID      string `json:"task_id"`
	Task        string `json:"task"`
	ContainerID string `json:"container_id"`
	Signal      string `json:"signal"`
}

// Plan finds the task's container.
func (p *KillParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	task, err := localTask(ctx, env, t)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("kill task: %w", err)
	}
	data, _ := json.Marshal(killRecord{TaskID: task.ID, Task: task.Name(), ContainerID: task.ContainerID, Signal: p.Signal.Name})
	return inject.Undo{Target: t, Data: data}, nil
}

// Inject signals the container.
func (p *KillParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return u, err
	}
	var rec killRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("kill task: bad record: %w", err)
	}
	// Marked first: a probe that looks while the signal is on its way
	// must not count the task.
	c.markKilled(rec.ContainerID)
	if err := c.api.ContainerKill(ctx, rec.ContainerID, rec.Signal); err != nil {
		if gone(err) {
			return u, fmt.Errorf("kill task %s: its container %s no longer exists", rec.Task, shortID(rec.ContainerID))
		}
		return u, fmt.Errorf("kill task %s: container %s: %w", rec.Task, shortID(rec.ContainerID), c.unreachable(err))
	}
	return u, nil
}

// localTask looks the target's task up and checks that its container is
// the engine's.
func localTask(ctx context.Context, env *inject.Env, t inject.Target) (Task, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return Task{}, err
	}
	task, err := c.task(ctx, t.ID)
	if err != nil {
		return Task{}, err
	}
	return task, c.local(ctx, task)
}
