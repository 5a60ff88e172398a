package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// This file plugs resource faults into chaos: what the faults of cpu.go,
// memory.go, io.go, diskfill.go and limits.go share to be faults of
// docker and process targets, and their one undo action. Each fault's
// registration is in its own file.

// undoRevert is the undo action of every resource fault: its Data is the
// fault's Record.
const undoRevert = "resource.revert"

func init() {
	inject.RegisterUndo(undoRevert, revert)
}

// lasting is embedded in the settings of a fault whose worker must know
// how long the fault may last; it implements inject.Bounded.
type lasting struct{ bound time.Duration }

// Bound sets the longest the fault can last, as the runner knows it; the
// worker ends by itself a grace after that.
func (l *lasting) Bound(d time.Duration) { l.bound = d }

func (l *lasting) lasts() time.Duration {
	if l == nil {
		return 0
	}
	return l.bound
}

// injector returns the run's Injector, made on first use: the workers it
// starts are its children until they are reverted.
func injector(env *inject.Env) *Injector {
	r, _ := env.Resource("resource", func() (any, error) {
		return &Injector{Docker: engineOf{env}, Engine: func(ctx context.Context, d docker.Daemon) (Docker, error) {
			return docker.EngineAt(ctx, env, d)
		}}, nil
	})
	return r.(*Injector)
}

// engineOf is the run's Docker engine, connected to on first use and
// shared with the docker faults: a process target needs none.
type engineOf struct{ env *inject.Env }

func (e engineOf) engine(ctx context.Context) (*docker.Engine, error) {
	r, err := e.env.Resource("docker", func() (any, error) { return docker.Connect(ctx) })
	if err != nil {
		return nil, err
	}
	return r.(*docker.Engine), nil
}

func (e engineOf) MainProcess(ctx context.Context, id string) (docker.MainProcess, error) {
	en, err := e.engine(ctx)
	if err != nil {
		return docker.MainProcess{}, err
	}
	return en.MainProcess(ctx, id)
}

func (e engineOf) Limits(ctx context.Context, id string) (docker.Limits, error) {
	en, err := e.engine(ctx)
	if err != nil {
		return docker.Limits{}, err
	}
	return en.Limits(ctx, id)
}

func (e engineOf) SetLimits(ctx context.Context, id string, want docker.Limits) error {
	en, err := e.engine(ctx)
	if err != nil {
		return err
	}
	return en.SetLimits(ctx, id, want)
}

func (e engineOf) MemoryInUse(ctx context.Context, id string) (int64, error) {
	en, err := e.engine(ctx)
	if err != nil {
		return 0, err
	}
	return en.MemoryInUse(ctx, id)
}

// targetOf turns a resolved target into a resource fault's target; a
// container carries the address of its engine, for a revert in any
// process.
func targetOf(ctx context.Context, env *inject.Env, t inject.Target) (Target, error) {
	switch t.Kind {
	case "docker":
		d, err := docker.DaemonFor(env, t.Engine)
		if err != nil {
			return Target{}, err
		}
		rt := Target{Container: t.ID, Name: t.Name, Daemon: d}
		if d.Default() {
			e, err := docker.EngineOf(ctx, env, t)
			if err != nil {
				return Target{}, err
			}
			rt.Host = e.Host()
		}
		return rt, nil
	case "process":
		pid, err := strconv.Atoi(t.ID)
		if err != nil || pid <= 0 {
			return Target{}, fmt.Errorf("process target %q is not a pid", t.ID)
		}
		return Target{PID: pid, Name: t.Name}, nil
	}
	return Target{}, fmt.Errorf("resource faults act on docker and process targets, not %s", t.Kind)
}

// runID is the run's ID as resource records name it.
func runID(env *inject.Env) string {
	if env.RunID == "" {
		return "chaos"
	}
	return env.RunID
}

// planFault computes f's record for t and wraps it in the undo the ledger
// keeps. It changes nothing.
func planFault(ctx context.Context, env *inject.Env, f Fault, l *lasting, t inject.Target) (inject.Undo, error) {
	rt, err := targetOf(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	rec, err := injector(env).Plan(ctx, f, rt, Options{RunID: runID(env), For: l.lasts()})
	if err != nil {
		return inject.Undo{}, err
	}
	return undoOf(t, rec)
}

func undoOf(t inject.Target, rec Record) (inject.Undo, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return inject.Undo{}, err
	}
	return inject.Undo{Action: undoRevert, Target: t, Data: data}, nil
}

// precheck plans f on t and throws the plan away: a target whose
// process, cgroups or file system cannot be found, on a Docker engine
// that is not on this host, or without room for the fault is refused
// before any target of the step is hit.
func precheck(ctx context.Context, env *inject.Env, f Fault, l *lasting, t inject.Target) error {
	_, err := planFault(ctx, env, f, l, t)
	return err
}

// injectFault applies the record that planFault put in u, and returns u
// with what applying it learned (the worker's process, its deadline).
func injectFault(ctx context.Context, env *inject.Env, u inject.Undo) (inject.Undo, error) {
	var rec Record
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("resource fault: bad record: %w", err)
	}
	applied, err := injector(env).Apply(ctx, rec)
	// Memory says something only when it stopped short of what was asked;
	// a filled disk always says how much its file takes, which the
	// record keeps.
	if applied.Result != "" && rec.Kind == "memory" {
		env.Warn(fmt.Sprintf("%s fault on %s: %s", rec.Kind, rec.Target, applied.Result))
	}
	if err != nil {
		return u, err
	}
	return undoOf(u.Target, applied)
}

// revert is the undo action: it reverts the record in u, in this run or
// in chaos recover, and reports a target that is gone as a warning.
func revert(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var rec Record
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return fmt.Errorf("revert resource fault: bad record: %w", err)
	}
	if rec.Kind == "" {
		return errors.New("revert resource fault: the record names no fault")
	}
	if t := rec.Target; t.Container != "" && t.Daemon.Default() && t.Host != "" {
		e, err := docker.EngineOf(ctx, env, u.Target)
		if err != nil {
			return fmt.Errorf("revert %s fault on %s: %w", rec.Kind, t, err)
		}
		if err := docker.Reaches(t.Host, e.Host()); err != nil {
			return fmt.Errorf("revert %s fault on %s: %w", rec.Kind, t, err)
		}
	}
	warnings, err := injector(env).Revert(ctx, rec)
	for _, w := range warnings {
		env.Warn(w)
	}
	return err
}

// HostNeeds says that the fault acts on the container's processes from
// this machine: its engine must run here.
func (*CPU) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a resource fault acts on the container's processes from this machine"
}

// HostNeeds says that the fault acts on the container's processes from
// this machine: its engine must run here.
func (*Memory) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a resource fault acts on the container's processes from this machine"
}

// HostNeeds says that the fault acts on the container's processes from
// this machine: its engine must run here.
func (*DiskFill) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a resource fault acts on the container's processes from this machine"
}

// HostNeeds says that the fault acts on the container's processes from
// this machine: its engine must run here.
func (*IO) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a resource fault acts on the container's processes from this machine"
}

// HostNeeds says that the fault acts on the container's processes from
// this machine: its engine must run here.
func (*Limits) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a resource fault acts on the container's processes from this machine"
}
