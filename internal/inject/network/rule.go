package network

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// rule is one nftables rule: its expressions, and the same in nft's
// words for people (dry runs, errors).
type rule struct {
	exprs []expr.Any
	words []string
}

// and returns r followed by one more piece. r itself is not changed, so
// that several rules can grow from one prefix.
func (r rule) and(words string, e ...expr.Any) rule {
	return rule{exprs: append(slices.Clip(r.exprs), e...), words: append(slices.Clip(r.words), words)}
}

func (r rule) String() string { return strings.Join(r.words, " ") }

// family is the address family of a table: a fault's rules for IPv4
// go into a table of the ip family, those for IPv6 into one of the ip6
// family, both with the fault's name.
type family uint8

const (
	v4 family = iota
	v6
)

var families = []family{v4, v6}

func (f family) String() string {
	if f == v6 {
		return "ip6"
	}
	return "ip"
}

func (f family) table() nftables.TableFamily {
	if f == v6 {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

func (f family) of(a netip.Addr) bool { return a.Is6() == (f == v6) }

// hook is where a base chain of the fault's tables sits.
type hook struct {
	name     string
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	typ      nftables.ChainType
}

// chain is a base chain of one of the fault's tables.
type chain struct {
	hook
	fam   family
	rules []rule
	nd    bool // neighbour discovery passes first
}

func (c *chain) hookName() string {
	switch *c.hook.hook {
	case *nftables.ChainHookPrerouting:
		return "prerouting"
	case *nftables.ChainHookInput:
		return "input"
	case *nftables.ChainHookOutput:
		return "output"
	case *nftables.ChainHookPostrouting:
		return "postrouting"
	}
	return fmt.Sprint(*c.hook.hook)
}

// tables is what a fault puts into nftables: base chains of a table of
// the ip family and of one of the ip6 family, and rules for a netdev
// table that get one egress chain per device. All have the fault's name.
type tables struct {
	chains   []*chain
	egress   []rule
	egressND bool // neighbour discovery passes first
	// loopback puts the egress rules on the loopback device too.
	loopback bool
	// egressSel are the selectors of the egress drops.
	egressSel []selector
}

func (t *tables) empty() bool { return len(t.chains) == 0 && len(t.egress) == 0 }

// chain returns the chain h of family fam, added the first time.
func (t *tables) chain(fam family, h hook) *chain {
	for _, c := range t.chains {
		if c.fam == fam && c.name == h.name {
			return c
		}
	}
	c := &chain{hook: h, fam: fam}
	t.chains = append(t.chains, c)
	return c
}

// addFor appends rules made from match m to the chain h of m's family.
// When m takes any protocol in IPv6, the chain first lets neighbour
// discovery pass (see neighbourDiscovery).
func (t *tables) addFor(m match, h hook, rules ...rule) {
	c := t.chain(m.fam, h)
	if m.fam == v6 && m.proto == 0 && !c.nd {
		c.rules = append([]rule{neighbourDiscovery(rule{})}, c.rules...)
		c.nd = true
	}
	c.rules = append(c.rules, rules...)
}

// addEgress is addFor for the netdev egress rules.
func (t *tables) addEgress(m match, r rule) {
	if m.fam == v6 && m.proto == 0 && !t.egressND {
		t.egress = append([]rule{neighbourDiscovery(netdevProto(v6))}, t.egress...)
		t.egressND = true
	}
	t.egress = append(t.egress, r)
}

// neighbourDiscovery adds "meta l4proto ipv6-icmp icmpv6 type 133-137
// return": router and neighbour solicitations and advertisements, and
// redirects, pass every IPv6 fault, as ARP passes the IPv4 ones (it is
// not IP). A blackhole of a host must not leave the target without the
// host's link address once it is gone, nor a latency delay finding it.
func neighbourDiscovery(r rule) rule {
	return r.and("meta l4proto ipv6-icmp icmpv6 type 133-137 return",
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{133}, ToData: []byte{137}},
		&expr.Verdict{Kind: expr.VerdictReturn})
}

// add appends rules to the chain h of family fam.
func (t *tables) add(fam family, h hook, rules ...rule) {
	c := t.chain(fam, h)
	c.rules = append(c.rules, rules...)
}

// has reports whether the tables have a table of family fam.
func (t *tables) has(fam family) bool {
	return slices.ContainsFunc(t.chains, func(c *chain) bool { return c.fam == fam })
}

// describe lists the tables in nft's words, one line per rule.
func (t *tables) describe(name string) []string {
	var out []string
	for _, fam := range families {
		for _, c := range t.chains {
			if c.fam != fam {
				continue
			}
			for _, r := range c.rules {
				out = append(out, fmt.Sprintf("%s %s %s (%s): %s", fam, name, c.name, c.hookName(), r))
			}
		}
	}
	for _, r := range t.egress {
		out = append(out, fmt.Sprintf("netdev %s egress (each device): %s", name, r))
	}
	return out
}

// queue queues the tables for the next Flush of c, the netdev rules once
// per device. Nothing reaches the kernel until c.Flush, which sends it all
// as one batch: a fault goes in, or fails, at once.
func (t *tables) queue(c *nftables.Conn, name string, devices []string) {
	for _, fam := range families {
		if !t.has(fam) {
			continue
		}
		tb := c.AddTable(&nftables.Table{Family: fam.table(), Name: name})
		for _, ch := range t.chains {
			if ch.fam != fam {
				continue
			}
			nc := c.AddChain(&nftables.Chain{Name: ch.name, Table: tb, Hooknum: ch.hook.hook, Priority: ch.priority, Type: ch.typ})
			for _, r := range ch.rules {
				c.AddRule(&nftables.Rule{Table: tb, Chain: nc, Exprs: r.exprs})
			}
		}
	}
	if len(t.egress) > 0 && len(devices) > 0 {
		tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: name})
		for _, dev := range devices {
			nc := c.AddChain(&nftables.Chain{Name: "egress_" + dev, Table: tb, Hooknum: nftables.ChainHookEgress,
				Priority: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Device: dev})
			for _, r := range t.egress {
				c.AddRule(&nftables.Rule{Table: tb, Chain: nc, Exprs: r.exprs})
			}
		}
	}
}

