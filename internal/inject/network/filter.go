package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Direction is which packets of the target a fault acts on: those it
// sends, those it receives, or both.
type Direction string

// Directions. Each fault documents which one it takes when none is given.
const (
	Egress  Direction = "egress"
	Ingress Direction = "ingress"
	Both    Direction = "both"
)

func (d Direction) egress() bool  { return d == Egress || d == Both }
func (d Direction) ingress() bool { return d == Ingress || d == Both }

// Filter selects the packets a fault acts on: those between the target
// and Host, to or from Port on Host, of Protocol, in Direction; and of
// those, Percent at random. Its zero value selects every IPv4 and IPv6
// packet in the fault's default direction, loopback traffic excepted.
//
// Host and Port are always the other end (the dependency): on egress they
// are the destination of the packets, on ingress their source.
type Filter struct {
	// Host is an IPv4 or IPv6 address or network (10.0.0.7, 10.0.0.0/24,
	// fd00::7, fd00::/64), or the name of a container, which stands for
	// its addresses on all its networks (see Names); empty means any.
	// Traffic on the loopback device is only selected when Host is a
	// loopback address, or an address of the target itself (which it
	// reaches over the loopback device).
	Host string `yaml:"host" json:"host,omitempty" doc:"the other end's IPv4 or IPv6 address or network, such as 10.0.0.7, 10.0.0.0/24 or fd00::/64, or a container's name, which stands for its addresses on its networks (default: any; loopback traffic only when this is a loopback address or one of the target's own)"`
	// Port is the port on Host, 1 to 65535; 0 means any.
	Port int `yaml:"port" json:"port,omitempty" doc:"the other end's port, 1 to 65535 (default: any)"`
	// Protocol is tcp or udp; empty means any (tcp and udp when a port is
	// given).
	Protocol string `yaml:"protocol" json:"protocol,omitempty" doc:"tcp or udp (default: any; tcp and udp with a port)"`
	// Direction is egress, ingress or both; empty means the fault's
	// default.
	Direction Direction `yaml:"direction" json:"direction,omitempty" doc:"egress (what the target sends), ingress (what it receives) or both (default: the fault's own)"`
	// Percent is the share of the selected packets the fault acts on, each
	// drawn at random; empty means all of them.
	Percent *experiment.Percent `yaml:"percent" json:"percent,omitempty" doc:"the share of the selected packets hit, each drawn at random (default: all)"`

	// addrs are the addresses of the container Host names, once resolved.
	addrs []netip.Prefix
	// local are the addresses of the fault's namespace, once read: its
	// traffic to them goes over the loopback device.
	local []netip.Addr
}

// filter gives access to the Filter a fault embeds.
func (f *Filter) filter() *Filter { return f }

// selector is a checked Filter, in the form rules are built from.
type selector struct {
	prefixes []netip.Prefix // none: any address
	port     uint16
	protos   []uint8 // nil: any protocol
	dir      Direction
	per10000 uint32 // share of packets, in 1/10000
	local    []netip.Addr
}

// percentScale is numgen's modulus: percent has a resolution of 0.01%.
const percentScale = 10000

// Validate checks the filter on its own; each fault adds its own limits.
func (f *Filter) Validate() error {
	_, err := f.compile(Egress)
	return err
}

// compile checks f and fills in def when no direction is given.
func (f *Filter) compile(def Direction) (selector, error) {
	s := selector{dir: def, per10000: percentScale, local: f.local}
	switch {
	case f.Host == "":
	case IsName(f.Host):
		// A container's name: its addresses once resolved, nothing
		// before (Plan and Apply refuse a name not resolved).
		s.prefixes = f.addrs
	default:
		p, err := parseHost(f.Host)
		if err != nil {
			return s, err
		}
		s.prefixes = []netip.Prefix{p}
	}
	switch {
	case f.Port < 0 || f.Port > 65535:
		return s, fmt.Errorf("port %d is not a port number: use 1 to 65535, or leave it out for any", f.Port)
	case f.Port > 0:
		s.port = uint16(f.Port)
	}
	switch strings.ToLower(f.Protocol) {
	case "":
		if s.port != 0 {
			s.protos = []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP}
		}
	case "tcp":
		s.protos = []uint8{unix.IPPROTO_TCP}
	case "udp":
		s.protos = []uint8{unix.IPPROTO_UDP}
	default:
		return s, fmt.Errorf("protocol %q: use tcp or udp, or leave it out for any", f.Protocol)
	}
	switch f.Direction {
	case "":
	case Egress, Ingress, Both:
		s.dir = f.Direction
	default:
		return s, fmt.Errorf("direction %q: use egress, ingress or both", f.Direction)
	}
	if f.Percent != nil {
		p := f.Percent.Fraction()
		switch {
		case p <= 0:
			return s, errors.New("percent 0% would never hit: remove the fault, or use more than 0%")
		case p > 1:
			return s, fmt.Errorf("percent %v is over 100%%", f.Percent)
		}
		s.per10000 = uint32(p*percentScale + 0.5)
		if s.per10000 == 0 {
			return s, fmt.Errorf("percent %v is below 0.01%%, the smallest share a fault can draw", f.Percent)
		}
	}
	return s, nil
}

