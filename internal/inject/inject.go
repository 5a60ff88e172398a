// Package inject holds the fault registry: the kinds of targets faults act
// on, the faults each accepts, and the undo actions that remove them. Each
// mechanism (processes, containers, the fault proxy) is a sub-package that
// registers its kinds in init.
//
// Every injection returns an Undo: a serializable record of how to remove
// the fault, written to the ledger before the fault is applied, so that a
// later process can remove it even if this one died.
package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Target is one concrete thing a fault hits.
type Target struct {
	Kind string `json:"kind"`
	// ID identifies it to the mechanism: a pid, a container id, a proxy name.
	ID string `json:"id"`
	// Name is for people: a command line, a container name.
	Name string `json:"name"`
	// Engine is the name, under the experiment's engines:, of the Docker
	// engine the target is on; empty for the default engine, and for
	// targets that are not containers.
	Engine string `json:"engine,omitempty"`
}

// String names the target for plain output.
func (t Target) String() string {
	s := fmt.Sprintf("%s %s (%s)", t.Kind, t.ID, t.Name)
	if t.Name == "" || t.Name == t.ID {
		s = fmt.Sprintf("%s %s", t.Kind, t.ID)
	}
	if t.Engine != "" {
		s += " on " + t.Engine
	}
	return s
}

// TargetKind is a kind of target, such as "process".
type TargetKind struct {
	Name string
	// New returns a pointer to new settings for a target of this kind.
	New func() any
	// Resolve lists everything the settings match now; picking and the
	// blast-radius cap are applied by Select.
	Resolve func(ctx context.Context, env *Env, spec any) ([]Target, error)
	// DefaultMax caps the matches when the target sets no max; 0 is no cap.
	DefaultMax int
	// Doc describes the kind for the schema and the reference.
	Doc experiment.Doc
	// Start, when set, starts a target that must run for the whole
	// experiment, such as a proxy that traffic flows through. The closer,
	// which the runner stores in the Env, stops it.
	Start func(ctx context.Context, env *Env, name string, spec any) (io.Closer, error)
	// BeforeServices, when set, says whether a target that Start starts
	// depends on nothing the run's services start (a proxy the run itself
	// listens with), so that it starts before them: a service may reach
	// its dependency through it, and be ready only then. Other targets
	// start once the services are ready.
	BeforeServices func(spec any) bool
	// Listens, when set, returns the address a target that starts before
	// the services listens on, so that a service whose ready check
	// connects there is refused: the target would answer it.
	Listens func(spec any) string
}

// Fault is one kind of fault: its settings type, decoded from a step's
// `with:`, implements it. Each kind is one type registered by name with
// RegisterFault; optional abilities are further interfaces (Prechecker).
type Fault interface {
	// Plan returns the Undo that will remove the fault from t, before
	// anything is touched, so the ledger can record it first. A fault with
	// nothing to undo (kill) returns an Undo with no Action.
	Plan(ctx context.Context, env *Env, t Target) (Undo, error)
	// Inject applies the fault to t. The undo is the one Plan returned;
	// Inject may fill in what it learns (a container's IP address) and
	// returns it.
	Inject(ctx context.Context, env *Env, t Target, u Undo) (Undo, error)
}

// Prechecker is implemented by a fault that can act on only some targets of
// its kind (one that needs the target's kernel cannot reach a remote
// engine's container). The runner asks it about every picked target before
// the step hits any of them.
type Prechecker interface {
	Precheck(ctx context.Context, env *Env, t Target) error
}

// Describer is implemented by a fault that can say what it would do to a
// target without touching it: where it acts and what it installs there.
// The dry run and chaos targets show the lines it returns.
type Describer interface {
	Describe(ctx context.Context, env *Env, t Target) ([]string, error)
}

// Bounded is implemented by a fault whose effect a process of its own keeps
// up (a stress worker). The runner calls Bound before Plan with the longest
// the fault can last: the step's for, or what is left of the run's
// max_duration, whichever is shorter; 0 when neither bounds it. The process
// ends by itself a grace after that, so that it cannot outlive its fault
// even when chaos dies without reverting it.
type Bounded interface {
	Bound(d time.Duration)
}

// FaultKind is a fault one kind of target accepts.
type FaultKind struct {
	Target string
	Name   string
	// New returns new, default settings for the fault.
	New func() Fault
	// Doc describes the fault for the schema and the reference.
	Doc experiment.Doc
}

// Undo is how to remove one applied fault from one target.
type Undo struct {
	// Action names the registered undo function; empty means nothing to undo.
	Action string          `json:"action,omitempty"`
	Target Target          `json:"target"`
	Data   json.RawMessage `json:"data,omitempty"`
	// Volatile faults end with the process that holds them (an in-process
	// proxy), so there is nothing to undo after a crash.
	Volatile bool `json:"volatile,omitempty"`
	// Notes say, for people, what Plan found or Inject did that the
	// fault's settings do not say: the addresses a container's name stood
	// for, how many open connections were cut. The journal keeps them
	// with the fault, and its fault.injected event shows them.
	Notes []string `json:"notes,omitempty"`
	// Holds names, for people, what the fault changes beyond its target
	// that other targets share: a Swarm service's replicas reached through
	// any of its tasks, a node's availability, a proxy on a shared
	// Toxiproxy server that experiments may name differently. A run
	// refuses a fault that holds what another run's unreverted fault
	// holds, as it refuses one on the same target: the later fault would
	// record the earlier one's change as the original, and put it back on
	// revert.
	Holds []string `json:"holds,omitempty"`
}

