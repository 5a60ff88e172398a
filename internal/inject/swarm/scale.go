package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "swarm", Name: "scale", New: func() inject.Fault { return &ScaleParams{} }, Doc: experiment.Doc{
		Summary: "Sets the replicas of the service of each picked task, and sets them back to what they were when the fault ends.",
		Example: "{replicas: 0}",
	}})
	inject.RegisterUndo(undoScale, scaleBack)
}

// ScaleParams are the settings of the scale fault, which sets the
// replicas of the service of each picked task, and sets them back to what
// they were on revert.
type ScaleParams struct {
	Replicas int `yaml:"replicas" json:"replicas" chaos:"required" doc:"how many replicas the service runs during the fault (0 or more)"`
}

// Validate refuses a negative count.
func (p *ScaleParams) Validate() error {
	if p.Replicas < 0 {
		return fmt.Errorf("replicas must be 0 or more, not %d", p.Replicas)
	}
	return nil
}

const undoScale = "swarm.scale"

// scaleRecord is a service's replica count before the fault.
type scaleRecord struct {
	ServiceID string `json:"service_id"`
	Service   string `json:"service"`
	Replicas  uint64 `json:"replicas"`
	// Host is the manager's engine the service was scaled through.
	Host string `json:"host,omitempty"`
	// Scaled is the replicas the fault set, once it set them; the
	// records of earlier versions of chaos have none.
	Scaled *uint64 `json:"scaled,omitempty"`
}

// Plan records the replicas the service has before this run changed them.
func (p *ScaleParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return inject.Undo{}, err
	}
	task, err := c.task(ctx, t.ID)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("scale the service of a task: %w", err)
	}
	svc, err := c.service(ctx, task.ServiceID)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("scale service %s: %w", task.Service, err)
	}
	if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
		return inject.Undo{}, fmt.Errorf("scale service %s: it is not a replicated service (a global service runs one task per node)", svc.Spec.Name)
	}
	was := strconv.FormatUint(*svc.Spec.Mode.Replicated.Replicas, 10)
	prev, _ := strconv.ParseUint(c.hold("service:"+svc.ID, was), 10, 64)
	data, _ := json.Marshal(scaleRecord{ServiceID: svc.ID, Service: svc.Spec.Name, Replicas: prev, Host: c.Host()})
	return inject.Undo{Action: undoScale, Target: t, Data: data, Holds: []string{"replicas of Swarm service " + svc.ID}}, nil
}

// Inject sets the replicas. Swarm starts or stops tasks afterwards; the
// swarm probe sees when it is done.
func (p *ScaleParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return u, err
	}
	var rec scaleRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("scale service: bad record: %w", err)
	}
	n := uint64(p.Replicas)
	if err := c.scale(ctx, rec.ServiceID, n); err != nil {
		return u, fmt.Errorf("scale service %s to %d: %w", rec.Service, p.Replicas, err)
	}
	rec.Scaled = &n
	u.Data, err = json.Marshal(rec)
	return u, err
}

// scaleBack sets the replicas back, unless they are back already or the
// service is gone. A service whose replicas are not what the fault set
// any more, while no other revert of the run set them back, was scaled by
// someone else during the fault (a stack deployed again, an autoscaler):
// the fault ended early, and its revert leaves the service as it is.
func scaleBack(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var rec scaleRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return fmt.Errorf("scale service back: bad undo record: %w", err)
	}
	c, err := cluster(ctx, env)
	if err != nil {
		return err
	}
	if err := docker.Reaches(rec.Host, c.Host()); err != nil {
		return fmt.Errorf("scale service %s back to %d: %w", rec.Service, rec.Replicas, err)
	}
	key := "service:" + rec.ServiceID
	if rec.Scaled != nil && !c.setBack(key) {
		svc, _, err := c.api.ServiceInspectWithRaw(ctx, rec.ServiceID, swarm.ServiceInspectOptions{})
		if err == nil && svc.Spec.Mode.Replicated != nil && svc.Spec.Mode.Replicated.Replicas != nil {
			if now := *svc.Spec.Mode.Replicated.Replicas; now != *rec.Scaled {
				c.release(key, false)
				return inject.GoneEarly("service %s had %d replicas before the revert, not the %d the fault set: someone scaled it during the fault", rec.Service, now, *rec.Scaled)
			}
		}
	}
	err = c.scale(ctx, rec.ServiceID, rec.Replicas)
	switch {
	case gone(err) || outOfSwarm(err):
		env.Warn(fmt.Sprintf("service %s no longer exists: nothing to scale back to %d", rec.Service, rec.Replicas))
	case err != nil:
		return fmt.Errorf("scale service %s back to %d: %w; to restore it by hand run: docker service scale %s=%d", rec.Service, rec.Replicas, err, rec.ServiceID, rec.Replicas)
	}
	c.release(key, true)
	return nil
}

// service inspects a service.
func (c *Cluster) service(ctx context.Context, id string) (swarm.Service, error) {
	if _, err := c.manager(ctx); err != nil {
		return swarm.Service{}, err
	}
	svc, _, err := c.api.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
	if err != nil {
		if gone(err) {
			return svc, fmt.Errorf("the service no longer exists: %w", err)
		}
		return svc, fmt.Errorf("inspect: %w", c.unreachable(err))
	}
	return svc, nil
}

// updateAttempts bounds the retries of an update that lost a race with
// another change of the same object (Swarm versions every object).
const updateAttempts = 5

// scale sets a replicated service's replicas, unless it has them already.
func (c *Cluster) scale(ctx context.Context, id string, n uint64) error {
	var err error
	for range updateAttempts {
		var svc swarm.Service
		svc, err = c.service(ctx, id)
		if err != nil {
			return err
		}
		r := svc.Spec.Mode.Replicated
		if r == nil {
			return errors.New("it is not a replicated service any more")
		}
		if r.Replicas != nil && *r.Replicas == n {
			return nil
		}
		r.Replicas = &n
		_, err = c.api.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{})
		if !outOfSequence(err) {
			break
		}
	}
	if err != nil {
		return c.unreachable(err)
	}
	return nil
}
