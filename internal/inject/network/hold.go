package network

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// holdConfig is what a fault that holds packets in this process does to
// each of them.
type holdConfig struct {
	delay, jitter time.Duration
	// corrupt flips a bit of each packet's payload; validChecksum makes
	// its checksum right again, so that the damage reaches the
	// application instead of the packet being dropped.
	corrupt, validChecksum bool
}

// holdPackets adds the rules that queue s's packets to this process. Packets the
// target receives are held on prerouting; those it sends on postrouting.
// Holding what the target sends costs TCP far more than the delay: a held
// packet still counts against its socket (TCP small queues), so a bulk
// sender stalls. Latency faults therefore act on ingress by default,
// which adds the same time to a round trip.
func (b *build) holdPackets(s selector, cfg holdConfig) {
	b.hold = &cfg
	add := func(h hook, dir Direction, base rule) {
		for _, m := range s.matches(base, dir) {
			b.tables.addFor(m, h, queueTo(s.sample(m.rule), b.queue))
		}
	}
	if s.dir.ingress() {
		add(hook{holdChains[0], nftables.ChainHookPrerouting, nftables.ChainPriorityRaw, nftables.ChainTypeFilter},
			Ingress, s.notLoopback(rule{}, expr.MetaKeyIIF, "iif"))
	}
	if s.dir.egress() {
		add(hook{holdChains[1], nftables.ChainHookPostrouting, nftables.ChainPriorityMangle, nftables.ChainTypeFilter},
			Egress, s.notLoopback(rule{}, expr.MetaKeyOIF, "oif"))
	}
}

// holdChains are the chains holdPackets adds: flushing them stops the queueing
// while their hooks stay registered, so that the kernel does not drop
// what they queued before the packets are let through.
var holdChains = []string{"hold_in", "hold_out"}

// maxQueueLen is how many packets a queue holds at once; past that, it
// fails open (see Unheld).
const maxQueueLen = 16384

// queueTries is how many queue numbers Apply tries, from the record's on,
// before it gives up: a number is bound by one program per namespace.
const queueTries = 64

// applyHold binds a queue in the namespace, then installs the rules that
// feed it (with the number it got, written back to rec).
func applyHold(ctx context.Context, rec *Record, f Fault, b *build) (*holder, error) {
	h, err := bindHolder(rec.Namespace, rec.Queue, *b.hold)
	if err != nil {
		return nil, err
	}
	if h.num != rec.Queue {
		rec.Queue = h.num
		b = &build{table: rec.Table, queue: h.num, handle: rec.Qdisc}
		if err := f.build(b); err != nil {
			h.close()
			return nil, err
		}
	}
	if err := installTables(rec.Namespace, rec.Table, &b.tables); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// holder is the program bound to a fault's queue: it takes each queued
// packet and lets it go (the verdict) at once, altered, or when it is due.
type holder struct {
	cfg holdConfig
	ns  Namespace
	num uint16
	nf  *nfqueue.Nfqueue

	mu   sync.Mutex
	held heldHeap
	wake chan struct{}

	draining atomic.Bool
	closing  atomic.Bool
	// lead is how long a verdict takes, in ns, as a moving average: a
	// delay no longer than that is what the verdict itself takes, and the
	// packet is let go at once. Held packets are let go when due, never
	// early: the kernel carries a packet on inside the verdict's system
	// call, so it arrives a little after.
	lead atomic.Int64
	// ordered is set when every held packet waits the same time, so that
	// they are due in the order of their ids and one batch verdict can let
	// a run of them go.
	ordered bool

	stopRelease context.CancelFunc
	released    chan struct{}

	// The queue's socket is read by read (see takeOver); the library's own
	// receiving goroutine waits in onError until unpark is closed.
	readDone chan struct{}
	unpark   chan struct{}
	parked   atomic.Bool
	// libParked is closed when the library's goroutine waits in onError.
	libParked chan struct{}

	packets, errs atomic.Int64
	// lastID is the id of the last packet seen, for the batch verdict
	// that lets go what the kernel holds when draining.
	lastID atomic.Uint32
}

type heldPacket struct {
	due time.Time
	id  uint32
}

type heldHeap []heldPacket

func (q heldHeap) Len() int { return len(q) }
func (q heldHeap) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].id < q[j].id
	}
	return q[i].due.Before(q[j].due)
}
func (q heldHeap) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *heldHeap) Push(x any)   { *q = append(*q, x.(heldPacket)) }
func (q *heldHeap) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

