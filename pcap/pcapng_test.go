package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// t0 is the time of the first fixture packet; later ones are odd numbers of
// nanoseconds apart so that any rounding shows.
const t0 = int64(1700000000_123456789)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize test frame: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

func testIPv4(t testing.TB) (*layers.IPv4, []gopacket.SerializableLayer) {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IPv4(10, 200, 1, 2), DstIP: net.IPv4(10, 200, 2, 2)}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}
	return ip, []gopacket.SerializableLayer{ip, icmp, gopacket.Payload("ifacetrace")}
}

// testFrames returns an Ethernet frame carrying an ICMP echo, the same IPv4
// packet alone, and an IPv6 ICMPv6 echo.
func testFrames(t testing.TB) (eth, ip4, ip6 []byte) {
	_, l4 := testIPv4(t)
	ip4 = serialize(t, l4...)
	e := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	eth = serialize(t, append([]gopacket.SerializableLayer{e}, l4...)...)
	v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("fd00::2"), DstIP: net.ParseIP("fd00::1")}
	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	if err := icmp6.SetNetworkLayerForChecksum(v6); err != nil {
		t.Fatal(err)
	}
	ip6 = serialize(t, v6, icmp6, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("ifacetrace"))
	return eth, ip4, ip6
}

type fixtureStats struct {
	iface int
	stats Stats
}

// fixture is a capture across the kinds of device Writer treats
// differently, with what the file must hold for each packet.
type fixture struct {
	opts    WriterOptions
	ifaces  []Interface
	packets []Packet
	stats   []fixtureStats

	wantData [][]byte // frame as written to the file
	wantLen  []int    // original length as written
	// tshark's frame.protocols must start with this.
	wantProtocols []string
}

