package proxy

import (
	"runtime"
	"testing"
	"time"
)

func TestFineSleep(t *testing.T) {
	if fineSleep(coarseWait + time.Microsecond) {
		t.Fatal("fineSleep slept longer than coarseWait")
	}
	if !haveNanosleep || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("no precise sleep here")
	}
	const d = 800 * time.Microsecond
	start := time.Now()
	if !fineSleep(d) {
		t.Fatal("fineSleep found no free slot")
	}
	// Generous bounds: this checks that it sleeps, not how precisely.
	if got := time.Since(start); got < d-600*time.Microsecond || got > 100*time.Millisecond {
		t.Fatalf("fineSleep(%v) took %v", d, got)
	}
	if n := fineSleepers.Load(); n != 0 {
		t.Fatalf("%d fine sleepers left", n)
	}
}
