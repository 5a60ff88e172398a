package resilience

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker's state.
type State uint8

// The breaker states. Forced states stay until Reset; they record nothing.
const (
	StateClosed State = iota
	StateOpen
	StateHalfOpen
	StateForcedOpen
	StateForcedClosed
)

// maxProbes is the most probes the state word can count.
const maxProbes = 1<<24 - 1

var stateNames = [...]string{"closed", "open", "half-open", "forced-open", "forced-closed"}

// String returns the state's name, such as "half-open".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// BreakerSettings configures a Breaker. The zero value is usable: a
// count-based window of the last 100 calls that opens at a 50% failure rate
// once 10 calls were seen, stays open 5s, then lets 3 probes through.
type BreakerSettings struct {
	// Name identifies the breaker in events.
	Name string
	// WindowSize is the number of recent calls a count-based window keeps.
	// The window moves in steps of a bucket (a tenth to a half of it, at
	// least 16 calls per processor, so that parallel callers seldom need to
	// agree), so it holds between WindowSize calls and WindowSize plus one
	// bucket. Callers record their successes on one of a few stripes per
	// processor and report them in chunks of a stripe's share of a bucket,
	// looking for a new bucket only then, so what the stripes hold back
	// may add up to one more bucket, also when every call runs in a
	// goroutine of its own; failures are always counted at once. Zero
	// means 100. Ignored when WindowDuration is set.
	WindowSize int
	// WindowDuration, when positive, makes the window time-based: it keeps
	// the calls of the last WindowDuration, plus the current tenth of it.
	// A time-based window reads the clock on every call; a count-based one
	// does not.
	WindowDuration time.Duration
	// MinimumCalls is how many calls the window must hold before rates are
	// judged. Zero means 10, capped at the window size.
	MinimumCalls int
	// FailureRate opens the breaker when failures/calls reaches it. Zero
	// means 0.5; a negative value disables the rule. The rates are judged
	// as each failure or slow call is recorded, which keeps successes to
	// one atomic add: a window that reaches MinimumCalls with a success,
	// at a rate already at the threshold, opens on the next failure.
	FailureRate float64
	// SlowCallDuration, when positive, makes calls lasting at least this
	// long count as slow. Measuring reads the clock twice per call.
	SlowCallDuration time.Duration
	// SlowCallRate opens the breaker when slow calls/calls reaches it. Zero
	// means 1 (all calls slow). Only used with SlowCallDuration.
	SlowCallRate float64
	// ConsecutiveFailures, when positive, also opens the breaker after that
	// many failures in a row, whatever the window holds.
	ConsecutiveFailures int
	// OpenDuration is how long the breaker stays open before probing. Zero
	// means 5s.
	OpenDuration time.Duration
	// OpenBackoff multiplies the open duration each time a probe fails and
	// the breaker opens again, up to MaxOpenDuration. Zero means 1.
	OpenBackoff float64
	// MaxOpenDuration caps the backed-off open duration. Zero means
	// OpenDuration × 8 when OpenBackoff is above 1.
	MaxOpenDuration time.Duration
	// OpenJitter shortens each open duration by a random share up to this
	// fraction (0 to 1), so that breakers opened together do not probe
	// together. The breaker never stays open longer than computed.
	OpenJitter float64
	// HalfOpenProbes is how many calls a half-open breaker lets through;
	// when all succeed it closes, and any failure opens it again. Zero
	// means 3; at most 16777215.
	HalfOpenProbes int
	// MaxHalfOpenWait bounds how long the breaker waits for probes in
	// flight, from the admission of the first of them; past it, the
	// breaker opens again. A half-open breaker that no call comes to, or
	// whose probes have all reported, stays half-open until the next
	// call. Zero means 30s.
	MaxHalfOpenWait time.Duration
	// IsFailure decides which errors count as failures; the others count
	// as successes. Nil means every error. In a Pipeline, a call that
	// panics is a failure whatever IsFailure says, as gobreaker counts it,
	// and the panic goes on to the caller. Errors from the caller's own
	// cancellation and ErrBulkheadFull are never counted, nor, in a
	// Pipeline, a deadline that passed while the call waited for a slot
	// of a bulkhead inside the breaker: the dependency was never called.
	// A call that ran out the caller's deadline is judged like any other:
	// the dependency did not answer in time (a black-holed host answers
	// never, and only deadlines end its calls). A Pipeline does not admit
	// a call whose deadline passed before it came to the breaker.
	IsFailure func(error) bool
	// OnEvent receives state changes and rejections. State changes are
	// reported under the breaker's lock: the hook may read State and
	// Snapshot, but must not call Allow, Reset or the Force methods, which
	// would wait for that lock.
	OnEvent func(Event)
	// Clock and Rand replace the system clock and random source.
	Clock Clock
	Rand  Rand
}

