package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// These tests hold the hand-written trace path to what encoding/json
// writes: appendTraceLine to the plugin's Encoder for any traceLine,
// appendTime to time.Time.Format, and traceOf, which reuses its memory from
// trace to trace, to the traceOf that made a fresh line for each
// (oldTraceOf).

// stdLine is what the plugin's encoding/json Encoder writes for v.
func stdLine(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkLine fails t unless appendTraceLine writes l as encoding/json does,
// after what its dst already holds.
func checkLine(t testing.TB, l *traceLine) {
	t.Helper()
	want := stdLine(t, l)
	prefix := []byte("prefix ")
	got := appendTraceLine(prefix, l)
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("appendTraceLine changed what dst held: %q", got)
	}
	if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("appendTraceLine differs from encoding/json at byte %d\n got %q\nwant %q\nline %#v",
			firstDiff(got, want), got, want, l)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// oddStrings are strings that encoding/json escapes, or could be thought
// to: quotes, backslashes, HTML, every ASCII control character and DEL,
// the line and paragraph separators, non-ASCII text, U+FFFD itself, and
// invalid UTF-8 of several kinds (a stray continuation byte, a cut
// sequence, a surrogate, an overlong encoding, bytes never in UTF-8).
var oddStrings = func() []string {
	s := []string{
		"", "trace", "c1/eth0", `"`, `\`, `\"`, `a"b\c`, "<script>&amp;</script>", "a→b", "SNAT 10.200.1.2→10.200.2.1",
		"\u2028", "\u2029", "x\u2028y\u2029z", "\u2027\u202a", "\ufffd", "日本語", "😀", "\x7f", "\x00",
		"\x80", "\xc3", "\xc3(", "\xe2\x80", "\xe2\x80\xa8\xe2", "\xed\xa0\x80", "\xc0\x80", "\xf8\x88\x80\x80\x80", "\xff\xfe",
		"\xf4\x90\x80\x80", "é\xffé", "tab\there", "line\nbreak\r\n", "\b\f", strings.Repeat("long ", 100),
	}
	for c := range 0x20 {
		s = append(s, string(rune(c)), fmt.Sprintf("a%cb", c))
	}
	return s
}()

// randString is a few pieces of oddStrings and random bytes.
func randString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(5) {
		switch rng.IntN(4) {
		case 0:
			for range rng.IntN(8) {
				b.WriteByte(byte(rng.IntN(256)))
			}
		case 1:
			b.WriteRune(rune(rng.IntN(0x3000)))
		default:
			b.WriteString(oddStrings[rng.IntN(len(oddStrings))])
		}
	}
	return b.String()
}

// randUint is a random number of the given bits, often zero or the
// largest.
func randUint(rng *rand.Rand, bits int) uint64 {
	max := uint64(1)<<(bits-1)<<1 - 1
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return max
	case 2:
		return rng.Uint64N(1000)
	}
	return rng.Uint64() & max
}

// randInt is a random number of the given bits, often zero, small,
// negative or an extreme.
func randInt(rng *rand.Rand, bits int) int64 {
	switch rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return -1 << (bits - 1)
	case 2:
		return 1<<(bits-1) - 1
	case 3:
		return rng.Int64N(2001) - 1000
	}
	return rng.Int64() >> (64 - bits) // any, either sign
}

// fillRandom sets every field of the struct v points to at random, through
// reflection: a field added to traceLine, hopLine or tunnelLine is filled
// too, and appendTraceLine fails the test until it writes it. Slices are
// nil, empty or a few elements; pointers nil or set (to zero, sometimes).
func fillRandom(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(randString(rng))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(randUint(rng, v.Type().Bits()))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(randInt(rng, v.Type().Bits()))
	case reflect.Slice:
		switch rng.IntN(5) {
		case 0: // nil
			v.SetZero()
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, rng.IntN(3)))
		default:
			n := 1 + rng.IntN(4)
			v.Set(reflect.MakeSlice(v.Type(), n, n))
			for i := range n {
				fillRandom(rng, v.Index(i))
			}
		}
	case reflect.Pointer:
		v.SetZero()
		if rng.IntN(2) == 0 {
			v.Set(reflect.New(v.Type().Elem()))
			if rng.IntN(4) > 0 {
				fillRandom(rng, v.Elem())
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fillRandom(rng, v.Field(i))
		}
	default:
		panic(fmt.Sprintf("fillRandom: no rule for %s", v.Type()))
	}
}

func u32(v uint32) *uint32 { return &v }

// TestAppendTraceLine: hand-picked lines, then random ones, are written
// byte for byte as encoding/json writes them.
func TestAppendTraceLine(t *testing.T) {
	hop := hopLine{
		Netns: "labhost", Ifname: "veth-c1", Device: "labhost/veth-c1", InterfaceID: 2, Direction: "in",
		Time: "2023-11-14T22:13:20.123459789Z", TimeUnixNano: 1700000000123459789, OffsetNS: 3000,
		Length: 74, TTL: 64, Proto: "udp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 40000, Dport: 53,
	}
	tunnel := func(id *uint32) *tunnelLine {
		return &tunnelLine{Encap: "VXLAN", ID: id, OuterProto: "udp", OuterSrc: "10.212.0.1", OuterDst: "10.212.0.2",
			OuterSport: 40123, OuterDport: 4789, OuterTTL: 63}
	}
	with := func(f func(h *hopLine)) hopLine { h := hop; f(&h); return h }
	full := traceLine{
		Type: "trace", ID: 101, Time: "2023-11-14T22:13:20.123456789Z", TimeUnixNano: 1700000000123456789, TransitNS: 24000,
		Summary: "UDP 10.200.1.2:40000 → 10.200.2.2:53 len 32 <dns>", Path: "c1/eth0 out → labhost/veth-c1 in", FlowID: 7,
		Changes: []string{"SNAT 10.200.1.2→10.200.2.1"}, Hops: []hopLine{hop, hop},
	}
	lines := []traceLine{
		{},
		{Changes: []string{}, Hops: []hopLine{}},
		{Changes: []string{""}, Hops: []hopLine{{}}},
		full,
		{Type: "trace", ID: math.MaxUint64, TimeUnixNano: math.MinInt64, TransitNS: math.MaxInt64, FlowID: math.MaxUint64,
			Segments: math.MaxUint32, Stopped: "stopped after labhost/br0 in; expected next: labhost/up0 out",
			Conntrack: "labhost: zone 0, mark 0x0, ASSURED SRC_NAT", Changes: []string{"a", "b", "c"},
			Hops: []hopLine{
				with(func(h *hopLine) { h.Tunnel = tunnel(nil) }),
				with(func(h *hopLine) { h.Tunnel = tunnel(u32(0)) }),
				with(func(h *hopLine) { h.Tunnel = tunnel(u32(math.MaxUint32)); h.Segment = 1 }),
				with(func(h *hopLine) { h.Tunnel = &tunnelLine{}; h.Segment = math.MaxUint32 }),
				with(func(h *hopLine) {
					h.InterfaceID, h.Length, h.TTL, h.Sport, h.Dport = math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32
					h.TimeUnixNano, h.OffsetNS = math.MaxInt64, math.MinInt64
				}),
			}},
		{Segments: 1},
		{Stopped: "x"},
		{Conntrack: "\x00"},
	}
	for _, s := range oddStrings {
		l := full
		l.Summary, l.Path, l.Stopped, l.Conntrack, l.Changes = s, s, s, s, []string{s, s}
		l.Hops = []hopLine{with(func(h *hopLine) {
			h.Netns, h.Ifname, h.Device, h.Direction, h.Time, h.Proto, h.Src, h.Dst = s, s, s, s, s, s, s, s
			h.Tunnel = &tunnelLine{Encap: s, OuterProto: s, OuterSrc: s, OuterDst: s}
		})}
		lines = append(lines, l)
	}
	for i := range lines {
		checkLine(t, &lines[i])
	}

	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		var l traceLine
		fillRandom(rng, reflect.ValueOf(&l).Elem())
		checkLine(t, &l)
	}
}

// TestAppendString: every string of up to two bytes, and every rune, is
// escaped as encoding/json escapes it.
func TestAppendString(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := stdjson.Marshal(s) // HTML escaping differs only in <, > and &
		if err != nil {
			t.Fatal(err)
		}
		if !strings.ContainsAny(s, "<>&") {
			if got := appendString(nil, s); !bytes.Equal(got, want) {
				t.Fatalf("appendString(%q) = %s; encoding/json writes %s", s, got, want)
			}
		}
	}
	for a := range 256 {
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for r := range rune(utf8.MaxRune + 1) {
		check(string(r) + "x")
	}
	for _, s := range oddStrings {
		check(s)
	}
	// And with <, > and &, through the plugin's encoder, which leaves them.
	for _, s := range []string{"<", ">", "&", "a<b>c&d", "\u2028<"} {
		if got, want := append(appendString(nil, s), '\n'), stdLine(t, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s; the plugin's encoder writes %s", s, got, want)
		}
	}
}

// FuzzAppendTraceLine: whatever the strings and numbers, appendTraceLine
// writes what encoding/json writes, and appendTime what Format does.
func FuzzAppendTraceLine(f *testing.F) {
	f.Add("trace", "c1/eth0 out → eth0 in", "SNAT 10.200.1.2→10.200.2.1", uint64(101), int64(1700000000123456789), uint32(7), uint8(0))
	f.Add("", "", "", uint64(0), int64(0), uint32(0), uint8(0xff))
	f.Add("a\nb\"c\\", "\x00\xff", "\u2028</script>&", uint64(math.MaxUint64), int64(math.MinInt64), uint32(math.MaxUint32), uint8(0x55))
	f.Add("\xc3", "\ufffd\xed\xa0\x80", "\x7f\x1f\t", uint64(1), int64(math.MaxInt64), uint32(1), uint8(0xaa))
	f.Add("日本", "😀\u2029", "\\u2028", uint64(1<<53+1), int64(-1), uint32(1<<31), uint8(3))
	f.Fuzz(func(t *testing.T, a, b, c string, u uint64, i int64, n uint32, flags uint8) {
		bit := func(k uint) bool { return flags&(1<<k) != 0 }
		hop := hopLine{Netns: a, Ifname: b, Device: c, InterfaceID: n, Direction: a, Time: b, TimeUnixNano: i, OffsetNS: -i,
			Length: n, TTL: n >> 24, Proto: c, Src: a, Dst: b, Sport: n & 0xffff, Dport: n >> 16}
		if bit(0) {
			hop.Tunnel = &tunnelLine{Encap: a, OuterProto: b, OuterSrc: c, OuterDst: a, OuterSport: n, OuterDport: ^n, OuterTTL: n & 0xff}
			if bit(1) {
				hop.Tunnel.ID = &n
			}
		}
		if bit(2) {
			hop.Segment = n
		}
		l := traceLine{Type: a, ID: u, Time: b, TimeUnixNano: i, TransitNS: int64(u), Summary: c, Path: a, FlowID: ^u,
			Changes: []string{a, b, c}, Hops: []hopLine{hop, {}}}
		if bit(3) {
			l.Segments = n
		}
		if bit(4) {
			l.Stopped = b
		}
		if bit(5) {
			l.Conntrack = c
		}
		if bit(6) {
			l.Changes, l.Hops = nil, nil
		}
		if bit(7) {
			l.Changes, l.Hops = []string{}, []hopLine{}
		}
		checkLine(t, &l)

		if got, want := string(appendTime(nil, i)), time.Unix(0, i).UTC().Format(TimeLayout); got != want {
			t.Errorf("appendTime(%d) = %s; Format gives %s", i, got, want)
		}
	})
}

// TestAppendTime: appendTime writes what time.Time.Format wrote before it,
// timeLen bytes, for the whole range of int64 nanoseconds: the extremes,
// around the epoch, every year's first and last nanosecond and the last
// day of February, and random times.
func TestAppendTime(t *testing.T) {
	check := func(ns int64) {
		t.Helper()
		got := appendTime([]byte("x"), ns)
		want := "x" + time.Unix(0, ns).UTC().Format(TimeLayout)
		if string(got) != want || len(got) != 1+timeLen {
			t.Fatalf("appendTime(%d) = %q; want %q, %d bytes", ns, got[1:], want[1:], timeLen)
		}
		if timeString(ns) != want[1:] {
			t.Fatalf("timeString(%d) = %q; want %q", ns, timeString(ns), want[1:])
		}
	}
	for _, ns := range []int64{
		0, 1, -1, 999_999_999, 1e9, -1e9, -1e9 + 1, -1e9 - 1, 86400e9 - 1, 86400e9, -86400e9, -86400e9 - 1,
		math.MinInt64, math.MinInt64 + 1, math.MaxInt64, math.MaxInt64 - 1,
		1700000000123456789, 1795435200000000000, 1795435200000002000,
	} {
		check(ns)
	}
	for y := 1678; y <= 2262; y++ {
		for _, d := range []time.Time{
			time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC),
			time.Date(y, time.March, 1, 0, 0, 0, 0, time.UTC), // the day after the last of February
			time.Date(y, time.July, 1, 12, 30, 30, 500_000_000, time.UTC),
		} {
			if ns := d.UnixNano(); d.Year() == y && ns != math.MinInt64 && d.Equal(time.Unix(0, ns)) {
				check(ns)
				check(ns - 1)
				check(ns + 1)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		ns := int64(rng.Uint64())
		check(ns)
		check(ns - ns%1e9) // zero nanoseconds
		check(ns - ns%1e3) // microseconds, as captures have them
	}
}

// oldTraceOf is traceOf as it was before the trace path reused its memory:
// a new line, slices and tunnels for every trace, each string allocated by
// itself, times from time.Time.Format. The new traceOf must give lines that
// encode the same.
func oldTraceOf(p *Plugin, t record.TraceView, r *sdk.Reporter) *traceLine {
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format(TimeLayout) }
	l := &traceLine{
		Type: "trace", ID: t.ID(), Time: ts(t.TimeNanos()), TimeUnixNano: t.TimeNanos(),
		TransitNS: t.TransitNanos(), Summary: string(t.Summary()), Path: p.strs.Text(t.Path()), FlowID: t.FlowID(),
		Segments: uint32(t.Segments()), Stopped: string(t.Stopped()), Conntrack: string(t.Conntrack()),
		Changes: make([]string, 0, t.NumChanges()), Hops: make([]hopLine, 0, t.NumHops()),
	}
	t.Changes(func(c []byte) { l.Changes = append(l.Changes, p.strs.Text(c)) })
	for i := range t.NumHops() {
		h := t.Hop(i)
		dev := p.hopDevice(h.Iface, t.ID(), r)
		tu := h.Tuple
		var tl *tunnelLine
		if tun := h.Tunnel; tun.Encap != record.EncapNone {
			o := &tun.Outer
			tl = &tunnelLine{
				Encap: tun.Encap.String(), OuterProto: o.ProtoName(), OuterSrc: p.strs.Addr(o.Src), OuterDst: p.strs.Addr(o.Dst),
				OuterSport: uint32(o.SrcPort), OuterDport: uint32(o.DstPort), OuterTTL: uint32(tun.OuterTTL),
			}
			if tun.HasID {
				tl.ID = &tun.ID
			}
		}
		l.Hops = append(l.Hops, hopLine{
			Netns: dev.netns, Ifname: dev.ifname, Device: dev.name, InterfaceID: h.Iface,
			Direction: h.Dir.String(), Time: ts(h.TimeNanos), TimeUnixNano: h.TimeNanos,
			OffsetNS: h.TimeNanos - t.TimeNanos(), Length: h.OrigLen, TTL: uint32(h.TTL),
			Proto: tu.ProtoName(), Src: p.strs.Addr(tu.Src), Dst: p.strs.Addr(tu.Dst), Sport: uint32(tu.SrcPort), Dport: uint32(tu.DstPort),
			Tunnel: tl, Segment: uint32(h.Segment),
		})
	}
	return l
}

// randAddr is no address, an IPv4 or an IPv6 address.
func randAddr(rng *rand.Rand) netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	switch rng.IntN(3) {
	case 0:
		return netip.Addr{}
	case 1:
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func randTuple(rng *rand.Rand) record.Tuple {
	ethertypes := []uint16{0, 0x0800, 0x86dd, 0x0806, 0x88cc}
	return record.Tuple{
		EtherType: ethertypes[rng.IntN(len(ethertypes))], Proto: uint8(rng.IntN(256)),
		Src: randAddr(rng), Dst: randAddr(rng), SrcPort: uint16(randUint(rng, 16)), DstPort: uint16(randUint(rng, 16)),
	}
}

// randPackedTraces packs n random traces: one to six hops, on announced
// interfaces (0 to 3) and others, in and out, with and without tunnels
// (with and without an id, and of unknown encapsulations), segments, notes
// and changes, odd text in all of them.
func randPackedTraces(rng *rand.Rand, n int) []byte {
	var w record.TraceWriter
	for range n {
		w.Begin()
		t0 := randInt(rng, 64)
		for range 1 + rng.IntN(6) {
			h := record.TraceHop{
				TimeNanos: t0 + rng.Int64N(1e10) - 1e9, Iface: uint32(rng.IntN(6)), OrigLen: uint32(randUint(rng, 32)),
				Dir: record.Direction(rng.IntN(3)), TTL: uint8(rng.IntN(256)), Tuple: randTuple(rng), Segment: uint16(randUint(rng, 16)),
			}
			if rng.IntN(3) == 0 {
				h.Tunnel = record.Tunnel{Encap: record.Encap(1 + rng.IntN(10)), ID: uint32(randUint(rng, 32)), HasID: rng.IntN(2) == 0,
					Outer: randTuple(rng), OuterTTL: uint8(rng.IntN(256))}
			}
			w.Hop(&h)
		}
		var changes []string
		for range rng.IntN(4) {
			changes = append(changes, randString(rng))
		}
		w.End(&record.Trace{
			ID: randUint(rng, 64), TimeNanos: t0, TransitNanos: randInt(rng, 64), FlowID: randUint(rng, 64),
			Decoded: rng.IntN(2) == 0, Segments: uint16(randUint(rng, 16)), Path: randString(rng), Summary: []byte(randString(rng)),
			Stopped: randString(rng), Conntrack: randString(rng), Changes: changes,
		})
	}
	return w.Bytes()
}

// TestTraceOf: trace after trace, traceOf, reusing its line, slices,
// tunnels and buffers, and appendTraceLine write what oldTraceOf and
// encoding/json wrote; a trace's line does not keep anything of the one
// before.
func TestTraceOf(t *testing.T) {
	announce := func(p *Plugin) {
		for id, name := range []string{"c1/eth0", "labhost/br0 <\u2028>", "\xff", ""} {
			p.devices[uint32(id)] = device{name: name, netns: name + "ns", ifname: name + "if"}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for batch := range 20 {
		// A new pair of plugins for every batch: what the first trace finds
		// differs from what the others find.
		newP, oldP := New(), New()
		announce(newP)
		announce(oldP)
		r := record.NewTraceReader(randPackedTraces(rng, 500))
		for i := 0; ; i++ {
			v, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			want := stdLine(t, oldTraceOf(oldP, v, nil))
			got := appendTraceLine(nil, newP.traceOf(v, nil))
			if !bytes.Equal(got, want) {
				t.Fatalf("batch %d trace %d differs at byte %d\n got %q\nwant %q", batch, i, firstDiff(got, want), got, want)
			}
		}
		if newP.unknownHops != oldP.unknownHops || newP.firstUnknown != oldP.firstUnknown {
			t.Errorf("unknown hops %d, first %d; want %d, %d", newP.unknownHops, newP.firstUnknown, oldP.unknownHops, oldP.firstUnknown)
		}
	}
}

// TestTraceOfAllocs: after the first trace, a trace line costs one
// allocation (its text) on the way from packed trace to bytes.
func TestTraceOfAllocs(t *testing.T) {
	p := benchPlugin()
	v, _, _ := record.NewTraceReader(benchBatch(1).TraceRecords).Next()
	var out []byte
	allocs := testing.AllocsPerRun(100, func() { out = appendTraceLine(out[:0], p.traceOf(v, nil)) })
	if allocs > 1 {
		t.Errorf("%v allocations per trace line; want 1", allocs)
	}
}

// benchBatch is n packed traces like those of the capture the trace path
// was measured on: three hops, one change, about 1 KB of JSON each.
func benchBatch(n int) *pb.Batch {
	t0 := int64(1795435200000000000)
	udp := func(src string) *pb.Tuple {
		return &pb.Tuple{Proto: "udp", Src: src, Dst: "10.200.2.2", Sport: 40000, Dport: 9}
	}
	var w record.TraceWriter
	for i := range n {
		ts := t0 + int64(i)*2000
		sdk.PackTrace(&w, &pb.Trace{
			Id: uint64(i + 1), TimeUnixNano: ts, TransitNanos: 2000, FlowId: 1,
			Summary: "UDP 10.200.1.2:40000 > 10.200.2.2:9 length 18", Path: "if4 in → if3 in → if5 out",
			Changes: []string{"SNAT 10.200.1.2→10.200.2.1"},
			Hops: []*pb.Hop{
				{InterfaceId: 0, Direction: "in", TimeUnixNano: ts, Length: 60, Ttl: 64, Tuple: udp("10.200.1.2")},
				{InterfaceId: 1, Direction: "in", TimeUnixNano: ts + 1000, Length: 60, Ttl: 63, Tuple: udp("10.200.1.2")},
				{InterfaceId: 2, Direction: "out", TimeUnixNano: ts + 2000, Length: 60, Ttl: 62, Tuple: udp("10.200.2.1")},
			},
		})
	}
	return &pb.Batch{Seq: 2, TraceRecords: w.Bytes()}
}

// benchInterfaces announces the interfaces of benchBatch's traces.
func benchInterfaces() *pb.Batch {
	b := &pb.Batch{Seq: 1}
	for i, name := range []string{"if4", "if3", "if5"} {
		b.Interfaces = append(b.Interfaces, &pb.Interface{Id: uint32(i), Name: name, Ifname: name, Hatype: 1, Up: true})
	}
	return b
}

// benchPlugin is an unconfigured plugin that knows benchInterfaces.
func benchPlugin() *Plugin {
	p := New()
	for _, ifc := range benchInterfaces().Interfaces {
		p.devices[ifc.Id] = device{name: ifc.Name, netns: ifc.Netns, ifname: ifc.Ifname}
	}
	return p
}

// BenchmarkTraceLine compares the trace path per line: old is oldTraceOf
// and encoding/json, new is traceOf and appendTraceLine.
func BenchmarkTraceLine(b *testing.B) {
	p := benchPlugin()
	v, _, _ := record.NewTraceReader(benchBatch(1).TraceRecords).Next()
	b.Run("old", func(b *testing.B) {
		enc := newEncoder(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			if err := enc.Encode(oldTraceOf(p, v, nil)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			out = appendTraceLine(out[:0], p.traceOf(v, nil))
		}
		b.SetBytes(int64(len(out)))
	})
}

// BenchmarkEncodeTraceLine compares the encoders alone on one line.
func BenchmarkEncodeTraceLine(b *testing.B) {
	p := benchPlugin()
	v, _, _ := record.NewTraceReader(benchBatch(1).TraceRecords).Next()
	l := p.traceOf(v, nil)
	b.Run("encoding_json", func(b *testing.B) {
		enc := newEncoder(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			if err := enc.Encode(l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			out = appendTraceLine(out[:0], l)
		}
	})
}

// BenchmarkTime compares time.Time.Format with appendTime.
func BenchmarkTime(b *testing.B) {
	const ns = 1795435200000002000
	b.Run("Format", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = time.Unix(0, ns).UTC().Format(TimeLayout)
		}
	})
	b.Run("append", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = appendTime(buf[:0], ns)
		}
	})
}

// BenchmarkConsumeTraces is the plugin's whole trace path, per trace line
// (ns/trace, allocs/trace): reading the packed trace, building the line,
// encoding it and writing it to /dev/null through the plugin's buffer.
func BenchmarkConsumeTraces(b *testing.B) {
	const n = 1000
	p := New()
	if _, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: map[string]string{"path": os.DevNull}}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := p.Finish(context.Background()); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	if err := p.Consume(ctx, benchInterfaces(), &sdk.Reporter{}); err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(n)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		if err := p.Consume(ctx, batch, &sdk.Reporter{}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/trace")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N*n), "allocs/trace")
}
