package decode

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Test packets are described by a spec and built by gopacket, an
// independent encoder, so the decoder is not checked against itself.

type framing int

const (
	ether framing = iota
	rawIP
	loopback
)

type l4kind int

const (
	tcp l4kind = iota
	udp
	icmpEcho
	icmpErr // time exceeded quoting an IPv4 (v6: IPv6) UDP packet
	ndp     // ICMPv6 neighbor solicitation (v4: ICMP timestamp request)
	arp
	gre      // IP protocol 47 with an opaque payload
	lldp     // EtherType 0x88cc
	fragRest // non-first UDP fragment
)

type spec struct {
	framing framing
	tags    []uint16 // VLAN ids in the frame, outermost first; the outer of two is 802.1ad
	tci     uint16   // tag the kernel stripped
	srcMAC  net.HardwareAddr
	dstMAC  net.HardwareAddr

	v6        bool
	src, dst  netip.Addr
	ttl       uint8
	tos       uint8  // IPv4 TOS / IPv6 traffic class
	flowLabel uint32 // IPv6
	id        uint16 // IPv4 identification
	df        bool
	ext6      bool   // IPv6 hop-by-hop and destination options headers
	frag      bool   // first fragment: MF set (IPv6: fragment header, M set)
	fragOff   uint16 // fragment offset in 8-byte units for fragRest
	fragID    uint32 // IPv6 fragment identification

	l4           l4kind
	sport, dport uint16
	seq, ack     uint32
	flags        uint8 // TCPFin …
	win          uint16
	mss          uint16 // 0: no MSS option
	icmpID       uint16
	icmpSeq      uint16
	arpOp        uint16
	payload      []byte
	innerSrc     netip.Addr // icmpErr: the quoted packet's addresses and ports
	innerDst     netip.Addr
	innerSport   uint16
	innerID      uint16
	noChecksums  bool
	padTo        int // append zero bytes up to this frame length
}

func base4(l4 l4kind) spec {
	return spec{
		srcMAC:     net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		dstMAC:     net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
		src:        netip.MustParseAddr("10.200.1.2"),
		dst:        netip.MustParseAddr("10.200.2.2"),
		ttl:        64,
		id:         0x1234,
		df:         true,
		l4:         l4,
		sport:      5000,
		dport:      6000,
		seq:        1000,
		ack:        2000,
		flags:      TCPPsh | TCPAck,
		win:        502,
		icmpID:     7,
		icmpSeq:    1,
		arpOp:      1,
		payload:    []byte("hello, world"),
		innerSrc:   netip.MustParseAddr("10.200.1.2"),
		innerDst:   netip.MustParseAddr("10.200.9.9"),
		innerSport: 40000,
		innerID:    0x4321,
	}
}

func base6(l4 l4kind) spec {
	s := base4(l4)
	s.v6 = true
	s.src = netip.MustParseAddr("fd00:1::2")
	s.dst = netip.MustParseAddr("fd00:2::2")
	s.innerSrc = netip.MustParseAddr("fd00:1::2")
	s.innerDst = netip.MustParseAddr("fd00:9::9")
	s.flowLabel = 0x12345
	s.fragID = 0xdeadbeef
	return s
}

// with returns a copy of s changed by f; slices are copied so f may edit them.
func (s spec) with(f func(*spec)) spec {
	s.tags = append([]uint16(nil), s.tags...)
	s.payload = append([]byte(nil), s.payload...)
	f(&s)
	return s
}

