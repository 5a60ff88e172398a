package network

import (
	"encoding/binary"
	"fmt"
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

// chain is a base chain of the fault's table.
type chain struct {
	name     string
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	typ      nftables.ChainType
	rules    []rule
}

func (c *chain) hookName() string {
	switch *c.hook {
	case *nftables.ChainHookPrerouting:
		return "prerouting"
	case *nftables.ChainHookInput:
		return "input"
	case *nftables.ChainHookOutput:
		return "output"
	case *nftables.ChainHookPostrouting:
		return "postrouting"
	}
	return fmt.Sprint(*c.hook)
}

// tables is what a fault puts into nftables: base chains of a table of
// the ip family, and rules for a netdev table that get one egress chain
// per device. Both tables have the fault's name.
type tables struct {
	ip     []*chain
	egress []rule
	// loopback puts the egress rules on the loopback device too.
	loopback bool
}

func (t *tables) empty() bool { return len(t.ip) == 0 && len(t.egress) == 0 }

// chain returns the ip chain of that name, added with the given hook the
// first time.
func (t *tables) chain(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority, typ nftables.ChainType) *chain {
	for _, c := range t.ip {
		if c.name == name {
			return c
		}
	}
	c := &chain{name: name, hook: hook, priority: prio, typ: typ}
	t.ip = append(t.ip, c)
	return c
}

// describe lists the tables in nft's words, one line per rule.
func (t *tables) describe(name string) []string {
	var out []string
	for _, c := range t.ip {
		for _, r := range c.rules {
			out = append(out, fmt.Sprintf("ip %s %s (%s): %s", name, c.name, c.hookName(), r))
		}
	}
	for _, r := range t.egress {
		out = append(out, fmt.Sprintf("netdev %s egress (each device): %s", name, r))
	}
	return out
}

// add queues the tables for the next Flush of c, the netdev rules once per
// device. Nothing reaches the kernel until c.Flush, which sends it all as
// one batch: a fault goes in, or fails, at once.
func (t *tables) add(c *nftables.Conn, name string, devices []string) {
	if len(t.ip) > 0 {
		tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: name})
		for _, ch := range t.ip {
			nc := c.AddChain(&nftables.Chain{Name: ch.name, Table: tb, Hooknum: ch.hook, Priority: ch.priority, Type: ch.typ})
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
// "meta protocol ip"; a table of the ip family sees only IPv4.

func netdevIPv4() rule {
	return rule{}.and("meta protocol ip",
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)})
}

// match is a rule that selects packets, and the protocol it requires
// (0: any).
type match struct {
	rule
	proto uint8
}

// matches returns the rules that select s's packets in one direction
// (egress: to Host, ingress: from Host), starting from base: one per
// protocol when a port is given for tcp and udp alike. The percent is not
// in them: see sample.
func (s selector) matches(base rule, dir Direction) []match {
	if len(s.prefixes) == 0 {
		return s.matchesOf(base, dir)
	}
	var out []match
	for _, p := range s.prefixes {
		out = append(out, s.matchesOf(addrMatch(base, p, dir), dir)...)
	}
	return out
}

// addrMatch adds "ip daddr P" (egress) or "ip saddr P" (ingress).
func addrMatch(r rule, p netip.Prefix, dir Direction) rule {
	if p.Bits() == 0 {
		return r
	}
	off, word := uint32(16), "daddr"
	if dir == Ingress {
		off, word = 12, "saddr"
	}
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	if p.Bits() < 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	addr := p.Addr().As4()
	e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]})
	text := p.String()
	if p.IsSingleIP() {
		text = p.Addr().String()
	}
	return r.and("ip "+word+" "+text, e...)
}

// matchesOf adds the protocol and port matches to r.
func (s selector) matchesOf(r rule, dir Direction) []match {
	if s.protos == nil {
		return []match{{rule: r}}
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
		out = append(out, match{rule: pr, proto: p})
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

func rejectICMP(r rule, code uint8, name string) rule {
	return counted(r).and("reject with icmp "+name, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code})
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
func dupToLocal(r rule) rule {
	return counted(r).and(`dup to ip daddr device "lo"`,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Immediate{Register: 2, Data: binaryutil.NativeEndian.PutUint32(1)},
		&expr.Dup{RegAddr: 1, RegDev: 2, IsRegDevSet: true})
}

// dupToNexthop adds "dup to rt ip nexthop device oif": a copy of a packet
// the target sends goes out the same way, to the next hop the routing
// chose for it (the gateway, or the destination on the link). The kernel
// does not duplicate the copy again.
func dupToNexthop(r rule) rule {
	return counted(r).and("dup to rt ip nexthop device oif",
		&expr.Rt{Register: 1, Key: expr.RtNexthop4},
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

// redirectTo adds "redirect to :PORT" (to the primary loopback address,
// on the output hook).
func redirectTo(r rule, port uint16) rule {
	words := fmt.Sprintf("redirect to :%d", port)
	if port == 0 {
		words = "redirect to :<proxy port>"
	}
	return counted(r).and(words,
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Redir{RegisterProtoMin: 1})
}
