package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/probe"
)

// This file plugs the engine into chaos: the docker target kind and the
// docker probe. Each fault is a file of its own.

// TargetSpec selects containers in an experiment file; the selectors are
// combined with AND.
type TargetSpec struct {
	Name      string            `yaml:"name" json:"name,omitempty" doc:"the container with this name"`
	NameRegex string            `yaml:"name_regex" json:"name_regex,omitempty" doc:"a regular expression matched against container names"`
	Labels    map[string]string `yaml:"labels" json:"labels,omitempty" doc:"containers that carry all these labels, with these values"`
	Compose   *ComposeSpec      `yaml:"compose" json:"compose,omitempty" doc:"the containers of a Docker Compose project, or of one of its services"`
	Image     string            `yaml:"image" json:"image,omitempty" doc:"containers made from this image"`
	// Engine lists the engines searched, by their names under engines:.
	Engine []string `yaml:"engine" json:"engine,omitempty" doc:"the Docker engines to search, by their names under engines: (default: the default engine: DOCKER_HOST, else the current Docker context); pick and max count the matches of all of them together"`

	experiment.Selection `yaml:",inline" json:",inline"`
}

// EngineNames lists the engines the target searches; none is the default
// engine.
func (s *TargetSpec) EngineNames() []string { return s.Engine }

// ComposeSpec selects the containers of a compose project or service.
type ComposeSpec struct {
	Project string `yaml:"project" json:"project,omitempty" doc:"the Compose project name"`
	Service string `yaml:"service" json:"service,omitempty" doc:"the Compose service name"`
}

// Validate requires at least one selector.
func (s *TargetSpec) Validate() error {
	if s.Name == "" && s.NameRegex == "" && len(s.Labels) == 0 && s.Compose == nil && s.Image == "" {
		return errors.New("select containers with at least one of name, name_regex, labels, compose, image")
	}
	if s.NameRegex != "" {
		if _, err := regexp.Compile(s.NameRegex); err != nil {
			return fmt.Errorf("name_regex %q is not a valid regular expression: %v", s.NameRegex, err)
		}
	}
	seen := map[string]bool{}
	for _, n := range s.Engine {
		if seen[n] {
			return fmt.Errorf("engine %q is listed twice", n)
		}
		seen[n] = true
	}
	return s.Selection.Validate()
}

func (s *TargetSpec) selector() Selector {
	sel := Selector{Name: s.Name, NameRegex: s.NameRegex, Labels: s.Labels, Image: s.Image, Max: -1, SkipEmpty: true}
	if s.Compose != nil {
		sel.Compose = Compose{Project: s.Compose.Project, Service: s.Compose.Service}
	}
	return sel
}

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name:       "docker",
		New:        func() any { return &TargetSpec{} },
		Resolve:    resolveTarget,
		DefaultMax: DefaultMax,
		Doc: experiment.Doc{
			Summary: fmt.Sprintf("Running containers on the Docker engine (DOCKER_HOST, else /var/run/docker.sock), selected by what all the selectors given match; stopped and paused ones are left out. At most %d may match unless max says otherwise.", DefaultMax),
			Example: "{labels: {app: payment}, pick: 1}",
		},
	})
	probe.Register(probe.Kind{
		Name: "docker",
		New:  func() (any, any) { return &ProbeSpec{}, &ProbeExpect{} },
		Doc: experiment.Doc{
			Summary: "Looks at the containers the selectors match, from the run's point of view: restarts from before the run's last kill, stop or restart of a container do not count. Without expect, running: true.",
			Default: "running: true",
			Example: "{labels: {app: payment}, within: 20s}",
			Expect:  "{running: true, min_restarts: 1}",
			Outputs: []string{"count: how many containers matched", "id: the first container's short ID", "name: its name", "status: its status", "restarts: its restarts, counted as restarts is"},
		},
		Run: runProbe,
	})
}

// engineKey is where a run's Env keeps its Engine.
const engineKey = "docker"

// SetEngine makes e the engine of the run env is for, in place of the one
// the run would connect to. Tests use it to hand in an engine over a fake.
func SetEngine(env *inject.Env, e *Engine) { env.Put(engineKey, e) }

// engine returns the run's connection to the default Docker daemon,
// opened on first use and closed with the run.
func engine(ctx context.Context, env *inject.Env) (*Engine, error) {
	r, err := env.Resource(engineKey, func() (any, error) { return Connect(ctx) })
	if err != nil {
		return nil, err
	}
	return r.(*Engine), nil
}

// daemonOf returns how to reach the engine named name under the
// experiment's engines:; nil for the default engine.
func daemonOf(env *inject.Env, name string) (*Daemon, error) {
	if name == "" {
		return nil, nil
	}
	r, err := env.Resource("docker.daemon/"+name, func() (any, error) {
		en := env.Engines[name]
		if en == nil {
			return nil, fmt.Errorf("engine %q is not defined under engines", name)
		}
		d, err := DaemonOf(en)
		return &d, err
	})
	if err != nil {
		return nil, err
	}
	return r.(*Daemon), nil
}

