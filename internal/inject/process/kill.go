package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"syscall"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "kill", New: func() inject.Fault { return &KillParams{} }, Doc: experiment.Doc{
		Summary: "Sends a signal to each process hit. Nothing is undone: a process that dies stays dead, unless something restarts it.",
		Example: "{signal: SIGKILL}",
	}})
}

// KillParams are the settings of the kill fault: one signal sent to each
// picked process. Nothing is undone.
type KillParams struct {
	Signal experiment.Signal `yaml:"signal" json:"signal" doc:"the signal sent; a signal that stops the process (SIGSTOP) is refused: use the stop fault; so is one the process ignores, or has no handler for as the first process of a PID namespace: the kernel discards it and the kill would do nothing"`
}

// SetDefaults sends SIGTERM, which lets the process clean up, unless told
// otherwise.
func (p *KillParams) SetDefaults() { p.Signal = experiment.MustSignal("SIGTERM") }

// Validate refuses the signals that stop a process: sent by kill they would
// never be undone, while the stop fault continues the process afterwards.
func (p *KillParams) Validate() error {
	if p.Signal.Stops() {
		return fmt.Errorf("signal %s stops the process and kill never undoes it: use the stop fault, which continues it afterwards", p.Signal.Name)
	}
	return nil
}

// Plan records which process the signal is for, its pid and start time;
// nothing is undone. A signal the kernel would discard (the process
// ignores it, or has no handler for it as the first process of its PID
// namespace) is refused: the kill would do nothing, and a run would pass
// under a fault that never was.
func (p *KillParams) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	pid, _ := strconv.Atoi(t.ID)
	id, err := proc.Identify(pid)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("send %s to process %d: %w", p.Signal, pid, err)
	}
	if why := proc.Discards(pid, p.Signal.Number); why != "" {
		return inject.Undo{}, fmt.Errorf("send %s to process %d: %s: the kill would do nothing; send a signal the process handles, or SIGKILL", p.Signal.Name, pid, why)
	}
	data, _ := json.Marshal(id)
	return inject.Undo{Target: t, Data: data}, nil
}

// Inject sends the signal to the process planned on, and no other: a pid
// that names another process now is left alone.
func (p *KillParams) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var id proc.ID
	if err := json.Unmarshal(u.Data, &id); err != nil {
		return u, fmt.Errorf("send %s to process: bad record: %w", p.Signal, err)
	}
	if err := id.Signal(syscall.Signal(p.Signal.Number)); err != nil {
		return u, fmt.Errorf("send %s to process %d: %w", p.Signal, id.PID, err)
	}
	return u, nil
}
