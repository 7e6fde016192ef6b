package correlate

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// bulk is a bytes of a TCP stream from src, starting at stream offset off.
func bulkSeg(t testing.TB, src string, ipid uint16, seq uint32, n int, psh bool) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: ipid, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP("10.200.2.2"), Flags: layers.IPv4DontFragment}
	tc := &layers.TCP{SrcPort: 40000, DstPort: 5001, Seq: seq, Ack: 777, ACK: true, PSH: psh, Window: 500}
	tc.SetNetworkLayerForChecksum(ip)
	payload := bytes.Repeat([]byte{byte(seq / 1000)}, n)
	for i := range payload {
		payload[i] = byte((int(seq) + i) * 7)
	}
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, tc, gopacket.Payload(payload))
}

// TestSegmented: a 4000-byte super-packet on the container's veth and the
// bridge, cut into four segments on the uplink (SNAT) that the outside
// receives: one trace of 2 + 8 hops, with the segments numbered.
func TestSegmented(t *testing.T) {
	const veth, br, up, outside = 1, 2, 3, 4
	in, out := record.DirIn, record.DirOut
	ss := []sight{
		{0, veth, in, t0, bulkSeg(t, "10.200.1.2", 100, 1000, 4000, true)},
		{0, br, in, t0 + 1*us, bulkSeg(t, "10.200.1.2", 100, 1000, 4000, true)},
	}
	for k := range 4 {
		seg := bulkSeg(t, "10.200.2.1", uint16(100+k), uint32(1000+1000*k), 1000, k == 3)
		ss = append(ss, sight{0, up, out, t0 + int64(10+k)*us, seg}, sight{1, outside, in, t0 + int64(20+k)*us, seg})
	}
	// Another packet of the same flow, not offloaded, and a retransmission
	// of the second segment on the bridge, later: traces of their own.
	ss = append(ss,
		sight{0, veth, in, t0 + 40*us, bulkSeg(t, "10.200.1.2", 104, 5000, 1000, true)},
		sight{0, up, out, t0 + 45*us, bulkSeg(t, "10.200.2.1", 104, 5000, 1000, true)},
		sight{0, br, in, t0 + 60*us, bulkSeg(t, "10.200.1.2", 105, 2000, 1000, false)},
	)
	c := New(Config{})
	recs, traces := feed(t, c, ss)
	for _, tr := range traces {
		t.Logf("trace %d: %v %q segs %d", tr.ID, path(tr), tr.Changes, tr.Segments)
	}
	if len(traces) != 3 {
		for _, tr := range traces {
			t.Logf("trace %d: %v %q", tr.ID, path(tr), tr.Changes)
		}
		t.Fatalf("%d traces, want 3", len(traces))
	}
	tr := traces[0]
	want := []hopID{{veth, in}, {br, in}, {up, out}, {up, out}, {up, out}, {up, out}, {outside, in}, {outside, in}, {outside, in}, {outside, in}}
	if diff := cmp.Diff(want, path(tr)); diff != "" {
		t.Fatalf("path (-want +got):\n%s", diff)
	}
	var segs []uint16
	for _, h := range tr.Hops {
		segs = append(segs, h.Segment)
	}
	if diff := cmp.Diff([]uint16{0, 0, 1, 2, 3, 4, 1, 2, 3, 4}, segs); diff != "" {
		t.Errorf("segment numbers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"SNAT 10.200.1.2→10.200.2.1", "segmented into 4"}, tr.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if tr.Segments != 4 {
		t.Errorf("Segments %d, want 4", tr.Segments)
	}
	// Every record of the family carries the trace id and its place in it.
	var hops []uint16
	for _, h := range recs {
		if h.TraceID == tr.ID {
			if h.Hops != 10 {
				t.Errorf("record hop %d of %d, want of 10", h.Hop, h.Hops)
			}
			hops = append(hops, h.Hop)
		}
	}
	if !slices.Equal(hops, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("records of the trace: hops %v", hops)
	}
	if n := len(traces[1].Hops); n != 2 || traces[1].Segments != 0 {
		t.Errorf("the packet that was not offloaded: %d hops, %d segments", n, traces[1].Segments)
	}
	if n := len(traces[2].Hops); n != 1 || traces[2].Segments != 0 {
		t.Errorf("the retransmission: %d hops, %d segments", n, traces[2].Segments)
	}
	if st := c.Stats(); st.Traces != 3 || st.Open != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCoalesced: four segments from the outside, glued into one packet by
// GRO on the receiving device: one trace, "coalesced from 4".
func TestCoalesced(t *testing.T) {
	const wire, gro = 1, 2
	in, out := record.DirIn, record.DirOut
	var ss []sight
	for k := range 4 {
		seg := bulkSeg(t, "10.200.1.2", uint16(100+k), uint32(1000+1000*k), 1000, k == 3)
		ss = append(ss, sight{0, wire, out, t0 + int64(k)*us, seg})
	}
	ss = append(ss, sight{1, gro, in, t0 + 10*us, bulkSeg(t, "10.200.1.2", 100, 1000, 4000, true)})
	// A retransmission of the second segment (a new IP id), a millisecond
	// later on the wire: a packet of its own, not a fifth piece.
	ss = append(ss, sight{0, wire, out, t0 + 1000*us, bulkSeg(t, "10.200.1.2", 200, 2000, 1000, false)})
	_, traces := feed(t, New(Config{}), ss)
	if len(traces) != 2 {
		for _, tr := range traces {
			t.Logf("trace %d: %v %q segs %d", tr.ID, path(tr), tr.Changes, tr.Segments)
		}
		t.Fatalf("%d traces, want 2", len(traces))
	}
	if r := traces[1]; len(r.Hops) != 1 || r.Segments != 0 {
		t.Errorf("the retransmission: %d hops, %d segments", len(r.Hops), r.Segments)
	}
	tr := traces[0]
	if len(tr.Hops) != 5 || tr.Segments != 4 || !slices.Equal(tr.Changes, []string{"coalesced from 4"}) || tr.Hops[0].Segment != 1 || tr.Hops[4].Segment != 0 {
		t.Errorf("trace: %d hops, %d segments, changes %q, hops %+v", len(tr.Hops), tr.Segments, tr.Changes, tr.Hops)
	}
}

// TestBulkNotOffloaded: a flow of MSS-sized packets with one ack number is
// one trace per packet, with nothing segmented or coalesced.
func TestBulkNotOffloaded(t *testing.T) {
	const a, b = 1, 2
	var ss []sight
	for k := range 300 {
		p := bulkSeg(t, "10.200.1.2", uint16(k), uint32(1000+1000*k), 1000, false)
		ss = append(ss, sight{0, a, record.DirOut, t0 + int64(k)*us, p}, sight{0, b, record.DirIn, t0 + int64(k)*us + 500, p})
	}
	_, traces := feed(t, New(Config{}), ss)
	if len(traces) != 300 {
		t.Fatalf("%d traces, want 300", len(traces))
	}
	for _, tr := range traces {
		if len(tr.Hops) != 2 || tr.Segments != 0 || len(tr.Changes) != 0 {
			t.Fatalf("trace %d: %d hops, %d segments, changes %q", tr.ID, len(tr.Hops), tr.Segments, tr.Changes)
		}
	}
}

// FuzzSegments feeds TCP packets of one flow and UDP datagrams of another
// whose ranges overlap, nest and repeat, on several devices, so that packets are segmented, coalesced and
// retransmitted in every order. Every sighting must come out exactly once,
// as the hop of its trace that its record says.
func FuzzSegments(f *testing.F) {
	f.Add([]byte{0, 0, 3, 1, 1, 0, 1, 1, 1, 2, 1, 1, 2, 0, 1, 1, 2, 2, 1, 1})
	f.Add([]byte{1, 0, 1, 0, 1, 1, 1, 0, 2, 0, 3, 9, 2, 4, 1, 1, 3, 0, 3, 0})
	f.Fuzz(fuzzSegmentsBody)
}

var segFrames = map[[3]uint8][]byte{} // built once: gopacket is slow

func fuzzSegmentsBody(t *testing.T, script []byte) {
	frames := segFrames
	c := New(Config{MaxTraces: 16, Window: time.Millisecond, Lag: time.Millisecond})
	at := t0
	added := 0
	for ; len(script) >= 4; script = script[4:] {
		dev, seq, size := script[0]%4, script[1]%8, script[2]%4
		key := [3]uint8{seq, size, script[3] % 3}
		data, ok := frames[key]
		if !ok {
			switch key[2] {
			case 0:
				data = bulkSeg(t, "10.200.1.2", uint16(seq), 1000+500*uint32(seq), 500<<size, false)
			case 1:
				data = bulkSeg(t, "10.200.2.1", uint16(seq), 1000+500*uint32(seq), 500<<size, true)
			case 2: // pieces of large UDP datagrams
				data = udpDatagram(t, "10.200.1.2", 5000, uint16(seq), 500*int(seq), 500<<size)
			}
			frames[key] = data
		}
		at += int64(script[3]) * 3 * us
		h := record.Header{Iface: uint32(dev), Dir: record.Direction(1 + dev%2), TimeNanos: at, HAType: arphrdEther, OrigLen: uint32(len(data))}
		if err := c.Add(int(dev%2), record.Append(nil, h, data), at); err != nil {
			t.Fatal(err)
		}
		added++
		if script[3]%3 == 0 {
			c.Advance(at)
		}
	}
	checkDrained(t, c, &drained{}, added)
}

// udpDatagram is a UDP datagram whose payload is bytes [off, off+n) of a
// stream that repeats every 251 bytes, from src.
func udpDatagram(t testing.TB, src string, sport uint16, ipid uint16, off, n int) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: ipid, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP("10.200.2.2")}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 4433}
	u.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte((off + i) % 251)
	}
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload(payload))
}