// IsName reports whether the host or peer h names a container rather than
// giving an address: it has a letter, and the characters Docker allows in
// a container's name ([a-zA-Z0-9][a-zA-Z0-9_.-]*). Anything else must be
// an IPv4 or IPv6 address or network (an IPv6 one has a colon).
func IsName(h string) bool {
	if h == "" || !isAlnum(rune(h[0])) {
		return false
	}
	letter := false
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-':
		default:
			return false
		}
	}
	return letter
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// parseHost reads an IPv4 or IPv6 address or network. An IPv4 address
// written in IPv6 (::ffff:10.0.0.7) is the IPv4 address: that is how
// its packets look on the wire.
func parseHost(h string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(h, "/") {
		var err error
		p, err = netip.ParsePrefix(h)
		if err != nil {
			return p, fmt.Errorf("host %q is not an IPv4 or IPv6 network such as 10.0.0.0/24 or fd00::/64", h)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return p, fmt.Errorf("host %q: a network of IPv4 addresses written in IPv6 needs /96 or more", h)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
	} else {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return p, fmt.Errorf("host %q is not an IPv4 or IPv6 address: give the dependency's address (10.0.0.7, fd00::7), network (10.0.0.0/24) or container name", h)
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("host %q: leave the zone out: the fault takes the address on every device", h)
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.IsSingleIP() && p.Addr().IsUnspecified() {
		// Written as a listener's "any", it would match only packets
		// addressed to nowhere: the fault would never hit.
		fam, every := "IPv4", "0.0.0.0/0"
		if p.Addr().Is6() {
			fam, every = "IPv6", "::/0"
		}
		return p, fmt.Errorf("host %q is no host: no packet goes to or comes from it; leave host out for any address, or write %s for every %s one", h, every, fam)
	}
	return p.Masked(), nil
}

// loopback reports whether the selector names loopback addresses or an
// address of the namespace itself, whose packets go over the loopback
// device: the only cases in which it acts there.
func (s selector) loopback() bool {
	return slices.ContainsFunc(s.prefixes, s.onLoopback)
}

func (s selector) onLoopback(p netip.Prefix) bool {
	return p.Bits() >= 8 && p.Addr().IsLoopback() || p.IsSingleIP() && slices.Contains(s.local, p.Addr())
}

// loopbackSides refuses a loopback host without a port to a fault that
// acts on each packet (perPacket: a delay, a copy, damage, a rate), or on
// a share of them. The target and a dependency on a loopback address
// share the namespace: every packet between them is sent and received
// there, with the same addresses either way, and only the dependency's
// port tells its packets from the target's. Without it the fault acts on
// requests and answers alike, and twice on each with both directions: a
// latency adds its delay two or four times to a round trip, a loss draws
// each packet twice. A fault that drops or refuses every packet it
// selects does the same either way.
func (s selector) loopbackSides(perPacket bool) error {
	if !s.loopback() || s.port != 0 || !perPacket && s.all() {
		return nil
	}
	p := s.prefixes[slices.IndexFunc(s.prefixes, s.onLoopback)]
	what := "a loopback address"
	if !p.Addr().IsLoopback() {
		what = "an address of the target itself, reached over the loopback device,"
	}
	host := p.String()
	if p.IsSingleIP() {
		host = p.Addr().String()
	}
	return fmt.Errorf("host %s is %s and no port is given: on the loopback device the target's packets and its dependency's have the same addresses, and the fault would act on both; give the dependency's port", host, what)
}

// hosts are the networks the selector is about, none when it takes any
// address.
func (s selector) hosts() []netip.Prefix {
	if slices.ContainsFunc(s.prefixes, func(p netip.Prefix) bool { return p.Bits() == 0 }) {
		return nil
	}
	return s.prefixes
}

// all reports whether the selector takes every packet it matches.
func (s selector) all() bool { return s.per10000 >= percentScale }
