package decode

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkString fails t unless String and AppendString print what
// referenceString (String before AppendString) does for p, and
// AppendString keeps what b already held.
func checkString(t testing.TB, p *Packet) {
	t.Helper()
	want := referenceString(p)
	if p.Encap != EncapNone {
		// The reference predates tunnels: it prints the inner packet.
		want = string(p.appendEncap(nil)) + want
	}
	if got := p.String(); got != want {
		t.Fatalf("String() = %q, want %q\npacket %+v", got, want, *p)
	}
	prefix := []byte("prefix|")
	got := p.AppendString(prefix[:len(prefix):len(prefix)])
	if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != want {
		t.Fatalf("AppendString(%q) = %q, want %q\npacket %+v", prefix, got, string(prefix)+want, *p)
	}
	if got, want := p.ProtoName(), referenceProtoName(p); got != want {
		t.Fatalf("ProtoName() = %q, want %q\npacket %+v", got, want, *p)
	}
}

var (
	v4max  = netip.MustParseAddr("255.255.255.255")
	v6max  = netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	v4in6  = netip.MustParseAddr("::ffff:10.0.0.1")
	v6zone = netip.MustParseAddr("fe80::1%eth0")
)

// stringCases cover every branch of String by hand-built packets, some of
// which Decode never fills (invalid or mixed addresses, zones, negative
// lengths). want is what String printed before AppendString.
func stringCases() []struct {
	name string
	p    Packet
	want string
} {
	ip4 := func(proto uint8, f func(*Packet)) Packet {
		p := Packet{HAType: 1, EtherType: EtherTypeIPv4, Proto: proto, Src: v4a, Dst: v4b,
			SrcPort: 5000, DstPort: 6000, IPID: 0x1234, HasIPID: true, PayloadLen: 12, Valid: true}
		if f != nil {
			f(&p)
		}
		return p
	}
	ip6 := func(proto uint8, f func(*Packet)) Packet {
		p := ip4(proto, nil)
		p.EtherType, p.Src, p.Dst, p.HasIPID, p.IPID = EtherTypeIPv6, v6a, v6b, false, 0
		if f != nil {
			f(&p)
		}
		return p
	}
	icmp := func(v6 bool, typ, code uint8, f func(*Packet)) Packet {
		mk := ip4
		proto := uint8(ProtoICMP)
		if v6 {
			mk, proto = ip6, ProtoICMPv6
		}
		return mk(proto, func(p *Packet) {
			p.ICMPType, p.ICMPCode, p.SrcPort, p.DstPort, p.ICMPSeq = typ, code, 7, 7, 1
			if f != nil {
				f(p)
			}
		})
	}
	arpP := func(op uint16, f func(*Packet)) Packet {
		p := Packet{HAType: 1, EtherType: EtherTypeARP, Src: v4a, Dst: v4b, ARPOp: op, PayloadLen: 28, Valid: true}
		if f != nil {
			f(&p)
		}
		return p
	}
	return []struct {
		name string
		p    Packet
		want string
	}{
		// Link layer.
		{"zero packet", Packet{}, "hatype 0 frame length 0 [invalid]"},
		{"unknown hatype", Packet{HAType: 824, PayloadLen: 16, Valid: true}, "hatype 824 frame length 16"},
		{"unknown hatype vlan", Packet{HAType: 65000, VLAN: 7, PayloadLen: 1 << 40, Valid: true}, "vlan 7 hatype 65000 frame length 1099511627776"},
		{"unknown hatype negative length", Packet{HAType: 280, PayloadLen: -5}, "hatype 280 frame length -5 [invalid]"},
		{"ethernet ethertype 0", Packet{HAType: 1}, "ethertype 0x0000 length 0 [invalid]"},
		{"raw ip ethertype 0", Packet{HAType: arphrdRawIP, PayloadLen: 3}, "ethertype 0x0000 length 3 [invalid]"},
		{"void ethertype 0 valid", Packet{HAType: arphrdVoid, Valid: true}, "ethertype 0x0000 length 0"},
		{"lldp", Packet{HAType: 1, EtherType: 0x88cc, PayloadLen: 46, Valid: true}, "ethertype 0x88cc length 46"},
		{"ethertype 0x0001", Packet{HAType: 1, EtherType: 1, PayloadLen: 0, Valid: true}, "ethertype 0x0001 length 0"},
		{"ethertype 0x00ab", Packet{HAType: 772, EtherType: 0xab, PayloadLen: 9, Valid: true}, "ethertype 0x00ab length 9"},
		{"ethertype 0x0f0e", Packet{HAType: 1, EtherType: 0x0f0e, Valid: true}, "ethertype 0x0f0e length 0"},
		{"ethertype 0xffff vlan 4095", Packet{HAType: 1, EtherType: 0xffff, VLAN: 4095, PayloadLen: -1, Valid: true}, "vlan 4095 ethertype 0xffff length -1"},
		{"cut in vlan tag", Packet{HAType: 1, EtherType: 0x8100, VLAN: 100}, "vlan 100 ethertype 0x8100 length 0 [invalid]"},
		{"vlan above 4095", Packet{HAType: 1, EtherType: 0x88cc, VLAN: 65535, Valid: true}, "vlan 65535 ethertype 0x88cc length 0"},

		// ARP.
		{"arp cut", Packet{HAType: 1, EtherType: EtherTypeARP}, "ARP op 0 [invalid]"},
		{"arp no ipv4 addresses", Packet{HAType: 1, EtherType: EtherTypeARP, ARPOp: 1, PayloadLen: 52, Valid: true}, "ARP op 1"},
		{"arp only dst", Packet{HAType: 1, EtherType: EtherTypeARP, ARPOp: 65535, Dst: v4b, Valid: true}, "ARP op 65535"},
		{"arp who-has", arpP(1, nil), "ARP who-has 10.200.2.2 tell 10.200.1.2"},
		{"arp who-has vlan invalid", arpP(1, func(p *Packet) { p.VLAN, p.Valid = 12, false }), "vlan 12 ARP who-has 10.200.2.2 tell 10.200.1.2 [invalid]"},
		{"arp reply", arpP(2, nil), "ARP reply 10.200.1.2 to 10.200.2.2"},
		{"arp op 0", arpP(0, nil), "ARP op 0 10.200.1.2 > 10.200.2.2"},
		{"arp op 3", arpP(3, nil), "ARP op 3 10.200.1.2 > 10.200.2.2"},
		{"arp op 65535", arpP(65535, nil), "ARP op 65535 10.200.1.2 > 10.200.2.2"},
		{"arp invalid dst who-has", arpP(1, func(p *Packet) { p.Dst = netip.Addr{} }), "ARP who-has invalid IP tell 10.200.1.2"},
		{"arp invalid dst reply", arpP(2, func(p *Packet) { p.Dst = netip.Addr{} }), "ARP reply 10.200.1.2 to invalid IP"},
		{"arp invalid dst op 4", arpP(4, func(p *Packet) { p.Dst = netip.Addr{} }), "ARP op 4 10.200.1.2 > invalid IP"},
		{"arp ipv6 addresses", arpP(2, func(p *Packet) { p.Src, p.Dst = v6zone, v4in6 }), "ARP reply fe80::1%eth0 to ::ffff:10.0.0.1"},

		// IP header not decoded.
		{"ipv4 cut", Packet{HAType: 1, EtherType: EtherTypeIPv4}, "IP [invalid]"},
		{"ipv6 cut vlan", Packet{HAType: 1, EtherType: EtherTypeIPv6, VLAN: 5}, "vlan 5 IP6 [invalid]"},
		{"ipv4 no src valid", Packet{HAType: 0xfffe, EtherType: EtherTypeIPv4, Dst: v4b, Valid: true}, "IP"},
		{"ipv6 no src valid", Packet{HAType: 0xfffe, EtherType: EtherTypeIPv6, Valid: true}, "IP6"},

		// TCP.
		{"tcp4 syn", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags, p.TCPSeq, p.PayloadLen = TCPSyn, 1, 0 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [S] seq 1"},
		{"tcp4 psh ack data", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags, p.TCPSeq, p.TCPAck = TCPPsh|TCPAck, 1000, 2000 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [P.] seq 1000 ack 2000 length 12"},
		{"tcp4 no flags", ip4(ProtoTCP, func(p *Packet) { p.TCPAck = 9 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [none] seq 0 length 12"},
		{"tcp4 all flags", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags, p.TCPSeq, p.TCPAck = 0xff, 1<<32-1, 1<<32-1 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [FSRP.UEW] seq 4294967295 ack 4294967295 length 12"},
		{"tcp4 fin ack", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags, p.PayloadLen = TCPFin|TCPAck, 0 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [F.] seq 0 ack 0"},
		{"tcp4 rst", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags, p.PayloadLen = TCPRst, -1 }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [R] seq 0"},
		{"tcp4 urg ece cwr", ip4(ProtoTCP, func(p *Packet) { p.TCPFlags = TCPUrg | TCPEce | TCPCwr }), "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [UEW] seq 0 length 12"},
		{"tcp4 ports 0 and 65535", ip4(ProtoTCP, func(p *Packet) { p.SrcPort, p.DstPort, p.TCPFlags = 0, 65535, TCPSyn }), "TCP 10.200.1.2:0 > 10.200.2.2:65535 [S] seq 0 length 12"},
		{"tcp4 invalid", ip4(ProtoTCP, func(p *Packet) { p.Valid, p.PayloadLen = false, 0 }), "IP 10.200.1.2 > 10.200.2.2 proto tcp length 0 [invalid]"},
		{"tcp6 syn ack vlan", ip6(ProtoTCP, func(p *Packet) { p.VLAN, p.TCPFlags, p.TCPSeq, p.TCPAck, p.PayloadLen = 10, TCPSyn|TCPAck, 7, 8, 0 }), "vlan 10 IP6 [fd00:1::2]:5000 > [fd00:2::2]:6000 TCP [S.] seq 7 ack 8"},
		{"tcp6 invalid", ip6(ProtoTCP, func(p *Packet) { p.Valid = false }), "IP6 fd00:1::2 > fd00:2::2 proto tcp length 12 [invalid]"},
		{"tcp6 4in6 and zone", ip6(ProtoTCP, func(p *Packet) { p.Src, p.Dst = v4in6, v6zone }), "IP6 [::ffff:10.0.0.1]:5000 > [fe80::1%eth0]:6000 TCP [none] seq 0 length 12"},
		{"tcp4 invalid dst", ip4(ProtoTCP, func(p *Packet) { p.Dst = netip.Addr{} }), "TCP 10.200.1.2:5000 > invalid AddrPort [none] seq 0 length 12"},
		{"tcp widest", ip6(ProtoTCP, func(p *Packet) {
			p.VLAN, p.Src, p.Dst, p.SrcPort, p.DstPort = 4095, v6max, v6max, 65535, 65535
			p.TCPFlags, p.TCPSeq, p.TCPAck, p.PayloadLen = 0xff, 1<<32-1, 1<<32-1, 65535
		}), "vlan 4095 IP6 [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 > [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 TCP [FSRP.UEW] seq 4294967295 ack 4294967295 length 65535"},

		// UDP.
		{"udp4", ip4(ProtoUDP, nil), "UDP 10.200.1.2:5000 > 10.200.2.2:6000 length 12"},
		{"udp4 vlan length 0", ip4(ProtoUDP, func(p *Packet) { p.VLAN, p.PayloadLen = 100, 0 }), "vlan 100 UDP 10.200.1.2:5000 > 10.200.2.2:6000 length 0"},
		{"udp4 invalid", ip4(ProtoUDP, func(p *Packet) { p.Valid = false }), "IP 10.200.1.2 > 10.200.2.2 proto udp length 12 [invalid]"},
		{"udp6", ip6(ProtoUDP, nil), "IP6 [fd00:1::2]:5000 > [fd00:2::2]:6000 UDP length 12"},
		{"udp6 invalid dst", ip6(ProtoUDP, func(p *Packet) { p.Dst = netip.Addr{} }), "IP6 [fd00:1::2]:5000 > invalid AddrPort UDP length 12"},
		{"udp4 with ipv6 addresses", ip4(ProtoUDP, func(p *Packet) { p.Src, p.Dst = v6a, v4in6 }), "UDP [fd00:1::2]:5000 > [::ffff:10.0.0.1]:6000 length 12"},
		{"udp6 with ipv4 addresses", ip6(ProtoUDP, func(p *Packet) { p.Src, p.Dst = v4max, v4a }), "IP6 255.255.255.255:5000 > 10.200.1.2:6000 UDP length 12"},

		// ICMP.
		{"icmp echo request", icmp(false, 8, 0, nil), "ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp echo reply", icmp(false, 0, 0, func(p *Packet) { p.SrcPort, p.ICMPSeq = 65535, 65535 }), "ICMP echo reply 10.200.1.2 > 10.200.2.2 id 65535 seq 65535"},
		{"icmp echo code", icmp(false, 8, 3, nil), "ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp timestamp request", icmp(false, 13, 0, nil), "ICMP timestamp request 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp timestamp reply", icmp(false, 14, 0, nil), "ICMP timestamp reply 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp information request", icmp(false, 15, 0, nil), "ICMP type 15 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp address mask reply", icmp(false, 18, 0, nil), "ICMP type 18 10.200.1.2 > 10.200.2.2 id 7 seq 1"},
		{"icmp unreachable", icmp(false, 3, 3, nil), "ICMP unreachable 10.200.1.2 > 10.200.2.2 code 3"},
		{"icmp unreachable code 0", icmp(false, 3, 0, nil), "ICMP unreachable 10.200.1.2 > 10.200.2.2"},
		{"icmp source quench", icmp(false, 4, 0, nil), "ICMP source quench 10.200.1.2 > 10.200.2.2"},
		{"icmp redirect", icmp(false, 5, 1, nil), "ICMP redirect 10.200.1.2 > 10.200.2.2 code 1"},
		{"icmp time exceeded", icmp(false, 11, 0, nil), "ICMP time exceeded 10.200.1.2 > 10.200.2.2"},
		{"icmp parameter problem", icmp(false, 12, 255, nil), "ICMP parameter problem 10.200.1.2 > 10.200.2.2 code 255"},
		{"icmp type 9", icmp(false, 9, 0, nil), "ICMP type 9 10.200.1.2 > 10.200.2.2"},
		{"icmp type 255 code", icmp(false, 255, 16, nil), "ICMP type 255 10.200.1.2 > 10.200.2.2 code 16"},
		{"icmp invalid", icmp(false, 8, 0, func(p *Packet) { p.Valid = false }), "IP 10.200.1.2 > 10.200.2.2 proto icmp length 12 [invalid]"},
		{"icmp vlan invalid dst", icmp(false, 8, 0, func(p *Packet) { p.VLAN, p.Dst = 1, netip.Addr{} }), "vlan 1 ICMP echo request 10.200.1.2 > invalid IP id 7 seq 1"},
		{"icmp6 echo request", icmp(true, 128, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 echo request id 7 seq 1"},
		{"icmp6 echo reply", icmp(true, 129, 4, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 echo reply id 7 seq 1"},
		{"icmp6 unreachable", icmp(true, 1, 4, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 unreachable code 4"},
		{"icmp6 packet too big", icmp(true, 2, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 packet too big"},
		{"icmp6 time exceeded", icmp(true, 3, 1, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 time exceeded code 1"},
		{"icmp6 parameter problem", icmp(true, 4, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 parameter problem"},
		{"icmp6 router solicitation", icmp(true, 133, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 router solicitation"},
		{"icmp6 router advertisement", icmp(true, 134, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 router advertisement"},
		{"icmp6 neighbor solicitation", icmp(true, 135, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 neighbor solicitation"},
		{"icmp6 neighbor advertisement", icmp(true, 136, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 neighbor advertisement"},
		{"icmp6 redirect", icmp(true, 137, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 redirect"},
		{"icmp6 mldv2 report", icmp(true, 143, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 multicast listener report v2"},
		{"icmp6 type 0", icmp(true, 0, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 type 0"},
		{"icmp6 type 8", icmp(true, 8, 2, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 type 8 code 2"},
		{"icmp6 type 200", icmp(true, 200, 0, nil), "IP6 fd00:1::2 > fd00:2::2 ICMP6 type 200"},
		{"icmp6 invalid", icmp(true, 128, 0, func(p *Packet) { p.Valid = false }), "IP6 fd00:1::2 > fd00:2::2 proto icmp6 length 12 [invalid]"},
		{"icmp6 invalid dst", icmp(true, 135, 0, func(p *Packet) { p.Dst = netip.Addr{} }), "IP6 fd00:1::2 > invalid IP ICMP6 neighbor solicitation"},
		{"icmp over ipv6", ip6(ProtoICMP, nil), "IP6 fd00:1::2 > fd00:2::2 proto icmp length 12"},
		{"icmp6 over ipv4", ip4(ProtoICMPv6, nil), "IP 10.200.1.2 > 10.200.2.2 proto icmp6 length 12"},

		// Other IP protocols.
		{"igmp", ip4(2, nil), "IP 10.200.1.2 > 10.200.2.2 proto igmp length 12"},
		{"gre", ip4(47, nil), "IP 10.200.1.2 > 10.200.2.2 proto gre length 12"},
		{"esp6", ip6(50, nil), "IP6 fd00:1::2 > fd00:2::2 proto esp length 12"},
		{"ah", ip4(51, nil), "IP 10.200.1.2 > 10.200.2.2 proto ah length 12"},
		{"sctp6", ip6(132, nil), "IP6 fd00:1::2 > fd00:2::2 proto sctp length 12"},
		{"proto 0", ip4(0, func(p *Packet) { p.PayloadLen = 0 }), "IP 10.200.1.2 > 10.200.2.2 proto 0 length 0"},
		{"proto 44 invalid", ip6(44, func(p *Packet) { p.Valid = false }), "IP6 fd00:1::2 > fd00:2::2 proto 44 length 12 [invalid]"},
		{"proto 253", ip4(253, nil), "IP 10.200.1.2 > 10.200.2.2 proto 253 length 12"},
		{"proto 255 vlan", ip6(255, func(p *Packet) { p.VLAN, p.PayloadLen = 3, 65535 }), "vlan 3 IP6 fd00:1::2 > fd00:2::2 proto 255 length 65535"},
		{"proto invalid dst", ip4(47, func(p *Packet) { p.Dst = netip.Addr{} }), "IP 10.200.1.2 > invalid IP proto gre length 12"},

		// Fragments.
		{"fragment udp4", ip4(ProtoUDP, func(p *Packet) { p.Fragment, p.SrcPort, p.DstPort, p.PayloadLen = true, 0, 0, 1480 }), "IP 10.200.1.2 > 10.200.2.2 fragment proto udp id 4660 length 1480"},
		{"fragment tcp6", ip6(ProtoTCP, func(p *Packet) { p.Fragment, p.IPID, p.HasIPID = true, 0xdeadbeef, true }), "IP6 fd00:1::2 > fd00:2::2 fragment proto tcp id 3735928559 length 12"},
		{"fragment icmp4", ip4(ProtoICMP, func(p *Packet) { p.Fragment, p.IPID = true, 0 }), "IP 10.200.1.2 > 10.200.2.2 fragment proto icmp id 0 length 12"},
		{"fragment icmp6 vlan", ip6(ProtoICMPv6, func(p *Packet) { p.VLAN, p.Fragment, p.IPID = 9, true, 1 }), "vlan 9 IP6 fd00:1::2 > fd00:2::2 fragment proto icmp6 id 1 length 12"},
		{"fragment proto 99", ip4(99, func(p *Packet) { p.Fragment = true }), "IP 10.200.1.2 > 10.200.2.2 fragment proto 99 id 4660 length 12"},
		{"fragment invalid", ip4(ProtoUDP, func(p *Packet) { p.Fragment, p.Valid = true, false }), "IP 10.200.1.2 > 10.200.2.2 fragment proto udp id 4660 length 12 [invalid]"},
		{"fragment invalid dst", ip6(ProtoUDP, func(p *Packet) { p.Fragment, p.Dst = true, netip.Addr{} }), "IP6 fd00:1::2 > invalid IP fragment proto udp id 0 length 12"},
		{"fragment widest", ip6(132, func(p *Packet) {
			p.VLAN, p.Src, p.Dst, p.Fragment, p.IPID, p.PayloadLen = 4095, v6max, v6max, true, 1<<32-1, 65535
		}), "vlan 4095 IP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff > ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff fragment proto sctp id 4294967295 length 65535"},
	}
}

func TestAppendStringTable(t *testing.T) {
	for _, tc := range stringCases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := referenceString(&tc.p); got != tc.want {
				t.Errorf("referenceString = %q, want %q", got, tc.want)
			}
			checkString(t, &tc.p)
		})
	}
}

// TestAppendStringEveryICMPType: every ICMP and ICMPv6 type, with and
// without a code, valid or not.
func TestAppendStringEveryICMPType(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for typ := range 256 {
			for _, code := range []uint8{0, 1, 255} {
				for _, valid := range []bool{true, false} {
					p := Packet{HAType: 1, EtherType: EtherTypeIPv4, Proto: ProtoICMP, Src: v4a, Dst: v4b,
						ICMPType: uint8(typ), ICMPCode: code, SrcPort: 7, DstPort: 7, ICMPSeq: 9, PayloadLen: 56, Valid: valid}
					if v6 {
						p.EtherType, p.Proto, p.Src, p.Dst = EtherTypeIPv6, ProtoICMPv6, v6a, v6b
					}
					checkString(t, &p)
				}
			}
		}
	}
}

// TestAppendStringEveryProto: every IP protocol number over IPv4 and IPv6,
// valid, invalid and as a fragment, and every TCP flag combination.
func TestAppendStringEveryProto(t *testing.T) {
	for _, et := range []uint16{EtherTypeIPv4, EtherTypeIPv6} {
		for proto := range 256 {
			for _, valid := range []bool{true, false} {
				for _, frag := range []bool{false, true} {
					p := Packet{HAType: 1, EtherType: et, Proto: uint8(proto), Src: v4a, Dst: v4b,
						SrcPort: 1, DstPort: 2, IPID: 77, PayloadLen: 100, Valid: valid, Fragment: frag}
					checkString(t, &p)
				}
			}
		}
	}
	for f := range 256 {
		for _, n := range []int{0, 1} {
			p := Packet{HAType: 1, EtherType: EtherTypeIPv4, Proto: ProtoTCP, Src: v4a, Dst: v4b,
				TCPFlags: uint8(f), TCPSeq: 5, TCPAck: 6, PayloadLen: n, Valid: true}
			checkString(t, &p)
		}
	}
}

// TestAppendStringRandom compares with the reference on packets whose
// fields are drawn at random from values that reach every branch.
func TestAppendStringRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addrs := []netip.Addr{{}, v4a, v4b, v6a, v6b, v4max, v6max, v4in6, v6zone,
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"), netip.MustParseAddr("::1")}
	pick16 := func(vs ...uint16) uint16 {
		if r.IntN(4) == 0 {
			return uint16(r.Uint32())
		}
		return vs[r.IntN(len(vs))]
	}
	pick8 := func(vs ...uint8) uint8 {
		if r.IntN(4) == 0 {
			return uint8(r.Uint32())
		}
		return vs[r.IntN(len(vs))]
	}
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		p := Packet{
			HAType:    pick16(0, arphrdEther, arphrdRawIP, arphrdTunnel, arphrdTunnel6, arphrdLoopback, arphrdSIT, arphrdIPGRE, arphrdNone, arphrdVoid, 824),
			EtherType: pick16(0, EtherTypeIPv4, EtherTypeIPv6, EtherTypeARP, EtherTypeIPv4, EtherTypeIPv6, 0x88cc, 0x8100),
			VLAN:      pick16(0, 0, 1, 4095),
			Proto:     pick8(ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, 2, 47, 50, 51, 132, 0),
			Src:       addrs[r.IntN(len(addrs))],
			Dst:       addrs[r.IntN(len(addrs))],
			SrcPort:   pick16(0, 80, 65535),
			DstPort:   pick16(0, 443, 65535),
			IPID:      r.Uint32() >> r.IntN(33),
			Fragment:  r.IntN(4) == 0,
			ICMPType:  pick8(0, 3, 8, 11, 13, 128, 129, 135, 143),
			ICMPCode:  pick8(0, 0, 1),
			ICMPSeq:   pick16(0, 1, 65535),
			TCPFlags:  pick8(0, TCPSyn, TCPSyn|TCPAck, TCPAck, TCPPsh|TCPAck, 0xff),
			TCPSeq:    r.Uint32() >> r.IntN(33),
			TCPAck:    r.Uint32() >> r.IntN(33),
			ARPOp:     pick16(0, 1, 2, 3),
			PayloadLen: []int{0, 1, 12, 65535, -1, int(r.Int64() >> r.IntN(64)), -int(r.Int64() >> r.IntN(64)),
				1<<63 - 1, -1 << 63}[r.IntN(9)],
			Valid: r.IntN(3) != 0,
		}
		checkString(t, &p)
	}
}

// readFuzzCorpus parses a "go test fuzz v1" file of FuzzDecode: uint16,
// uint16, []byte.
func readFuzzCorpus(t *testing.T, path string) (hatype, tci uint16, data []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a FuzzDecode corpus file of 3 values", path)
	}
	var u [2]uint16
	for i, l := range lines[1:3] {
		s, ok := strings.CutPrefix(l, "uint16(")
		s, ok2 := strings.CutSuffix(s, ")")
		n, err := strconv.ParseUint(s, 0, 16)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: line %d: %q is not a uint16", path, i+2, l)
		}
		u[i] = uint16(n)
	}
	s, ok := strings.CutPrefix(lines[3], "[]byte(")
	s, ok2 := strings.CutSuffix(s, ")")
	b, err := strconv.Unquote(s)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s: line 4: %q is not a []byte", path, lines[3])
	}
	return u[0], u[1], []byte(b)
}

// TestAppendStringDecoded compares with the reference on every packet the
// package's tests decode: the FuzzDecode corpus in testdata, the frames of
// TestDecode, each cut at every length, and each with every byte flipped.
func TestAppendStringDecoded(t *testing.T) {
	type input struct {
		name        string
		hatype, tci uint16
		data        []byte
	}
	var inputs []input
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no FuzzDecode corpus: %v", err)
	}
	for _, f := range files {
		hatype, tci, data := readFuzzCorpus(t, f)
		inputs = append(inputs, input{filepath.Base(f), hatype, tci, data})
	}
	for _, tc := range decodeCases() {
		hatype, tci, data := tc.spec.frame(t)
		inputs = append(inputs, input{tc.name, hatype, tci, data})
	}
	seen := map[string]bool{}
	checked := 0
	for _, in := range inputs {
		for _, hatype := range []uint16{in.hatype, arphrdRawIP, 824} {
			for n := 0; n <= len(in.data); n++ {
				check := func(data []byte) {
					var p Packet
					_ = Decode(hatype, in.tci, data, &p)
					checkString(t, &p)
					if s := p.String(); len(s) > maxStringLen {
						t.Fatalf("%s: String() is %d bytes, more than maxStringLen %d: %q", in.name, len(s), maxStringLen, s)
					}
					seen[referenceString(&p)] = true
					checked++
				}
				check(in.data[:n:n])
				if n < len(in.data) && hatype == in.hatype {
					d := append([]byte(nil), in.data...)
					for _, x := range []byte{0xff, 0x80, 0x0f, 0x01} {
						d[n] ^= x
						check(d)
						d[n] ^= x
					}
				}
			}
		}
	}
	t.Logf("%d inputs, %d packets checked, %d distinct strings", len(inputs), checked, len(seen))
}

// TestAppendStringAllocs pins AppendString at 0 allocations into a buffer
// with room, and String at the one of its result.
func TestAppendStringAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    spec
	}{
		{"udp4", base4(udp)},
		{"tcp6", base6(tcp).with(func(s *spec) { s.tags, s.mss = []uint16{10}, 1440 })},
		{"icmp4 echo", base4(icmpEcho)},
		{"icmp6 echo", base6(icmpEcho)},
		{"arp", base4(arp)},
	} {
		p := decodeSpec(t, tc.s)
		buf := make([]byte, 0, maxStringLen)
		if allocs := testing.AllocsPerRun(1000, func() { buf = p.AppendString(buf[:0]) }); allocs != 0 {
			t.Errorf("%s: %v allocations per AppendString, want 0", tc.name, allocs)
		}
		if got, want := string(buf), referenceString(&p); got != want {
			t.Errorf("%s: AppendString = %q, want %q", tc.name, got, want)
		}
		if allocs := testing.AllocsPerRun(1000, func() { _ = p.String() }); allocs != 1 {
			t.Errorf("%s: %v allocations per String, want 1", tc.name, allocs)
		}
	}
	// Every branch of the hand-built table, into a buffer with room.
	buf := make([]byte, 0, 512)
	for _, tc := range stringCases() {
		if allocs := testing.AllocsPerRun(100, func() { buf = tc.p.AppendString(buf[:0]) }); allocs != 0 {
			t.Errorf("%s: %v allocations per AppendString, want 0", tc.name, allocs)
		}
	}
}

// FuzzAppendString builds a Packet from arbitrary field values, including
// combinations Decode never produces, and compares with the reference.
func FuzzAppendString(f *testing.F) {
	for _, tc := range stringCases() {
		p := tc.p
		src, dst := p.Src.AsSlice(), p.Dst.AsSlice()
		f.Add(p.HAType, p.EtherType, p.VLAN, p.Proto, src, dst, p.Src.Zone(), p.SrcPort, p.DstPort, p.IPID,
			p.Fragment, p.ICMPType, p.ICMPCode, p.ICMPSeq, p.TCPFlags, p.TCPSeq, p.TCPAck, p.ARPOp, int64(p.PayloadLen), p.Valid)
	}
	f.Fuzz(func(t *testing.T, hatype, etherType, vlan uint16, proto uint8, src, dst []byte, zone string,
		sport, dport uint16, ipid uint32, frag bool, icmpType, icmpCode uint8, icmpSeq uint16,
		flags uint8, seq, ack uint32, op uint16, payloadLen int64, valid bool) {
		addr := func(b []byte) netip.Addr {
			a, _ := netip.AddrFromSlice(b) // the zero Addr unless 4 or 16 bytes
			if a.Is6() {
				a = a.WithZone(zone)
			}
			return a
		}
		p := Packet{
			HAType: hatype, EtherType: etherType, VLAN: vlan, Proto: proto, Src: addr(src), Dst: addr(dst),
			SrcPort: sport, DstPort: dport, IPID: ipid, HasIPID: ipid != 0, Fragment: frag,
			ICMPType: icmpType, ICMPCode: icmpCode, ICMPSeq: icmpSeq, TCPFlags: flags, TCPSeq: seq, TCPAck: ack,
			ARPOp: op, PayloadLen: int(payloadLen), Valid: valid,
		}
		checkString(t, &p)
	})
}

// benchSummary runs f on each benchmark frame, decoded.
func benchSummary(b *testing.B, f func(p *Packet)) {
	for _, fr := range benchFrames(b) {
		b.Run(fr.name, func(b *testing.B) {
			var p Packet
			_ = Decode(fr.hatype, fr.tci, fr.frame, &p)
			b.ReportAllocs()
			for b.Loop() {
				f(&p)
			}
		})
	}
}

func BenchmarkString(b *testing.B) { benchSummary(b, func(p *Packet) { _ = p.String() }) }

func BenchmarkAppendString(b *testing.B) {
	buf := make([]byte, 0, maxStringLen)
	benchSummary(b, func(p *Packet) { buf = p.AppendString(buf[:0]) })
}

// BenchmarkReferenceString measures String as it was before AppendString,
// for comparison in the same run.
func BenchmarkReferenceString(b *testing.B) {
	benchSummary(b, func(p *Packet) { _ = referenceString(p) })
}