// engineAt returns the run's connection to the engine d names, opened on
// first use and closed with the run; nil is the default engine.
func engineAt(ctx context.Context, env *inject.Env, d *Daemon) (*Engine, error) {
	if d.Default() {
		return engine(ctx, env)
	}
	key, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	r, err := env.Resource(engineKey+"@"+string(key), func() (any, error) { return ConnectTo(ctx, *d) })
	if err != nil {
		return nil, err
	}
	return r.(*Engine), nil
}

// EngineOf returns the run's connection to the engine container target t
// is on, shared with the docker faults: faults of other mechanisms use it
// to find the container.
func EngineOf(ctx context.Context, env *inject.Env, t inject.Target) (*Engine, error) {
	return targetEngine(ctx, env, t)
}

// targetEngine returns the run's connection to the engine t is on.
func targetEngine(ctx context.Context, env *inject.Env, t inject.Target) (*Engine, error) {
	d, err := daemonOf(env, t.Engine)
	if err != nil {
		return nil, err
	}
	return engineAt(ctx, env, d)
}

// EngineAt returns the run's connection to the engine d names, opened on
// first use and closed with the run.
func EngineAt(ctx context.Context, env *inject.Env, d Daemon) (*Engine, error) {
	return engineAt(ctx, env, &d)
}

// DaemonFor returns the engine that a target's Engine names under the
// experiment's engines:, nil for the default engine.
func DaemonFor(env *inject.Env, name string) (*Daemon, error) { return daemonOf(env, name) }

// RunHistory returns the History of containers of the run env is for,
// which its faults tell and its docker probes read.
func RunHistory(env *inject.Env) *History { return history(env) }

// history returns the run's History of containers.
func history(env *inject.Env) *History {
	h, _ := env.Resource("docker.history", func() (any, error) { return NewHistory(), nil })
	return h.(*History)
}

// resolveTarget lists the matches of every engine the target searches, in
// the order the target lists the engines, each engine's sorted by name, so
// that a seed picks the same containers across engines.
func resolveTarget(ctx context.Context, env *inject.Env, spec any) ([]inject.Target, error) {
	ts := spec.(*TargetSpec)
	names := ts.Engine
	if len(names) == 0 {
		names = []string{""}
	}
	var out []inject.Target
	for _, name := range names {
		d, err := daemonOf(env, name)
		if err != nil {
			return nil, err
		}
		e, err := engineAt(ctx, env, d)
		if err != nil {
			return nil, err
		}
		res, err := e.Resolve(ctx, ts.selector(), nil)
		if err != nil {
			if name != "" {
				err = fmt.Errorf("engine %q: %w", name, err)
			}
			return nil, err
		}
		for _, c := range res.Matched {
			out = append(out, inject.Target{Kind: "docker", ID: c.ShortID, Name: c.Name, Engine: name})
		}
	}
	return out, nil
}

// ProbeSpec selects the containers a docker probe observes.
type ProbeSpec struct {
	Name      string            `yaml:"name" json:"name,omitempty" doc:"the container with this name"`
	NameRegex string            `yaml:"name_regex" json:"name_regex,omitempty" doc:"a regular expression matched against container names"`
	Labels    map[string]string `yaml:"labels" json:"labels,omitempty" doc:"containers that carry all these labels, with these values"`
	Compose   *ComposeSpec      `yaml:"compose" json:"compose,omitempty" doc:"the containers of a Docker Compose project, or of one of its services"`
	Image     string            `yaml:"image" json:"image,omitempty" doc:"containers made from this image"`
	Max       int               `yaml:"max" json:"max,omitempty" doc:"refuse to observe when more containers than this match (0: no cap)"`
	// Engine lists the engines looked at, by their names under engines:.
	Engine []string `yaml:"engine" json:"engine,omitempty" doc:"the Docker engines to look at, one after the other, by their names under engines: (default: the default engine); every container of each must show the expectation, and max caps each engine's matches"`
	// Within makes the probe look again until the expectation holds.
	Within   experiment.Duration `yaml:"within" json:"within,omitempty" doc:"look again until the expectation holds, for up to this long (default: look once)"`
	Interval experiment.Duration `yaml:"interval" json:"interval,omitempty" doc:"time between looks with within (default 250ms)"`
}

// Validate requires at least one selector.
func (s *ProbeSpec) Validate() error {
	t := TargetSpec{Name: s.Name, NameRegex: s.NameRegex, Labels: s.Labels, Compose: s.Compose, Image: s.Image, Engine: s.Engine}
	return t.Validate()
}

// EngineNames lists the engines the probe looks at; none is the default
// engine.
func (s *ProbeSpec) EngineNames() []string { return s.Engine }

// TimeLimit bounds one observation: its within on each engine, and some
// time for the daemons to answer the last looks.
func (s *ProbeSpec) TimeLimit() time.Duration {
	return time.Duration(max(1, len(s.Engine)))*s.Within.D() + 10*time.Second
}