// Breaker is a circuit breaker. It stops calls to a dependency that keeps
// failing, gives it OpenDuration to recover, then lets a few probe calls
// through before closing again.
//
// A closed breaker admits a call with one atomic load and records it with
// one atomic add on a counter striped per goroutine: no lock, no
// allocation, and no clock read unless slow calls or a time-based window
// are configured. An open breaker rejects with one atomic load: a timer,
// not the calls, moves it to half-open.
type Breaker struct {
	// word packs generation<<32 | admitted probes<<8 | state. Every change
	// of state starts a new generation, so results of calls admitted under
	// an older one are ignored.
	word atomic.Uint64
	_    [56]byte

	consecutive atomic.Int64
	// probesOK packs the half-open generation<<32 | its probes that
	// succeeded, so that a probe of an older generation, which passed the
	// generation check just before the state changed, cannot count
	// towards the newer one's probes.
	probesOK atomic.Uint64
	_        [48]byte

	window  *window
	ticks   ticks
	timed   bool // slow calls or a time-based window need the clock
	fast    bool // a success is recorded with one add: !timed, no consecutive rule
	minimum uint64
	failure float64
	slowD   int64
	slowR   float64
	consec  int64
	probes  uint64
	set     BreakerSettings
	clock   Clock
	rand    Rand

	mu      sync.Mutex // serialises state changes, never taken by calls in the closed state
	timer   Timer
	reopens int
}

// NewBreaker returns a closed Breaker.
func NewBreaker(s BreakerSettings) *Breaker {
	if s.WindowSize <= 0 {
		s.WindowSize = 100
	}
	if s.MinimumCalls <= 0 {
		s.MinimumCalls = 10
	}
	if s.WindowDuration <= 0 && s.MinimumCalls > s.WindowSize {
		s.MinimumCalls = s.WindowSize
	}
	if s.FailureRate == 0 {
		s.FailureRate = 0.5
	}
	if s.SlowCallRate <= 0 {
		s.SlowCallRate = 1
	}
	if s.OpenDuration <= 0 {
		s.OpenDuration = 5 * time.Second
	}
	if s.OpenBackoff < 1 {
		s.OpenBackoff = 1
	}
	if s.MaxOpenDuration <= 0 {
		s.MaxOpenDuration = s.OpenDuration
		if s.OpenBackoff > 1 {
			s.MaxOpenDuration = math.MaxInt64
			if s.OpenDuration <= math.MaxInt64/8 {
				s.MaxOpenDuration = 8 * s.OpenDuration
			}
		}
	}
	s.OpenJitter = min(max(s.OpenJitter, 0), 1)
	if s.HalfOpenProbes <= 0 {
		s.HalfOpenProbes = 3
	}
	// The admitted probes are counted in 24 bits of the state word: one
	// more would carry into the generation.
	s.HalfOpenProbes = min(s.HalfOpenProbes, maxProbes)
	if s.MaxHalfOpenWait <= 0 {
		s.MaxHalfOpenWait = 30 * time.Second
	}
	b := &Breaker{
		ticks:   newTicks(s.Clock),
		minimum: uint64(s.MinimumCalls),
		failure: s.FailureRate,
		slowD:   int64(s.SlowCallDuration),
		slowR:   s.SlowCallRate,
		consec:  int64(s.ConsecutiveFailures),
		probes:  uint64(s.HalfOpenProbes),
		set:     s,
		clock:   clockOr(s.Clock),
		rand:    randOr(s.Rand),
	}
	var width int64
	if s.WindowDuration > 0 {
		width = max(int64(s.WindowDuration)/maxBuckets, 1)
	}
	b.window = newWindow(s.WindowSize, width)
	b.timed = b.slowD > 0 || width > 0
	b.fast = !b.timed && b.consec == 0
	return b
}

func (*Breaker) kind() policyKind { return kindBreaker }

// State returns the current state.
func (b *Breaker) State() State { return State(b.word.Load() & 0xff) }

// Permit is a breaker's admission of one call; pass it back to Done.
type Permit struct {
	word  uint64
	start int64
}

// Allow asks the breaker to admit a call. On success the caller must
// report the call's outcome with Done; on rejection the error is ErrOpen.
// Pipelines do this themselves; Allow and Done serve code that cannot be
// expressed as a function call, such as a stream.
func (b *Breaker) Allow() (Permit, error) {
	w, err := b.admit()
	if err != nil {
		return Permit{}, err
	}
	p := Permit{word: w}
	if b.timed {
		p.start = b.ticks.now()
	}
	return p, nil
}

