package sdk

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

func sampleTraces() []*pb.Trace {
	tu := func(p, s, d string, sp, dp uint32) *pb.Tuple {
		return &pb.Tuple{Proto: p, Src: s, Dst: d, Sport: sp, Dport: dp}
	}
	return []*pb.Trace{
		{Id: 1, TimeUnixNano: 1700000000000000001, TransitNanos: 40000, FlowId: 3,
			Summary: "UDP 10.200.1.2:40000 > 10.200.2.2:9 length 18", Path: "veth-c in → br0 in → up0 out",
			Changes: []string{"SNAT 10.200.1.2→10.200.2.1"},
			Hops: []*pb.Hop{
				{InterfaceId: 1, Direction: "in", TimeUnixNano: 1700000000000000001, Length: 60, Ttl: 64, Tuple: tu("udp", "10.200.1.2", "10.200.2.2", 40000, 9)},
				{InterfaceId: 4, Direction: "out", TimeUnixNano: 1700000000000040001, Length: 60, Ttl: 63, Tuple: tu("udp", "10.200.2.1", "10.200.2.2", 40000, 9)},
			}},
		{Id: 2, Summary: "IP6 fd00:200::1 > fd00:200::2 ICMP6 echo request id 7 seq 1", Path: "ns/eth0 out",
			Hops: []*pb.Hop{{InterfaceId: 2, Direction: "out", Ttl: 64, Tuple: tu("icmp6", "fd00:200::1", "fd00:200::2", 7, 7)}}},
		{Id: 3, Summary: "ARP who-has 10.0.0.1 tell 10.0.0.2", Path: "a in",
			Hops: []*pb.Hop{{InterfaceId: 2, Direction: "in", Tuple: tu("arp", "10.0.0.2", "10.0.0.1", 0, 0)}}},
		{Id: 4, Summary: "undecoded frame", Path: "b ?",
			Hops: []*pb.Hop{{InterfaceId: 5, Direction: "?", Tuple: tu("", "", "", 0, 0)}}},
		{Id: 5, Summary: "IP 10.0.0.1 > 10.0.0.2 proto 99", Path: "c in → d out",
			Hops: []*pb.Hop{
				{InterfaceId: 6, Direction: "in", Tuple: tu("99", "10.0.0.1", "10.0.0.2", 0, 0)},
				{InterfaceId: 7, Direction: "out", Tuple: tu("ethertype 0x88cc", "", "", 0, 0)},
				{InterfaceId: 8, Direction: "out", Tuple: tu("ipv6", "", "", 0, 0)},
			}},
		{Id: 6, Summary: "VXLAN vni 42 10.212.0.1 > 10.212.0.2: ICMP echo request 10.244.1.2 > 10.244.2.2 id 7 seq 1",
			Path: "a/eth0 out → a/vx0 out → a/up0 out", Changes: []string{"encap VXLAN vni 42 10.212.0.1→10.212.0.2"},
			Hops: []*pb.Hop{
				{InterfaceId: 1, Direction: "out", Ttl: 64, Tuple: tu("icmp", "10.244.1.2", "10.244.2.2", 7, 7)},
				{InterfaceId: 2, Direction: "out", Ttl: 63, Tuple: tu("icmp", "10.244.1.2", "10.244.2.2", 7, 7)},
				{InterfaceId: 3, Direction: "out", Ttl: 63, Tuple: tu("icmp", "10.244.1.2", "10.244.2.2", 7, 7),
					Tunnel: &pb.Tunnel{Encap: "VXLAN", Id: 42, HasId: true, OuterTtl: 64, Outer: tu("udp", "10.212.0.1", "10.212.0.2", 40123, 4789)}},
				{InterfaceId: 4, Direction: "in", Ttl: 63, Tuple: tu("icmp6", "fd00::1", "fd00::2", 7, 7),
					Tunnel: &pb.Tunnel{Encap: "6in4", Outer: tu("41", "10.212.0.1", "10.212.0.2", 0, 0)}},
			}},
		{Id: 7, Summary: "TCP 10.200.1.2:40000 > 10.200.2.2:5001 [.] seq 1 ack 1 length 2896", Path: "veth in → up0 out ×2",
			Changes: []string{"segmented into 2"}, Segments: 2, Stopped: "stopped after up0 out; expected next: ns/eth0 in", Conntrack: "ns: zone 0, mark 0x0, ESTABLISHED",
			Hops: []*pb.Hop{
				{InterfaceId: 1, Direction: "in", Length: 2962, Tuple: tu("tcp", "10.200.1.2", "10.200.2.2", 40000, 5001)},
				{InterfaceId: 2, Direction: "out", Length: 1514, Tuple: tu("tcp", "10.200.1.2", "10.200.2.2", 40000, 5001), Segment: 1},
				{InterfaceId: 2, Direction: "out", Length: 1514, Tuple: tu("tcp", "10.200.1.2", "10.200.2.2", 40000, 5001), Segment: 2},
			}},
	}
}

// TestTracesBothForms: a batch's traces read the same whether they came as
// messages or packed, and packing then unpacking loses nothing.
func TestTracesBothForms(t *testing.T) {
	in := sampleTraces()
	var w record.TraceWriter
	for _, tr := range in {
		PackTrace(&w, tr)
	}
	for name, b := range map[string]*pb.Batch{
		"messages": {Traces: in},
		"packed":   {TraceRecords: w.Bytes(), TraceCount: uint32(w.Count())},
	} {
		var got []*pb.Trace
		if err := EachTrace(b, func(v record.TraceView) error { got = append(got, TraceProto(v)); return nil }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(in) {
			t.Fatalf("%s: %d traces, want %d", name, len(got), len(in))
		}
		for i := range in {
			if !proto.Equal(in[i], got[i]) {
				t.Errorf("%s: trace %d\n got %v\nwant %v", name, i, got[i], in[i])
			}
		}
	}
}

func TestEachTraceStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := EachTrace(&pb.Batch{Traces: sampleTraces()}, func(record.TraceView) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("EachTrace went on after an error: n=%d err=%v", n, err)
	}
	err = EachTrace(&pb.Batch{TraceRecords: make([]byte, 50)}, func(record.TraceView) error { return nil })
	if !errors.Is(err, record.ErrCorruptTrace) {
		t.Errorf("corrupt packed traces: err = %v", err)
	}
}
