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

func TestBulkheadLimitsConcurrency(t *testing.T) {
	const limit = 3
	bh := resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: limit})
	p := resilience.NewPipeline[int](bh)
	var running, peak atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Do(context.Background(), func(context.Context) (int, error) {
				n := running.Add(1)
				for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
				}
				<-release
				running.Add(-1)
				return 1, nil
			})
			errs <- err
		}()
	}
	for bh.Snapshot().InFlight < limit || len(errs) < 10-limit {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	full := 0
	for err := range errs {
		if errors.Is(err, resilience.ErrBulkheadFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full != 10-limit || peak.Load() != limit {
		t.Fatalf("rejected %d, peak %d; want %d rejected, peak %d", full, peak.Load(), 10-limit, limit)
	}
	if s := bh.Snapshot(); s.InFlight != 0 || s.Waiting != 0 {
		t.Fatalf("snapshot = %+v; want empty", s)
	}
}

func TestBulkheadWait(t *testing.T) {
	clock := newFakeClock()
	bh := resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 1, MaxWait: time.Second, Clock: clock})
	if err := bh.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 2)
	go func() { got <- bh.Acquire(context.Background()) }()
	for bh.Snapshot().Waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	bh.Release() // hands the slot to the waiter
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v; want the released slot", err)
	}
	go func() { got <- bh.Acquire(context.Background()) }()
	for bh.Snapshot().Waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	clock.Advance(time.Second)
	if err := <-got; !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("waiter past MaxWait: %v; want ErrBulkheadFull", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { got <- bh.Acquire(ctx) }()
	for bh.Snapshot().Waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v; want context.Canceled", err)
	}
	bh.Release()
	if s := bh.Snapshot(); s.InFlight != 0 || s.Waiting != 0 {
		t.Fatalf("snapshot = %+v; want empty", s)
	}
}

func TestTimeout(t *testing.T) {
	caller := func(d time.Duration) (context.Context, context.CancelFunc) {
		if d == 0 {
			return context.WithCancel(context.Background())
		}
		return context.WithTimeout(context.Background(), d)
	}
	tests := []struct {
		name        string
		timeout     time.Duration
		callerLimit time.Duration
		derived     bool
	}{
		{"no caller deadline", time.Hour, 0, true},
		{"caller deadline later", time.Minute, time.Hour, true},
		{"caller deadline earlier", time.Hour, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caller(tt.callerLimit)
			defer cancel()
			p := resilience.NewPipeline[int](resilience.NewTimeout(resilience.TimeoutSettings{Duration: tt.timeout}))
			var got context.Context
			_, _ = p.Do(ctx, func(c context.Context) (int, error) { got = c; return 1, nil })
			if derived := got != ctx; derived != tt.derived {
				t.Fatalf("derived a context = %v; want %v", derived, tt.derived)
			}
			limit := tt.timeout
			if tt.callerLimit > 0 {
				limit = min(limit, tt.callerLimit)
			}
			if dl, ok := got.Deadline(); !ok || time.Until(dl) > limit {
				t.Fatalf("deadline in %v; want within %v", time.Until(dl), limit)
			}
		})
	}
}

func TestTimeoutErrors(t *testing.T) {
	var ev events
	p := resilience.NewPipeline[int](resilience.NewTimeout(resilience.TimeoutSettings{Duration: 20 * time.Millisecond, OnEvent: ev.add}))
	wait := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
	start := time.Now()
	_, err := p.Do(context.Background(), wait)
	if !errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("own deadline: %v; want ErrTimeout and DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > 2*time.Second {
		t.Fatalf("returned after %v; want about 20ms", el)
	}
	if got := ev.kinds(); !slices.Equal(got, []resilience.EventKind{resilience.EventTimeout}) {
		t.Fatalf("events = %v; want one timeout", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = resilience.NewPipeline[int](resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Hour})).Do(ctx, wait)
	if errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller's deadline: %v; want plain DeadlineExceeded", err)
	}
}

// A retry inside a total timeout that stops because the timeout's
// deadline leaves no time for its next attempt ran out that timeout: the
// error is ErrTimeout, and a fallback on ErrTimeout answers, as it does
// when the deadline cuts an attempt off.
func TestTimeoutAroundARetryThatGaveUpEarly(t *testing.T) {
	fell := false
	p := resilience.NewPipeline[int](
		resilience.NewFallback(resilience.FallbackSettings[int]{
			On:   []error{resilience.ErrTimeout},
			Func: func(context.Context, error) (int, error) { fell = true; return 42, nil },
		}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: 100 * time.Millisecond}),
		resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 5, InitialDelay: time.Second, Jitter: resilience.NoJitter, NoBudget: true}),
	)
	if v, err := p.Do(context.Background(), fail); !fell || v != 42 || err != nil {
		t.Errorf("Do = %d, %v; want the ErrTimeout fallback's 42", v, err)
	}
	// A caller's own deadline, shorter than the timeout, stays the
	// caller's.
	p = resilience.NewPipeline[int](
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Minute}),
		resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 5, InitialDelay: time.Second, Jitter: resilience.NoJitter, NoBudget: true}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Do(ctx, fail); errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do under the caller's deadline = %v; want its DeadlineExceeded, not ErrTimeout", err)
	}
}

