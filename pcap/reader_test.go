package pcap

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// rdPacket is one packet as FileReader returns it.
type rdPacket struct {
	H    record.Header
	Data []byte
}

// readAll reads a whole file through OpenFile and Next, checking what every
// caller relies on: interfaces are announced with ids 0, 1, 2… no later than
// their first packet, and CapLen is the length of the data. err is nil when
// the file ended with io.EOF.
func readAll(t testing.TB, file []byte, name string) (ifaces []FileInterface, pkts []rdPacket, err error) {
	t.Helper()
	r, err := OpenFile(bytes.NewReader(file), name)
	if err != nil {
		return nil, nil, err
	}
	for {
		var h record.Header
		data, fresh, err := r.Next(&h)
		if err == io.EOF {
			return ifaces, pkts, nil
		}
		if err != nil {
			if data != nil || fresh != nil {
				t.Errorf("Next returned data or interfaces with error %v", err)
			}
			if _, _, again := r.Next(&h); again != err {
				t.Errorf("Next after error %v returned %v", err, again)
			}
			return ifaces, pkts, err
		}
		for _, fi := range fresh {
			if int(fi.ID) != len(ifaces) {
				t.Fatalf("interface %q announced with id %d, want %d", fi.Name, fi.ID, len(ifaces))
			}
			ifaces = append(ifaces, fi)
		}
		if int(h.Iface) >= len(ifaces) {
			t.Fatalf("packet %d on interface %d, of %d announced", len(pkts), h.Iface, len(ifaces))
		}
		if int(h.CapLen) != len(data) {
			t.Fatalf("packet %d: CapLen %d, data %d bytes", len(pkts), h.CapLen, len(data))
		}
		pkts = append(pkts, rdPacket{h, bytes.Clone(data)})
	}
}

func mustReadAll(t testing.TB, file []byte, name string) ([]FileInterface, []rdPacket) {
	t.Helper()
	ifaces, pkts, err := readAll(t, file, name)
	if err != nil {
		t.Fatal(err)
	}
	return ifaces, pkts
}

func rdSerialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

var (
	rdMAC1  = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	rdMAC2  = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	rdZero  = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	rdBcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	rdMcast = net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 0xfb}
)

// rdIPv4 is an ICMP echo from 10.9.0.1 to 10.9.0.2 with payload length n.
func rdIPv4(t testing.TB, n int) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 7, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IPv4(10, 9, 0, 1), DstIP: net.IPv4(10, 9, 0, 2)}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}
	return rdSerialize(t, ip, icmp, gopacket.Payload(bytes.Repeat([]byte{'x'}, n)))
}

func rdIPv6(t testing.TB) []byte {
	v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(v6); err != nil {
		t.Fatal(err)
	}
	return rdSerialize(t, v6, udp, gopacket.Payload("ifacetrace"))
}

func rdEther(t testing.TB, src, dst net.HardwareAddr, typ layers.EthernetType, payload []byte) []byte {
	return rdSerialize(t, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}, gopacket.Payload(payload))
}

func rdARP(t testing.TB) []byte {
	return rdSerialize(t,
		&layers.Ethernet{SrcMAC: rdMAC1, DstMAC: rdBcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: rdMAC1, SourceProtAddress: []byte{10, 9, 0, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 9, 0, 2}})
}

// rdPcap writes a pcap file (nanosecond timestamps) of link type lt.
func rdPcap(t testing.TB, lt layers.LinkType, frames [][]byte, origLens []int, times []int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(262144, lt); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, times[i]), CaptureLength: len(f), Length: max(origLens[i], len(f))}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// liveFrame is a frame as ifacetrace's live capture delivers it, with the
// device it was seen on.
type liveFrame struct {
	dev     int // index into liveDevices
	pkttype uint8
	proto   uint16
	data    []byte
	orig    int // 0: len(data)
}

type liveDevice struct {
	ifindex int32
	hatype  uint16
}

var liveDevices = []liveDevice{
	{5, arphrdEther},    // veth1
	{1, arphrdLoopback}, // lo
	{9, arphrdNone},     // wg0
}

func liveFrames(t testing.TB) []liveFrame {
	ip4, ip6 := rdIPv4(t, 30), rdIPv6(t)
	ethIn := rdEther(t, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, ip4)
	ethOut := rdEther(t, rdMAC1, rdMAC2, layers.EthernetTypeIPv4, ip4)
	lo := rdEther(t, rdZero, rdZero, layers.EthernetTypeIPv6, ip6)
	// An 802.2 LLC (STP) frame: its type field is its length.
	llc := append(append([]byte{0x01, 0x80, 0xc2, 0, 0, 0}, rdMAC2...), 0, 7, 0x42, 0x42, 0x03, 0, 0, 0, 0)
	return []liveFrame{
		{dev: 0, pkttype: PacketOutgoing, proto: 0x0806, data: rdARP(t)},
		{dev: 0, pkttype: PacketHost, proto: 0x0800, data: ethIn},
		{dev: 1, pkttype: PacketOutgoing, proto: 0x86dd, data: lo},
		{dev: 1, pkttype: PacketHost, proto: 0x86dd, data: lo},
		{dev: 2, pkttype: PacketHost, proto: 0x86dd, data: ip6},
		{dev: 2, pkttype: PacketOutgoing, proto: 0x0800, data: ip4},
		{dev: 0, pkttype: PacketOutgoing, proto: 0x0800, data: ethOut[:40], orig: len(ethOut)}, // snap length
		{dev: 0, pkttype: PacketMulticast, proto: 0x86dd, data: rdEther(t, rdMAC2, rdMcast, layers.EthernetTypeIPv6, ip6)},
		{dev: 0, pkttype: PacketBroadcast, proto: 0x0800, data: rdEther(t, rdMAC2, rdBcast, layers.EthernetTypeIPv4, ip4)},
		{dev: 0, pkttype: PacketOtherHost, proto: 0x0800, data: rdEther(t, rdMAC2, rdMcast, layers.EthernetTypeIPv4, ip4)},
		{dev: 0, pkttype: PacketMulticast, proto: ethP8022, data: llc},
	}
}

