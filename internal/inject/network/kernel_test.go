package network_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A blackhole drops both ways, silently: an open connection stalls, a new
// one times out, a UDP sender gets no error. Other hosts on the same link
// are untouched, and everything works again once it is reverted.
func TestBlackhole(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoUDP(t, l.B, "0.0.0.0:9001")
	open := dial(t, l.A, "tcp4", l.IPB.String()+":9000")
	pings(t, open, 3)
	udp := dial(t, l.A, "udp4", l.IPB.String()+":9001")

	a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: l.IPB.String()}})

	if _, err := lab.Ping(open, 1, 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("ping on the open connection = %v; want a timeout", err)
	}
	if c, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":9000", 300*time.Millisecond); !isTimeout(err) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial = %v; want a timeout", err)
	}
	if _, err := udp.Write([]byte("ping")); err != nil {
		t.Errorf("UDP send = %v; a blackhole must not tell the sender", err)
	}
	udp.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := udp.Read(make([]byte, 16)); !isTimeout(err) {
		t.Errorf("UDP read = %v; want a timeout", err)
	}
	pings(t, dial(t, l.A, "tcp4", l.IPB2.String()+":9000"), 3)

	revert(t, a)
	noTables(t, l.A)
	if _, err := lab.Ping(open, 1, 10*time.Second); err != nil {
		t.Errorf("the open connection after revert: %v", err)
	}
	pings(t, dial(t, l.A, "tcp4", l.IPB.String()+":9000"), 3)
}

// Loss drops the share asked of the packets the target sends, or of those
// it receives, with no error to the sender, over IPv4 and IPv6.
func TestLoss(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	for _, fam := range labFamilies(l) {
		for _, dir := range []network.Direction{network.Egress, network.Ingress} {
			t.Run(fam.name+"/"+string(dir), func(t *testing.T) {
				from, to, addr := l.A, l.B, fam.dep(9002)
				if dir == network.Ingress {
					from, to, addr = l.B, l.A, fam.target(9002)
				}
				sink := countUDP(t, to, addr, false)
				a := apply(t, l.A, &network.Loss{Filter: network.Filter{Host: fam.b.String(), Direction: dir, Percent: pct(30)}})
				const n = 3000
				if failed := sendUDP(t, from, addr, n, 64, 20*time.Microsecond); failed > 0 {
					t.Errorf("%d sends failed: loss must not tell the sender", failed)
				}
				sink.settle(100 * time.Millisecond)
				got, _, _, _ := sink.counts()
				lost := float64(n-got) / n
				t.Logf("30%% asked: %.1f%% of %d lost", lost*100, n)
				if lost < 0.24 || lost > 0.36 {
					t.Errorf("lost %.1f%%; want 30%% (24%% to 36%%)", lost*100)
				}
				revert(t, a)
				noTables(t, l.A)
			})
		}
	}
}

// Reject refuses at once: a TCP connect is refused, an open connection
// is reset, a UDP socket learns of it from ICMP; with is the ICMP answer.
func TestReject(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoUDP(t, l.B, "0.0.0.0:9001")
	dep := l.IPB.String()

	t.Run("tcp", func(t *testing.T) {
		open := dial(t, l.A, "tcp4", dep+":9000")
		pings(t, open, 1)
		a := apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep, Port: 9000}})
		start := time.Now()
		if _, err := lab.Dial(l.A, "tcp4", dep+":9000", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial = %v; want connection refused", err)
		} else if d := time.Since(start); d > time.Second {
			t.Errorf("refused after %v; want at once", d)
		}
		if _, err := lab.Ping(open, 1, 2*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("ping on the open connection = %v; want a reset", err)
		}
		pings(t, dial(t, l.A, "tcp4", l.IPB2.String()+":9000"), 1)
		revert(t, a)
		pings(t, dial(t, l.A, "tcp4", dep+":9000"), 1)
	})
	t.Run("udp", func(t *testing.T) {
		a := apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep, Port: 9001, Protocol: "udp"}})
		c := dial(t, l.A, "udp4", dep+":9001")
		_, _ = c.Write([]byte("ping")) // the kernel fails this one with EPERM
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("read = %v; want connection refused", err)
		}
		revert(t, a)
		if _, err := lab.Ping(dial(t, l.A, "udp4", dep+":9001"), 1, 2*time.Second); err != nil {
			t.Errorf("after revert: %v", err)
		}
	})
	t.Run("with host-unreachable", func(t *testing.T) {
		a := apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep}, With: "host-unreachable"})
		if _, err := lab.Dial(l.A, "tcp4", dep+":9000", 2*time.Second); !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("dial = %v; want no route to host", err)
		}
		revert(t, a)
	})
	t.Run("ingress", func(t *testing.T) {
		// The target serves; its clients are refused.
		echoTCP(t, l.A, "0.0.0.0:9100")
		a := apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep, Direction: network.Ingress, Protocol: "tcp"}})
		if _, err := lab.Dial(l.B, "tcp4", l.IPA.String()+":9100", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial the target = %v; want connection refused", err)
		}
		revert(t, a)
		pings(t, dial(t, l.B, "tcp4", l.IPA.String()+":9100"), 1)
	})
	noTables(t, l.A)
}

