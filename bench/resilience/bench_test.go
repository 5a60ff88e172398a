package bench_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/sony/gobreaker/v2"

	"github.com/gamedayhq/chaos/resilience"
)

// Every case runs under RunParallel, so that -cpu 1 measures one caller and
// -cpu 2 two callers sharing the policies. The call itself does nothing:
// what is measured is the policies' overhead.

var errDown = errors.New("down")

func call(context.Context) (int, error) { return 1, nil }
func callNoCtx() (int, error)           { return 1, nil }
func callExec(failsafe.Execution[int]) (int, error) {
	return 1, nil
}

func parallel(b *testing.B, f func() error) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func chaos(b *testing.B, ctx context.Context, policies ...resilience.Policy) {
	p := resilience.NewPipeline[int](policies...)
	parallel(b, func() error { _, err := p.Do(ctx, call); return err })
}

func failsafeGet(b *testing.B, policies ...failsafe.Policy[int]) {
	ex := failsafe.With(policies...)
	parallel(b, func() error { _, err := ex.Get(callNoCtx); return err })
}

func failsafeCtx(b *testing.B, ctx context.Context, policies ...failsafe.Policy[int]) {
	ex := failsafe.With(policies...)
	parallel(b, func() error { _, err := ex.WithContext(ctx).GetWithExecution(callExec); return err })
}

func chaosRetry() *resilience.Retry { return resilience.NewRetry(resilience.RetrySettings{}) }

func chaosBreaker() *resilience.Breaker { return resilience.NewBreaker(resilience.BreakerSettings{}) }

func chaosTimeout(d time.Duration) *resilience.Timeout {
	return resilience.NewTimeout(resilience.TimeoutSettings{Duration: d})
}

func fsRetry() retrypolicy.RetryPolicy[int] {
	return retrypolicy.NewBuilder[int]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build()
}

func fsBreaker() circuitbreaker.CircuitBreaker[int] {
	return circuitbreaker.NewBuilder[int]().WithFailureRateThreshold(0.5, 10, time.Minute).WithDelay(5 * time.Second).Build()
}

func BenchmarkBreakerClosed(b *testing.B) {
	b.Run("chaos", func(b *testing.B) { chaos(b, context.Background(), chaosBreaker()) })
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{})
		parallel(b, func() error { _, err := cb.Execute(callNoCtx); return err })
	})
	b.Run("failsafe", func(b *testing.B) { failsafeGet(b, fsBreaker()) })
}

func BenchmarkBreakerOpen(b *testing.B) {
	rejected := func(err error) error {
		if err == nil {
			return errors.New("an open breaker admitted a call")
		}
		return nil
	}
	b.Run("chaos", func(b *testing.B) {
		br := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 1, MinimumCalls: 1, OpenDuration: time.Hour})
		p := resilience.NewPipeline[int](br)
		_, _ = p.Do(context.Background(), func(context.Context) (int, error) { return 0, errDown })
		defer br.Reset()
		parallel(b, func() error { _, err := p.Do(context.Background(), call); return rejected(err) })
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{Timeout: time.Hour})
		for range 6 {
			_, _ = cb.Execute(func() (int, error) { return 0, errDown })
		}
		parallel(b, func() error { _, err := cb.Execute(callNoCtx); return rejected(err) })
	})
	b.Run("failsafe", func(b *testing.B) {
		cb := circuitbreaker.NewBuilder[int]().WithDelay(time.Hour).Build()
		cb.Open()
		ex := failsafe.With[int](cb)
		parallel(b, func() error { _, err := ex.Get(callNoCtx); return rejected(err) })
	})
}

func BenchmarkRetry(b *testing.B) {
	b.Run("chaos", func(b *testing.B) { chaos(b, context.Background(), chaosRetry()) })
	b.Run("failsafe", func(b *testing.B) { failsafeGet(b, fsRetry()) })
}

func BenchmarkRetryBreaker(b *testing.B) {
	b.Run("chaos", func(b *testing.B) { chaos(b, context.Background(), chaosRetry(), chaosBreaker()) })
	b.Run("failsafe", func(b *testing.B) { failsafeGet(b, fsRetry(), fsBreaker()) })
}

func BenchmarkRetryBreakerTimeout(b *testing.B) {
	b.Run("chaos", func(b *testing.B) {
		chaos(b, context.Background(), chaosRetry(), chaosBreaker(), chaosTimeout(time.Second))
	})
	b.Run("failsafe", func(b *testing.B) {
		failsafeCtx(b, context.Background(), fsRetry(), fsBreaker(), timeout.New[int](time.Second))
	})
	// The baseline: what an attempt timeout costs done by hand.
	b.Run("withtimeout", func(b *testing.B) {
		parallel(b, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := call(ctx)
			cancel()
			return err
		})
	})
}

func BenchmarkRetryBreakerTimeoutEarlier(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.Run("chaos", func(b *testing.B) {
		chaos(b, ctx, chaosRetry(), chaosBreaker(), chaosTimeout(2*time.Hour))
	})
	b.Run("failsafe", func(b *testing.B) {
		failsafeCtx(b, ctx, fsRetry(), fsBreaker(), timeout.New[int](2*time.Hour))
	})
}
