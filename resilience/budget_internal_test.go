package resilience

import (
	"sync/atomic"
	"testing"
	"time"
)

// stepClock is a clock that moves only when told; its timers never fire.
type stepClock struct{ now atomic.Int64 }

func (c *stepClock) Now() time.Time                        { return time.Unix(0, c.now.Load()) }
func (c *stepClock) AfterFunc(time.Duration, func()) Timer { return stoppedTimer{} }
func (c *stepClock) Advance(d time.Duration)               { c.now.Add(int64(d)) }

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// Retries asked for more often than the minimum rate earns a millionth of
// one still get that rate: the time between two asks is not thrown away.
func TestBudgetRefillsUnderFrequentWithdrawals(t *testing.T) {
	c := &stepClock{}
	b := NewBudget(BudgetSettings{Ratio: 1e-9, MinPerSecond: 1, Clock: c})
	if !b.withdraw() {
		t.Fatal("no retry in a fresh budget")
	}
	got := 0
	for range 3_000_000 { // 1.5s in steps of 500ns, half a millionth of a retry each
		c.Advance(500 * time.Nanosecond)
		if b.withdraw() {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d retries in 1.5s of asking every 500ns at a minimum of 1 per second; want 1", got)
	}
}