// A partition cuts the peers off, in the directions asked.
func TestPartition(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	sinkA := countUDP(t, l.A, "0.0.0.0:9003", false)
	sinkB := countUDP(t, l.B, "0.0.0.0:9003", false)

	a := apply(t, l.A, &network.Partition{Peers: []string{l.IPB.String() + "/32"}, Direction: network.Egress})
	sendUDP(t, l.A, l.IPB.String()+":9003", 20, 16, 0)
	sendUDP(t, l.B, l.IPA.String()+":9003", 20, 16, 0)
	sinkA.settle(50 * time.Millisecond)
	sinkB.settle(50 * time.Millisecond)
	if gotA, _, _, _ := sinkA.counts(); gotA != 20 {
		t.Errorf("egress partition: the target got %d of 20 from the peer; want all", gotA)
	}
	if gotB, _, _, _ := sinkB.counts(); gotB != 0 {
		t.Errorf("egress partition: the peer got %d of 20 from the target; want none", gotB)
	}
	revert(t, a)

	// Narrowed to one port of the peer, over TCP: its other ports and UDP
	// on the same port pass.
	echoTCP(t, l.B, "0.0.0.0:9010")
	echoUDP(t, l.B, "0.0.0.0:9000")
	a = apply(t, l.A, &network.Partition{Peers: []string{l.IPB.String()}, Port: 9000, Protocol: "tcp"})
	if _, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":9000", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial the peer's port across the partition = %v; want a timeout", err)
	}
	pings(t, dial(t, l.A, "tcp4", l.IPB.String()+":9010"), 1)
	if _, err := lab.Ping(dial(t, l.A, "udp4", l.IPB.String()+":9000"), 1, 2*time.Second); err != nil {
		t.Errorf("UDP to the same port across a TCP partition: %v", err)
	}
	revert(t, a)

	apply(t, l.A, &network.Partition{Peers: []string{l.IPB.String()}})
	if _, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":9000", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial a peer across the partition = %v; want a timeout", err)
	}
	if _, err := lab.Dial(l.B, "tcp4", l.IPA.String()+":22", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial the target from across the partition = %v; want a timeout", err)
	}
	pings(t, dial(t, l.A, "tcp4", l.IPB2.String()+":9000"), 1)
}

// A host that is the target's own address is reached over the loopback
// device, where the fault acts as it does on the target's other devices:
// a blackhole cuts the target off from itself there, a latency of the
// port adds its delay, and without the port that tells the two ends
// apart a latency is refused.
func TestOwnAddress(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	for _, fam := range labFamilies(l) {
		t.Run(fam.name, func(t *testing.T) {
			own := fam.a.String()
			echoTCP(t, l.A, fam.target(9000))
			open := dial(t, l.A, "tcp", fam.target(9000))
			base := pings(t, open, 5)

			a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: own}})
			if _, err := lab.Ping(open, 1, 300*time.Millisecond); !isTimeout(err) {
				t.Errorf("ping on the open connection = %v; want a timeout", err)
			}
			if c, err := lab.Dial(l.A, "tcp", fam.target(9000), 300*time.Millisecond); !isTimeout(err) {
				if c != nil {
					c.Close()
				}
				t.Errorf("dial = %v; want a timeout", err)
			}
			revert(t, a)
			if _, err := lab.Ping(open, 1, 10*time.Second); err != nil {
				t.Errorf("the open connection after revert: %v", err)
			}

			const delay = 30 * time.Millisecond
			a = apply(t, l.A, &network.Latency{Filter: network.Filter{Host: own, Port: 9000}, Delay: delay})
			if added := pings(t, open, 10) - base; added < delay-2*time.Millisecond || added > delay+20*time.Millisecond {
				t.Errorf("latency: round trip %v longer; want %v", added, delay)
			}
			revert(t, a)
			f := &network.Latency{Filter: network.Filter{Host: own}, Delay: delay}
			if _, err := network.Plan(l.A, "test", int(nextSeq.Add(1)), f); !contains(err, "an address of the target itself") {
				t.Errorf("Plan(latency of %s without a port) = %v; want it refused", own, err)
			}
			noTables(t, l.A)
		})
	}
}