// TestDatagramPieces: a 3500-byte UDP GSO datagram on the container's veth
// and the bridge, cut into pieces of 1000 (the last 500) on the uplink,
// where SNAT also rewrote the port: one trace, "segmented into 4". A
// datagram that starts like the next piece but goes on differently is not
// a piece.
func TestDatagramPieces(t *testing.T) {
	const veth, br, up, outside = 1, 2, 3, 4
	in, out := record.DirIn, record.DirOut
	big := udpDatagram(t, "10.200.1.2", 5000, 100, 0, 3500)
	ss := []sight{{0, veth, in, t0, big}, {0, br, in, t0 + us, big}}
	for k, n := range []int{1000, 1000, 1000, 500} {
		p := udpDatagram(t, "10.200.2.1", 1024, uint16(100+k), 1000*k, n)
		ss = append(ss, sight{0, up, out, t0 + int64(10+k)*us, p}, sight{1, outside, in, t0 + int64(20+k)*us, p})
	}
	// Where the second piece is due, a datagram that starts with its first
	// 8 bytes (the index's key) but differs in the next ones.
	odd := udpDatagram(t, "10.200.2.1", 1024, 300, 1000, 1000)
	for i := 14 + 20 + 8 + 10; i < 14+20+8+64; i++ {
		odd[i] ^= 0xff
	}
	ss = append(ss, sight{0, up, out, t0 + 10*us + 500, odd})
	_, traces := feed(t, New(Config{}), ss)
	if len(traces) != 2 {
		for _, tr := range traces {
			t.Logf("trace %d: %v %q", tr.ID, path(tr), tr.Changes)
		}
		t.Fatalf("%d traces, want 2", len(traces))
	}
	tr := traces[0]
	var segs []uint16
	for _, h := range tr.Hops {
		segs = append(segs, h.Segment)
	}
	if tr.Segments != 4 || !slices.Equal(segs, []uint16{0, 0, 1, 2, 3, 4, 1, 2, 3, 4}) || !slices.Contains(tr.Changes, "segmented into 4") {
		t.Errorf("trace: %d segments, segment numbers %v, changes %q", tr.Segments, segs, tr.Changes)
	}
	if len(traces[1].Hops) != 1 {
		t.Errorf("the look-alike datagram: %v", path(traces[1]))
	}
}