// Done reports the outcome of a call admitted by Allow. ctx is the call's
// context: an error while it is cancelled is the caller's cancellation,
// which counts neither way; one that ran out its deadline is judged as
// IsFailure says.
func (b *Breaker) Done(ctx context.Context, p Permit, err error) {
	b.done(ctx, p.word, p.start, err)
}

func (b *Breaker) admit() (uint64, error) {
	for {
		w := b.word.Load()
		switch State(w & 0xff) {
		case StateClosed, StateForcedClosed:
			return w, nil
		case StateHalfOpen:
			if (w>>8)&0xffffff >= b.probes {
				b.reject()
				return 0, ErrOpen
			}
			if b.word.CompareAndSwap(w, w+1<<8) {
				if b.inFlight(w+1<<8) == 1 {
					b.awaitProbes(w >> 32)
				}
				return w + 1<<8, nil
			}
		default:
			b.reject()
			return 0, ErrOpen
		}
	}
}

// inFlight returns how many probes admitted under the half-open word w
// have not reported.
func (b *Breaker) inFlight(w uint64) uint64 {
	n := (w >> 8) & 0xffffff
	if ok := b.probesOK.Load(); ok>>32 == w>>32 {
		n -= min(ok&0xffffffff, n)
	}
	return n
}

// awaitProbes starts the half-open generation gen's wait for its probes,
// when a probe is admitted with none other in flight: a half-open breaker
// that no call came to, or whose probes all reported, has no probe to
// wait for, and stays half-open until the next call comes.
func (b *Breaker) awaitProbes(gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.word.Load()>>32 != gen || b.timer != nil {
		return // the state moved on, or a probe given back started the wait
	}
	b.timer = b.clock.AfterFunc(b.set.MaxHalfOpenWait, func() { b.transition(gen, StateHalfOpen, StateOpen) })
}

// settleProbes ends the half-open generation gen's wait for its probes
// when none is in flight any more.
func (b *Breaker) settleProbes(gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.word.Load()
	if w>>32 != gen || State(w&0xff) != StateHalfOpen || b.timer == nil || b.inFlight(w) != 0 {
		return
	}
	b.timer.Stop()
	b.timer = nil
}

// errPanicked stands, in a Pipeline, for a call that panicked: a failure
// whatever IsFailure and the context say.
var errPanicked = errors.New("the call panicked")

// recordPanic records the call admitted under w as failed, unless it
// returned.
func (b *Breaker) recordPanic(ctx context.Context, w uint64, start int64, returned *bool) {
	if !*returned {
		b.record(ctx, w, start, errPanicked)
	}
}

func (b *Breaker) reject() {
	if b.set.OnEvent != nil {
		b.set.OnEvent(Event{Kind: EventRejected, Policy: b.set.Name, Err: ErrOpen})
	}
}

// done records an admitted call made under the state word w.
func (b *Breaker) done(ctx context.Context, w uint64, start int64, err error) {
	if err == nil && b.fast && State(w&0xff) == StateClosed {
		b.doneFast(w)
		return
	}
	b.record(ctx, w, start, err)
}

// doneFast records a success admitted under the closed state word w, for a
// breaker without the clock or the consecutive-failures rule. A closed
// word carries no probe count, so if it changed, a new generation began,
// whose window this call is not part of.
func (b *Breaker) doneFast(w uint64) {
	if b.word.Load() == w {
		b.window.addSuccess()
	}
}

func (b *Breaker) record(ctx context.Context, w uint64, start int64, err error) {
	st := State(w & 0xff)
	if st == StateForcedClosed {
		return
	}
	panicked := err == errPanicked
	ignored := err != nil && !panicked && (ctx.Err() == context.Canceled || errors.Is(err, ErrBulkheadFull) || errors.As(err, new(waitEnded)))
	failed := panicked || err != nil && !ignored && (b.set.IsFailure == nil || b.set.IsFailure(err))
	var now int64
	slow := false
	if b.timed {
		now = b.ticks.now()
		slow = b.slowD > 0 && now-start >= b.slowD
	}
	cur := b.word.Load()
	if cur>>32 != w>>32 {
		return // admitted under an older generation
	}
	if st == StateHalfOpen {
		b.doneProbe(cur, ignored, failed || slow)
		return
	}
	if ignored {
		return
	}
	if !failed && !slow {
		b.window.add(0, now)
		if b.consec > 0 && b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
		return
	}
	var bad uint64
	if failed {
		bad |= oneFailure
	}
	if slow {
		bad |= oneSlow
	}
	b.window.add(bad, now)
	trip := false
	if b.consec > 0 {
		if failed {
			trip = b.consecutive.Add(1) >= b.consec
		} else if b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
	}
	if !trip {
		calls, failures, slows := b.window.counts(now)
		if calls >= b.minimum && calls > 0 {
			c := float64(calls)
			trip = b.failure > 0 && float64(failures) >= b.failure*c ||
				b.slowD > 0 && float64(slows) >= b.slowR*c
		}
	}
	if trip {
		b.transition(cur>>32, StateClosed, StateOpen)
	}
}