// bindHolder binds the first free queue number from first on.
func bindHolder(ns Namespace, first uint16, cfg holdConfig) (*holder, error) {
	var lastErr error
	for i := range uint16(queueTries) {
		num := first + i
		if num < first { // wrapped
			num = 0x1000 + i
		}
		h, err := bindQueue(ns, num, cfg)
		if err == nil {
			return h, nil
		}
		if errors.Is(err, ErrGone) || !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EBUSY) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free queue number among %d tried from %d: %w", queueTries, first, lastErr)
}

func bindQueue(ns Namespace, num uint16, cfg holdConfig) (*holder, error) {
	f, err := ns.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := nfqueue.Config{
		NfQueue:     num,
		NetNS:       int(f.Fd()), // the socket is made in the target's namespace
		MaxQueueLen: maxQueueLen,
		AfFamily:    unix.AF_INET,
		// Fail open: a packet that finds the queue full passes undelayed
		// rather than being dropped.
		Flags: nfqueue.NfQaCfgFlagFailOpen,
	}
	if cfg.corrupt {
		// The whole packet, and segmented: a bit flipped in a 64 KiB
		// offloaded packet would cost the whole of it.
		c.Copymode, c.MaxPacketLen = nfqueue.NfQnlCopyPacket, 0xffff
	} else {
		// Holding needs no payload; large offloaded packets are queued
		// whole, which divides the packets to handle by up to 40.
		c.Copymode = nfqueue.NfQnlCopyMeta
		c.Flags |= nfqueue.NfQaCfgFlagGSO
	}
	nf, err := nfqueue.Open(&c)
	if err != nil {
		return nil, fmt.Errorf("open queue %d: %w", num, err)
	}
	// Room for the messages of a burst: a message lost to a full buffer
	// leaves its packet in the kernel until drain lets it go.
	_ = bigReadBuffer(nf.Con)
	h := &holder{cfg: cfg, ns: ns, num: num, nf: nf, wake: make(chan struct{}, 1), released: make(chan struct{}),
		ordered: cfg.jitter == 0, unpark: make(chan struct{}), libParked: make(chan struct{})}
	h.lead.Store(int64(30 * time.Microsecond))
	// Verdicts are what matter: a burst must not cost an error.
	_ = nf.SetOption(mdnetlink.NoENOBUFS, true)
	_ = nf.Con.SetReadBuffer(8 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	if err := nf.RegisterWithErrorFunc(ctx, h.onPacket, h.onError); err != nil {
		cancel()
		close(h.unpark)
		nf.Close()
		return nil, fmt.Errorf("bind queue %d: %w", num, err)
	}
	h.stopRelease = cancel
	go h.release(ctx)
	if err := h.takeOver(); err != nil {
		h.close()
		return nil, fmt.Errorf("bind queue %d: %w", num, err)
	}
	return h, nil
}

// takeOver moves the reading of the queue's socket from the library's
// goroutine, which reads one message per wake-up (with two system calls
// and a page allocated each), to read, which reads every message waiting
// and gives the verdicts of those it lets go at once in one batch. The
// library keeps binding the queue and sending the verdicts. Its goroutine
// is moved out of the way with a read deadline in the past: its receive
// fails and it waits in onError until the queue closes; a packet it got
// before that is handled as usual.
func (h *holder) takeOver() error {
	rc, err := h.nf.Con.SyscallConn()
	if err != nil {
		return err
	}
	h.parked.Store(true)
	if err := h.nf.Con.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return err
	}
	// The library's goroutine has left its receive once it waits in
	// onError; then the deadline goes, for the poller's waits below.
	select {
	case <-h.libParked:
	case <-time.After(5 * time.Second):
		return errors.New("the queue's receiving goroutine did not stop")
	}
	if err := h.nf.Con.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	h.readDone = make(chan struct{})
	go h.read(rc)
	return nil
}

func (h *holder) onError(err error) int {
	if h.parked.Load() {
		close(h.libParked)
		<-h.unpark
		return 1
	}
	if h.closing.Load() {
		return 1
	}
	var oe *mdnetlink.OpError
	if errors.As(err, &oe) && (oe.Timeout() || errors.Is(oe.Err, unix.ENOBUFS)) {
		return 0
	}
	h.errs.Add(1)
	return 0
}

// onPacket handles a packet the library's goroutine received.
func (h *holder) onPacket(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	var payload []byte
	if a.Payload != nil {
		payload = *a.Payload
	}
	if h.handle(*a.PacketID, payload) {
		h.verdict(*a.PacketID)
	}
	return 0
}

