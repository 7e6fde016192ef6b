package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
)

func tup(src string, sp uint16, dst string, dp uint16) correlate.Tuple {
	return correlate.Tuple{EtherType: 0x800, Proto: 17, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp}
}

// trace builds a decoded trace whose hops had the given tuples, 1µs apart.
func trace(at int64, tuples ...correlate.Tuple) *correlate.Trace {
	tr := &correlate.Trace{Decoded: true}
	for k, tu := range tuples {
		tr.Hops = append(tr.Hops, correlate.Hop{Iface: uint32(k), Dir: record.DirOut, TimeNanos: at + int64(k)*1000, OrigLen: 100, Tuple: tu})
	}
	tr.Changes = correlate.Changes(tr.Hops)
	return tr
}

// A request and its reply through masquerade are one flow, named by the
// container's tuple, although the reply never carries it until the last hop.
func TestRequestAndReplyThroughNAT(t *testing.T) {
	tb := NewTable(Config{})
	inside := tup("10.200.1.2", 5000, "10.200.2.2", 53)
	outside := tup("10.200.2.1", 61000, "10.200.2.2", 53)
	replyOut := tup("10.200.2.2", 53, "10.200.2.1", 61000)
	replyIn := tup("10.200.2.2", 53, "10.200.1.2", 5000)
	id1, _ := tb.Add(trace(1e9, inside, inside, outside))
	id2, _ := tb.Add(trace(2e9, replyOut, replyIn))
	id3, _ := tb.Add(trace(3e9, inside, inside, outside))
	if id1 == 0 || id1 != id2 || id1 != id3 {
		t.Fatalf("flow ids %d %d %d, want one flow", id1, id2, id3)
	}
	other, _ := tb.Add(trace(3e9, tup("10.200.1.3", 5000, "10.200.2.2", 53)))
	if other == id1 {
		t.Error("a different container joined the flow")
	}
	arp := &correlate.Trace{Decoded: true, Hops: []correlate.Hop{{Tuple: correlate.Tuple{EtherType: 0x806, Src: netip.MustParseAddr("10.200.1.2")}}}}
	if id, _ := tb.Add(arp); id != 0 {
		t.Errorf("ARP trace in flow %d, want none", id)
	}
	fs := tb.Flush()
	if len(fs) != 2 {
		t.Fatalf("%d flows, want 2", len(fs))
	}
	f := fs[0]
	if f.Tuple != inside || f.Packets != [2]uint64{2, 1} || f.Bytes != [2]uint64{200, 100} || !f.Final {
		t.Errorf("flow %+v", f)
	}
	if diff := cmp.Diff([]string{"SNAT 10.200.1.2:5000→10.200.2.1:61000", "DNAT 10.200.2.1:61000→10.200.1.2:5000"}, f.NAT); diff != "" {
		t.Errorf("NAT (-want +got):\n%s", diff)
	}
	if len(f.Paths) != 2 || f.Paths[0].Count != 2 || f.Paths[0].Reverse || !f.Paths[1].Reverse {
		t.Errorf("paths %+v, want one forward (twice), one reverse", f.Paths)
	}
	if tb.Stats().Open != 0 {
		t.Error("flows left after Flush")
	}
}

func TestExpiryAndBounds(t *testing.T) {
	tb := NewTable(Config{Timeout: time.Second, MaxFlows: 8})
	for i := 0; i < 8; i++ {
		tb.Add(trace(int64(i)*1e9, tup("10.200.1.2", uint16(1000+i), "10.200.2.2", 53)))
	}
	if got := tb.Expire(5e9); len(got) != 4 {
		t.Errorf("expired %d flows at 5s (idle > 1s), want 4 (those last seen before 4s)", len(got))
	}
	var evicted int
	for i := 0; i < 20; i++ {
		_, ev := tb.Add(trace(10e9, tup("10.200.1.2", uint16(2000+i), "10.200.2.2", 53)))
		evicted += len(ev)
		if tb.Stats().Open > 8 {
			t.Fatalf("%d flows open, max 8", tb.Stats().Open)
		}
	}
	if st := tb.Stats(); evicted == 0 || st.Evicted != uint64(evicted) {
		t.Errorf("evicted %d, stats %+v", evicted, st)
	}
}

// TestAddAllocs pins that a trace of a known flow on a known path costs
// no allocation.
func TestAddAllocs(t *testing.T) {
	tb := NewTable(Config{Timeout: time.Minute, MaxFlows: 16})
	a, b := tup("10.200.1.2", 40000, "10.200.2.2", 9), tup("10.200.2.1", 40000, "10.200.2.2", 9)
	tr := trace(1, a, a, b)
	tr.Changes = []string{"SNAT 10.200.1.2→10.200.2.1"}
	tb.Add(tr)
	if n := testing.AllocsPerRun(1000, func() { tb.Add(tr) }); n != 0 {
		t.Errorf("Add of a trace of a known flow: %v allocations, want 0", n)
	}
}

// The table's key keeps apart what its Tuples keep apart: an IPv4 address
// and the IPv4-mapped IPv6 address with the same 16 bytes, and the two
// directions of a tuple whose addresses are of different kinds. And a
// trace's tuples are all registered although the lookups skip repeats:
// a reply to the tuple seen only at the third hop, after two hops of
// another, finds the flow.
func TestTableKeys(t *testing.T) {
	tb := NewTable(Config{})
	v4 := tup("10.200.1.2", 5000, "10.200.2.2", 53)
	mapped := tup("::ffff:10.200.1.2", 5000, "10.200.2.2", 53)
	a, _ := tb.Add(trace(1e9, v4))
	b, _ := tb.Add(trace(1e9, mapped))
	if a == b {
		t.Errorf("%v and %v are one flow (%d)", v4, mapped, a)
	}
	mixed := tup("::ffff:10.200.1.2", 5000, "10.200.2.2", 53)
	// An IPv4 source and an IPv4-mapped IPv6 destination: kinds differ.
	mixed.Src = netip.MustParseAddr("10.200.1.3")
	mixed.Dst = netip.MustParseAddr("::ffff:10.200.2.2")
	m1, _ := tb.Add(trace(1e9, mixed))
	if m2, _ := tb.Add(trace(1e9, reverse(mixed))); m2 != m1 {
		t.Errorf("%v and its reverse are flows %d and %d, want one", mixed, m1, m2)
	}
	snat := tup("10.200.2.1", 61000, "10.200.2.2", 53)
	c, _ := tb.Add(trace(2e9, v4, v4, snat, v4))
	d, _ := tb.Add(trace(3e9, reverse(snat)))
	if c != a || d != a {
		t.Errorf("flows %d, %d, want %d", c, d, a)
	}
	if got := tb.Flush(); len(got) != 3 || len(got[0].Tuples()) != 2 {
		t.Errorf("flows %+v, want 3, the first with 2 tuples", got)
	}
}
