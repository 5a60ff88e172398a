// Package experiment defines the experiment file format: its Go types, the
// loader that reads YAML with every problem reported at FILE:LINE:COL,
// variable substitution, validation and the JSON Schema.
//
// The loader knows nothing of how targets are reached or faults injected:
// the kinds of targets, faults and probes, and the settings each accepts,
// come from a Catalog that the caller supplies.
package experiment

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
	"gopkg.in/yaml.v3"
)

// Version is the format version this package reads.
const Version = "v1"

// Phases a check can run in.
const (
	Before = "before"
	During = "during"
	After  = "after"
)

// Experiment is one experiment file, loaded, substituted and validated.
type Experiment struct {
	File        string             `json:"file" yaml:"-"`
	Version     string             `json:"version" yaml:"version" chaos:"required" doc:"the format version: v1"`
	Title       string             `json:"title" yaml:"title" chaos:"required" doc:"what the experiment shows, in one line"`
	Description string             `json:"description,omitempty" yaml:"description" doc:"more about it, shown in reports"`
	Tags        []string           `json:"tags,omitempty" yaml:"tags" doc:"words to group experiments by"`
	Vars        VarList            `json:"-" yaml:"vars" doc:"variables for ${NAME}: text, numbers or booleans; --var NAME=VALUE overrides them"`
	Services    []*Service         `json:"services,omitempty" yaml:"services" what:"service" doc:"processes the run starts before anything else and stops at its end"`
	Engines     map[string]*Engine `json:"engines,omitempty" yaml:"engines" doc:"Docker engines by a name of your choosing, for docker targets' engine: a Docker context, or an address with TLS settings"`
	Targets     TargetList         `json:"targets,omitempty" yaml:"targets" doc:"what faults act on, by name: processes, containers, fault proxies"`
	Load        []*Stream          `json:"load,omitempty" yaml:"load" what:"load stream" doc:"traffic sent at a steady rate for the whole run, judged by checks with from"`
	SteadyState []*Check           `json:"steady_state,omitempty" yaml:"steady_state" what:"check" doc:"the hypothesis: checks that must hold before, during and after the method"`
	Method      []*Step            `json:"method,omitempty" yaml:"method" what:"step" doc:"the steps run one after the other: faults, waits, probes, asserts, commands"`
	Rollbacks   []*Step            `json:"rollbacks,omitempty" yaml:"rollbacks" what:"rollback step" doc:"steps run after the method, on every path (also after an abort or an error): to put back what the method changed beyond its faults"`
	AbortWhen   []*Check           `json:"abort_when,omitempty" yaml:"abort_when" what:"abort condition" doc:"safety checks: when one fails, the run stops, every fault is reverted and the verdict is aborted"`
	Recovery    *Recovery          `json:"recovery,omitempty" yaml:"recovery" doc:"how soon the hypothesis must hold again after the faults are gone"`
	MaxDuration Duration           `json:"max_duration,omitempty" yaml:"max_duration" doc:"the run aborts itself once it has run this long, every fault reverted (verdict aborted); no limit when not set"`
	Notify      []*Notify          `json:"notify,omitempty" yaml:"notify" what:"notifier" doc:"where the run's events are sent while it runs: webhooks, a Prometheus Pushgateway, OpenTelemetry; a notifier that fails warns and never changes the verdict"`
	Secrets     []string           `json:"-" yaml:"-"`
	Resolved    map[string]any     `json:"-" yaml:"-"`

	// usedVars are the vars some value refers to; unusedVars warn of
	// those declared that none does.
	usedVars   map[string]bool
	unusedVars ErrorList
	// shortSecrets name the environment variables whose values are
	// too short to be masked.
	shortSecrets []string
}