// UndoFunc removes a fault. It must be idempotent and treat a target that no
// longer exists as already reverted, reporting that through env.Warn. One
// that finds its fault gone before it came (the target no longer paused,
// its toxic deleted) returns an *EndedEarly saying so; one whose fault met
// no traffic while it was on, an *Unreached.
type UndoFunc func(ctx context.Context, env *Env, u Undo) error

var (
	mu          sync.RWMutex
	targetKinds = map[string]*TargetKind{}
	faultKinds  = map[string]map[string]*FaultKind{}
	undos       = map[string]UndoFunc{}
)

// RegisterTarget adds a target kind. It panics on a duplicate: kinds are
// registered in init.
func RegisterTarget(k TargetKind) {
	mu.Lock()
	defer mu.Unlock()
	if targetKinds[k.Name] != nil {
		panic("inject: target kind registered twice: " + k.Name)
	}
	targetKinds[k.Name] = &k
}

// RegisterFault adds a fault to a target kind.
func RegisterFault(k FaultKind) {
	mu.Lock()
	defer mu.Unlock()
	if faultKinds[k.Target] == nil {
		faultKinds[k.Target] = map[string]*FaultKind{}
	}
	if faultKinds[k.Target][k.Name] != nil {
		panic("inject: fault registered twice: " + k.Target + "/" + k.Name)
	}
	faultKinds[k.Target][k.Name] = &k
}

// RegisterUndo adds an undo action.
func RegisterUndo(action string, fn UndoFunc) {
	mu.Lock()
	defer mu.Unlock()
	if undos[action] != nil {
		panic("inject: undo registered twice: " + action)
	}
	undos[action] = fn
}

// LookupTarget returns a target kind.
func LookupTarget(kind string) (*TargetKind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := targetKinds[kind]
	return k, ok
}

// LookupFault returns a fault of a target kind.
func LookupFault(targetKind, name string) (*FaultKind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := faultKinds[targetKind][name]
	return k, ok
}

// TargetKinds lists the registered target kinds, sorted.
func TargetKinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for k := range targetKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// FaultNames lists the faults of a target kind, sorted.
func FaultNames(targetKind string) []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for k := range faultKinds[targetKind] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// EndedEarly is what an UndoFunc returns when it found its fault gone
// already: someone or something else removed it before the revert came (a
// Toxiproxy reset, a docker unpause, a SIGCONT, a container that
// restarted). Nothing failed to revert, but the fault may have ended at
// any moment since it was injected, so no observation since then can
// count as the system coping with it.
type EndedEarly struct {
	// Reason says what was found, for people.
	Reason string
}

func (e *EndedEarly) Error() string { return e.Reason }

// GoneEarly returns an *EndedEarly with a formatted reason.
func GoneEarly(format string, args ...any) error {
	return &EndedEarly{Reason: fmt.Sprintf(format, args...)}
}

// Unreached is what an UndoFunc returns, once it removed its fault, when
// the fault met none of the traffic it acts on while it was on: no packet
// matched its rules, no connection came to its proxy. The fault was in
// place, but the system never felt it (the traffic went another way, the
// filter names another address or port, open connections stayed
// direct), so no observation made under it can count as the system
// coping with it.
type Unreached struct {
	// Reason says what the fault met, for people.
	Reason string
}

func (e *Unreached) Error() string { return e.Reason }

// NotReached returns an *Unreached with a formatted reason.
func NotReached(format string, args ...any) error {
	return &Unreached{Reason: fmt.Sprintf(format, args...)}
}

// Revert runs the undo action of u. Undos with no action succeed at once;
// volatile ones whose holder is gone succeed too. A fault found gone
// already, or that met no traffic, is reverted too: Revert reports it
// through env.Warn and returns nil (RevertEarly tells it apart).
func Revert(ctx context.Context, env *Env, u Undo) error {
	ended, err := RevertEarly(ctx, env, u)
	if ended.Early != "" {
		env.Warn(ended.Early)
	}
	if ended.Unreached != "" {
		env.Warn(ended.Unreached)
	}
	return err
}

// Ended says how a reverted fault had been, for a run that judges what it
// observed under it. Both are empty for a fault that was on until its
// revert came and met traffic, or cannot tell.
type Ended struct {
	// Early says why the fault was gone already when its revert came.
	Early string
	// Unreached says why the fault met no traffic while it was on.
	Unreached string
}

