package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection and its upstream connection.
type conn struct {
	p      *Proxy
	client *net.TCPConn
	seed   uint64
	ctx    context.Context // done when the connection is closed
	cancel context.CancelFunc

	mu       sync.Mutex
	upstream *net.TCPConn
	closed   bool
	timers   map[*active]*time.Timer
	// dropping holds the ids of the dropping timeouts that hit the
	// connection: when one of them is removed, the connection is closed.
	dropping map[string]bool
	links    [2]*link
	// picked holds the hit counters (active.hits, which an update
	// keeps) of the faults on a share of the connections that picked
	// this one, so that each counts it once.
	picked sync.Map
}

func newConn(p *Proxy, client *net.TCPConn) *conn {
	ctx, cancel := context.WithCancel(p.ctx)
	return &conn{p: p, client: client, seed: rand.Uint64(), ctx: ctx, cancel: cancel, timers: map[*active]*time.Timer{}}
}

// hits reports whether fault a acts on this connection. The choice is a
// pure function of the two seeds, so both directions agree on it without
// sharing state.
func (c *conn) hits(a *active) bool {
	if a.all {
		return true
	}
	if mix(c.seed^a.seed) >= a.threshold {
		return false
	}
	if _, http := a.fault.Params.(httpParams); !http {
		if _, seen := c.picked.LoadOrStore(a.hits, struct{}{}); !seen {
			a.hits.Add(1)
		}
	}
	return true
}

// mix is the splitmix64 finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (c *conn) run() {
	defer c.p.wg.Done()
	defer c.p.untrack(c)
	defer c.close(false)

	set := c.p.faults.Load()
	var connectDelay time.Duration
	for _, a := range set.faults {
		if !c.hits(a) {
			continue
		}
		switch f := a.fault.Params.(type) {
		case *Down:
			c.close(true)
			return
		case *Reset:
			if f.atOnce() {
				c.close(true)
				return
			}
		case *Latency:
			connectDelay += f.Connect
		}
	}
	if connectDelay > 0 && !sleep(c.ctx, connectDelay) {
		return
	}
	up, err := c.p.dial(c.ctx, c.client)
	if err != nil {
		// The client sees what it would see without the proxy: a reset.
		c.close(true)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		up.Close()
		return
	}
	c.upstream = up
	upl := newLink(c, Upstream, c.client, up)
	downl := newLink(c, Downstream, up, c.client)
	c.links = [2]*link{upl, downl}
	c.mu.Unlock()
	settle(c.update(nil))

	var x *exchange
	if c.p.cfg.Protocol == "http" {
		x = newExchange(upl, downl)
	}
	done := make(chan error, 1)
	go func() { done <- upl.run(x) }()
	err = downl.run(x)
	if err2 := <-done; err == nil {
		err = err2
	}
	c.close(err != nil && !errors.Is(err, errCut))
}

// errCut ends a pipe that a fault closed on purpose.
var errCut = errors.New("connection cut by a fault")

// update makes the connection act on the current fault set:
// whole-connection faults fire, close-after timers start or stop, and
// pipes blocked in a read are kicked out of it so that they reconsider
// their path. It appends the kicked pipes to kicked and returns it, for
// settle. The set is read under the connection's lock, not passed in, so
// that when two changes race, the older set can never be applied last.
func (c *conn) update(kicked []kick) []kick {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return kicked
	}
	set := c.p.faults.Load()
	present := map[*active]bool{}
	var dropping map[string]bool
	cut := false
	for _, a := range set.faults {
		if !c.hits(a) {
			continue
		}
		switch f := a.fault.Params.(type) {
		case *Down:
			cut = true
		case *Reset:
			if f.atOnce() {
				cut = true
			}
		case *Timeout:
			if f.Drop {
				if dropping == nil {
					dropping = map[string]bool{}
				}
				dropping[a.id] = true
			}
			// Keyed by the fault's entry, not its id: an update starts
			// the clock again, as a new setting should.
			if f.CloseAfter > 0 {
				present[a] = true
				if c.timers[a] == nil {
					c.timers[a] = time.AfterFunc(f.CloseAfter, func() { c.close(false) })
				}
			}
		}
	}
	for a, t := range c.timers {
		if !present[a] {
			t.Stop()
			delete(c.timers, a)
		}
	}
	// A dropping timeout left a gap in the stream: the connection cannot
	// carry on once it is gone.
	gap := false
	for id := range c.dropping {
		if !dropping[id] {
			gap = true
		}
	}
	c.dropping = dropping
	links := c.links
	c.mu.Unlock()
	if cut || gap {
		c.close(cut)
		return kicked
	}
	for _, l := range links {
		if l != nil && l.interruptible.Load() {
			kicked = append(kicked, kick{l, l.reads.Load()})
			l.src.SetReadDeadline(longAgo)
		}
	}
	return kicked
}

