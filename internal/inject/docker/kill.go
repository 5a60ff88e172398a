package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "kill", New: func() inject.Fault { return &KillParams{} }, Doc: experiment.Doc{
		Summary: "Sends a signal to each container's main process. Nothing is undone: the restart policy, or nothing, brings it back.",
		Example: "{signal: SIGKILL, crash: true}",
	}})
}

// KillParams are the settings of the kill fault, which sends a signal to
// each container's main process. Nothing is undone: a restart policy or an
// orchestrator is what brings the container back, and that is what the
// experiment observes.
type KillParams struct {
	Signal experiment.Signal `yaml:"signal" json:"signal" doc:"the signal sent to the container's main process; a signal that stops it (SIGSTOP) is refused: use the pause fault; so is, with the engine on this host, one that the process ignores or, as the first process of its PID namespace, has no handler for: the kernel discards it"`
	// Crash signals the container's main process from the host, so that the
	// daemon sees a crash and applies the restart policy, which it does not
	// after a kill through its API. It needs Linux, the daemon on this host
	// (a unix socket) and the permission to signal its processes.
	Crash bool `yaml:"crash" json:"crash,omitempty" doc:"signal the process from the host, so that the engine sees a crash and applies the restart policy, which it does not after a kill through its API"`
}

// SetDefaults kills with SIGKILL.
func (p *KillParams) SetDefaults() { p.Signal = experiment.MustSignal("SIGKILL") }

// Validate refuses the signals that stop a process: kill never undoes
// them; the pause fault freezes a container and unpauses it afterwards.
func (p *KillParams) Validate() error {
	if p.Signal.Stops() {
		return fmt.Errorf("signal %s stops the container's process and kill never undoes it: use the pause fault, which unpauses it afterwards", p.Signal.Name)
	}
	return nil
}

// killRecord is what a kill does to one container.
type killRecord struct {
	Record
	// Signal is the signal sent, canonical ("SIGKILL").
	Signal string `json:"signal,omitempty"`
	// PID is the host pid of the main process a crash signals.
	PID int `json:"pid,omitempty"`
}

// Precheck refuses, before the step hits any container, a crash of a
// container whose process chaos cannot signal from here, and a signal the
// container's main process would never receive.
func (p *KillParams) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return err
	}
	r := newRecord(env, "kill", t)
	if p.Crash {
		if _, err := e.crashPID(ctx, r); err != nil {
			return err
		}
	}
	return e.unheard(ctx, r, p.Signal)
}

// unheard refuses a signal that the kernel discards before it reaches the
// container's main process (see proc.Discards): the kill would do nothing,
// and a run would pass under a fault that never was. Only an engine on
// this host, whose processes chaos sees, tells.
func (e *Engine) unheard(ctx context.Context, r Record, s experiment.Signal) error {
	if !strings.HasPrefix(e.host, "unix://") {
		return nil
	}
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil || info.State == nil {
		return nil // the injection reports what is wrong
	}
	if why := Unheard(info.State.Pid, r.ContainerID, s); why != "" {
		return fmt.Errorf("kill container %s with %s: %s: the kill would do nothing; send a signal the process handles, or SIGKILL", r.target(), s.Name, why)
	}
	return nil
}

// Unheard says why the kernel would discard signal s sent to the main
// process of the container id, of an engine on this host whose inspect
// gave pid: the process ignores it, or has no handler for it as the first
// process of its PID namespace. It is empty when the signal is delivered
// or when that cannot be told from here.
func Unheard(pid int, id string, s experiment.Signal) string {
	if pid <= 0 || ownsPID(pid, id) != nil {
		return ""
	}
	if why := proc.Discards(pid, s.Number); why != "" {
		return fmt.Sprintf("its main process (pid %d): %s", pid, why)
	}
	return ""
}

// Plan records the signal and, for a crash, the pid it goes to.
func (p *KillParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	r := killRecord{Record: newRecord(env, "kill", t), Signal: p.Signal.Name}
	if p.Crash {
		e, err := targetEngine(ctx, env, t)
		if err != nil {
			return inject.Undo{}, err
		}
		if r.PID, err = e.crashPID(ctx, r.Record); err != nil {
			return inject.Undo{}, err
		}
	}
	return planned(p, t, r)
}

// Inject sends the signal, through the daemon or, for a crash, from the
// host. A kill with SIGKILL through the daemon returns once the daemon has
// seen the container die; other signals return as soon as they are sent.
func (p *KillParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var r killRecord
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	eff := Effect{Ends: true, Kills: p.Signal.Number == 9}
	return u, e.strike(ctx, env, r.Record, eff, func() error {
		if r.PID > 0 {
			if err := signalProcess(r.PID, r.ContainerID, p.Signal.Name); err != nil {
				return fmt.Errorf("crash container %s: %w", r.target(), err)
			}
			return nil
		}
		return e.failed("kill container "+r.target(), e.api.ContainerKill(ctx, r.ContainerID, daemonSignal(p.Signal)))
	})
}

// daemonSignal is how the daemon is told the signal: by name, which does
// not depend on how the daemon's machine numbers signals, but real-time
// ones by number, since the daemon knows only some of their names.
func daemonSignal(s experiment.Signal) string {
	if s.RealTime() {
		return strconv.Itoa(s.Number)
	}
	return s.Name
}

// signalNumber returns the number of a signal given by name.
func signalNumber(sig string) (int, error) {
	s, err := experiment.ParseSignal(sig)
	return s.Number, err
}

// crashPID returns the host pid of r's container's main process, once it
// is sure the pid is the container's.
func (e *Engine) crashPID(ctx context.Context, r Record) (int, error) {
	if !strings.HasPrefix(e.host, "unix://") {
		return 0, fmt.Errorf("crash container %s: the Docker daemon at %s is not on this host: kill without crash", r.target(), e.host)
	}
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil {
		if gone(err) {
			return 0, fmt.Errorf("crash container %s: it no longer exists", r.target())
		}
		return 0, fmt.Errorf("crash container %s: inspect: %w", r.target(), e.unreachable(err))
	}
	if info.State == nil || !info.State.Running || info.State.Pid <= 0 {
		return 0, fmt.Errorf("crash container %s: it is not running", r.target())
	}
	if err := ownsPID(info.State.Pid, r.ContainerID); err != nil {
		return 0, fmt.Errorf("crash container %s: %w", r.target(), err)
	}
	return info.State.Pid, nil
}

// HostNeeds says that a crash signals the container's process from this
// machine: its engine must be on this machine.
func (p *KillParams) HostNeeds() (experiment.HostNeed, string) {
	if p.Crash {
		return experiment.NeedsLocalEngine, "a crash signals the container's process from this machine"
	}
	return experiment.NeedsNothing, ""
}
