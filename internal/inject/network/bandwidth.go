package network

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Bandwidth limits the rate at which the target sends: to Host (and
// Port, Protocol) when given, else everything it sends. It shapes egress
// only; percent does not apply.
//
// It is an HTB qdisc at the root of each device the traffic leaves by
// (the one that routes to Host, else every device that is up), with one
// class of Rate. Without a filter the class takes all traffic; with one,
// an nftables rule sends the selected packets to the class by their
// priority and everything else passes unshaped. A device whose root qdisc
// was configured by someone (it has a handle) is refused rather than
// replaced; the kernel's default one comes back when the fault goes.
type Bandwidth struct {
	Filter `yaml:",inline"`
	// Rate is the limit, such as 10mbit or 2MB/s.
	Rate Bitrate `yaml:"rate" json:"rate" doc:"the limit, such as 10mbit or 2MB/s"`
	// Burst is how much may leave at once above the rate; 64KiB when
	// empty. Less than a TCP segment offload (64KiB) costs accuracy.
	Burst experiment.Size `yaml:"burst" json:"burst,omitempty" doc:"how much may leave at once above the rate (default 64KiB)"`
}

// Kind returns "bandwidth".
func (*Bandwidth) Kind() string { return "bandwidth" }

const defaultBurst = 64 << 10

// Validate requires a rate, egress and no percent.
func (f *Bandwidth) Validate() error {
	s, err := f.compile(Egress)
	if err == nil {
		err = s.loopbackSides(true)
	}
	if err != nil {
		return err
	}
	switch {
	case f.Rate == 0:
		return errors.New("rate is required, such as 10mbit or 2MB/s")
	case f.Rate < 8000:
		return fmt.Errorf("rate %s is below 8kbit, the least the shaper keeps to", f.Rate)
	case f.Rate/8 > math.MaxUint32:
		return fmt.Errorf("rate %s is above 34gbit, the most the shaper can hold", f.Rate)
	case s.dir != Egress:
		return fmt.Errorf("direction %s: bandwidth shapes egress only (what the target sends)", s.dir)
	case f.Percent != nil:
		return errors.New("percent does not apply to bandwidth: the rate holds for all the selected traffic")
	case f.Burst < 0 || f.Burst > 64<<20:
		return fmt.Errorf("burst %d bytes: use 1500 to 64MiB", f.Burst)
	case f.Burst > 0 && f.Burst < 1500:
		return fmt.Errorf("burst %d bytes is below one packet (1500)", f.Burst)
	}
	return nil
}

// shapeConfig is what a bandwidth fault puts on each device.
type shapeConfig struct {
	rate  uint64 // bytes per second
	burst uint32 // bytes
	// sel picks the devices: the one that routes to its host, else all.
	sel selector
	// classify is set when only the selected traffic is shaped, by the
	// rules of the fault's table.
	classify bool
}

func (c *shapeConfig) describe(handle uint32) []string {
	where := "each device that is up"
	if hs := c.sel.hosts(); len(hs) > 0 {
		var to []string
		for _, p := range hs {
			if p.IsSingleIP() {
				to = append(to, "the device that routes to "+p.Addr().String())
			} else {
				to = append(to, "the devices that route into "+p.String())
			}
		}
		where = strings.Join(to, ", ")
	}
	what := "all traffic"
	if c.classify {
		what = fmt.Sprintf("the packets of priority %x:%x, the rest unshaped", handle>>16, handle&0xffff)
	}
	return []string{fmt.Sprintf("qdisc htb %x: root on %s, class %x:%x rate %s burst %d: %s",
		handle>>16, where, handle>>16, handle&0xffff, Bitrate(c.rate*8), c.burst, what)}
}

func (f *Bandwidth) build(b *build) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, _ := f.compile(Egress)
	burst := uint32(f.Burst)
	if burst == 0 {
		burst = defaultBurst
	}
	b.shape = &shapeConfig{rate: uint64(f.Rate) / 8, burst: burst, sel: s, classify: s.port != 0 || s.protos != nil || len(s.hosts()) > 0}
	if b.shape.classify {
		h := hook{"shape", nftables.ChainHookPostrouting, nftables.ChainPriorityMangle, nftables.ChainTypeFilter}
		for _, m := range s.matches(rule{}, Egress) {
			b.tables.addFor(m, h, setPriority(m.rule, b.handle))
		}
	}
	return nil
}

