package resilience_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

var errBoom = errors.New("boom")

func fail(context.Context) (int, error) { return 0, errBoom }

func TestBreakerOpensAtFailureRate(t *testing.T) {
	tests := []struct {
		name     string
		set      resilience.BreakerSettings
		outcomes string // s = success, f = failure
		want     resilience.State
	}{
		{"below minimum calls", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 5}, "ffff", resilience.StateClosed},
		{"at minimum calls", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 5}, "fffff", resilience.StateOpen},
		{"rate below threshold", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 10}, "ssssssffff", resilience.StateClosed},
		{"rate at threshold", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 10}, "sssssfffff", resilience.StateOpen},
		{"old failures slid out", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 10}, "ffff" + "ssssssssss" + "ffff", resilience.StateClosed},
		{"custom threshold", resilience.BreakerSettings{WindowSize: 4, MinimumCalls: 4, FailureRate: 0.25}, "sssf", resilience.StateOpen},
		{"rate disabled, consecutive", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 1, FailureRate: -1, ConsecutiveFailures: 3}, "ffsff", resilience.StateClosed},
		{"consecutive reached", resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 1, FailureRate: -1, ConsecutiveFailures: 3}, "ffsfff", resilience.StateOpen},
		{"ignored errors count as success", resilience.BreakerSettings{WindowSize: 4, MinimumCalls: 4, IsFailure: func(error) bool { return false }}, "ffff", resilience.StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set.Clock = newFakeClock()
			b := resilience.NewBreaker(tt.set)
			p := resilience.NewPipeline[int](b)
			for _, o := range tt.outcomes {
				fn := succeed
				if o == 'f' {
					fn = fail
				}
				_, _ = p.Do(context.Background(), fn)
			}
			if got := b.State(); got != tt.want {
				t.Errorf("after %q: state = %v; want %v (%+v)", tt.outcomes, got, tt.want, b.Snapshot())
			}
		})
	}
}

func TestBreakerTimeWindow(t *testing.T) {
	clock := newFakeClock()
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowDuration: 10 * time.Second, MinimumCalls: 4, Clock: clock})
	p := resilience.NewPipeline[int](b)
	for range 3 {
		_, _ = p.Do(context.Background(), fail)
	}
	clock.Advance(11 * time.Second) // the three failures expire
	for range 3 {
		_, _ = p.Do(context.Background(), succeed)
	}
	_, _ = p.Do(context.Background(), fail)
	if s := b.Snapshot(); s.State != resilience.StateClosed || s.Calls != 4 || s.Failures != 1 {
		t.Fatalf("snapshot = %+v; want closed with 4 calls, 1 failure", s)
	}
	for range 3 {
		_, _ = p.Do(context.Background(), fail)
	}
	if got := b.State(); got != resilience.StateOpen {
		t.Fatalf("state = %v; want open", got)
	}
}

func TestBreakerSlowCalls(t *testing.T) {
	clock := newFakeClock()
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 4, MinimumCalls: 4, SlowCallDuration: time.Second, SlowCallRate: 0.5, Clock: clock})
	p := resilience.NewPipeline[int](b)
	slow := func(context.Context) (int, error) { clock.Advance(2 * time.Second); return 1, nil }
	for _, fn := range []func(context.Context) (int, error){succeed, slow, succeed, slow} {
		_, _ = p.Do(context.Background(), fn)
	}
	if s := b.Snapshot(); s.State != resilience.StateOpen {
		t.Fatalf("snapshot = %+v; want open after 2 slow calls of 4", s)
	}
}

func openBreaker(t *testing.T, set resilience.BreakerSettings) (*resilience.Breaker, *resilience.Pipeline[int]) {
	t.Helper()
	set.WindowSize, set.MinimumCalls = 1, 1
	b := resilience.NewBreaker(set)
	p := resilience.NewPipeline[int](b)
	_, _ = p.Do(context.Background(), fail)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v; want open", b.State())
	}
	return b, p
}

