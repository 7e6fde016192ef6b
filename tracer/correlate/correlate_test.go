package correlate

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

const (
	arphrdEther = 1
	ms          = int64(time.Millisecond)
	us          = int64(time.Microsecond)
	t0          = int64(1_700_000_000) * int64(time.Second)
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// frame builds an Ethernet frame of the given layers.
func frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

// echo4 is an ICMP echo request as it looks at one hop.
func echo4(t testing.TB, src, dst string, ttl uint8, ipid, id, seq uint16, mac net.HardwareAddr) []byte {
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: ipid, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst), Flags: layers.IPv4DontFragment}
	return frame(t, &layers.Ethernet{SrcMAC: mac, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq},
		gopacket.Payload([]byte("0123456789abcdefghij")))
}

func udp6(t testing.TB, hop uint8, payload string) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("fd00:200:1::2"), DstIP: net.ParseIP("fd00:200:2::2")}
	u := &layers.UDP{SrcPort: 5000, DstPort: 6000}
	u.SetNetworkLayerForChecksum(ip)
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip, u, gopacket.Payload(payload))
}

func tcp4(t testing.TB, ipid uint16, seq uint32, payload string) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: ipid, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP("10.200.1.2"), DstIP: net.ParseIP("10.200.2.2")}
	tc := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: 1, ACK: true, PSH: true, Window: 500}
	tc.SetNetworkLayerForChecksum(ip)
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, tc, gopacket.Payload(payload))
}

func arpRequest(t testing.TB) []byte {
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: []byte{10, 200, 1, 2},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 200, 1, 1}})
}

// sight is one synthetic sighting.
type sight struct {
	src   int
	iface uint32
	dir   record.Direction
	time  int64
	data  []byte
}

// feed adds sightings source by source, in one batch per source, in the
// order given, and flushes.
func feed(t testing.TB, c *Correlator, ss []sight) (recs []record.Header, traces []*Trace) {
	t.Helper()
	bySrc := map[int][]byte{}
	var order []int
	for _, s := range ss {
		if _, ok := bySrc[s.src]; !ok {
			order = append(order, s.src)
		}
		bySrc[s.src] = record.Append(bySrc[s.src], record.Header{Iface: s.iface, Dir: s.dir, TimeNanos: s.time, HAType: arphrdEther, OrigLen: uint32(len(s.data))}, s.data)
	}
	for _, src := range order {
		if err := c.Add(src, bySrc[src], t0); err != nil {
			t.Fatal(err)
		}
	}
	c.Flush()
	return drain(t, c)
}

func drain(t testing.TB, c *Correlator) (recs []record.Header, traces []*Trace) {
	t.Helper()
	buf, n, trs := c.Drain(nil)
	recs = headers(t, buf)
	if len(recs) != n {
		t.Fatalf("Drain said %d records, buffer holds %d", n, len(recs))
	}
	return recs, trs
}

// headers reads the headers of the records in buf.
func headers(t testing.TB, buf []byte) (hs []record.Header) {
	t.Helper()
	r := record.NewReader(buf)
	for {
		var h record.Header
		_, ok, err := r.Next(&h)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return hs
		}
		hs = append(hs, h)
	}
}

type hopID struct {
	Iface uint32
	Dir   record.Direction
}

func path(tr *Trace) []hopID {
	var out []hopID
	for _, h := range tr.Hops {
		out = append(out, hopID{h.Iface, h.Dir})
	}
	return out
}