// Service is a process the experiment starts before anything else and stops
// at the end.
type Service struct {
	Pos   Pos               `json:"-" yaml:"-"`
	Name  string            `json:"name" yaml:"name" chaos:"required" doc:"the service's name, also its log file's name in the report directory"`
	Run   []string          `json:"run" yaml:"run" chaos:"required" doc:"the command and its arguments, run without a shell (a relative command path is taken from dir, else from the experiment file's directory)"`
	Env   map[string]string `json:"env,omitempty" yaml:"env" doc:"environment variables added to chaos's own"`
	Dir   Path              `json:"dir,omitempty" yaml:"dir" doc:"the working directory (default: the experiment file's directory; a relative one is taken from there)"`
	Ready *Ready            `json:"ready,omitempty" yaml:"ready" doc:"a probe polled until it passes before the run goes on: the service is ready"`
	// Grace is how long the service has to exit after SIGTERM before it is
	// killed.
	Grace Duration `json:"grace" yaml:"grace" doc:"how long the service has to exit after SIGTERM before it is killed"`
	// MayExit says the service may exit while the run is in progress (a
	// one-off job, or a process the method kills). Otherwise its exit once
	// it was ready makes the run an error.
	MayExit bool `json:"may_exit,omitempty" yaml:"may_exit" doc:"the service may exit during the run (a one-off job, a process the method kills); otherwise its exit makes the run an error"`
}

// SetDefaults gives a service five seconds to stop.
func (s *Service) SetDefaults() { s.Grace = Duration(5e9) }

// Validate checks the name, which names the service's log file in the
// report directory (a name such as ../x would write outside it), the command
// line and the environment.
func (s *Service) Validate() error {
	if !validName(s.Name) {
		return errorString("the name is also its log file's name in the report directory: use letters, digits, _ and -")
	}
	if len(s.Run) == 0 {
		return errorString("run needs a command")
	}
	return checkCommand(s.Run, s.Env)
}

// Ready is a service's readiness probe: polled until it passes or Within
// runs out.
type Ready struct {
	Probe    Probe    `json:"probe"`
	Within   Duration `json:"within"`
	Interval Duration `json:"interval"`
}

