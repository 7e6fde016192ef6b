package decode

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	mac1 = [6]byte{0x02, 0, 0, 0, 0, 1}
	mac2 = [6]byte{0x02, 0, 0, 0, 0, 2}
	v4a  = netip.MustParseAddr("10.200.1.2")
	v4b  = netip.MustParseAddr("10.200.2.2")
	v6a  = netip.MustParseAddr("fd00:1::2")
	v6b  = netip.MustParseAddr("fd00:2::2")
)

type decodeCase struct {
	name string
	spec spec
	want Packet // Fingerprint is not compared; Valid is
	str  string // String(), if not empty
	hdr  int    // frame bytes up to the end of the last header
}

// decodeCases are the table of TestDecode; the truncation, allocation and
// fuzz tests reuse their frames.
func decodeCases() []decodeCase {
	return []decodeCase{
		{
			name: "tcp4 ether syn with options",
			spec: base4(tcp).with(func(s *spec) { s.flags, s.seq, s.mss, s.payload = TCPSyn, 1, 1460, nil }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 6, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 52,
				TCPFlags: TCPSyn, TCPSeq: 1, TCPAck: 2000, TCPWindow: 502, MSS: 1460, Valid: true,
			},
			str: "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [S] seq 1",
			hdr: 14 + 20 + 32,
		},
		{
			name: "tcp4 ether data",
			spec: base4(tcp),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 6, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 52,
				TCPFlags: TCPPsh | TCPAck, TCPSeq: 1000, TCPAck: 2000, TCPWindow: 502, PayloadLen: 12, Valid: true,
			},
			str: "TCP 10.200.1.2:5000 > 10.200.2.2:6000 [P.] seq 1000 ack 2000 length 12",
			hdr: 14 + 20 + 20,
		},
		{
			name: "udp4 802.1Q",
			spec: base4(udp).with(func(s *spec) { s.tags = []uint16{100} }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, VLAN: 100, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, PayloadLen: 12, Valid: true,
			},
			str: "vlan 100 UDP 10.200.1.2:5000 > 10.200.2.2:6000 length 12",
			hdr: 18 + 20 + 8,
		},
		{
			name: "udp4 802.1ad",
			spec: base4(udp).with(func(s *spec) { s.tags = []uint16{100, 200} }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, VLAN: 100, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, PayloadLen: 12, Valid: true,
			},
			hdr: 22 + 20 + 8,
		},
		{
			name: "udp4 stripped tag",
			spec: base4(udp).with(func(s *spec) { s.tci = 5<<13 | 300 }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, VLAN: 300, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, PayloadLen: 12, Valid: true,
			},
			hdr: 14 + 20 + 8,
		},
		{
			name: "icmp4 echo raw ip",
			spec: base4(icmpEcho).with(func(s *spec) { s.framing = rawIP }),
			want: Packet{
				HAType: 0xfffe, EtherType: 0x0800, Proto: 1, Src: v4a, Dst: v4b, SrcPort: 7, DstPort: 7,
				TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, ICMPType: 8, ICMPSeq: 1, PayloadLen: 12, Valid: true,
			},
			str: "ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1",
			hdr: 20 + 8,
		},
		{
			name: "icmp4 time exceeded",
			spec: base4(icmpErr),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 1, Src: v4a, Dst: v4b,
				TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 56, ICMPType: 11, PayloadLen: 28, Valid: true,
			},
			str: "ICMP time exceeded 10.200.1.2 > 10.200.2.2",
			hdr: 14 + 20 + 8,
		},
		{
			name: "icmp4 timestamp",
			spec: base4(ndp),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 1, Src: v4a, Dst: v4b,
				SrcPort: 7, DstPort: 7, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, ICMPType: 13, ICMPSeq: 1, PayloadLen: 12, Valid: true,
			},
			str: "ICMP timestamp request 10.200.1.2 > 10.200.2.2 id 7 seq 1",
			hdr: 14 + 20 + 8,
		},
		{
			name: "arp who-has",
			spec: base4(arp),
			want: Packet{
				HAType: 1, EtherType: 0x0806, SrcMAC: mac1, DstMAC: mac2, Src: v4a, Dst: v4b,
				ARPOp: 1, PayloadLen: 28, Valid: true,
			},
			str: "ARP who-has 10.200.2.2 tell 10.200.1.2",
			hdr: 14 + 28,
		},
		{
			name: "gre4",
			spec: base4(gre),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 47, Src: v4a, Dst: v4b,
				TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 32, PayloadLen: 12, Valid: true,
			},
			str: "IP 10.200.1.2 > 10.200.2.2 proto gre length 12",
			hdr: 14 + 20,
		},
		{
			name: "udp4 first fragment",
			spec: base4(udp).with(func(s *spec) { s.frag, s.df = true, false }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v4a, Dst: v4b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 40, PayloadLen: 12, Valid: true,
			},
			hdr: 14 + 20 + 8,
		},
		{
			name: "udp4 later fragment",
			spec: base4(fragRest).with(func(s *spec) { s.fragOff, s.df = 185, false }),
			want: Packet{
				HAType: 1, EtherType: 0x0800, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v4a, Dst: v4b,
				TTL: 64, IPID: 0x1234, HasIPID: true, IPLen: 32, Fragment: true, PayloadLen: 12, Valid: true,
			},
			str: "IP 10.200.1.2 > 10.200.2.2 fragment proto udp id 4660 length 12",
			hdr: 14 + 20,
		},
		{
			name: "lldp",
			spec: base4(lldp),
			want: Packet{HAType: 1, EtherType: 0x88cc, SrcMAC: mac1, DstMAC: mac2, PayloadLen: 46, Valid: true},
			str:  "ethertype 0x88cc length 46",
			hdr:  14,
		},
		{
			name: "tcp6 ether",
			spec: base6(tcp),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 6, Src: v6a, Dst: v6b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPLen: 72,
				TCPFlags: TCPPsh | TCPAck, TCPSeq: 1000, TCPAck: 2000, TCPWindow: 502, PayloadLen: 12, Valid: true,
			},
			str: "IP6 [fd00:1::2]:5000 > [fd00:2::2]:6000 TCP [P.] seq 1000 ack 2000 length 12",
			hdr: 14 + 40 + 20,
		},
		{
			name: "udp6 raw ip",
			spec: base6(udp).with(func(s *spec) { s.framing = rawIP }),
			want: Packet{
				HAType: 0xfffe, EtherType: 0x86dd, Proto: 17, Src: v6a, Dst: v6b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPLen: 60, PayloadLen: 12, Valid: true,
			},
			str: "IP6 [fd00:1::2]:5000 > [fd00:2::2]:6000 UDP length 12",
			hdr: 40 + 8,
		},
		{
			name: "udp6 hop-by-hop and destination options",
			spec: base6(udp).with(func(s *spec) { s.ext6 = true }),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v6a, Dst: v6b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPLen: 76, PayloadLen: 12, Valid: true,
			},
			hdr: 14 + 40 + 16 + 8,
		},
		{
			name: "udp6 first fragment",
			spec: base6(udp).with(func(s *spec) { s.frag = true }),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v6a, Dst: v6b,
				SrcPort: 5000, DstPort: 6000, TTL: 64, IPID: 0xdeadbeef, HasIPID: true, IPLen: 68, PayloadLen: 12, Valid: true,
			},
			hdr: 14 + 40 + 8 + 8,
		},
		{
			name: "udp6 later fragment after options",
			spec: base6(fragRest).with(func(s *spec) { s.ext6, s.fragOff = true, 100 }),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 17, Src: v6a, Dst: v6b,
				TTL: 64, IPID: 0xdeadbeef, HasIPID: true, IPLen: 76, Fragment: true, PayloadLen: 12, Valid: true,
			},
			hdr: 14 + 40 + 16 + 8,
		},
		{
			name: "icmp6 echo loopback",
			spec: base6(icmpEcho).with(func(s *spec) { s.framing = loopback }),
			want: Packet{
				HAType: 772, EtherType: 0x86dd, Proto: 58, Src: v6a, Dst: v6b, SrcPort: 7, DstPort: 7,
				TTL: 64, IPLen: 60, ICMPType: 128, ICMPSeq: 1, PayloadLen: 12, Valid: true,
			},
			str: "IP6 fd00:1::2 > fd00:2::2 ICMP6 echo request id 7 seq 1",
			hdr: 14 + 40 + 8,
		},
		{
			name: "icmp6 time exceeded",
			spec: base6(icmpErr),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 58, Src: v6a, Dst: v6b,
				TTL: 64, IPLen: 96, ICMPType: 3, PayloadLen: 48, Valid: true,
			},
			hdr: 14 + 40 + 8,
		},
		{
			name: "icmp6 neighbor solicitation",
			spec: base6(ndp),
			want: Packet{
				HAType: 1, EtherType: 0x86dd, SrcMAC: mac1, DstMAC: mac2, Proto: 58, Src: v6a, Dst: v6b,
				TTL: 64, IPLen: 72, ICMPType: 135, PayloadLen: 24, Valid: true,
			},
			str: "IP6 fd00:1::2 > fd00:2::2 ICMP6 neighbor solicitation",
			hdr: 14 + 40 + 8,
		},
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := decodeSpec(t, tc.spec)
			if diff := cmp.Diff(tc.want, p, cmpopts.IgnoreFields(Packet{}, "Fingerprint", "PayloadOff", "PayloadHead", "HasPayloadHead"), cmpopts.IgnoreUnexported(Packet{}), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
			if p.Fingerprint == 0 {
				t.Error("Fingerprint is 0")
			}
			if tc.str != "" {
				if got := p.String(); got != tc.str {
					t.Errorf("String() = %q, want %q", got, tc.str)
				}
			}
		})
	}
}

