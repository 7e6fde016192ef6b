//go:build cgo

package filter

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	ip4A = net.IP{10, 0, 0, 1}
	ip4B = net.IP{10, 0, 0, 2}
	ip4C = net.IP{192, 168, 1, 5}
	ip6A = net.ParseIP("fd00::1")
	ip6B = net.ParseIP("fd00::2")
)

// testFrame is one frame as an Ethernet device and, when it carries IP, as a
// raw-IP device (no link-layer header) shows it.
type testFrame struct {
	name string
	eth  []byte
	raw  []byte // nil: no raw-IP form (ARP)
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	type checksummed interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	for _, l := range ls {
		if c, ok := l.(checksummed); ok {
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					if err := c.SetNetworkLayerForChecksum(nl); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
}

func ip4(src, dst net.IP, proto layers.IPProtocol, ttl uint8) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto, SrcIP: src, DstIP: dst}
}

func ip6(proto layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: ip6A, DstIP: ip6B}
}

// ipFrame builds the Ethernet frame and its raw-IP form from the network
// layer on.
func ipFrame(t testing.TB, name string, typ layers.EthernetType, ls ...gopacket.SerializableLayer) testFrame {
	t.Helper()
	eth := serialize(t, append([]gopacket.SerializableLayer{ether(typ)}, ls...)...)
	return testFrame{name: name, eth: eth, raw: eth[14:]}
}

func testFrames(t testing.TB) []testFrame {
	t.Helper()
	v4, v6 := layers.EthernetTypeIPv4, layers.EthernetTypeIPv6
	payload := func(n int) gopacket.Payload { return make(gopacket.Payload, n) }
	frames := []testFrame{
		ipFrame(t, "v4 tcp syn :80", v4, ip4(ip4A, ip4B, layers.IPProtocolTCP, 64),
			&layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 1000}),
		ipFrame(t, "v4 tcp ack from :80 200B", v4, ip4(ip4B, ip4A, layers.IPProtocolTCP, 64),
			&layers.TCP{SrcPort: 80, DstPort: 40000, ACK: true, Window: 1000}, payload(200)),
		ipFrame(t, "v4 udp :53 ttl 128", v4, ip4(ip4C, ip4A, layers.IPProtocolUDP, 128),
			&layers.UDP{SrcPort: 5353, DstPort: 53}, payload(20)),
		ipFrame(t, "v4 udp :9", v4, ip4(ip4A, ip4B, layers.IPProtocolUDP, 64),
			&layers.UDP{SrcPort: 40001, DstPort: 9}, payload(8)),
		ipFrame(t, "v4 udp :55", v4, ip4(ip4A, ip4B, layers.IPProtocolUDP, 64),
			&layers.UDP{SrcPort: 40001, DstPort: 55}, payload(8)),
		ipFrame(t, "v4 icmp echo", v4, ip4(ip4A, ip4B, layers.IPProtocolICMPv4, 64),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}, payload(32)),
		ipFrame(t, "v4 icmp echo reply", v4, ip4(ip4B, ip4A, layers.IPProtocolICMPv4, 64),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 1, Seq: 1}, payload(32)),
		ipFrame(t, "v4 gre", v4, ip4(ip4A, ip4B, layers.IPProtocolGRE, 64), payload(24)),
		ipFrame(t, "v6 tcp syn :443", v6, ip6(layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Window: 1000}),
		ipFrame(t, "v6 udp :53", v6, ip6(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5353, DstPort: 53}, payload(100)),
		ipFrame(t, "v6 icmp6 echo", v6, ip6(layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
			&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}),
	}
	// A non-first fragment of a TCP datagram: port tests must not match it.
	frag := ip4(ip4A, ip4B, layers.IPProtocolTCP, 64)
	frag.FragOffset = 100
	frames = append(frames, ipFrame(t, "v4 tcp fragment", v4, frag, payload(40)))
	// IPv4 with options (IHL 6): libpcap finds the ports through ldxb 4*([14]&0xf).
	opt := ip4(ip4A, ip4B, layers.IPProtocolTCP, 64)
	opt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	f := ipFrame(t, "v4 options tcp :80", v4, opt, &layers.TCP{SrcPort: 1234, DstPort: 80, PSH: true, ACK: true, Window: 1000}, payload(10))
	if f.raw[0] != 0x46 {
		t.Fatalf("options frame has IP version/IHL %#x, want 0x46", f.raw[0])
	}
	frames = append(frames, f)
	arp := serialize(t, ether(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ip4A,
		DstHwAddress: make([]byte, 6), DstProtAddress: ip4B,
	})
	frames = append(frames, testFrame{name: "arp request", eth: arp})
	frames = append(frames, testFrame{name: "truncated", eth: frames[0].eth[:20], raw: frames[0].raw[:6]})
	frames = append(frames, testFrame{name: "empty", eth: []byte{}, raw: []byte{}})
	return frames
}

