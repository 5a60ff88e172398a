package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// TimeoutSettings configures a Timeout.
type TimeoutSettings struct {
	// Name identifies the policy in events.
	Name string
	// Duration bounds the rest of the pipeline. It must be positive.
	Duration time.Duration
	// OnEvent receives the calls the timeout ended.
	OnEvent func(Event)
}

// Timeout bounds how long the rest of the pipeline may take by giving it a
// context with an earlier deadline. Placed outside a Retry it bounds the
// whole call; inside, each attempt. When the caller's deadline is already
// earlier, the caller's context is passed on untouched, which costs no
// allocation. The function must honour its context: a Timeout does not
// abandon a call that ignores it.
//
// An error ending the call at the timeout's own deadline is wrapped so that
// errors.Is matches ErrTimeout as well as context.DeadlineExceeded.
type Timeout struct {
	// seen is a clock reading (time since epoch) not later than now. A
	// caller's deadline before seen+d is before now+d too, so the common
	// case of a caller with a tighter deadline reads no clock at all.
	seen atomic.Int64
	_    [56]byte
	d    time.Duration
	set  TimeoutSettings
}

// NewTimeout returns a Timeout. It panics if s.Duration is not positive.
func NewTimeout(s TimeoutSettings) *Timeout {
	if s.Duration <= 0 {
		panic(fmt.Sprintf("resilience: timeout duration %v is not positive", s.Duration))
	}
	t := &Timeout{d: s.Duration, set: s}
	t.seen.Store(int64(time.Since(epoch)))
	return t
}

func (*Timeout) kind() policyKind { return kindTimeout }

// deadline returns the context to run under, and a cancel function when it
// derived one.
func (t *Timeout) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	// Offsets from epoch are monotonic: time.Since reads the clock once,
	// and comparing with the caller's deadline reads it not at all.
	dl, ok := ctx.Deadline()
	var until time.Duration
	if ok {
		until = dl.Sub(epoch)
		if until <= time.Duration(t.seen.Load())+t.d {
			return ctx, nil
		}
	}
	now := time.Since(epoch)
	t.seen.Store(int64(now))
	if ok && until <= now+t.d || t.d > math.MaxInt64-now {
		// The caller's deadline comes first, or this one is past any
		// clock (a timeout of the largest duration): nothing to add.
		return ctx, nil
	}
	return context.WithDeadline(ctx, epoch.Add(now+t.d))
}

func (t *Timeout) wrap(parent, ctx context.Context, err error) error {
	// A retry within that stopped because this deadline left no time for
	// its next attempt ran out this timeout as surely as an attempt cut
	// off by it.
	var re *RetryError
	gaveUp := ctx.Err() == nil && errors.As(err, &re) && re.Reason == context.DeadlineExceeded
	if ctx.Err() != context.DeadlineExceeded && !gaveUp || parent.Err() != nil {
		return err
	}
	err = fmt.Errorf("%w after %v: %w", ErrTimeout, t.d, err)
	if t.set.OnEvent != nil {
		t.set.OnEvent(Event{Kind: EventTimeout, Policy: t.set.Name, Err: err})
	}
	return err
}