// cookedFile writes frames as tcpdump -i any does, with an SLL2 (v2) or SLL
// header instead of the link-layer header, and returns what the reader must
// give back for each: the frame with the destination MAC zeroed.
func cookedFile(t testing.TB, v2 bool, frames []liveFrame) (file []byte, want []rdPacket) {
	t.Helper()
	var data [][]byte
	var origs []int
	var times []int64
	for i, f := range frames {
		dev := liveDevices[f.dev]
		orig := max(f.orig, len(f.data))
		payload, addr := f.data, []byte(nil)
		wantData := bytes.Clone(f.data)
		if lt, _ := LinkTypeForHAType(dev.hatype); lt == layers.LinkTypeEthernet {
			payload, addr = f.data[14:], f.data[6:12]
			clear(wantData[:6])
			orig -= 14
		}
		var d []byte
		if v2 {
			d = AppendSLL2(nil, f.proto, uint32(dev.ifindex), dev.hatype, f.pkttype, addr, payload)
			orig += SLL2HeaderLen
		} else {
			d = AppendSLL(nil, f.pkttype, dev.hatype, addr, f.proto, payload)
			orig += SLLHeaderLen
		}
		tm := t0 + int64(i)*1001
		data, origs, times = append(data, d), append(origs, orig), append(times, tm)
		want = append(want, rdPacket{H: record.Header{
			TimeNanos: tm, CapLen: uint32(len(wantData)), OrigLen: uint32(max(f.orig, len(f.data))),
			Dir: directionOf(f.pkttype), PktType: f.pkttype, HAType: dev.hatype, Proto: f.proto,
		}, Data: wantData})
	}
	lt := layers.LinkTypeLinuxSLL
	if v2 {
		lt = layers.LinkTypeLinuxSLL2
	}
	return rdPcap(t, lt, data, origs, times), want
}

// TestReadCooked: live frames → AppendSLL2 / AppendSLL → pcap → reader give
// the frames back with their metadata, except the destination MAC.
func TestReadCooked(t *testing.T) {
	frames := liveFrames(t)
	for _, tc := range []struct {
		name   string
		v2     bool
		ifaces []FileInterface
	}{
		{"sll2", true, []FileInterface{
			{ID: 0, Name: "if5", Ifname: "if5", HAType: arphrdEther, IfIndex: 5},
			{ID: 1, Name: "if1", Ifname: "if1", HAType: arphrdLoopback, IfIndex: 1},
			{ID: 2, Name: "if9", Ifname: "if9", HAType: arphrdNone, IfIndex: 9},
		}},
		{"sll", false, []FileInterface{
			{ID: 0, Name: "any", Ifname: "any", HAType: arphrdEther},
			{ID: 1, Name: "any-772", Ifname: "any-772", HAType: arphrdLoopback},
			{ID: 2, Name: "any-65534", Ifname: "any-65534", HAType: arphrdNone},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, want := cookedFile(t, tc.v2, frames)
			ifaces, got := mustReadAll(t, file, "any.pcap")
			for i := range want {
				want[i].H.Iface = uint32(frames[i].dev)
			}
			if diff := cmp.Diff(tc.ifaces, ifaces, cmp.FilterPath(isField("Description"), cmp.Ignore())); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packets (-want +got):\n%s", diff)
			}
		})
	}
}

func isField(name string) func(cmp.Path) bool {
	return func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && sf.Name() == name
	}
}

