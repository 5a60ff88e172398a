package resource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// Limits is the limits fault: a Docker container's CPU and memory limits
// lowered live through the engine's API, and restored on revert to what
// they were. Set at least one of CPUs, CPUShares and Memory.
type Limits struct {
	// CPUs is the new CPU limit: a number of CPUs (0.5), or a share of the
	// container's current limit (50%), which needs one.
	CPUs CPUs `yaml:"cpus" json:"cpus,omitzero" doc:"the new CPU limit: a number of CPUs (0.5) or a share of the container's current limit (50%)"`
	// CPUShares is the new relative CPU weight (the default is 1024).
	CPUShares int64 `yaml:"cpu_shares" json:"cpu_shares,omitempty" doc:"the new relative CPU weight (Docker's default is 1024)"`
	// Memory is the new memory limit: a size (64MiB) or a share of the
	// current limit (50%). The container must have a memory limit: Docker
	// cannot remove one once set, so chaos could not restore "none".
	Memory Bytes `yaml:"memory" json:"memory,omitzero" doc:"the new memory limit: a size (64MiB) or a share of the current one (50%); the container must have one"`
	// AllowOOM lets the memory limit go below what the container uses now
	// plus a margin (5% of the new limit, at least 8MiB), where the kernel
	// reclaims what it can and the OOM killer may act.
	AllowOOM bool `yaml:"allow_oom" json:"allow_oom,omitempty" doc:"let the memory limit go below what the container uses now plus a margin, where the OOM killer may act"`
}

// Kind is "limits".
func (*Limits) Kind() string { return "limits" }

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "limits", New: func() inject.Fault { return &Limits{} }, Doc: limitsDoc})
}

// Plan finds the target and computes what the fault does to it, from
// what it has and uses now; it changes nothing.
func (l *Limits) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return planFault(ctx, env, l, nil, t)
}

// Precheck plans the fault on t, so that a target it cannot act on is
// refused before the step hits any.
func (l *Limits) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, l, nil, t)
}

// Inject applies the plan.
func (l *Limits) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return injectFault(ctx, env, u)
}

// Validate wants at least one limit.
func (l *Limits) Validate() error {
	switch {
	case l.CPUs.IsZero() && l.CPUShares == 0 && l.Memory.IsZero():
		return errors.New("set cpus, cpu_shares or memory: the limits to lower")
	case l.CPUShares < 0 || (l.CPUShares > 0 && l.CPUShares < 2):
		return fmt.Errorf("cpu_shares %d: want 2 or more", l.CPUShares)
	case l.CPUs.N > 0 && l.CPUs.N < docker.MinCPUs:
		return fmt.Errorf("cpus %v: Docker accepts no less than %v", l.CPUs.N, docker.MinCPUs)
	case l.Memory.N > 0 && l.Memory.N < docker.MinMemory:
		return fmt.Errorf("memory %s: Docker accepts no less than 6MiB", formatBytes(l.Memory.N))
	}
	return nil
}

func (l *Limits) plan(p *planning) error {
	t := p.rec.Target
	if t.Container == "" {
		return errors.New("limits acts on Docker containers only: for a process use the cpu or memory fault")
	}
	d, err := p.in.docker(p.ctx, t)
	if err != nil {
		return err
	}
	cur, err := d.Limits(p.ctx, t.Container)
	if err != nil {
		return err
	}
	p.in.mu.Lock()
	other, again := p.in.lowered[t.container()]
	p.in.mu.Unlock()
	if again && cur.Equivalent(other) {
		// The limits are still those another fault of the run set: this
		// record would take them for the container's own, and its revert
		// could put them back after the other fault's.
		return errors.New("its limits are lowered already by another limits fault of this run: lower them all in one step")
	}
	var want docker.Lower
	if !l.CPUs.IsZero() {
		if l.CPUs.Share > 0 && cur.CPUs() == 0 {
			return fmt.Errorf("cpus %s is a share of the container's CPU limit, and it has none: give a number of CPUs such as 0.5", l.CPUs)
		}
		want.CPUs = l.CPUs.Of(cur.CPUs())
	}
	want.CPUShares = l.CPUShares
	if !l.Memory.IsZero() {
		want.Memory = l.Memory.Of(cur.Memory)
	}
	lowered, err := docker.Lowered(cur, want)
	if err != nil {
		return err
	}
	var parts []string
	if want.CPUs > 0 {
		from := "no CPU limit"
		if cur.CPUs() > 0 {
			from = strconv.FormatFloat(cur.CPUs(), 'f', -1, 64) + " CPUs"
		}
		parts = append(parts, fmt.Sprintf("CPU limit from %s to %s", from, strconv.FormatFloat(lowered.CPUs(), 'f', -1, 64)))
	}
	if want.CPUShares > 0 {
		parts = append(parts, fmt.Sprintf("CPU shares from %d to %d", cur.Shares(), lowered.CPUShares))
	}
	if want.Memory > 0 {
		inUse, err := d.MemoryInUse(p.ctx, t.Container)
		if err != nil {
			return err
		}
		margin := memoryMargin(want.Memory)
		if !l.AllowOOM && want.Memory < inUse+margin {
			return fmt.Errorf("memory %s is too low: the container uses %s, and the new limit must leave %s above that so as not to wake the OOM killer; ask for at least %s, or set allow_oom: true",
				formatBytes(want.Memory), formatBytes(inUse), formatBytes(margin), formatBytes(inUse+margin))
		}
		parts = append(parts, fmt.Sprintf("memory limit from %s to %s (it uses %s)", formatBytes(cur.Memory), formatBytes(want.Memory), formatBytes(inUse)))
	}
	p.rec.Limits = &LimitsChange{Before: cur, Lowered: lowered, Began: time.Now()}
	p.rec.Summary = fmt.Sprintf("lower the %s of %s", strings.Join(parts, ", "), t)
	return nil
}