// Filters pick the packets: another port, another protocol and another
// host pass.
func TestFilterPicksPackets(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoTCP(t, l.B, "0.0.0.0:9010")
	echoUDP(t, l.B, "0.0.0.0:9000")
	apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: l.IPB.String(), Port: 9000, Protocol: "tcp"}})
	if _, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":9000", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial the port in the filter = %v; want a timeout", err)
	}
	pings(t, dial(t, l.A, "tcp4", l.IPB.String()+":9010"), 1)
	pings(t, dial(t, l.A, "tcp4", l.IPB2.String()+":9000"), 1)
	if _, err := lab.Ping(dial(t, l.A, "udp4", l.IPB.String()+":9000"), 1, 2*time.Second); err != nil {
		t.Errorf("UDP to the same port: %v", err)
	}
}

// Duplicate sends the packets twice, both ways, over IPv4 and IPv6.
func TestDuplicate(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	for _, fam := range labFamilies(l) {
		for _, tc := range []struct {
			dir     network.Direction
			percent float64
		}{{network.Egress, 100}, {network.Ingress, 40}} {
			t.Run(fam.name+"/"+string(tc.dir), func(t *testing.T) {
				from, to, addr := l.A, l.B, fam.dep(9004)
				if tc.dir == network.Ingress {
					from, to, addr = l.B, l.A, fam.target(9004)
				}
				sink := countUDP(t, to, addr, false)
				a := apply(t, l.A, &network.Duplicate{Filter: network.Filter{Host: fam.b.String(), Direction: tc.dir, Percent: pct(tc.percent)}})
				const n = 2000
				sendUDP(t, from, addr, n, 64, 50*time.Microsecond)
				sink.settle(100 * time.Millisecond)
				got, distinct, dups, _ := sink.counts()
				share := float64(dups) / float64(distinct)
				t.Logf("%v%% asked: %d datagrams, %d distinct, %.1f%% duplicated", tc.percent, got, distinct, share*100)
				// A loaded machine may drop a few on the link (the backlog).
				if distinct < n*99/100 {
					t.Errorf("%d of %d arrived", distinct, n)
				}
				if want := tc.percent / 100; share < want-0.06 || share > want+0.06 {
					t.Errorf("%.1f%% duplicated; want %v%%", share*100, tc.percent)
				}
				revert(t, a)
				noTables(t, l.A)
			})
		}
	}
}

// On the loopback device, where the target and a dependency share the
// namespace, a duplicate copies what the target receives from the
// dependency's port as well as what it sends to it.
func TestDuplicateLoopback(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	for _, host := range []string{"127.0.0.1", "::1"} {
		// The dependency is on port 9005, the target on 9004.
		dep, target := net.JoinHostPort(host, "9005"), net.JoinHostPort(host, "9004")
		for _, dir := range []network.Direction{network.Ingress, network.Egress, network.Both} {
			t.Run(host+"/"+string(dir), func(t *testing.T) {
				const n = 2000
				to := target
				if dir == network.Egress {
					to = dep
				}
				sink := countUDP(t, l.A, to, false)
				a := apply(t, l.A, &network.Duplicate{Filter: network.Filter{Host: host, Port: 9005, Protocol: "udp", Direction: dir, Percent: pct(40)}})
				if dir == network.Egress {
					sendUDP(t, l.A, dep, n, 64, 50*time.Microsecond)
				} else {
					sendUDPFrom(t, l.A, dep, target, n)
				}
				sink.settle(100 * time.Millisecond)
				got, distinct, dups, _ := sink.counts()
				share := float64(dups) / float64(distinct)
				t.Logf("40%% asked: %d datagrams, %d distinct, %.1f%% duplicated", got, distinct, share*100)
				if distinct < n*99/100 {
					t.Errorf("%d of %d arrived", distinct, n)
				}
				if share < 0.34 || share > 0.46 {
					t.Errorf("%.1f%% duplicated; want 40%%", share*100)
				}
				revert(t, a)
				noTables(t, l.A)
			})
		}
	}
}

