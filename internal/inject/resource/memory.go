package resource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// Memory is the memory fault: a worker inside the target's cgroups takes
// memory and touches every page of it, so that it counts against the
// target's limit, as a leak of the target's would. The worker's own
// runtime adds about 4MiB to the cgroup besides.
type Memory struct {
	lasting

	// Size is the memory to take: a size (256MiB), or a share of the
	// target's memory limit (50%).
	Size Bytes `yaml:"size" json:"size" chaos:"required" doc:"the memory to take: a size (256MiB) or a share of the target's memory limit (50%)"`
	// AllowOOM lets the fault take memory up to and past the target's
	// limit, where the OOM killer ends the target or the worker. Without
	// it the fault stays a margin under the limit (5% of it, at least
	// 8MiB), refuses a size that does not fit, and stops short if the
	// target grows meanwhile (failing when that leaves it nothing to
	// take); without a limit it leaves the host the same
	// margin of its available memory, at least 256MiB.
	AllowOOM bool `yaml:"allow_oom" json:"allow_oom,omitempty" doc:"take memory up to and past the target's limit, where the OOM killer ends the target or the worker; without it the fault stays a margin under the limit"`
}

// Kind is "memory".
func (*Memory) Kind() string { return "memory" }

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "memory", New: func() inject.Fault { return &Memory{} }, Doc: memoryDoc})
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "memory", New: func() inject.Fault { return &Memory{} }, Doc: memoryDoc})
}

// Plan finds the target and computes what the fault does to it, from
// what it has and uses now; it changes nothing.
func (m *Memory) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return planFault(ctx, env, m, &m.lasting, t)
}

// Precheck plans the fault on t, so that a target it cannot act on is
// refused before the step hits any.
func (m *Memory) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, m, &m.lasting, t)
}

// Inject applies the plan.
func (m *Memory) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return injectFault(ctx, env, u)
}

// Validate wants a size.
func (m *Memory) Validate() error {
	if m.Size.IsZero() {
		return errors.New("set size: the memory to take, such as 256MiB or 50% of the target's limit")
	}
	return nil
}

// memoryMargin is what the fault leaves free under a limit: 5% of it, at
// least 8MiB.
func memoryMargin(limit int64) int64 { return max(8<<20, limit/20) }

// hostMargin is what the fault leaves of the host's available memory when
// the target has no limit: 5% of it, at least 256MiB.
func hostMargin(avail int64) int64 { return max(256<<20, avail/20) }

func (m *Memory) plan(p *planning) error {
	j, err := p.job()
	if err != nil {
		return err
	}
	mem, err := j.Cgroup.Memory()
	if err != nil {
		return err
	}
	if m.Size.Share > 0 && mem.Limit == 0 {
		return fmt.Errorf("size %s is a share of the target's memory limit, and it has none: give a size such as 256MiB", m.Size)
	}
	n := m.Size.Of(mem.Limit)
	w := &MemoryWork{Bytes: n}
	j.Memory = w
	switch {
	case m.AllowOOM && mem.Limit > 0:
		p.rec.Summary = fmt.Sprintf("take %s in the cgroups of %s, which uses %s of its %s limit; the OOM killer may act", formatBytes(n), p.rec.Target, formatBytes(mem.WorkingSet()), formatBytes(mem.Limit))
	case m.AllowOOM:
		p.rec.Summary = fmt.Sprintf("take %s in the cgroups of %s, which has no memory limit; the host's OOM killer may act", formatBytes(n), p.rec.Target)
	case mem.Limit > 0:
		w.Limit, w.Margin = mem.Limit, memoryMargin(mem.Limit)
		room := mem.Limit - mem.WorkingSet() - w.Margin
		if n > room {
			return fmt.Errorf("size %s does not fit: the target uses %s of its %s memory limit, and the fault stays %s under the limit so as not to wake the OOM killer; ask for at most %s, or set allow_oom: true",
				formatBytes(n), formatBytes(mem.WorkingSet()), formatBytes(mem.Limit), formatBytes(w.Margin), formatBytes(max(0, room)))
		}
		p.rec.Summary = fmt.Sprintf("take %s in the cgroups of %s, which uses %s of its %s limit; stop %s under the limit", formatBytes(n), p.rec.Target, formatBytes(mem.WorkingSet()), formatBytes(mem.Limit), formatBytes(w.Margin))
	default:
		avail, err := memAvailable()
		if err != nil {
			return err
		}
		w.HostMargin = hostMargin(avail)
		if n > avail-w.HostMargin {
			return fmt.Errorf("size %s does not fit: the target has no memory limit and the host has %s available, of which the fault leaves %s; ask for at most %s, or set allow_oom: true",
				formatBytes(n), formatBytes(avail), formatBytes(w.HostMargin), formatBytes(max(0, avail-w.HostMargin)))
		}
		p.rec.Summary = fmt.Sprintf("take %s in the cgroups of %s, which has no memory limit; leave the host %s of its available memory", formatBytes(n), p.rec.Target, formatBytes(w.HostMargin))
	}
	return nil
}

