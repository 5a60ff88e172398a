package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/swarm/swarmtest"
)

// TestTruthTableSwarm runs the rows of swarm services on a single-node
// swarm. It has the swarm to itself: a drain stops every task of the node.
// The drain runs go last, one at a time, each once the tasks the one
// before stopped run again.
func TestTruthTableSwarm(t *testing.T) {
	t.Parallel()
	env := dockertest.New(t)
	swarmtest.JoinAlone(t, env)
	// The service the robust fronts fall back on; no fault touches it.
	replica := swarmtest.Service(t, env, swarmtest.Spec{Name: "truth-replica", Replicas: 1})
	type victim struct {
		id       string
		replicas int
		run      *truthRun
	}
	var victims, drains []victim
	for _, c := range truthCases {
		kind, ok := strings.CutPrefix(c.fault, "swarm/")
		if !ok {
			continue
		}
		for _, robust := range c.targets() {
			r := newTruthRun(t, c, robust)
			spec := swarmtest.Spec{Name: "truth-" + kind + "-" + r.target(), Replicas: 1}
			if kind == "kill" {
				// The defence is Swarm's default restart policy.
				spec.Replicas = 2
				if !robust {
					spec.Restart = swarm.RestartPolicyConditionNone
				}
			}
			r.vars["victim"] = env.Name(spec.Name)
			v := victim{id: swarmtest.Service(t, env, spec), replicas: int(spec.Replicas), run: r}
			if kind == "drain" {
				drains = append(drains, v)
			} else {
				victims = append(victims, v)
			}
		}
	}
	setup := time.Now()
	replicaAddr := taskAddr(t, env, replica)
	var runs []*truthRun
	for _, v := range victims {
		swarmtest.WaitRunning(t, env, v.id, v.replicas, 60*time.Second)
		if v.run.c.fault != "swarm/kill" {
			v.run.vars["victim_addr"] = taskAddr(t, env, v.id)
		}
		if v.run.robust && v.run.c.fault != "swarm/kill" {
			v.run.vars["replica"] = replicaAddr
		}
		runs = append(runs, v.run)
	}
	t.Logf("%d services ready in %s", len(victims)+len(drains)+1, time.Since(setup).Round(time.Millisecond))
	runTruth(t, runs)
	for _, v := range drains {
		// The drain before stopped this task, and Swarm started it
		// again on another port.
		v.run.vars["victim_addr"] = taskAddr(t, env, v.id)
		runTruth(t, []*truthRun{v.run})
	}
}

// taskAddr waits until the service's one task answers and returns its
// loopback address.
func taskAddr(t *testing.T, env *dockertest.Env, id string) string {
	t.Helper()
	swarmtest.WaitRunning(t, env, id, 1, 60*time.Second)
	ports, err := swarmtest.Ports(context.Background(), env, id)
	if err != nil || len(ports) != 1 {
		t.Fatalf("the task ports of service %s: %v %v", id, ports, err)
	}
	return "127.0.0.1:" + strconv.Itoa(ports[0])
}
