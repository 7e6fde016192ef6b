package record

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type packedTrace struct {
	t    Trace
	hops []TraceHop
}

func packAll(in []packedTrace) []byte {
	var w TraceWriter
	for _, p := range in {
		w.Begin()
		for i := range p.hops {
			w.Hop(&p.hops[i])
		}
		w.End(&p.t)
	}
	return w.Bytes()
}

func readAll(t *testing.T, b []byte) []packedTrace {
	t.Helper()
	var out []packedTrace
	r := NewTraceReader(b)
	for {
		v, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		p := packedTrace{t: Trace{
			ID: v.ID(), TimeNanos: v.TimeNanos(), TransitNanos: v.TransitNanos(), FlowID: v.FlowID(),
			Decoded: v.Decoded(), Segments: v.Segments(), Stopped: string(v.Stopped()), Conntrack: string(v.Conntrack()), Path: string(v.Path()), Summary: bytes.Clone(v.Summary()),
		}}
		v.Changes(func(c []byte) { p.t.Changes = append(p.t.Changes, string(c)) })
		if len(p.t.Changes) != v.NumChanges() {
			t.Fatalf("Changes gave %d, NumChanges %d", len(p.t.Changes), v.NumChanges())
		}
		for i := range v.NumHops() {
			p.hops = append(p.hops, v.Hop(i))
		}
		out = append(out, p)
	}
}

