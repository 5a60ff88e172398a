package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Observation is the state of one container at one moment.
type Observation struct {
	Container Container `json:"container"`
	// Status is Docker's state: created, running, paused, restarting,
	// removing, exited or dead.
	Status string `json:"status"`
	// Running reports that the container's process is up: its status is
	// running (Docker's own Running flag is also set while the container
	// is paused or waits to be restarted), and, with a History, it is not
	// the process a fault of the run killed (Note says so).
	Running    bool `json:"running"`
	Paused     bool `json:"paused"`
	Restarting bool `json:"restarting"`
	// Note says why a container Docker reports running is not.
	Note string `json:"note,omitempty"`
	// Health is the healthcheck status (starting, healthy, unhealthy), or
	// empty when the container has no healthcheck.
	Health string `json:"health,omitempty"`
	// Restarts counts the times the container started again since
	// RestartsSince, by its restart policy, by hand, or by being replaced
	// with a new container of the same name; see History. It may count
	// fewer than happened, never more.
	Restarts      int    `json:"restarts"`
	RestartsSince string `json:"restarts_since,omitempty"`
	// RestartCount is Docker's count of the restarts of the container's
	// life done by its restart policy, set back to zero when it is started
	// by hand.
	RestartCount int `json:"restart_count"`
	// ExitCode is the exit code of the last run; 137 after SIGKILL.
	ExitCode   int       `json:"exit_code"`
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// state names o's state in messages.
func (o Observation) state() string {
	if o.Note != "" {
		return o.Status + " in Docker's view, but " + o.Note
	}
	return o.Status
}

// Condition is what a probe expects of every container it observes. Unset
// fields are not checked.
type Condition struct {
	// Running true wants the container's process up (see
	// Observation.Running); false wants it not.
	Running *bool
	// Healthy true wants a running container whose healthcheck says
	// "healthy" (Docker keeps the last status while a container waits to
	// be restarted, and sets it back to "starting" when it starts); false
	// wants anything else. A container without a healthcheck never
	// satisfies it.
	Healthy *bool
	// MinRestarts wants at least this many restarts (Observation.Restarts).
	MinRestarts *int
	// ExitCode wants a stopped container that exited with this code.
	ExitCode *int
}

// Check returns nil when o satisfies c, or an error naming the first field
// that does not hold.
func (c Condition) Check(o Observation) error {
	healthy := o.Running && o.Health == "healthy"
	exited := o.Status == container.StateExited || o.Status == container.StateDead
	switch {
	case c.Running != nil && o.Running != *c.Running:
		return fmt.Errorf("container %s is %s, want running=%t", o.Container, o.state(), *c.Running)
	case c.Healthy != nil && o.Health == "":
		return fmt.Errorf("container %s has no healthcheck, want healthy=%t", o.Container, *c.Healthy)
	case c.Healthy != nil && *c.Healthy && !o.Running:
		return fmt.Errorf("container %s is %s, want healthy=true", o.Container, o.state())
	case c.Healthy != nil && healthy != *c.Healthy:
		return fmt.Errorf("container %s is %s, want healthy=%t", o.Container, o.Health, *c.Healthy)
	case c.MinRestarts != nil && o.Restarts < *c.MinRestarts:
		return fmt.Errorf("container %s restarted %d times since %s, want at least %d", o.Container, o.Restarts, cmp.Or(o.RestartsSince, "the first look"), *c.MinRestarts)
	case c.ExitCode != nil && !exited:
		return fmt.Errorf("container %s is %s, want it exited with code %d", o.Container, o.state(), *c.ExitCode)
	case c.ExitCode != nil && o.ExitCode != *c.ExitCode:
		return fmt.Errorf("container %s exited with code %d, want %d", o.Container, o.ExitCode, *c.ExitCode)
	}
	return nil
}

// String describes the condition.
func (c Condition) String() string {
	var parts []string
	if c.Running != nil {
		parts = append(parts, "running="+strconv.FormatBool(*c.Running))
	}
	if c.Healthy != nil {
		parts = append(parts, "healthy="+strconv.FormatBool(*c.Healthy))
	}
	if c.MinRestarts != nil {
		parts = append(parts, "restarts>="+strconv.Itoa(*c.MinRestarts))
	}
	if c.ExitCode != nil {
		parts = append(parts, "exit_code="+strconv.Itoa(*c.ExitCode))
	}
	if len(parts) == 0 {
		return "exists"
	}
	return strings.Join(parts, " ")
}

// DefaultInterval is how often a probe with a Within looks again.
const DefaultInterval = 250 * time.Millisecond

// Probe observes the containers a selector matches.
type Probe struct {
	// Target selects the containers. A probe matches containers in every
	// state and observes all of them: Target.All and Target.Pick are
	// ignored; Max and SkipEmpty apply.
	Target Selector
	// Expect must hold for every container observed.
	Expect Condition
	// Within makes the probe look again until Expect holds or this much
	// time has passed; zero looks once.
	Within time.Duration
	// Interval is the time between looks; zero means DefaultInterval.
	Interval time.Duration
	// History is the run's; nil counts restarts from the probe's first
	// look.
	History *History
}

// ProbeResult is what a probe saw.
type ProbeResult struct {
	// Held reports whether Expect held for every container at the last look.
	Held bool `json:"held"`
	// Reason says why it did not hold.
	Reason string `json:"reason,omitempty"`
	// Observations are from the last look.
	Observations []Observation `json:"observations"`
	// Elapsed is the time from the first look to the last.
	Elapsed time.Duration `json:"elapsed"`
	// Looks counts the looks taken.
	Looks int `json:"looks"`
}

// Probe looks at the containers p.Target matches until p.Expect holds for
// all of them or p.Within has passed. A condition that does not hold is a
// result, not an error; errors are for a daemon that fails, a selector that
// is invalid or matches too many, and a selector that still matches nothing
// when the time is up (unless SkipEmpty). Containers may vanish and come
// back between looks: a transient miss only costs a look.
func (e *Engine) Probe(ctx context.Context, p Probe) (ProbeResult, error) {
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	h := p.History
	if h == nil {
		h = NewHistory()
	}
	start := time.Now()
	deadline := start.Add(p.Within)
	var res ProbeResult
	for {
		res.Looks++
		obs, err := e.Observe(ctx, p.Target, h)
		res.Elapsed = time.Since(start)
		res.Observations = obs
		switch {
		case errors.Is(err, ErrNoMatch):
			res.Held, res.Reason = false, err.Error()
		case err != nil:
			return res, err
		default:
			res.Held, res.Reason = true, ""
			for _, o := range obs {
				if cerr := p.Expect.Check(o); cerr != nil {
					res.Held, res.Reason = false, cerr.Error()
					break
				}
			}
		}
		if res.Held || !time.Now().Before(deadline) {
			if errors.Is(err, ErrNoMatch) {
				return res, err
			}
			return res, nil
		}
		wait := min(interval, time.Until(deadline))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("probe %s: %w", p.Target, ctx.Err())
		case <-t.C:
		}
	}
}

