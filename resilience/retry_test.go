package resilience_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

// failTimes fails the first n calls, then succeeds.
func failTimes(n int, err error) (func(context.Context) (int, error), *atomic.Int64) {
	var calls atomic.Int64
	return func(context.Context) (int, error) {
		if calls.Add(1) <= int64(n) {
			return 0, err
		}
		return 1, nil
	}, &calls
}

type retryAfterError struct{ d time.Duration }

func (e retryAfterError) Error() string             { return "slow down" }
func (e retryAfterError) RetryAfter() time.Duration { return e.d }

func TestRetryStops(t *testing.T) {
	tests := []struct {
		name     string
		set      resilience.RetrySettings
		failures int
		err      error
		calls    int64
		reason   error // nil: success
	}{
		{"success first", resilience.RetrySettings{}, 0, errBoom, 1, nil},
		{"success on third", resilience.RetrySettings{}, 2, errBoom, 3, nil},
		{"exhausted", resilience.RetrySettings{}, 5, errBoom, 3, resilience.ErrRetriesExhausted},
		{"max attempts", resilience.RetrySettings{MaxAttempts: 5}, 9, errBoom, 5, resilience.ErrRetriesExhausted},
		{"classifier refuses", resilience.RetrySettings{ShouldRetry: func(err error) bool { return !errors.Is(err, errBoom) }}, 5, errBoom, 1, resilience.ErrNotRetryable},
		{"permanent", resilience.RetrySettings{}, 5, resilience.Permanent(errBoom), 1, resilience.ErrNotRetryable},
		{"breaker rejection", resilience.RetrySettings{ShouldRetry: func(error) bool { return true }}, 5, resilience.ErrOpen, 1, resilience.ErrNotRetryable},
		{"bulkhead full", resilience.RetrySettings{}, 5, resilience.ErrBulkheadFull, 1, resilience.ErrNotRetryable},
		{"retry-after within cap", resilience.RetrySettings{MaxRetryAfter: time.Minute}, 1, retryAfterError{30 * time.Second}, 2, nil},
		{"retry-after over cap", resilience.RetrySettings{MaxRetryAfter: time.Minute}, 1, retryAfterError{2 * time.Minute}, 1, resilience.ErrRetryAfterTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			clock.auto = true
			tt.set.Clock = clock
			p := resilience.NewPipeline[int](resilience.NewRetry(tt.set))
			fn, calls := failTimes(tt.failures, tt.err)
			_, err := p.Do(context.Background(), fn)
			if calls.Load() != tt.calls {
				t.Errorf("calls = %d; want %d", calls.Load(), tt.calls)
			}
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Do = %v; want success", err)
				}
				return
			}
			var re *resilience.RetryError
			if !errors.As(err, &re) {
				t.Fatalf("Do = %v; want a *RetryError", err)
			}
			if !errors.Is(err, tt.reason) || !errors.Is(err, tt.err) {
				t.Errorf("Do = %v; want errors.Is to match both %v and %v", err, tt.reason, tt.err)
			}
			if re.Attempts != int(tt.calls) {
				t.Errorf("Attempts = %d; want %d", re.Attempts, tt.calls)
			}
		})
	}
}

func TestRetryBackoff(t *testing.T) {
	tests := []struct {
		name   string
		jitter resilience.Jitter
		frac   float64
		want   []time.Duration
	}{
		{"no jitter", resilience.NoJitter, 0, []time.Duration{100, 200, 400, 500, 500}},
		{"full jitter top", resilience.FullJitter, 1, []time.Duration{100, 200, 400, 500, 500}},
		{"full jitter bottom", resilience.FullJitter, 0, []time.Duration{0, 0, 0, 0, 0}},
		{"equal jitter bottom", resilience.EqualJitter, 0, []time.Duration{50, 100, 200, 250, 250}},
		{"equal jitter top", resilience.EqualJitter, 1, []time.Duration{100, 200, 400, 500, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			clock.auto = true
			r := resilience.NewRetry(resilience.RetrySettings{
				MaxAttempts: 6, InitialDelay: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
				Jitter: tt.jitter, Rand: fixedRand{tt.frac}, Clock: clock, NoBudget: true,
			})
			_, _ = resilience.NewPipeline[int](r).Do(context.Background(), fail)
			var want []time.Duration
			for _, d := range tt.want {
				if d > 0 {
					want = append(want, d*time.Millisecond)
				}
			}
			if got := clock.sleeps(); !slices.Equal(got, want) {
				t.Errorf("waits = %v; want %v", got, want)
			}
		})
	}
}