func TestBreakerOpenRejectsThenProbes(t *testing.T) {
	clock := newFakeClock()
	var ev events
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: 10 * time.Second, HalfOpenProbes: 2, Clock: clock, OnEvent: ev.add})
	calls := 0
	count := func(context.Context) (int, error) { calls++; return 1, nil }
	if _, err := p.Do(context.Background(), count); !errors.Is(err, resilience.ErrOpen) || calls != 0 {
		t.Fatalf("open breaker: err = %v, calls = %d; want ErrOpen and no call", err, calls)
	}
	clock.Advance(9 * time.Second)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v before the open duration; want open", b.State())
	}
	clock.Advance(time.Second)
	if b.State() != resilience.StateHalfOpen {
		t.Fatalf("state = %v at the open duration; want half-open", b.State())
	}
	for range 2 {
		if _, err := p.Do(context.Background(), count); err != nil {
			t.Fatal(err)
		}
	}
	if b.State() != resilience.StateClosed || calls != 2 {
		t.Fatalf("state = %v, calls = %d; want closed after 2 probes", b.State(), calls)
	}
	want := []resilience.State{resilience.StateOpen, resilience.StateHalfOpen, resilience.StateClosed}
	var got []resilience.State
	for _, e := range ev.list {
		if e.Kind == resilience.EventStateChange {
			got = append(got, e.To)
		}
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("state changes = %v; want %v", got, want)
	}
}

func TestBreakerFailedProbeBacksOff(t *testing.T) {
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: 10 * time.Second, OpenBackoff: 2, MaxOpenDuration: 30 * time.Second, HalfOpenProbes: 1, Clock: clock})
	for _, open := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second} {
		clock.Advance(open - time.Millisecond)
		if b.State() != resilience.StateOpen {
			t.Fatalf("state = %v before %v; want open", b.State(), open)
		}
		clock.Advance(time.Millisecond)
		if b.State() != resilience.StateHalfOpen {
			t.Fatalf("state = %v after %v; want half-open", b.State(), open)
		}
		_, _ = p.Do(context.Background(), fail)
	}
}

func TestBreakerJitterShortensOpenDuration(t *testing.T) {
	clock := newFakeClock()
	b, _ := openBreaker(t, resilience.BreakerSettings{OpenDuration: 10 * time.Second, OpenJitter: 0.5, Rand: fixedRand{1}, Clock: clock})
	clock.Advance(5 * time.Second)
	if b.State() != resilience.StateHalfOpen {
		t.Fatalf("state = %v after 5s with 50%% jitter at its maximum; want half-open", b.State())
	}
}

func TestBreakerHalfOpenAdmitsExactlyN(t *testing.T) {
	const probes, racers = 5, 1000
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, HalfOpenProbes: probes, Clock: clock})
	clock.Advance(time.Second)

	var admitted, rejected atomic.Int64
	release := make(chan struct{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := p.Do(context.Background(), func(context.Context) (int, error) {
				admitted.Add(1)
				<-release
				return 1, nil
			})
			if errors.Is(err, resilience.ErrOpen) {
				rejected.Add(1)
			}
		}()
	}
	close(start)
	for admitted.Load()+rejected.Load() < racers {
		if rejected.Load() == racers-probes {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got := admitted.Load(); got != probes {
		t.Errorf("admitted %d probes; want exactly %d", got, probes)
	}
	close(release)
	wg.Wait()
	if got := rejected.Load(); got != racers-probes {
		t.Errorf("rejected %d calls; want %d", got, racers-probes)
	}
	if b.State() != resilience.StateClosed {
		t.Errorf("state = %v after %d successful probes; want closed", b.State(), probes)
	}
}

func TestBreakerMaxHalfOpenWait(t *testing.T) {
	clock := newFakeClock()
	b, _ := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, MaxHalfOpenWait: 5 * time.Second, HalfOpenProbes: 1, Clock: clock})
	clock.Advance(time.Second)
	perm, err := b.Allow() // a probe that never reports
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v after the maximum half-open wait; want open", b.State())
	}
	// The lost probe reports late: it belongs to an older generation.
	b.Done(context.Background(), perm, nil)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v after a stale result; want open", b.State())
	}
	clock.Advance(time.Second)
	if b.State() != resilience.StateHalfOpen {
		t.Fatalf("state = %v; want half-open again", b.State())
	}
}

