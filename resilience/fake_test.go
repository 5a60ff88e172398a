package resilience_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/resilience"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a manual clock: time moves only in Advance. With auto set,
// AfterFunc advances time to the deadline and fires at once, so that a
// retry waiting for its backoff returns immediately.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	auto   bool
	timers []*fakeTimer
	slept  []time.Duration
}

type fakeTimer struct {
	c    *fakeClock
	when time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) resilience.Timer {
	c.mu.Lock()
	t := &fakeTimer{c: c, when: c.now.Add(d), f: f}
	if c.auto {
		c.now = t.when
		c.slept = append(c.slept, d)
		t.done = true
		c.mu.Unlock()
		f()
		return t
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves time forward by d and runs the timers that came due, in
// order, on the calling goroutine.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
		var due *fakeTimer
		for i, t := range c.timers {
			if !t.done && !t.when.After(end) {
				due = t
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				break
			}
		}
		if due == nil {
			break
		}
		due.done = true
		c.now = due.when
		c.mu.Unlock()
		due.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// pending returns the number of timers neither fired nor stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// fixedRand returns n-1 scaled by frac: 1 is the top of the range, 0 the bottom.
type fixedRand struct{ frac float64 }

func (r fixedRand) Int64N(n int64) int64 { return int64(float64(n-1) * r.frac) }

// events collects events concurrently.
type events struct {
	mu   sync.Mutex
	list []resilience.Event
}

func (e *events) add(ev resilience.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) kinds() []resilience.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []resilience.EventKind
	for _, ev := range e.list {
		k = append(k, ev.Kind)
	}
	return k
}

func succeed(context.Context) (int, error) { return 1, nil }
