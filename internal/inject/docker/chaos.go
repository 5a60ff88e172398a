package docker

import (
	"context"
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

	experiment.Selection `yaml:",inline" json:",inline"`
}

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
			Summary: fmt.Sprintf("Containers on the Docker engine (DOCKER_HOST, else /var/run/docker.sock), selected by what all the selectors given match. At most %d may match unless max says otherwise.", DefaultMax),
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

// engine returns the run's connection to the Docker daemon, opened on first
// use and closed with the run.
func engine(ctx context.Context, env *inject.Env) (*Engine, error) {
	r, err := env.Resource(engineKey, func() (any, error) { return Connect(ctx) })
	if err != nil {
		return nil, err
	}
	return r.(*Engine), nil
}

// RunHistory returns the History of containers of the run env is for,
// which its faults tell and its docker probes read.
func RunHistory(env *inject.Env) *History { return history(env) }

// history returns the run's History of containers.
func history(env *inject.Env) *History {
	h, _ := env.Resource("docker.history", func() (any, error) { return NewHistory(), nil })
	return h.(*History)
}

func resolveTarget(ctx context.Context, env *inject.Env, spec any) ([]inject.Target, error) {
	e, err := engine(ctx, env)
	if err != nil {
		return nil, err
	}
	res, err := e.Resolve(ctx, spec.(*TargetSpec).selector(), nil)
	if err != nil {
		return nil, err
	}
	out := make([]inject.Target, len(res.Matched))
	for i, c := range res.Matched {
		out[i] = inject.Target{Kind: "docker", ID: c.ShortID, Name: c.Name}
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
	// Within makes the probe look again until the expectation holds.
	Within   experiment.Duration `yaml:"within" json:"within,omitempty" doc:"look again until the expectation holds, for up to this long (default: look once)"`
	Interval experiment.Duration `yaml:"interval" json:"interval,omitempty" doc:"time between looks with within (default 250ms)"`
}

// Validate requires at least one selector.
func (s *ProbeSpec) Validate() error {
	t := TargetSpec{Name: s.Name, NameRegex: s.NameRegex, Labels: s.Labels, Compose: s.Compose, Image: s.Image}
	return t.Validate()
}

// TimeLimit bounds one observation: its within, and some time for the
// daemon to answer the last look.
func (s *ProbeSpec) TimeLimit() time.Duration { return s.Within.D() + 10*time.Second }

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
	var e *Engine
	var err error
	if env := inject.EnvFrom(ctx); env != nil {
		e, err = engine(ctx, env)
		p.History = history(env)
	} else {
		e, err = Connect(ctx)
		if e != nil {
			defer e.Close()
		}
	}
	if err == nil {
		var res ProbeResult
		res, err = e.Probe(ctx, p)
		if err == nil {
			return probeResult(res)
		}
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
