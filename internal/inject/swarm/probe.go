package swarm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/probe"
)

func init() {
	probe.Register(probe.Kind{
		Name: "swarm",
		New:  func() (any, any) { return &ProbeSpec{}, &ProbeExpect{} },
		Doc: experiment.Doc{
			Summary: "Compares each observed service's running tasks with the replicas it should run. Without expect, replicas: \"== desired\".",
			Default: "replicas: \"== desired\"",
			Example: "{service: shop_payment, within: 30s}",
			Expect:  `{replicas: "== desired"}`,
			Outputs: []string{"running: the first service's running tasks", "desired: the replicas it should run"},
		},
		Run: runProbe,
	})
}

// ProbeSpec selects the services a swarm probe observes.
type ProbeSpec struct {
	Service string            `yaml:"service" json:"service,omitempty" doc:"the exact name of a service"`
	Labels  map[string]string `yaml:"labels" json:"labels,omitempty" doc:"labels every observed service carries"`
	Stack   string            `yaml:"stack" json:"stack,omitempty" doc:"the stack (docker stack deploy) the services belong to"`
	// Within makes the probe look again until the expectation holds.
	Within   experiment.Duration `yaml:"within" json:"within,omitempty" doc:"look again until the expectation holds, for up to this long (default: look once)"`
	Interval experiment.Duration `yaml:"interval" json:"interval,omitempty" doc:"time between looks with within (default 250ms)"`
}

// Validate requires a way to select services.
func (s *ProbeSpec) Validate() error {
	if s.selector().empty() {
		return errors.New("select swarm services with at least one of service, labels, stack")
	}
	if s.Within < 0 || s.Interval < 0 {
		return errors.New("within and interval must not be negative")
	}
	return nil
}

func (s *ProbeSpec) selector() Selector {
	return Selector{Service: s.Service, Labels: s.Labels, Stack: s.Stack}
}

// TimeLimit bounds one observation: its within, and time for the engine to
// answer the last look.
func (s *ProbeSpec) TimeLimit() time.Duration { return s.Within.D() + 10*time.Second }

// DefaultInterval is the time between looks of a probe with a within.
const DefaultInterval = 250 * time.Millisecond

// ProbeExpect is what every observed service must show; with nothing set,
// replicas: "== desired".
type ProbeExpect struct {
	Replicas ReplicaCond `yaml:"replicas" json:"replicas,omitzero" doc:"the service's running tasks compared with a number or with desired, the replicas it should run: \"== desired\", \">= 2\", \"3\""`
}

// ReplicaCond compares a service's running tasks with a number, or with
// the tasks it should run ("desired").
type ReplicaCond struct {
	Op      string
	Desired bool
	Value   int
}

var replicaOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseReplicaCond parses "== desired", "desired", ">= 2" or "3".
func ParseReplicaCond(s string) (ReplicaCond, error) {
	t := strings.TrimSpace(s)
	c := ReplicaCond{Op: "=="}
	for _, o := range replicaOps {
		if rest, ok := strings.CutPrefix(t, o); ok {
			c.Op, t = o, strings.TrimSpace(rest)
			break
		}
	}
	if t == "desired" {
		c.Desired = true
		return c, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return ReplicaCond{}, fmt.Errorf("%q is not a count of 0 or more nor desired: write it as \"== desired\" or \">= 2\"", s)
	}
	c.Value = n
	return c, nil
}

// UnmarshalYAML reads the comparison.
func (c *ReplicaCond) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(`want a comparison such as "== desired" or ">= 2"`)
	}
	v, err := ParseReplicaCond(n.Value)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// JSONSchema describes the comparison.
func (ReplicaCond) JSONSchema() map[string]any {
	return map[string]any{
		"type":    []string{"string", "integer"},
		"pattern": `^(\s*(<=|>=|==|!=|<|>)?\s*(desired|[0-9]+)\s*)$|\$\{[^}]+\}`,
	}
}

// IsZero reports whether the comparison was not set.
func (c ReplicaCond) IsZero() bool { return c.Op == "" }

// String writes the comparison back: "== desired".
func (c ReplicaCond) String() string {
	if c.Desired {
		return c.Op + " desired"
	}
	return c.Op + " " + strconv.Itoa(c.Value)
}

