package network_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// Every fault acts on IPv6 as on IPv4: the lab's link carries both, the
// dependency at fd00:c4a0::2 and another host at fd00:c4a0::3. A fault
// on an IPv6 host leaves IPv4 alone, and one on any host takes both.
// Loss, corrupt and duplicate run over both families in their own tests.
func TestIPv6(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "[::]:9000")
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoUDP(t, l.B, "[::]:9001")
	dep, other := l.IP6B.String(), l.IP6B2.String()
	tcp := func(host string) string { return net.JoinHostPort(host, "9000") }
	udp := func(host string) string { return net.JoinHostPort(host, "9001") }

	t.Run("blackhole", func(t *testing.T) {
		open := dial(t, l.A, "tcp6", tcp(dep))
		pings(t, open, 2)
		a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: dep}})
		if _, err := lab.Ping(open, 1, 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("ping on the open connection = %v; want a timeout", err)
		}
		if c, err := lab.Dial(l.A, "tcp6", tcp(dep), 300*time.Millisecond); !isTimeout(err) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial = %v; want a timeout", err)
		}
		pings(t, dial(t, l.A, "tcp6", tcp(other)), 2)
		pings(t, dial(t, l.A, "tcp4", tcp(l.IPB.String())), 2)
		revert(t, a)
		noTables(t, l.A)
		if _, err := lab.Ping(open, 1, 10*time.Second); err != nil {
			t.Errorf("the open connection after revert: %v", err)
		}
	})

	t.Run("blackhole of any host takes both families", func(t *testing.T) {
		a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Port: 9000, Protocol: "tcp"}})
		for _, c := range []struct{ netw, addr string }{{"tcp6", tcp(dep)}, {"tcp4", tcp(l.IPB.String())}} {
			if conn, err := lab.Dial(l.A, c.netw, c.addr, 300*time.Millisecond); !isTimeout(err) {
				if conn != nil {
					conn.Close()
				}
				t.Errorf("dial %s = %v; want a timeout", c.addr, err)
			}
		}
		revert(t, a)
		noTables(t, l.A)
	})

	t.Run("reject", func(t *testing.T) {
		open := dial(t, l.A, "tcp6", tcp(dep))
		pings(t, open, 1)
		a := apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep, Port: 9000}})
		if _, err := lab.Dial(l.A, "tcp6", tcp(dep), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial = %v; want connection refused", err)
		}
		if _, err := lab.Ping(open, 1, 2*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("ping on the open connection = %v; want a reset", err)
		}
		revert(t, a)

		a = apply(t, l.A, &network.Reject{Filter: network.Filter{Host: dep, Port: 9001, Protocol: "udp"}})
		c := dial(t, l.A, "udp6", udp(dep))
		_, _ = c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("UDP read = %v; want connection refused (ICMPv6 port unreachable)", err)
		}
		revert(t, a)

		a = apply(t, l.A, &network.Reject{Filter: network.Filter{Host: "fd00:c4a0::/64"}, With: "admin-prohibited"})
		if _, err := lab.Dial(l.A, "tcp6", tcp(dep), 2*time.Second); !errors.Is(err, syscall.EACCES) {
			t.Errorf("dial = %v; want permission denied (ICMPv6 administratively prohibited)", err)
		}
		pings(t, dial(t, l.A, "tcp4", tcp(l.IPB.String())), 1)
		revert(t, a)
		noTables(t, l.A)
		pings(t, dial(t, l.A, "tcp6", tcp(dep)), 1)
	})

	t.Run("partition", func(t *testing.T) {
		a := apply(t, l.A, &network.Partition{Peers: []string{dep, l.IPB.String()}})
		for _, c := range []struct{ netw, addr string }{{"tcp6", tcp(dep)}, {"tcp4", tcp(l.IPB.String())}} {
			if conn, err := lab.Dial(l.A, c.netw, c.addr, 300*time.Millisecond); !isTimeout(err) {
				if conn != nil {
					conn.Close()
				}
				t.Errorf("dial %s = %v; want a timeout", c.addr, err)
			}
		}
		pings(t, dial(t, l.A, "tcp6", tcp(other)), 1)
		revert(t, a)
		noTables(t, l.A)
	})

	t.Run("latency", func(t *testing.T) {
		open := dial(t, l.A, "tcp6", tcp(dep))
		u := dial(t, l.A, "udp6", udp(dep))
		base := pings(t, open, 10)
		const delay = 30 * time.Millisecond
		a := apply(t, l.A, &network.Latency{Filter: network.Filter{Host: dep}, Delay: delay})
		for name, rtt := range map[string]time.Duration{
			"open TCP connection": pings(t, open, 5),
			"new TCP connection":  pings(t, dial(t, l.A, "tcp6", tcp(dep)), 5),
			"UDP":                 pings(t, u, 5),
		} {
			if added := rtt - base; added < delay-2*time.Millisecond || added > delay+40*time.Millisecond {
				t.Errorf("%s: round trip %v (%v before); want %v more", name, rtt, base, delay)
			}
		}
		if rtt := pings(t, dial(t, l.A, "tcp4", tcp(l.IPB.String())), 5); rtt > delay/2 {
			t.Errorf("IPv4 round trip %v; want it untouched", rtt)
		}
		revert(t, a)
		noTables(t, l.A)
		if rtt := pings(t, open, 5); rtt > delay/2 {
			t.Errorf("round trip after revert %v; want back to about %v", rtt, base)
		}
	})

	t.Run("bandwidth", func(t *testing.T) {
		sink := lab.Serve(listen(t, l.B, net.JoinHostPort("::", "9200")), lab.Sink)
		defer sink.Close()
		a := apply(t, l.A, &network.Bandwidth{Filter: network.Filter{Host: dep}, Rate: 16_000_000})
		sendBulk(t, l.A, net.JoinHostPort(dep, "9200"))
		rate := measure(sink, time.Second)
		t.Logf("16 Mbit/s asked: %.1f Mbit/s", rate*8/1e6)
		if rate*8 < 12e6 || rate*8 > 20e6 {
			t.Errorf("%.1f Mbit/s; want 16 Mbit/s", rate*8/1e6)
		}
		revert(t, a)
		noTables(t, l.A)
	})

	t.Run("intercept", func(t *testing.T) {
		open := dial(t, l.A, "tcp6", tcp(dep))
		pings(t, open, 2)
		a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Port: 9000}, CutEstablished: true})
		ic := a.Interception()
		const delay = 30 * time.Millisecond
		if _, err := ic.Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: delay}}); err != nil {
			t.Fatal(err)
		}
		if _, err := lab.Ping(open, 1, 2*time.Second); !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("ping on the IPv6 connection opened before = %v; want it cut", err)
		}
		for _, c := range []struct{ netw, addr string }{{"tcp6", tcp(dep)}, {"tcp6", tcp(other)}, {"tcp4", tcp(l.IPB.String())}} {
			conn := dial(t, l.A, c.netw, c.addr)
			if rtt := pings(t, conn, 3); rtt < delay || rtt > delay+40*time.Millisecond {
				t.Errorf("%s through the intercept: round trip %v; want %v", c.addr, rtt, delay)
			}
			if conn.RemoteAddr().String() != c.addr {
				t.Errorf("the client is connected to %s; want %s", conn.RemoteAddr(), c.addr)
			}
		}
		if n := ic.Proxy().Snapshot().Stats.ConnectionsTotal; n != 3 {
			t.Errorf("the proxy carried %d connections; want 3", n)
		}
		revert(t, a)
		noTables(t, l.A)
	})
}