// handle takes one queued packet: it corrupts it and lets it go, holds
// it until it is due, or reports that it is to be let go at once, which
// the caller does, alone or in a batch.
func (h *holder) handle(id uint32, payload []byte) (now bool) {
	h.packets.Add(1)
	h.lastID.Store(id)
	if h.draining.Load() {
		return true
	}
	if h.cfg.corrupt {
		out := corrupt(payload, rand.IntN, h.cfg.validChecksum)
		if out == nil {
			return true
		}
		if err := h.nf.SetVerdictWithOption(id, nfqueue.NfAccept, nfqueue.WithAlteredPacket(out)); err != nil {
			h.errs.Add(1)
		}
		return false
	}
	d := h.cfg.delay
	if h.cfg.jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * float64(h.cfg.jitter))
	}
	if d <= time.Duration(h.lead.Load()) {
		return true
	}
	due := time.Now().Add(d)
	h.mu.Lock()
	heap.Push(&h.held, heldPacket{due: due, id: id})
	first := h.held[0].id == id
	h.mu.Unlock()
	if first {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return false
}

// read reads the queue's messages until close. It waits for them in the
// runtime's poller, and reads every message waiting before it gives the
// verdicts of those it lets go at once. While packets come densely it
// polls on a little after the queue runs dry (see spin) rather than wait.
func (h *holder) read(rc syscall.RawConn) {
	defer close(h.readDone)
	buf := make([]byte, 128<<10) // a whole packet and its attributes, for corrupt
	var now []uint32
	var s spin
	for !h.closing.Load() {
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				switch {
				case err == nil:
					s.got(time.Now())
					now = h.parse(buf[:n], now)
					continue
				case errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOBUFS):
					continue
				case !errors.Is(err, unix.EAGAIN):
					h.errs.Add(1)
				}
				// Nothing more waiting: the packets to let go at once go now.
				h.letNow(now)
				now = now[:0]
				if !h.closing.Load() && s.on(time.Now()) {
					// Other threads first: the poll costs only idle time.
					_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
					continue
				}
				return h.closing.Load() // false: wait in the poller
			}
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

// spin decides when the reader polls on after the queue ran dry instead
// of waiting in the poller. A wait ends in a wake-up of the reader's
// thread, which on a virtual machine's idle CPU costs tens of
// microseconds that every queued packet then waits on top of its delay:
// a TCP stream whose data is queued at 0 ms ran at 0.55x direct waking
// for each batch, 0.7x polling on for 200 us (bench/network). Polling
// costs a CPU, so it is done only while batches come less than
// spinDense apart on average, that is when the reader is busy anyway,
// and for spinFor at most since the last packet.
type spin struct {
	last  time.Time     // when the last message was read
	gap   time.Duration // moving average of the time between reads that waited
	until time.Time     // end of the current poll, zero outside one
	fresh bool          // a message came since the last time the queue ran dry
}

const (
	spinDense = 100 * time.Microsecond
	spinFor   = 200 * time.Microsecond
)

// got records a message read at t.
func (s *spin) got(t time.Time) {
	if !s.fresh && !s.last.IsZero() {
		// The first message after the queue ran dry: how long it was dry.
		d := min(t.Sub(s.last), time.Second)
		s.gap += (d - s.gap) / 8
	}
	s.last, s.fresh, s.until = t, true, time.Time{}
}

// on reports, the queue being dry at t, whether to poll it again rather
// than wait.
func (s *spin) on(t time.Time) bool {
	if s.fresh {
		s.fresh = false
		if s.gap >= spinDense {
			return false
		}
		s.until = t.Add(spinFor)
	}
	return !s.until.IsZero() && t.Before(s.until)
}

// nfqnlMsgPacket is the message type of a queued packet:
// NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET.
const nfqnlMsgPacket = 3 << 8

// Attributes of a queued packet (enum nfqnl_attr_type).
const (
	nfqaPacketHdr = 1
	nfqaPayload   = 10
)

