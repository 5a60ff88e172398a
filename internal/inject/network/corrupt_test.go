package network

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// udpPacket builds an IPv4 or IPv6 UDP packet with a correct checksum,
// computed here in another way than setL4Checksum: as the sum of 32-bit
// words. It returns the packet and the offset of its UDP header.
func udpPacket(payload []byte, six bool) ([]byte, int) {
	hl := 20
	if six {
		hl = 40
	}
	pkt := make([]byte, hl+8+len(payload))
	if six {
		pkt[0] = 0x60
		binary.BigEndian.PutUint16(pkt[4:], uint16(8+len(payload)))
		pkt[6], pkt[7] = 17, 64
		copy(pkt[8:], []byte{0xfd, 0, 0xc4, 0xa0, 15: 1, 16: 0xfd, 17: 0, 18: 0xc4, 19: 0xa0, 31: 2})
	} else {
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		pkt[8], pkt[9] = 64, 17
		copy(pkt[12:], []byte{10, 201, 0, 1, 10, 201, 0, 2})
	}
	binary.BigEndian.PutUint16(pkt[hl:], 40000)
	binary.BigEndian.PutUint16(pkt[hl+2:], 53)
	binary.BigEndian.PutUint16(pkt[hl+4:], uint16(8+len(payload)))
	copy(pkt[hl+8:], payload)
	binary.BigEndian.PutUint16(pkt[hl+6:], ^fold(pkt, six))
	return pkt, hl
}

// fold is the ones' complement sum of a UDP packet's pseudo-header and
// segment, checksum field included.
func fold(pkt []byte, six bool) uint16 {
	addrs, seg := pkt[12:20], pkt[20:]
	if six {
		addrs, seg = pkt[8:40], pkt[40:]
	}
	pseudo := append(append([]byte(nil), addrs...), 0, 0, byte(len(seg)>>8), byte(len(seg)), 0, 0, 0, 17)
	data := append(pseudo, seg...)
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	var sum uint64
	for i := 0; i < len(data); i += 4 {
		sum += uint64(binary.BigEndian.Uint32(data[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestCorrupt(t *testing.T) {
	payload := []byte("a datagram of some length, odd!")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, six := range []bool{false, true} {
		for range 200 {
			pkt, hl := udpPacket(payload, six)
			if fold(pkt, six) != 0xffff {
				t.Fatalf("six=%v: test packet has a bad checksum", six)
			}
			for _, fix := range []bool{false, true} {
				out := corrupt(pkt, rng.IntN, fix)
				if out == nil {
					t.Fatalf("six=%v: corrupt() = nil for a packet with a payload", six)
				}
				flipped := 0
				for i := range out {
					if i == hl+6 || i == hl+7 {
						continue // the checksum
					}
					flipped += bits.OnesCount8(out[i] ^ pkt[i])
					if out[i] != pkt[i] && i < hl+8 {
						t.Fatalf("six=%v: byte %d of the headers changed", six, i)
					}
				}
				if flipped != 1 {
					t.Fatalf("six=%v: %d bits flipped; want 1", six, flipped)
				}
				if valid := fold(out, six) == 0xffff; valid != fix {
					t.Fatalf("six=%v fix=%v: checksum valid = %v", six, fix, valid)
				}
			}
		}
		empty, _ := udpPacket(nil, six)
		if out := corrupt(empty, rng.IntN, true); out != nil {
			t.Errorf("six=%v: corrupt() of an empty datagram = %x; want nil", six, out)
		}
		full, hl := udpPacket(payload, six)
		if out := corrupt(full[:hl+10], rng.IntN, true); out != nil {
			t.Errorf("six=%v: corrupt() of a truncated copy = %x; want nil", six, out)
		}
	}
	// An IPv6 packet with an extension header (hop-by-hop) before UDP is
	// left alone rather than damaged in the wrong place.
	pkt, _ := udpPacket(payload, true)
	pkt[6] = 0
	if out := corrupt(pkt, rng.IntN, true); out != nil {
		t.Errorf("corrupt() of a packet with an extension header = %x; want nil", out)
	}
}
