package resilience

import (
	"sync/atomic"
	"time"
)

// BudgetSettings configures a Budget.
type BudgetSettings struct {
	// Ratio is the share of calls that may be retried: each call earns
	// Ratio of a retry. Zero means 0.1.
	Ratio float64
	// MinPerSecond retries are allowed per second whatever the traffic,
	// so that a caller with few calls can still retry. The budget starts
	// with one second's worth. Zero means 10; a negative value means none.
	MinPerSecond float64
	// Max is how many retries can be saved up. Zero means 100.
	Max float64
	// Clock replaces the system clock.
	Clock Clock
}

// micro is the fixed-point unit of a Budget: one retry costs a million.
const micro = 1_000_000

// Budget is a token bucket shared by Retry policies so that retries cannot
// multiply the load on a failing dependency: every call deposits Ratio of a
// token, every retry withdraws one, and MinPerSecond tokens arrive each
// second. Under a storm where every call fails, attempts stay within
// calls × (1 + Ratio) plus the minimum.
type Budget struct {
	tokens atomic.Int64 // in millionths of a retry
	last   atomic.Int64 // ticks of the last time-based refill
	_      [48]byte
	ratio  int64
	minPer float64 // millionths per nanosecond
	max    int64
	ticks  ticks
}

// NewBudget returns a Budget holding one second's worth of MinPerSecond.
func NewBudget(s BudgetSettings) *Budget {
	if s.Ratio <= 0 {
		s.Ratio = 0.1
	}
	switch {
	case s.MinPerSecond == 0:
		s.MinPerSecond = 10
	case s.MinPerSecond < 0:
		s.MinPerSecond = 0
	}
	if s.Max <= 0 {
		s.Max = 100
	}
	b := &Budget{
		ratio:  int64(s.Ratio * micro),
		minPer: s.MinPerSecond * micro / float64(time.Second),
		max:    int64(s.Max * micro),
		ticks:  newTicks(s.Clock),
	}
	b.tokens.Store(min(int64(s.MinPerSecond*micro), b.max))
	b.last.Store(b.ticks.now())
	return b
}

// deposit credits one call. A full bucket, the usual case when retries are
// rare, costs one atomic load.
func (b *Budget) deposit() {
	if b.tokens.Load() < b.max {
		b.tokens.Add(b.ratio)
	}
}

// withdraw takes the token for one retry, reporting whether there was one.
func (b *Budget) withdraw() bool {
	if b.minPer > 0 {
		now := b.ticks.now()
		// Only the time turned into whole millionths is used up: retries
		// asked for more often than a millionth accrues must not throw
		// away the time between them.
		last := b.last.Load()
		add := int64(float64(now-last) * b.minPer)
		used := now - last
		if add < b.max {
			used = min(int64(float64(add)/b.minPer), used)
		}
		if add > 0 && b.last.CompareAndSwap(last, last+used) {
			for t := b.tokens.Load(); t < b.max && add > 0; t = b.tokens.Load() {
				if b.tokens.CompareAndSwap(t, min(t+add, b.max)) {
					break
				}
			}
		}
	}
	for t := b.tokens.Load(); t >= micro; t = b.tokens.Load() {
		if b.tokens.CompareAndSwap(t, t-micro) {
			return true
		}
	}
	return false
}

// Available returns how many retries the budget would allow now, not
// counting the time-based refill not yet credited.
func (b *Budget) Available() float64 { return float64(b.tokens.Load()) / micro }