// expressions libpcap compiles for at least Ethernet.
var testExprs = []string{
	"host 10.0.0.2",
	"src host 10.0.0.1",
	"dst host 10.0.0.1",
	"dst net 10.0.0.0/8",
	"src net 192.168.0.0/16",
	"net fd00::/64",
	"port 80",
	"dst port 53",
	"src port 80",
	"portrange 50-60",
	"tcp",
	"udp",
	"icmp",
	"icmp6",
	"icmp[icmptype] == icmp-echo",
	"icmp[icmptype] == icmp-echoreply",
	"tcp[tcpflags] & tcp-syn != 0",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-ack",
	"greater 100",
	"less 80",
	"len >= 60",
	"ip",
	"ip6",
	"arp",
	"tcp and port 80 and not host 10.0.0.9",
	"udp or icmp",
	"not tcp",
	"ip[8] == 64",
	"ip[8] == 128",
	"ip[0] & 0xf > 5",
	"tcp port 80 and ip[0] & 0xf > 5",
	"ip[0] = -ip[1]",
	"ip proto 47",
	"proto gre",
	"ip6 and tcp port 443",
	"ether host 02:00:00:00:00:01",
	"ether dst 02:00:00:00:00:02 and tcp",
	"ether host 02:00:00:00:00:01 or udp",
	"ether broadcast or ip6",
}

// libpcapVerdict is libpcap's own answer for frame on link type dlt:
// pcap_offline_filter with a program compiled for that link type. An
// expression libpcap cannot compile for dlt matches nothing.
func libpcapVerdict(t testing.TB, dlt int, expr string, frame []byte) bool {
	t.Helper()
	b, err := pcap.NewBPF(layers.LinkType(dlt), 65535, expr)
	if err != nil {
		return false
	}
	return b.Matches(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame)
}

// TestMatchesLibpcap: for every expression, frame and hardware type, Match
// and the stitched program (run as the kernel would) agree with libpcap's
// program for that link type.
func TestMatchesLibpcap(t *testing.T) {
	frames := testFrames(t)
	for _, expr := range testExprs {
		p, err := Compile(expr, 0)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		prog := p.Instructions()
		matched := 0
		for _, f := range frames {
			for _, h := range []uint16{1, 772, 0xfffe, 519, 768, 769, 776, 778, 801, 0, 0xffff} {
				data, dlt := f.eth, dltEN10MB
				switch familyOf(h) {
				case famRawIP:
					data, dlt = f.raw, dltRaw
				case famNone:
					dlt = -1
				}
				if data == nil {
					continue
				}
				want := dlt >= 0 && libpcapVerdict(t, dlt, expr, data)
				if got := p.Match(h, data); got != want {
					t.Errorf("%q on %s, hatype %d: Match = %v, libpcap %v", expr, f.name, h, got, want)
				}
				if got := runKernel(prog, skbMeta{hatype: h}, data) != 0; got != want {
					t.Errorf("%q on %s, hatype %d: kernel program = %v, libpcap %v", expr, f.name, h, got, want)
				}
				if want {
					matched++
				}
			}
		}
		if matched == 0 && expr != "ip[0] = -ip[1]" {
			t.Errorf("%q matched no test frame: the test proves little", expr)
		}
	}
}