// Target is a named thing faults act on: a process, a container, a proxy.
type Target struct {
	Pos  Pos    `json:"-"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Spec is the kind's settings, as the catalog's type for the kind.
	Spec any `json:"spec"`
}

// TargetList is the targets in file order.
type TargetList []*Target

// Get returns the target with the given name, or nil.
func (l TargetList) Get(name string) *Target {
	for _, t := range l {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Selection is how many of the things a selector matches are hit. Target
// kinds embed it inline.
type Selection struct {
	// Pick chooses at random among the matches: all (default), N or N%.
	Pick Pick `json:"pick" yaml:"pick" doc:"how many of the matches are hit, chosen at random with the run's seed: all, N or N%"`
	// Max refuses the run when more than Max things match: a cap on the
	// blast radius. Zero means the kind's default.
	Max int `json:"max,omitempty" yaml:"max" doc:"refuse the run when more than this many match: a cap on the blast radius (0: the kind's default)"`
	// Empty says what to do when nothing matches: "fail" (default) or "skip".
	Empty string `json:"empty,omitempty" yaml:"empty" doc:"fail (default): a target that matches nothing is an error; skip: the steps on it are skipped"`
}

// Validate checks the blast-radius settings.
func (s *Selection) Validate() error {
	if s.Max < 0 {
		return errorString("max must be 0 or more")
	}
	if s.Empty != "" && s.Empty != "fail" && s.Empty != "skip" {
		return errorString(`empty must be "fail" or "skip"`)
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Stream is a load stream: requests sent at a constant rate for the whole
// run. What a request is comes from its kind, the one key besides the
// stream's own that names a catalog stream kind (http:, exec:, tcp:).
type Stream struct {
	Pos  Pos    `json:"-" yaml:"-"`
	Name string `json:"name" yaml:"name" chaos:"required" doc:"the stream's name, for from in checks"`
	// Kind is the stream kind; Spec its settings, as the catalog's type for
	// the kind.
	Kind string `json:"kind" yaml:"-"`
	Spec any    `json:"spec" yaml:"-"`
	// HTTP is Spec for http streams, nil for the other kinds.
	HTTP        *HTTPRequest `json:"-" yaml:"-"`
	Rate        Rate         `json:"rate" yaml:"rate" chaos:"required" doc:"requests per unit of time, sent on schedule whatever the answers (an open model)"`
	MaxInflight int          `json:"max_inflight,omitempty" yaml:"max_inflight" doc:"the most requests waiting for an answer at once; past it, a request due is not sent and counts as an error (0: rate × timeout plus a margin, at most 10000)"`
	Timeout     Duration     `json:"timeout" yaml:"timeout" min:"1ms" doc:"how long one request may take, at most 60s (latencies are recorded up to 60s)"`
	Window      Duration     `json:"window" yaml:"window" doc:"the length of the windows the stream's figures are counted in"`
	// Success lists the status codes that count as success; by default any
	// 2xx or 3xx.
	Success []int `json:"success,omitempty" yaml:"success" doc:"the status codes that count as success (default: any 2xx or 3xx)"`
}

// MaxStreamTimeout is the longest timeout of a load stream's requests:
// load records latencies up to it and no further.
const MaxStreamTimeout = Duration(60e9)

// The slowest and fastest rates of a load stream.
const (
	minRate = Rate(1.0 / 3600)
	maxRate = Rate(1e6)
)

// SetDefaults sets a 5 s timeout and 1 s windows.
func (s *Stream) SetDefaults() {
	s.Timeout = Duration(5e9)
	s.Window = Duration(1e9)
}

// Validate checks the rate and window.
func (s *Stream) Validate() error {
	switch {
	case s.Rate <= 0:
		return errorString("rate must be more than 0/s")
	case s.Rate < minRate:
		return errorString("rate must be 1/h or more: slower, the stream would send next to nothing, and its schedule would overflow")
	case s.Rate > maxRate:
		return errorString("rate must be 1000000/s or less")
	case s.Window < Duration(1e8):
		return errorString("window must be 100ms or more")
	case s.Timeout > MaxStreamTimeout:
		return errorString("timeout must be 60s or less: latencies are recorded up to 60s")
	case s.MaxInflight < 0:
		return errorString("max_inflight must be 0 or more")
	}
	return nil
}

// Describe says what the stream sends, such as "GET http://x/": the
// settings' String, or its kind.
func (s *Stream) Describe() string {
	if st, ok := s.Spec.(fmt.Stringer); ok {
		return st.String()
	}
	return s.Kind
}

// HTTPRequest is an HTTP request as load streams and probes send it.
type HTTPRequest struct {
	Method  string            `json:"method,omitempty" yaml:"method" doc:"the HTTP method"`
	URL     string            `json:"url" yaml:"url" chaos:"required" doc:"the URL, http:// or https://"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers" doc:"request headers"`
	Body    string            `json:"body,omitempty" yaml:"body" doc:"the request body"`
}

// SetDefaults sends GET.
func (r *HTTPRequest) SetDefaults() { r.Method = "GET" }

// String is the method and URL.
func (r *HTTPRequest) String() string { return r.Method + " " + r.URL }

// Validate checks the URL (its scheme, its host and its port), the method
// and the headers: what net/http would refuse to send fails here, at its
// line, rather than as every request failing.
func (r *HTTPRequest) Validate() error {
	if !httpguts.ValidHeaderFieldName(r.Method) {
		return errorString(fmt.Sprintf("method %s is not an HTTP method: use a word such as GET or POST", excerpt(r.Method)))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			return errorString(fmt.Sprintf("header name %s is not valid: use letters, digits and -", excerpt(k)))
		case !httpguts.ValidHeaderFieldValue(r.Headers[k]):
			return errorString(fmt.Sprintf("header %s: its value has a line break or control character", k))
		}
	}
	if !hasHTTPScheme(r.URL) {
		return errorString("url must start with http:// or https://")
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return errorString(fmt.Sprintf("url %q: %v", r.URL, errors.Unwrap(err)))
	}
	if u.Host == "" {
		return errorString(fmt.Sprintf("url %q has no host", r.URL))
	}
	return nil
}