func TestTraceRoundTrip(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.200.1.2"), netip.MustParseAddr("10.200.2.2")
	a6, b6 := netip.MustParseAddr("fd00:200::1"), netip.MustParseAddr("fd00:200::2")
	in := []packedTrace{
		{Trace{ID: 1, TimeNanos: 1700000000123456789, TransitNanos: 31000, FlowID: 4, Decoded: true,
			Path: "veth-c in → br0 in → up0 out", Summary: []byte("UDP 10.200.1.2:40000 > 10.200.2.2:9 length 18"),
			Changes: []string{"SNAT 10.200.1.2→10.200.2.1", "MSS 1460→1400"}},
			[]TraceHop{
				{TimeNanos: 1700000000123456789, Iface: 2, OrigLen: 60, Dir: DirIn, TTL: 64, Tuple: Tuple{EtherType: 0x0800, Proto: 17, Src: a4, Dst: b4, SrcPort: 40000, DstPort: 9}},
				{TimeNanos: 1700000000123487789, Iface: 7, OrigLen: 60, Dir: DirOut, TTL: 63, Tuple: Tuple{EtherType: 0x0800, Proto: 17, Src: netip.MustParseAddr("10.200.2.1"), Dst: b4, SrcPort: 1024, DstPort: 9}},
			}},
		{Trace{ID: 2, TimeNanos: -5, Path: "lo in"},
			[]TraceHop{{Iface: 0, Dir: DirUnknown}}},
		{Trace{ID: 1 << 60, Decoded: true, Path: "ns1/eth0 out → ns2/eth0 in", Summary: []byte("IP6 fd00:200::1 > fd00:200::2 ICMP6 echo request id 7 seq 1")},
			[]TraceHop{
				{Iface: 9, Dir: DirOut, TTL: 64, Tuple: Tuple{EtherType: 0x86dd, Proto: 58, Src: a6, Dst: b6, SrcPort: 7, DstPort: 7}},
				{Iface: 10, Dir: DirIn, TTL: 64, Tuple: Tuple{EtherType: 0x86dd, Proto: 58, Src: a6, Dst: b6, SrcPort: 7, DstPort: 7}},
				{Iface: 11, Dir: DirIn, Tuple: Tuple{EtherType: 0x0806, Src: a4, Dst: b4}},
			}},
		// A tunnel after two plain hops: the writer widens the hops it
		// has written.
		{Trace{ID: 77, Decoded: true, Path: "pod in → vx0 out → under out → under in", Changes: []string{"encap VXLAN vni 42 10.212.0.1→10.212.0.2"}},
			[]TraceHop{
				{TimeNanos: 10, Iface: 1, Dir: DirIn, TTL: 64, Tuple: Tuple{EtherType: 0x0800, Proto: 1, Src: a4, Dst: b4, SrcPort: 7, DstPort: 7}},
				{TimeNanos: 11, Iface: 2, Dir: DirOut, TTL: 63, Tuple: Tuple{EtherType: 0x0800, Proto: 1, Src: a4, Dst: b4, SrcPort: 7, DstPort: 7}},
				{TimeNanos: 12, Iface: 3, Dir: DirOut, TTL: 63, Tuple: Tuple{EtherType: 0x0800, Proto: 1, Src: a4, Dst: b4, SrcPort: 7, DstPort: 7},
					Tunnel: Tunnel{Encap: EncapVXLAN, ID: 42, HasID: true, OuterTTL: 64, Outer: Tuple{EtherType: 0x0800, Proto: 17,
						Src: netip.MustParseAddr("10.212.0.1"), Dst: netip.MustParseAddr("10.212.0.2"), SrcPort: 51234, DstPort: 4789}}},
				{TimeNanos: 13, Iface: 4, Dir: DirIn, TTL: 63, Tuple: Tuple{EtherType: 0x0800, Proto: 1, Src: a4, Dst: b4, SrcPort: 7, DstPort: 7},
					Tunnel: Tunnel{Encap: Encap6in6, OuterTTL: 1, Outer: Tuple{EtherType: 0x86dd, Proto: 41, Src: a6, Dst: b6}}},
			}},
		// A segmented packet: the hops of its segments are numbered.
		{Trace{ID: 79, Decoded: true, Segments: 2, Path: "veth in → up0 out ×2", Changes: []string{"segmented into 2"}, Stopped: "stopped after up0 out; expected next: peer in", Conntrack: "host: zone 0, mark 0x0, ESTABLISHED"},
			[]TraceHop{{Iface: 1, Dir: DirIn, OrigLen: 3000}, {Iface: 2, Dir: DirOut, OrigLen: 1500, Segment: 1}, {Iface: 2, Dir: DirOut, OrigLen: 1500, Segment: 2}}},
		// A trace that starts in a tunnel.
		{Trace{ID: 78, Path: "under in"},
			[]TraceHop{{Iface: 4, Dir: DirIn, Tunnel: Tunnel{Encap: EncapGRE, ID: 0xffffffff, HasID: true, Outer: Tuple{EtherType: 0x0800, Proto: 47, Src: a4, Dst: b4}}}}},
	}
	b := packAll(in)
	if len(b)%8 != 0 {
		t.Fatalf("packed length %d not 8-aligned", len(b))
	}
	got := readAll(t, b)
	if diff := cmp.Diff(in, got, cmp.AllowUnexported(packedTrace{}), cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestTraceLongText(t *testing.T) {
	long := strings.Repeat("x", 70000)
	changes := make([]string, 300)
	for i := range changes {
		changes[i] = "c"
	}
	b := packAll([]packedTrace{{Trace{ID: 3, Path: long, Summary: []byte(long), Changes: changes}, []TraceHop{{Iface: 1}}}})
	got := readAll(t, b)
	if len(got) != 1 || len(got[0].t.Path) != 0xffff || len(got[0].t.Summary) != 0xffff || len(got[0].t.Changes) != 255 {
		t.Fatalf("long text not clipped to the layout's limits: %d traces", len(got))
	}
}

func TestTraceCorrupt(t *testing.T) {
	good := packAll([]packedTrace{{Trace{ID: 1, Path: "a in", Changes: []string{"SNAT"}}, []TraceHop{{Iface: 1}}}})
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	cases := map[string][]byte{
		"short":            good[:20],
		"size zero":        mut(func(b []byte) { b[0], b[1] = 0, 0 }),
		"size unaligned":   mut(func(b []byte) { b[0]-- }),
		"size beyond":      mut(func(b []byte) { b[1] = 1 }),
		"no hops":          mut(func(b []byte) { b[4] = 0 }),
		"hops beyond":      mut(func(b []byte) { b[4] = 9 }),
		"path beyond":      mut(func(b []byte) { b[41] = 1 }),
		"changes beyond":   mut(func(b []byte) { b[7] = 200 }),
		"change too long":  mut(func(b []byte) { b[TraceHeaderLen+TraceHopLen+4] = 0xff }),
		"hop length short": mut(func(b []byte) { b[44] = 8 }),
		"hop length zero":  mut(func(b []byte) { b[44] = 0 }),
		"stop beyond":      mut(func(b []byte) { b[49] = 1 }),
		"ct beyond":        mut(func(b []byte) { b[51] = 1 }),
		"hop length odd":   mut(func(b []byte) { b[44] = 65 }),
		"hop length long":  mut(func(b []byte) { b[44] = 128 }),
	}
	for name, b := range cases {
		if _, _, err := NewTraceReader(b).Next(); !errors.Is(err, ErrCorruptTrace) {
			t.Errorf("%s: err = %v, want ErrCorruptTrace", name, err)
		}
	}
}

func FuzzTraceReader(f *testing.F) {
	f.Add(packAll([]packedTrace{{Trace{ID: 1, Path: "a in → b out", Summary: []byte("UDP"), Changes: []string{"SNAT x→y"}}, []TraceHop{{Iface: 1}, {Iface: 2}}}}))
	f.Add(packAll([]packedTrace{{Trace{ID: 2}, []TraceHop{{Iface: 1}, {Iface: 2, Tunnel: Tunnel{Encap: EncapVXLAN, HasID: true, ID: 1}}}}}))
	f.Add([]byte{})
	f.Add(make([]byte, 48))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewTraceReader(b)
		for range len(b) {
			v, ok, err := r.Next()
			if err != nil || !ok {
				return
			}
			// Every accessor must stay inside the trace.
			_, _, _, _, _ = v.ID(), v.TimeNanos(), v.TransitNanos(), v.FlowID(), v.Decoded()
			_, _, _, _ = v.Path(), v.Summary(), v.Stopped(), v.Conntrack()
			n := 0
			v.Changes(func([]byte) { n++ })
			for i := range v.NumHops() {
				_ = v.Hop(i).Tuple.ProtoName()
			}
			if n != v.NumChanges() {
				t.Fatalf("%d changes read, %d announced", n, v.NumChanges())
			}
		}
	})
}

