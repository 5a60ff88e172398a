package resilience

import (
	"math/rand/v2"
	"time"
	"unsafe"
)

// Clock is the source of time for the policies. Tests inject a fake one so
// that nothing sleeps; the zero value of every Settings uses the system clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call from happening; it reports whether it did.
	Stop() bool
}

// Rand is the random source used for jitter. It must be safe for concurrent
// use; the default draws from math/rand/v2's global generator.
type Rand interface {
	// Int64N returns a number in [0, n); n is always positive.
	Int64N(n int64) int64
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

type systemRand struct{}

func (systemRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// epoch anchors the monotonic readings of the system clock: time.Since on a
// time carrying a monotonic reading costs one clock read instead of the two
// that time.Now needs.
var epoch = time.Now()

// ticks measures time in nanoseconds since a fixed origin, from the system
// clock or from an injected one.
type ticks struct {
	clock Clock // nil for the system clock
	base  time.Time
}

func newTicks(c Clock) ticks {
	if c == nil {
		return ticks{}
	}
	return ticks{clock: c, base: c.Now()}
}

func (t ticks) now() int64 {
	if t.clock == nil {
		return int64(time.Since(epoch))
	}
	return int64(t.clock.Now().Sub(t.base))
}

func clockOr(c Clock) Clock {
	if c == nil {
		return systemClock{}
	}
	return c
}

func randOr(r Rand) Rand {
	if r == nil {
		return systemRand{}
	}
	return r
}

// stripeHint returns a number that stays the same for a goroutine between
// calls and differs between goroutines: the address of the goroutine's
// stack. Counters striped by it are written mostly by one core each, so
// parallel callers do not fight over one cache line. A moved stack only
// changes the stripe, which is harmless.
func stripeHint() uint64 {
	var b byte
	h := uint64(uintptr(unsafe.Pointer(&b))) >> 11
	return h * 0x9e3779b97f4a7c15 >> 32
}
