package tracer

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/decode"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

func udpFrame(t *testing.T, ttl uint8, id uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 200, 1, 2}, DstIP: net.IP{10, 200, 2, 2}}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// firstCopies (with keepLen): a packet's first copy is kept, its copies on other devices
// are later ones, the same packet again on the first copy's device and
// direction is a new packet (a retransmission), and after the window a
// fingerprint is forgotten.
func TestFirstCopies(t *testing.T) {
	const ms = int64(time.Millisecond)
	f := newFirstCopies(100 * ms)
	var pkt decode.Packet
	big := make([]byte, 1000)
	p1, p1ttl := udpFrame(t, 64, 1, big), udpFrame(t, 63, 1, big) // one packet, before and after a router
	p2 := udpFrame(t, 64, 2, big)
	steps := []struct {
		name    string
		frame   []byte
		at      int64
		ifindex int32
		dir     record.Direction
		later   bool
	}{
		{"first copy", p1, 0, 4, record.DirIn, false},
		{"on the bridge", p1, 1 * ms, 3, record.DirIn, true},
		{"routed, TTL lower", p1ttl, 2 * ms, 5, record.DirOut, true},
		{"another packet", p2, 3 * ms, 4, record.DirIn, false},
		{"retransmission on the first device", p1, 10 * ms, 4, record.DirIn, false},
		{"its copy on the bridge", p1, 11 * ms, 3, record.DirIn, true},
		{"long after", p1, 500 * ms, 3, record.DirIn, false},
		{"undecodable", []byte{1, 2, 3}, 501 * ms, 3, record.DirIn, false},
	}
	for _, s := range steps {
		want := len(s.frame)
		if s.later {
			want = CutLen
		}
		if got := keepLen(1, 0, s.frame, &pkt, func(fp uint64) bool { return f.later(fp, s.at, s.ifindex, s.dir) }); got != want {
			t.Errorf("%s: keeps %d bytes, want %d", s.name, got, want)
		}
	}
}

// TestSessionTrimsLaterCopies: in the NAT lab's host namespace each
// datagram is read three times (veth-c in, br0 in, up0 out); with
// TrimLaterCopies the first copy keeps all its bytes and the other two
// keep CutLen.
func TestSessionTrimsLaterCopies(t *testing.T) {
	l := lab.NewNAT(t)
	plan, err := NewPlan(Options{}, []Space{labSpace(t, l.Lab, lab.Host)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	s.TrimLaterCopies(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	full, trimmed := 0, 0
	done := make(chan error)
	go func() {
		_, err := s.Run(ctx, SinkFunc(func(b *Batch) error {
			var p decode.Packet
			return eachRecord(b.Records, func(h *record.Header, data []byte) {
				decode.Decode(h.HAType, h.VLANTCI, data, &p)
				if p.Proto != decode.ProtoUDP || p.DstPort != 9 {
					return
				}
				switch {
				case h.CapLen == h.OrigLen:
					full++
				case h.CapLen == CutLen:
					trimmed++
				default:
					t.Errorf("a copy of %d bytes kept %d", h.OrigLen, h.CapLen)
				}
			})
		}))
		done <- err
	}()
	const n = 20
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = make([]byte, 1000)
		payloads[i][0] = byte(i)
	}
	l.SendUDP(lab.Container, lab.OutsideIP, 9, time.Millisecond, payloads...)
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if full != n || trimmed != 2*n {
		t.Errorf("%d copies whole, %d trimmed; want %d and %d", full, trimmed, n, 2*n)
	}
}

// keepLen, cutting every frame (under load), keeps CutLen bytes of a long frame whose fingerprint they still
// give, and every byte of a short frame, of one it cannot decode, and of
// one whose fingerprint needs bytes past CutLen (the payload behind 304
// bytes of IPv6 destination options).
func TestKeepLenCut(t *testing.T) {
	var pkt decode.Packet
	long := udpFrame(t, 64, 1, make([]byte, 1000))
	deepV6 := func() []byte {
		f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}
		ip := make([]byte, 40)
		ip[0] = 0x60
		ip[6], ip[7] = 60, 64 // destination options next, hop limit
		ip[8], ip[23] = 0xfd, 1
		ip[24], ip[39] = 0xfd, 2
		opts := make([]byte, 304)
		opts[0], opts[1] = 17, 304/8-1 // UDP next
		opts[2], opts[3] = 1, 200      // PadN, and another over the rest
		opts[204], opts[205] = 1, 98
		udp := []byte{0x9c, 0x40, 0, 9, 0, 108, 0, 0}
		payload := make([]byte, 100)
		for i := range payload {
			payload[i] = byte(i)
		}
		plen := len(opts) + len(udp) + len(payload)
		ip[4], ip[5] = byte(plen>>8), byte(plen)
		return slices.Concat(f, ip, opts, udp, payload)
	}()
	if err := decode.Decode(1, 0, deepV6, &pkt); err != nil || !pkt.Valid {
		t.Fatalf("the IPv6 frame does not decode: %v", err)
	}
	for _, c := range []struct {
		name   string
		hatype uint16
		frame  []byte
		want   int
	}{
		{"long UDP", 1, long, CutLen},
		{"short UDP", 1, udpFrame(t, 64, 2, make([]byte, 100)), 142},
		{"undecodable", 0xfffe, long, len(long)},
		{"payload past the cut", 1, deepV6, len(deepV6)},
	} {
		if got := keepLen(c.hatype, 0, c.frame, &pkt, func(uint64) bool { return true }); got != c.want {
			t.Errorf("%s: keeps %d of %d bytes, want %d", c.name, got, len(c.frame), c.want)
		}
	}
}
