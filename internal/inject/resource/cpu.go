package resource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// CPU is the cpu fault: busy workers inside the target's cgroups, so that
// the target competes for its own CPU quota. Set exactly one of Workers
// and Load.
type CPU struct {
	lasting

	// Workers is the number of workers, each busy all the time: each takes
	// up to one CPU, as much as the quota and the host leave it.
	Workers int `yaml:"workers" json:"workers,omitempty" doc:"busy workers, each taking up to one CPU (give workers or load)"`
	// Load is the CPU time to take, as a share of what the target may use:
	// its CPU quota, else its cpuset's CPUs, else the host's. 50% of a
	// 2-CPU quota is 1 CPU, spread over as many workers as it takes, each
	// busy the same share of the time.
	Load experiment.Percent `yaml:"load" json:"load,omitempty" doc:"CPU time to take as a share of what the target may use: its quota, else its cpuset's CPUs, else the host's (give workers or load)"`
}

// maxWorkers bounds Workers: more than this many busy threads on one host
// is a typo, not an experiment.
const maxWorkers = 256

// Kind is "cpu".
func (*CPU) Kind() string { return "cpu" }

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "cpu", New: func() inject.Fault { return &CPU{} }, Doc: cpuDoc})
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "cpu", New: func() inject.Fault { return &CPU{} }, Doc: cpuDoc})
}

// Plan finds the target and computes what the fault does to it, from
// what it has and uses now; it changes nothing.
func (c *CPU) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return planFault(ctx, env, c, &c.lasting, t)
}

// Precheck plans the fault on t, so that a target it cannot act on is
// refused before the step hits any.
func (c *CPU) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, c, &c.lasting, t)
}

// Inject applies the plan.
func (c *CPU) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return injectFault(ctx, env, u)
}

// Validate wants exactly one of workers and load.
func (c *CPU) Validate() error {
	switch {
	case c.Workers == 0 && c.Load == 0:
		return errors.New("set workers (a number of busy workers) or load (a share of the target's CPU, such as 50%)")
	case c.Workers != 0 && c.Load != 0:
		return errors.New("set workers or load, not both")
	case c.Workers < 0 || c.Workers > maxWorkers:
		return fmt.Errorf("workers %d: want 1 to %d", c.Workers, maxWorkers)
	}
	return nil
}

func (c *CPU) plan(p *planning) error {
	j, err := p.job()
	if err != nil {
		return err
	}
	cpus, err := j.Cgroup.CPUs()
	if err != nil {
		return err
	}
	w := &CPUWork{Workers: c.Workers, Duty: 1}
	if c.Load > 0 {
		total := c.Load.Fraction() * cpus
		w.Workers = int(math.Ceil(total - 1e-9))
		w.Duty = total / float64(w.Workers)
		if w.Workers > maxWorkers {
			return fmt.Errorf("load %s of %v CPUs takes %d workers, more than %d", c.Load, cpus, w.Workers, maxWorkers)
		}
	}
	j.CPU = w
	p.rec.Summary = fmt.Sprintf("%d busy worker%s (%s of the time each) in the cgroups of %s, which may use %s CPUs",
		w.Workers, plural(w.Workers), experiment.Percent(w.Duty), p.rec.Target, strconv.FormatFloat(cpus, 'f', -1, 64))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CPUWork is the cpu fault's job: Workers threads, each busy Duty of the
// time.
type CPUWork struct {
	Workers int     `json:"workers"`
	Duty    float64 `json:"duty"`
}

// cycle is the period over which a worker that is busy part of the time
// spreads its busy and idle time.
const cycle = 20 * time.Millisecond

func (w *CPUWork) run(ctx context.Context, _ *worker, ready func(string)) error {
	runtime.GOMAXPROCS(w.Workers + 1)
	var wg sync.WaitGroup
	for range w.Workers {
		wg.Go(func() {
			runtime.LockOSThread()
			burn(ctx, w.Duty)
		})
	}
	ready("")
	<-ctx.Done()
	wg.Wait()
	return nil
}

// burn keeps the thread busy duty of the time until ctx ends. The busy
// part of each cycle is counted in the thread's own CPU time, not in wall
// time, so that time the thread waits for a CPU or for the next quota
// period does not count as work done: the worker makes up for it in the
// same cycle.
func burn(ctx context.Context, duty float64) {
	busy := time.Duration(duty * float64(cycle))
	var sink uint64
	for ctx.Err() == nil {
		start, used := time.Now(), threadCPU()
		for threadCPU()-used < busy {
			for i := range 10000 {
				sink += uint64(i) * 2654435761
			}
		}
		if rest := cycle - time.Since(start); duty < 1 && rest > 0 {
			t := time.NewTimer(rest)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = sink
}

var cpuDoc = experiment.Doc{
	Summary: "Busy CPU workers started inside the target's cgroup, so the target competes for its own CPU quota; they end with the fault (and at its for plus a grace period even if chaos dies).",
	Example: "{workers: 2}",
}
