package network

import (
	"testing"
	"time"
)

// feed gives s one message every gap, the queue running dry after each,
// n times from t, and returns the time after the last.
func feed(s *spin, t time.Time, gap time.Duration, n int) time.Time {
	for range n {
		t = t.Add(gap)
		s.got(t)
		s.on(t)
	}
	return t
}

func TestSpinWhileDense(t *testing.T) {
	var s spin
	t0 := time.Unix(1000, 0)
	// Sparse packets: the reader waits in the poller after each.
	t1 := feed(&s, t0, time.Millisecond, 50)
	t1 = t1.Add(time.Millisecond)
	s.got(t1)
	if s.on(t1) {
		t.Fatalf("polls on with a packet each ms (average gap %v)", s.gap)
	}
	// Dense packets: it polls on after the queue runs dry, for spinFor
	// since the last packet, no longer.
	t2 := feed(&s, t1, 20*time.Microsecond, 50)
	t2 = t2.Add(20 * time.Microsecond)
	s.got(t2)
	if !s.on(t2) {
		t.Fatalf("waits with a packet each 20us (average gap %v)", s.gap)
	}
	if !s.on(t2.Add(spinFor - time.Microsecond)) {
		t.Fatal("stopped polling before spinFor")
	}
	if s.on(t2.Add(spinFor)) {
		t.Fatal("polls on past spinFor")
	}
	// A packet caught while polling starts the time again.
	t3 := t2.Add(spinFor / 2)
	s.got(t3)
	if !s.on(t3.Add(spinFor - time.Microsecond)) {
		t.Fatal("a packet caught while polling did not start spinFor again")
	}
	// One long pause is enough to stop polling.
	t4 := t3.Add(time.Second)
	s.got(t4)
	if s.on(t4) {
		t.Fatalf("polls on after a pause of 1s (average gap %v)", s.gap)
	}
}