func newFixture(t testing.TB) *fixture {
	eth, ip4, ip6 := testFrames(t)
	f := &fixture{
		opts: WriterOptions{Application: "ifacetrace test", OS: "Linux", Hardware: "x86_64", Comment: "a test capture"},
		ifaces: []Interface{
			{Name: "host/veth1", Description: "veth peer=c1/eth0 master=br0 mac=02:00:00:00:00:01", HAType: 1, IfIndex: 5, SnapLen: 262144},
			{Name: "c1/wg0", Description: "wireguard", HAType: 65534, IfIndex: 3},
			{Name: "host/void0", HAType: 65535, IfIndex: 0x0102},
			{Name: "host/lo", Description: "loopback", HAType: 772, IfIndex: 1, SnapLen: 30},
			{Name: "host/vcan0", HAType: 280, IfIndex: 9},
			{Name: "host/nlmon0", HAType: 824, IfIndex: 10},
		},
	}
	add := func(p Packet, data []byte, origLen int, protocols string) {
		p.TimeNanos = t0 + int64(len(f.packets))*1001
		f.packets = append(f.packets, p)
		f.wantData = append(f.wantData, data)
		f.wantLen = append(f.wantLen, origLen)
		f.wantProtocols = append(f.wantProtocols, protocols)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	// Ethernet, in, with the VLAN tag the kernel stripped, every option.
	add(Packet{Iface: 0, Data: eth, Dir: record.DirIn, PktType: PacketHost, Proto: 0x0800,
		VLANValid: true, VLANTCI: 42, HasPacketID: true, PacketID: 1, HasDropCount: true, DropCount: 3,
		Comment: "trace 1 hop 1/2 host/veth1 in → c1/wg0 out"},
		cat(eth[:12], []byte{0x81, 0x00, 0x00, 42}, eth[12:]), len(eth)+4, "eth:ethertype:vlan:ethertype:ip:icmp")
	// Raw IP out, then in as IPv6.
	add(Packet{Iface: 1, Data: ip4, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0x0800,
		HasPacketID: true, PacketID: 1, Comment: "trace 1 hop 2/2 host/veth1 in → c1/wg0 out"},
		ip4, len(ip4), "raw:ip:icmp")
	add(Packet{Iface: 1, Data: ip6, Dir: record.DirIn, PktType: PacketHost, Proto: 0x86dd, HasPacketID: true, PacketID: 2},
		ip6, len(ip6), "raw:ipv6:icmpv6")
	// Unknown hardware type: SLL2, direction unknown, promiscuous.
	add(Packet{Iface: 2, Data: ip4, PktType: PacketOtherHost, Proto: 0x0800},
		cat([]byte{0x08, 0x00, 0, 0, 0, 0, 0x01, 0x02, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ip4),
		len(ip4)+20, "sll:ethertype:ip:icmp")
	// SLL2 with a VLAN tag (802.1ad TPID), broadcast.
	add(Packet{Iface: 2, Data: ip4, Dir: record.DirIn, PktType: PacketBroadcast, Proto: 0x0800,
		VLANValid: true, VLANTPID: 0x88a8, VLANTCI: 7},
		cat([]byte{0x88, 0xa8, 0, 0, 0, 0, 0x01, 0x02, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x07, 0x08, 0x00}, ip4),
		len(ip4)+24, "sll:ethertype:ieee8021ad:ethertype:ip:icmp")
	// Loopback, truncated by the snap length.
	add(Packet{Iface: 3, Data: eth[:30], OrigLen: uint32(len(eth)), Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0x0800},
		eth[:30], len(eth), "eth:ethertype:ip")
	// Ethernet, in, multicast: flags only. Then unicast with direction unknown.
	add(Packet{Iface: 0, Data: eth, Dir: record.DirIn, PktType: PacketMulticast, Proto: 0x0800},
		eth, len(eth), "eth:ethertype:ip:icmp")
	add(Packet{Iface: 0, Data: eth, PktType: PacketHost, Proto: 0x0800, HasDropCount: true, DropCount: 0},
		eth, len(eth), "eth:ethertype:ip:icmp")
	// CAN: CAN ID to network byte order.
	can := make([]byte, 16)
	binary.NativeEndian.PutUint32(can, 0x123)
	can[4] = 2
	can[8], can[9] = 0xaa, 0xbb
	add(Packet{Iface: 4, Data: can, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0x000c},
		cat([]byte{0, 0, 0x01, 0x23, 2, 0, 0, 0, 0xaa, 0xbb}, make([]byte, 6)), 16, "can")
	// Netlink (RTM_GETLINK dump request): behind an SLL header.
	nl := []byte{20, 0, 0, 0, 18, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0}
	add(Packet{Iface: 5, Data: nl, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0 /* NETLINK_ROUTE */},
		cat([]byte{0, 4, 0x03, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nl), len(nl)+16, "netlink:netlink-route")

	f.stats = []fixtureStats{
		{0, Stats{Received: 1000, Dropped: 3, HasDropped: true,
			Start: time.Unix(0, t0-1e9), End: time.Unix(0, t0+5e9+7)}},
		{1, Stats{Received: 2}},
		{2, Stats{Received: 2, HasDropped: true, End: time.Unix(0, t0+6e9+1)}},
	}
	return f
}

func sectionInfo(o WriterOptions) pcapgo.NgSectionInfo {
	return pcapgo.NgSectionInfo{Application: o.Application, OS: o.OS, Hardware: o.Hardware, Comment: o.Comment}
}

func (f *fixture) write(t testing.TB, dst io.Writer) {
	t.Helper()
	w := NewWriter(dst, f.opts)
	for i, ifc := range f.ifaces {
		id, err := w.AddInterface(ifc)
		if err != nil {
			t.Fatal(err)
		}
		if id != i {
			t.Fatalf("AddInterface(%q) = %d, want %d", ifc.Name, id, i)
		}
	}
	for i := range f.packets {
		p := f.packets[i]
		in := bytes.Clone(p.Data)
		if err := w.WritePacket(&p); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(in, p.Data) {
			t.Fatalf("packet %d: WritePacket modified Data", i)
		}
	}
	for _, s := range f.stats {
		if err := w.WriteStats(s.iface, s.stats); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	f.write(t, &buf)

	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatalf("open written file: %v", err)
	}
	if diff := cmp.Diff(sectionInfo(f.opts), r.SectionInfo()); diff != "" {
		t.Errorf("section info (-want +got):\n%s", diff)
	}

	type epb struct {
		Iface     int
		LinkType  layers.LinkType
		TimeNanos int64
		CapLen    int
		Len       int
		Data      []byte
		Opts      pcapgo.NgPacketOptions
	}
	u64 := func(v uint64) *uint64 { return &v }
	wantLinkTypes := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeEthernet, LinkTypeCANSocketCAN, LinkTypeNetlink}
	for i, p := range f.packets {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			t.Fatalf("read packet %d: %v", i, err)
		}
		got := epb{ci.InterfaceIndex, ci.AncillaryData[0].(layers.LinkType), ci.Timestamp.UnixNano(), ci.CaptureLength, ci.Length, data, opts}
		want := epb{
			Iface:     p.Iface,
			LinkType:  wantLinkTypes[p.Iface],
			TimeNanos: p.TimeNanos,
			CapLen:    len(f.wantData[i]),
			Len:       f.wantLen[i],
			Data:      f.wantData[i],
		}
		flags := epbFlags(p.Dir, p.PktType)
		if flags != (pcapgo.NgEpbFlags{}) {
			want.Opts.Flags = &flags
		}
		if p.HasPacketID {
			want.Opts.PacketID = u64(p.PacketID)
		}
		if p.HasDropCount {
			want.Opts.DropCount = u64(p.DropCount)
		}
		if p.Comment != "" {
			want.Opts.Comments = []string{p.Comment}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("packet %d (-want +got):\n%s", i, diff)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after the last packet: err = %v, want io.EOF", err)
	}

	// Interfaces, with the statistics read from the ISBs at the end.
	if r.NInterfaces() != len(f.ifaces) {
		t.Fatalf("%d interfaces, want %d", r.NInterfaces(), len(f.ifaces))
	}
	wantSnap := []uint32{262148, 0, 0, 34, 0, 0}
	wantStats := make([]pcapgo.NgInterfaceStatistics, len(f.ifaces))
	utc := func(ns int64) time.Time { return time.Unix(0, ns).UTC() }
	wantStats[0] = pcapgo.NgInterfaceStatistics{LastUpdate: utc(t0 + 5e9 + 7), StartTime: utc(t0 - 1e9), EndTime: utc(t0 + 5e9 + 7),
		PacketsReceived: 1000, PacketsDropped: 3}
	newest := f.packets[len(f.packets)-1].TimeNanos
	wantStats[1] = pcapgo.NgInterfaceStatistics{LastUpdate: utc(newest), PacketsReceived: 2, PacketsDropped: pcapgo.NgNoValue64}
	wantStats[2] = pcapgo.NgInterfaceStatistics{LastUpdate: utc(t0 + 6e9 + 1), EndTime: utc(t0 + 6e9 + 1), PacketsReceived: 2, PacketsDropped: 0}
	for i, ifc := range f.ifaces {
		got, err := r.Interface(i)
		if err != nil {
			t.Fatal(err)
		}
		want := pcapgo.NgInterface{
			Name:                ifc.Name,
			Description:         ifc.Description,
			LinkType:            wantLinkTypes[i],
			TimestampResolution: 9,
			SnapLength:          wantSnap[i],
			Statistics:          wantStats[i],
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(pcapgo.NgInterface{})); diff != "" {
			t.Errorf("interface %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestEmptyFile(t *testing.T) {
	var buf bytes.Buffer
	opts := WriterOptions{Application: "ifacetrace test", Comment: "nothing captured"}
	w := NewWriter(&buf, opts)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("Flush before any interface wrote %d bytes", buf.Len())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// pcapgo's default reader wants an interface in every section (it needs
	// one for LinkType) and fails with io.EOF on a section without one.
	if _, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions); err != io.EOF {
		t.Errorf("pcapgo default reader on an empty section: err = %v, want io.EOF (pcapgo limitation)", err)
	}
	// With mixed link types allowed it does not look ahead for one.
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatalf("open empty file: %v", err)
	}
	if diff := cmp.Diff(sectionInfo(opts), r.SectionInfo()); diff != "" {
		t.Errorf("section info (-want +got):\n%s", diff)
	}
	if n := r.NInterfaces(); n != 0 {
		t.Errorf("%d interfaces, want 0", n)
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Errorf("read packet: err = %v, want io.EOF", err)
	}

	// No options at all: the minimal 28-byte section header block.
	buf.Reset()
	if err := NewWriter(&buf, WriterOptions{}).Close(); err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0,
		0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		28, 0, 0, 0,
	}
	if diff := cmp.Diff(want, buf.Bytes()); diff != "" {
		t.Errorf("empty section header (-want +got):\n%s", diff)
	}
}

// The section header written by hand for an empty file must be the one
// pcapgo writes.
func TestSectionHeaderMatchesPcapgo(t *testing.T) {
	for _, info := range []pcapgo.NgSectionInfo{
		{},
		{Application: "a"},
		{Comment: "ab", Hardware: "abc", OS: "abcd"},
		{Application: "ifacetrace 0.1.0", OS: "Linux 6.1.0-18-amd64", Hardware: "x86_64", Comment: "captured → here"},
	} {
		var buf bytes.Buffer
		ng, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet},
			pcapgo.NgWriterOptions{SectionInfo: info})
		if err != nil {
			t.Fatal(err)
		}
		if err := ng.Flush(); err != nil {
			t.Fatal(err)
		}
		n := binary.LittleEndian.Uint32(buf.Bytes()[4:8])
		if diff := cmp.Diff(buf.Bytes()[:n], appendSectionHeader(nil, info)); diff != "" {
			t.Errorf("%+v: section header (-pcapgo +ours):\n%s", info, diff)
		}
	}
}