// The lab's echo request: container eth0 out → host veth in → bridge in →
// uplink out (SNAT) → outside eth0 in, delivered by three sources out of
// order.
func TestTraceThroughNAT(t *testing.T) {
	c := New(Config{})
	const (
		cEth0, hVeth, hBr, hUp, oEth0 = 1, 2, 3, 4, 5
	)
	in, out := record.DirIn, record.DirOut
	req := func(src string, ttl uint8, mac net.HardwareAddr) []byte {
		return echo4(t, src, "10.200.2.2", ttl, 4242, 7, 1, mac)
	}
	ss := []sight{
		// The outside's socket delivers first, the container's last.
		{2, oEth0, in, t0 + 40*us, echo4(t, "10.200.2.1", "10.200.2.2", 63, 4242, 7, 1, macB)},
		{1, hVeth, in, t0 + 10*us, req("10.200.1.2", 64, macA)},
		{1, hBr, in, t0 + 12*us, req("10.200.1.2", 64, macA)},
		{1, hUp, out, t0 + 30*us, echo4(t, "10.200.2.1", "10.200.2.2", 63, 4242, 7, 1, macB)},
		{0, cEth0, out, t0, req("10.200.1.2", 64, macA)},
	}
	recs, traces := feed(t, c, ss)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	tr := traces[0]
	want := []hopID{{cEth0, out}, {hVeth, in}, {hBr, in}, {hUp, out}, {oEth0, in}}
	if diff := cmp.Diff(want, path(tr)); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"SNAT 10.200.1.2→10.200.2.1"}, tr.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if tr.Transit() != 40*time.Microsecond {
		t.Errorf("transit %v, want 40µs", tr.Transit())
	}
	// Released in time order, each annotated with the trace and its hop.
	for k, h := range recs {
		if h.TraceID != tr.ID || int(h.Hop) != k+1 || h.Hops != 5 {
			t.Errorf("record %d: trace %d hop %d/%d; want %d hop %d/5", k, h.TraceID, h.Hop, h.Hops, tr.ID, k+1)
		}
		if k > 0 && h.TimeNanos < recs[k-1].TimeNanos {
			t.Errorf("record %d released before an older one", k)
		}
	}
}

// Identical IPv6 datagrams (no IP ID), sent back to back, are as many
// traces as datagrams, even when the later hops' source delivers first.
func TestIdenticalDatagramsNeverMerge(t *testing.T) {
	c := New(Config{})
	const n = 150
	var first, later []sight
	for i := 0; i < n; i++ {
		at := t0 + int64(i)*2*us // 2µs apart: a copy's later hops come after the next datagram's first
		first = append(first, sight{0, 1, record.DirOut, at, udp6(t, 64, "same payload")})
		later = append(later,
			sight{1, 2, record.DirIn, at + 5*us, udp6(t, 64, "same payload")},
			sight{1, 3, record.DirOut, at + 9*us, udp6(t, 63, "same payload")})
	}
	_, traces := feed(t, c, append(later, first...))
	if len(traces) != n {
		t.Fatalf("%d traces, want %d", len(traces), n)
	}
	for k, tr := range traces {
		if len(tr.Hops) != 3 {
			t.Fatalf("trace %d: %d hops, want 3", k, len(tr.Hops))
		}
		// FIFO: hop times are the ones of the same datagram.
		if d := tr.Hops[1].TimeNanos - tr.Hops[0].TimeNanos; d != 5*us {
			t.Errorf("trace %d: hop 2 is %dns after hop 1, want 5µs (copies of different datagrams merged)", k, d)
		}
	}
}

// A TCP retransmission (same seq and payload) is a trace of its own.
func TestRetransmissionIsItsOwnTrace(t *testing.T) {
	c := New(Config{})
	seg := func(ipid uint16) []byte { return tcp4(t, ipid, 1000, "GET / HTTP/1.1") }
	ss := []sight{
		{0, 1, record.DirOut, t0, seg(1)},
		{0, 2, record.DirIn, t0 + 5*us, seg(1)},
		// Same IP ID too (the worst case): only time and devices tell.
		{0, 1, record.DirOut, t0 + 2*us, seg(1)},
		{0, 2, record.DirIn, t0 + 7*us, seg(1)},
		{0, 1, record.DirOut, t0 + 200*ms, seg(2)},
		{0, 2, record.DirIn, t0 + 200*ms + 5*us, seg(2)},
	}
	_, traces := feed(t, c, ss)
	if len(traces) != 3 {
		t.Fatalf("%d traces, want 3", len(traces))
	}
	for _, tr := range traces {
		if len(tr.Hops) != 2 {
			t.Errorf("trace %d: %d hops, want 2", tr.ID, len(tr.Hops))
		}
	}
}

