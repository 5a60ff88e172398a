package resilience

import (
	"context"
	"errors"
)

// FallbackSettings configures a Fallback.
type FallbackSettings[T any] struct {
	// Name identifies the policy in events.
	Name string
	// Func computes the replacement result from the error. It must not be
	// nil.
	Func func(ctx context.Context, err error) (T, error)
	// On lists the errors that trigger the fallback, matched with
	// errors.Is; When is asked about the others. With neither, every
	// error does. None does once the caller's context has ended, by its
	// cancellation or its deadline: the caller no longer waits for a
	// result. A Timeout inside the fallback ends only its own context.
	On   []error
	When func(error) bool
	// OnEvent receives the errors replaced.
	OnEvent func(Event)
}

// Fallback replaces chosen errors with a result computed from them: a
// cached value, a degraded answer, or "accepted, payment pending". Placed
// outermost, it also covers ErrOpen and ErrBulkheadFull.
type Fallback[T any] struct {
	set FallbackSettings[T]
}

// NewFallback returns a Fallback. It panics if s.Func is nil.
func NewFallback[T any](s FallbackSettings[T]) *Fallback[T] {
	if s.Func == nil {
		panic("resilience: fallback without a function")
	}
	return &Fallback[T]{set: s}
}

func (*Fallback[T]) kind() policyKind { return kindFallback }

func (f *Fallback[T]) handles(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if len(f.set.On) == 0 && f.set.When == nil {
		return true
	}
	for _, target := range f.set.On {
		if errors.Is(err, target) {
			return true
		}
	}
	return f.set.When != nil && f.set.When(err)
}

func (f *Fallback[T]) apply(ctx context.Context, err error) (T, error) {
	if f.set.OnEvent != nil {
		f.set.OnEvent(Event{Kind: EventFallback, Policy: f.set.Name, Err: err})
	}
	return f.set.Func(ctx, err)
}