// Matches. A netdev chain sees every protocol, so its rules start with
// "meta protocol ip" or "meta protocol ip6"; a table of the ip family sees
// only IPv4, one of the ip6 family only IPv6.

func netdevProto(fam family) rule {
	proto := uint16(unix.ETH_P_IP)
	if fam == v6 {
		proto = unix.ETH_P_IPV6
	}
	return rule{}.and("meta protocol "+fam.String(),
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(proto)})
}

// match is a rule that selects packets, the family of the table it goes
// in, and the protocol it requires (0: any).
type match struct {
	rule
	fam   family
	proto uint8
}

// matches returns the rules that select s's packets in one direction
// (egress: to Host, ingress: from Host), each starting from base: one per
// protocol when a port is given for tcp and udp alike, in the family of
// each of s's networks, or in both families when s takes any address.
// The percent is not in them: see sample.
func (s selector) matches(base rule, dir Direction) []match {
	return s.matchesFrom(func(family) rule { return base }, dir)
}

// netdevMatches is matches for a netdev chain, whose rules start with the
// packet's protocol.
func (s selector) netdevMatches(dir Direction) []match {
	return s.matchesFrom(netdevProto, dir)
}

func (s selector) matchesFrom(base func(family) rule, dir Direction) []match {
	var out []match
	for _, fam := range s.families() {
		if len(s.prefixes) == 0 {
			out = append(out, s.matchesOf(base(fam), fam, dir)...)
			continue
		}
		for _, p := range s.prefixes {
			if fam.of(p.Addr()) {
				out = append(out, s.matchesOf(addrMatch(base(fam), p, dir), fam, dir)...)
			}
		}
	}
	return out
}

// families are the address families of s: both when it takes any
// address, else those of its networks.
func (s selector) families() []family {
	if len(s.prefixes) == 0 {
		return families
	}
	var out []family
	for _, fam := range families {
		if slices.ContainsFunc(s.prefixes, func(p netip.Prefix) bool { return fam.of(p.Addr()) }) {
			out = append(out, fam)
		}
	}
	return out
}

