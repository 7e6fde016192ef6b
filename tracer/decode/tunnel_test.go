package decode

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	underlay4a = netip.MustParseAddr("10.212.0.1")
	underlay4b = netip.MustParseAddr("10.212.0.2")
	underlay6a = netip.MustParseAddr("fd00:212::1")
	underlay6b = netip.MustParseAddr("fd00:212::2")
)

// tunnelSpec is an outer packet built around an inner frame by gopacket.
type tunnelSpec struct {
	name    string
	encap   Encap
	outer6  bool
	port    uint16 // UDP destination port (VXLAN, Geneve)
	id      uint32
	hasID   bool
	inner6  bool // the inner packet is IPv6
	innerIP bool // the inner packet has no Ethernet header (GRE, Geneve, IP in IP)
	greCsum bool // GRE checksum and sequence number present
	opts    bool // Geneve options
}

func tunnelSpecs() []tunnelSpec {
	return []tunnelSpec{
		{name: "vxlan", encap: EncapVXLAN, port: 4789, id: 42, hasID: true},
		{name: "vxlan-8472", encap: EncapVXLAN, port: 8472, id: 1, hasID: true},
		{name: "vxlan-over-v6-inner-v6", encap: EncapVXLAN, outer6: true, inner6: true, port: 4789, id: 0xffffff, hasID: true},
		{name: "geneve", encap: EncapGeneve, port: 6081, id: 5, hasID: true, opts: true},
		{name: "geneve-ip", encap: EncapGeneve, port: 6081, id: 7, hasID: true, innerIP: true},
		{name: "gre", encap: EncapGRE, innerIP: true},
		{name: "gre-key-csum-seq", encap: EncapGRE, innerIP: true, id: 0xdeadbeef, hasID: true, greCsum: true},
		{name: "gre-v6-in-v6", encap: EncapGRE, outer6: true, inner6: true, innerIP: true, id: 9, hasID: true},
		{name: "gretap", encap: EncapGRETap, id: 3, hasID: true},
		{name: "ipip", encap: EncapIPIP, innerIP: true},
		{name: "6in4", encap: Encap6in4, inner6: true, innerIP: true},
		{name: "4in6", encap: Encap4in6, outer6: true, innerIP: true},
		{name: "6in6", encap: Encap6in6, outer6: true, inner6: true, innerIP: true},
	}
}

// innerSpec is the packet the tunnels carry: an ICMP echo request.
func (ts tunnelSpec) innerSpec() spec {
	if ts.inner6 {
		return base6(icmpEcho)
	}
	return base4(icmpEcho)
}

// frames returns the inner frame as its own device would show it (with an
// Ethernet header, or raw IP) and the outer frame on an Ethernet underlay.
func (ts tunnelSpec) frames(t testing.TB) (innerHA uint16, inner, outer []byte) {
	t.Helper()
	is := ts.innerSpec()
	if ts.innerIP {
		is.framing = rawIP
	}
	innerHA, _, inner = is.frame(t)

	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 1, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 1, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	var v4 *layers.IPv4
	var v6 *layers.IPv6
	if ts.outer6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 = &layers.IPv6{Version: 6, HopLimit: 63, SrcIP: underlay6a.AsSlice(), DstIP: underlay6b.AsSlice()}
		ip = v6
	} else {
		v4 = &layers.IPv4{Version: 4, IHL: 5, TTL: 63, Id: 0x7777, SrcIP: underlay4a.AsSlice(), DstIP: underlay4b.AsSlice()}
		ip = v4
	}
	setProto := func(p layers.IPProtocol) {
		if v4 != nil {
			v4.Protocol = p
		} else {
			v6.NextHeader = p
		}
	}
	innerType := layers.EthernetTypeIPv4
	if ts.inner6 {
		innerType = layers.EthernetTypeIPv6
	}
	ls := []gopacket.SerializableLayer{eth, ip}
	switch ts.encap {
	case EncapVXLAN, EncapGeneve:
		setProto(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 51234, DstPort: layers.UDPPort(ts.port)}
		if v4 != nil {
			udp.SetNetworkLayerForChecksum(v4)
		} else {
			udp.SetNetworkLayerForChecksum(v6)
		}
		ls = append(ls, udp)
		if ts.encap == EncapVXLAN {
			ls = append(ls, &layers.VXLAN{ValidIDFlag: true, VNI: ts.id})
		} else {
			g := &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: ts.id}
			if ts.innerIP {
				g.Protocol = innerType
			}
			if ts.opts {
				g.Options = []*layers.GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}
			}
			ls = append(ls, g)
		}
	case EncapGRE, EncapGRETap:
		setProto(layers.IPProtocolGRE)
		g := &layers.GRE{Protocol: innerType, KeyPresent: ts.hasID, Key: ts.id,
			ChecksumPresent: ts.greCsum, SeqPresent: ts.greCsum, Seq: 99}
		if ts.encap == EncapGRETap {
			g.Protocol = layers.EthernetTypeTransparentEthernetBridging
		}
		ls = append(ls, g)
	case EncapIPIP, Encap4in6:
		setProto(layers.IPProtocolIPv4)
	case Encap6in4, Encap6in6:
		setProto(layers.IPProtocolIPv6)
	}
	ls = append(ls, gopacket.Payload(inner))
	return innerHA, inner, serialize(t, true, ls...)
}