func TestBreakerIgnoresStaleGeneration(t *testing.T) {
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 2, MinimumCalls: 2, Clock: newFakeClock()})
	old, _ := b.Allow()
	old2, _ := b.Allow()
	b.Reset() // new generation
	b.Done(context.Background(), old, errBoom)
	b.Done(context.Background(), old2, errBoom)
	if s := b.Snapshot(); s.State != resilience.StateClosed || s.Calls != 0 {
		t.Fatalf("snapshot = %+v; want closed and empty: stale results must be ignored", s)
	}
}

func TestBreakerCallerCancellationIsNotAFailure(t *testing.T) {
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 4, MinimumCalls: 1, Clock: newFakeClock()})
	p := resilience.NewPipeline[int](b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		_, err := p.Do(ctx, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
	}
	if s := b.Snapshot(); s.State != resilience.StateClosed || s.Failures != 0 || s.Calls != 0 {
		t.Fatalf("snapshot = %+v; want closed, nothing counted", s)
	}
}

func TestBreakerCancelledProbeFreesSlot(t *testing.T) {
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, HalfOpenProbes: 1, Clock: clock})
	clock.Advance(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = p.Do(ctx, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	if s := b.Snapshot(); s.State != resilience.StateHalfOpen || s.Probes != 0 {
		t.Fatalf("snapshot = %+v; want half-open with the probe slot free", s)
	}
	if _, err := p.Do(context.Background(), func(ctx context.Context) (int, error) { return 0, ctx.Err() }); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if b.State() != resilience.StateClosed {
		t.Fatalf("state = %v; want closed", b.State())
	}
}

func TestBreakerForcedStates(t *testing.T) {
	clock := newFakeClock()
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 1, MinimumCalls: 1, Clock: clock})
	p := resilience.NewPipeline[int](b)
	b.ForceOpen()
	if _, err := p.Do(context.Background(), succeed); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("forced open: err = %v; want ErrOpen", err)
	}
	b.ForceClosed()
	for range 5 {
		if _, err := p.Do(context.Background(), fail); !errors.Is(err, errBoom) {
			t.Fatalf("forced closed: err = %v; want the call's error", err)
		}
	}
	if b.State() != resilience.StateForcedClosed {
		t.Fatalf("state = %v; want forced-closed", b.State())
	}
	b.Reset()
	_, _ = p.Do(context.Background(), fail)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v after Reset and a failure; want open", b.State())
	}
	if clock.pending() != 1 {
		t.Fatalf("pending timers = %d; want the open timer", clock.pending())
	}
	b.Reset()
	if clock.pending() != 0 {
		t.Fatalf("pending timers = %d after Reset; want none", clock.pending())
	}
}

// TestBreakerNeverStaysOpenPastDuration uses the system clock: while calls
// keep arriving, the first one admitted after opening must come within the
// open duration plus scheduling slack.
func TestBreakerNeverStaysOpenPastDuration(t *testing.T) {
	const open = 50 * time.Millisecond
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 1, MinimumCalls: 1, OpenDuration: open, HalfOpenProbes: 1})
	p := resilience.NewPipeline[int](b)
	for round := range 3 {
		opened := time.Now() // the breaker opens, and its timer starts, within Do
		_, _ = p.Do(context.Background(), fail)
		for {
			_, err := p.Do(context.Background(), succeed)
			if err == nil {
				break
			}
			if waited := time.Since(opened); waited > open+2*time.Second {
				t.Fatalf("round %d: still open after %v; open duration is %v", round, waited, open)
			}
			time.Sleep(time.Millisecond)
		}
		if waited := time.Since(opened); waited < open {
			t.Fatalf("round %d: admitted after %v, before the open duration %v", round, waited, open)
		}
		if b.State() != resilience.StateClosed {
			t.Fatalf("round %d: state = %v; want closed after a good probe", round, b.State())
		}
	}
}