func TestTraceWriterAllocs(t *testing.T) {
	var w TraceWriter
	hop := TraceHop{Iface: 1, Dir: DirIn, Tuple: Tuple{EtherType: 0x0800, Proto: 17, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}}
	tr := Trace{ID: 1, Path: "a in → b out", Summary: []byte("UDP 10.0.0.1:1 > 10.0.0.2:2 length 1"), Changes: []string{"SNAT 10.0.0.1→10.0.0.3"}}
	pack := func() {
		w.Reset()
		for range 64 {
			w.Begin()
			w.Hop(&hop)
			w.Hop(&hop)
			w.Hop(&hop)
			w.End(&tr)
		}
	}
	pack()
	if n := testing.AllocsPerRun(100, pack); n != 0 {
		t.Errorf("packing 64 traces allocates %v times into a writer with room", n)
	}
	read := func() {
		r := NewTraceReader(w.Bytes())
		for {
			v, ok, _ := r.Next()
			if !ok {
				return
			}
			for i := range v.NumHops() {
				_ = v.Hop(i)
			}
			v.Changes(func([]byte) {})
		}
	}
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Errorf("reading 64 traces allocates %v times", n)
	}
}

func TestProtoName(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	for _, c := range []struct {
		t    Tuple
		want string
	}{
		{Tuple{}, ""},
		{Tuple{EtherType: 0x0800, Proto: 6, Src: a}, "tcp"},
		{Tuple{EtherType: 0x86dd, Proto: 58, Src: a}, "icmp6"},
		{Tuple{EtherType: 0x0800, Proto: 99, Src: a}, "99"},
		{Tuple{EtherType: 0x0800}, "ipv4"},
		{Tuple{EtherType: 0x86dd}, "ipv6"},
		{Tuple{EtherType: 0x0806}, "arp"},
		{Tuple{EtherType: 0x88cc}, "ethertype 0x88cc"},
	} {
		if got := c.t.ProtoName(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.t, got, c.want)
		}
	}
}

func BenchmarkTracePackRead(b *testing.B) {
	var w TraceWriter
	hop := TraceHop{Iface: 1, Dir: DirIn, Tuple: Tuple{EtherType: 0x0800, Proto: 17, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}}
	tr := Trace{ID: 1, Path: "veth-c in → br0 in → up0 out", Summary: []byte("UDP 10.0.0.1:1 > 10.0.0.2:2 length 1"), Changes: []string{"SNAT 10.0.0.1→10.0.0.3"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%1024 == 0 {
			w.Reset()
		}
		w.Begin()
		w.Hop(&hop)
		w.Hop(&hop)
		w.Hop(&hop)
		w.End(&tr)
	}
}

func TestIPProtoNumber(t *testing.T) {
	for p := range 256 {
		name := IPProtoName(uint8(p))
		if name == "" {
			name = strconv.Itoa(p)
		}
		if got, ok := IPProtoNumber(name); !ok || got != uint8(p) {
			t.Errorf("IPProtoNumber(%q) = %d, %v; want %d", name, got, ok, p)
		}
	}
	for _, bad := range []string{"", "arp", "256", "tcp6"} {
		if _, ok := IPProtoNumber(bad); ok {
			t.Errorf("IPProtoNumber(%q) ok", bad)
		}
	}
}

func TestEncapNames(t *testing.T) {
	for e := EncapVXLAN; e <= Encap6in6; e++ {
		if e.String() == "" || ParseEncap(e.String()) != e {
			t.Errorf("Encap %d: %q parses to %d", e, e.String(), ParseEncap(e.String()))
		}
	}
	if EncapNone.String() != "" || ParseEncap("") != EncapNone || ParseEncap("nope") != EncapNone || Encap(200).String() != "" {
		t.Error("EncapNone or unknown names")
	}
}