// A broadcast flooded by a bridge is one trace: one ingress, several
// egresses.
func TestBroadcastIsATree(t *testing.T) {
	c := New(Config{})
	a := arpRequest(t)
	ss := []sight{
		{0, 1, record.DirIn, t0, a},           // port 1 in
		{0, 4, record.DirIn, t0 + 1*us, a},    // bridge in
		{0, 2, record.DirOut, t0 + 2*us, a},   // port 2 out
		{0, 3, record.DirOut, t0 + 2*us, a},   // port 3 out
		{1, 10, record.DirIn, t0 + 3*us, a},   // peer of port 2
		{2, 11, record.DirIn, t0 + 3*us, a},   // peer of port 3
		{0, 1, record.DirIn, t0 + 300*ms, a},  // the same request again, later
		{0, 4, record.DirIn, t0 + 300*ms, a},  //
		{0, 2, record.DirOut, t0 + 300*ms, a}, //
	}
	_, traces := feed(t, c, ss)
	if len(traces) != 2 || len(traces[0].Hops) != 6 || len(traces[1].Hops) != 3 {
		var got []int
		for _, tr := range traces {
			got = append(got, len(tr.Hops))
		}
		t.Fatalf("hops per trace %v, want [6 3]", got)
	}
	ins := 0
	for _, h := range traces[0].Hops[:2] {
		if h.Dir == record.DirIn {
			ins++
		}
	}
	if ins != 2 || len(traces[0].Changes) != 0 {
		t.Errorf("trace: %+v changes %v", path(traces[0]), traces[0].Changes)
	}
}

// Copies further apart than the window are different traces.
func TestWindow(t *testing.T) {
	c := New(Config{Window: 10 * time.Millisecond})
	p := echo4(t, "10.200.1.2", "10.200.2.2", 64, 1, 7, 1, macA)
	_, traces := feed(t, c, []sight{{0, 1, record.DirOut, t0, p}, {1, 2, record.DirIn, t0 + 11*ms, p}})
	if len(traces) != 2 {
		t.Errorf("%d traces, want 2 (copies 11ms apart, window 10ms)", len(traces))
	}
}

// The merge waits for a source that is behind, not for one that is silent.
func TestMergeWatermark(t *testing.T) {
	c := New(Config{Window: time.Millisecond, Lag: 50 * time.Millisecond})
	p := echo4(t, "10.200.1.2", "10.200.2.2", 64, 1, 7, 1, macA)
	wall := t0 + 5*ms
	add := func(src int, iface uint32, dir record.Direction, at int64) {
		t.Helper()
		if err := c.Add(src, record.Append(nil, record.Header{Iface: iface, Dir: dir, TimeNanos: at, HAType: arphrdEther}, p), wall); err != nil {
			t.Fatal(err)
		}
	}
	add(0, 1, record.DirOut, t0)
	add(1, 9, record.DirIn, t0-time.Millisecond.Nanoseconds()) // source 1 is behind source 0
	c.Advance(wall)
	if _, trs := drain(t, c); len(trs) != 0 {
		t.Fatalf("traces released while source 1 is behind: %d", len(trs))
	}
	add(1, 2, record.DirIn, t0+100*us)
	// Both sources have delivered past t0+1ms+: nothing more to wait for
	// once they stay silent longer than Lag.
	wall += 60 * ms
	c.Advance(wall)
	recs, trs := drain(t, c)
	if len(trs) != 2 || len(recs) != 3 {
		t.Fatalf("%d traces, %d records; want 2 traces (one unrelated), 3 records", len(trs), len(recs))
	}
	if st := c.Stats(); st.Pending != 0 || st.Open != 0 {
		t.Errorf("after release: %+v", st)
	}
	// A sighting older than what the merge already passed, whose trace is
	// closed, is late.
	add(0, 1, record.DirOut, t0)
	c.Flush()
	if st := c.Stats(); st.Late != 1 {
		t.Errorf("late = %d, want 1", st.Late)
	}
}