// ProbeExpect is what every observed container must show; with nothing
// set, running: true. The docker probe judges containers from the run's
// point of view (see History): restarts before the run's last kill, stop or
// restart of a container, or before its first look at it, do not count,
// and a process the run killed is not taken for running.
type ProbeExpect struct {
	Running     *bool `yaml:"running" json:"running,omitempty" doc:"true: the container's process is up: Docker's status is running (not restarting after an exit, not paused), and it is not the process this run killed"`
	Healthy     *bool `yaml:"healthy" json:"healthy,omitempty" doc:"true: running, and the healthcheck of the running process says healthy (a restarted container is starting until its first check passes)"`
	MinRestarts *int  `yaml:"min_restarts" json:"min_restarts,omitempty" doc:"at least this many restarts since this run's last kill, stop or restart of the container, or else since this run first looked at it: restarts by the restart policy once the container runs again, starts by hand, and replacement by a new container of the same name; never restarts from before"`
	ExitCode    *int  `yaml:"exit_code" json:"exit_code,omitempty" doc:"the container exited (status exited or dead) with this code"`
}

func runProbe(ctx context.Context, specAny, expectAny any) probe.Result {
	s := specAny.(*ProbeSpec)
	x, _ := expectAny.(*ProbeExpect)
	if x == nil {
		x = &ProbeExpect{}
	}
	cond := Condition{Running: x.Running, Healthy: x.Healthy, MinRestarts: x.MinRestarts, ExitCode: x.ExitCode}
	if cond == (Condition{}) {
		yes := true
		cond.Running = &yes
	}
	t := TargetSpec{Name: s.Name, NameRegex: s.NameRegex, Labels: s.Labels, Compose: s.Compose, Image: s.Image}
	sel := t.selector()
	sel.Max = s.Max
	sel.SkipEmpty = false
	p := Probe{Target: sel, Expect: cond, Within: s.Within.D(), Interval: s.Interval.D()}
	names := s.Engine
	if len(names) == 0 {
		names = []string{""}
	}
	all := ProbeResult{Held: true}
	var err error
	for _, name := range names {
		var res ProbeResult
		if res, err = probeEngine(ctx, name, p); err != nil {
			if name != "" {
				err = fmt.Errorf("engine %q: %w", name, err)
			}
			break
		}
		for _, o := range res.Observations {
			if name != "" {
				o.Container.Name = name + "/" + o.Container.Name
			}
			all.Observations = append(all.Observations, o)
		}
		if !res.Held {
			all.Held = false
			reason := strings.TrimSpace(res.Reason)
			if name != "" {
				reason = fmt.Sprintf("on engine %s: %s", name, reason)
			}
			all.Reason = strings.TrimPrefix(all.Reason+"; "+reason, "; ")
		}
		all.Looks += res.Looks
		all.Elapsed += res.Elapsed
	}
	if err == nil {
		return probeResult(all)
	}
	if errors.Is(err, ErrNoMatch) || ctx.Err() != nil {
		// Nothing there to observe, or no answer in time: the system's
		// doing, a failed observation.
		return probe.Failf(nil, "%v", err)
	}
	// A daemon that cannot be asked, or a selector that matches more than
	// its max: no observation at all.
	return probe.Errorf("%v", err)
}

// probeEngine runs p on the engine named name under engines: ("" is the
// default engine), from the run's point of view when ctx carries a run.
func probeEngine(ctx context.Context, name string, p Probe) (ProbeResult, error) {
	env := inject.EnvFrom(ctx)
	if env == nil {
		if name != "" {
			return ProbeResult{}, errors.New("a docker probe looks at a named engine only within a run")
		}
		e, err := Connect(ctx)
		if err != nil {
			return ProbeResult{}, err
		}
		defer e.Close()
		return e.Probe(ctx, p)
	}
	d, err := daemonOf(env, name)
	if err != nil {
		return ProbeResult{}, err
	}
	e, err := engineAt(ctx, env, d)
	if err != nil {
		return ProbeResult{}, err
	}
	p.History = history(env)
	return e.Probe(ctx, p)
}

// probeResult turns what a docker probe saw into an observation.
func probeResult(res ProbeResult) probe.Result {
	obs := map[string]string{}
	out := map[string]string{}
	for i, o := range res.Observations {
		prefix := ""
		if len(res.Observations) > 1 {
			prefix = o.Container.Name + "."
		}
		obs[prefix+"status"] = o.Status
		if o.Note != "" {
			obs[prefix+"note"] = o.Note
		}
		obs[prefix+"restarts"] = strconv.Itoa(o.Restarts)
		if !o.Running {
			obs[prefix+"exit_code"] = strconv.Itoa(o.ExitCode)
		}
		if o.Health != "" {
			obs[prefix+"health"] = o.Health
		}
		if i == 0 {
			out["id"], out["name"], out["status"] = o.Container.ShortID, o.Container.Name, o.Status
			out["restarts"] = strconv.Itoa(o.Restarts)
		}
	}
	out["count"] = strconv.Itoa(len(res.Observations))
	if res.Looks > 1 {
		obs["waited"] = res.Elapsed.Round(time.Millisecond).String()
	}
	if !res.Held {
		return probe.Result{Observed: obs, Reason: strings.TrimSpace(res.Reason), Output: out}
	}
	return probe.Result{OK: true, Observed: obs, Output: out}
}