func TestTunnels(t *testing.T) {
	for _, ts := range tunnelSpecs() {
		t.Run(ts.name, func(t *testing.T) {
			innerHA, inner, outer := ts.frames(t)
			var in, p Packet
			if err := Decode(innerHA, 0, inner, &in); err != nil || in.Encap != EncapNone {
				t.Fatalf("inner: %v, encap %v", err, in.Encap)
			}
			if err := Decode(arphrdEther, 0, outer, &p); err != nil {
				t.Fatalf("outer: %v", err)
			}
			if p.Encap != ts.encap || p.HasTunnelID != ts.hasID || p.TunnelID != ts.id {
				t.Fatalf("encap %v id %v/%d, want %v %v/%d", p.Encap, p.HasTunnelID, p.TunnelID, ts.encap, ts.hasID, ts.id)
			}
			if p.Fingerprint != in.Fingerprint {
				t.Errorf("fingerprint %#x, the inner packet's is %#x", p.Fingerprint, in.Fingerprint)
			}
			if p.Src != in.Src || p.Dst != in.Dst || p.ICMPSeq != in.ICMPSeq || p.TTL != in.TTL || p.EtherType != in.EtherType {
				t.Errorf("fields %+v, want the inner packet's %+v", p, in)
			}
			wantSrc, wantDst := underlay4a, underlay4b
			if ts.outer6 {
				wantSrc, wantDst = underlay6a, underlay6b
			}
			if p.Outer.Src != wantSrc || p.Outer.Dst != wantDst || p.Outer.TTL != 63 || p.Outer.IPLen != uint16(len(outer)-ethHeaderLen) {
				t.Errorf("outer %+v, want %v > %v ttl 63 length %d", p.Outer, wantSrc, wantDst, len(outer)-ethHeaderLen)
			}
			if ts.port != 0 && (p.Outer.DstPort != ts.port || p.Outer.SrcPort != 51234 || p.Outer.Proto != ProtoUDP) {
				t.Errorf("outer ports %d > %d proto %d, want 51234 > %d udp", p.Outer.SrcPort, p.Outer.DstPort, p.Outer.Proto, ts.port)
			}
			checkString(t, &p)
			if n := testing.AllocsPerRun(100, func() { _ = Decode(arphrdEther, 0, outer, &p) }); n != 0 {
				t.Errorf("%v allocations per Decode", n)
			}
			// Without tunnels, the outer packet is what is decoded.
			var plain Packet
			if err := (*Tunnels)(nil).Decode(arphrdEther, 0, outer, &plain); err != nil || plain.Encap != EncapNone || plain.Fingerprint == in.Fingerprint || plain.Src != wantSrc {
				t.Errorf("nil Tunnels: %v encap %v src %v fingerprint %#x (inner %#x)", err, plain.Encap, plain.Src, plain.Fingerprint, in.Fingerprint)
			}
			// An inner packet cut by the snap length leaves the outer one.
			cut := outer[:len(outer)-len(inner)+10]
			var c Packet
			if err := Decode(arphrdEther, 0, cut, &c); err != nil || c.Encap != EncapNone || c.Src != wantSrc || !c.Valid {
				t.Errorf("cut inner: %v encap %v src %v valid %v", err, c.Encap, c.Src, c.Valid)
			}
		})
	}
}

