package resilience_test

import (
	"context"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

func ok(context.Context) (int, error) { return 1, nil }

func benchPipeline(b *testing.B, ctx context.Context, p *resilience.Pipeline[int]) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Do(ctx, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBreakerClosed(b *testing.B) {
	benchPipeline(b, context.Background(), resilience.NewPipeline[int](resilience.NewBreaker(resilience.BreakerSettings{})))
}

func BenchmarkBreakerOpen(b *testing.B) {
	br := resilience.NewBreaker(resilience.BreakerSettings{})
	br.ForceOpen()
	p := resilience.NewPipeline[int](br)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Do(context.Background(), ok); err == nil {
				b.Fatal("admitted")
			}
		}
	})
}

func BenchmarkRetry(b *testing.B) {
	benchPipeline(b, context.Background(), resilience.NewPipeline[int](resilience.NewRetry(resilience.RetrySettings{})))
}

func BenchmarkRetryBreaker(b *testing.B) {
	benchPipeline(b, context.Background(), resilience.NewPipeline[int](resilience.NewRetry(resilience.RetrySettings{}), resilience.NewBreaker(resilience.BreakerSettings{})))
}

func BenchmarkRetryBreakerTimeout(b *testing.B) {
	benchPipeline(b, context.Background(), resilience.NewPipeline[int](resilience.NewRetry(resilience.RetrySettings{}), resilience.NewBreaker(resilience.BreakerSettings{}), resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Second})))
}

func BenchmarkRetryBreakerTimeoutEarlier(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	benchPipeline(b, ctx, resilience.NewPipeline[int](resilience.NewRetry(resilience.RetrySettings{}), resilience.NewBreaker(resilience.BreakerSettings{}), resilience.NewTimeout(resilience.TimeoutSettings{Duration: time.Hour})))
}

func BenchmarkWithTimeout(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = ok(ctx)
			cancel()
		}
	})
}