// Probe is an observation of the system: an HTTP request, a command, a TCP
// connect, a container's state. Kind picks the mechanism; Spec holds its
// settings as the catalog's type for the kind.
type Probe struct {
	Pos  Pos    `json:"-"`
	Kind string `json:"kind"`
	Spec any    `json:"spec"`
}

// Check is one part of the steady-state hypothesis, or an abort condition:
// either a probe with expectations or a judgement over a load stream's
// recent windows.
type Check struct {
	Pos  Pos    `json:"-"`
	Name string `json:"name"`
	// From names the load stream judged; Window is how much of its recent
	// traffic each judgement covers.
	From   string   `json:"from,omitempty"`
	Window Duration `json:"window,omitempty"`
	// Probe is the observation when From is empty.
	Probe *Probe `json:"probe,omitempty"`
	// Expect is *LoadExpect for From checks, or the probe kind's expectation.
	Expect any `json:"expect"`
	// When lists the phases the check runs in.
	When []string `json:"when"`
	// Failures is how many consecutive failed observations make the check
	// fail: a tolerance for flapping.
	Failures int `json:"failures"`
	// Interval is the time between observations of a probe during the method.
	Interval Duration `json:"interval,omitempty"`
	// Retries is how often a failed probe is tried again before and after the
	// method before it counts as failed.
	Retries int `json:"retries,omitempty"`
}

// Runs reports whether the check runs in the phase.
func (c *Check) Runs(phase string) bool {
	for _, w := range c.When {
		if w == phase {
			return true
		}
	}
	return false
}

// LoadExpect is what a load stream's recent windows must show.
type LoadExpect struct {
	P50     DurationCond `json:"p50,omitzero" yaml:"p50" doc:"the median latency, as a comparison such as '< 100ms'"`
	P90     DurationCond `json:"p90,omitzero" yaml:"p90" doc:"the 90th percentile latency"`
	P99     DurationCond `json:"p99,omitzero" yaml:"p99" doc:"the 99th percentile latency, as a comparison such as '< 300ms'"`
	Max     DurationCond `json:"max,omitzero" yaml:"max" doc:"the slowest request"`
	Success PercentCond  `json:"success,omitzero" yaml:"success" doc:"the share of requests that succeeded, as a comparison such as '>= 99.5%'"`
	RPS     NumberCond   `json:"rps,omitzero" yaml:"rps" doc:"requests completed per second (not those dropped for max_inflight)"`
	Errors  NumberCond   `json:"errors,omitzero" yaml:"errors" doc:"the number of failed requests"`
}

// Validate requires at least one expectation.
func (e *LoadExpect) Validate() error {
	if e.P50.IsZero() && e.P90.IsZero() && e.P99.IsZero() && e.Max.IsZero() &&
		e.Success.IsZero() && e.RPS.IsZero() && e.Errors.IsZero() {
		return errorString("expect needs at least one of p50, p90, p99, max, success, rps, errors")
	}
	return nil
}

// Step kinds.
const (
	StepFault  = "fault"
	StepWait   = "wait"
	StepProbe  = "probe"
	StepAssert = "assert"
	StepExec   = "exec"
)

