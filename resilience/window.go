package resilience

import (
	"runtime"
	"sync/atomic"
)

// maxBuckets is the most buckets a sliding window is cut into. A window of
// duration D forgets its oldest D/10 at a time, and a window of N calls its
// oldest N/10 to N/2, instead of all at once, as a fixed window would.
const maxBuckets = 10

// slots is the number of buckets stored, a power of two above maxBuckets,
// so that a bucket is cleared well after it left the window.
const slots = 16

// stripe holds one share of the counters. Its size is a whole number of
// cache lines, so that goroutines on different cores write different lines;
// each stripe clears its own buckets, so moving to a new bucket writes no
// other core's line.
type stripe struct {
	b [slots]bucket
}

// bucket is one stripe's share of one bucket, its fields on one cache line.
type bucket struct {
	tag   atomic.Uint64 // epoch the bucket holds
	calls atomic.Uint64 // calls recorded
	bad   atomic.Uint64 // failures in the low 32 bits, slow calls in the high 32
	_     uint64
}

const (
	oneFailure = 1
	oneSlow    = 1 << 32
)

// window is a sliding window of call outcomes, count-based (width == 0:
// buckets of span calls) or time-based (buckets of width nanoseconds).
// Recording is lock-free and, for a success, one atomic add on a counter of
// the calling goroutine's stripe.
type window struct {
	stripes []stripe
	mask    uint64 // len(stripes)-1
	used    uint64 // buckets inside the window
	span    uint64 // count-based: calls per bucket
	per     uint64 // count-based: a stripe's share of span
	check   uint64 // count-based: past per, a stripe checks every check+1 calls
	width   int64  // time-based: bucket width in nanoseconds

	_   [64]byte
	cur atomic.Uint64 // count-based: current epoch
	_   [56]byte
}

func newWindow(size int, width int64) *window {
	// Eight stripes per processor make it unlikely that two goroutines
	// running at the same time share one.
	procs := runtime.GOMAXPROCS(0)
	n := 8
	for n < 8*procs && n < 64 {
		n <<= 1
	}
	w := &window{stripes: make([]stripe, n), mask: uint64(n - 1), width: width, used: maxBuckets}
	if width == 0 {
		// Moving to a new bucket is the one moment callers on different
		// cores coordinate, so a bucket holds at least 16 calls per
		// processor: the window is cut into 2 to 10 buckets.
		w.used = uint64(min(max(size/(16*procs), 2), maxBuckets, size))
		w.span = (uint64(size) + w.used - 1) / w.used
		w.per = max(w.span/uint64(procs), 1)
		c := uint64(1)
		for c*2 <= w.per/2 {
			c <<= 1
		}
		w.check = c - 1
	}
	return w
}

func (w *window) epoch(now int64) uint64 {
	if w.width > 0 {
		return uint64(now / w.width)
	}
	return w.cur.Load()
}

// add records one call: bad is zero for a fast success.
func (w *window) add(bad uint64, now int64) {
	e := w.epoch(now)
	i := e % slots
	b := &w.stripes[stripeHint()&w.mask].b[i]
	if b.tag.Load() != e {
		b.turn(e)
	}
	n := b.calls.Add(1)
	if bad != 0 {
		b.bad.Add(bad)
	}
	if w.width == 0 && n >= w.per && (n-w.per)&w.check == 0 {
		w.rotate(e, i)
	}
}

// addSuccess records a fast success in a count-based window: add without
// the branches for time and failures.
func (w *window) addSuccess() {
	if w.width > 0 {
		w.add(0, 0)
		return
	}
	e := w.cur.Load()
	i := e % slots
	b := &w.stripes[stripeHint()&w.mask].b[i]
	if b.tag.Load() != e {
		b.turn(e)
	}
	if n := b.calls.Add(1); n >= w.per && (n-w.per)&w.check == 0 {
		w.rotate(e, i)
	}
}

// rotate moves on to a new bucket once the current one holds span calls.
// Stripes are summed only when one of them has had its share, so cores
// read each other's lines about once per bucket.
func (w *window) rotate(e, i uint64) {
	var total uint64
	for s := range w.stripes {
		if b := &w.stripes[s].b[i]; b.tag.Load() == e {
			total += b.calls.Load()
		}
	}
	if total >= w.span {
		w.cur.CompareAndSwap(e, e+1)
	}
}

// turn makes the bucket hold epoch e, clearing what an older epoch left.
func (b *bucket) turn(e uint64) {
	old := b.tag.Load()
	if old >= e || !b.tag.CompareAndSwap(old, e) {
		return
	}
	b.calls.Store(0)
	b.bad.Store(0)
}

// counts sums the buckets inside the window: the current one and the used
// before it, so that a count-based window holds between N and N+span-1
// calls, and a time-based one between D and D+D/10.
func (w *window) counts(now int64) (calls, failures, slow uint64) {
	e := w.epoch(now)
	for s := range w.stripes {
		for i := range w.stripes[s].b {
			b := &w.stripes[s].b[i]
			if t := b.tag.Load(); t > e || t+w.used < e {
				continue
			}
			calls += b.calls.Load()
			bad := b.bad.Load()
			failures += bad & (oneSlow - 1)
			slow += bad >> 32
		}
	}
	return calls, failures, slow
}

// reset forgets every recorded call.
func (w *window) reset() {
	for s := range w.stripes {
		for i := range w.stripes[s].b {
			b := &w.stripes[s].b[i]
			b.tag.Store(0)
			b.calls.Store(0)
			b.bad.Store(0)
		}
	}
	w.cur.Store(0)
}
