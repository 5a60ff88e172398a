package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

type charge struct{ ID, Status string }

// chargeCard stands for a call to a payment service.
func chargeCard(ctx context.Context) (charge, error) {
	return charge{ID: "ch_1", Status: "paid"}, ctx.Err()
}

// A pipeline in the recommended order, built once and shared by every
// request.
func ExampleNewPipeline() {
	payments := resilience.NewPipeline[charge](
		resilience.NewFallback(resilience.FallbackSettings[charge]{
			On: []error{resilience.ErrOpen, resilience.ErrBulkheadFull, resilience.ErrTimeout},
			Func: func(context.Context, error) (charge, error) {
				return charge{Status: "pending"}, nil
			},
		}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: 5 * time.Second}),
		resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 3}),
		resilience.NewBreaker(resilience.BreakerSettings{Name: "payment"}),
		resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 20}),
		resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Second}),
	)
	c, err := payments.Do(context.Background(), chargeCard)
	fmt.Println(c.Status, err)
	// Output: paid <nil>
}

func ExampleNewRetry() {
	calls := 0
	flaky := func(context.Context) (string, error) {
		if calls++; calls < 3 {
			return "", errors.New("connection reset")
		}
		return "ok", nil
	}
	retry := resilience.NewRetry(resilience.RetrySettings{
		MaxAttempts:  4,
		InitialDelay: time.Millisecond,
		OnEvent: func(e resilience.Event) {
			fmt.Printf("attempt %d failed: %v\n", e.Attempt, e.Err)
		},
	})
	v, err := resilience.NewPipeline[string](retry).Do(context.Background(), flaky)
	fmt.Println(v, err)
	// Output:
	// attempt 1 failed: connection reset
	// attempt 2 failed: connection reset
	// ok <nil>
}

func ExampleRetryError() {
	retry := resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 2, InitialDelay: time.Millisecond})
	down := errors.New("service unavailable")
	_, err := resilience.NewPipeline[int](retry).Do(context.Background(), func(context.Context) (int, error) {
		return 0, down
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, resilience.ErrRetriesExhausted), errors.Is(err, down))
	// Output:
	// retries exhausted after 2 attempts: service unavailable
	// true true
}

func ExampleNewBudget() {
	// One budget shared by every client of a dependency: retries add at
	// most 10% to its load, plus 5 per second.
	budget := resilience.NewBudget(resilience.BudgetSettings{Ratio: 0.1, MinPerSecond: 5})
	a := resilience.NewRetry(resilience.RetrySettings{Budget: budget})
	b := resilience.NewRetry(resilience.RetrySettings{Budget: budget})
	fmt.Println(a.Snapshot().Budget, b.Snapshot().Budget)
	// Output: 5 5
}

func ExampleNewBreaker() {
	breaker := resilience.NewBreaker(resilience.BreakerSettings{
		Name:         "payment",
		WindowSize:   20,
		MinimumCalls: 4,
		OpenDuration: 10 * time.Second,
		OnEvent: func(e resilience.Event) {
			if e.Kind == resilience.EventStateChange {
				fmt.Printf("%s: %v -> %v\n", e.Policy, e.From, e.To)
			}
		},
	})
	p := resilience.NewPipeline[int](breaker)
	for range 5 {
		_, err := p.Do(context.Background(), func(context.Context) (int, error) {
			return 0, errors.New("500 internal server error")
		})
		if errors.Is(err, resilience.ErrOpen) {
			fmt.Println("rejected without calling")
		}
	}
	fmt.Printf("%+v\n", breaker.Snapshot())
	breaker.Reset()
	// Output:
	// payment: closed -> open
	// rejected without calling
	// {State:open Generation:1 Calls:4 Failures:4 SlowCalls:0 ConsecutiveFailures:0 Probes:0}
	// payment: open -> closed
}

func ExampleBreaker_Allow() {
	breaker := resilience.NewBreaker(resilience.BreakerSettings{})
	permit, err := breaker.Allow()
	if err != nil {
		return // resilience.ErrOpen
	}
	ctx := context.Background()
	// ... open a stream, read from it ...
	breaker.Done(ctx, permit, nil)
	fmt.Println(breaker.State())
	// Output: closed
}

func ExampleNewBulkhead() {
	bulkhead := resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 1})
	p := resilience.NewPipeline[int](bulkhead)
	_, err := p.Do(context.Background(), func(ctx context.Context) (int, error) {
		// A second call while the first holds the only slot.
		return p.Do(ctx, func(context.Context) (int, error) { return 1, nil })
	})
	fmt.Println(err)
	// Output: bulkhead is full
}

func ExampleNewTimeout() {
	attempt := resilience.NewTimeout(resilience.TimeoutSettings{Duration: 10 * time.Millisecond})
	_, err := resilience.NewPipeline[int](attempt).Do(context.Background(), func(ctx context.Context) (int, error) {
		<-ctx.Done() // a dependency that does not answer
		return 0, ctx.Err()
	})
	fmt.Println(errors.Is(err, resilience.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

func ExampleNewFallback() {
	fallback := resilience.NewFallback(resilience.FallbackSettings[[]string]{
		On: []error{resilience.ErrOpen},
		Func: func(context.Context, error) ([]string, error) {
			return []string{"bestsellers from cache"}, nil
		},
	})
	breaker := resilience.NewBreaker(resilience.BreakerSettings{})
	breaker.ForceOpen()
	recs, err := resilience.NewPipeline[[]string](fallback, breaker).Do(context.Background(), func(context.Context) ([]string, error) {
		return []string{"personal picks"}, nil
	})
	fmt.Println(recs, err)
	breaker.Reset()
	// Output: [bestsellers from cache] <nil>
}