// parse handles the packets in one read and appends those to let go at
// once to now.
func (h *holder) parse(b []byte, now []uint32) []uint32 {
	var msgs []mdnetlink.Message
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		var m mdnetlink.Message
		if m.UnmarshalBinary(b[:l]) == nil {
			msgs = append(msgs, m)
		}
		b = b[min(len(b), (l+3)&^3):]
	}
	for _, m := range msgs {
		if m.Header.Type != nfqnlMsgPacket || len(m.Data) < 4 {
			continue
		}
		ad, err := mdnetlink.NewAttributeDecoder(m.Data[4:]) // after struct nfgenmsg
		if err != nil {
			continue
		}
		var id uint32
		var payload []byte
		found := false
		for ad.Next() {
			switch ad.Type() {
			case nfqaPacketHdr:
				if hdr := ad.Bytes(); len(hdr) >= 4 {
					id, found = binary.BigEndian.Uint32(hdr), true
				}
			case nfqaPayload:
				payload = ad.Bytes()
			}
		}
		if found && h.handle(id, payload) {
			now = append(now, id)
		}
	}
	return now
}

// letNow gives the verdicts of packets let go at once: one for all when
// nothing is held (a batch verdict lets every queued packet up to an id
// go), one each otherwise.
func (h *holder) letNow(ids []uint32) {
	switch {
	case len(ids) == 0:
		return
	case len(ids) == 1:
		h.verdict(ids[0])
		return
	}
	h.mu.Lock()
	held := len(h.held)
	h.mu.Unlock()
	if held == 0 && slices.IsSorted(ids) {
		if err := h.nf.SetVerdictBatch(ids[len(ids)-1], nfqueue.NfAccept); err != nil {
			h.errs.Add(1)
		}
		return
	}
	for _, id := range ids {
		h.verdict(id)
	}
}

func (h *holder) verdict(id uint32) {
	if err := h.nf.SetVerdict(id, nfqueue.NfAccept); err != nil {
		h.errs.Add(1)
	}
}

// letDue gives the verdict of one held packet that is due, and learns
// from how long that took which delays a verdict carries out by itself.
func (h *holder) letDue(id uint32) {
	start := time.Now()
	h.verdict(id)
	lead := time.Duration(h.lead.Load())
	took := min(time.Since(start), maxLead)
	h.lead.Store(int64(lead + (took-lead)/8))
}

// maxLead bounds the delays let go at once. A verdict's system call
// carries the packet on through the stack (for TCP, into the receiving
// socket and beyond): the packet arrives within it, not at its end.
const maxLead = 100 * time.Microsecond

// coarseWait is how close to its due time the runtime's timer brings the
// release; it wakes up to a millisecond late, so the rest is slept in the
// kernel, to tens of microseconds.
const coarseWait = 1500 * time.Microsecond

// release lets held packets go when they are due. It runs on its own OS
// thread with a timer slack of 1 ns, so that the kernel's sleeps end on
// time; the thread is never unlocked and goes with the goroutine.
func (h *holder) release(ctx context.Context) {
	defer close(h.released)
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	var timer *time.Timer
	var due []heldPacket
	for {
		h.mu.Lock()
		if len(h.held) == 0 {
			h.mu.Unlock()
			select {
			case <-h.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		draining := h.draining.Load()
		next := h.held[0].due
		h.mu.Unlock()
		if d := time.Until(next); !draining && d > 0 {
			if d > coarseWait {
				if timer == nil {
					timer = time.NewTimer(d - coarseWait)
				} else {
					timer.Reset(d - coarseWait)
				}
				select {
				case <-timer.C:
				case <-h.wake: // an earlier packet, or draining
					timer.Stop()
				case <-ctx.Done():
					timer.Stop()
					return
				}
			} else {
				sleepUntil(d)
			}
			continue
		}
		now := time.Now()
		due = due[:0]
		h.mu.Lock()
		for len(h.held) > 0 && (draining || !h.held[0].due.After(now)) {
			due = append(due, heap.Pop(&h.held).(heldPacket))
		}
		h.mu.Unlock()
		h.let(due, draining)
	}
}

// let gives the verdict to packets taken off the heap in due order.
func (h *holder) let(due []heldPacket, draining bool) {
	if len(due) == 1 {
		h.letDue(due[0].id)
		return
	}
	// One verdict lets every queued packet of an id up to the last one go.
	// That is right when they are due in id order and none of a smaller id
	// is still held: with a single delay, a packet of a smaller id came
	// earlier and is due earlier.
	if h.ordered && !draining {
		if err := h.nf.SetVerdictBatch(due[len(due)-1].id, nfqueue.NfAccept); err != nil {
			h.errs.Add(1)
		}
		return
	}
	for _, p := range due {
		h.verdict(p.id)
	}
}

// sleepUntil sleeps d on CLOCK_MONOTONIC with an absolute deadline, which
// the kernel keeps to within the timer slack.
func sleepUntil(d time.Duration) {
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		time.Sleep(d)
		return
	}
	t := unix.NsecToTimespec(now.Nano() + d.Nanoseconds())
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &t, nil) == unix.EINTR {
	}
}

