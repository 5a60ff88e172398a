package docker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// History is what one run has seen of containers, so that its probes judge
// them from the run's point of view instead of over their lifetime:
//
//   - Restarts are counted from the last kill, stop or restart the run
//     injected into a container, or, for a container no such fault hit,
//     from the run's first look at it. Restarts before that never count.
//   - A container whose process the run killed is not running while the
//     daemon still reports that process: Docker's state lags a crash by up
//     to a few hundred milliseconds.
//
// Containers are followed by name, so that a container replaced by a new
// one of the same name (as Compose recreates them) counts as restarted.
// A History is safe for concurrent use.
type History struct {
	mu     sync.Mutex
	byName map[string]*sighting
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{byName: map[string]*sighting{}} }

// sighting is what the history knows of the container under one name.
type sighting struct {
	id string
	// restartCount and startedAt are Docker's restart count (without a
	// restart still pending) and the start time of the container's
	// process when counting began.
	restartCount int
	startedAt    time.Time
	// base is the restarts counted before counting began on this
	// container: those of the container it replaced, and the replacement.
	base int
	// last is the count at the last look.
	last int
	// since says from when restarts are counted, for messages.
	since string
	// hit is the last kill, stop or restart the run injected.
	hit *hit
}

// Effect is what a fault does to the process of the container it hits, as
// far as the History cares.
type Effect struct {
	// Ends is set by a fault that ends the process: a kill, stop or
	// restart. Restarts are counted afresh from it.
	Ends bool
	// Kills is set when the process is surely dead once the fault returns,
	// as after SIGKILL, while Docker may report it running for a while.
	Kills bool
}

// hit is a fault that ended a container's process.
type hit struct {
	fault string
	kills bool
	// startedAt is the start time of the process hit: while Docker reports
	// that start time, it reports that process.
	startedAt time.Time
	// pid is the process's host pid, when it is visible from here.
	pid int
}

// Before records r's container as it is just before the fault r names,
// which has the effect eff, is injected. A fault that ends the process
// (kill, stop, restart) starts its count of restarts afresh and marks the
// process it hits; other faults only start a count where none is. forget
// undoes this for an injection that failed. A container that no longer
// exists is left to the injection to report.
func (h *History) Before(ctx context.Context, e *Engine, r Record, eff Effect) (forget func(), err error) {
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if gone(err) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s container %s: inspect: %w", r.Fault, r.target(), e.unreachable(err))
	}
	name := strings.TrimPrefix(info.Name, "/")
	if name == "" {
		name = r.Container
	}
	st := info.State
	if st == nil {
		st = &container.State{}
	}
	started := parseTime(st.StartedAt)
	now := time.Now()

	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.byName[name]
	if had && !eff.Ends {
		return func() {}, nil
	}
	s := &sighting{
		id:           info.ID,
		restartCount: settled(info.RestartCount, st.Status),
		startedAt:    started,
		since:        "the first look at " + now.Format(clock),
	}
	if eff.Ends {
		s.since = fmt.Sprintf("this run's %s at %s", r.Fault, now.Format(clock))
		s.hit = &hit{fault: r.Fault, kills: eff.Kills, startedAt: started}
		if st.Pid > 0 && ownsPID(st.Pid, info.ID) == nil {
			s.hit.pid = st.Pid
		}
	}
	h.byName[name] = s
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.byName[name] != s {
			return
		}
		if had {
			h.byName[name] = old
		} else {
			delete(h.byName, name)
		}
	}, nil
}

// clock is how messages show the time counting began.
const clock = "15:04:05.000"

// settled leaves out of Docker's restart count a restart that is pending:
// the daemon counts it when it schedules it, before the back-off, and the
// container is not running again until it is done.
func settled(count int, status string) int {
	if status == container.StateRestarting && count > 0 {
		return count - 1
	}
	return count
}

// judge completes o from the run's point of view: it counts o's restarts
// and takes back Running while Docker reports a process the run killed.
func (h *History) judge(o *Observation, restartCount int) {
	name := o.Container.Name
	now := time.Now()
	rc := settled(restartCount, o.Status)

	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.byName[name]
	switch {
	case s == nil:
		s = &sighting{id: o.Container.ID, restartCount: rc, startedAt: o.StartedAt,
			since: "the first look at " + now.Format(clock)}
		h.byName[name] = s
	case s.id != o.Container.ID:
		// Replaced: that is a restart, and so is each of the new one's.
		base := s.last + 1 + rc
		s = &sighting{id: o.Container.ID, restartCount: rc, startedAt: o.StartedAt, base: base, last: base, since: s.since}
		h.byName[name] = s
	}
	o.Restarts, o.RestartsSince = s.count(rc, o.StartedAt), s.since
	s.last = o.Restarts
	if o.Running {
		if why := s.killed(o); why != "" {
			o.Running, o.Note = false, why
		}
	}
}

// count returns the restarts since counting began, given Docker's settled
// count and start time now. Docker sets its count back to zero when a
// container is started by hand (docker start or restart, or the revert of
// a stop), so a count lower than at the start is one start by hand plus the
// restarts since; a later start time with no new restart is a start by hand.
// Several starts between two looks may count as one: the count never claims
// more than happened.
func (s *sighting) count(rc int, started time.Time) int {
	n := rc - s.restartCount
	switch {
	case n < 0:
		n = 1 + rc
	case n == 0 && started.After(s.startedAt):
		n = 1
	}
	return s.base + n
}

// killed says why o, which Docker reports running, is not: its process is
// the one the run's last kill, stop or restart hit, and that process is
// dead. It returns "" when o's process is not known to be dead.
func (s *sighting) killed(o *Observation) string {
	h := s.hit
	if h == nil || !o.StartedAt.Equal(h.startedAt) {
		return ""
	}
	if h.kills {
		return "its process was killed by this run and no new one has started yet"
	}
	if h.pid > 0 && !processAlive(h.pid, s.id) {
		return fmt.Sprintf("its process (pid %d) ended after this run's %s and no new one has started yet", h.pid, h.fault)
	}
	return ""
}