// kick is a pipe pulled out of its read by an expired deadline, and the
// count of its reads when that happened.
type kick struct {
	l    *link
	seen uint64
}

// settle waits (briefly: 10 ms at most, however many pipes) until every
// kicked pipe has left the read it was in, so that bytes sent after Add or
// Remove returns see the change. A single expired deadline has been seen
// to let one more splice through on a busy machine, so the deadline is set
// again on the pipes still in their read each round.
func settle(kicked []kick) {
	for round := 0; len(kicked) > 0 && round < 100; round++ {
		if round > 0 {
			time.Sleep(100 * time.Microsecond)
		}
		rest := kicked[:0]
		for _, k := range kicked {
			if k.l.reads.Load() != k.seen || !k.l.interruptible.Load() {
				continue
			}
			k.l.src.SetReadDeadline(longAgo)
			rest = append(rest, k)
		}
		kicked = rest
	}
}

var longAgo = time.Unix(1, 0)

// close closes both connections, with a TCP RST to both peers when reset
// is set. It is idempotent.
func (c *conn) close(reset bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, t := range c.timers {
		t.Stop()
	}
	up := c.upstream
	c.mu.Unlock()
	c.cancel()
	for _, tc := range []*net.TCPConn{c.client, up} {
		if tc == nil {
			continue
		}
		if reset {
			tc.SetLinger(0)
		}
		tc.Close()
	}
}

// sleep waits for d or until ctx is done, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// link is one direction of a connection: bytes read from src are written
// to dst.
type link struct {
	c        *conn
	dir      Direction
	src, dst *net.TCPConn
	bytes    *atomic.Int64

	// interruptible is set while the pipe reads src directly, so that a
	// read deadline can pull it out of the read without losing bytes.
	interruptible atomic.Bool
	reads         atomic.Uint64 // counts returns from reads on src in stream
	// copyBase is how many bytes had been written to dst when the current
	// fast-path copy began, or -1 outside one; see copying.
	copyBase atomic.Int64

	sendMu  sync.Mutex // serializes send; a synthetic HTTP reply may come from the other pipe
	out     []byte     // held back by gather
	stopped bool       // set by stopWriter
	buf     []byte
	pending atomic.Int64 // chunks queued for the delay line and not yet written
	queue   chan chunk
	wdone   chan struct{}
	werr    atomic.Pointer[error]

	planMu  sync.Mutex
	planSet *faultSet
	plan    plan

	// Used by whichever goroutine writes; pending hands them over.
	counted map[string]int64
	lastDue time.Time
	paceAt  time.Time
}

type chunk struct {
	data   []byte
	readAt time.Time
	jitter float64
}

func newLink(c *conn, dir Direction, src, dst *net.TCPConn) *link {
	l := &link{c: c, dir: dir, src: src, dst: dst, bytes: &c.p.bytesDown, counted: map[string]int64{}}
	l.copyBase.Store(-1)
	if dir == Upstream {
		l.bytes = &c.p.bytesUp
	}
	return l
}

// plan is what the faults hitting one direction of one connection add up to.
type plan struct {
	delay, jitter time.Duration
	rate          int64
	slicer        *Slicer
	hold          bool
	drop          bool
	budgets       []budget
	slowClose     time.Duration
}

