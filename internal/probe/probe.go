// Package probe observes the system for the steady-state hypothesis: HTTP
// requests, commands, TCP connects, and whatever kinds other packages
// register (container state). A probe runs once and returns a Result; the
// runner decides when and how often.
package probe

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Result is one observation.
type Result struct {
	// OK reports whether the expectations held.
	OK bool `json:"ok"`
	// Observed holds the values seen, written for people: status 200,
	// latency 12ms.
	Observed map[string]string `json:"observed,omitempty"`
	// Reason says why the expectations did not hold, with the numbers.
	Reason string `json:"reason,omitempty"`
	// Output is what a step's as: name exposes to later steps.
	Output map[string]string `json:"-"`
	// Since, when set, is the time of the oldest data the observation
	// judged, when that is earlier than the probe's start: a Prometheus
	// query reads what was last scraped.
	Since time.Time `json:"-"`
	// Err is set when the probe could not observe at all, for a reason
	// that lies in the experiment rather than in the system: a command
	// that cannot start, a request that cannot be built. It is not a
	// failed observation, and the run that meets it is an error. Reason
	// says the same.
	Err error `json:"-"`
}

// Failf returns a failed result with a reason.
func Failf(observed map[string]string, format string, args ...any) Result {
	return Result{Observed: observed, Reason: fmt.Sprintf(format, args...)}
}

// Errorf returns a result that is no observation: the probe could not be
// carried out as written.
func Errorf(format string, args ...any) Result {
	err := fmt.Errorf(format, args...)
	return Result{Reason: err.Error(), Err: err}
}

// Kind is a kind of probe, such as "http".
type Kind struct {
	Name string
	// New returns pointers to new settings and expectations; expect is nil
	// for kinds that take none.
	New func() (spec, expect any)
	// Doc describes the kind for the schema and the reference.
	Doc experiment.Doc
	// Run observes once. It must return when ctx is done.
	Run func(ctx context.Context, spec, expect any) Result
}

var (
	mu    sync.RWMutex
	kinds = map[string]*Kind{}
)

// Register adds a probe kind; it panics on a duplicate.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if kinds[k.Name] != nil {
		panic("probe: kind registered twice: " + k.Name)
	}
	kinds[k.Name] = &k
}

// Lookup returns a probe kind.
func Lookup(name string) (*Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds lists the probe kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// DefaultLimit is how long one observation may take when the probe's
// settings have no timeout of their own.
const DefaultLimit = 30 * time.Second

// Limited is settings that bound how long one observation takes.
type Limited interface {
	TimeLimit() time.Duration
}

// Limit is the longest one observation with these settings may take: their
// timeout, or DefaultLimit.
func Limit(spec any) time.Duration {
	if l, ok := spec.(Limited); ok && l.TimeLimit() > 0 {
		return l.TimeLimit()
	}
	return DefaultLimit
}

// Run runs a probe of a registered kind.
func Run(ctx context.Context, kind string, spec, expect any) Result {
	k, ok := Lookup(kind)
	if !ok {
		return Errorf("unknown probe kind %q", kind)
	}
	return k.Run(ctx, spec, expect)
}