func TestEtherOnRawIPDrops(t *testing.T) {
	p, err := Compile("ether host 02:00:00:00:00:01 or udp", 0)
	if err != nil {
		t.Fatal(err)
	}
	u := p.Unsupported()
	if len(u) != 1 || !strings.Contains(u[0].Error(), "raw IP") || !strings.Contains(u[0].Error(), "ethernet addresses supported only on") {
		t.Errorf("Unsupported() = %v, want one raw-IP error with libpcap's message", u)
	}
	for _, f := range testFrames(t) {
		if f.raw != nil && p.Match(0xfffe, f.raw) {
			t.Errorf("raw-IP %s matched an expression that cannot apply to raw IP", f.name)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile("tcp portt 80", 0)
	if err == nil {
		t.Fatal("no error for a syntax error")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, `filter "tcp portt 80": `) || !strings.Contains(msg, "syntax error") {
		t.Errorf("error %q does not carry the expression and libpcap's message", msg)
	}
	_, err = Compile("ip broadcast", 0) // needs a netmask, which a dead handle has not
	if err == nil || !strings.Contains(err.Error(), "netmask") {
		t.Errorf("ip broadcast: got %v, want libpcap's netmask error", err)
	}
	for _, expr := range []string{"", "   ", "\t\n"} {
		p, err := Compile(expr, 0)
		if p != nil || err != nil {
			t.Errorf("Compile(%q) = %v, %v; want nil, nil", expr, p, err)
		}
		if !p.Match(1, []byte{1, 2, 3}) || p.Instructions() != nil || p.Expr() != "" {
			t.Errorf("nil Program: want Match true, no instructions, empty Expr")
		}
	}
}

// TestRawLinkType pins the DLT used for raw IP: libpcap's DLT_RAW is 12 on
// Linux; gopacket's LinkTypeRaw (101, LINKTYPE_RAW of capture files) is not a
// DLT pcap_open_dead accepts.
func TestRawLinkType(t *testing.T) {
	if _, err := pcap.CompileBPFFilter(layers.LinkTypeRaw, 65535, "ip6"); err == nil {
		t.Error("libpcap compiled for link type 101; the DLT_RAW note in filter.go is stale")
	}
	prog, err := compileDLT(dltRaw, 65535, "ip6")
	if err != nil {
		t.Fatal(err)
	}
	if prog[0].Op != clsLD|sizeB|modeABS || prog[0].K != 0 {
		t.Errorf("raw IP ip6 starts with %+v, want ldb [0] (version nibble)", prog[0])
	}
	v6 := testFrames(t)[8]
	p, err := Compile("ip6", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match(0xfffe, v6.raw) || p.Match(0xfffe, testFrames(t)[0].raw) {
		t.Error("ip6 on raw IP does not tell IPv6 from IPv4")
	}
}

func TestSnapLen(t *testing.T) {
	p, err := Compile("udp", 96)
	if err != nil {
		t.Fatal(err)
	}
	f := testFrames(t)[3]
	if got := runKernel(p.Instructions(), skbMeta{hatype: 1}, f.eth); got != 96 {
		t.Errorf("accepted frame returns %d, want snaplen 96", got)
	}
	if p.Expr() != "udp" {
		t.Errorf("Expr() = %q", p.Expr())
	}
}

// TestLongProgram: an Ethernet program longer than 255 instructions makes
// the dispatcher's jump to the raw-IP program go through ja.
func TestLongProgram(t *testing.T) {
	var terms []string
	for i := 0; i < 60; i++ {
		terms = append(terms, fmt.Sprintf("host 10.1.0.%d", i+1))
	}
	terms = append(terms, "udp port 53")
	expr := strings.Join(terms, " or ")
	p, err := Compile(expr, 0)
	if err != nil {
		t.Fatal(err)
	}
	prog := p.Instructions()
	var ja int
	for _, ins := range prog {
		if ins.Op == clsJMP|jmpJA {
			ja++
		}
	}
	if len(prog) < 300 || ja == 0 {
		t.Fatalf("program of %d instructions with %d ja: not long enough to test long jumps", len(prog), ja)
	}
	for _, f := range testFrames(t) {
		for _, h := range []uint16{1, 0xfffe} {
			data, dlt := f.eth, dltEN10MB
			if h == 0xfffe {
				data, dlt = f.raw, dltRaw
			}
			if data == nil {
				continue
			}
			want := libpcapVerdict(t, dlt, expr, data)
			if got := runKernel(prog, skbMeta{hatype: h}, data) != 0; got != want {
				t.Errorf("%s hatype %d: kernel program %v, libpcap %v", f.name, h, got, want)
			}
			if got := p.Match(h, data); got != want {
				t.Errorf("%s hatype %d: Match %v, libpcap %v", f.name, h, got, want)
			}
		}
	}
}

// TestAncillaryNoMatch: inbound compiles to a load of SKF_AD_PKTTYPE, which
// the kernel honours and Match cannot evaluate.
func TestAncillaryNoMatch(t *testing.T) {
	p, err := Compile("inbound", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := testFrames(t)[0]
	if p.Match(1, f.eth) {
		t.Error("Match evaluated inbound")
	}
	if runKernel(p.Instructions(), skbMeta{hatype: 1, pkttype: 0}, f.eth) == 0 {
		t.Error("kernel program drops an incoming (PACKET_HOST) frame for inbound")
	}
	if runKernel(p.Instructions(), skbMeta{hatype: 1, pkttype: 4}, f.eth) != 0 {
		t.Error("kernel program keeps an outgoing frame for inbound")
	}
}

// vlanFrame is a frame with its outer tag in place (as in a capture file)
// and as the kernel presents it after moving that tag into skb metadata.
type vlanFrame struct {
	name     string
	inline   []byte
	stripped []byte
	meta     skbMeta // of the stripped form
}

func vlanFrames(t testing.TB) []vlanFrame {
	t.Helper()
	udp9 := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{ip4(ip4A, ip4B, layers.IPProtocolUDP, 64), &layers.UDP{SrcPort: 40001, DstPort: 9}, make(gopacket.Payload, 8)}
	}
	mk := func(name string, tpid layers.EthernetType, tci uint16, ls ...gopacket.SerializableLayer) vlanFrame {
		b := serialize(t, ls...)
		s := append(append([]byte(nil), b[:12]...), b[16:]...)
		return vlanFrame{name: name, inline: b, stripped: s, meta: skbMeta{hatype: 1, vlan: true, tci: tci, tpid: uint16(tpid)}}
	}
	dot1q := layers.EthernetTypeDot1Q
	opt := ip4(ip4A, ip4B, layers.IPProtocolTCP, 64)
	opt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	return []vlanFrame{
		mk("vid 10 udp :9", dot1q, 10, append([]gopacket.SerializableLayer{ether(dot1q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}}, udp9()...)...),
		mk("vid 20 prio 5 udp :9", dot1q, 5<<13|20, append([]gopacket.SerializableLayer{ether(dot1q), &layers.Dot1Q{Priority: 5, VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}}, udp9()...)...),
		mk("qinq 100/10 udp :9", layers.EthernetTypeQinQ, 100, append([]gopacket.SerializableLayer{ether(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 100, Type: dot1q}, &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}}, udp9()...)...),
		mk("vid 10 options tcp :80", dot1q, 10, ether(dot1q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, opt,
			&layers.TCP{SrcPort: 1234, DstPort: 80, ACK: true, Window: 1000}, make(gopacket.Payload, 10)),
		mk("vid 10 v6 tcp :443", dot1q, 10, ether(dot1q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv6}, ip6(layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Window: 1000}),
		mk("vid 10 arp", dot1q, 10, ether(dot1q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeARP}, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ip4A, DstHwAddress: make([]byte, 6), DstProtAddress: ip4B}),
	}
}

var vlanExprs = []string{
	"vlan",
	"vlan 10",
	"vlan 20",
	"vlan 10 and udp port 9",
	"vlan and tcp port 80",
	"vlan and ip6 and tcp port 443",
	"vlan and host 10.0.0.2",
	"vlan and arp",
	"not vlan",
	"vlan or arp",
	"udp port 9 or vlan",
	"vlan 100 and vlan 10",
	"vlan and vlan and udp",
	"vlan and ether[12:4] = 0x8100000a",
	"vlan and ether[11:2] = 0x0181",
	"vlan and ether[13] = 0",
	"vlan and ether[14] & 0xe0 = 0xa0",
	"vlan and ether[10:4] = 0x00018100",
	"vlan and len > 60",
	"vlan and greater 70",
	"vlan and ether[(ether[0] & 1) + 13] = 0",
	"vlan and ether[(ether[0] & 1) + 12] = 0x81",
	"vlan and ether[(ether[0] & 1) + 14] = 0",
	"vlan and ether[(ether[0] & 1) + 15] = 10",
	"vlan and ether[(ether[0] & 1) + 5] = 2",
	"vlan and ether[(ether[0] & 1) + 17] = 0",
	"vlan and ether[(ether[0] & 1) + 10:4] = 0x00018100",
	"vlan and ether[(ether[0] & 1) + 11:2] = 0x0181",
	"vlan and ether[(ether[0] & 1) + 13:2] = 0x0000",
	"vlan and ether[(ether[0] & 1) + 18:2] = 0x4500",
	"vlan and ip[0] & 0xf = 6",
}

// TestVLAN: with vlan in the expression, a frame whose tag the kernel
// stripped is judged as libpcap judges the frame with the tag in place (what
// tcpdump on a live Linux interface does, and what tcpdump -r does with the
// file we write); without vlan, the stripped frame is judged as it is, as
// tcpdump on a live interface does.
func TestVLAN(t *testing.T) {
	frames := vlanFrames(t)
	plain := testFrames(t)
	for _, expr := range vlanExprs {
		p, err := Compile(expr, 0)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if len(p.Unsupported()) != 1 {
			t.Errorf("%q: Unsupported() = %v, want raw IP (no VLAN support)", expr, p.Unsupported())
		}
		prog := p.Instructions()
		matched := 0
		for _, f := range frames {
			want := libpcapVerdict(t, dltEN10MB, expr, f.inline)
			if want {
				matched++
			}
			if got := p.Match(1, f.inline); got != want {
				t.Errorf("%q on %s: Match = %v, libpcap %v", expr, f.name, got, want)
			}
			if got := runKernel(prog, skbMeta{hatype: 1}, f.inline) != 0; got != want {
				t.Errorf("%q on %s with the tag in the frame: kernel program = %v, libpcap %v", expr, f.name, got, want)
			}
			if got := runKernel(prog, f.meta, f.stripped) != 0; got != want {
				t.Errorf("%q on %s with the tag stripped: kernel program = %v, libpcap on the tagged frame %v", expr, f.name, got, want)
			}
		}
		for _, f := range plain {
			want := libpcapVerdict(t, dltEN10MB, expr, f.eth)
			if got := runKernel(prog, skbMeta{hatype: 1}, f.eth) != 0; got != want {
				t.Errorf("%q on untagged %s: kernel program = %v, libpcap %v", expr, f.name, got, want)
			}
		}
		if matched == 0 && expr != "not vlan" {
			t.Errorf("%q matched no tagged frame: the test proves little", expr)
		}
	}
	for _, expr := range []string{"udp port 9", "ip", "host 10.0.0.2", "ether[12:2] = 0x0800"} {
		p, err := Compile(expr, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			want := libpcapVerdict(t, dltEN10MB, expr, f.stripped)
			if got := runKernel(p.Instructions(), f.meta, f.stripped) != 0; got != want {
				t.Errorf("%q on stripped %s: kernel program = %v, libpcap on the stripped frame %v", expr, f.name, got, want)
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, err := Compile("tcp port 80 or udp port 53", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := testFrames(t)[0]
	if n := testing.AllocsPerRun(100, func() { p.Match(1, f.eth) }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	p, err := Compile("tcp port 80 or udp port 53", 0)
	if err != nil {
		b.Fatal(err)
	}
	frames := testFrames(b)
	for _, bc := range []struct {
		name   string
		hatype uint16
		data   []byte
	}{
		{"ethernet-tcp80", 1, frames[0].eth},
		{"ethernet-icmp", 1, frames[5].eth},
		{"rawip-udp53", 0xfffe, frames[2].raw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				p.Match(bc.hatype, bc.data)
			}
		})
	}
}

// FuzzMatch feeds random frames and hardware types through Match and the
// stitched program for a few expressions: neither may panic, and both must
// agree with libpcap, also when the kernel has stripped a VLAN tag.
func FuzzMatch(f *testing.F) {
	exprs := []string{"tcp port 80 or udp port 53", "icmp[icmptype] == icmp-echo or icmp6", "vlan 10 and udp",
		"ip[ip[0] & 0xf] = 1 or ether[(ether[1] & 7) + 10:4] = 0",
		"vlan and (ether[(ether[0] & 7) + 10:4] = 0x00018100 or ether[(ether[1] & 7) + 9:2] = 0 or ip[ip[0] & 0xf] = 1 or len > 100)"}
	progs := make([]*Program, len(exprs))
	for i, e := range exprs {
		p, err := Compile(e, 0)
		if err != nil {
			f.Fatal(err)
		}
		progs[i] = p
	}
	for _, fr := range testFrames(f) {
		f.Add(uint16(1), fr.eth, uint16(0))
		if fr.raw != nil {
			f.Add(uint16(0xfffe), fr.raw, uint16(0))
		}
	}
	for _, fr := range vlanFrames(f) {
		f.Add(uint16(1), fr.stripped, fr.meta.tci)
	}
	f.Fuzz(func(t *testing.T, hatype uint16, frame []byte, tci uint16) {
		for i, p := range progs {
			got := p.Match(hatype, frame)
			var want bool
			switch familyOf(hatype) {
			case famEthernet:
				want = libpcapVerdict(t, dltEN10MB, exprs[i], frame)
			case famRawIP:
				want = libpcapVerdict(t, dltRaw, exprs[i], frame)
			}
			if got != want {
				t.Errorf("%q hatype %d frame %x: Match %v, libpcap %v", exprs[i], hatype, frame, got, want)
			}
			if k := runKernel(p.Instructions(), skbMeta{hatype: hatype}, frame) != 0; k != want {
				t.Errorf("%q hatype %d frame %x: kernel program %v, libpcap %v", exprs[i], hatype, frame, k, want)
			}
			// The same frame with a tag the kernel stripped: an expression
			// with vlan must judge it as libpcap judges the frame with the
			// tag put back, one without as libpcap judges it stripped.
			if familyOf(hatype) != famEthernet {
				continue
			}
			ref := frame
			if usesVLAN(exprs[i]) {
				if len(frame) < 12 {
					continue
				}
				ref = append(append(append([]byte(nil), frame[:12]...), 0x81, 0, byte(tci>>8), byte(tci)), frame[12:]...)
			}
			want = libpcapVerdict(t, dltEN10MB, exprs[i], ref)
			if k := runKernel(p.Instructions(), skbMeta{hatype: hatype, vlan: true, tci: tci, tpid: 0x8100}, frame) != 0; k != want {
				t.Errorf("%q frame %x stripped tag %#x: kernel program %v, libpcap %v", exprs[i], frame, tci, k, want)
			}
		}
	})
}