// budget closes or resets the connection after bytes more bytes, delay
// after the byte that exhausts it; with eof set, the end of the stream
// exhausts it too.
type budget struct {
	id    string
	bytes int64
	reset bool
	delay time.Duration
	eof   bool
}

// shaper is implemented by kinds that act on the bytes of a direction.
type shaper interface {
	shape(pl *plan, id string)
}

func (pl *plan) stream() bool {
	return pl.delay > 0 || pl.jitter > 0 || pl.rate > 0 || pl.slicer != nil || pl.hold || pl.drop || len(pl.budgets) > 0
}

// planFor returns the plan of this direction under set. It is cached per
// set; the reading and the writing goroutine both ask for it.
func (l *link) planFor(set *faultSet) plan {
	l.planMu.Lock()
	defer l.planMu.Unlock()
	if set == l.planSet {
		return l.plan
	}
	l.planSet = set
	l.plan = plan{}
	for _, a := range set.faults {
		if !l.c.hits(a) {
			continue
		}
		if _, ok := a.fault.Params.(httpParams); ok {
			continue
		}
		if d := a.fault.Direction; (l.dir == Upstream && !d.up()) || (l.dir == Downstream && !d.down()) {
			continue
		}
		if s, ok := a.fault.Params.(shaper); ok {
			s.shape(&l.plan, a.id)
		}
		if sc, ok := a.fault.Params.(*SlowClose); ok {
			l.plan.slowClose += sc.Delay
		}
	}
	return l.plan
}

// run moves bytes until src ends or fails. In HTTP mode x parses requests
// and replies; otherwise, and after an HTTP upgrade, it streams.
func (l *link) run(x *exchange) error {
	var err error
	switch {
	case x != nil && l.dir == Upstream:
		err = x.requests()
	case x != nil:
		err = x.responses()
	default:
		err = l.stream()
	}
	if err != nil {
		l.c.close(!errors.Is(err, errCut))
	}
	l.stopWriter()
	return err
}

// stream copies src to dst: with io.Copy between the TCP connections (so
// splice on Linux) while no fault acts on this direction, chunk by chunk
// through deliver otherwise.
func (l *link) stream() error {
	for {
		l.interruptible.Store(true)
		// The plan is read after the flag is set: a fault added in between
		// either shows in the plan or finds the flag and interrupts the read.
		pl := l.planFor(l.c.p.faults.Load())
		if !pl.stream() && l.pending.Load() == 0 {
			if written, ok := bytesWritten(l.dst); ok {
				l.copyBase.Store(written)
			}
			n, err := io.Copy(l.dst, l.src)
			l.copyBase.Store(-1)
			l.reads.Add(1)
			l.bytes.Add(n)
			if err == nil {
				return l.finish()
			}
			if l.interrupted(err) {
				continue
			}
			return err
		}
		if l.buf == nil {
			l.buf = make([]byte, bufSize)
		}
		n, err := l.src.Read(l.buf)
		l.reads.Add(1)
		l.c.p.bytesRead.Add(int64(n))
		if n > 0 {
			if err := l.send(l.buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return l.finish()
		}
		if err != nil && !l.interrupted(err) {
			return err
		}
	}
}

const bufSize = 32 << 10

// copying returns how many bytes the fast-path copy in progress has moved so
// far (io.Copy only says when it ends), from the kernel's count of bytes
// written to dst; zero outside a copy or where that count is not
// available.
func (l *link) copying() int64 {
	base := l.copyBase.Load()
	if base < 0 {
		return 0
	}
	written, ok := bytesWritten(l.dst)
	if !ok || l.copyBase.Load() != base {
		return 0
	}
	return max(written-base, 0)
}

// interrupted reports whether err is the read deadline set by update, and
// clears it.
func (l *link) interrupted(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	l.src.SetReadDeadline(time.Time{})
	return true
}

// finish passes on the end of the stream, after the bytes still delayed
// and any slow_close delay.
func (l *link) finish() error {
	l.interruptible.Store(false)
	if err := l.flush(); err != nil {
		return err
	}
	// What is queued goes out before the end, but the direction stays open
	// while a hold or slow_close keeps the end back: the proxy may still
	// answer a request on it (http_error).
	l.drainWriter(false)
	if p := l.werr.Load(); p != nil {
		return *p
	}
	// A reset waiting for data takes the end of the stream for data.
	for _, bg := range l.planFor(l.c.p.faults.Load()).budgets {
		if bg.eof {
			if !sleep(l.c.ctx, bg.delay) {
				return net.ErrClosed
			}
			l.c.close(bg.reset)
			return errCut
		}
	}
	// A hold keeps the end of the stream back too, as a hung peer would.
	for {
		set := l.c.p.faults.Load()
		if !l.planFor(set).hold {
			break
		}
		select {
		case <-set.changed:
		case <-l.c.ctx.Done():
			return net.ErrClosed
		}
	}
	if d := l.planFor(l.c.p.faults.Load()).slowClose; d > 0 && !sleep(l.c.ctx, d) {
		return net.ErrClosed
	}
	l.stopWriter()
	if p := l.werr.Load(); p != nil {
		return *p
	}
	if err := l.dst.CloseWrite(); err != nil {
		return err
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// send forwards what gather holds and then b, written at once or through
// the delay line while a latency acts (or delayed bytes are still queued).
// b is not retained.
func (l *link) send(b []byte) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if err := l.flushLocked(); err != nil {
		return err
	}
	return l.sendLocked(b)
}

// gather holds b back to go with the next send or flush, so that the
// pieces of HTTP messages parsed out of one read (head, body, chunks)
// leave in one write rather than a write, and a packet, each. b is not
// retained.
func (l *link) gather(b []byte) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if len(l.out)+len(b) > bufSize {
		if err := l.flushLocked(); err != nil {
			return err
		}
		if len(b) >= bufSize/2 {
			return l.sendLocked(b)
		}
	}
	l.out = append(l.out, b...)
	return nil
}

// flush sends what gather holds.
func (l *link) flush() error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	return l.flushLocked()
}