func TestBreakerConcurrentRecording(t *testing.T) {
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 1000, MinimumCalls: 1000, FailureRate: 0.9})
	p := resilience.NewPipeline[int](b)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				fn := succeed
				if (i+g)%4 == 0 {
					fn = fail
				}
				_, _ = p.Do(context.Background(), fn)
			}
		}()
	}
	wg.Wait()
	s := b.Snapshot()
	if s.State != resilience.StateClosed {
		t.Fatalf("state = %v at a 25%% failure rate; want closed", s.State)
	}
	// Between the window size and one bucket (at most half of it) more,
	// give or take the calls of a racing rotation.
	if s.Calls < 1000 || s.Calls > 1600 {
		t.Errorf("window holds %d calls; want 1000 to 1500", s.Calls)
	}
	if r := float64(s.Failures) / float64(s.Calls); r < 0.15 || r > 0.35 {
		t.Errorf("window failure rate %.2f; want about 0.25", r)
	}
}

// Callers that each run in a goroutine of their own, as a server's
// handlers do, spread their calls over every stripe of the window: the
// window must still hold about WindowSize calls, so that the breaker opens
// after about FailureRate of them failed, not several times as many.
func TestBreakerWindowWithGoroutinePerCall(t *testing.T) {
	for _, size := range []int{100, 1000} {
		b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: size})
		p := resilience.NewPipeline[int](b)
		calls := func(n int, fn func(context.Context) (int, error)) {
			sem := make(chan struct{}, 32)
			var wg sync.WaitGroup
			for range n {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					_, _ = p.Do(context.Background(), fn)
				})
			}
			wg.Wait()
		}
		calls(20*size, succeed)
		if s := b.Snapshot(); s.Calls > uint64(size*3/2) {
			t.Errorf("window of %d holds %d calls after %d successes; want at most half as many more", size, s.Calls, 20*size)
		}
		// Half the window must fail, within a bucket (at most a third of
		// the window of 100, a tenth of that of 1000) and what the stripes
		// hold back.
		failed := 0
		for b.Snapshot().State == resilience.StateClosed && failed < 10*size {
			calls(10, fail)
			failed += 10
		}
		if limit := size/2 + size/3; failed > limit {
			t.Errorf("window of %d: the breaker opened after %d failures; want at most %d", size, failed, limit)
		}
	}
}

// Calls to a host that never answers end only when the caller's deadline
// does (a server's incoming deadline, an http.Client timeout shorter than
// the attempt timeout): they must count, or the breaker never opens on the
// one failure it exists for. A call whose deadline passed before it came
// to the breaker counts neither way, and cancellation never counts.
func TestBreakerCountsCallsThatRanOutTheCallersDeadline(t *testing.T) {
	b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 5})
	p := resilience.NewPipeline[int](b, resilience.NewTimeout(resilience.TimeoutSettings{Duration: 2 * time.Second}))
	hang := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }

	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for range 10 {
		p.Do(expired, hang)
		p.Do(cancelled, hang)
	}
	if s := b.Snapshot(); s.Calls != 0 {
		t.Fatalf("calls past their deadline before they began, or cancelled, were counted: %+v", s)
	}
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := p.Do(ctx, hang)
		cancel()
		if errors.Is(err, resilience.ErrOpen) {
			return
		}
	}
	t.Fatalf("20 calls hung until their deadline; breaker %+v; want it open", b.Snapshot())
}

// A probe that panics has failed: the breaker opens again at once instead
// of waiting MaxHalfOpenWait for a result that never comes, and the panic
// goes on to the caller.
func TestBreakerPanickingProbeFails(t *testing.T) {
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, MaxHalfOpenWait: time.Hour, HalfOpenProbes: 1, Clock: clock})
	clock.Advance(time.Second)
	var got any
	func() {
		defer func() { got = recover() }()
		_, _ = p.Do(context.Background(), func(context.Context) (int, error) { panic("probe panics") })
	}()
	if got != "probe panics" {
		t.Fatalf("recovered %v; want the probe's panic", got)
	}
	if s := b.Snapshot(); s.State != resilience.StateOpen {
		t.Fatalf("snapshot = %+v after a panicking probe; want open", s)
	}
	clock.Advance(time.Second)
	if _, err := p.Do(context.Background(), succeed); err != nil || b.State() != resilience.StateClosed {
		t.Fatalf("next probe: err = %v, state = %v; want nil and closed", err, b.State())
	}
}