// addrMatch adds "ip daddr P" (egress) or "ip saddr P" (ingress), or
// their ip6 forms for an IPv6 network.
func addrMatch(r rule, p netip.Prefix, dir Direction) rule {
	if p.Bits() == 0 {
		return r
	}
	fam, size := v4, uint32(4)
	off, word := uint32(16), "daddr"
	if dir == Ingress {
		off, word = 12, "saddr"
	}
	if p.Addr().Is6() {
		fam, size, off = v6, 16, 24
		if dir == Ingress {
			off = 8
		}
	}
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}}
	if p.Bits() < p.Addr().BitLen() {
		mask := net.CIDRMask(p.Bits(), p.Addr().BitLen())
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)})
	}
	e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
	text := p.String()
	if p.IsSingleIP() {
		text = p.Addr().String()
	}
	return r.and(fam.String()+" "+word+" "+text, e...)
}

// matchesOf adds the protocol and port matches to r.
func (s selector) matchesOf(r rule, fam family, dir Direction) []match {
	if s.protos == nil {
		return []match{{rule: r, fam: fam}}
	}
	var out []match
	for _, p := range s.protos {
		pr := l4proto(r, p, expr.CmpOpEq)
		if s.port != 0 {
			off, word := uint32(2), "dport"
			if dir == Ingress {
				off, word = 0, "sport"
			}
			pr = pr.and(fmt.Sprintf("th %s %d", word, s.port),
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(s.port)})
		}
		out = append(out, match{rule: pr, fam: fam, proto: p})
	}
	return out
}

// l4proto adds "meta l4proto P" (op CmpOpEq) or "meta l4proto != P".
func l4proto(r rule, p uint8, op expr.CmpOp) rule {
	words := "meta l4proto " + protoName(p)
	if op == expr.CmpOpNeq {
		words = "meta l4proto != " + protoName(p)
	}
	return r.and(words,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: []byte{p}})
}

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return fmt.Sprint(p)
}

// sample adds "numgen random mod 10000 < N": the rule goes on for a share
// of the packets, drawn for each one. numgen leaves a host-order number
// in the register and cmp compares bytes, so it is turned big-endian
// first, as nft does.
func (s selector) sample(r rule) rule {
	if s.all() {
		return r
	}
	words := fmt.Sprintf("numgen random mod %d < %d", percentScale, s.per10000)
	if s.per10000%100 == 0 {
		words = fmt.Sprintf("numgen random mod 100 < %d", s.per10000/100)
	}
	return r.and(words,
		&expr.Numgen{Register: 1, Modulus: percentScale, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(s.per10000)})
}

// notLoopback adds "iif != lo" (the loopback device is index 1 in every
// namespace), unless s is about loopback addresses.
func (s selector) notLoopback(r rule, key expr.MetaKey, word string) rule {
	if s.loopback() {
		return r
	}
	return r.and(word+` != "lo"`,
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)})
}

// synOnly adds "tcp flags & (syn | ack) == syn": the first packet of a
// connection.
func synOnly(r rule) rule {
	return r.and("tcp flags & (syn | ack) == syn",
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}})
}

func markIs(r rule, mark uint32) rule {
	return r.and(fmt.Sprintf("meta mark 0x%08x", mark),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)})
}

