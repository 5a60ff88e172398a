package resilience

import (
	"context"
	"fmt"
)

type policyKind uint8

const (
	kindRetry policyKind = iota + 1
	kindBreaker
	kindBulkhead
	kindTimeout
	kindFallback
)

// Policy is one layer of a Pipeline: *Fallback, *Timeout, *Retry,
// *Breaker or *Bulkhead. Breakers, bulkheads and budgets keep shared
// state, so one value may sit in several pipelines to share it.
type Policy interface {
	kind() policyKind
}

type layer[T any] struct {
	kind     policyKind
	retry    *Retry
	breaker  *Breaker
	bulkhead *Bulkhead
	timeout  *Timeout
	fallback *Fallback[T]
}

// Pipeline runs functions of type func(context.Context) (T, error) through
// a fixed list of policies, the first one outermost. Build it once and
// share it: Do is safe for concurrent use, and on the success path it
// allocates nothing and takes no lock (an attempt timeout shorter than the
// caller's deadline allocates what context.WithDeadline allocates).
type Pipeline[T any] struct {
	layers []layer[T]
}

// NewPipeline returns a Pipeline applying policies, the first one
// outermost. The recommended order is
//
//	Fallback, Timeout (total), Retry, Breaker, Bulkhead, Timeout (attempt)
//
// and any subset of it. It panics on a nil policy or a Fallback whose
// result type is not T.
func NewPipeline[T any](policies ...Policy) *Pipeline[T] {
	p := &Pipeline[T]{layers: make([]layer[T], 0, len(policies))}
	for i, pol := range policies {
		if pol == nil {
			panic(fmt.Sprintf("resilience: policy %d is nil", i))
		}
		var l layer[T]
		switch v := pol.(type) {
		case *Retry:
			l = layer[T]{kind: kindRetry, retry: v}
		case *Breaker:
			l = layer[T]{kind: kindBreaker, breaker: v}
		case *Bulkhead:
			l = layer[T]{kind: kindBulkhead, bulkhead: v}
		case *Timeout:
			l = layer[T]{kind: kindTimeout, timeout: v}
		case *Fallback[T]:
			l = layer[T]{kind: kindFallback, fallback: v}
		default:
			panic(fmt.Sprintf("resilience: policy %d (%T) cannot be used in a Pipeline[%T]", i, pol, *new(T)))
		}
		if l.retry == nil && l.breaker == nil && l.bulkhead == nil && l.timeout == nil && l.fallback == nil {
			panic(fmt.Sprintf("resilience: policy %d is nil", i))
		}
		p.layers = append(p.layers, l)
	}
	return p
}

// Do calls fn through the policies.
func (p *Pipeline[T]) Do(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	return p.run(ctx, 0, fn)
}

func (p *Pipeline[T]) run(ctx context.Context, i int, fn func(context.Context) (T, error)) (T, error) {
	if i == len(p.layers) {
		return fn(ctx)
	}
	l := &p.layers[i]
	switch l.kind {
	case kindBreaker:
		b := l.breaker
		if err := ctx.Err(); err != nil {
			// A deadline that passed before the call came here says
			// nothing of the dependency.
			var zero T
			return zero, err
		}
		w := b.word.Load()
		if State(w&0xff) != StateClosed {
			var err error
			if w, err = b.admit(); err != nil {
				var zero T
				return zero, err
			}
		}
		return p.runBreaker(ctx, i, fn, b, w)
	case kindRetry:
		return p.runRetry(ctx, i, fn, l.retry)
	case kindTimeout:
		return p.runTimeout(ctx, i, fn, l.timeout)
	case kindBulkhead:
		return p.runBulkhead(ctx, i, fn, l.bulkhead)
	default:
		v, err := p.run(ctx, i+1, fn)
		if err != nil && l.fallback.handles(ctx, err) {
			return l.fallback.apply(ctx, err)
		}
		return v, err
	}
}

// runBreaker runs a call that the breaker admitted under w. A call that
// panics has failed, as gobreaker counts it: a dependency whose every
// call panics must open the breaker, and a half-open probe that panicked,
// unrecorded, would hold its slot, and keep the breaker from closing,
// until MaxHalfOpenWait.
func (p *Pipeline[T]) runBreaker(ctx context.Context, i int, fn func(context.Context) (T, error), b *Breaker, w uint64) (T, error) {
	var start int64
	if b.timed {
		start = b.ticks.now()
	}
	returned := false
	defer b.recordPanic(ctx, w, start, &returned)
	v, err := p.run(ctx, i+1, fn)
	returned = true
	if err == nil && b.fast && State(w&0xff) == StateClosed {
		b.doneFast(w)
	} else {
		b.record(ctx, w, start, err)
	}
	return v, err
}

func (p *Pipeline[T]) runRetry(ctx context.Context, i int, fn func(context.Context) (T, error), r *Retry) (T, error) {
	r.begin()
	for attempt := 1; ; attempt++ {
		v, err := p.run(ctx, i+1, fn)
		if err == nil {
			return v, nil
		}
		d, stop := r.next(ctx, attempt, err)
		if stop == nil {
			stop = r.wait(ctx, attempt, d, err)
		}
		if stop != nil {
			return v, stop
		}
	}
}

func (p *Pipeline[T]) runTimeout(ctx context.Context, i int, fn func(context.Context) (T, error), t *Timeout) (T, error) {
	tctx, cancel := t.deadline(ctx)
	if cancel == nil {
		return p.run(ctx, i+1, fn)
	}
	// Deferred, so that a call that panics does not leave the context,
	// its timer and its place among ctx's children, until the deadline.
	defer cancel()
	v, err := p.run(tctx, i+1, fn)
	if err != nil {
		err = t.wrap(ctx, tctx, err)
	}
	return v, err
}

func (p *Pipeline[T]) runBulkhead(ctx context.Context, i int, fn func(context.Context) (T, error), b *Bulkhead) (T, error) {
	if err := b.Acquire(ctx); err != nil {
		var zero T
		if err != ErrBulkheadFull {
			// The context ended the wait: the call never reached the
			// dependency, and a breaker outside must not count it.
			err = waitEnded{err}
		}
		return zero, err
	}
	defer b.Release()
	return p.run(ctx, i+1, fn)
}
