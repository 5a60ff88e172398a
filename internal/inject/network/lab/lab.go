// Package lab builds network namespaces for the tests and benchmarks of
// package network: a target and a dependency joined by a veth pair, in
// namespaces of their own, so that nothing reaches the host's namespace or
// any address outside them. It also serves and drives traffic inside any
// namespace (echo servers, sinks, clients).
//
// Only tests and benchmarks import it.
package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject/network"
)

// RequireEnv is the variable that turns a missing privilege or kernel
// feature from a skip into a failure.
const RequireEnv = "CHAOS_REQUIRE_NETFILTER"

// Lab is two namespaces joined by a veth pair: A (the target, 10.201.0.1
// and fd00:c4a0::1) and B (the dependency, 10.201.0.2 and 10.201.0.3,
// fd00:c4a0::2 and fd00:c4a0::3).
type Lab struct {
	A, B              network.Namespace
	PathA, PathB      string
	DevA, DevB        string
	IPA, IPB, IPB2    netip.Addr
	IP6A, IP6B, IP6B2 netip.Addr
	names             []string
}

// Subnets of the lab's link. The namespaces have no other route, so
// nothing can leave them.
const (
	Subnet  = "10.201.0.0/24"
	Subnet6 = "fd00:c4a0::/64"
)

// Up creates a lab with names unique to it.
func Up() (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("network namespaces need root")
	}
	id := randomHex(3)
	l := &Lab{
		DevA: "cx" + id + "a", DevB: "cx" + id + "b",
		IPA: netip.MustParseAddr("10.201.0.1"), IPB: netip.MustParseAddr("10.201.0.2"), IPB2: netip.MustParseAddr("10.201.0.3"),
		IP6A: netip.MustParseAddr("fd00:c4a0::1"), IP6B: netip.MustParseAddr("fd00:c4a0::2"), IP6B2: netip.MustParseAddr("fd00:c4a0::3"),
	}
	var err error
	if l.PathA, err = l.namespace("chaoslab-" + id + "-a"); err != nil {
		return nil, err
	}
	if l.PathB, err = l.namespace("chaoslab-" + id + "-b"); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.link(); err != nil {
		l.Close()
		return nil, err
	}
	if l.A, err = network.NamedNamespace(l.PathA); err == nil {
		l.B, err = network.NamedNamespace(l.PathB)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// New is Up for a test: it skips the test when it cannot build the lab
// (not root, no namespaces), or fails it when CHAOS_REQUIRE_NETFILTER=1,
// and removes the lab when the test ends.
func New(tb testing.TB) *Lab {
	tb.Helper()
	l, err := Up()
	if err != nil {
		Skip(tb, "build the network lab: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("remove the network lab: %v", err)
		}
	})
	return l
}

// RequireRoot skips the test unless it runs as root (or fails it when
// CHAOS_REQUIRE_NETFILTER=1).
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "network faults need root")
	}
}

// Skip skips the test with the reason, or fails it when
// CHAOS_REQUIRE_NETFILTER=1.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s, and %s=1", msg, RequireEnv)
	}
	tb.Skipf("%s (run as root on a kernel with nftables and NFQUEUE; %s=1 makes this a failure)", msg, RequireEnv)
}

// namespace creates a named namespace, on a thread that is then thrown
// away (NewNamed switches the calling thread into it).
func (l *Lab) namespace(name string) (string, error) {
	errc := make(chan error, 1)
	// The thread is never unlocked: it is left in the new namespace.
	go network.OffMainThread(func() {
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		errc <- err
	})
	if err := <-errc; err != nil {
		return "", fmt.Errorf("create network namespace %s: %w", name, err)
	}
	l.names = append(l.names, name)
	return filepath.Join("/run/netns", name), nil
}

// link creates the veth pair straight inside the two namespaces, gives it
// its addresses and brings everything up.
func (l *Lab) link() error {
	a, err := netns.GetFromPath(l.PathA)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := netns.GetFromPath(l.PathB)
	if err != nil {
		return err
	}
	defer b.Close()
	ha, err := netlink.NewHandleAt(a)
	if err != nil {
		return err
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(b)
	if err != nil {
		return err
	}
	defer hb.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.DevA}, PeerName: l.DevB, PeerNamespace: netlink.NsFd(b)}
	if err := ha.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", l.DevA, err)
	}
	sides := []struct {
		h     *netlink.Handle
		dev   string
		addrs []netip.Addr
		link  netlink.Link
	}{{h: ha, dev: l.DevA, addrs: []netip.Addr{l.IPA, l.IP6A}}, {h: hb, dev: l.DevB, addrs: []netip.Addr{l.IPB, l.IPB2, l.IP6B, l.IP6B2}}}
	for i := range sides {
		s := &sides[i]
		link, err := s.h.LinkByName(s.dev)
		if err != nil {
			return fmt.Errorf("find %s: %w", s.dev, err)
		}
		for _, a := range s.addrs {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
			if a.Is6() {
				// No duplicate address detection: the address is usable
				// at once, instead of tentative for a second or two.
				addr = &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
				if a == l.IP6B2 {
					// Deprecated (preferred for no time, valid for
					// ever): B still answers on it but sends from
					// IP6B, as it sends from IPB, its first IPv4
					// address.
					addr.PreferedLft, addr.ValidLft = 0, math.MaxUint32
				}
			}
			if err := s.h.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("add %s to %s: %w", a, s.dev, err)
			}
		}
		if err := s.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("bring %s up: %w", s.dev, err)
		}
		s.link = link
		lo, err := s.h.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := s.h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring lo up: %w", err)
		}
	}
	// Each side knows the other's hardware address from the start: no ARP
	// or neighbour discovery to wait for, lose or delay under a fault.
	for i, s := range sides {
		peer := sides[1-i]
		for _, a := range peer.addrs {
			n := &netlink.Neigh{LinkIndex: s.link.Attrs().Index, State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: peer.link.Attrs().HardwareAddr}
			if err := s.h.NeighAdd(n); err != nil {
				return fmt.Errorf("add the neighbour %s on %s: %w", a, s.dev, err)
			}
		}
	}
	return nil
}

// Close deletes the namespaces, and the veth pair with them.
func (l *Lab) Close() error {
	var errs []error
	for _, n := range l.names {
		if err := netns.DeleteNamed(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete network namespace %s: %w", n, err))
		}
	}
	l.names = nil
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