func (l *link) flushLocked() error {
	if len(l.out) == 0 {
		return nil
	}
	err := l.sendLocked(l.out)
	l.out = l.out[:0]
	return err
}

func (l *link) sendLocked(b []byte) error {
	if p := l.werr.Load(); p != nil {
		return *p
	}
	if l.stopped {
		// The direction has ended (say, a synthetic reply to a request
		// that came after the upstream closed): there is no peer to
		// send to, and no delay line to start again.
		return net.ErrClosed
	}
	pl := l.planFor(l.c.p.faults.Load())
	if pl.delay == 0 && pl.jitter == 0 && l.pending.Load() == 0 {
		return l.deliver(b)
	}
	if l.queue == nil {
		l.queue = make(chan chunk, 256)
		l.wdone = make(chan struct{})
		go l.writer(l.queue, l.wdone)
	}
	now := time.Now()
	for len(b) > 0 {
		bp := bufPool.Get().(*[]byte)
		n := copy(*bp, b)
		b = b[n:]
		l.pending.Add(1)
		select {
		case l.queue <- chunk{data: (*bp)[:n], readAt: now, jitter: rand.Float64()*2 - 1}:
		case <-l.c.ctx.Done():
			l.pending.Add(-1)
			return net.ErrClosed
		}
	}
	return nil
}

// stopWriter ends the delay line after it has written what it holds.
// Nothing can be sent after it.
func (l *link) stopWriter() { l.drainWriter(true) }

// drainWriter ends the delay line after it has written what it holds; a
// later send starts a new one unless stop is set.
func (l *link) drainWriter(stop bool) {
	l.sendMu.Lock()
	q, done := l.queue, l.wdone
	l.queue = nil
	l.stopped = l.stopped || stop
	l.sendMu.Unlock()
	if q != nil {
		close(q)
		<-done
	}
}