// A run cut short leaves a fault's tables of both families; removing the
// run's tables by its name, as chaos recover does, takes all of them.
func TestIPv6RemoveRunTakesBothFamilies(t *testing.T) {
	l := lab.New(t)
	f := &network.Blackhole{Filter: network.Filter{Port: 9000, Protocol: "tcp"}}
	rec, err := network.Plan(l.A, "cut6", 1, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Apply(t.Context(), rec, f); err != nil {
		t.Fatal(err)
	}
	want := []string{"ip chaos_cut6_1", "ip6 chaos_cut6_1", "netdev chaos_cut6_1"}
	if tables, err := network.Tables(l.A, "cut6"); err != nil || !slices.Equal(tables, want) {
		t.Fatalf("tables of the run: %v, %v; want %v", tables, err, want)
	}
	removed, err := network.RemoveRun(t.Context(), l.A, "cut6")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveRun removed %v; want %v", removed, want)
	}
	noTables(t, l.A)
}

// IPv6 finds a neighbour's link address with ICMPv6 (neighbour
// discovery), where IPv4 has ARP, which no IP rule sees: under a
// blackhole of the dependency the target still learns its address, so
// that traffic resumes at once when the fault goes.
func TestIPv6NeighbourDiscoveryPasses(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "[::]:9000")
	dep := l.IP6B.String()
	forgetNeighbour(t, l, l.IP6B)
	a := apply(t, l.A, &network.Blackhole{Filter: network.Filter{Host: dep}})
	// A datagram makes the target ask for the dependency's address; the
	// fault drops the datagram, but the answer must come back through it.
	u := dial(t, l.A, "udp6", net.JoinHostPort(dep, "9009"))
	if _, err := u.Write([]byte("who")); err != nil {
		t.Fatal(err)
	}
	found := netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE
	deadline := time.Now().Add(5 * time.Second)
	for state := neighbourState(t, l, l.IP6B); state&found == 0; state = neighbourState(t, l, l.IP6B) {
		if time.Now().After(deadline) {
			t.Fatalf("neighbour %s under a blackhole: state %#x after 5s; want it found", dep, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	revert(t, a)
	pings(t, dial(t, l.A, "tcp6", net.JoinHostPort(dep, "9000")), 1)
}

// forgetNeighbour deletes the lab's permanent entry for addr on A's
// device, so that A has to find it.
func forgetNeighbour(t *testing.T, l *lab.Lab, addr netip.Addr) {
	t.Helper()
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		link, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		return h.NeighDel(&netlink.Neigh{LinkIndex: link.Attrs().Index, IP: addr.AsSlice(), Family: netlink.FAMILY_V6})
	})
}

// neighbourState is the state of A's entry for addr, 0 if it has none.
func neighbourState(t *testing.T, l *lab.Lab, addr netip.Addr) int {
	t.Helper()
	state := 0
	withHandle(t, l.PathA, func(h *netlink.Handle) error {
		link, err := h.LinkByName(l.DevA)
		if err != nil {
			return err
		}
		ns, err := h.NeighList(link.Attrs().Index, netlink.FAMILY_V6)
		for _, n := range ns {
			if n.IP.Equal(addr.AsSlice()) {
				state = n.State
			}
		}
		return err
	})
	return state
}

func listen(t testing.TB, ns network.Namespace, addr string) *net.TCPListener {
	t.Helper()
	ln, err := lab.ListenTCP(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
