package network

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// udpPacket builds an IPv4 UDP packet with a correct checksum, computed
// here in another way than setL4Checksum: as the sum of 32-bit words.
func udpPacket(payload []byte) []byte {
	pkt := make([]byte, 28+len(payload))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8], pkt[9] = 64, 17
	copy(pkt[12:], []byte{10, 201, 0, 1, 10, 201, 0, 2})
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], 53)
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(payload)))
	copy(pkt[28:], payload)
	binary.BigEndian.PutUint16(pkt[26:], ^fold(pkt))
	return pkt
}

// fold is the ones' complement sum of a UDP packet's pseudo-header and
// segment, checksum field included.
func fold(pkt []byte) uint16 {
	seg := append([]byte(nil), pkt[20:]...)
	pseudo := append(append([]byte(nil), pkt[12:20]...), 0, 17, byte(len(seg)>>8), byte(len(seg)))
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
	for range 200 {
		pkt := udpPacket(payload)
		if fold(pkt) != 0xffff {
			t.Fatalf("test packet has a bad checksum")
		}
		for _, fix := range []bool{false, true} {
			out := corrupt(pkt, rng.IntN, fix)
			if out == nil {
				t.Fatal("corrupt() = nil for a packet with a payload")
			}
			flipped := 0
			for i := range out {
				if i == 26 || i == 27 {
					continue // the checksum
				}
				flipped += bits.OnesCount8(out[i] ^ pkt[i])
				if out[i] != pkt[i] && i < 28 {
					t.Fatalf("byte %d of the headers changed", i)
				}
			}
			if flipped != 1 {
				t.Fatalf("%d bits flipped; want 1", flipped)
			}
			if valid := fold(out) == 0xffff; valid != fix {
				t.Fatalf("fix=%v: checksum valid = %v", fix, valid)
			}
		}
	}
	if out := corrupt(udpPacket(nil), rng.IntN, true); out != nil {
		t.Errorf("corrupt() of an empty datagram = %x; want nil", out)
	}
	if out := corrupt(udpPacket(payload)[:30], rng.IntN, true); out != nil {
		t.Errorf("corrupt() of a truncated copy = %x; want nil", out)
	}
}