// RevertEarly is Revert for a run that judges what it observed under the
// fault: it says whether the fault was gone already when its revert came,
// or met no traffic.
func RevertEarly(ctx context.Context, env *Env, u Undo) (Ended, error) {
	if u.Action == "" {
		return Ended{}, nil
	}
	mu.RLock()
	fn := undos[u.Action]
	mu.RUnlock()
	if fn == nil {
		return Ended{}, fmt.Errorf("revert %s: no undo action %q in this version of chaos", u.Target, u.Action)
	}
	err := fn(ctx, env, u)
	if ee, ok := errors.AsType[*EndedEarly](err); ok {
		return Ended{Early: ee.Reason}, nil
	}
	if ur, ok := errors.AsType[*Unreached](err); ok {
		return Ended{Unreached: ur.Reason}, nil
	}
	return Ended{}, err
}

// Selected is implemented by target settings that embed
// experiment.Selection.
type Selected interface {
	Selected() experiment.Selection
}

// WhyEmpty is implemented by target settings that can say why they match
// nothing, such as a pid file that does not exist.
type WhyEmpty interface {
	WhyEmpty() string
}

// ErrNoMatch is returned by Select when nothing matches and the target does
// not allow that.
var ErrNoMatch = errors.New("matches nothing")

// Select resolves a target and applies its pick and blast-radius cap. It
// returns the picked targets and how many matched in all.
func Select(ctx context.Context, env *Env, name string, kind *TargetKind, spec any) (picked []Target, matched int, err error) {
	all, err := kind.Resolve(ctx, env, spec)
	if err != nil {
		return nil, 0, fmt.Errorf("resolve target %q: %w", name, err)
	}
	var sel experiment.Selection
	if s, ok := spec.(Selected); ok {
		sel = s.Selected()
	}
	limit := sel.Max
	if limit == 0 {
		limit = kind.DefaultMax
	}
	switch {
	case len(all) == 0 && sel.Empty == "skip":
		return nil, 0, nil
	case len(all) == 0:
		why := ""
		if w, ok := spec.(WhyEmpty); ok && w.WhyEmpty() != "" {
			why = ": " + w.WhyEmpty()
		}
		return nil, 0, fmt.Errorf("target %q %w%s (with `empty: skip` on the target, the run goes on without it)", name, ErrNoMatch, why)
	case limit > 0 && len(all) > limit:
		return nil, len(all), fmt.Errorf("target %q matches %d, more than its max of %d: narrow the selector or raise max", name, len(all), limit)
	}
	n := sel.Pick.Of(len(all))
	if n == len(all) {
		return all, len(all), nil
	}
	idx := env.Rand.Perm(len(all))[:n]
	slices.Sort(idx)
	for _, i := range idx {
		picked = append(picked, all[i])
	}
	return picked, len(all), nil
}

type envKey struct{}

// WithEnv returns a context that carries env, so that what runs on behalf
// of the run (its probes) can find what its faults did.
func WithEnv(ctx context.Context, env *Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// EnvFrom returns the Env ctx carries, or nil.
func EnvFrom(ctx context.Context) *Env {
	env, _ := ctx.Value(envKey{}).(*Env)
	return env
}

// Env is what the mechanisms share during one run: a seeded random source,
// a place for warnings, and resources opened once (a Docker client, the
// running proxies) that are closed at the end.
type Env struct {
	// RunID names the run; faults that keep records of their own (resource
	// faults) file them under it. Empty outside a run.
	RunID string
	Rand  *rand.Rand
	// Warn reports a problem that does not stop the run.
	Warn func(msg string)
	// Protected names local processes that no fault may touch, by pid,
	// with what they are: chaos's own helpers, such as its watchdog.
	Protected map[int]string
	// Engines are the Docker engines the experiment names, by name.
	Engines map[string]*experiment.Engine

	mu        sync.Mutex
	resources map[string]any
	order     []string
}

// NewEnv returns an environment whose random choices follow seed.
func NewEnv(seed uint64, warn func(string)) *Env {
	if warn == nil {
		warn = func(string) {}
	}
	return &Env{Rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Warn: warn}
}

// Resource returns the resource stored under key, opening it on first use.
func (e *Env) Resource(key string, open func() (any, error)) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.resources[key]; ok {
		return r, nil
	}
	if open == nil {
		return nil, fmt.Errorf("no resource %q", key)
	}
	r, err := open()
	if err != nil {
		return nil, err
	}
	e.put(key, r)
	return r, nil
}

// Put stores a resource; it is closed by Close if it is an io.Closer.
func (e *Env) Put(key string, r any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.put(key, r)
}

func (e *Env) put(key string, r any) {
	if e.resources == nil {
		e.resources = map[string]any{}
	}
	if _, ok := e.resources[key]; !ok {
		e.order = append(e.order, key)
	}
	e.resources[key] = r
}

// Lookup returns a stored resource.
func (e *Env) Lookup(key string) (any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.resources[key]
	return r, ok
}

// Close closes the resources in the reverse order of opening.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var first error
	for i := len(e.order) - 1; i >= 0; i-- {
		if c, ok := e.resources[e.order[i]].(io.Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	e.resources, e.order = nil, nil
	return first
}
