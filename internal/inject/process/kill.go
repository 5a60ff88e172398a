package process

import (
	"context"
	"fmt"
	"strconv"
	"syscall"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
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
	Signal experiment.Signal `yaml:"signal" json:"signal" doc:"the signal sent; a signal that stops the process (SIGSTOP) is refused: use the stop fault"`
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

// Plan has nothing to record: a signal cannot be taken back.
func (p *KillParams) Plan(context.Context, *inject.Env, inject.Target) (inject.Undo, error) {
	return inject.Undo{}, nil
}

// Inject sends the signal.
func (p *KillParams) Inject(_ context.Context, _ *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	pid, _ := strconv.Atoi(t.ID)
	if err := syscall.Kill(pid, syscall.Signal(p.Signal.Number)); err != nil {
		return u, fmt.Errorf("send %s to process %d: %w", p.Signal, pid, err)
	}
	return u, nil
}
