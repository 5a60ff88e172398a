package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Latency holds each selected packet for Delay, plus or minus a Jitter
// drawn uniformly for each packet, for any protocol (TCP, UDP, DNS...)
// and for connections opened before the fault as well as new ones. With
// jitter, packets overtake each other, as with netem.
//
// Its direction is ingress unless set: holding what the target receives
// from the dependency adds Delay to every round trip, as holding what it
// sends would, without slowing a TCP sender down, which holding its own
// packets does (they still count against its socket). Set egress for
// one-way delays of what the target sends (UDP, or when the target only
// receives).
//
// Packets are queued to this process (NFQUEUE, with bypass): should chaos
// die, the ones it held are lost and the rest pass undelayed until the
// rule is removed. A packet that finds maxQueueLen packets held passes
// at once; the revert then returns an *Unheld that says how many did.
type Latency struct {
	Filter `yaml:",inline"`
	Delay  time.Duration `yaml:"delay" json:"delay" doc:"how long each packet is held"`
	Jitter time.Duration `yaml:"jitter" json:"jitter,omitempty" doc:"a random amount, up to this, added to or taken from the delay of each packet"`
}

// Kind returns "latency".
func (*Latency) Kind() string { return "latency" }

// maxHold bounds a delay: a packet held for longer is late enough to be
// lost, and the kernel holds every one of them meanwhile.
const maxHold = time.Minute

// Validate requires a delay.
func (f *Latency) Validate() error {
	s, err := f.compile(Ingress)
	if err == nil {
		err = s.loopbackSides(true)
	}
	if err != nil {
		return err
	}
	switch {
	case f.Delay < 0 || f.Jitter < 0:
		return errors.New("delay and jitter are 0 or more")
	case f.Delay == 0 && f.Jitter == 0:
		return errors.New("delay is required: a latency of 0 would do nothing")
	case f.Jitter > f.Delay:
		return fmt.Errorf("jitter %v is more than delay %v: a packet cannot leave before it arrived", f.Jitter, f.Delay)
	case f.Delay+f.Jitter > maxHold:
		return fmt.Errorf("delay %v with jitter %v is over %v: that is a blackhole, not a latency", f.Delay, f.Jitter, maxHold)
	}
	return nil
}

func (f *Latency) build(b *build) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, _ := f.compile(Ingress)
	b.holdPackets(s, holdConfig{delay: f.Delay, jitter: f.Jitter})
	return nil
}

// Reorder holds Percent of the selected packets back by Delay (10ms when
// empty) and lets the others through at once, so that they overtake the
// held ones, as netem's reorder does. Percent is required; the direction
// is ingress unless set, for the reasons given for Latency.
type Reorder struct {
	Filter `yaml:",inline"`
	Delay  time.Duration `yaml:"delay" json:"delay,omitempty" doc:"how long the held packets are held (default 10ms)"`
}

// Kind returns "reorder".
func (*Reorder) Kind() string { return "reorder" }

// Validate requires a percent below 100%.
func (f *Reorder) Validate() error {
	s, err := f.compile(Ingress)
	if err == nil {
		err = s.loopbackSides(true)
	}
	switch {
	case err != nil:
		return err
	case f.Percent == nil:
		return errors.New("percent is required: the share of packets held back, such as 25%")
	case s.all():
		return errors.New("percent 100% holds every packet back by the same delay: nothing overtakes; that is a latency")
	case f.Delay < 0 || f.Delay > maxHold:
		return fmt.Errorf("delay %v: use more than 0 and at most %v", f.Delay, maxHold)
	}
	return nil
}

func (f *Reorder) build(b *build) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, _ := f.compile(Ingress)
	d := f.Delay
	if d == 0 {
		d = 10 * time.Millisecond
	}
	// The rule's percent picks the packets held; the rest are not queued.
	b.holdPackets(s, holdConfig{delay: d})
	return nil
}

// Corrupt flips one random bit in the payload of the selected TCP and UDP
// packets (Percent of them when set). By default the checksum is left
// as it was, so that the receiving kernel drops the packet and counts a
// checksum error, as it does with most damage on a real link;
// ValidChecksum makes the checksum right again, so that the damaged bytes
// reach the application. Packets without payload (pure TCP
// acknowledgements) pass unchanged. Its direction is egress unless set.
type Corrupt struct {
	Filter        `yaml:",inline"`
	ValidChecksum bool `yaml:"valid_checksum" json:"valid_checksum,omitempty" doc:"make the checksum right again, so that the damaged bytes reach the application"`
}

// Kind returns "corrupt".
func (*Corrupt) Kind() string { return "corrupt" }

// Validate checks the filter.
func (f *Corrupt) Validate() error {
	s, err := f.compile(Egress)
	if err != nil {
		return err
	}
	return s.loopbackSides(true)
}

func (f *Corrupt) build(b *build) error {
	s, err := f.compile(Egress)
	if err != nil {
		return err
	}
	b.holdPackets(s, holdConfig{corrupt: true, validChecksum: f.ValidChecksum})
	return nil
}