func TestTunnelString(t *testing.T) {
	ts := tunnelSpecs()[0]
	_, _, outer := ts.frames(t)
	var p Packet
	if err := Decode(arphrdEther, 0, outer, &p); err != nil {
		t.Fatal(err)
	}
	want := "VXLAN vni 42 10.212.0.1 > 10.212.0.2: ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1"
	if got := p.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	ts = tunnelSpecs()[9] // ipip: no id
	_, _, outer = ts.frames(t)
	if err := Decode(arphrdEther, 0, outer, &p); err != nil {
		t.Fatal(err)
	}
	want = "IPIP 10.212.0.1 > 10.212.0.2: ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1"
	if got := p.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestTunnelPorts: VXLAN and Geneve are recognized by their port only, and a
// UDP packet to such a port that is not one stays plain UDP.
func TestTunnelPorts(t *testing.T) {
	ts := tunnelSpecs()[0]
	ts.port = 9999
	_, _, outer := ts.frames(t)
	var p Packet
	if err := Decode(arphrdEther, 0, outer, &p); err != nil || p.Encap != EncapNone || p.DstPort != 9999 {
		t.Fatalf("port 9999 by default: %v encap %v dport %d", err, p.Encap, p.DstPort)
	}
	tun := DefaultTunnels.With([]uint16{9999}, nil)
	if err := tun.Decode(arphrdEther, 0, outer, &p); err != nil || p.Encap != EncapVXLAN || p.TunnelID != 42 {
		t.Fatalf("port 9999 added: %v encap %v vni %d", err, p.Encap, p.TunnelID)
	}
	if len(DefaultTunnels.VXLAN) != 2 {
		t.Errorf("With changed DefaultTunnels: %v", DefaultTunnels.VXLAN)
	}

	// VXLAN without the I flag, and a Geneve version other than 0.
	for _, tc := range []struct {
		name   string
		spec   tunnelSpec
		offset int
		value  byte
	}{
		{"vxlan no I flag", tunnelSpecs()[0], ethHeaderLen + 20 + 8, 0},
		{"geneve version 1", tunnelSpecs()[3], ethHeaderLen + 20 + 8, 0x40},
	} {
		_, _, outer := tc.spec.frames(t)
		outer[tc.offset] = tc.value
		if err := Decode(arphrdEther, 0, outer, &p); err != nil || p.Encap != EncapNone || p.Proto != ProtoUDP || p.DstPort != tc.spec.port {
			t.Errorf("%s: %v encap %v proto %d dport %d", tc.name, err, p.Encap, p.Proto, p.DstPort)
		}
	}
}

// TestPayloadOffset: PayloadOff and PayloadHead point at the TCP or UDP
// payload, in plain frames and inside tunnels.
func TestPayloadOffset(t *testing.T) {
	check := func(name string, ha uint16, frame []byte, want []byte) {
		t.Helper()
		var p Packet
		if err := Decode(ha, 0, frame, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.PayloadOff <= 0 || p.PayloadOff+len(want) > len(frame) || string(frame[p.PayloadOff:p.PayloadOff+len(want)]) != string(want) {
			t.Errorf("%s: payload at %d, want %q there", name, p.PayloadOff, want)
		}
		if !p.HasPayloadHead || p.PayloadHead != be64(want) {
			t.Errorf("%s: head %#x (%v), want %#x", name, p.PayloadHead, p.HasPayloadHead, be64(want))
		}
	}
	for _, l4 := range []l4kind{tcp, udp} {
		for _, s := range []spec{base4(l4), base6(l4), base4(l4).with(func(s *spec) { s.tags = []uint16{7} })} {
			ha, _, frame := s.frame(t)
			check(fmt.Sprintf("l4 %d v6 %v tags %v", l4, s.v6, s.tags), ha, frame, s.payload)
		}
	}
	// Inside VXLAN: the inner packet's payload, at its place in the outer frame.
	ts := tunnelSpecs()[0]
	is := ts.innerSpec()
	is.l4 = udp
	_, _, inner := is.frame(t)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 1, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 1, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 63, Protocol: layers.IPProtocolUDP, SrcIP: underlay4a.AsSlice(), DstIP: underlay4b.AsSlice()}
	u := &layers.UDP{SrcPort: 1, DstPort: 4789}
	u.SetNetworkLayerForChecksum(ip)
	outer := serialize(t, true, eth, ip, u, &layers.VXLAN{ValidIDFlag: true, VNI: 1}, gopacket.Payload(inner))
	check("vxlan", arphrdEther, outer, is.payload)
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}