func (in *Injector) applyLimits(ctx context.Context, rec Record) error {
	d, err := in.docker(ctx, rec.Target)
	if err != nil {
		return err
	}
	return d.SetLimits(ctx, rec.Target.Container, rec.Limits.Lowered)
}

// limitsSettle is how long an update of a container's limits may still
// take to land after it was sent.
const limitsSettle = 10 * time.Second

// revertLimits puts back the limits rec lowered. early says why the
// lowered limits were gone before the revert came, when they were: the
// container removed (and perhaps made again in its place), or its limits
// set by someone else.
func (in *Injector) revertLimits(ctx context.Context, rec Record) (warnings []string, early string, err error) {
	d, err := in.docker(ctx, rec.Target)
	if err != nil {
		return nil, "", err
	}
	in.mu.Lock()
	answered := in.answered[rec.Key]
	in.mu.Unlock()
	if lc := rec.Limits; !lc.Applied && !lc.Began.IsZero() && !answered {
		// The run that asked for the lowering died before the answer,
		// and the engine may carry it out yet: restored now, the limits
		// would be lowered after the revert, for good. Wait for it to
		// land first (the records of earlier versions of chaos say
		// neither, and are restored at once).
		if err := awaitLowered(ctx, d, rec, time.Until(lc.Began.Add(limitsSettle))); err != nil {
			return nil, "", err
		}
	}
	// Looked at once any lowering asked for has landed: before, limits
	// still as they were would read as someone's restoring them.
	cur, err := d.Limits(ctx, rec.Target.Container)
	switch {
	case errors.Is(err, docker.ErrGone):
		// Removed, and perhaps made again in its place (Compose,
		// Swarm), with the limits of its definition: what ran since was
		// not under the fault.
		return nil, fmt.Sprintf("%s was removed before the revert, at a moment chaos did not see, and its lowered limits with it: what ran after (a container made again in its place) was not under the fault", rec.Target), nil
	case err == nil && cur.Equivalent(rec.Limits.Before):
		return nil, fmt.Sprintf("the limits of %s were back to %s before the revert, not the lowered %s: someone restored them, and the fault did not last", rec.Target, rec.Limits.Before, rec.Limits.Lowered), nil
	case err == nil && !cur.Equivalent(rec.Limits.Lowered):
		early = fmt.Sprintf("the limits of %s were %s before the revert, not the lowered %s: someone changed them, and the fault did not last", rec.Target, cur, rec.Limits.Lowered)
	}
	err = d.SetLimits(ctx, rec.Target.Container, rec.Limits.Before)
	if errors.Is(err, docker.ErrGone) {
		return []string{fmt.Sprintf("%s no longer exists: its limits went with it", rec.Target)}, early, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w; to restore them by hand run: docker update %s %s", err, rec.Limits.Before, rec.Target.Container)
	}
	return nil, early, nil
}

var limitsDoc = experiment.Doc{
	Summary: "Lowers a container's CPU and memory limits live through the Docker engine; the previous values are restored on revert. A second limits fault on a container whose limits the run has lowered already is refused: lower them all in one step.",
	Example: "{cpus: 50%, memory: 64MiB}",
}

// awaitLowered watches rec's container, for at most d, until its limits
// are the lowered ones, or it is gone.
func awaitLowered(ctx context.Context, d Docker, rec Record, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		cur, err := d.Limits(ctx, rec.Target.Container)
		if err != nil || cur.Equivalent(rec.Limits.Lowered) {
			return nil // the revert says what went wrong
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the lowering of the limits of %s that its run asked for may still take effect; run chaos recover again once %s have passed", rec.Target, time.Until(deadline).Round(time.Second))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