// memAvailable reads the host's available memory from /proc/meminfo.
func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read the host's available memory: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, errors.New("read the host's available memory: no MemAvailable in /proc/meminfo")
}

// MemoryWork is the memory fault's job: take Bytes. With a Limit, stop
// before the cgroup's working set comes within Margin of it; with a
// HostMargin, stop before the host's available memory falls under it.
// Neither set means up to the OOM killer.
type MemoryWork struct {
	Bytes      int64 `json:"bytes"`
	Limit      int64 `json:"limit,omitempty"`
	Margin     int64 `json:"margin,omitempty"`
	HostMargin int64 `json:"host_margin,omitempty"`
}

// chunk is how much memory a worker touches between two looks at the
// margin.
const chunk = 4 << 20

func (w *MemoryWork) run(ctx context.Context, wk *worker, ready func(string)) error {
	// The memory is the target's shortage, not a process to blame: when
	// the target's growth wakes the OOM killer, the killer is to pick the
	// target, as it would pick a target whose memory ran short, instead
	// of ending the fault. The memory is held unmapped (memoryFile), and,
	// where the worker may (CAP_SYS_RESOURCE), its oom_score_adj lowered
	// as well. Still killable, should it be alone in the cgroup.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-900"), 0)
	mem, err := newMemoryFile()
	if err != nil {
		return fmt.Errorf("take %s: %w", formatBytes(w.Bytes), err)
	}
	defer mem.close()
	var taken int64
	note := ""
	for taken < w.Bytes {
		if ctx.Err() != nil {
			return nil
		}
		if stop, why := w.full(wk.job.Cgroup, min(chunk, w.Bytes-taken)); stop {
			if taken == 0 {
				// A fault that holds nothing is no fault: what the
				// target does meanwhile says nothing of it.
				return fmt.Errorf("took none of the %s asked: %s", formatBytes(w.Bytes), why)
			}
			note = fmt.Sprintf("took %s of the %s asked: %s", formatBytes(taken), formatBytes(w.Bytes), why)
			break
		}
		end := min(taken+chunk, w.Bytes)
		if err := mem.grow(taken, end-taken); err != nil {
			return fmt.Errorf("take %s: %w", formatBytes(w.Bytes), err)
		}
		taken = end
	}
	ready(note)
	<-ctx.Done()
	return nil
}

// full reports whether taking n more bytes would cross the margin.
func (w *MemoryWork) full(g cgroup.Group, n int64) (bool, string) {
	switch {
	case w.Limit > 0:
		m, err := g.Memory()
		if err != nil {
			return true, "cannot read the cgroup's memory: " + err.Error()
		}
		if m.WorkingSet()+n > w.Limit-w.Margin {
			return true, fmt.Sprintf("the target's cgroup uses %s of its %s limit, and the fault stays %s under it", formatBytes(m.WorkingSet()), formatBytes(w.Limit), formatBytes(w.Margin))
		}
	case w.HostMargin > 0:
		avail, err := memAvailable()
		if err != nil {
			return true, err.Error()
		}
		if avail-n < w.HostMargin {
			return true, fmt.Sprintf("the host has %s available, and the fault leaves it %s", formatBytes(avail), formatBytes(w.HostMargin))
		}
	}
	return false, ""
}

var memoryDoc = experiment.Doc{
	Summary: "Allocates and touches memory inside the target's cgroup, so the target has that much less of its limit; released on revert.",
	Example: "{size: 128MiB}",
}
