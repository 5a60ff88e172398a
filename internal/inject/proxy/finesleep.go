package proxy

import (
	"runtime"
	"sync/atomic"
	"time"
)

// coarseWait is how close to its due time a delayed chunk is brought by a
// Go timer before the last stretch is slept precisely.
const coarseWait = 1500 * time.Microsecond

var (
	fineSleepers atomic.Int32
	fineLate     atomic.Int64 // moving average of how late fine sleeps end, in ns
)

func init() { fineLate.Store(int64(60 * time.Microsecond)) }

// fineSleep sleeps d (at most coarseWait) in the kernel, accurate to tens
// of microseconds and never short, and reports whether it did. The sleep
// blocks an OS thread, and with it a P until the scheduler takes that
// back, so at most GOMAXPROCS-1 goroutines (and never more than 4) sleep
// this way at once; fineSleep returns false at once when none of those
// slots is free, and on systems without a precise sleep.
func fineSleep(d time.Duration) bool {
	if !haveNanosleep || d > coarseWait {
		return false
	}
	limit := int32(min(runtime.GOMAXPROCS(0)-1, 4))
	if fineSleepers.Add(1) > limit {
		fineSleepers.Add(-1)
		return false
	}
	defer fineSleepers.Add(-1)
	early := time.Duration(fineLate.Load())
	start := time.Now()
	target := start.Add(d - early)
	if s := d - early; s > 0 {
		nanosleep(s)
	}
	late := time.Since(target)
	fineLate.Store(int64(early + (min(max(late, 0), 500*time.Microsecond)-early)/8))
	// The sleep ends early by what the last ones were late; when this one
	// was less late, what is left of d is waited out here (at most the
	// 500us early is bounded to): a delay never ends before it is due.
	for time.Since(start) < d {
	}
	return true
}