func serialize(t testing.TB, checksums bool, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: checksums}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// frame builds s and returns what Decode is called with.
func (s spec) frame(t testing.TB) (hatype, tci uint16, data []byte) {
	t.Helper()
	var ls []gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if s.v6 {
		et = layers.EthernetTypeIPv6
	}
	switch s.l4 {
	case arp:
		et = layers.EthernetTypeARP
	case lldp:
		et = layers.EthernetTypeLinkLayerDiscovery
	}
	switch s.framing {
	case ether, loopback:
		eth := &layers.Ethernet{SrcMAC: s.srcMAC, DstMAC: s.dstMAC, EthernetType: et}
		hatype = 1
		if s.framing == loopback {
			eth.SrcMAC = make(net.HardwareAddr, 6)
			eth.DstMAC = make(net.HardwareAddr, 6)
			hatype = 772
		}
		ls = append(ls, eth)
		var tags []gopacket.SerializableLayer
		for i, vid := range s.tags {
			d := &layers.Dot1Q{VLANIdentifier: vid, Type: et}
			if i == 0 {
				tpid := layers.EthernetTypeDot1Q
				if len(s.tags) > 1 {
					tpid = layers.EthernetTypeQinQ
				}
				eth.EthernetType = tpid
			} else {
				tags[i-1].(*layers.Dot1Q).Type = layers.EthernetTypeDot1Q
			}
			tags = append(tags, d)
		}
		ls = append(ls, tags...)
	case rawIP:
		hatype = 0xfffe
		if s.l4 == arp || s.l4 == lldp {
			t.Fatal("raw IP framing carries no ARP or LLDP")
		}
	}

	var netl gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	switch s.l4 {
	case udp, fragRest:
		proto = layers.IPProtocolUDP
	case icmpEcho, icmpErr, ndp:
		proto = layers.IPProtocolICMPv4
		if s.v6 {
			proto = layers.IPProtocolICMPv6
		}
	case gre:
		proto = layers.IPProtocolGRE
	}
	switch {
	case s.l4 == arp:
		ls = append(ls, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: s.arpOp,
			SourceHwAddress: s.srcMAC, SourceProtAddress: s.src.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: s.dst.AsSlice(),
		})
	case s.l4 == lldp:
		ls = append(ls, gopacket.Payload(s.payload))
	case s.v6:
		ip := &layers.IPv6{
			Version: 6, TrafficClass: s.tos, FlowLabel: s.flowLabel, HopLimit: s.ttl,
			NextHeader: proto, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice(),
		}
		netl = ip
		ls = append(ls, ip)
		var ext []byte
		last := &ip.NextHeader
		if s.ext6 {
			// Hop-by-hop and destination options, each 8 bytes: next
			// header, length 0, PadN of 4 bytes.
			ext = append(ext, byte(layers.IPProtocolIPv6Destination), 0, 1, 4, 0, 0, 0, 0)
			ext = append(ext, byte(proto), 0, 1, 4, 0, 0, 0, 0)
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			last = nil
		}
		if s.frag || s.l4 == fragRest {
			fh := make([]byte, 8)
			fh[0] = byte(proto)
			off := s.fragOff << 3
			if s.frag {
				off |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], off)
			binary.BigEndian.PutUint32(fh[4:], s.fragID)
			if last != nil {
				*last = layers.IPProtocolIPv6Fragment
			} else {
				ext[len(ext)-8] = byte(layers.IPProtocolIPv6Fragment)
			}
			ext = append(ext, fh...)
		}
		if len(ext) > 0 {
			ls = append(ls, gopacket.Payload(ext))
		}
	default:
		ip := &layers.IPv4{
			Version: 4, TOS: s.tos, Id: s.id, TTL: s.ttl, Protocol: proto,
			SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice(), FragOffset: s.fragOff,
		}
		if s.df {
			ip.Flags |= layers.IPv4DontFragment
		}
		if s.frag {
			ip.Flags |= layers.IPv4MoreFragments
		}
		netl = ip
		ls = append(ls, ip)
	}

	switch s.l4 {
	case tcp:
		l := &layers.TCP{
			SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
			Seq: s.seq, Ack: s.ack, Window: s.win,
			FIN: s.flags&TCPFin != 0, SYN: s.flags&TCPSyn != 0, RST: s.flags&TCPRst != 0,
			PSH: s.flags&TCPPsh != 0, ACK: s.flags&TCPAck != 0, URG: s.flags&TCPUrg != 0,
			ECE: s.flags&TCPEce != 0, CWR: s.flags&TCPCwr != 0,
		}
		if s.mss != 0 {
			l.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
				{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, s.mss)},
				{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			}
		}
		if err := l.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l, gopacket.Payload(s.payload))
	case udp:
		l := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		if err := l.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l, gopacket.Payload(s.payload))
	case icmpEcho, icmpErr, ndp:
		ls = append(ls, s.icmp(t, netl)...)
	case gre, fragRest:
		ls = append(ls, gopacket.Payload(s.payload))
	}
	data = serialize(t, !s.noChecksums, ls...)
	if len(data) < s.padTo {
		data = append(data, make([]byte, s.padTo-len(data))...)
	}
	return hatype, s.tci, data
}

func (s spec) icmp(t testing.TB, netl gopacket.NetworkLayer) []gopacket.SerializableLayer {
	t.Helper()
	if !s.v6 {
		switch s.l4 {
		case icmpEcho:
			return []gopacket.SerializableLayer{
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: s.icmpID, Seq: s.icmpSeq},
				gopacket.Payload(s.payload),
			}
		case icmpErr:
			return []gopacket.SerializableLayer{
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(11, 0)},
				gopacket.Payload(s.quoted(t)),
			}
		default:
			return []gopacket.SerializableLayer{
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(13, 0), Id: s.icmpID, Seq: s.icmpSeq},
				gopacket.Payload(s.payload),
			}
		}
	}
	var l *layers.ICMPv6
	var body []byte
	switch s.l4 {
	case icmpEcho:
		l = &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		body = binary.BigEndian.AppendUint16(nil, s.icmpID)
		body = binary.BigEndian.AppendUint16(body, s.icmpSeq)
		body = append(body, s.payload...)
	case icmpErr:
		l = &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(3, 0)}
		body = append(make([]byte, 4), s.quoted(t)...)
	default:
		l = &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
		body = append(make([]byte, 4), s.dst.AsSlice()...)
		body = append(body, 1, 1) // source link-layer address option
		body = append(body, s.srcMAC...)
	}
	if err := l.SetNetworkLayerForChecksum(netl); err != nil {
		t.Fatal(err)
	}
	return []gopacket.SerializableLayer{l, gopacket.Payload(body)}
}

// quoted returns what an ICMP error quotes: the IP header and 8 bytes of
// a UDP datagram from innerSrc:innerSport to innerDst:53.
func (s spec) quoted(t testing.TB) []byte {
	t.Helper()
	u := &layers.UDP{SrcPort: layers.UDPPort(s.innerSport), DstPort: 53}
	var ip gopacket.SerializableLayer
	hl := 20
	if s.v6 {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: s.innerSrc.AsSlice(), DstIP: s.innerDst.AsSlice()}
		_ = u.SetNetworkLayerForChecksum(ip6)
		ip, hl = ip6, 40
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 1, Id: s.innerID, Protocol: layers.IPProtocolUDP, SrcIP: s.innerSrc.AsSlice(), DstIP: s.innerDst.AsSlice()}
		_ = u.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	b := serialize(t, true, ip, u, gopacket.Payload("query.example."))
	return b[:hl+8]
}

// decodeSpec builds s and decodes it, failing the test on an error.
func decodeSpec(t testing.TB, s spec) Packet {
	t.Helper()
	hatype, tci, data := s.frame(t)
	var p Packet
	if err := Decode(hatype, tci, data, &p); err != nil {
		t.Fatalf("Decode: %v\nframe %x", err, data)
	}
	return p
}