func TestFallback(t *testing.T) {
	cached := func(context.Context, error) (int, error) { return 42, nil }
	tests := []struct {
		name string
		set  resilience.FallbackSettings[int]
		err  error
		want int
	}{
		{"any error", resilience.FallbackSettings[int]{Func: cached}, errBoom, 42},
		{"listed error", resilience.FallbackSettings[int]{Func: cached, On: []error{resilience.ErrOpen}}, resilience.ErrOpen, 42},
		{"unlisted error", resilience.FallbackSettings[int]{Func: cached, On: []error{resilience.ErrOpen}}, errBoom, 0},
		{"predicate", resilience.FallbackSettings[int]{Func: cached, When: func(err error) bool { return err == errBoom }}, errBoom, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := resilience.NewPipeline[int](resilience.NewFallback(tt.set))
			got, _ := p.Do(context.Background(), func(context.Context) (int, error) { return 0, tt.err })
			if got != tt.want {
				t.Errorf("Do = %d; want %d", got, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := resilience.NewPipeline[int](resilience.NewFallback(resilience.FallbackSettings[int]{Func: cached}))
	if got, err := p.Do(ctx, func(ctx context.Context) (int, error) { return 0, ctx.Err() }); got != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %d, %v; want no fallback", got, err)
	}
}

// TestPipelineOrder runs the recommended order against a failing
// dependency: the attempt timeout fails each attempt, the breaker counts
// them and opens, the retry stops on ErrOpen, and the fallback answers.
func TestPipelineOrder(t *testing.T) {
	clock := newFakeClock()
	clock.auto = true
	var ev events
	br := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 2, MinimumCalls: 2, Clock: newFakeClock(), OnEvent: ev.add})
	p := resilience.NewPipeline[string](
		resilience.NewFallback(resilience.FallbackSettings[string]{Func: func(context.Context, error) (string, error) { return "pending", nil }, On: []error{resilience.ErrOpen}, OnEvent: ev.add}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Minute}),
		resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 5, Clock: clock, OnEvent: ev.add}),
		br,
		resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 1}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: 5 * time.Millisecond}),
	)
	var attempts atomic.Int64
	got, err := p.Do(context.Background(), func(ctx context.Context) (string, error) {
		attempts.Add(1)
		<-ctx.Done()
		return "", ctx.Err()
	})
	if got != "pending" || err != nil {
		t.Fatalf("Do = %q, %v; want the fallback", got, err)
	}
	if attempts.Load() != 2 || br.State() != resilience.StateOpen {
		t.Fatalf("attempts = %d, breaker %v; want 2 attempts and an open breaker", attempts.Load(), br.State())
	}
	want := []resilience.EventKind{resilience.EventRetry, resilience.EventStateChange, resilience.EventRetry, resilience.EventRejected, resilience.EventRetryStopped, resilience.EventFallback}
	if got := ev.kinds(); !slices.Equal(got, want) {
		t.Errorf("events = %v; want %v", got, want)
	}
	br.Reset()
}

func TestNewPipelinePanics(t *testing.T) {
	tests := []struct {
		name     string
		policies []resilience.Policy
	}{
		{"nil", []resilience.Policy{nil}},
		{"typed nil", []resilience.Policy{(*resilience.Retry)(nil)}},
		{"fallback of another type", []resilience.Policy{resilience.NewFallback(resilience.FallbackSettings[string]{Func: func(context.Context, error) (string, error) { return "", nil }})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewPipeline did not panic")
				}
			}()
			resilience.NewPipeline[int](tt.policies...)
		})
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	p := resilience.NewPipeline[int](
		resilience.NewFallback(resilience.FallbackSettings[int]{Func: func(context.Context, error) (int, error) { return 0, nil }}),
		resilience.NewRetry(resilience.RetrySettings{}),
		resilience.NewBreaker(resilience.BreakerSettings{}),
		resilience.NewBulkhead(resilience.BulkheadSettings{}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: 2 * time.Hour}),
	)
	if n := testing.AllocsPerRun(1000, func() { _, _ = p.Do(ctx, succeed) }); n != 0 {
		t.Fatalf("allocations per call = %v; want 0", n)
	}
}

// TestBulkheadNoLostWakeUp: with a long MaxWait, every waiter must get a
// slot eventually and the limit must hold, however releases and arrivals
// interleave.
func TestBulkheadNoLostWakeUp(t *testing.T) {
	const limit = 3
	bh := resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: limit, MaxWait: time.Minute})
	p := resilience.NewPipeline[int](bh)
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				_, err := p.Do(context.Background(), func(context.Context) (int, error) {
					n := running.Add(1)
					for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
					}
					running.Add(-1)
					return 1, nil
				})
				if err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 || peak.Load() > limit {
		t.Fatalf("failures = %d, peak = %d; want none and at most %d", failures.Load(), peak.Load(), limit)
	}
	if s := bh.Snapshot(); s.InFlight != 0 || s.Waiting != 0 {
		t.Fatalf("snapshot = %+v; want empty", s)
	}
}

// A call that panicked through a Timeout left the context the Timeout
// made uncancelled, with its timer and its place among the caller's
// context's children, until the deadline: an hour's worth of them for a
// server that recovers its handlers' panics.
func TestTimeoutContextEndsWhenTheCallPanics(t *testing.T) {
	p := resilience.NewPipeline[int](resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inner context.Context
	func() {
		defer func() { recover() }()
		_, _ = p.Do(ctx, func(ctx context.Context) (int, error) {
			inner = ctx
			panic("chaostest-panic")
		})
	}()
	if inner == ctx {
		t.Fatal("the timeout passed the caller's context on; want one of its own")
	}
	if inner.Err() == nil {
		t.Error("the timeout's context is still live after the call panicked; want it cancelled")
	}
}
