package conntrack

import (
	"net/netip"
	"testing"
)

func tu(src string, sp uint16, dst string, dp uint16) Tuple {
	return Tuple{Proto: 17, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp}
}

func TestTable(t *testing.T) {
	tb := NewTable(2)
	orig := tu("10.200.1.2", 5000, "10.200.2.2", 53)
	e := Entry{Orig: orig, Reply: orig.Reverse(), Status: StatusConfirmed}
	tb.Put(e)
	// The NAT decided after NEW: the update changes the reply tuple.
	nat := tu("10.200.2.2", 53, "10.200.2.1", 1024)
	e.Reply, e.Status = nat, StatusConfirmed|StatusSrcNAT|StatusSeenReply
	tb.Put(e)
	if got, reply, ok := tb.Lookup(orig); !ok || reply || got.Reply != nat {
		t.Fatalf("by original tuple: %+v reply %v ok %v", got, reply, ok)
	}
	if got, reply, ok := tb.Lookup(nat); !ok || !reply || got.Orig != orig {
		t.Fatalf("by reply tuple: %+v reply %v ok %v", got, reply, ok)
	}
	if _, _, ok := tb.Lookup(orig.Reverse()); ok {
		t.Fatal("the reply tuple before NAT is no longer the connection's")
	}
	tb.Destroy(orig)
	if got, _, ok := tb.Lookup(orig); !ok || !got.Destroyed {
		t.Fatalf("destroyed entries stay: %+v %v", got, ok)
	}
	if s := (&Entry{Orig: orig, Status: StatusSrcNAT | StatusAssured, Mark: 0x2a, Destroyed: true}).String(); s != "zone 0, mark 0x2a, ASSURED SRC_NAT, destroyed" {
		t.Errorf("String() = %q", s)
	}
	// Full: the oldest goes.
	for i := range 2 {
		o := tu("10.200.1.3", uint16(6000+i), "10.200.2.2", 53)
		tb.Put(Entry{Orig: o, Reply: o.Reverse()})
	}
	if _, _, ok := tb.Lookup(orig); ok {
		t.Error("the oldest entry was not evicted")
	}
	if _, _, ok := tb.Lookup(tu("10.200.2.2", 53, "10.200.1.3", 6001)); !ok {
		t.Error("the newest entry is missing")
	}
	tcp := Entry{Orig: Tuple{Proto: 6}, TCPState: 3}
	if tcp.State() != "ESTABLISHED" {
		t.Errorf("State() = %q", tcp.State())
	}
}
