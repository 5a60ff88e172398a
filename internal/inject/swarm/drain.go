package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "swarm", Name: "drain", New: func() inject.Fault { return &DrainParams{} }, Doc: experiment.Doc{
		Summary: "Drains the node each picked task runs on: Swarm moves its tasks elsewhere, or stops them when there is nowhere to go. The node gets its availability back when the fault ends. It takes no settings.",
		Example: "{}",
	}})
	inject.RegisterUndo(undoAvailability, restoreAvailability)
}

// DrainParams are the settings of the drain fault, which drains the node
// each picked task runs on (Swarm moves its tasks elsewhere, or stops them
// when there is nowhere to go) and gives the node back the availability it
// had, active as a rule, on revert; it has none.
type DrainParams struct{}

const undoAvailability = "swarm.availability"

// nodeRecord is a node's availability before the fault.
type nodeRecord struct {
	NodeID       string `json:"node_id"`
	Node         string `json:"node"`
	Availability string `json:"availability"`
	// Host is the manager's engine the node was drained through.
	Host string `json:"host,omitempty"`
	// Drained is set once the fault drained the node; the records of
	// earlier versions of chaos do not say.
	Drained bool `json:"drained,omitempty"`
}

// Plan records the node's availability before this run changed it.
func (p *DrainParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return inject.Undo{}, err
	}
	task, err := c.task(ctx, t.ID)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("drain the node of a task: %w", err)
	}
	node, err := c.node(ctx, task.NodeID)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("drain node %s: %w", task.Node, err)
	}
	was := c.hold("node:"+node.ID, string(node.Spec.Availability))
	data, _ := json.Marshal(nodeRecord{NodeID: node.ID, Node: node.Description.Hostname, Availability: was, Host: c.Host()})
	return inject.Undo{Action: undoAvailability, Target: t, Data: data, Holds: []string{"availability of Swarm node " + node.ID}}, nil
}

// Inject drains the node.
func (p *DrainParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return u, err
	}
	var rec nodeRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("drain node: bad record: %w", err)
	}
	if err := c.setAvailability(ctx, rec.NodeID, swarm.NodeAvailabilityDrain); err != nil {
		return u, fmt.Errorf("drain node %s: %w", rec.Node, err)
	}
	rec.Drained = true
	u.Data, err = json.Marshal(rec)
	return u, err
}

// restoreAvailability gives the node its availability back, unless it has
// it already or is gone. A node the fault drained that is not drained any
// more, while no other revert of the run gave it its availability back,
// was made available by someone else during the fault: the fault ended
// early, and its revert leaves the node as it is.
func restoreAvailability(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var rec nodeRecord
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return fmt.Errorf("restore node availability: bad undo record: %w", err)
	}
	c, err := cluster(ctx, env)
	if err != nil {
		return err
	}
	if err := docker.Reaches(rec.Host, c.Host()); err != nil {
		return fmt.Errorf("make node %s %s again: %w", rec.Node, rec.Availability, err)
	}
	key := "node:" + rec.NodeID
	if rec.Drained && !c.setBack(key) {
		n, _, err := c.api.NodeInspectWithRaw(ctx, rec.NodeID)
		if err == nil && n.Spec.Availability != swarm.NodeAvailabilityDrain {
			c.release(key, false)
			return inject.GoneEarly("swarm node %s was %s before the revert, not drained: someone changed its availability during the fault", rec.Node, n.Spec.Availability)
		}
	}
	err = c.setAvailability(ctx, rec.NodeID, swarm.NodeAvailability(rec.Availability))
	switch {
	case gone(err) || outOfSwarm(err):
		env.Warn(fmt.Sprintf("swarm node %s no longer exists: nothing to make %s again", rec.Node, rec.Availability))
	case err != nil:
		return fmt.Errorf("make node %s %s again: %w; to restore it by hand run: docker node update --availability %s %s", rec.Node, rec.Availability, err, rec.Availability, rec.NodeID)
	}
	c.release(key, true)
	return nil
}

// node inspects a node.
func (c *Cluster) node(ctx context.Context, id string) (swarm.Node, error) {
	if _, err := c.manager(ctx); err != nil {
		return swarm.Node{}, err
	}
	n, _, err := c.api.NodeInspectWithRaw(ctx, id)
	if err != nil {
		if gone(err) {
			return n, fmt.Errorf("the node no longer exists: %w", err)
		}
		return n, fmt.Errorf("inspect: %w", c.unreachable(err))
	}
	return n, nil
}

// setAvailability sets a node's availability, unless it has it already.
func (c *Cluster) setAvailability(ctx context.Context, id string, a swarm.NodeAvailability) error {
	var err error
	for range updateAttempts {
		var n swarm.Node
		n, err = c.node(ctx, id)
		if err != nil {
			return err
		}
		if n.Spec.Availability == a {
			return nil
		}
		n.Spec.Availability = a
		err = c.api.NodeUpdate(ctx, n.ID, n.Version, n.Spec)
		if !outOfSequence(err) {
			break
		}
	}
	if err != nil {
		return c.unreachable(err)
	}
	return nil
}

// outOfSequence reports an update that lost a race with another change of
// the same object; it is tried again on the new version.
func outOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "update out of sequence")
}
