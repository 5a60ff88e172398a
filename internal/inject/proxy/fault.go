package proxy

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"
)

// Direction names which way through the proxy a fault acts on.
type Direction string

// Directions. The zero value means Downstream, as in Toxiproxy: a latency
// without a direction delays the replies, so a request-reply exchange takes
// Delay longer.
const (
	Upstream   Direction = "upstream"   // from the client to the upstream
	Downstream Direction = "downstream" // from the upstream back to the client
	Both       Direction = "both"
)

func (d Direction) up() bool   { return d == Upstream || d == Both }
func (d Direction) down() bool { return d == "" || d == Downstream || d == Both }

// Fault is one fault to switch on in a proxy: a kind with its parameters,
// the direction it acts on and the share of connections (or, for HTTP
// kinds, of requests) it hits.
type Fault struct {
	// Params holds the kind and its settings, e.g. &Latency{Delay: 10 * time.Millisecond}.
	Params Params
	// Direction is ignored by kinds that act on a whole connection (down,
	// reset on connect) or on requests (http_error, http_delay).
	Direction Direction
	// Percent is the fraction, between 0 and 1, of connections (HTTP kinds:
	// requests) the fault hits. Zero means all of them.
	Percent float64
}

// Params is the kind-specific part of a Fault. Each kind is one struct type
// in this package, registered by name; NewParams returns an empty one to
// decode settings into.
type Params interface {
	// Kind returns the registered name of the kind, e.g. "latency".
	Kind() string
	// Validate reports settings that cannot work; the proxy calls it in Add.
	Validate() error
}

// httpParams is implemented by kinds that act on HTTP requests; they need a
// proxy whose Protocol is "http".
type httpParams interface {
	Params
	matches(r *request) bool
}

var kinds = map[string]func() Params{}

func register(kind string, zero func() Params) { kinds[kind] = zero }

// NewParams returns a pointer to the empty settings of kind, ready to be
// filled (for example by decoding YAML into it), or an error naming the
// known kinds.
func NewParams(kind string) (Params, error) {
	zero, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown proxy fault kind %q; known kinds: %v", kind, Kinds())
	}
	return zero(), nil
}

// Kinds returns the names of all fault kinds, sorted.
func Kinds() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// FaultInfo describes a fault switched on in a proxy.
type FaultInfo struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Direction Direction `json:"direction"`
	Percent   float64   `json:"percent"`
	Params    Params    `json:"params"`
	Since     time.Time `json:"since"`
}

// cloneParams returns a shallow copy of the struct that p points to (every
// kind's settings are plain values), or nil for a nil p.
func cloneParams(p Params) Params {
	v := reflect.ValueOf(p)
	if p == nil || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(Params)
}

func validateFault(f Fault, protocol string) error {
	if f.Params == nil {
		return fmt.Errorf("fault has no kind")
	}
	if math.IsNaN(f.Percent) {
		return fmt.Errorf("%s: percent is not a number", f.Params.Kind())
	}
	kind := f.Params.Kind()
	switch f.Direction {
	case "", Upstream, Downstream, Both:
	default:
		return fmt.Errorf("%s: direction %q is not upstream, downstream or both", kind, f.Direction)
	}
	if f.Percent < 0 || f.Percent > 1 {
		return fmt.Errorf("%s: percent %v is not between 0 and 1", kind, f.Percent)
	}
	if _, ok := f.Params.(httpParams); ok && protocol != "http" {
		return fmt.Errorf("%s: needs a proxy with protocol http", kind)
	}
	if err := f.Params.Validate(); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return nil
}

func nonNegative(name string, v int64) error {
	if v < 0 {
		return fmt.Errorf("%s %d is negative", name, v)
	}
	return nil
}

func nonNegativeDuration(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %v is negative", name, d)
	}
	return nil
}