func TestRetryCallerCancelDuringWait(t *testing.T) {
	clock := newFakeClock() // manual: the wait never ends on its own
	ctx, cancel := context.WithCancel(context.Background())
	var ev events
	r := resilience.NewRetry(resilience.RetrySettings{Clock: clock, OnEvent: func(e resilience.Event) {
		ev.add(e)
		if e.Kind == resilience.EventRetry {
			cancel()
		}
	}})
	_, err := resilience.NewPipeline[int](r).Do(ctx, fail)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
		t.Fatalf("Do = %v; want context.Canceled and the last error", err)
	}
	if got := ev.kinds(); !slices.Equal(got, []resilience.EventKind{resilience.EventRetry, resilience.EventRetryStopped}) {
		t.Errorf("events = %v", got)
	}
	if clock.pending() != 0 {
		t.Errorf("pending timers = %d; want the backoff timer stopped", clock.pending())
	}
}

func TestRetryStopsBeforeDeadline(t *testing.T) {
	clock := newFakeClock()
	clock.auto = true
	r := resilience.NewRetry(resilience.RetrySettings{InitialDelay: time.Hour, Jitter: resilience.NoJitter, Clock: clock})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := resilience.NewPipeline[int](r).Do(ctx, fail)
	if !errors.Is(err, context.DeadlineExceeded) || len(clock.sleeps()) != 0 {
		t.Fatalf("Do = %v after waits %v; want to stop at once, the delay outlasting the deadline", err, clock.sleeps())
	}
}

// TestBudgetBoundsStorm: every call fails, many goroutines; attempts must
// stay within calls × (1 + ratio) + the minimum.
func TestBudgetBoundsStorm(t *testing.T) {
	const calls, ratio, minimum = 2000, 0.2, 5
	clock := newFakeClock()
	clock.auto = true
	budget := resilience.NewBudget(resilience.BudgetSettings{Ratio: ratio, MinPerSecond: minimum, Clock: newFakeClock()})
	var ev atomic.Int64
	r := resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 10, Budget: budget, Clock: clock, OnEvent: func(e resilience.Event) {
		if e.Kind == resilience.EventBudgetExhausted {
			ev.Add(1)
		}
	}})
	p := resilience.NewPipeline[int](r)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls / 8 {
				_, _ = p.Do(context.Background(), func(context.Context) (int, error) { attempts.Add(1); return 0, errBoom })
			}
		}()
	}
	wg.Wait()
	limit := int64(calls*(1+ratio) + minimum)
	if got := attempts.Load(); got > limit || got < calls {
		t.Fatalf("attempts = %d for %d calls; want at most %d", got, calls, limit)
	}
	if ev.Load() == 0 {
		t.Error("no budget-exhausted event")
	}
	if s := r.Snapshot(); s.Retries+calls != attempts.Load() {
		t.Errorf("snapshot %+v does not add up to %d attempts", s, attempts.Load())
	}
}

func TestBudgetMinimumRate(t *testing.T) {
	budgetClock := newFakeClock()
	b := resilience.NewBudget(resilience.BudgetSettings{Ratio: 0.001, MinPerSecond: 2, Clock: budgetClock})
	retryClock := newFakeClock()
	retryClock.auto = true
	p := resilience.NewPipeline[int](resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 2, Budget: b, Clock: retryClock}))
	retried := func() bool {
		fn, calls := failTimes(1, errBoom)
		_, _ = p.Do(context.Background(), fn)
		return calls.Load() == 2
	}
	for i, want := range []bool{true, true, false, false} {
		if got := retried(); got != want {
			t.Fatalf("call %d retried = %v; want %v (budget %v)", i, got, want, b.Available())
		}
	}
	budgetClock.Advance(time.Second)
	for i, want := range []bool{true, true, false} {
		if got := retried(); got != want {
			t.Fatalf("after a second, call %d retried = %v; want %v", i, got, want)
		}
	}
}