func (b *Breaker) doneProbe(cur uint64, ignored, bad bool) {
	switch {
	case ignored:
		// Give the probe slot back so that another call can probe.
		for w := cur; w>>32 == cur>>32 && (w>>8)&0xffffff > 0; w = b.word.Load() {
			if b.word.CompareAndSwap(w, w-1<<8) {
				if b.inFlight(w-1<<8) == 0 {
					b.settleProbes(cur >> 32)
				}
				return
			}
		}
	case bad:
		b.transition(cur>>32, StateHalfOpen, StateOpen)
	default:
		for v := b.probesOK.Load(); v>>32 == cur>>32; v = b.probesOK.Load() {
			if b.probesOK.CompareAndSwap(v, v+1) {
				if (v+1)&0xffffffff == b.probes {
					b.transition(cur>>32, StateHalfOpen, StateClosed)
				} else if b.inFlight(b.word.Load()) == 0 {
					b.settleProbes(cur >> 32)
				}
				return
			}
		}
	}
}

// transition moves the breaker from state from to state to if it is still
// in generation gen.
func (b *Breaker) transition(gen uint64, from, to State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.word.Load()
	if w>>32 != gen || State(w&0xff) != from {
		return
	}
	b.setLocked(to)
}

func (b *Breaker) setLocked(to State) {
	w := b.word.Load()
	from := State(w & 0xff)
	gen := w>>32 + 1
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	switch to {
	case StateClosed:
		b.window.reset()
		b.consecutive.Store(0)
		b.reopens = 0
	case StateHalfOpen:
		b.probesOK.Store(gen << 32)
	case StateOpen:
		if from == StateHalfOpen {
			b.reopens++
		}
		d := b.openDuration()
		b.timer = b.clock.AfterFunc(d, func() { b.transition(gen, StateOpen, StateHalfOpen) })
	default:
		b.reopens = 0
	}
	b.word.Store(gen<<32 | uint64(to))
	if b.set.OnEvent != nil {
		b.set.OnEvent(Event{Kind: EventStateChange, Policy: b.set.Name, From: from, To: to})
	}
}

func (b *Breaker) openDuration() time.Duration {
	d := float64(b.set.OpenDuration)
	for range b.reopens {
		d *= b.set.OpenBackoff
		if d >= float64(b.set.MaxOpenDuration) {
			break
		}
	}
	// Float64 rounds math.MaxInt64 up to 2^63, which converts back to a
	// negative duration: "open until Reset" given as the largest duration
	// must not open for no time at all.
	d = min(d, float64(b.set.MaxOpenDuration), 0x1p62)
	if b.set.OpenJitter > 0 && d >= 1 {
		d -= float64(b.rand.Int64N(int64(d*b.set.OpenJitter) + 1))
	}
	if d >= 0x1p62 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// ForceOpen holds the breaker open, rejecting every call, until Reset.
func (b *Breaker) ForceOpen() { b.force(StateForcedOpen) }

// ForceClosed holds the breaker closed, admitting every call and recording
// nothing, until Reset.
func (b *Breaker) ForceClosed() { b.force(StateForcedClosed) }

// Reset closes the breaker and forgets every recorded call.
func (b *Breaker) Reset() { b.force(StateClosed) }

func (b *Breaker) force(s State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setLocked(s)
}

// BreakerSnapshot is a point-in-time view of a Breaker.
type BreakerSnapshot struct {
	State State
	// Generation counts state changes since the breaker was made.
	Generation uint64
	// Calls, Failures and SlowCalls are what the window holds.
	Calls, Failures, SlowCalls uint64
	// ConsecutiveFailures is the current run of failures (with
	// ConsecutiveFailures set).
	ConsecutiveFailures int64
	// Probes is the number of calls admitted in the half-open state.
	Probes int
}

// Snapshot returns the breaker's state and counts. It takes no lock.
func (b *Breaker) Snapshot() BreakerSnapshot {
	w := b.word.Load()
	var now int64
	if b.window.width > 0 {
		now = b.ticks.now()
	}
	calls, failures, slow := b.window.counts(now)
	return BreakerSnapshot{
		State:               State(w & 0xff),
		Generation:          w >> 32,
		Calls:               calls,
		Failures:            failures,
		SlowCalls:           slow,
		ConsecutiveFailures: b.consecutive.Load(),
		Probes:              int((w >> 8) & 0xffffff),
	}
}