// sendUDPFrom sends n numbered datagrams of 64 bytes from a socket bound
// to from in ns to addr, one every 50µs.
func sendUDPFrom(t testing.TB, ns network.Namespace, from, addr string, n int) {
	t.Helper()
	c, err := lab.ListenUDP(ns, from)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := range n {
		binary.BigEndian.PutUint32(buf, uint32(i))
		if _, err := c.WriteTo(buf, to); err != nil {
			t.Fatalf("send to %s: %v", addr, err)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// measure returns the rate at which s receives, in bytes per second, over
// d after a second of warm-up.
func measure(s *lab.Server, d time.Duration) float64 {
	time.Sleep(500 * time.Millisecond)
	start, b0 := time.Now(), s.Bytes.Load()
	time.Sleep(d)
	return float64(s.Bytes.Load()-b0) / time.Since(start).Seconds()
}

// sendBulk writes to addr from ns as fast as it can until the test ends.
func sendBulk(t testing.TB, ns network.Namespace, addr string) {
	t.Helper()
	c := dial(t, ns, "tcp", addr)
	go func() { _, _ = io.Copy(c, zeros{}) }()
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// Bandwidth holds the rate to the host asked and leaves the others
// alone; without a host it holds all the target sends. A device with a
// root qdisc someone set up is refused.
func TestBandwidth(t *testing.T) {
	l := lab.New(t)
	lnB, err := lab.ListenTCP(l.B, "0.0.0.0:9200")
	if err != nil {
		t.Fatal(err)
	}
	sink := lab.Serve(lnB, lab.Sink)
	defer sink.Close()
	lnB2, err := lab.ListenTCP(l.B, "0.0.0.0:9201")
	if err != nil {
		t.Fatal(err)
	}
	sink2 := lab.Serve(lnB2, lab.Sink)
	defer sink2.Close()

	const rate = 16_000_000 // bits per second: 2 MB/s
	a := apply(t, l.A, &network.Bandwidth{Filter: network.Filter{Host: l.IPB.String()}, Rate: rate})
	sendBulk(t, l.A, l.IPB.String()+":9200")
	sendBulk(t, l.A, l.IPB2.String()+":9201")
	shaped, free := measure(sink, 2*time.Second), measure(sink2, time.Second)
	t.Logf("16mbit to %s: %.2f MB/s; to %s: %.1f MB/s", l.IPB, shaped/1e6, l.IPB2, free/1e6)
	if want := rate / 8.0; shaped < 0.75*want || shaped > 1.1*want {
		t.Errorf("shaped rate %.2f MB/s; want 2 MB/s", shaped/1e6)
	}
	if free < 5*rate/8 {
		t.Errorf("unshaped rate %.1f MB/s; want far above the shaped one", free/1e6)
	}
	// One bandwidth fault per device.
	rec, err := network.Plan(l.A, "test", int(nextSeq.Add(1)), &network.Bandwidth{Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Apply(t.Context(), rec, &network.Bandwidth{Rate: rate}); !contains(err, "shaped already") {
		t.Errorf("a second bandwidth on the device: %v; want it refused", err)
	}
	revert(t, a)
	noTables(t, l.A)
	if free := measure(sink, time.Second); free < 5*rate/8 {
		t.Errorf("rate after revert %.1f MB/s; want far above the shaped one", free/1e6)
	}
	assertQdisc(t, l, "noqueue")

	// Without a host, everything.
	a = apply(t, l.A, &network.Bandwidth{Rate: rate})
	if got := measure(sink2, time.Second); got > 1.1*rate/8 {
		t.Errorf("rate to %s under a bandwidth on everything: %.1f MB/s; want 2 MB/s", l.IPB2, got/1e6)
	}
	revert(t, a)
	assertQdisc(t, l, "noqueue")

	// A fault stopped between adding its qdisc and its class (a run
	// killed there) left a qdisc that shapes nothing: the revert of its
	// record removes it.
	rec, err = network.Plan(l.A, "test", int(nextSeq.Add(1)), &network.Bandwidth{Rate: rate})
	if err != nil || rec.Qdisc == 0 {
		t.Fatalf("plan: %+v, %v; want a qdisc handle", rec, err)
	}
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		link, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		return h.QdiscAdd(netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: rec.Qdisc &^ 0xffff, Parent: netlink.HANDLE_ROOT}))
	})
	assertQdisc(t, l, "htb "+strconv.FormatUint(uint64(rec.Qdisc>>16), 16)+":")
	if err := network.Revert(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	assertQdisc(t, l, "noqueue")

	// Someone else's root qdisc is left alone.
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		link, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		return h.QdiscAdd(&netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
			Rate: 1 << 30, Limit: 1 << 20, Buffer: netlink.Xmittime(1<<30, 64<<10)})
	})
	rec, err = network.Plan(l.A, "test", int(nextSeq.Add(1)), &network.Bandwidth{Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Apply(t.Context(), rec, &network.Bandwidth{Rate: rate}); !contains(err, "that someone set up") {
		t.Errorf("bandwidth over a tbf qdisc: %v; want it refused", err)
	}
	assertQdisc(t, l, "tbf")
}

// A bandwidth to a network holds the rate on every device that routes
// part of it, not only on the one that routes its first address: here
// 10.0.0.0/8 is reached through the lab's link (the default route) and,
// for 10.202.0.0/24, through a second link, as a container on two
// networks is.
func TestBandwidthNetworkOverDevices(t *testing.T) {
	l := lab.New(t)
	b, err := netns.GetFromPath(l.PathB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	second := netip.MustParseAddr("10.202.0.2")
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "second"}, PeerName: "second", PeerNamespace: netlink.NsFd(b)}
		if err := h.LinkAdd(veth); err != nil {
			return err
		}
		link, err := h.LinkByName("second")
		if err != nil {
			return err
		}
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 202, 0, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		if err := h.LinkSetUp(link); err != nil {
			return err
		}
		dev, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		return h.RouteAdd(&netlink.Route{LinkIndex: dev.Attrs().Index, Gw: l.IPB.AsSlice()})
	})
	withHandle(t, l.PathB, func(h *netlink.Handle) error {
		link, err := h.LinkByName("second")
		if err != nil {
			return err
		}
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: second.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		return h.LinkSetUp(link)
	})
	ln, err := lab.ListenTCP(l.B, "0.0.0.0:9202")
	if err != nil {
		t.Fatal(err)
	}
	sink := lab.Serve(ln, lab.Sink)
	defer sink.Close()

	const rate = 16_000_000 // bits per second: 2 MB/s
	a := apply(t, l.A, &network.Bandwidth{Filter: network.Filter{Host: "10.0.0.0/8"}, Rate: rate})
	sendBulk(t, l.A, netip.AddrPortFrom(second, 9202).String())
	got := measure(sink, 2*time.Second)
	t.Logf("16mbit to 10.0.0.0/8, sent to %s over the second link: %.2f MB/s", second, got/1e6)
	if want := rate / 8.0; got < 0.75*want || got > 1.1*want {
		t.Errorf("rate to %s: %.2f MB/s; want 2 MB/s", second, got/1e6)
	}
	revert(t, a)
	noTables(t, l.A)
}