// The largest duration stands for "until Reset" as an open duration and
// "never" as a timeout: converted through float64 it came back negative,
// so the breaker went half-open at once, jitter panicked, and every call
// timed out at once.
func TestLargestDurations(t *testing.T) {
	for _, jitter := range []float64{0, 0.5} {
		b := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 5, OpenDuration: math.MaxInt64, OpenJitter: jitter, OpenBackoff: 2})
		p := resilience.NewPipeline[int](b)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("opening with jitter %v panicked: %v", jitter, r)
				}
			}()
			for range 10 {
				p.Do(context.Background(), fail)
			}
		}()
		time.Sleep(20 * time.Millisecond)
		if s := b.Snapshot(); s.State != resilience.StateOpen {
			t.Errorf("jitter %v: state %v 20ms after opening for the largest duration; want open", jitter, s.State)
		}
	}
	p := resilience.NewPipeline[int](resilience.NewTimeout(resilience.TimeoutSettings{Duration: math.MaxInt64}))
	if _, err := p.Do(context.Background(), func(ctx context.Context) (int, error) { return 0, ctx.Err() }); err != nil {
		t.Errorf("a call under a timeout of the largest duration = %v; want none", err)
	}
}

// A caller whose deadline passes while it waits for a slot of a bulkhead
// inside the breaker never reached the dependency: like a full bulkhead,
// it says nothing of the dependency. Counted, a queue of callers with
// short deadlines opened the breaker on a dependency that had not failed
// once; as a probe, it opened a half-open breaker again.
func TestBreakerIgnoresDeadlineWhileQueuedInBulkhead(t *testing.T) {
	clock := newFakeClock()
	br := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 10, MinimumCalls: 5, OpenDuration: time.Second, HalfOpenProbes: 1, Clock: clock})
	bh := resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 1, MaxWait: time.Hour, Clock: clock})
	p := resilience.NewPipeline[int](br, bh)
	queued := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_, err := p.Do(ctx, succeed)
		return err
	}
	if err := bh.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := queued(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("queued call: %v; want its deadline", err)
		}
	}
	if s := br.Snapshot(); s.State != resilience.StateClosed || s.Calls != 0 {
		t.Fatalf("after 10 calls that ran out their deadline in the bulkhead's queue: %+v; want closed, nothing counted", s)
	}

	bh.Release()
	for range 5 {
		_, _ = p.Do(context.Background(), fail)
	}
	if br.State() != resilience.StateOpen {
		t.Fatalf("state = %v after 5 failures; want open", br.State())
	}
	clock.Advance(time.Second)
	if err := bh.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer bh.Release()
	if err := queued(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued probe: %v; want its deadline", err)
	}
	if s := br.Snapshot(); s.State != resilience.StateHalfOpen || s.Probes != 0 {
		t.Fatalf("after a probe ran out its deadline in the queue: %+v; want half-open with the probe slot free", s)
	}
}

// MaxHalfOpenWait bounds the wait for probes that were admitted. A
// half-open breaker that no call came to opened again when it ran out,
// though nothing had failed, and with OpenBackoff every such round
// stretched the next open duration: a dependency called now and then
// found its breaker open, and its calls rejected, most of the time.
func TestBreakerIdleHalfOpenStaysHalfOpen(t *testing.T) {
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, OpenBackoff: 2, MaxOpenDuration: time.Minute, MaxHalfOpenWait: 5 * time.Second, HalfOpenProbes: 1, Clock: clock})
	clock.Advance(time.Second)
	for range 3 {
		clock.Advance(5 * time.Second) // no call comes
		if s := b.Snapshot(); s.State != resilience.StateHalfOpen {
			t.Fatalf("after a half-open wait with no call: %+v; want still half-open", s)
		}
	}
	if _, err := p.Do(context.Background(), succeed); err != nil || b.State() != resilience.StateClosed {
		t.Fatalf("first call after the quiet spell: err = %v, state = %v; want it admitted as the probe, and closed", err, b.State())
	}

	// A probe that was admitted and never reports is still waited for
	// only MaxHalfOpenWait from its admission, and a failed probe still
	// backs the open duration off.
	b.ForceOpen()
	b.Reset()
	_, _ = p.Do(context.Background(), fail)
	clock.Advance(time.Second)
	clock.Advance(3 * time.Second)
	if _, err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5*time.Second - time.Millisecond)
	if b.State() != resilience.StateHalfOpen {
		t.Fatalf("state = %v before the probe's wait ran out; want half-open", b.State())
	}
	clock.Advance(time.Millisecond)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v once the probe's wait ran out; want open", b.State())
	}
	clock.Advance(2*time.Second - time.Millisecond)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state = %v before the backed-off open duration; want open", b.State())
	}
	clock.Advance(time.Millisecond)
	if b.State() != resilience.StateHalfOpen {
		t.Fatalf("state = %v after the backed-off open duration; want half-open", b.State())
	}
}