// Duplicate sends a second copy of the selected packets (Percent of them
// when set), in the kernel: on egress the copy goes to the same next hop,
// on ingress it is looped back to the target's own stack. Its direction is
// egress unless set.
type Duplicate struct {
	Filter `yaml:",inline"`
}

// Kind returns "duplicate".
func (*Duplicate) Kind() string { return "duplicate" }

// Validate checks the filter.
func (f *Duplicate) Validate() error {
	s, err := f.compile(Egress)
	if err != nil {
		return err
	}
	return s.loopbackSides(true)
}

func (f *Duplicate) build(b *build) error {
	s, err := f.compile(Egress)
	if err != nil {
		return err
	}
	out := hook{"dup_out", nftables.ChainHookPostrouting, nftables.ChainPriorityMangle, nftables.ChainTypeFilter}
	if s.dir.egress() {
		for _, m := range s.matches(s.notLoopback(rule{}, expr.MetaKeyOIF, "oif"), Egress) {
			b.tables.addFor(m, out, dupToNexthop(s.sample(m.rule), m.fam))
		}
	}
	if s.dir.ingress() && s.loopback() {
		// What the target receives on lo it sent there: it is copied as
		// it leaves, where the kernel never copies a copy again (on
		// prerouting the copy would come back through lo and be copied
		// again). A packet the egress rules took is drawn once, by them.
		if s.dir.egress() {
			for _, m := range s.matches(rule{}, Egress) {
				b.tables.addFor(m, out, ret(m.rule))
			}
		}
		for _, m := range s.matches(rule{}, Ingress) {
			b.tables.addFor(m, out, dupToNexthop(s.sample(m.rule), m.fam))
		}
		return nil
	}
	if s.dir.ingress() {
		// The copy comes back through prerouting on lo: never on lo, or
		// the copies would be copied again.
		h := hook{"dup_in", nftables.ChainHookPrerouting, nftables.ChainPriorityRaw, nftables.ChainTypeFilter}
		base := rule{}.and(`iif != "lo"`, &expr.Meta{Key: expr.MetaKeyIIF, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)})
		for _, m := range s.matches(base, Ingress) {
			b.tables.addFor(m, h, dupToLocal(s.sample(m.rule), m.fam))
		}
	}
	return nil
}

// corrupt returns a copy of the IPv4 or IPv6 packet pkt with one random
// bit of its TCP or UDP payload flipped, and its checksum made right again
// when fix is set; nil when it has no payload to damage, was not copied
// whole, or (IPv6) has extension headers before its TCP or UDP header.
func corrupt(pkt []byte, intN func(int) int, fix bool) []byte {
	ip, ok := parseIP(pkt)
	if !ok {
		return nil
	}
	var hdr int
	switch ip.proto {
	case unix.IPPROTO_UDP:
		hdr = 8
	case unix.IPPROTO_TCP:
		if ip.total < ip.hlen+20 {
			return nil
		}
		hdr = int(pkt[ip.hlen+12]>>4) * 4
	default:
		return nil
	}
	start := ip.hlen + hdr
	if start >= ip.total {
		return nil
	}
	out := append([]byte(nil), pkt[:ip.total]...)
	out[start+intN(ip.total-start)] ^= 1 << intN(8)
	if fix {
		setL4Checksum(out)
	}
	return out
}

// ipHeader is what corrupt needs of an IP header.
type ipHeader struct {
	hlen, total int   // header and packet length
	proto       uint8 // what follows the header
	addrs       []byte
}

// parseIP reads the header of an IPv4 or IPv6 packet that pkt holds
// whole.
func parseIP(pkt []byte) (ipHeader, bool) {
	var h ipHeader
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		h.hlen = int(pkt[0]&0x0f) * 4
		h.total = int(binary.BigEndian.Uint16(pkt[2:4]))
		h.proto = pkt[9]
		h.addrs = pkt[12:20]
		if h.hlen < 20 {
			return h, false
		}
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		h.hlen = 40
		h.total = 40 + int(binary.BigEndian.Uint16(pkt[4:6]))
		h.proto = pkt[6]
		h.addrs = pkt[8:40]
	default:
		return h, false
	}
	return h, h.total <= len(pkt) && h.total >= h.hlen
}

// setL4Checksum computes the TCP or UDP checksum of an IPv4 or IPv6
// packet in full (RFC 768, RFC 793, RFC 8200: over the pseudo-header and
// the segment).
func setL4Checksum(pkt []byte) {
	ip, _ := parseIP(pkt)
	seg := pkt[ip.hlen:ip.total]
	off := 16
	if ip.proto == unix.IPPROTO_UDP {
		off = 6
	}
	seg[off], seg[off+1] = 0, 0
	sum := uint32(ip.proto) + uint32(len(seg))
	sum = add16(sum, ip.addrs)
	sum = add16(sum, seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	cs := ^uint16(sum)
	if cs == 0 && ip.proto == unix.IPPROTO_UDP {
		cs = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(seg[off:], cs)
}

func add16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}