// applyShape roots the fault's HTB on its devices, then installs the
// classifying rules.
func applyShape(rec Record, b *build) error {
	c := b.shape
	major := b.handle &^ 0xffff
	err := rec.Namespace.netlink(func(h *netlink.Handle) error {
		links, err := shapedLinks(h, c.sel)
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := checkRoot(h, l, major); err != nil {
				return err
			}
		}
		for _, l := range links {
			a := l.Attrs()
			q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: a.Index, Handle: major, Parent: netlink.HANDLE_ROOT})
			if !c.classify {
				q.Defcls = b.handle & 0xffff
			}
			if err := h.QdiscAdd(q); err != nil {
				return fmt.Errorf("add qdisc htb %x: to %s: %w", major>>16, a.Name, err)
			}
			cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: a.Index, Parent: major, Handle: b.handle},
				netlink.HtbClassAttrs{Rate: c.rate * 8, Ceil: c.rate * 8, Buffer: c.burst, Cbuffer: c.burst})
			if err := h.ClassAdd(cl); err != nil {
				h.QdiscDel(q) // a qdisc without its class would shape nothing
				return fmt.Errorf("add class %x:%x to %s: %w", major>>16, b.handle&0xffff, a.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return installTables(rec.Namespace, rec.Table, &b.tables)
}

// shapedLinks returns the devices a bandwidth fault shapes: those of the
// route to each host, and for a network, those of every route into it
// too (a container on two networks reaches parts of 10.0.0.0/8 by each).
func shapedLinks(h *netlink.Handle, s selector) ([]netlink.Link, error) {
	if hs := s.hosts(); len(hs) > 0 {
		var links []netlink.Link
		add := func(index int, to string) error {
			if slices.ContainsFunc(links, func(o netlink.Link) bool { return o.Attrs().Index == index }) {
				return nil
			}
			l, err := h.LinkByIndex(index)
			if err != nil {
				return fmt.Errorf("device of the route to %s: %w", to, err)
			}
			links = append(links, l)
			return nil
		}
		for _, p := range hs {
			routes, err := h.RouteGet(net.IP(p.Addr().AsSlice()))
			if err != nil {
				return nil, fmt.Errorf("find the route to %s: %w", p.Addr(), err)
			}
			if len(routes) == 0 {
				return nil, fmt.Errorf("no route to %s", p.Addr())
			}
			for _, r := range routes {
				if err := add(r.LinkIndex, p.Addr().String()); err != nil {
					return nil, err
				}
			}
			if p.IsSingleIP() {
				continue
			}
			fam := netlink.FAMILY_V4
			if p.Addr().Is6() {
				fam = netlink.FAMILY_V6
			}
			all, err := dump(func() ([]netlink.Route, error) { return h.RouteList(nil, fam) })
			if err != nil {
				return nil, fmt.Errorf("list the routes into %s: %w", p, err)
			}
			for _, r := range all {
				if r.Dst == nil || r.LinkIndex == 0 {
					continue // the default route: RouteGet found it if it leads into p
				}
				dst, ok := netip.AddrFromSlice(r.Dst.IP)
				ones, _ := r.Dst.Mask.Size()
				if ok && netip.PrefixFrom(dst.Unmap(), ones).Overlaps(p) {
					if err := add(r.LinkIndex, r.Dst.String()); err != nil {
						return nil, err
					}
				}
			}
		}
		return links, nil
	}
	all, err := linkList(h)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var links []netlink.Link
	for _, l := range all {
		if a := l.Attrs(); a.Flags&net.FlagUp != 0 && a.Index != 1 {
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		return nil, errors.New("no network device is up to shape")
	}
	return links, nil
}

// checkRoot refuses a device whose root qdisc was set by someone: the
// fault would replace it, and the kernel would not put it back.
func checkRoot(h *netlink.Handle, l netlink.Link, major uint32) error {
	qs, err := dump(func() ([]netlink.Qdisc, error) { return h.QdiscList(l) })
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT || a.Handle == 0 {
			continue
		}
		if a.Handle == major {
			return fmt.Errorf("device %s is shaped already by another bandwidth fault of this run: one per device", l.Attrs().Name)
		}
		return fmt.Errorf("device %s has a root qdisc %s %x: that someone set up: bandwidth would replace it, so it leaves it alone", l.Attrs().Name, q.Type(), a.Handle>>16)
	}
	return nil
}

// ownedQdisc reports whether the root qdisc of the fault's handle on l is
// the fault's: it holds the fault's class, or no class at all (the fault
// was stopped between adding its qdisc and its class, and a qdisc left so
// would shape nothing and keep every later bandwidth fault off the
// device).
func ownedQdisc(h *netlink.Handle, l netlink.Link, handle uint32) bool {
	cs, err := dump(func() ([]netlink.Class, error) { return h.ClassList(l, handle&0xffff0000) })
	if err != nil {
		return false
	}
	return len(cs) == 0 || slices.ContainsFunc(cs, func(c netlink.Class) bool { return c.Attrs().Handle == handle })
}

// deleteQdiscs deletes the root qdiscs that match, on every device.
func deleteQdiscs(h *netlink.Handle, match func(handle uint32, h *netlink.Handle, l netlink.Link) bool) ([]string, error) {
	links, err := linkList(h)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var names []string
	for _, l := range links {
		qs, err := dump(func() ([]netlink.Qdisc, error) { return h.QdiscList(l) })
		if err != nil {
			return names, fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
		}
		for _, q := range qs {
			a := q.Attrs()
			if a.Parent != netlink.HANDLE_ROOT || a.Handle == 0 || !match(a.Handle, h, l) {
				continue
			}
			if err := h.QdiscDel(q); err != nil {
				return names, fmt.Errorf("delete qdisc %x: of %s: %w", a.Handle>>16, l.Attrs().Name, err)
			}
			names = append(names, fmt.Sprintf("qdisc %s %x:", l.Attrs().Name, a.Handle>>16))
		}
	}
	return names, nil
}

// Bitrate is a rate in bits per second, written as 10mbit, 500kbit,
// 1gbit or 100bit (powers of 1000), or in bytes as 2MB/s, 512KiB/s.
type Bitrate uint64

var bitrateUnits = []struct {
	suffix string
	bits   float64
}{
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"GiB/s", 8 << 30}, {"MiB/s", 8 << 20}, {"KiB/s", 8 << 10},
	{"GB/s", 8e9}, {"MB/s", 8e6}, {"KB/s", 8e3}, {"B/s", 8},
}

// ParseBitrate reads a rate such as 10mbit or 2MB/s.
func ParseBitrate(s string) (Bitrate, error) {
	t := strings.TrimSpace(s)
	for _, u := range bitrateUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) || n*u.bits > math.MaxInt64 {
			break
		}
		return Bitrate(math.Round(n * u.bits)), nil
	}
	return 0, fmt.Errorf("%q is not a rate: use 10mbit, 500kbit, 1gbit or 2MB/s", s)
}

// String writes the rate in the largest unit of bits that keeps it whole.
func (r Bitrate) String() string {
	for _, u := range bitrateUnits[:4] {
		if b := uint64(u.bits); uint64(r) >= b && uint64(r)%b == 0 {
			return strconv.FormatUint(uint64(r)/b, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

// UnmarshalYAML reads a rate from a scalar.
func (r *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a rate such as 10mbit")
	}
	return r.UnmarshalText([]byte(n.Value))
}

// MarshalText writes the rate as String does.
func (r Bitrate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a rate written as ParseBitrate reads it.
func (r *Bitrate) UnmarshalText(b []byte) error {
	v, err := ParseBitrate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