// Step is one step of the method or of the rollbacks.
type Step struct {
	Pos  Pos    `json:"-"`
	Kind string `json:"kind"`
	Name string `json:"name"`

	// Fault steps.
	Fault  string `json:"fault,omitempty"`
	Target string `json:"target,omitempty"`
	// With is the fault's settings, as the catalog's type for the fault.
	With any `json:"with,omitempty"`
	// For is how long the fault stays; zero means until the method ends.
	For Duration `json:"for,omitempty"`
	// Background lets the method go on while a fault with For is active.
	Background bool `json:"background,omitempty"`

	// Wait steps.
	Wait Duration `json:"wait,omitempty"`

	// Probe steps; their failure deviates the run.
	Probe  *Probe `json:"probe,omitempty"`
	Expect any    `json:"expect,omitempty"`

	// Assert steps: a judgement over a load stream's recent windows.
	Assert *Check `json:"assert,omitempty"`

	// Exec steps: a command run to completion.
	Exec *Exec `json:"exec,omitempty"`
	// Undo is a command that undoes what an exec step did. It is recorded
	// in the ledger before the step runs, and run when the method ends,
	// with the faults, newest first: also on an abort, an error or an
	// interrupt, and by chaos recover after chaos was killed.
	Undo *Exec `json:"undo,omitempty"`

	// As names the step's output for ${NAME.field} in later steps.
	As string `json:"as,omitempty"`

	withNode  *yaml.Node
	autoNamed bool // Name was made up from what the step does
}

// Named reports whether the file gave the step its name, rather than the
// loader making one up from what it does ("stop victim", "wait 1s").
func (s *Step) Named() bool { return !s.autoNamed }

// nameIfUnnamed gives a step without a name one made of what it does.
func (s *Step) nameIfUnnamed(name string) {
	if s.Name == "" {
		s.Name, s.autoNamed = name, true
	}
}

// Exec is a command a step runs.
type Exec struct {
	Run     []string          `json:"run" yaml:"run" chaos:"required" doc:"the command and its arguments, run without a shell unless shell is true (a relative command path is taken from dir, else from the experiment file's directory)"`
	Shell   bool              `json:"shell,omitempty" yaml:"shell" doc:"run the one string in run with /bin/sh -c"`
	Env     map[string]string `json:"env,omitempty" yaml:"env" doc:"environment variables added to chaos's own"`
	Dir     Path              `json:"dir,omitempty" yaml:"dir" doc:"the working directory (default: the experiment file's directory; a relative one is taken from there)"`
	Timeout Duration          `json:"timeout" yaml:"timeout" min:"1ms" doc:"how long the command may run before it is killed"`
}

// SetDefaults gives commands a minute.
func (e *Exec) SetDefaults() { e.Timeout = Duration(60e9) }

// Validate checks the command line and the environment.
func (e *Exec) Validate() error {
	if len(e.Run) == 0 {
		return errorString("run needs a command")
	}
	if e.Shell && len(e.Run) != 1 {
		return errorString("with shell: true, run is one string")
	}
	return checkCommand(e.Run, e.Env)
}

// checkCommand refuses what no process can be started with: a NUL byte in
// an argument, an environment variable whose name is empty or holds = (it
// would set another variable), a NUL in a name or value.
func checkCommand(run []string, env map[string]string) error {
	if run[0] == "" {
		return errorString("run: the command is empty")
	}
	for _, a := range run {
		if strings.ContainsRune(a, 0) {
			return errorString(fmt.Sprintf("run: argument %s holds a NUL byte", excerpt(a)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return errorString(fmt.Sprintf("env: %s is not a variable name: a name is not empty and has no = or NUL", excerpt(k)))
		case strings.ContainsRune(env[k], 0):
			return errorString(fmt.Sprintf("env: the value of %s holds a NUL byte", k))
		}
	}
	return nil
}

// Recovery says how soon the hypothesis must hold again once the faults are
// removed.
type Recovery struct {
	Within Duration `json:"within" yaml:"within" chaos:"required" doc:"the longest the hypothesis may take to hold again once the faults are removed"`
}

// Selected returns the selection; target kinds that embed Selection get this
// method, which is how the engine finds pick, max and empty.
func (s Selection) Selected() Selection { return s }