func ctEstablished(r rule) rule {
	return r.and("ct state established",
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// Actions. Each rule counts what it hit, so that `nft list table` shows
// whether a fault meets traffic.

func counted(r rule) rule { return r.and("counter", &expr.Counter{}) }

func drop(r rule) rule {
	return counted(r).and("drop", &expr.Verdict{Kind: expr.VerdictDrop})
}

func ret(r rule) rule { return r.and("return", &expr.Verdict{Kind: expr.VerdictReturn}) }

func rejectTCPReset(r rule) rule {
	return counted(r).and("reject with tcp reset", &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
}

// rejectICMP answers with an ICMP (ICMPv6 in an ip6 table) destination
// unreachable of the code icmpCodes gives name.
func rejectICMP(r rule, fam family, name string) rule {
	codes, word := icmpCodes[name], "icmp"
	code := codes[0]
	if fam == v6 {
		code, word = codes[1], "icmpv6"
	}
	return counted(r).and("reject with "+word+" "+icmpNames[fam][name], &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code})
}

// icmpCodes are the ICMP and ICMPv6 codes of each answer a reject gives.
var icmpCodes = map[string][2]uint8{
	"net-unreachable":  {0, 0},  // ICMPv6: no route
	"host-unreachable": {1, 3},  // ICMPv6: address unreachable
	"port-unreachable": {3, 4},  // both
	"admin-prohibited": {13, 1}, // ICMP: communication prohibited by filtering
}

// icmpNames are nft's words for each answer.
var icmpNames = [2]map[string]string{
	v4: {"net-unreachable": "net-unreachable", "host-unreachable": "host-unreachable", "port-unreachable": "port-unreachable", "admin-prohibited": "admin-prohibited"},
	v6: {"net-unreachable": "no-route", "host-unreachable": "addr-unreachable", "port-unreachable": "port-unreachable", "admin-prohibited": "admin-prohibited"},
}

// Flags of struct xt_NFQ_info_v3.
const nfqBypass = 0x1 // accept while no program is bound to the queue

// queueTo adds the xtables NFQUEUE target (revision 3) through nft's
// compat layer: many kernels, this one among them, lack nft's own queue
// expression (CONFIG_NFT_QUEUE) but have nft_compat and xt_NFQUEUE, which
// is how iptables-nft queues too. With bypass, packets pass when no
// program is bound, so that a chaos that died blackholes nothing.
//
// The info is struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total;
// __u16 flags; } in host byte order, padded to 8 bytes (XT_ALIGN): the
// kernel refuses any other size.
func queueTo(r rule, num uint16) rule {
	info := make([]byte, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], nfqBypass)
	x := xt.Unknown(info)
	return counted(r).and(fmt.Sprintf("queue num %d bypass", num), &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &x})
}

// dupToLocal adds "dup to ip daddr device lo": a copy of a packet the
// target receives is looped back to its own stack. The copy comes through
// prerouting again, so ingress rules that duplicate must not match on lo.
// In an ip6 table it is "dup to ip6 daddr": the kernel finds no IPv6
// route to a local address through lo (its local routes are on the
// devices that hold the addresses), and without a device the copy is
// delivered locally all the same.
func dupToLocal(r rule, fam family) rule {
	if fam == v6 {
		return counted(r).and("dup to ip6 daddr",
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
			&expr.Dup{RegAddr: 1})
	}
	return counted(r).and(`dup to ip daddr device "lo"`,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Immediate{Register: 2, Data: binaryutil.NativeEndian.PutUint32(1)},
		&expr.Dup{RegAddr: 1, RegDev: 2, IsRegDevSet: true})
}

// dupToNexthop adds "dup to rt ip nexthop device oif" (rt ip6 nexthop in
// an ip6 table): a copy of a packet the target sends goes out the same
// way, to the next hop the routing chose for it (the gateway, or the
// destination on the link). The kernel does not duplicate the copy again.
func dupToNexthop(r rule, fam family) rule {
	key := expr.RtNexthop4
	if fam == v6 {
		key = expr.RtNexthop6
	}
	return counted(r).and(fmt.Sprintf("dup to rt %s nexthop device oif", fam),
		&expr.Rt{Register: 1, Key: key},
		&expr.Meta{Key: expr.MetaKeyOIF, Register: 2},
		&expr.Dup{RegAddr: 1, RegDev: 2, IsRegDevSet: true})
}

// setPriority adds "meta priority set MAJOR:MINOR", which sends the
// packet to that class of an HTB qdisc without any tc filter.
func setPriority(r rule, handle uint32) rule {
	return counted(r).and(fmt.Sprintf("meta priority set %x:%x", handle>>16, handle&0xffff),
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(handle)},
		&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1})
}

// redirectTo adds "redirect to :PORT" (to the loopback address, 127.0.0.1
// or ::1, on the output hook).
func redirectTo(r rule, port uint16) rule {
	words := fmt.Sprintf("redirect to :%d", port)
	if port == 0 {
		words = "redirect to :<proxy port>"
	}
	return counted(r).and(words,
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Redir{RegisterProtoMin: 1})
}

// bypass puts an accept at the head of chain, in c's batch: the chain's
// other rules no longer see a packet. Taking a fault's rules out this way
// is what the kernel does at once; deleting them (or their chain, or
// table) waits for every CPU to leave the old rules (an RCU grace
// period, 7-16ms measured on a 2-core machine), so a revert that must
// stop the rules before it can delete them bypasses them first.
func bypass(c *nftables.Conn, chain *nftables.Chain) {
	c.InsertRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
}
