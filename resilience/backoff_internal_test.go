package resilience

import (
	"math"
	"testing"
	"time"
)

// A MaxDelay near the largest duration neither panics nor turns negative.
func TestBackoffHugeMaxDelay(t *testing.T) {
	for _, j := range []Jitter{FullJitter, EqualJitter, NoJitter} {
		r := NewRetry(RetrySettings{MaxAttempts: 80, InitialDelay: time.Millisecond, MaxDelay: math.MaxInt64, Jitter: j, NoBudget: true})
		for a := 1; a < 80; a++ {
			if d := r.backoff(a); d < 0 {
				t.Fatalf("jitter %v: backoff(%d) = %v", j, a, d)
			}
		}
	}
}