func withHandle(t testing.TB, path string, fn func(h *netlink.Handle) error) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := fn(h); err != nil {
		t.Fatal(err)
	}
}

// assertQdisc checks the root qdisc of the target's device.
func assertQdisc(t testing.TB, l *lab.Lab, want string) {
	t.Helper()
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		link, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		qs, err := h.QdiscList(link)
		if err != nil {
			return err
		}
		var roots []string
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_ROOT {
				roots = append(roots, fmt.Sprintf("%s %x:", q.Type(), q.Attrs().Handle>>16))
			}
		}
		if len(roots) != 1 || roots[0][:len(want)] != want {
			t.Errorf("root qdiscs of %s: %v; want %s", l.DevA, roots, want)
		}
		return nil
	})
}

// A device that comes up while an egress drop of a host is on, by which
// no route to that host goes (another network's bridge coming up in the
// host's namespace), carries none of the packets the drop selects: the
// fault lasted, and its revert says nothing of it. One by which the route
// goes is TestEgressDeviceAddedMidFault's.
func TestEgressDeviceElsewhereMidFault(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: l.IPB.String(), Direction: network.Egress}})
	h, err := netns.GetFromPath(l.PathA)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	pair := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "chaostest0"}, PeerName: "chaostest1"}
	if err := nh.LinkAdd(pair); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"chaostest0", "chaostest1"} {
		link, err := nh.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := nh.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	revert(t, a)
	noTables(t, l.A)
	if devs := a.Uncovered(); len(devs) > 0 {
		t.Errorf("Uncovered() = %v; want none: no route to %s goes by chaostest0", devs, l.IPB)
	}
}