// pcapgo writes option values longer than 65535 bytes with a wrapped length
// field; Writer clips them so the file stays readable.
func TestLongStringsClipped(t *testing.T) {
	long := strings.Repeat("é", 40000) // 80000 bytes; byte 65535 is inside a character
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{Comment: long})
	if _, err := w.AddInterface(Interface{Name: long, HAType: 1}); err != nil {
		t.Fatal(err)
	}
	eth, _, _ := testFrames(t)
	if err := w.WritePacket(&Packet{Data: eth, Comment: long}); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(&Packet{Data: eth, Comment: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(&buf, pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, s string) {
		t.Helper()
		if len(s) != 65534 || !utf8.ValidString(s) || !strings.HasPrefix(long, s) {
			t.Errorf("%s: %d bytes (valid UTF-8 prefix: %v), want the first 65534", what, len(s), utf8.ValidString(s) && strings.HasPrefix(long, s))
		}
	}
	check("section comment", r.SectionInfo().Comment)
	ifc, _ := r.Interface(0)
	check("interface name", ifc.Name)
	_, _, opts, err := r.ReadPacketDataWithOptions()
	if err != nil || len(opts.Comments) != 1 {
		t.Fatalf("first packet: comments %d, err %v", len(opts.Comments), err)
	}
	check("packet comment", opts.Comments[0])
	_, _, opts, err = r.ReadPacketDataWithOptions()
	if err != nil || len(opts.Comments) != 1 || opts.Comments[0] != "after" {
		t.Fatalf("second packet: comments %q, err %v", opts.Comments, err)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestErrors(t *testing.T) {
	w := NewWriter(io.Discard, WriterOptions{})
	if err := w.WritePacket(&Packet{Iface: 0, Data: []byte{1}}); err == nil {
		t.Error("WritePacket before AddInterface: no error")
	}
	if err := w.WriteStats(0, Stats{}); err == nil {
		t.Error("WriteStats before AddInterface: no error")
	}
	id, err := w.AddInterface(Interface{Name: "eth0", HAType: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{-1, id + 1} {
		if err := w.WritePacket(&Packet{Iface: bad, Data: []byte{1}}); err == nil {
			t.Errorf("WritePacket on interface %d: no error", bad)
		}
		if err := w.WriteStats(bad, Stats{}); err == nil {
			t.Errorf("WriteStats on interface %d: no error", bad)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(Interface{Name: "eth1"}); !errors.Is(err, errClosed) {
		t.Errorf("AddInterface after Close: err = %v", err)
	}
	if err := w.WritePacket(&Packet{Iface: id, Data: []byte{1}}); !errors.Is(err, errClosed) {
		t.Errorf("WritePacket after Close: err = %v", err)
	}
	if err := w.WriteStats(id, Stats{}); !errors.Is(err, errClosed) {
		t.Errorf("WriteStats after Close: err = %v", err)
	}

	// Errors of the underlying writer surface, wrapped, when the buffer is
	// written out.
	w = NewWriter(failingWriter{}, WriterOptions{})
	if _, err := w.AddInterface(Interface{Name: "eth0", HAType: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "flush pcapng") {
		t.Errorf("Flush: err = %v, want wrapped %v", err, errDiskFull)
	}
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close: err = %v, want wrapped %v", err, errDiskFull)
	}
	if err := NewWriter(failingWriter{}, WriterOptions{}).Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close of an empty file: err = %v, want wrapped %v", err, errDiskFull)
	}
}

// WritePacket allocates nothing: not for the options (pcapgo's
// WritePacketWithOptions allocates for every block with options), not for
// rewriting frames (VLAN, SLL/SLL2 header, CAN byte order).
func TestWritePacketAllocs(t *testing.T) {
	f := newFixture(t)
	w := NewWriter(io.Discard, f.opts)
	for _, ifc := range f.ifaces {
		if _, err := w.AddInterface(ifc); err != nil {
			t.Fatal(err)
		}
	}
	allocs := func(p Packet) float64 {
		return testing.AllocsPerRun(200, func() {
			if err := w.WritePacket(&p); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The plugin's common case: direction and reception type, the trace
	// id, and the trace's comment.
	eth, _, _ := testFrames(t)
	p := Packet{Iface: 0, TimeNanos: t0, Data: eth, Dir: record.DirIn, PktType: PacketHost,
		HasPacketID: true, PacketID: 7, Comment: "trace 7 hop 1/2: host/veth1 → c1/eth0"}
	if n := allocs(p); n != 0 {
		t.Errorf("packet with epb_flags, epb_packetid and a comment: %v allocations, want 0", n)
	}
	p.Comment, p.CommentBytes = "", []byte("trace 7 hop 1/2: host/veth1 → c1/eth0")
	if n := allocs(p); n != 0 {
		t.Errorf("packet with a comment as bytes: %v allocations, want 0", n)
	}

	for i, p := range f.packets {
		if n := allocs(p); n != 0 {
			t.Errorf("packet %d (%s): %v allocations, want 0", i, f.ifaces[p.Iface].Name, n)
		}
		p.Dir, p.PktType, p.HasPacketID, p.HasDropCount, p.Comment = record.DirUnknown, PacketOutgoing, false, false, ""
		if n := allocs(p); n != 0 {
			t.Errorf("packet %d (%s) without options: %v allocations, want 0", i, f.ifaces[p.Iface].Name, n)
		}
	}
}

func BenchmarkWritePacket(b *testing.B) {
	f := newFixture(b)
	cases := []struct {
		name string
		p    Packet
	}{
		{"ethernet", f.packets[6]},                 // flags only
		{"ethernet-vlan-id-comment", f.packets[0]}, // VLAN reinsertion and all options
		{"rawip-id", f.packets[2]},
		{"sll2", f.packets[3]},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := NewWriter(io.Discard, f.opts)
			for _, ifc := range f.ifaces {
				if _, err := w.AddInterface(ifc); err != nil {
					b.Fatal(err)
				}
			}
			p := c.p
			b.SetBytes(int64(len(p.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WritePacket(&p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
