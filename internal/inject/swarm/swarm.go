// Package swarm injects faults into Docker Swarm services through a
// manager's engine: it selects services by name, label or stack and their
// running tasks (optionally on one node), kills or pauses a task's
// container, scales a service, drains a node, and undoes what it did from a
// record that another process (chaos recover) can replay. Its probe
// compares a service's running tasks with the replicas it should have.
//
// It talks to the engine named by the environment, the way the docker
// package does; a task's container can be killed or paused only when it
// runs on that engine's own node.
package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// StackLabel is the label `docker stack deploy` puts on the services of a
// stack.
const StackLabel = "com.docker.stack.namespace"

// API is the part of the Docker engine API this package uses.
// *client.Client implements it.
type API interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceInspectWithRaw(ctx context.Context, serviceID string, options swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, spec swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	TaskInspectWithRaw(ctx context.Context, taskID string) (swarm.Task, []byte, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
	NodeInspectWithRaw(ctx context.Context, nodeID string) (swarm.Node, []byte, error)
	NodeUpdate(ctx context.Context, nodeID string, version swarm.Version, spec swarm.NodeSpec) error
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerPause(ctx context.Context, containerID string) error
	ContainerUnpause(ctx context.Context, containerID string) error
}

// Cluster acts on the swarm a manager's engine belongs to. It is safe for
// concurrent use.
type Cluster struct {
	api  API
	host string

	mu       sync.Mutex
	original map[string]string   // what a service or node was before this run changed it
	restored map[string]bool     // what a revert of this run set back
	killed   map[string]struct{} // containers this run killed
}

// New returns a Cluster over api; host is the engine's address, for
// messages.
func New(api API, host string) *Cluster {
	return &Cluster{api: api, host: host}
}

// pingTimeout bounds the first contact with the engine.
const pingTimeout = 5 * time.Second

// Connect connects to the engine named by the environment (DOCKER_HOST and
// the rest, as the Docker CLI reads them). An engine that does not answer
// gives a *docker.UnreachableError.
func Connect(ctx context.Context) (*Cluster, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("configure the Docker client from the environment: %w: check DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		_ = cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to the Docker daemon at %s: %w", cli.DaemonHost(), ctx.Err())
		}
		return nil, &docker.UnreachableError{Host: cli.DaemonHost(), Err: err}
	}
	cli.NegotiateAPIVersionPing(ping)
	return New(cli, cli.DaemonHost()), nil
}

// Close releases the connection to the engine.
func (c *Cluster) Close() error {
	if cl, ok := c.api.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Host returns the engine's address.
func (c *Cluster) Host() string { return c.host }

// errNotInSwarm is wrapped by errors about an engine that is not in a
// swarm, which reverts take as the services and nodes being gone.
var errNotInSwarm = errors.New("not in a swarm")

// manager returns the ID of the engine's own node, or an error that says
// what to do when the engine is no swarm manager.
func (c *Cluster) manager(ctx context.Context) (string, error) {
	info, err := c.api.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("ask the Docker engine at %s about its swarm: %w", c.host, c.unreachable(err))
	}
	switch {
	case info.Swarm.LocalNodeState != swarm.LocalNodeStateActive:
		return "", fmt.Errorf("the Docker engine at %s is %w (its state is %q): run docker swarm init or join one, or set DOCKER_HOST to a swarm manager", c.host, errNotInSwarm, cmp.Or(string(info.Swarm.LocalNodeState), "inactive"))
	case !info.Swarm.ControlAvailable:
		return "", fmt.Errorf("the Docker engine at %s is a swarm worker: set DOCKER_HOST to a manager's engine", c.host)
	}
	return info.Swarm.NodeID, nil
}

func (c *Cluster) unreachable(err error) error {
	if client.IsErrConnectionFailed(err) {
		return &docker.UnreachableError{Host: c.host, Err: err}
	}
	return err
}

// gone reports whether err says that a service, task, node or container
// does not exist.
func gone(err error) bool {
	return err != nil && cerrdefs.IsNotFound(err)
}

// outOfSwarm reports whether err says the engine is no swarm manager any
// more, so that the services and nodes a revert looks for are gone.
func outOfSwarm(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errNotInSwarm) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "not a swarm manager") || strings.Contains(s, "not part of a swarm")
}

// hold remembers what key (a service's replicas, a node's availability)
// was before this run first changed it, and returns that: a second fault
// of the run on the same service or node, through another of its tasks,
// must restore what the run found, not what the first fault left.
func (c *Cluster) hold(key, now string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.original[key]; ok {
		return v
	}
	if c.original == nil {
		c.original = map[string]string{}
	}
	c.original[key] = now
	delete(c.restored, key)
	return now
}

// release forgets what hold remembered once a revert is done with it;
// restored says that the revert set it back, so that another fault of the
// run on the same service or node, reverted later, finds it set back by
// this run rather than by someone else.
func (c *Cluster) release(key string, restored bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.original, key)
	if !restored {
		return
	}
	if c.restored == nil {
		c.restored = map[string]bool{}
	}
	c.restored[key] = true
}

