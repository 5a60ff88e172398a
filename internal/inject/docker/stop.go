package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "stop", New: func() inject.Fault { return &StopParams{} }, Doc: experiment.Doc{
		Summary: "Stops each container, and starts it again when the fault ends. A container that is no longer running when it is hit is refused: the revert would start it.",
		Example: "{timeout: 5s}",
	}})
}

// StopParams are the settings of the stop fault, which stops each
// container (SIGTERM, then SIGKILL after the grace period). Its revert
// starts the container again unless it is running already, so that the
// system is left as the experiment found it; a container that is not
// running when the fault is planned is refused, since the revert would
// start it.
type StopParams struct {
	// Timeout is the grace period before SIGKILL; the container's own stop
	// timeout when not set.
	Timeout *experiment.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"the grace period between SIGTERM and SIGKILL (default: the container's own stop timeout)"`
}

// stopRecord is what a stop does to one container.
type stopRecord struct {
	Record
	// TimeoutSeconds is the grace period; absent means the container's
	// own.
	TimeoutSeconds *int `json:"timeout_seconds,omitempty"`
	// AutoRemove is set when the daemon removes the container once it
	// stops, so a stop cannot be reverted.
	AutoRemove bool `json:"auto_remove,omitempty"`
	// Began is when the stop was about to be asked for, and Grace the
	// seconds the engine may take to carry it out; Stopped is set once
	// the container has stopped. The engine finishes a stop its client
	// gave up on: a revert that comes before Stopped (after a crash of
	// the run) may find the container still running, stopping.
	Began   time.Time `json:"began,omitzero"`
	Grace   int       `json:"grace_seconds,omitempty"`
	Stopped bool      `json:"stopped,omitempty"`
	// StartedAt is, once the container has stopped, when the process
	// the stop ended had started, as the engine said: a container that
	// says another start at the revert was started during the fault.
	StartedAt string `json:"started_at,omitempty"`
}

// defaultStopTimeout is the grace period of a container that names none,
// the engine's own default.
const defaultStopTimeout = 10

// Plan refuses a container that is not running, and records the grace
// period and whether the daemon will remove the stopped container.
func (p *StopParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	r := stopRecord{Record: newRecord(env, "stop", t), TimeoutSeconds: seconds(p.Timeout)}
	info, err := e.inspect(ctx, r.Record)
	if err != nil {
		return inject.Undo{}, err
	}
	if err := mustRun(r.Record, info); err != nil {
		return inject.Undo{}, err
	}
	r.AutoRemove = info.HostConfig != nil && info.HostConfig.AutoRemove
	r.Grace = defaultStopTimeout
	switch {
	case r.TimeoutSeconds != nil:
		r.Grace = *r.TimeoutSeconds
	case info.Config != nil && info.Config.StopTimeout != nil:
		r.Grace = *info.Config.StopTimeout
	}
	r.Began = time.Now()
	return planned(p, t, r)
}

// Inject stops the container; it returns once the container has stopped.
func (p *StopParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var r stopRecord
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	// The start the stop ends, read before it: read after, it would be
	// that of a start someone made as soon as the stop ended, and the
	// revert could not tell that start from the one the fault stopped.
	if info, ierr := e.api.ContainerInspect(ctx, r.ContainerID); ierr == nil && info.ContainerJSONBase != nil && info.State != nil {
		r.StartedAt = info.State.StartedAt
	}
	err = e.strike(ctx, env, r.Record, Effect{Ends: true}, func() error {
		return e.failed("stop container "+r.target(), e.api.ContainerStop(ctx, r.ContainerID, container.StopOptions{Timeout: r.TimeoutSeconds}))
	})
	if err != nil {
		return u, err
	}
	r.Stopped = true
	u.Data, err = json.Marshal(r)
	return u, err
}

// revert starts the container again, unless it runs. A container that
// runs, or that was started and has stopped again, since the stop, was
// started by someone during the fault, which ended early.
func (p *StopParams) revert(ctx context.Context, e *Engine, data json.RawMessage) (string, error) {
	var r stopRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("revert stop: bad record: %w", err)
	}
	lost := vanished(r.Record)
	if r.AutoRemove {
		lost = fmt.Sprintf("container %s was removed by the daemon when it stopped (auto-remove): it cannot be started again; recreate it", r.target())
	}
	info, found, err := e.current(ctx, r.Record)
	if err == nil && found && info.State.Running && !r.Stopped {
		// The stop may still be under way: the run that asked for it
		// died before it ended, and the engine carries it out all the
		// same. Wait out its grace before taking the container for one
		// the stop never reached.
		info, found, err = e.awaitStop(ctx, r)
	}
	switch {
	case err != nil:
		return "", err
	case !found:
		if id, ok := e.replacement(ctx, r.Record); ok && r.Stopped {
			return "", inject.GoneEarly("container %s was gone before the revert, and another of the same name (%s) ran in its place: the stop did not last", r.target(), shortID(id))
		}
		return lost, nil
	case info.State.Running && r.Stopped:
		return "", inject.GoneEarly("container %s was running again before the revert: someone started it", r.target())
	case info.State.Running:
		return "", nil
	}
	if err := e.api.ContainerStart(ctx, r.ContainerID, container.StartOptions{}); err != nil {
		return e.revertFailed(r.Record, err, "docker start "+r.ContainerID, lost)
	}
	if r.Stopped && r.StartedAt != "" && info.State.StartedAt != "" && info.State.StartedAt != r.StartedAt {
		return "", inject.GoneEarly("container %s was started again during the fault (at %s) and has stopped since: the stop did not last", r.target(), info.State.StartedAt)
	}
	return "", nil
}

// stopSettle is how long after its grace a stop may still take to end.
const stopSettle = 5 * time.Second

// awaitStop watches a running container whose stop may be under way until
// it is not running, or until the stop's grace (and stopSettle) has passed
// since it began, and returns what it last saw.
func (e *Engine) awaitStop(ctx context.Context, r stopRecord) (container.InspectResponse, bool, error) {
	deadline := r.Began.Add(time.Duration(r.Grace)*time.Second + stopSettle)
	for {
		info, found, err := e.current(ctx, r.Record)
		if err != nil || !found || !info.State.Running || !time.Now().Before(deadline) {
			return info, found, err
		}
		select {
		case <-ctx.Done():
			return info, found, fmt.Errorf("revert stop of container %s: it still runs %s after a stop that may still end it began; run chaos recover again once %s have passed",
				r.target(), time.Since(r.Began).Round(time.Second), time.Until(deadline).Round(time.Second))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