// writer is the delay line: each chunk is written Delay (+- jitter) after
// it was read, never before the chunk ahead of it.
func (l *link) writer(queue <-chan chunk, done chan<- struct{}) {
	defer close(done)
	var t *time.Timer
	for ch := range queue {
		if l.werr.Load() == nil {
			if err := l.await(ch, &t); err == nil {
				if err = l.deliver(ch.data); err != nil {
					l.werr.Store(&err)
					l.c.close(!errors.Is(err, errCut))
				}
			}
		}
		b := ch.data[:cap(ch.data)]
		bufPool.Put(&b)
		l.pending.Add(-1)
	}
	if t != nil {
		t.Stop()
	}
}

// await waits until ch is due under the current plan, which may change
// while it waits.
//
// A chunk is due Delay (+- jitter) after it was read, and is never
// written before: a client whose timeout equals the delay must see it
// fire. Go timers wake up to about a millisecond late while the process
// idles (the poller sleeps in whole milliseconds), so a timer only brings
// the wait to within coarseWait of the due time; the rest is slept
// precisely by fineSleep when a slot is free, and on a timer set for the
// due time otherwise.
func (l *link) await(ch chunk, t **time.Timer) error {
	for {
		set := l.c.p.faults.Load()
		pl := l.planFor(set)
		due := ch.readAt.Add(pl.delay + time.Duration(ch.jitter*float64(pl.jitter)))
		if due.Before(l.lastDue) {
			due = l.lastDue
		}
		d := time.Until(due)
		if d <= 0 {
			l.lastDue = due
			return nil
		}
		target := due
		switch {
		case d > coarseWait:
			target = due.Add(-coarseWait)
		case fineSleep(d):
			l.lastDue = due
			return nil
		}
		if *t == nil {
			*t = time.NewTimer(time.Until(target))
		} else {
			(*t).Reset(time.Until(target))
		}
		select {
		case <-(*t).C:
		case <-set.changed:
			(*t).Stop() // since Go 1.23 no stale tick survives Stop
		case <-l.c.ctx.Done():
			return net.ErrClosed
		}
	}
}

// deliver writes b to dst under the faults that shape the stream: hold,
// drop, bandwidth, slicer and byte budgets.
func (l *link) deliver(b []byte) error {
	for len(b) > 0 {
		set := l.c.p.faults.Load()
		pl := l.planFor(set)
		if pl.drop {
			return nil
		}
		if pl.hold {
			select {
			case <-set.changed:
				continue
			case <-l.c.ctx.Done():
				return net.ErrClosed
			}
		}
		n := len(b)
		if s := pl.slicer; s != nil {
			size := s.Size
			if s.Variation > 0 {
				size += rand.IntN(2*s.Variation+1) - s.Variation
			}
			n = min(n, size)
		}
		if pl.rate > 0 {
			// Pace in pieces of about 20 ms worth of bytes, so that a low
			// rate does not come in bursts.
			n = min(n, int(max(pl.rate/50, 1)))
		}
		var exhausted *budget
		for i := range pl.budgets {
			bg := &pl.budgets[i]
			// An update may lower a budget below what went through.
			left := max(bg.bytes-l.counted[bg.id], 0)
			if left <= int64(n) {
				n = int(left)
				exhausted = bg
			}
		}
		if n > 0 {
			w, err := l.dst.Write(b[:n])
			l.bytes.Add(int64(w))
			for _, bg := range pl.budgets {
				l.counted[bg.id] += int64(w)
			}
			if err != nil {
				return err
			}
		}
		b = b[n:]
		if exhausted != nil {
			// The rest of b, and what comes while the delay runs, is
			// never passed on.
			if !sleep(l.c.ctx, exhausted.delay) {
				return net.ErrClosed
			}
			l.c.close(exhausted.reset)
			return errCut
		}
		if pl.rate > 0 {
			now := time.Now()
			if l.paceAt.Before(now) {
				l.paceAt = now
			}
			l.paceAt = l.paceAt.Add(time.Duration(int64(n) * int64(time.Second) / pl.rate))
			if !sleep(l.c.ctx, time.Until(l.paceAt)) {
				return net.ErrClosed
			}
		}
		if s := pl.slicer; s != nil && s.Delay > 0 && len(b) > 0 {
			if !sleep(l.c.ctx, s.Delay) {
				return net.ErrClosed
			}
		}
	}
	return nil
}