// setBack reports whether a revert of this run set key back already.
func (c *Cluster) setBack(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restored[key]
}

// markKilled records a container this run killed, which the probe must not
// count as a running replica while Swarm has not noticed yet.
func (c *Cluster) markKilled(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed == nil {
		c.killed = map[string]struct{}{}
	}
	c.killed[id] = struct{}{}
}

func (c *Cluster) wasKilled(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.killed[id]
	return ok
}

// Selector chooses services, and their running tasks. Every criterion that
// is set must hold; at least one of Service, Labels and Stack is needed.
type Selector struct {
	Service string            // the exact service name
	Labels  map[string]string // service labels
	Stack   string            // the stack the service belongs to
	Node    string            // tasks on this node only: its hostname or ID
}

func (s Selector) empty() bool {
	return s.Service == "" && len(s.Labels) == 0 && s.Stack == ""
}

// String describes the selector with the keys of the experiment format.
func (s Selector) String() string {
	var parts []string
	if s.Service != "" {
		parts = append(parts, "service="+s.Service)
	}
	if s.Stack != "" {
		parts = append(parts, "stack="+s.Stack)
	}
	if len(s.Labels) > 0 {
		var kv []string
		for k, v := range s.Labels {
			kv = append(kv, k+"="+v)
		}
		slices.Sort(kv)
		parts = append(parts, "labels={"+strings.Join(kv, ",")+"}")
	}
	if s.Node != "" {
		parts = append(parts, "node="+s.Node)
	}
	return strings.Join(parts, " ")
}

