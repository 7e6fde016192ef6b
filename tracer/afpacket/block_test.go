package afpacket

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type frame struct {
	sec, nsec uint32
	origLen   uint32
	status    uint32
	vlanTCI   uint16
	vlanTPID  uint16
	proto     uint16
	ifindex   int32
	hatype    uint16
	pkttype   uint8
	data      []byte
}

// buildBlock lays frames out as the kernel's TPACKET_V3 code does: a block
// descriptor, then each tpacket3_hdr + sockaddr_ll + data at 16-byte-aligned
// offsets chained by tp_next_offset.
func buildBlock(size int, frames []frame) []byte {
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 3) // version
	le.PutUint32(b[blockStatusOff:], StatusUser)
	le.PutUint32(b[blockNumPktsOff:], uint32(len(frames)))
	const first = 48
	le.PutUint32(b[blockFirstPktOff:], first)
	off := first
	for i, f := range frames {
		h := b[off:]
		mac := 80 // tpacket3_hdr + sockaddr_ll, aligned, as the kernel computes for SOCK_RAW
		le.PutUint32(h[4:], f.sec)
		le.PutUint32(h[8:], f.nsec)
		le.PutUint32(h[12:], uint32(len(f.data)))
		le.PutUint32(h[16:], f.origLen)
		le.PutUint32(h[20:], f.status)
		le.PutUint16(h[24:], uint16(mac))
		le.PutUint32(h[32:], uint32(f.vlanTCI))
		le.PutUint16(h[36:], f.vlanTPID)
		sll := h[tpacket3HdrLen:]
		le.PutUint16(sll[0:], 17) // AF_PACKET
		binary.BigEndian.PutUint16(sll[2:], f.proto)
		le.PutUint32(sll[4:], uint32(f.ifindex))
		le.PutUint16(sll[8:], f.hatype)
		sll[10] = f.pkttype
		copy(h[mac:], f.data)
		next := (mac + len(f.data) + 15) &^ 15
		if i < len(frames)-1 {
			le.PutUint32(h[0:], uint32(next))
		}
		off += next
	}
	le.PutUint32(b[blockLenOff:], uint32(off))
	return b
}

func TestWalkBlock(t *testing.T) {
	frames := []frame{
		{sec: 1700000000, nsec: 123456789, origLen: 98, status: StatusUser, proto: 0x0800, ifindex: 7, hatype: 1, pkttype: PacketOutgoing, data: bytes.Repeat([]byte{0xaa}, 98)},
		{sec: 1700000000, nsec: 999999999, origLen: 1514, status: StatusUser | StatusVLANValid | StatusVLANTPIDValid, vlanTCI: 42, vlanTPID: 0x8100, proto: 0x86dd, ifindex: 1, hatype: 772, pkttype: PacketHost, data: bytes.Repeat([]byte{0xbb}, 64)},
		{sec: 1700000001, nsec: 0, origLen: 60, status: StatusUser | StatusLosing, proto: 0x0806, ifindex: 3, hatype: 65534, pkttype: PacketBroadcast, data: []byte{}},
	}
	var got []Packet
	n, err := walkBlock(buildBlock(4096, frames), new(Packet), func(p *Packet) {
		q := *p
		q.Data = bytes.Clone(p.Data)
		got = append(got, q)
	})
	if err != nil || n != len(frames) {
		t.Fatalf("walkBlock = %d, %v; want %d frames", n, err, len(frames))
	}
	var want []Packet
	for _, f := range frames {
		want = append(want, Packet{
			TimeNanos: int64(f.sec)*1e9 + int64(f.nsec), Ifindex: f.ifindex, PktType: f.pkttype, HAType: f.hatype,
			Proto: f.proto, Status: f.status, OrigLen: f.origLen, VLANTCI: f.vlanTCI, VLANTPID: f.vlanTPID, Data: f.data,
		})
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

func TestWalkBlockCorrupt(t *testing.T) {
	good := buildBlock(1024, []frame{{data: []byte("abcdef")}, {data: []byte("ghij")}})
	le := binary.LittleEndian
	cases := map[string]func(b []byte){
		"first offset past end": func(b []byte) { le.PutUint32(b[blockFirstPktOff:], 5000) },
		"too many packets":      func(b []byte) { le.PutUint32(b[blockNumPktsOff:], 1000) },
		"snaplen past end":      func(b []byte) { le.PutUint32(b[48+12:], 1<<30) },
		"mac past end":          func(b []byte) { le.PutUint16(b[48+24:], 60000) },
		"zero next offset":      func(b []byte) { le.PutUint32(b[48:], 0) },
	}
	for name, corrupt := range cases {
		b := bytes.Clone(good)
		corrupt(b)
		if _, err := walkBlock(b, new(Packet), func(*Packet) {}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := walkBlock(good[:10], new(Packet), func(*Packet) {}); err == nil {
		t.Error("short block: no error")
	}
}

func FuzzWalkBlock(f *testing.F) {
	f.Add(buildBlock(512, []frame{{data: []byte("x")}, {data: make([]byte, 100)}}))
	f.Add(buildBlock(256, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		walkBlock(b, new(Packet), func(p *Packet) {
			if len(p.Data) > len(b) {
				t.Fatalf("data longer than block")
			}
		})
	})
}

func BenchmarkWalkBlock(b *testing.B) {
	frames := make([]frame, 0, 1000)
	for i := 0; i < cap(frames); i++ {
		frames = append(frames, frame{origLen: 64, proto: 0x0800, ifindex: 3, hatype: 1, data: make([]byte, 64)})
	}
	block := buildBlock(1<<20, frames)
	var p Packet
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		walkBlock(block, &p, func(p *Packet) { n += len(p.Data) })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
}

// TestWalkBlockLosing: TPACKET_V3 marks the block, not its frames, when the
// socket lost frames; the block's first frame reports it.
func TestWalkBlockLosing(t *testing.T) {
	frames := []frame{{status: StatusUser, data: []byte("a")}, {status: StatusUser, data: []byte("b")}}
	for _, losing := range []bool{false, true} {
		b := buildBlock(1024, frames)
		if losing {
			binary.LittleEndian.PutUint32(b[blockStatusOff:], StatusUser|StatusLosing)
		}
		var got []bool
		if _, err := walkBlock(b, new(Packet), func(p *Packet) { got = append(got, p.Status&StatusLosing != 0) }); err != nil {
			t.Fatal(err)
		}
		if want := []bool{losing, false}; !slices.Equal(got, want) {
			t.Errorf("block losing %v: frames losing %v, want %v", losing, got, want)
		}
	}
}
