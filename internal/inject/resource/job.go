package resource

import (
	"context"
	"time"

	"github.com/gamedayhq/chaos/internal/cgroup"
)

// Job is what one worker does. Plan computes it; Apply fills in the
// parent and the deadline and hands it to the worker on its stdin.
type Job struct {
	Kind  string `json:"kind"`
	RunID string `json:"run_id"`
	Key   string `json:"key"`
	// For is how long the fault lasts.
	For time.Duration `json:"for"`
	// Deadline is when the worker ends by itself: when Apply started it,
	// plus For, plus the grace.
	Deadline time.Time `json:"deadline,omitzero"`
	// Parent is the process that started the worker; the worker ends
	// when it does.
	Parent int `json:"parent,omitempty"`
	// Target is the target's process. The worker ends when it does, and
	// reaches the target's file system through its /proc/PID/root.
	Target Process `json:"target"`
	// Cgroup is where the worker works: the target's cgroups. The worker
	// is moved there before it is given the job, and checks it.
	Cgroup cgroup.Group `json:"cgroup"`

	CPU    *CPUWork    `json:"cpu,omitempty"`
	Memory *MemoryWork `json:"memory,omitempty"`
	IO     *IOWork     `json:"io,omitempty"`
	Fill   *FillWork   `json:"fill,omitempty"`
}

// work is one kind of load a worker keeps up.
type work interface {
	// run makes the load happen, calls ready once it is in effect (with a
	// note when it differs from what was asked), keeps it up until ctx
	// ends, and releases it: memory freed, files removed.
	run(ctx context.Context, w *worker, ready func(note string)) error
}

func (j *Job) work() work {
	switch {
	case j.CPU != nil:
		return j.CPU
	case j.Memory != nil:
		return j.Memory
	case j.IO != nil:
		return j.IO
	case j.Fill != nil:
		return j.Fill
	}
	return nil
}
