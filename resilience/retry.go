package resilience

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"
)

// Jitter says how a Retry randomises its backoff delays.
type Jitter uint8

// Jitter modes. Full jitter is the default: it spreads clients retrying
// together the most.
const (
	// FullJitter waits a random time between 0 and the backoff delay.
	FullJitter Jitter = iota
	// EqualJitter waits half the delay plus a random time up to the other half.
	EqualJitter
	// NoJitter waits exactly the backoff delay.
	NoJitter
)

// RetrySettings configures a Retry. The zero value makes 3 attempts with
// full-jittered exponential backoff from 100ms, capped at 10s, within a
// private budget.
type RetrySettings struct {
	// Name identifies the policy in events.
	Name string
	// MaxAttempts counts the first attempt too. Zero means 3.
	MaxAttempts int
	// InitialDelay is the backoff before the first retry. Zero means 100ms.
	InitialDelay time.Duration
	// MaxDelay caps the backoff. Zero means 10s.
	MaxDelay time.Duration
	// Multiplier grows the backoff after each retry. Zero means 2.
	Multiplier float64
	// Jitter picks the randomisation; the zero value is FullJitter.
	Jitter Jitter
	// ShouldRetry decides which errors are retried. Nil means all of them.
	// It is never asked about the caller's cancellation, an open breaker,
	// a full bulkhead or a Permanent error: those are never retried.
	ShouldRetry func(error) bool
	// MaxRetryAfter caps how long a server may ask to wait, through an
	// error with a RetryAfter() time.Duration method, before retrying
	// stops. Zero means MaxDelay. A Retry-After longer than the backoff
	// delay replaces it.
	MaxRetryAfter time.Duration
	// Budget limits retries across every Retry sharing it. Nil gives this
	// Retry a private budget with default settings, unless NoBudget is set.
	Budget *Budget
	// NoBudget turns the budget off.
	NoBudget bool
	// OnEvent receives scheduled retries, stops and budget refusals.
	OnEvent func(Event)
	// Clock and Rand replace the system clock and random source.
	Clock Clock
	Rand  Rand
}

// Retry runs the rest of a pipeline again when it fails, waiting a capped,
// jittered, exponentially growing delay between attempts. Each attempt
// after the first needs a token from the budget. When it gives up, the
// error is a *RetryError keeping the last attempt's error and the reason.
type Retry struct {
	set     RetrySettings
	budget  *Budget
	clock   Clock
	rand    Rand
	retries atomic.Int64
	stops   atomic.Int64
}

// NewRetry returns a Retry.
func NewRetry(s RetrySettings) *Retry {
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 3
	}
	if s.InitialDelay <= 0 {
		s.InitialDelay = 100 * time.Millisecond
	}
	if s.MaxDelay <= 0 {
		s.MaxDelay = 10 * time.Second
	}
	if s.MaxDelay < s.InitialDelay {
		s.MaxDelay = s.InitialDelay
	}
	if s.Multiplier < 1 {
		s.Multiplier = 2
	}
	if s.MaxRetryAfter <= 0 {
		s.MaxRetryAfter = s.MaxDelay
	}
	r := &Retry{set: s, budget: s.Budget, clock: clockOr(s.Clock), rand: randOr(s.Rand)}
	if r.budget == nil && !s.NoBudget {
		r.budget = NewBudget(BudgetSettings{Clock: s.Clock})
	}
	if s.NoBudget {
		r.budget = nil
	}
	return r
}

func (*Retry) kind() policyKind { return kindRetry }

// begin is called once per call, before the first attempt.
func (r *Retry) begin() {
	if r.budget != nil {
		r.budget.deposit()
	}
}

// next decides, after attempt failed with err, whether to retry and after
// how long. A non-nil result is the final error.
func (r *Retry) next(ctx context.Context, attempt int, err error) (time.Duration, error) {
	var reason error
	var delay time.Duration
	switch {
	case ctx.Err() != nil:
		reason = ctx.Err()
	case IsPermanent(err), errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull),
		r.set.ShouldRetry != nil && !r.set.ShouldRetry(err):
		reason = ErrNotRetryable
	case attempt >= r.set.MaxAttempts:
		reason = ErrRetriesExhausted
	default:
		delay = r.backoff(attempt)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			if d := ra.RetryAfter(); d > r.set.MaxRetryAfter {
				reason = ErrRetryAfterTooLong
			} else if d > delay {
				delay = d
			}
		}
		if reason == nil {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
				reason = context.DeadlineExceeded
			} else if r.budget != nil && !r.budget.withdraw() {
				reason = ErrBudgetExhausted
				r.emit(Event{Kind: EventBudgetExhausted, Attempt: attempt, Err: err})
			}
		}
	}
	if reason != nil {
		return 0, r.stop(attempt, reason, err)
	}
	r.retries.Add(1)
	r.emit(Event{Kind: EventRetry, Attempt: attempt, Delay: delay, Err: err})
	return delay, nil
}

func (r *Retry) stop(attempt int, reason, err error) error {
	r.stops.Add(1)
	e := &RetryError{Attempts: attempt, Reason: reason, Err: err}
	r.emit(Event{Kind: EventRetryStopped, Attempt: attempt, Err: e})
	return e
}

func (r *Retry) emit(e Event) {
	if r.set.OnEvent != nil {
		e.Policy = r.set.Name
		r.set.OnEvent(e)
	}
}

// backoff returns the jittered delay after the given failed attempt.
func (r *Retry) backoff(attempt int) time.Duration {
	d := float64(r.set.InitialDelay)
	for i := 1; i < attempt && d < float64(r.set.MaxDelay); i++ {
		d *= r.set.Multiplier
	}
	// Clamped before the conversion: float64(MaxDelay) may round up past
	// the largest int64.
	c := int64(r.set.MaxDelay)
	if d < float64(r.set.MaxDelay) {
		c = int64(d)
	}
	switch r.set.Jitter {
	case FullJitter:
		return time.Duration(r.rand.Int64N(min(c, math.MaxInt64-1) + 1))
	case EqualJitter:
		return time.Duration(c/2 + r.rand.Int64N(min(c-c/2, math.MaxInt64-1)+1))
	default:
		return time.Duration(c)
	}
}

// wait sleeps d on the policy's clock, or until ctx ends.
func (r *Retry) wait(ctx context.Context, attempt int, d time.Duration, err error) error {
	if d <= 0 {
		return nil
	}
	done := make(chan struct{})
	t := r.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return r.stop(attempt, ctx.Err(), err)
	}
}

// RetrySnapshot counts a Retry's decisions.
type RetrySnapshot struct {
	// Retries is the number of retries scheduled.
	Retries int64
	// Stops is the number of calls that failed after retrying gave up.
	Stops int64
	// Budget is the retries the budget allows now, or -1 without a budget.
	Budget float64
}

// Snapshot returns the counts.
func (r *Retry) Snapshot() RetrySnapshot {
	s := RetrySnapshot{Retries: r.retries.Load(), Stops: r.stops.Load(), Budget: -1}
	if r.budget != nil {
		s.Budget = r.budget.Available()
	}
	return s
}