// The table never holds more than MaxTraces open traces; the rest are
// evicted, counted, and every sighting still comes out.
func TestBounds(t *testing.T) {
	c := New(Config{MaxTraces: 10, MaxPending: 20})
	var ss []sight
	for i := 0; i < 100; i++ {
		ss = append(ss, sight{0, 1, record.DirOut, t0 + int64(i)*us, echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)})
	}
	for _, s := range ss {
		if err := c.Add(0, record.Append(nil, record.Header{Iface: s.iface, Dir: s.dir, TimeNanos: s.time, HAType: arphrdEther}, s.data), t0); err != nil {
			t.Fatal(err)
		}
		if st := c.Stats(); st.Open > 10 {
			t.Fatalf("%d traces open, max 10", st.Open)
		}
	}
	c.Flush()
	recs, traces := drain(t, c)
	st := c.Stats()
	if len(recs) != 100 || len(traces) != 100 || st.Evicted == 0 || st.Forced == 0 {
		t.Errorf("%d records, %d traces, stats %+v; want 100, 100, evictions and forced releases counted", len(recs), len(traces), st)
	}
}

func TestChanges(t *testing.T) {
	mk := func(src, dst string, sp, dp uint16) Hop {
		return Hop{Tuple: Tuple{EtherType: 0x800, Proto: 17, Src: mustAddr(src), Dst: mustAddr(dst), SrcPort: sp, DstPort: dp}}
	}
	hops := []Hop{
		mk("10.200.1.2", "10.200.9.9", 5000, 53),
		mk("10.200.1.2", "10.200.9.9", 5000, 53),
		mk("10.200.2.1", "10.200.9.9", 61000, 53),
		mk("10.200.2.1", "10.200.3.3", 61000, 5353),
	}
	hops[1].MSS, hops[2].MSS = 1460, 1400
	got := Changes(hops)
	want := []string{"SNAT 10.200.1.2:5000→10.200.2.1:61000", "MSS 1460→1400", "DNAT 10.200.9.9:53→10.200.3.3:5353"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// Random delivery order across sources gives the same traces.
func TestOrderIndependence(t *testing.T) {
	var ss []sight
	for i := 0; i < 40; i++ {
		at := t0 + int64(i)*3*us
		p := udp6(t, 64, "x")
		if i%3 == 0 {
			p = echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
		}
		ss = append(ss, sight{0, 1, record.DirOut, at, p}, sight{1, 2, record.DirIn, at + 4*us, p}, sight{2, 3, record.DirOut, at + 8*us, p})
	}
	ref := shape(feed(t, New(Config{}), ss))
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 20; k++ {
		sh := slices.Clone(ss)
		// Shuffle the order in which sources deliver (each source's own
		// sightings stay in time order, as a ring gives them).
		srcOrder := rng.Perm(3)
		slices.SortStableFunc(sh, func(a, b sight) int { return srcOrder[a.src] - srcOrder[b.src] })
		if diff := cmp.Diff(ref, shape(feed(t, New(Config{}), sh))); diff != "" {
			t.Fatalf("delivery order %v changes the traces (-want +got):\n%s", srcOrder, diff)
		}
	}
}

func shape(_ []record.Header, trs []*Trace) [][]int64 {
	var out [][]int64
	for _, tr := range trs {
		var hs []int64
		for _, h := range tr.Hops {
			hs = append(hs, h.TimeNanos-t0)
		}
		out = append(out, hs)
	}
	return out
}

// A copy lost half way leaves a trace that stopped; an identical packet
// sent soon after (a fast retransmission over IPv6: no IP ID) must not
// continue it.
func TestLostCopyIsNotContinued(t *testing.T) {
	c := New(Config{})
	p := udp6(t, 64, "retransmitted")
	ss := []sight{
		{0, 1, record.DirOut, t0, p},
		{0, 2, record.DirIn, t0 + 5*us, p}, // then dropped
		{0, 1, record.DirOut, t0 + 300*us, p},
		{0, 2, record.DirIn, t0 + 305*us, p},
		{1, 3, record.DirOut, t0 + 315*us, p},
		{1, 4, record.DirIn, t0 + 320*us, p},
	}
	_, traces := feed(t, c, ss)
	var got []int
	for _, tr := range traces {
		got = append(got, len(tr.Hops))
	}
	if diff := cmp.Diff([]int{2, 4}, got); diff != "" {
		t.Errorf("hops per trace (-want +got):\n%s", diff)
	}
}

// TestFlushStep: flushing in steps releases what Flush releases, in the
// same order with the same traces, in batches of about a sixteenth of a
// window.
func TestFlushStep(t *testing.T) {
	const packets = 2000
	frames := make([][]byte, packets)
	for i := range frames {
		frames[i] = echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
	}
	load := func() *Correlator {
		c := New(Config{Window: 10 * time.Millisecond})
		c.AddSource(1, t0)
		c.AddSource(2, t0)
		var a, b []byte
		for i, f := range frames {
			at := t0 + int64(i)*int64(20*time.Microsecond) // 40ms of traffic
			a = record.Append(a, record.Header{Iface: 1, Dir: record.DirIn, TimeNanos: at, HAType: arphrdEther}, f)
			b = record.Append(b, record.Header{Iface: 2, Dir: record.DirOut, TimeNanos: at + 1000, HAType: arphrdEther}, f)
		}
		if err := c.Add(1, a, t0); err != nil {
			t.Fatal(err)
		}
		if err := c.Add(2, b, t0); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := load()
	c.Flush()
	wantRecs, wantTraces := drain(t, c)
	var want []string
	for _, tr := range wantTraces {
		want = append(want, fmt.Sprint(tr.ID, path(tr)))
	}

	c = load()
	var gotRecs []record.Header
	var got []string
	steps, most := 0, 0
	for more := true; more; {
		more = c.FlushStep()
		recs, trs := drain(t, c)
		gotRecs = append(gotRecs, recs...)
		for _, tr := range trs {
			got = append(got, fmt.Sprint(tr.ID, path(tr)))
		}
		steps++
		most = max(most, len(trs))
	}
	if diff := cmp.Diff(wantRecs, gotRecs); diff != "" {
		t.Errorf("records (-Flush +FlushStep):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traces (-Flush +FlushStep):\n%s", diff)
	}
	// 40ms of packets, steps of 0.625ms: about 31 traces per step, not 2000.
	if steps < 64 || most > packets/32 {
		t.Errorf("%d steps, at most %d traces in one: not released in pieces", steps, most)
	}
}

// TestDrainLimit: draining in bounded pieces gives the records one Drain
// gives, in the same order, each piece near the limit, and says when more
// are left.
func TestDrainLimit(t *testing.T) {
	load := func() *Correlator {
		c := New(Config{Window: 10 * time.Millisecond})
		c.AddSource(1, t0)
		var a []byte
		for i := range 500 {
			f := echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
			a = record.Append(a, record.Header{Iface: 1, Dir: record.DirIn, TimeNanos: t0 + int64(i)*1000, HAType: arphrdEther}, f)
		}
		if err := c.Add(1, a, t0); err != nil {
			t.Fatal(err)
		}
		c.Flush()
		return c
	}
	want, _, _ := load().Drain(nil)
	c := load()
	var got []byte
	calls := 0
	for more := true; more; calls++ {
		var recs []byte
		var n int
		recs, n, _, more = c.DrainLimit(nil, 4096, math.MaxInt)
		if len(recs) > 4096+256 || (n == 0 && more) {
			t.Fatalf("call %d: %d bytes, %d records, more=%v", calls, len(recs), n, more)
		}
		got = append(got, recs...)
	}
	if !bytes.Equal(got, want) || calls < 10 {
		t.Errorf("%d calls gave %d bytes; one Drain gave %d (equal: %v)", calls, len(got), len(want), bytes.Equal(got, want))
	}
	if recs, n, _, more := c.DrainLimit(nil, 4096, math.MaxInt); n != 0 || more || len(recs) != 0 {
		t.Errorf("after everything: %d records, more=%v", n, more)
	}
}