// MarshalText writes the comparison as text.
func (c ReplicaCond) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Holds reports whether running tasks satisfy the comparison for a
// service that should run desired.
func (c ReplicaCond) Holds(running, desired int) bool {
	want := c.Value
	if c.Desired {
		want = desired
	}
	switch c.Op {
	case "<":
		return running < want
	case "<=":
		return running <= want
	case ">":
		return running > want
	case ">=":
		return running >= want
	case "!=":
		return running != want
	}
	return running == want
}

// Replicas is what a service runs at one moment.
type Replicas struct {
	Service string
	// Running counts the tasks Swarm wants running that run, less the
	// ones whose container this run killed and Swarm has not yet seen die.
	Running int
	// Desired is how many tasks the service should run: its replicas, or
	// for a global service one per eligible node.
	Desired int
}

// Replicas observes every service s matches.
func (c *Cluster) Replicas(ctx context.Context, s Selector) ([]Replicas, error) {
	services, err := c.Services(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]Replicas, 0, len(services))
	for _, svc := range services {
		tasks, err := c.running(ctx, svc.ID)
		if err != nil {
			return nil, err
		}
		r := Replicas{Service: svc.Spec.Name}
		for _, t := range tasks {
			if id := containerOf(t); id == "" || !c.wasKilled(id) {
				r.Running++
			}
		}
		switch {
		case svc.Spec.Mode.Replicated != nil && svc.Spec.Mode.Replicated.Replicas != nil:
			r.Desired = int(*svc.Spec.Mode.Replicated.Replicas)
		case svc.ServiceStatus != nil:
			r.Desired = int(svc.ServiceStatus.DesiredTasks)
		}
		out = append(out, r)
	}
	return out, nil
}

func runProbe(ctx context.Context, specAny, expectAny any) probe.Result {
	s := specAny.(*ProbeSpec)
	cond := ReplicaCond{Op: "==", Desired: true}
	if x, _ := expectAny.(*ProbeExpect); x != nil && !x.Replicas.IsZero() {
		cond = x.Replicas
	}
	var c *Cluster
	var err error
	if env := inject.EnvFrom(ctx); env != nil {
		c, err = cluster(ctx, env)
	} else {
		c, err = Connect(ctx)
		if c != nil {
			defer c.Close()
		}
	}
	if err != nil {
		return probe.Errorf("%v", err)
	}
	interval := s.Interval.D()
	if interval <= 0 {
		interval = DefaultInterval
	}
	start := time.Now()
	deadline := start.Add(s.Within.D())
	for looks := 1; ; looks++ {
		res, err := c.Replicas(ctx, s.selector())
		if err != nil {
			if ctx.Err() != nil {
				return probe.Failf(nil, "%v", err)
			}
			// An engine that cannot be asked, or no swarm: no
			// observation at all.
			return probe.Errorf("%v", err)
		}
		obs, reason := judge(res, cond, s.selector())
		if looks > 1 {
			obs["waited"] = time.Since(start).Round(time.Millisecond).String()
		}
		out := map[string]string{"count": strconv.Itoa(len(res))}
		if len(res) > 0 {
			out["running"], out["desired"] = strconv.Itoa(res[0].Running), strconv.Itoa(res[0].Desired)
		}
		if reason == "" {
			return probe.Result{OK: true, Observed: obs, Output: out}
		}
		wait := min(interval, time.Until(deadline))
		if wait <= 0 {
			return probe.Result{Observed: obs, Reason: reason, Output: out}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return probe.Result{Observed: obs, Reason: reason, Output: out}
		case <-t.C:
		}
	}
}

// judge returns what a look saw, and why it fails the comparison, or ""
// when every service satisfies it.
func judge(res []Replicas, cond ReplicaCond, s Selector) (map[string]string, string) {
	obs := map[string]string{}
	if len(res) == 0 {
		return obs, fmt.Sprintf("no swarm service matches %s; list them with docker service ls", s)
	}
	var reasons []string
	for _, r := range res {
		key := "replicas"
		if len(res) > 1 {
			key = r.Service + ".replicas"
		}
		obs[key] = fmt.Sprintf("%d/%d", r.Running, r.Desired)
		if !cond.Holds(r.Running, r.Desired) {
			reasons = append(reasons, fmt.Sprintf("service %s runs %d of %d replicas, want %s", r.Service, r.Running, r.Desired, cond))
		}
	}
	return obs, strings.Join(reasons, "; ")
}
