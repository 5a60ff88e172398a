package network_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

var nextSeq atomic.Int32

// apply plans and applies f in ns for run "test" and reverts it when the
// test ends, unless the test reverts it first.
func apply(t testing.TB, ns network.Namespace, f network.Fault) *network.Applied {
	t.Helper()
	return applyRun(t, ns, "test", f)
}

func applyRun(t testing.TB, ns network.Namespace, run string, f network.Fault) *network.Applied {
	t.Helper()
	rec, err := network.Plan(ns, run, int(nextSeq.Add(1)), f)
	if err != nil {
		t.Fatal(err)
	}
	a, err := network.Apply(context.Background(), rec, f)
	if err != nil {
		// What a kernel without an expression, hook or qdisc answers;
		// a rule the kernel knows but finds wrong is EINVAL.
		for _, missing := range []error{unix.ENOENT, unix.EOPNOTSUPP, unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT} {
			if errors.Is(err, missing) {
				lab.Skip(t, "the kernel lacks what %s needs: %v", f.Kind(), err)
			}
		}
		t.Fatalf("Apply(%s) = %v", f.Kind(), err)
	}
	t.Cleanup(func() {
		if err := a.Revert(context.Background()); err != nil && !errors.Is(err, network.ErrGone) {
			t.Errorf("Revert(%s) = %v", f.Kind(), err)
		}
	})
	return a
}

func revert(t testing.TB, a *network.Applied) {
	t.Helper()
	if err := a.Revert(context.Background()); err != nil {
		t.Fatalf("Revert(%s) = %v", a.Record().Kind, err)
	}
}

// noTables fails the test if any table of chaos is left in ns.
func noTables(t testing.TB, ns network.Namespace) {
	t.Helper()
	tables, err := network.Tables(ns, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) > 0 {
		t.Fatalf("tables left in %s: %v", ns, tables)
	}
}

// noLeak checks, when the test ends, that it left no goroutine behind.
func noLeak(t *testing.T) {
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// echoTCP serves an echo on addr in ns until the test ends.
// labFamily is the lab's addresses of one family: the target's (a) and
// the dependency's (b).
type labFamily struct {
	name string
	a, b netip.Addr
}

// labFamilies are the lab's IPv4 and IPv6 addresses, for the tests that
// run the same over both.
func labFamilies(l *lab.Lab) []labFamily {
	return []labFamily{{"IPv4", l.IPA, l.IPB}, {"IPv6", l.IP6A, l.IP6B}}
}

func (f labFamily) target(port uint16) string { return netip.AddrPortFrom(f.a, port).String() }
func (f labFamily) dep(port uint16) string    { return netip.AddrPortFrom(f.b, port).String() }

func echoTCP(t testing.TB, ns network.Namespace, addr string) *lab.Server {
	t.Helper()
	ln, err := lab.ListenTCP(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := lab.Serve(ln, lab.Echo)
	t.Cleanup(s.Close)
	return s
}

func echoUDP(t testing.TB, ns network.Namespace, addr string) {
	t.Helper()
	c, err := lab.ListenUDP(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab.EchoUDP(c))
}

func dial(t testing.TB, ns network.Namespace, netw, addr string) net.Conn {
	t.Helper()
	c, err := lab.Dial(ns, netw, addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// pings returns the median round trip of n pings on c.
func pings(t testing.TB, c net.Conn, n int) time.Duration {
	t.Helper()
	rtts, err := lab.Ping(c, n, 10*time.Second)
	if err != nil {
		t.Fatalf("ping %s: %v", c.RemoteAddr(), err)
	}
	return median(rtts)
}

// udpCounter counts numbered datagrams arriving on a socket: how many,
// and how many were seen more than once or out of order.
type udpCounter struct {
	c      *net.UDPConn
	mu     sync.Mutex
	seen   map[uint32]int
	got    int
	dups   int
	late   int // arrived after a higher number
	high   uint32
	data   [][]byte
	keep   bool
	done   chan struct{}
	closed atomic.Bool
}

func countUDP(t testing.TB, ns network.Namespace, addr string, keep bool) *udpCounter {
	t.Helper()
	c, err := lab.ListenUDP(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	// Beyond rmem_max: a loaded machine must not drop what the test counts.
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) })
	}
	u := &udpCounter{c: c, seen: map[uint32]int{}, keep: keep, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 4 {
				continue
			}
			seq := binary.BigEndian.Uint32(buf)
			u.mu.Lock()
			u.got++
			u.seen[seq]++
			if u.seen[seq] > 1 {
				u.dups++
			}
			if seq < u.high {
				u.late++
			}
			u.high = max(u.high, seq)
			if u.keep {
				u.data = append(u.data, append([]byte(nil), buf[:n]...))
			}
			u.mu.Unlock()
		}
	}()
	t.Cleanup(u.close)
	return u
}

func (u *udpCounter) close() {
	if !u.closed.Swap(true) {
		u.c.Close()
		<-u.done
	}
}

// counts returns what arrived so far.
func (u *udpCounter) counts() (got, distinct, dups, late int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got, len(u.seen), u.dups, u.late
}

// settle waits until no datagram arrived for quiet, or 10s.
func (u *udpCounter) settle(quiet time.Duration) {
	deadline := time.Now().Add(10 * time.Second)
	last, _, _, _ := u.counts()
	lastChange := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n, _, _, _ := u.counts()
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) >= quiet {
			return
		}
	}
}

// sendUDP sends n numbered datagrams of size bytes from ns to addr, one
// every gap, and returns how many sends failed.
func sendUDP(t testing.TB, ns network.Namespace, addr string, n, size int, gap time.Duration) int {
	t.Helper()
	c := dial(t, ns, "udp", addr)
	buf := make([]byte, max(size, 4))
	for i := range buf[4:] {
		buf[4+i] = byte(i)
	}
	failed := 0
	next := time.Now()
	for i := range n {
		binary.BigEndian.PutUint32(buf, uint32(i))
		if _, err := c.Write(buf); err != nil {
			failed++
		}
		if gap > 0 {
			// Never catch up with a burst after a stall: a burst overflows
			// the receiving device's backlog, which the test would count
			// as the fault's doing.
			next = next.Add(gap)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else {
				next = time.Now()
			}
		}
	}
	return failed
}

// backlogDrops is the number of packets the kernel dropped because a
// CPU's input backlog was full (the second column of
// /proc/net/softnet_stat, summed over CPUs, in hex): drops a loaded
// machine makes, not a fault.
func backlogDrops() uint64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var n uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseUint(f[1], 16, 64)
			n += v
		}
	}
	return n
}

// udpStats reads the UDP counters of ns (the Udp line of
// /proc/net/snmp as seen from inside it).
func udpStats(ns network.Namespace) map[string]int64 {
	out := map[string]int64{}
	_ = ns.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var names []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = f[1:]
				continue
			}
			for i, v := range f[1:] {
				if i < len(names) {
					out[names[i]], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
		return nil
	})
	return out
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