// Observe inspects every container s matches, in any state, and judges
// them with h (see History); a nil h counts no restarts. Pick is ignored;
// Max and SkipEmpty apply.
func (e *Engine) Observe(ctx context.Context, s Selector, h *History) ([]Observation, error) {
	s.All, s.Pick = true, Pick{}
	r, err := e.Resolve(ctx, s, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Observation, 0, len(r.Matched))
	for _, c := range r.Matched {
		info, err := e.api.ContainerInspect(ctx, c.ID)
		if gone(err) {
			continue // removed since the list: it is not there to observe
		}
		if err != nil {
			return nil, fmt.Errorf("inspect container %s: %w", c, e.unreachable(err))
		}
		o := Observation{Container: c}
		if info.ContainerJSONBase != nil {
			o.RestartCount = info.RestartCount
		}
		if st := info.State; st != nil {
			o.Status = st.Status
			o.Running = st.Running && !st.Paused && !st.Restarting && st.Status == container.StateRunning
			o.Paused, o.Restarting = st.Paused, st.Restarting
			o.ExitCode, o.OOMKilled = st.ExitCode, st.OOMKilled
			o.StartedAt = parseTime(st.StartedAt)
			o.FinishedAt = parseTime(st.FinishedAt)
			if st.Health != nil {
				o.Health = st.Health.Status
			}
		}
		o.Container.State = o.Status
		if h != nil {
			h.judge(&o, o.RestartCount)
		}
		out = append(out, o)
	}
	if len(out) == 0 && !s.SkipEmpty {
		return nil, fmt.Errorf("observe docker target: %w: no container matches %s", ErrNoMatch, s)
	}
	return out, nil
}

// parseTime reads Docker's timestamps; its zero time ("0001-01-01T00:00:00Z")
// and anything unreadable give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
