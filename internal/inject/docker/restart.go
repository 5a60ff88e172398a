package docker

import (
	"context"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "restart", New: func() inject.Fault { return &RestartParams{} }, Doc: experiment.Doc{
		Summary: "Restarts each container once. Nothing is undone. A container that is no longer running when it is hit is refused: a restart would start it.",
		Example: "{timeout: 2s}",
	}})
}

// RestartParams are the settings of the restart fault, which restarts each
// container once. Nothing is undone. A container that is not running is
// refused: a restart would start it.
type RestartParams struct {
	// Timeout is the grace period before SIGKILL; the container's own stop
	// timeout when not set.
	Timeout *experiment.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"the grace period between SIGTERM and SIGKILL (default: the container's own stop timeout)"`
}

// restartRecord is what a restart does to one container.
type restartRecord struct {
	Record
	// TimeoutSeconds is the grace period; absent means the container's
	// own.
	TimeoutSeconds *int `json:"timeout_seconds,omitempty"`
}

// Plan refuses a container that is not running, and records the grace
// period.
func (p *RestartParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	e, err := targetEngine(ctx, env, t)
	if err != nil {
		return inject.Undo{}, err
	}
	r := restartRecord{Record: newRecord(env, "restart", t), TimeoutSeconds: seconds(p.Timeout)}
	info, err := e.inspect(ctx, r.Record)
	if err != nil {
		return inject.Undo{}, err
	}
	if err := mustRun(r.Record, info); err != nil {
		return inject.Undo{}, err
	}
	return planned(p, t, r)
}

// Inject restarts the container; it returns once the daemon has started
// it again.
func (p *RestartParams) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	var r restartRecord
	e, err := begin(ctx, env, u, &r)
	if err != nil {
		return u, err
	}
	return u, e.strike(ctx, env, r.Record, Effect{Ends: true}, func() error {
		return e.failed("restart container "+r.target(), e.api.ContainerRestart(ctx, r.ContainerID, container.StopOptions{Timeout: r.TimeoutSeconds}))
	})
}
