package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// BulkheadSettings configures a Bulkhead.
type BulkheadSettings struct {
	// Name identifies the bulkhead in events.
	Name string
	// MaxConcurrent is how many calls may run at once. Zero means 10.
	MaxConcurrent int
	// MaxWait is how long a call may wait for a free slot; zero means it
	// is rejected at once.
	MaxWait time.Duration
	// OnEvent receives rejections.
	OnEvent func(Event)
	// Clock replaces the system clock.
	Clock Clock
}

// Bulkhead bounds the number of concurrent calls, so that a slow
// dependency holds at most MaxConcurrent goroutines, connections or
// workers instead of all of them. Calls beyond the limit wait up to
// MaxWait, first come first served, then fail with ErrBulkheadFull.
type Bulkhead struct {
	inflight atomic.Int64
	waiting  atomic.Int64
	_        [48]byte
	max      int64
	set      BulkheadSettings
	clock    Clock

	mu    sync.Mutex
	queue []chan struct{}
}

// NewBulkhead returns an empty Bulkhead.
func NewBulkhead(s BulkheadSettings) *Bulkhead {
	if s.MaxConcurrent <= 0 {
		s.MaxConcurrent = 10
	}
	return &Bulkhead{max: int64(s.MaxConcurrent), set: s, clock: clockOr(s.Clock)}
}

func (*Bulkhead) kind() policyKind { return kindBulkhead }

func (b *Bulkhead) tryAcquire() bool {
	for n := b.inflight.Load(); n < b.max; n = b.inflight.Load() {
		if b.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
	return false
}

// Acquire takes a slot, waiting up to MaxWait. It returns ErrBulkheadFull
// when none came free in time, or ctx's error when ctx ended first. After
// a nil error the caller must call Release.
func (b *Bulkhead) Acquire(ctx context.Context) error {
	// While callers wait, a newcomer queues behind them: a slot a Release
	// gives back is theirs, first come first served, not the newcomer's.
	if b.waiting.Load() == 0 && b.tryAcquire() {
		return nil
	}
	if b.set.MaxWait <= 0 {
		return b.full()
	}
	return b.wait(ctx)
}

func (b *Bulkhead) wait(ctx context.Context) error {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.waiting.Add(1)
	// Registered before this second try, so a Release that happens after
	// it sees the waiter: no wake-up is lost. Behind others, it queues.
	if len(b.queue) == 0 && b.tryAcquire() {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil
	}
	b.queue = append(b.queue, ch)
	b.mu.Unlock()

	expired := make(chan struct{})
	t := b.clock.AfterFunc(b.set.MaxWait, func() { close(expired) })
	defer t.Stop()
	var err error
	select {
	case <-ch:
		return nil
	case <-expired:
		err = b.full()
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	for i, q := range b.queue {
		if q == ch {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			b.waiting.Add(-1)
			b.mu.Unlock()
			return err
		}
	}
	b.mu.Unlock()
	// A Release handed this waiter a slot while it gave up: pass it on.
	<-ch
	b.Release()
	return err
}

// waitEnded is the context's error that ended a Pipeline call's wait for
// a bulkhead slot. errors.Is sees the context's error through it; a
// breaker outside the bulkhead counts it neither way, as it does
// ErrBulkheadFull, since the dependency was never called: a deadline that
// passed in the queue says the bulkhead was full, not that the dependency
// failed.
type waitEnded struct{ err error }

func (e waitEnded) Error() string { return "waiting for a bulkhead slot: " + e.err.Error() }
func (e waitEnded) Unwrap() error { return e.err }

func (b *Bulkhead) full() error {
	if b.set.OnEvent != nil {
		b.set.OnEvent(Event{Kind: EventRejected, Policy: b.set.Name, Err: ErrBulkheadFull})
	}
	return ErrBulkheadFull
}

// Release gives back a slot taken by Acquire.
func (b *Bulkhead) Release() {
	b.inflight.Add(-1)
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.queue) > 0 && b.tryAcquire() {
		ch := b.queue[0]
		b.queue = b.queue[1:]
		b.waiting.Add(-1)
		ch <- struct{}{}
	}
}

// BulkheadSnapshot is a point-in-time view of a Bulkhead.
type BulkheadSnapshot struct {
	InFlight, Waiting, Max int
}

// Snapshot returns the bulkhead's occupancy.
func (b *Bulkhead) Snapshot() BulkheadSnapshot {
	return BulkheadSnapshot{InFlight: int(b.inflight.Load()), Waiting: int(b.waiting.Load()), Max: int(b.max)}
}
