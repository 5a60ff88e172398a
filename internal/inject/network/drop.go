package network

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Blackhole drops the selected packets without a word to either end, as
// a cable pulled out would: connections time out. Its direction is both
// unless set.
type Blackhole struct {
	Filter `yaml:",inline"`
}

// Kind returns "blackhole".
func (*Blackhole) Kind() string { return "blackhole" }

// Validate checks the filter.
func (f *Blackhole) Validate() error {
	s, err := f.compile(Both)
	if err != nil {
		return err
	}
	return s.loopbackSides(false)
}

func (f *Blackhole) build(b *build) error {
	s, err := f.compile(Both)
	if err != nil {
		return err
	}
	b.drops(s)
	return nil
}

// Loss drops Percent of the selected packets, each drawn at random, as a
// lossy link does; the sender gets no error. Its direction is egress
// unless set; percent is required.
type Loss struct {
	Filter `yaml:",inline"`
}

// Kind returns "loss".
func (*Loss) Kind() string { return "loss" }

// Validate requires a percent.
func (f *Loss) Validate() error {
	if f.Percent == nil {
		return errors.New("percent is required: the share of packets lost, such as 30%")
	}
	s, err := f.compile(Egress)
	if err != nil {
		return err
	}
	return s.loopbackSides(true)
}

func (f *Loss) build(b *build) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, _ := f.compile(Egress)
	b.drops(s)
	return nil
}

// Partition cuts the target off from Peers: every packet to or from them
// is dropped (Direction both, the default), or only those the target
// sends to them (egress) or receives from them (ingress). Peers are the
// addresses of the other side, such as those of another set of targets.
// Port, Protocol and Percent narrow it as they do the other faults'
// filters: to one port of the peers, one protocol, a share of the
// packets.
type Partition struct {
	// Peers are IPv4 or IPv6 addresses or networks, or names of containers, each
	// of which stands for its addresses on all its networks (see Names).
	Peers     []string            `yaml:"peers" json:"peers" doc:"the IPv4 or IPv6 addresses or networks the target is cut off from, or containers' names, each standing for its addresses on its networks"`
	Port      int                 `yaml:"port" json:"port,omitempty" doc:"the peers' port, 1 to 65535 (default: any)"`
	Protocol  string              `yaml:"protocol" json:"protocol,omitempty" doc:"tcp or udp (default: any; tcp and udp with a port)"`
	Direction Direction           `yaml:"direction" json:"direction,omitempty" doc:"both (default), egress (only what the target sends to the peers) or ingress (only what it receives from them)"`
	Percent   *experiment.Percent `yaml:"percent" json:"percent,omitempty" doc:"the share of the selected packets dropped, each drawn at random (default: all)"`

	// local are the addresses of the fault's namespace (see Filter).
	local []netip.Addr
}

// Kind returns "partition".
func (*Partition) Kind() string { return "partition" }

// Validate requires at least one peer, and checks the filter.
func (f *Partition) Validate() error {
	_, err := f.selectors()
	return err
}

// filter is the filter of the partition with one peer.
func (f *Partition) filter(peer string) *Filter {
	return &Filter{Host: peer, Port: f.Port, Protocol: f.Protocol, Direction: f.Direction, Percent: f.Percent, local: f.local}
}

func (f *Partition) selectors() ([]selector, error) {
	if _, err := f.filter("").compile(Both); err != nil {
		return nil, err
	}
	if len(f.Peers) == 0 {
		return nil, errors.New("peers is required: the addresses or containers on the other side of the partition")
	}
	var out []selector
	for i, p := range f.Peers {
		if p == "" {
			return nil, fmt.Errorf("peers[%d]: empty", i)
		}
		s, err := f.filter(p).compile(Both)
		if err == nil {
			err = s.loopbackSides(false)
		}
		if err != nil {
			return nil, fmt.Errorf("peers[%d]: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func (f *Partition) build(b *build) error {
	ss, err := f.selectors()
	if err != nil {
		return err
	}
	for _, s := range ss {
		b.drops(s)
	}
	return nil
}

// drops adds rules that drop s's packets. Egress drops go on each
// device's egress hook: a drop there is silent, as loss on the wire is,
// where a drop on the output or postrouting hook makes the sending
// application's send fail with EPERM. Ingress drops go on prerouting
// before conntrack, so that dropped packets leave no state.
func (b *build) drops(s selector) {
	if s.dir.egress() {
		b.tables.egressSel = append(b.tables.egressSel, s)
		for _, m := range s.netdevMatches(Egress) {
			b.tables.addEgress(m, drop(s.sample(m.rule)))
		}
		b.tables.loopback = b.tables.loopback || s.loopback()
	}
	if s.dir.ingress() {
		h := hook{"ingress", nftables.ChainHookPrerouting, nftables.ChainPriorityRaw, nftables.ChainTypeFilter}
		for _, m := range s.matches(s.notLoopback(rule{}, expr.MetaKeyIIF, "iif"), Ingress) {
			b.tables.addFor(m, h, drop(s.sample(m.rule)))
		}
	}
}
