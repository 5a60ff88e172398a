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

// This file plugs the engine into chaos: the docker target kind, its
// faults, their undo action and the docker probe.

// TargetSpec selects containers in an experiment file; the selectors are
// combined with AND.
type TargetSpec struct {
	Name      string            `yaml:"name" json:"name,omitempty"`
	NameRegex string            `yaml:"name_regex" json:"name_regex,omitempty"`
	Labels    map[string]string `yaml:"labels" json:"labels,omitempty"`
	Compose   *ComposeSpec      `yaml:"compose" json:"compose,omitempty"`
	Image     string            `yaml:"image" json:"image,omitempty"`

	experiment.Selection `yaml:",inline" json:",inline"`
}

// ComposeSpec selects the containers of a compose project or service.
type ComposeSpec struct {
	Project string `yaml:"project" json:"project,omitempty"`
	Service string `yaml:"service" json:"service,omitempty"`
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

// KillParams are the settings of the kill fault.
type KillParams struct {
	Signal experiment.Signal `yaml:"signal" json:"signal"`
	// Crash signals the container's main process from the host, so that the
	// daemon sees a crash and applies the restart policy, which it does not
	// after a kill through its API.
	Crash bool `yaml:"crash" json:"crash,omitempty"`
}

// SetDefaults kills with SIGKILL.
func (p *KillParams) SetDefaults() { p.Signal = experiment.MustSignal("SIGKILL") }

// Validate refuses the signals that stop a process: kill never undoes
// them; the pause fault freezes a container and unpauses it afterwards.
func (p *KillParams) Validate() error {
	switch p.Signal.Name {
	case "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU":
		return fmt.Errorf("signal %s stops the container's process and kill never undoes it: use the pause fault, which unpauses it afterwards", p.Signal.Name)
	}
	return nil
}

// StopParams are the settings of the stop fault.
type StopParams struct {
	// Timeout is the grace period before SIGKILL; the container's own stop
	// timeout when not set.
	Timeout *experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// RestartParams are the settings of the restart fault.
type RestartParams struct {
	// Timeout is the grace period before SIGKILL; the container's own stop
	// timeout when not set.
	Timeout *experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// PauseParams are the settings of the pause fault; it has none.
type PauseParams struct{}

func (p *KillParams) fault() Fault {
	return Fault{Kind: Kill, Signal: p.Signal.Name, Crash: p.Crash}
}
func (p *StopParams) fault() Fault    { return Fault{Kind: Stop, Timeout: timeout(p.Timeout)} }
func (p *RestartParams) fault() Fault { return Fault{Kind: Restart, Timeout: timeout(p.Timeout)} }
func (p *PauseParams) fault() Fault   { return Fault{Kind: Pause} }
func (p *DisconnectParams) fault() Fault {
	return Fault{Kind: Disconnect, Network: p.Network}
}

// Plan records the container's state before the fault.
func (p *KillParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, p.fault())
}

// Inject applies the fault.
func (p *KillParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u)
}

// Plan records the container's state before the fault.
func (p *StopParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, p.fault())
}

// Inject applies the fault.
func (p *StopParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u)
}

// Plan records the container's state before the fault.
func (p *RestartParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, p.fault())
}

// Inject applies the fault.
func (p *RestartParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u)
}

// Plan records the container's state before the fault.
func (p *PauseParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, p.fault())
}

// Inject applies the fault.
func (p *PauseParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u)
}

// Plan records the container's state before the fault.
func (p *DisconnectParams) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, p.fault())
}

// Inject applies the fault.
func (p *DisconnectParams) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u)
}

// plan prepares f on the container and records how to revert it.
func plan(ctx context.Context, env *inject.Env, t inject.Target, f Fault) (inject.Undo, error) {
	e, err := engine(ctx, env)
	if err != nil {
		return inject.Undo{}, err
	}
	rec, err := e.Prepare(ctx, f, Container{ID: t.ID, Name: t.Name})
	if err != nil {
		return inject.Undo{}, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return inject.Undo{}, err
	}
	u := inject.Undo{Target: t, Data: data}
	if rec.Reversible() {
		u.Action = undoRevert
	}
	return u, nil
}

// apply injects the fault that plan recorded.
func apply(ctx context.Context, env *inject.Env, u inject.Undo) (inject.Undo, error) {
	e, err := engine(ctx, env)
	if err != nil {
		return u, err
	}
	var rec Record
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("docker fault: bad record: %w", err)
	}
	forget, err := history(env).Before(ctx, e, rec)
	if err != nil {
		return u, err
	}
	if err := e.Inject(ctx, rec); err != nil {
		forget()
		return u, err
	}
	return u, nil
}

// DisconnectParams are the settings of the disconnect fault.
type DisconnectParams struct {
	Network string `yaml:"network" json:"network" chaos:"required"`
}

const undoRevert = "docker.revert"

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name:       "docker",
		New:        func() any { return &TargetSpec{} },
		Resolve:    resolveTarget,
		DefaultMax: DefaultMax,
	})
	for name, f := range map[string]func() inject.Fault{
		"kill":       func() inject.Fault { return &KillParams{} },
		"stop":       func() inject.Fault { return &StopParams{} },
		"restart":    func() inject.Fault { return &RestartParams{} },
		"pause":      func() inject.Fault { return &PauseParams{} },
		"disconnect": func() inject.Fault { return &DisconnectParams{} },
	} {
		inject.RegisterFault(inject.FaultKind{Target: "docker", Name: name, New: f})
	}
	inject.RegisterUndo(undoRevert, func(ctx context.Context, env *inject.Env, u inject.Undo) error {
		e, err := engine(ctx, env)
		if err != nil {
			return err
		}
		var rec Record
		if err := json.Unmarshal(u.Data, &rec); err != nil {
			return fmt.Errorf("revert docker fault: bad record: %w", err)
		}
		warning, err := e.Revert(ctx, rec)
		if warning != "" {
			env.Warn(warning)
		}
		return err
	})
	probe.Register(probe.Kind{
		Name: "docker",
		New:  func() (any, any) { return &ProbeSpec{}, &ProbeExpect{} },
		Run:  runProbe,
	})
}

func timeout(d *experiment.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	t := d.D()
	return &t
}

// engine returns the run's connection to the Docker daemon, opened on first
// use and closed with the run.
func engine(ctx context.Context, env *inject.Env) (*Engine, error) {
	r, err := env.Resource("docker", func() (any, error) { return Connect(ctx) })
	if err != nil {
		return nil, err
	}
	return r.(*Engine), nil
}

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
	Name      string            `yaml:"name" json:"name,omitempty"`
	NameRegex string            `yaml:"name_regex" json:"name_regex,omitempty"`
	Labels    map[string]string `yaml:"labels" json:"labels,omitempty"`
	Compose   *ComposeSpec      `yaml:"compose" json:"compose,omitempty"`
	Image     string            `yaml:"image" json:"image,omitempty"`
	Max       int               `yaml:"max" json:"max,omitempty"`
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