func TestDecodeLinkType(t *testing.T) {
	frame := []byte{0x10, 0, 0, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	var p Packet
	if err := Decode(824, 0, frame, &p); err != ErrLinkType {
		t.Fatalf("Decode(ARPHRD_NETLINK) = %v, want ErrLinkType", err)
	}
	if !p.Valid || p.Fingerprint == 0 || p.PayloadLen != len(frame) {
		t.Errorf("got %+v, want Valid with a fingerprint of %d bytes", p, len(frame))
	}
	if got, want := p.String(), "hatype 824 frame length 16"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := p.ProtoName(), "hatype 824"; got != want {
		t.Errorf("ProtoName() = %q, want %q", got, want)
	}
	var q Packet
	_ = Decode(824, 0, append([]byte(nil), frame...), &q)
	if q != p {
		t.Errorf("same frame decoded differently: %+v vs %+v", q, p)
	}
	frame[15] = 1
	_ = Decode(824, 0, frame, &q)
	if q.Fingerprint == p.Fingerprint {
		t.Error("frames that differ in their last byte have the same fingerprint")
	}
	_ = Decode(280, 0, frame[:15], &q) // ARPHRD_CAN, one byte fewer
	if q.Fingerprint == p.Fingerprint {
		t.Error("different frames of different link types have the same fingerprint")
	}
}

// TestStrippedTagIsOutermost: with QinQ and VLAN offload, the kernel strips
// the outer tag and the inner one stays in the frame.
func TestStrippedTagIsOutermost(t *testing.T) {
	p := decodeSpec(t, base4(udp).with(func(s *spec) { s.tags, s.tci = []uint16{200}, 100 }))
	if p.VLAN != 100 {
		t.Errorf("VLAN = %d, want the stripped outer tag 100", p.VLAN)
	}
}

func TestMalformed(t *testing.T) {
	_, _, udp4 := base4(udp).frame(t)
	_, _, tcp4 := base4(tcp).frame(t)
	_, _, udp6 := base6(udp).with(func(s *spec) { s.ext6 = true }).frame(t)
	edit := func(frame []byte, f func(b []byte)) []byte {
		b := append([]byte(nil), frame...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name   string
		hatype uint16
		frame  []byte
		want   error
	}{
		{"ihl 4", 1, edit(udp4, func(b []byte) { b[14] = 0x44 }), ErrMalformed},
		{"total length below ihl", 1, edit(udp4, func(b []byte) { b[16], b[17] = 0, 19 }), ErrMalformed},
		{"ipv6 in an ipv4 ethertype", 1, edit(udp4, func(b []byte) { b[14] = 0x65 }), ErrMalformed},
		{"raw ip version 5", 0xfffe, edit(udp4[14:], func(b []byte) { b[0] = 0x55 }), ErrMalformed},
		{"raw ip empty", 0xfffe, nil, ErrTruncated},
		{"tcp data offset 4", 1, edit(tcp4, func(b []byte) { b[14+20+12] = 0x40 }), ErrMalformed},
		{"tcp header past ip payload", 1, edit(tcp4, func(b []byte) { b[14+20+12] = 0xf0 }), ErrMalformed},
		{"udp in 4 bytes of ip payload", 1, edit(udp4, func(b []byte) { b[16], b[17] = 0, 24 }), ErrMalformed},
		{"ipv6 option header past payload", 1, edit(udp6, func(b []byte) { b[14+40+1] = 200 }), ErrMalformed},
		{"ipv6 payload too short for options", 1, edit(udp6, func(b []byte) { b[14+4], b[14+5] = 0, 1 }), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := Decode(tc.hatype, 0, tc.frame, &p)
			if err != tc.want {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if p.Valid || p.Fingerprint != 0 {
				t.Errorf("Valid %v Fingerprint %#x after %v, want invalid and 0", p.Valid, p.Fingerprint, err)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.want)
			}
			checkString(t, &p) // must not panic on a partial packet
		})
	}
}

func TestUDPLengthDisagreeing(t *testing.T) {
	// A UDP length larger than the IP payload is decoded, not rejected:
	// the packet is worth following to where it is dropped.
	hatype, tci, frame := base4(udp).frame(t)
	frame[14+20+5] = 200
	var p Packet
	if err := Decode(hatype, tci, frame, &p); err != nil || !p.Valid || p.PayloadLen != 192 {
		t.Errorf("Decode = %v, Valid %v PayloadLen %d; want nil, true, 192", err, p.Valid, p.PayloadLen)
	}
}

func TestProtoName(t *testing.T) {
	for _, tc := range []struct {
		p    Packet
		want string
	}{
		{Packet{EtherType: EtherTypeIPv4, Src: v4a, Proto: 6}, "tcp"},
		{Packet{EtherType: EtherTypeIPv6, Src: v6a, Proto: 17}, "udp"},
		{Packet{EtherType: EtherTypeIPv4, Src: v4a, Proto: 1}, "icmp"},
		{Packet{EtherType: EtherTypeIPv6, Src: v6a, Proto: 58}, "icmp6"},
		{Packet{EtherType: EtherTypeIPv4, Src: v4a, Proto: 132}, "sctp"},
		{Packet{EtherType: EtherTypeIPv4, Src: v4a, Proto: 253}, "253"},
		{Packet{EtherType: EtherTypeIPv4}, "ipv4"},
		{Packet{EtherType: EtherTypeIPv6}, "ipv6"},
		{Packet{EtherType: EtherTypeARP}, "arp"},
		{Packet{HAType: 1, EtherType: 0x88cc}, "ethertype 0x88cc"},
	} {
		if got := tc.p.ProtoName(); got != tc.want {
			t.Errorf("ProtoName(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
