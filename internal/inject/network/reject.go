package network

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Reject refuses the selected packets at once: a TCP connection to the
// dependency is refused (ECONNREFUSED) and an open one is reset at its
// next packet. Its direction is egress unless set; on ingress the peer is
// answered instead, so that clients of a target that serves are refused.
//
// With names the answer: "reset" (TCP only), or an ICMP destination
// unreachable: "port-unreachable", "host-unreachable", "net-unreachable"
// or "admin-prohibited". The default is a reset for TCP and
// port-unreachable for everything else. A UDP sender sees the ICMP answer
// as ECONNREFUSED on its next receive, but unlike a real one the kernel
// also fails the send itself with EPERM.
type Reject struct {
	Filter `yaml:",inline"`
	With   string `yaml:"with" json:"with,omitempty" doc:"the answer: reset (TCP only), port-unreachable, host-unreachable, net-unreachable or admin-prohibited (default: reset for TCP, port-unreachable otherwise)"`
}

// Kind returns "reject".
func (*Reject) Kind() string { return "reject" }

// Validate checks With against the protocol.
func (f *Reject) Validate() error {
	s, err := f.compile(Egress)
	if err == nil {
		err = s.loopbackSides(false)
	}
	if err != nil {
		return err
	}
	switch _, icmp := icmpCodes[f.With]; {
	case f.With == "" || icmp:
	case f.With == "reset":
		if len(s.protos) != 1 || s.protos[0] != unix.IPPROTO_TCP {
			return fmt.Errorf("with reset needs protocol tcp: a reset only exists in TCP")
		}
	default:
		return fmt.Errorf("with %q: use reset, port-unreachable, host-unreachable, net-unreachable or admin-prohibited", f.With)
	}
	return nil
}

func (f *Reject) build(b *build) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, _ := f.compile(Egress)
	if s.dir.egress() {
		f.add(b, hook{"egress", nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter}, s, Egress)
	}
	if s.dir.ingress() {
		f.add(b, hook{"ingress", nftables.ChainHookInput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter}, s, Ingress)
	}
	return nil
}

func (f *Reject) add(b *build, h hook, s selector, dir Direction) {
	name := f.With
	if name == "" || name == "reset" {
		name = "port-unreachable"
	}
	key, word := expr.MetaKeyOIF, "oif"
	if dir == Ingress {
		key, word = expr.MetaKeyIIF, "iif"
	}
	for _, m := range s.matches(s.notLoopback(rule{}, key, word), dir) {
		switch {
		case f.With != "" && f.With != "reset":
			b.tables.addFor(m, h, rejectICMP(s.sample(m.rule), m.fam, name))
		case m.proto == unix.IPPROTO_TCP:
			b.tables.addFor(m, h, rejectTCPReset(s.sample(m.rule)))
		case m.proto == 0:
			// Any protocol: TCP gets a reset, the rest an ICMP answer.
			// Each packet meets one of the two rules, so that it is drawn
			// once.
			b.tables.addFor(m, h,
				rejectTCPReset(s.sample(l4proto(m.rule, unix.IPPROTO_TCP, expr.CmpOpEq))),
				rejectICMP(s.sample(l4proto(m.rule, unix.IPPROTO_TCP, expr.CmpOpNeq)), m.fam, name))
		default:
			b.tables.addFor(m, h, rejectICMP(s.sample(m.rule), m.fam, name))
		}
	}
}