// A closed breaker did not count calls that panicked, so a dependency
// whose every call panicked (in a server that recovers its handlers'
// panics) never opened it. As gobreaker does, and as a half-open breaker
// did already, a panicking call is a failure, whatever IsFailure says,
// and the panic goes on to the caller.
func TestBreakerCountsPanicsWhenClosed(t *testing.T) {
	for n, set := range []resilience.BreakerSettings{
		{WindowSize: 4, MinimumCalls: 4},
		{WindowSize: 4, MinimumCalls: 4, SlowCallDuration: time.Hour},
		{WindowSize: 100, ConsecutiveFailures: 4, FailureRate: -1},
		{WindowSize: 4, MinimumCalls: 4, IsFailure: func(error) bool { return false }},
	} {
		b := resilience.NewBreaker(set)
		p := resilience.NewPipeline[int](b)
		for i := range 4 {
			var got any
			func() {
				defer func() { got = recover() }()
				_, _ = p.Do(context.Background(), func(context.Context) (int, error) { panic("chaostest-panic") })
			}()
			if got != "chaostest-panic" {
				t.Fatalf("call %d recovered %v; want the call's panic", i, got)
			}
		}
		if s := b.Snapshot(); s.State != resilience.StateOpen {
			t.Errorf("settings %d: snapshot %+v after 4 panicking calls; want open", n, s)
		}
	}
}

// A half-open breaker waited MaxHalfOpenWait from its first probe for all
// of them, also once none was in flight: with calls further apart than
// that wait, every probe succeeded, yet the breaker opened again, its
// open duration backed off until the healthy dependency's calls were
// rejected, and it never closed. The wait bounds probes in flight; a
// breaker whose probes all reported waits, half-open, for the next call,
// as it does for the first.
func TestBreakerHalfOpenWaitsOnlyForProbesInFlight(t *testing.T) {
	clock := newFakeClock()
	b, p := openBreaker(t, resilience.BreakerSettings{OpenDuration: time.Second, OpenBackoff: 2, MaxOpenDuration: time.Minute, MaxHalfOpenWait: 5 * time.Second, HalfOpenProbes: 3, Clock: clock})
	clock.Advance(time.Second)
	gen := b.Snapshot().Generation
	for i := range 3 {
		if _, err := p.Do(context.Background(), succeed); err != nil {
			t.Fatalf("call %d, a minute after the last, with every probe so far a success: %v", i, err)
		}
		if i < 2 {
			clock.Advance(time.Minute)
			if s := b.Snapshot(); s.State != resilience.StateHalfOpen || s.Generation != gen {
				t.Fatalf("a minute after probe %d succeeded, with none in flight: %+v; want half-open still, generation %d", i, s, gen)
			}
		}
	}
	if s := b.State(); s != resilience.StateClosed {
		t.Fatalf("state = %v after three successful probes; want closed", s)
	}

	// A probe the caller cancelled is given back, and does not leave the
	// breaker to open when the wait for it runs out.
	_, _ = p.Do(context.Background(), fail)
	clock.Advance(time.Second)
	gen = b.Snapshot().Generation
	ctx, cancel := context.WithCancel(context.Background())
	_, _ = p.Do(ctx, func(context.Context) (int, error) { cancel(); return 0, context.Canceled })
	clock.Advance(time.Minute)
	if s := b.Snapshot(); s.State != resilience.StateHalfOpen || s.Generation != gen {
		t.Fatalf("a minute after the only probe was cancelled: %+v; want half-open", s)
	}
}