// TestReadCookedVLAN: a cooked frame whose protocol is a VLAN TPID is kept
// as it is: an 802.1Q-tagged Ethernet frame.
func TestReadCookedVLAN(t *testing.T) {
	ip4 := rdIPv4(t, 8)
	payload := append([]byte{0x00, 42, 0x08, 0x00}, ip4...)
	file := rdPcap(t, layers.LinkTypeLinuxSLL2, [][]byte{AppendSLL2(nil, 0x8100, 4, arphrdEther, PacketHost, rdMAC2, payload)}, []int{0}, []int64{t0})
	_, got := mustReadAll(t, file, "vlan.pcap")
	want := []rdPacket{{
		H:    record.Header{TimeNanos: t0, CapLen: uint32(14 + len(payload)), OrigLen: uint32(14 + len(payload)), Dir: record.DirIn, HAType: arphrdEther, Proto: 0x8100},
		Data: append(append(append(make([]byte, 6), rdMAC2...), 0x81, 0x00), payload...),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestReadPcapLinkTypes: pcap files of one device, which name none.
func TestReadPcapLinkTypes(t *testing.T) {
	ip4, ip6 := rdIPv4(t, 20), rdIPv6(t)
	ucast := rdEther(t, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, ip4)
	bcast := rdARP(t)
	mcast := rdEther(t, rdMAC2, rdMcast, layers.EthernetTypeIPv6, ip6)
	raw802 := append(append(append([]byte(nil), rdMAC1...), rdMAC2...), 0, 4, 0xff, 0xff, 0, 0)
	type pkt struct {
		data             []byte
		proto            uint16
		pkttype          uint8
		wantOrig, inOrig int
	}
	for _, tc := range []struct {
		lt     layers.LinkType
		name   string // file name
		iface  string // its interface's name
		hatype uint16
		pkts   []pkt
	}{
		{layers.LinkTypeEthernet, "/tmp/x/eth-trace.pcap", "eth-trace", arphrdEther, []pkt{
			{data: ucast, proto: 0x0800, pkttype: PacketHost},
			{data: bcast, proto: 0x0806, pkttype: PacketBroadcast},
			{data: mcast[:20], proto: 0x86dd, pkttype: PacketMulticast, inOrig: len(mcast), wantOrig: len(mcast)},
			{data: raw802, proto: ethP8023},
		}},
		{layers.LinkTypeRaw, "tun.cap.gz", "tun", arphrdNone, []pkt{{data: ip4, proto: 0x0800}, {data: ip6, proto: 0x86dd}}},
		{layers.LinkTypeIPv4, "-", "stdin", arphrdNone, []pkt{{data: ip4, proto: 0x0800}}},
		{layers.LinkTypeIPv6, "v6", "v6", arphrdNone, []pkt{{data: ip6, proto: 0x86dd}}},
		{LinkTypeIEEE802154NoFCS, "wpan0.pcap", "wpan0", arphrdIEEE802154, []pkt{{data: []byte{0x41, 0xc8, 0, 0xff, 0xff}}}},
	} {
		t.Run(tc.lt.String(), func(t *testing.T) {
			var frames [][]byte
			var origs []int
			var times []int64
			var want []rdPacket
			for i, p := range tc.pkts {
				frames, origs, times = append(frames, p.data), append(origs, p.inOrig), append(times, t0+int64(i)*1001)
				want = append(want, rdPacket{H: record.Header{TimeNanos: times[i], CapLen: uint32(len(p.data)),
					OrigLen: uint32(max(p.wantOrig, len(p.data))), PktType: p.pkttype, HAType: tc.hatype, Proto: p.proto}, Data: p.data})
			}
			ifaces, got := mustReadAll(t, rdPcap(t, tc.lt, frames, origs, times), tc.name)
			wantIfaces := []FileInterface{{Name: tc.iface, Ifname: tc.iface, HAType: tc.hatype, Description: "device not named in the file"}}
			if diff := cmp.Diff(wantIfaces, ifaces); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadMicroseconds: pcap files with microsecond timestamps, in either
// byte order.
func TestReadMicroseconds(t *testing.T) {
	ip4 := rdIPv4(t, 4)
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(0, t0), CaptureLength: len(ip4), Length: len(ip4)}, ip4); err != nil {
		t.Fatal(err)
	}
	le := buf.Bytes()
	// The same file big-endian: swap the header fields and the record header.
	be := bytes.Clone(le)
	for _, f := range []struct{ off, size int }{{0, 4}, {4, 2}, {6, 2}, {8, 4}, {12, 4}, {16, 4}, {20, 4}, {24, 4}, {28, 4}, {32, 4}, {36, 4}} {
		b := be[f.off : f.off+f.size]
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	for name, file := range map[string][]byte{"little-endian": le, "big-endian": be} {
		_, got := mustReadAll(t, file, name)
		if len(got) != 1 || got[0].H.TimeNanos != t0/1000*1000 || !bytes.Equal(got[0].Data, ip4) {
			t.Errorf("%s: got %+v, want one packet at %d", name, got, t0/1000*1000)
		}
	}
}

// TestReadOwnPcapng: what ifacetrace captures, written by Writer and read
// back, is what it captured, but for the losses OpenFile documents.
func TestReadOwnPcapng(t *testing.T) {
	ip4 := rdIPv4(t, 30)
	eth := rdEther(t, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, ip4)
	lo := rdEther(t, rdZero, rdZero, layers.EthernetTypeIPv4, ip4)
	can := make([]byte, 16)
	binary.NativeEndian.PutUint32(can, 0x123)
	can[4], can[8] = 1, 0xaa
	canfd := make([]byte, canFDMTU)
	binary.NativeEndian.PutUint32(canfd, 0x456)
	canfd[4], canfd[5], canfd[8] = 12, 0x04, 0xbb
	canxl := make([]byte, 16) // priority 0x123, XLF, SDU type 1, 4 bytes, acceptance field
	binary.NativeEndian.PutUint32(canxl, 0x123)
	canxl[4], canxl[5] = canXLXLF, 1
	binary.NativeEndian.PutUint16(canxl[6:], 4)
	binary.NativeEndian.PutUint32(canxl[8:], 0xdeadbeef)
	copy(canxl[12:], "xl!!")
	nl := []byte{20, 0, 0, 0, 18, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0}

	ifcs := []Interface{
		{Name: "c1/veth1", Description: "veth, up, peer veth0, mac 02:00:00:00:00:01", HAType: arphrdEther, IfIndex: 5, SnapLen: 262144},
		{Name: "wg0", Description: "wireguard, up", HAType: arphrdNone, IfIndex: 3},
		{Name: "host/lo", Description: "loopback, up", HAType: arphrdLoopback, IfIndex: 1},
		{Name: "ib0", HAType: 32 /* ARPHRD_INFINIBAND: SLL2 */, IfIndex: 7},
		{Name: "vcan0", HAType: arphrdCAN, IfIndex: 9},
		{Name: "nlmon0", HAType: arphrdNetlink, IfIndex: 10},
		{Name: "unused", HAType: arphrdEther, IfIndex: 11},
	}
	pkts := []Packet{
		{Iface: 0, Data: eth, Dir: record.DirIn, PktType: PacketHost, Proto: 0x0800, HasDropCount: true, DropCount: 3, HasPacketID: true, PacketID: 1, Comment: "trace 1"},
		{Iface: 1, Data: ip4, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0x0800, HasPacketID: true, PacketID: 1},
		{Iface: 0, Data: rdARP(t), Dir: record.DirIn, PktType: PacketBroadcast, Proto: 0x0806},
		{Iface: 2, Data: lo, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 0x0800},
		{Iface: 2, Data: lo, Dir: record.DirIn, PktType: PacketHost, Proto: 0x0800},
		{Iface: 3, Data: ip4, Dir: record.DirIn, PktType: PacketOtherHost, Proto: 0x0800},
		{Iface: 4, Data: can, Dir: record.DirOut, PktType: PacketOutgoing, Proto: ethPCAN},
		{Iface: 4, Data: canfd, Dir: record.DirIn, PktType: PacketHost, Proto: ethPCANF},
		{Iface: 4, Data: canxl, Dir: record.DirIn, PktType: PacketHost, Proto: ethPCANXL},
		{Iface: 5, Data: nl, Dir: record.DirOut, PktType: PacketOutgoing, Proto: 16},
		{Iface: 0, Data: eth[:30], OrigLen: uint32(len(eth)), Dir: record.DirIn, PktType: PacketMulticast, Proto: 0x0800},
		{Iface: 0, Data: eth, Dir: record.DirIn, PktType: PacketHost, Proto: 0x0800, VLANValid: true, VLANTCI: 42},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{Application: "ifacetrace test"})
	for _, ifc := range ifcs {
		if _, err := w.AddInterface(ifc); err != nil {
			t.Fatal(err)
		}
	}
	for i := range pkts {
		pkts[i].TimeNanos = t0 + int64(i)*1001
		if err := w.WritePacket(&pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteStats(0, Stats{Received: 5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	ifaces, got := mustReadAll(t, buf.Bytes(), "own.pcapng")
	wantIfaces := []FileInterface{
		{ID: 0, Name: "c1/veth1", Description: ifcs[0].Description, HAType: arphrdEther, NetNS: "c1", Ifname: "veth1"},
		{ID: 1, Name: "wg0", Description: ifcs[1].Description, HAType: arphrdNone, Ifname: "wg0"},
		{ID: 2, Name: "host/lo", Description: ifcs[2].Description, HAType: arphrdLoopback, NetNS: "host", Ifname: "lo"},
		{ID: 3, Name: "ib0", HAType: 32, IfIndex: 7, Ifname: "ib0"}, // the SLL2 header has the index
		{ID: 4, Name: "vcan0", HAType: arphrdCAN, Ifname: "vcan0"},
		{ID: 5, Name: "nlmon0", HAType: arphrdNetlink, Ifname: "nlmon0"},
	}
	if diff := cmp.Diff(wantIfaces, ifaces); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	var want []rdPacket
	for _, p := range pkts {
		h := record.Header{Iface: uint32(p.Iface), TimeNanos: p.TimeNanos, CapLen: uint32(len(p.Data)), OrigLen: uint32(max(int(p.OrigLen), len(p.Data))),
			Dir: p.Dir, PktType: p.PktType, HAType: wantIfaces[p.Iface].HAType, Proto: p.Proto, Drops: uint32(p.DropCount)}
		data := p.Data
		if p.VLANValid { // left in the frame, as Writer put it there
			data = InsertVLAN(nil, data, p.VLANTPID, p.VLANTCI)
			h.CapLen += 4
			h.OrigLen += 4
			h.Proto = TPID8021Q
		}
		want = append(want, rdPacket{h, data})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packets (-want +got):\n%s", diff)
	}
}

// TestReadPcapngAny: a pcapng "any" interface of cooked frames is split per
// device, one of a named device is not; sections each have their own
// interfaces.
func TestReadPcapngAny(t *testing.T) {
	ip4 := rdIPv4(t, 10)
	eth := rdEther(t, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, ip4)
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL2}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "ppp0", Description: "PPP", LinkType: layers.LinkTypeLinuxSLL}); err != nil {
		t.Fatal(err)
	}
	write := func(iface int, data []byte) {
		t.Helper()
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, t0), CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	write(0, AppendSLL2(nil, 0x0800, 4, arphrdEther, PacketHost, rdMAC2, eth[14:]))
	write(1, AppendSLL(nil, PacketOutgoing, arphrdPPP, nil, 0x0800, ip4))
	write(0, AppendSLL2(nil, 0x0800, 6, arphrdNone, PacketOutgoing, nil, ip4))
	write(0, AppendSLL2(nil, 0x0800, 4, arphrdEther, PacketHost, rdMAC2, eth[14:]))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// A second section, from ifacetrace.
	w2 := NewWriter(&buf, WriterOptions{})
	if _, err := w2.AddInterface(Interface{Name: "eth0", HAType: arphrdEther}); err != nil {
		t.Fatal(err)
	}
	if err := w2.WritePacket(&Packet{Data: eth, Dir: record.DirIn, TimeNanos: t0}); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}

	ifaces, got := mustReadAll(t, buf.Bytes(), "mixed.pcapng")
	wantIfaces := []FileInterface{
		{ID: 0, Name: "if4", Ifname: "if4", HAType: arphrdEther, IfIndex: 4},
		{ID: 1, Name: "ppp0", Ifname: "ppp0", Description: "PPP", HAType: arphrdPPP},
		{ID: 2, Name: "if6", Ifname: "if6", HAType: arphrdNone, IfIndex: 6},
		{ID: 3, Name: "eth0", Ifname: "eth0", HAType: arphrdEther},
	}
	if diff := cmp.Diff(wantIfaces, ifaces, cmp.FilterPath(isField("Description"), cmp.Ignore())); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if len(ifaces) > 1 && ifaces[1].Description != "PPP" {
		t.Errorf("ppp0 description %q, want the file's: PPP", ifaces[1].Description)
	}
	ethNoDst := append(make([]byte, 6), eth[6:]...)
	want := []rdPacket{
		{record.Header{Iface: 0, CapLen: uint32(len(eth)), OrigLen: uint32(len(eth)), Dir: record.DirIn, PktType: PacketHost, HAType: arphrdEther, Proto: 0x0800}, ethNoDst},
		{record.Header{Iface: 1, CapLen: uint32(len(ip4)), OrigLen: uint32(len(ip4)), Dir: record.DirOut, PktType: PacketOutgoing, HAType: arphrdPPP, Proto: 0x0800}, ip4},
		{record.Header{Iface: 2, CapLen: uint32(len(ip4)), OrigLen: uint32(len(ip4)), Dir: record.DirOut, PktType: PacketOutgoing, HAType: arphrdNone, Proto: 0x0800}, ip4},
		{record.Header{Iface: 0, CapLen: uint32(len(eth)), OrigLen: uint32(len(eth)), Dir: record.DirIn, PktType: PacketHost, HAType: arphrdEther, Proto: 0x0800}, ethNoDst},
		{record.Header{Iface: 3, CapLen: uint32(len(eth)), OrigLen: uint32(len(eth)), Dir: record.DirIn, PktType: PacketHost, HAType: arphrdEther, Proto: 0x0800}, eth},
	}
	for i := range want {
		want[i].H.TimeNanos = t0
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packets (-want +got):\n%s", diff)
	}
}

// ngFile builds pcapng blocks by hand, in either byte order, for what
// pcapgo's writer cannot write (big-endian, if_tsresol other than 9).
type ngFile struct {
	bo  byteOrder
	buf []byte
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func ngOption(bo byteOrder, code uint16, val []byte) []byte {
	b := bo.AppendUint16(nil, code)
	b = bo.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	return append(b, make([]byte, (4-len(val)%4)%4)...)
}

func (f *ngFile) block(typ uint32, body ...[]byte) {
	n := 12
	for _, b := range body {
		n += len(b)
	}
	f.buf = f.bo.AppendUint32(f.buf, typ)
	f.buf = f.bo.AppendUint32(f.buf, uint32(n))
	for _, b := range body {
		f.buf = append(f.buf, b...)
	}
	f.buf = f.bo.AppendUint32(f.buf, uint32(n))
}

func (f *ngFile) section() {
	b := f.bo.AppendUint32(nil, 0x1a2b3c4d)
	b = f.bo.AppendUint16(b, 1)
	b = f.bo.AppendUint16(b, 0)
	f.block(0x0a0d0d0a, f.bo.AppendUint64(b, ^uint64(0)))
}

func (f *ngFile) iface(lt layers.LinkType, opts ...[]byte) {
	b := f.bo.AppendUint16(nil, uint16(lt))
	b = f.bo.AppendUint16(b, 0)
	b = f.bo.AppendUint32(b, 0)
	f.block(1, append([][]byte{b}, append(opts, f.bo.AppendUint32(nil, 0))...)...)
}

func (f *ngFile) packet(iface uint32, ts uint64, data []byte, opts ...[]byte) {
	b := f.bo.AppendUint32(nil, iface)
	b = f.bo.AppendUint32(b, uint32(ts>>32))
	b = f.bo.AppendUint32(b, uint32(ts))
	b = f.bo.AppendUint32(b, uint32(len(data)))
	b = f.bo.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = append(b, make([]byte, (4-len(data)%4)%4)...)
	if len(opts) > 0 {
		opts = append(opts, f.bo.AppendUint32(nil, 0))
	}
	f.block(6, append([][]byte{b}, opts...)...)
}

// TestReadPcapngOptions: epb_flags and epb_dropcount in either byte order,
// and timestamps in the interface's if_tsresol and if_tsoffset.
func TestReadPcapngOptions(t *testing.T) {
	eth := rdEther(t, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, rdIPv4(t, 10))
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(bo.String(), func(t *testing.T) {
			f := ngFile{bo: bo}
			u32 := func(v uint32) []byte { return bo.AppendUint32(nil, v) }
			u64 := func(v uint64) []byte { return bo.AppendUint64(nil, v) }
			f.section()
			f.iface(layers.LinkTypeEthernet, ngOption(bo, 2, []byte("eth1")), ngOption(bo, 9, []byte{6}))                             // µs
			f.iface(layers.LinkTypeEthernet, ngOption(bo, 2, []byte("eth2")), ngOption(bo, 9, []byte{3}), ngOption(bo, 14, u64(100))) // ms, +100 s
			f.packet(0, 1700000000_123456, eth, ngOption(bo, 2, u32(0b10)), ngOption(bo, 4, u64(7)))                                  // out, 7 dropped
			f.packet(1, 3500, eth, ngOption(bo, 2, u32(0b01001)), ngOption(bo, 1, []byte("hi")))                                      // in, multicast
			f.packet(0, 1, eth, ngOption(bo, 2, u32(0b10000)))                                                                        // promiscuous, direction unknown
			ifaces, got := mustReadAll(t, f.buf, "opts.pcapng")
			if len(ifaces) != 2 || ifaces[0].Name != "eth1" || ifaces[1].Name != "eth2" {
				t.Errorf("interfaces %+v, want eth1, eth2", ifaces)
			}
			want := []rdPacket{
				{record.Header{Iface: 0, TimeNanos: 1700000000_123456_000, Dir: record.DirOut, PktType: PacketOutgoing, Drops: 7}, eth},
				{record.Header{Iface: 1, TimeNanos: 103_500_000_000, Dir: record.DirIn, PktType: PacketMulticast}, eth},
				{record.Header{Iface: 0, TimeNanos: 1000, PktType: PacketOtherHost}, eth},
			}
			for i := range want {
				want[i].H.CapLen, want[i].H.OrigLen, want[i].H.HAType, want[i].H.Proto = uint32(len(eth)), uint32(len(eth)), arphrdEther, 0x0800
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadCaptures reads what tcpdump and dumpcap wrote of the same pings
// (testdata/captures.sh): the cooked captures of "any" must give back the
// frames of the Ethernet capture of veth0, but for the destination MAC.
func TestReadCaptures(t *testing.T) {
	read := func(name string) ([]FileInterface, []rdPacket) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return mustReadAll(t, b, name)
	}
	vIfaces, veth := read("tcpdump-veth0.pcap")
	if diff := cmp.Diff([]FileInterface{{Name: "tcpdump-veth0", Ifname: "tcpdump-veth0", HAType: arphrdEther, Description: "device not named in the file"}}, vIfaces); diff != "" {
		t.Errorf("tcpdump-veth0.pcap interfaces (-want +got):\n%s", diff)
	}
	if len(veth) != 6 {
		t.Fatalf("tcpdump-veth0.pcap: %d packets, want 6", len(veth))
	}
	// ARP request, reply, then two echo requests and replies; veth0 sends
	// the requests.
	dirs := []record.Direction{record.DirOut, record.DirIn, record.DirOut, record.DirIn, record.DirOut, record.DirIn}

	for _, tc := range []struct {
		file   string
		ifaces []FileInterface
	}{
		{"tcpdump-any-sll2.pcap", []FileInterface{
			{ID: 0, Name: "if3", Ifname: "if3", HAType: arphrdEther, IfIndex: 3},
			{ID: 1, Name: "if1", Ifname: "if1", HAType: arphrdLoopback, IfIndex: 1},
		}},
		{"tcpdump-any-sll.pcap", []FileInterface{
			{ID: 0, Name: "any", Ifname: "any", HAType: arphrdEther},
			{ID: 1, Name: "any-772", Ifname: "any-772", HAType: arphrdLoopback},
		}},
		{"dumpcap-veth0-lo.pcapng", []FileInterface{
			{ID: 0, Name: "veth0", Ifname: "veth0", HAType: arphrdEther},
			{ID: 1, Name: "lo", Ifname: "lo", HAType: arphrdLoopback},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ifaces, pkts := read(tc.file)
			if diff := cmp.Diff(tc.ifaces, ifaces, cmp.FilterPath(isField("Description"), cmp.Ignore())); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if len(pkts) != 8 {
				t.Fatalf("%d packets, want 8 (6 on veth0, 2 on lo)", len(pkts))
			}
			cooked := !strings.HasPrefix(tc.file, "dumpcap")
			for i, v := range veth {
				p := pkts[i]
				p.H.TimeNanos -= p.H.TimeNanos % 1000 // dumpcap: ns, tcpdump: µs
				want := v
				want.H.Iface = 0
				if cooked {
					want.H.Dir = dirs[i]
					want.H.PktType = PacketHost
					if dirs[i] == record.DirOut {
						want.H.PktType = PacketOutgoing
					}
					want.Data = append(make([]byte, 6), v.Data[6:]...)
				}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Errorf("packet %d (-want +got):\n%s", i, diff)
				}
			}
			for _, p := range pkts[6:] {
				if p.H.Iface != 1 || p.H.HAType != arphrdLoopback || p.H.Proto != 0x0800 || len(p.Data) != 98 || string(p.Data[:12]) != string(make([]byte, 12)) {
					t.Errorf("lo packet %+v: want an ICMP echo behind a zero Ethernet header", p.H)
				}
				if cooked && (p.H.Dir != record.DirIn || p.H.PktType != PacketHost) {
					t.Errorf("lo packet: direction %v, packet type %d; want in, host", p.H.Dir, p.H.PktType)
				}
			}
		})
	}
}

func TestReadGzip(t *testing.T) {
	file, want := cookedFile(t, true, liveFrames(t))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(file); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	_, got := mustReadAll(t, buf.Bytes(), "any.pcap.gz")
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("packet %d differs", i)
		}
	}
	// Cut short: the gzip stream ends early.
	if _, _, err := readAll(t, buf.Bytes()[:buf.Len()-20], "any.pcap.gz"); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated gzip: err = %v, want ErrTruncated", err)
	}
}

func TestReadNotCapture(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"notes.txt", []byte("Hello, world\n"), "notes.txt is not a pcap or pcapng file (magic 48 65 6c 6c)"},
		{"empty.pcap", nil, "empty.pcap is not a pcap or pcapng file (0 bytes long)"},
		{"-", []byte{0xd4, 0xc3}, "standard input is not a pcap or pcapng file (2 bytes long)"},
		{"modified.pcap", []byte{0x34, 0xcd, 0xb2, 0xa1, 2, 0, 4, 0}, "modified.pcap is not a pcap or pcapng file (magic 34 cd b2 a1)"},
	} {
		_, err := OpenFile(bytes.NewReader(tc.file), tc.name)
		if !errors.Is(err, ErrNotCapture) || err.Error() != tc.want {
			t.Errorf("OpenFile(%s) = %v, want %q wrapping ErrNotCapture", tc.name, err, tc.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	ip4 := rdIPv4(t, 4)
	good := rdPcap(t, layers.LinkTypeRaw, [][]byte{ip4, ip4}, []int{0, 0}, []int64{t0, t0})

	// The second record says it holds 1 GiB.
	bad := bytes.Clone(good)
	off := pcapHeaderLen + pcapRecordLen + len(ip4)
	binary.LittleEndian.PutUint32(bad[off+8:], 1<<30)
	binary.LittleEndian.PutUint32(bad[off+12:], 1<<30)
	_, pkts, err := readAll(t, bad, "bad.pcap")
	if prefix := fmt.Sprintf("bad.pcap: packet 2 at offset %d: ", off); len(pkts) != 1 || err == nil || errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("1 GiB record: %d packets, err %v; want 1 packet and an error starting %q", len(pkts), err, prefix)
	}

	// A pcapng packet on an interface that was never described.
	f := ngFile{bo: binary.LittleEndian}
	f.section()
	f.iface(layers.LinkTypeRaw)
	f.packet(0, 1, ip4)
	f.packet(3, 2, ip4)
	_, pkts, err = readAll(t, f.buf, "bad.pcapng")
	if len(pkts) != 1 || err == nil || !strings.HasPrefix(err.Error(), "bad.pcapng: packet 2: ") {
		t.Errorf("undescribed interface: %d packets, err %v; want 1 packet and an error at packet 2", len(pkts), err)
	}

	// Only sections of a pcapng version pcapgo skips.
	v2 := ngFile{bo: binary.LittleEndian}
	v2.block(0x0a0d0d0a, []byte{0x4d, 0x3c, 0x2b, 0x1a, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if _, err := OpenFile(bytes.NewReader(v2.buf), "v2.pcapng"); err == nil || !strings.Contains(err.Error(), "version 1.0") {
		t.Errorf("pcapng 2.0: err = %v, want no section of version 1.0", err)
	}

	// A link type no Linux device has (USB).
	usb := rdPcap(t, layers.LinkTypeLinuxUSB, [][]byte{ip4}, []int{0}, []int64{t0})
	if _, _, err := readAll(t, usb, "usb.pcap"); err == nil || !strings.Contains(err.Error(), "link type") {
		t.Errorf("USB capture: err = %v, want a link type error", err)
	}

	// A cooked frame too short for its header.
	short := rdPcap(t, layers.LinkTypeLinuxSLL2, [][]byte{make([]byte, 12)}, []int{0}, []int64{t0})
	if _, _, err := readAll(t, short, "short.pcap"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("12-byte SLL2 frame: err = %v, want too short", err)
	}
}

// TestReadTruncated cuts files at every length: the packets before the cut
// come back, then io.EOF at a record boundary or ErrTruncated inside one.
func TestReadTruncated(t *testing.T) {
	frames := liveFrames(t)
	pcapFile, _ := cookedFile(t, true, frames)
	var ng bytes.Buffer
	w := NewWriter(&ng, WriterOptions{Application: "ifacetrace test"})
	if _, err := w.AddInterface(Interface{Name: "veth1", HAType: arphrdEther}); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[:4] {
		if err := w.WritePacket(&Packet{Data: f.data, Dir: record.DirIn, HasDropCount: true, DropCount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		file []byte
	}{{"cut.pcap", pcapFile}, {"cut.pcapng", ng.Bytes()}} {
		_, all := mustReadAll(t, tc.file, tc.name)
		prev := 0
		for n := 0; n < len(tc.file); n++ {
			_, pkts, err := readAll(t, tc.file[:n], tc.name)
			switch {
			case n < 4:
				if !errors.Is(err, ErrNotCapture) {
					t.Fatalf("%s cut at %d: err = %v, want ErrNotCapture", tc.name, n, err)
				}
				continue
			case err != nil && !errors.Is(err, ErrTruncated):
				t.Fatalf("%s cut at %d: err = %v, want nil or ErrTruncated", tc.name, n, err)
			case err != nil && !strings.HasPrefix(err.Error(), tc.name+": file is truncated: it ends inside "):
				t.Errorf("%s cut at %d: error %q does not say where the file ends", tc.name, n, err)
			case len(pkts) < prev || len(pkts) > len(all):
				t.Fatalf("%s cut at %d: %d packets, after %d at a shorter cut", tc.name, n, len(pkts), prev)
			}
			for i := range pkts {
				if diff := cmp.Diff(all[i], pkts[i]); diff != "" {
					t.Fatalf("%s cut at %d: packet %d (-whole +cut):\n%s", tc.name, n, i, diff)
				}
			}
			prev = len(pkts)
		}
		// pcap records are easy to count: a cut at a record boundary is a
		// shorter file, anywhere else a truncated one.
		if tc.name == "cut.pcap" {
			off := pcapHeaderLen
			for i := 0; off < len(tc.file); i++ {
				off += pcapRecordLen + int(binary.LittleEndian.Uint32(tc.file[off+8:]))
				_, pkts, err := readAll(t, tc.file[:off], tc.name)
				if err != nil || len(pkts) != i+1 {
					t.Errorf("cut after record %d: %d packets, err %v; want %d, nil", i, len(pkts), err, i+1)
				}
				_, pkts, err = readAll(t, tc.file[:off-1], tc.name)
				if !errors.Is(err, ErrTruncated) || len(pkts) != i {
					t.Errorf("cut inside record %d: %d packets, err %v; want %d, ErrTruncated", i, len(pkts), err, i)
				}
			}
		}
	}
}

// TestHATypeForLinkType: the inverse of LinkTypeForHAType.
func TestHATypeForLinkType(t *testing.T) {
	for ha := 0; ha <= 0xffff; ha++ {
		lt, ok := LinkTypeForHAType(uint16(ha))
		if !ok {
			continue
		}
		back, ok := HATypeForLinkType(lt)
		if !ok {
			t.Errorf("HATypeForLinkType(%v) not ok; LinkTypeForHAType(%d) = %v", lt, ha, lt)
			continue
		}
		if lt2, _ := LinkTypeForHAType(back); lt2 != lt {
			t.Errorf("HATypeForLinkType(%v) = %d, whose link type is %v", lt, back, lt2)
		}
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeLinuxUSB, layers.LinkTypeNull} {
		if ha, ok := HATypeForLinkType(lt); ok {
			t.Errorf("HATypeForLinkType(%v) = %d, want not ok", lt, ha)
		}
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6} {
		if ha, _ := HATypeForLinkType(lt); ha != arphrdNone {
			t.Errorf("HATypeForLinkType(%v) = %d, want ARPHRD_NONE", lt, ha)
		}
	}
}

// benchFile is a pcap of n frames of link type lt.
func benchFile(tb testing.TB, lt layers.LinkType, n int) []byte {
	ip4 := rdIPv4(tb, 64)
	frame := rdEther(tb, rdMAC2, rdMAC1, layers.EthernetTypeIPv4, ip4)
	if lt == layers.LinkTypeLinuxSLL2 {
		frame = AppendSLL2(nil, 0x0800, 4, arphrdEther, PacketHost, rdMAC2, frame[14:])
	}
	if lt == 0 { // ifacetrace's pcapng, with epb_flags on every packet
		var buf bytes.Buffer
		w := NewWriter(&buf, WriterOptions{})
		if _, err := w.AddInterface(Interface{Name: "veth1", HAType: arphrdEther}); err != nil {
			tb.Fatal(err)
		}
		for i := range n {
			if err := w.WritePacket(&Packet{Data: frame, TimeNanos: t0 + int64(i), Dir: record.DirIn}); err != nil {
				tb.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(262144, lt); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(0, t0+int64(i)), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestNextAllocs pins zero allocations per packet for pcap files.
func TestNextAllocs(t *testing.T) {
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2} {
		file := benchFile(t, lt, 200)
		r, err := OpenFile(bytes.NewReader(file), "bench.pcap")
		if err != nil {
			t.Fatal(err)
		}
		var h record.Header
		if _, _, err := r.Next(&h); err != nil { // first packet: buffers, interface
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := r.Next(&h); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per packet, want 0", lt, allocs)
		}
	}
}

// BenchmarkNext reads a 100k-packet file per iteration and reports the cost
// per packet.
func BenchmarkNext(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name string
		lt   layers.LinkType
	}{{"ethernet-pcap", layers.LinkTypeEthernet}, {"sll2-pcap", layers.LinkTypeLinuxSLL2}, {"ifacetrace-pcapng", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			file := benchFile(b, bc.lt, n)
			b.SetBytes(int64(len(file)))
			b.ReportAllocs()
			var h record.Header
			for b.Loop() {
				r, err := OpenFile(bytes.NewReader(file), "bench")
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, err := r.Next(&h); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/packet")
		})
	}
}

// FuzzOpen reads arbitrary bytes as a capture: no panic, and the reader's
// promises hold (readAll checks them).
func FuzzOpen(f *testing.F) {
	frames := liveFrames(f)
	sll2, _ := cookedFile(f, true, frames)
	sll, _ := cookedFile(f, false, frames)
	var ng bytes.Buffer
	w := NewWriter(&ng, WriterOptions{Application: "fuzz"})
	for _, ha := range []uint16{arphrdEther, arphrdNone, 32, arphrdCAN, arphrdNetlink} {
		if _, err := w.AddInterface(Interface{Name: "ns/dev", HAType: ha, IfIndex: 3}); err != nil {
			f.Fatal(err)
		}
	}
	for i, fr := range frames {
		if err := w.WritePacket(&Packet{Iface: i % 5, Data: fr.data, Dir: directionOf(fr.pkttype), PktType: fr.pkttype, Proto: fr.proto, HasDropCount: true, DropCount: 2}); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	be := ngFile{bo: binary.BigEndian}
	be.section()
	be.iface(layers.LinkTypeLinuxSLL2, ngOption(be.bo, 2, []byte("any")), ngOption(be.bo, 9, []byte{6}))
	be.packet(0, 1, AppendSLL2(nil, 0x0800, 4, arphrdEther, PacketHost, rdMAC1, frames[1].data[14:]), ngOption(be.bo, 2, be.bo.AppendUint32(nil, 1)))
	eth := rdPcap(f, layers.LinkTypeEthernet, [][]byte{frames[1].data, frames[0].data}, []int{0, 0}, []int64{t0, t0})
	for _, file := range [][]byte{sll2, sll, ng.Bytes(), be.buf, eth} {
		f.Add(file)
		f.Add(file[:len(file)/2])
		f.Add(file[:len(file)-3])
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		_, _, err := readAll(t, file, "fuzz")
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz") {
			t.Errorf("error %q does not name the file", err)
		}
	})
}