// Services lists the services s matches, sorted by name.
func (c *Cluster) Services(ctx context.Context, s Selector) ([]swarm.Service, error) {
	if s.empty() {
		return nil, errors.New("empty swarm selector: set service, labels or stack")
	}
	if _, err := c.manager(ctx); err != nil {
		return nil, err
	}
	args := filters.NewArgs()
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	if s.Stack != "" {
		labels[StackLabel] = s.Stack
	}
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	if s.Service != "" {
		args.Add("name", s.Service)
	}
	list, err := c.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: args, Status: true})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", c.unreachable(err))
	}
	var out []swarm.Service
	for _, svc := range list {
		// The daemon's name filter matches prefixes; labels are checked
		// again so the result does not rest on its filters.
		if s.Service != "" && svc.Spec.Name != s.Service {
			continue
		}
		if !hasLabels(svc.Spec.Labels, labels) {
			continue
		}
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return out, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Task is a running task of a service.
type Task struct {
	ID          string
	Service     string // the service's name
	ServiceID   string
	Slot        int
	NodeID      string
	Node        string // the node's hostname
	ContainerID string
	// State is the task's state, and DesiredState the one Swarm wants it
	// in; both are running for a task Tasks lists.
	State, DesiredState swarm.TaskState
}

// Name names the task for people, as Docker names its container without
// the task ID: "web.2", or "web.<node>" for a global service's task, with
// the node it runs on.
func (t Task) Name() string {
	name := t.Service + "." + strconv.Itoa(t.Slot)
	if t.Slot == 0 {
		name = t.Service + "." + shortID(t.NodeID)
	}
	return name + " on " + cmp.Or(t.Node, shortID(t.NodeID))
}

// Tasks lists the running tasks of the services s matches, on s.Node when
// it is set, sorted by service name, slot and ID.
func (c *Cluster) Tasks(ctx context.Context, s Selector) ([]Task, error) {
	services, err := c.Services(ctx, s)
	if err != nil {
		return nil, err
	}
	nodes, err := c.nodes(ctx)
	if err != nil {
		return nil, err
	}
	nodeID := ""
	if s.Node != "" {
		for id, host := range nodes {
			if id == s.Node || host == s.Node {
				nodeID = id
			}
		}
		if nodeID == "" {
			return nil, fmt.Errorf("no swarm node is named %q: list them with docker node ls", s.Node)
		}
	}
	var out []Task
	for _, svc := range services {
		tasks, err := c.running(ctx, svc.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			if nodeID != "" && t.NodeID != nodeID {
				continue
			}
			out = append(out, Task{
				ID: t.ID, Service: svc.Spec.Name, ServiceID: svc.ID, Slot: t.Slot,
				NodeID: t.NodeID, Node: nodes[t.NodeID], ContainerID: containerOf(t),
				State: t.Status.State, DesiredState: t.DesiredState,
			})
		}
	}
	slices.SortFunc(out, func(a, b Task) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), cmp.Compare(a.Slot, b.Slot), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// running returns the service's tasks that Swarm wants running and that
// run.
func (c *Cluster) running(ctx context.Context, serviceID string) ([]swarm.Task, error) {
	args := filters.NewArgs(filters.Arg("service", serviceID), filters.Arg("desired-state", "running"))
	list, err := c.api.TaskList(ctx, swarm.TaskListOptions{Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", c.unreachable(err))
	}
	out := list[:0]
	for _, t := range list {
		if t.ServiceID == serviceID && t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out, nil
}

// nodes returns the hostnames of the swarm's nodes by ID.
func (c *Cluster) nodes(ctx context.Context) (map[string]string, error) {
	list, err := c.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list swarm nodes: %w", c.unreachable(err))
	}
	out := make(map[string]string, len(list))
	for _, n := range list {
		out[n.ID] = n.Description.Hostname
	}
	return out, nil
}

// task looks a task up again by ID, for a fault about to act on it or on
// its service or node. It need not run any more: a fault of the run on
// another task of the same service or node may have stopped it already.
func (c *Cluster) task(ctx context.Context, id string) (Task, error) {
	t, _, err := c.api.TaskInspectWithRaw(ctx, id)
	if err != nil {
		if gone(err) {
			return Task{}, fmt.Errorf("task %s no longer exists", shortID(id))
		}
		return Task{}, fmt.Errorf("inspect task %s: %w", shortID(id), c.unreachable(err))
	}
	out := Task{ID: t.ID, ServiceID: t.ServiceID, Slot: t.Slot, NodeID: t.NodeID, ContainerID: containerOf(t)}
	if svc, _, err := c.api.ServiceInspectWithRaw(ctx, t.ServiceID, swarm.ServiceInspectOptions{}); err == nil {
		out.Service = svc.Spec.Name
	}
	if n, _, err := c.api.NodeInspectWithRaw(ctx, t.NodeID); err == nil {
		out.Node = n.Description.Hostname
	}
	out.State, out.DesiredState = t.Status.State, t.DesiredState
	return out, nil
}

// local checks that the task runs, and that its container is on this
// engine's node: the container faults act through the engine, which knows
// only its own containers.
func (c *Cluster) local(ctx context.Context, t Task) error {
	self, err := c.manager(ctx)
	if err != nil {
		return err
	}
	if t.State != swarm.TaskStateRunning || t.DesiredState != swarm.TaskStateRunning {
		return fmt.Errorf("task %s is %s (Swarm wants it %s), not running", t.Name(), t.State, t.DesiredState)
	}
	if t.NodeID != self {
		return fmt.Errorf("task %s runs on another node than the Docker engine at %s: select tasks with node: set to that engine's node, or point DOCKER_HOST at the engine of node %s", t.Name(), c.host, cmp.Or(t.Node, t.NodeID))
	}
	if t.ContainerID == "" {
		return fmt.Errorf("task %s has no container yet", t.Name())
	}
	return nil
}

func containerOf(t swarm.Task) string {
	if t.Status.ContainerStatus == nil {
		return ""
	}
	return t.Status.ContainerStatus.ContainerID
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// TargetSpec selects services, and their running tasks, in an experiment
// file. A fault picks among the tasks; scale acts on a picked task's
// service and drain on its node.
type TargetSpec struct {
	Service string            `yaml:"service" json:"service,omitempty" doc:"the exact name of a service"`
	Labels  map[string]string `yaml:"labels" json:"labels,omitempty" doc:"labels every selected service carries"`
	Stack   string            `yaml:"stack" json:"stack,omitempty" doc:"the stack (docker stack deploy) the services belong to"`
	Node    string            `yaml:"node" json:"node,omitempty" doc:"only tasks on this node, by hostname or ID"`

	experiment.Selection `yaml:",inline" json:",inline"`
}

// Validate requires a way to select services.
func (s *TargetSpec) Validate() error {
	if s.selector().empty() {
		return errors.New("select swarm services with at least one of service, labels, stack")
	}
	return s.Selection.Validate()
}

func (s *TargetSpec) selector() Selector {
	return Selector{Service: s.Service, Labels: s.Labels, Stack: s.Stack, Node: s.Node}
}

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name:       "swarm",
		New:        func() any { return &TargetSpec{} },
		Resolve:    resolveTarget,
		DefaultMax: 5,
		Doc: experiment.Doc{
			Summary: "Services of a Docker Swarm, by name, labels or stack, and their running tasks, optionally on one node. A fault picks among the tasks; scale acts on a picked task's service and drain on its node. At most 5 tasks may match unless max says otherwise.",
			Example: "{service: shop_payment, pick: 1}",
		},
	})
}

func resolveTarget(ctx context.Context, env *inject.Env, spec any) ([]inject.Target, error) {
	c, err := cluster(ctx, env)
	if err != nil {
		return nil, err
	}
	tasks, err := c.Tasks(ctx, spec.(*TargetSpec).selector())
	if err != nil {
		return nil, err
	}
	out := make([]inject.Target, len(tasks))
	for i, t := range tasks {
		out[i] = inject.Target{Kind: "swarm", ID: t.ID, Name: t.Name()}
	}
	return out, nil
}

// cluster returns the run's connection to the swarm manager, opened on
// first use and closed with the run.
func cluster(ctx context.Context, env *inject.Env) (*Cluster, error) {
	r, err := env.Resource("swarm", func() (any, error) { return Connect(ctx) })
	if err != nil {
		return nil, err
	}
	return r.(*Cluster), nil
}