// stop takes the fault out without losing a packet: the queueing rules
// are bypassed first (an accept ahead of them; their chains stay, since
// deleting a chain makes the kernel drop what it queued), then every held
// packet and every one still on its way to this process is let go, then
// the queue is unbound. The caller then deletes the table. If the
// namespace is gone, the queue is unbound and ErrGone returned.
func (h *holder) stop(ctx context.Context, rec Record) error {
	err := rec.Namespace.nft(func(c *nftables.Conn) error {
		n := 0
		for _, fam := range families {
			chains, err := c.ListChainsOfTableFamily(fam.table())
			if err != nil {
				return fmt.Errorf("list chains: %w", err)
			}
			tb := &nftables.Table{Family: fam.table(), Name: rec.Table}
			for _, ch := range chains {
				if ch.Table.Name == rec.Table && slices.Contains(holdChains, ch.Name) {
					bypass(c, &nftables.Chain{Name: ch.Name, Table: tb})
					n++
				}
			}
		}
		if n == 0 {
			return nil
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("bypass the queueing rules of %s: %w", rec.Table, err)
		}
		return nil
	})
	if err == nil {
		h.draining.Store(true)
		select {
		case h.wake <- struct{}{}:
		default:
		}
		err = h.drain(ctx)
	}
	if err == nil {
		err = h.unheld(rec)
	}
	h.close()
	return err
}

// unheld returns an *Unheld if the fault's rules queued more packets than
// this process got: the others found the queue full (or its socket's
// buffer) and passed at once. The rules are bypassed and the queue
// drained, so both counts are final. A corrupt fault's packets are
// segmented into several messages each, and are not counted.
func (h *holder) unheld(rec Record) error {
	if h.cfg.corrupt {
		return nil
	}
	selected, err := countRules(rec, func(chain string) bool { return slices.Contains(holdChains, chain) })
	if err != nil {
		return err
	}
	if passed := selected - h.packets.Load(); passed > 0 {
		return &Unheld{Passed: passed, Selected: selected, Queue: h.num}
	}
	return nil
}

// drain waits until the kernel holds no packet of the queue: those held
// here are let go at once, and so are those that arrive while draining.
// The kernel may also hold packets whose messages this process never
// got (the socket's buffer overflowed, ENOBUFS: whole packets, as a
// corrupt fault reads them, fill it fast): when the count stops falling,
// one batch verdict lets go every packet up to well past the last id
// seen.
func (h *holder) drain(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Second)
	last, since := -1, time.Now()
	for {
		var total int
		err := h.ns.Do(func() (err error) {
			total, err = queueTotal(h.num)
			return err
		})
		switch {
		case err != nil:
			return err
		case total == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("queue %d still holds %d packets after 2s: they are dropped", h.num, total)
		case total != last:
			last, since = total, time.Now()
		case time.Since(since) > 20*time.Millisecond:
			// Ids are compared as serial numbers: every id up to 2^30
			// past the last one seen.
			if err := h.nf.SetVerdictBatch(h.lastID.Load()+1<<30, nfqueue.NfAccept); err != nil {
				h.errs.Add(1)
			}
			since = time.Now()
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("queue %d still holds %d packets: %w", h.num, total, ctx.Err())
		}
	}
}

// queueTotal reads how many packets the kernel holds for queue num in the
// calling thread's namespace, from
// /proc/thread-self/net/netfilter/nfnetlink_queue (its third column).
func queueTotal(num uint16) (int, error) {
	f, err := os.Open("/proc/thread-self/net/netfilter/nfnetlink_queue")
	if err != nil {
		return 0, fmt.Errorf("read the queues: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != strconv.Itoa(int(num)) {
			continue
		}
		return strconv.Atoi(fs[2])
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read the queues: %w", err)
	}
	return 0, nil // not bound any more: nothing held
}

// close unbinds the queue and ends the holder's goroutines. Packets still
// held are dropped by the kernel: stop lets them go first.
func (h *holder) close() {
	if h.closing.Swap(true) {
		return
	}
	if h.readDone != nil {
		// Out of its wait in the poller; it sees closing and returns.
		_ = h.nf.Con.SetReadDeadline(time.Unix(1, 0))
		<-h.readDone
	}
	close(h.unpark)
	h.nf.Close()
	h.stopRelease()
	<-h.released
}
