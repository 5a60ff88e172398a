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
	// epoch is, in a count-based window, the bucket this stripe records
	// successes in: the window's current one when the stripe last looked.
	epoch atomic.Uint64
	_     [56]byte
	b     [slots]bucket
}

// bucket is one stripe's share of one bucket, its fields on one cache line.
type bucket struct {
	tag   atomic.Uint64 // epoch the bucket holds
	calls atomic.Uint64 // calls recorded
	bad   atomic.Uint64 // failures in the low 32 bits, slow calls in the high 32
	mark  atomic.Uint64 // count-based: calls at which the stripe next reports
}

const (
	oneFailure = 1
	oneSlow    = 1 << 32
)

// chunkBits is the width of the chunk count in window.cur.
const chunkBits = 16

// window is a sliding window of call outcomes, count-based (width == 0:
// buckets of span calls) or time-based (buckets of width nanoseconds).
// Recording is lock-free and, for a success, one atomic add on a counter of
// the calling goroutine's stripe.
//
// A count-based window moves on when its stripes have reported span calls.
// A stripe reports its calls in chunks of per, and only then looks at the
// window's current bucket: between two reports it records successes in the
// bucket it last saw, reading no line another core writes. A stripe that
// fell behind takes its chunk along to the bucket the chunk was counted in.
type window struct {
	stripes []stripe
	mask    uint64 // len(stripes)-1
	used    uint64 // buckets inside the window
	span    uint64 // count-based: calls per bucket, need chunks of per
	per     uint64 // count-based: calls in a chunk
	need    uint64 // count-based: chunks per bucket
	width   int64  // time-based: bucket width in nanoseconds

	_   [64]byte
	cur atomic.Uint64 // count-based: current epoch<<chunkBits | chunks reported in it
	_   [56]byte
}

func newWindow(size int, width int64) *window {
	// Eight stripes per processor make it unlikely that two goroutines
	// running at the same time share one.
	procs := min(runtime.GOMAXPROCS(0), 1024)
	n := 8
	for n < 8*procs && n < 64 {
		n <<= 1
	}
	w := &window{stripes: make([]stripe, n), mask: uint64(n - 1), width: width, used: maxBuckets}
	if width == 0 {
		// Reporting a chunk is the one moment callers on different cores
		// coordinate, so a bucket holds at least 16 calls per processor
		// (the window is cut into 2 to 10 buckets). Every stripe may hold
		// up to a chunk not reported yet, and callers that each run in a
		// goroutine of their own (a server's handlers) use every stripe:
		// a chunk is a stripe's share of a bucket, so that what the
		// stripes hold back adds at most one bucket to the window.
		used := uint64(min(max(size/(16*procs), 2), maxBuckets, size))
		span := (uint64(size) + used - 1) / used
		w.per = max(span/uint64(n), 1)
		w.need = (span + w.per - 1) / w.per
		w.span = w.need * w.per
		w.used = (uint64(size) + w.span - 1) / w.span
	}
	w.reset()
	return w
}

func (w *window) epoch(now int64) uint64 {
	if w.width > 0 {
		return uint64(now / w.width)
	}
	return w.cur.Load() >> chunkBits
}

// add records one call: bad is zero for a success. A count-based window
// records it in its current bucket, whichever the stripe last saw.
func (w *window) add(bad uint64, now int64) {
	e := w.epoch(now)
	s := &w.stripes[stripeHint()&w.mask]
	b := &s.b[e%slots]
	if b.tag.Load() != e {
		b.turn(e, w.per)
	}
	if w.width == 0 {
		if old := s.epoch.Load(); old < e && s.epoch.CompareAndSwap(old, e) {
			w.carry(s, old, b)
		}
	}
	n := b.calls.Add(1)
	if bad != 0 {
		b.bad.Add(bad)
	}
	if w.width == 0 && n >= b.mark.Load() {
		w.report(s, b, e)
	}
}

// addSuccess records a success: in a count-based window, one atomic add
// on the bucket the calling goroutine's stripe last saw.
func (w *window) addSuccess() {
	if w.width > 0 {
		w.add(0, 0)
		return
	}
	s := &w.stripes[stripeHint()&w.mask]
	e := s.epoch.Load()
	b := &s.b[e%slots]
	if b.calls.Add(1) >= b.mark.Load() {
		w.report(s, b, e)
	}
}

// report counts a chunk of per calls that stripe s recorded in bucket b of
// epoch e, then moves the stripe to the window's current bucket. A chunk
// counted in a later bucket than e, because the stripe fell behind, moves
// there from b, so that a bucket holds the calls counted in it.
func (w *window) report(s *stripe, b *bucket, e uint64) {
	m := b.mark.Load()
	if b.calls.Load() < m || !b.mark.CompareAndSwap(m, m+w.per) {
		return // another goroutine of this stripe reports this chunk
	}
	in, cur := w.advance()
	if in > e {
		nb := &s.b[in%slots]
		if nb.tag.Load() != in {
			nb.turn(in, w.per)
		}
		if k := b.take(e, w.per); k > 0 {
			nb.calls.Add(k)
			nb.mark.Add(k)
		}
	}
	if cur != e {
		if nb := &s.b[cur%slots]; nb.tag.Load() != cur {
			nb.turn(cur, w.per)
		}
		s.epoch.Store(cur)
	}
}

// advance counts one chunk in the current bucket, moving on to the next
// bucket once it holds need chunks. It returns the epoch the chunk was
// counted in and the current one.
func (w *window) advance() (in, cur uint64) {
	for {
		old := w.cur.Load()
		e := old >> chunkBits
		next := old + 1
		if next&(1<<chunkBits-1) >= w.need {
			next = (e + 1) << chunkBits
		}
		if w.cur.CompareAndSwap(old, next) {
			return e, next >> chunkBits
		}
	}
}

// carry moves the calls stripe s recorded in its bucket of epoch old and
// has not reported yet into bucket b, the one the stripe moved on to:
// left behind, they would stay counted beside the stripe's next chunk, and
// with every stripe doing so the window would hold up to a chunk per
// stripe and bucket more than it should.
func (w *window) carry(s *stripe, old uint64, b *bucket) {
	ob := &s.b[old%slots]
	if ob.tag.Load() != old {
		return
	}
	// A bucket's mark is per above the calls its stripe reported in it.
	reported := ob.mark.Load() - w.per
	if n := ob.calls.Load(); n > reported {
		if k := ob.take(old, n-reported); k > 0 {
			b.calls.Add(k)
		}
	}
}

// take removes up to k calls from the bucket if it still holds epoch e,
// and returns how many.
func (b *bucket) take(e, k uint64) uint64 {
	for {
		n := b.calls.Load()
		if b.tag.Load() != e {
			return 0
		}
		k = min(k, n)
		if b.calls.CompareAndSwap(n, n-k) {
			return k
		}
	}
}

// turn makes the bucket hold epoch e, clearing what an older epoch left.
func (b *bucket) turn(e, mark uint64) {
	old := b.tag.Load()
	if old >= e || !b.tag.CompareAndSwap(old, e) {
		return
	}
	b.calls.Store(0)
	b.bad.Store(0)
	b.mark.Store(mark)
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
			b.mark.Store(w.per)
		}
		w.stripes[s].epoch.Store(0)
	}
	w.cur.Store(0)
}
