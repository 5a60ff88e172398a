package resilience

import (
	"context"
	"testing"
)

// A probe that passed the generation check just before the half-open
// breaker opened again and went half-open anew must not count towards the
// new generation's probes: its success closed the breaker after fewer
// successful probes than HalfOpenProbes. The test plays that interleaving
// step by step.
func TestBreakerStaleProbeDoesNotCountInNewHalfOpen(t *testing.T) {
	b := NewBreaker(BreakerSettings{HalfOpenProbes: 2, Clock: &stepClock{}})
	b.force(StateOpen)
	halfOpen := func() {
		w := b.word.Load()
		b.transition(w>>32, StateOpen, StateHalfOpen)
		if b.State() != StateHalfOpen {
			t.Fatalf("state = %v; want half-open", b.State())
		}
	}
	halfOpen()
	if _, err := b.admit(); err != nil {
		t.Fatal(err)
	}
	stale := b.word.Load() // the probe's record has checked the generation

	b.transition(stale>>32, StateHalfOpen, StateOpen) // the half-open wait ran out
	halfOpen()
	b.doneProbe(stale, false, false) // the old probe's success lands now

	w, err := b.admit()
	if err != nil {
		t.Fatal(err)
	}
	b.done(context.Background(), w, 0, nil)
	if s := b.Snapshot(); s.State != StateHalfOpen {
		t.Fatalf("after one of two probes succeeded, and a stale one: %+v; want still half-open", s)
	}
	w, err = b.admit()
	if err != nil {
		t.Fatal(err)
	}
	b.done(context.Background(), w, 0, nil)
	if s := b.State(); s != StateClosed {
		t.Fatalf("after both probes succeeded: state = %v; want closed", s)
	}
}

// The admitted probes are counted in 24 bits of the state word: a larger
// HalfOpenProbes let the count carry into the generation, and the breaker,
// half-open in a generation of its own making, admitted probes without
// end and ignored the results of those it had admitted.
func TestBreakerHalfOpenProbesFitTheStateWord(t *testing.T) {
	b := NewBreaker(BreakerSettings{HalfOpenProbes: 1 << 30, Clock: &stepClock{}})
	b.force(StateOpen)
	w := b.word.Load()
	b.transition(w>>32, StateOpen, StateHalfOpen)
	w = b.word.Load()
	b.word.Store(w | (1<<24-2)<<8) // all but one of the countable probes taken
	if _, err := b.admit(); err != nil {
		t.Fatalf("the last countable probe: %v; want it admitted", err)
	}
	if _, err := b.admit(); err == nil {
		t.Fatalf("one probe more than the state word counts was admitted: %+v", b.Snapshot())
	}
	if s := b.Snapshot(); s.Generation != w>>32 || s.State != StateHalfOpen {
		t.Fatalf("after admitting probes: %+v; want half-open in generation %d", s, w>>32)
	}
}
