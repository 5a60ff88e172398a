package resilience

import (
	"context"
	"testing"
	"time"
)

// First come, first served: a caller that arrives while a Release is
// between giving its slot back and handing it to the queue waits behind
// the caller queued first, instead of taking the slot and leaving that
// one to time out. Holding b.mu widens that moment so that the test sees
// it every time.
func TestBulkheadFirstComeFirstServed(t *testing.T) {
	b := NewBulkhead(BulkheadSettings{MaxConcurrent: 1, MaxWait: 200 * time.Millisecond})
	if err := b.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- b.Acquire(context.Background()) }()
	for b.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.mu.Lock()
	released := make(chan struct{})
	go func() { b.Release(); close(released) }()
	for b.inflight.Load() != 0 {
		time.Sleep(time.Microsecond)
	}
	late := make(chan error, 1)
	go func() { late <- b.Acquire(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // the newcomer has tried by now
	b.mu.Unlock()
	<-released
	if err := <-first; err != nil {
		t.Errorf("the caller queued first got %v; want the slot", err)
	} else {
		b.Release()
	}
	if err := <-late; err == nil {
		b.Release()
	}
}
