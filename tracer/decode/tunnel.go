package decode

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// Encap is a tunnel encapsulation that Decode looks through. It is
// pcap/record's, so that the numbers in packed traces are these.
type Encap = record.Encap

// The encapsulations Decode knows.
const (
	EncapNone   = record.EncapNone
	EncapVXLAN  = record.EncapVXLAN  // RFC 7348: Ethernet in UDP, 8-byte header with a 24-bit VNI
	EncapGeneve = record.EncapGeneve // RFC 8926: Ethernet (or IP) in UDP, with options
	EncapGRE    = record.EncapGRE    // RFC 2784/2890: IP in GRE, with an optional key
	EncapGRETap = record.EncapGRETap // Ethernet in GRE (gretap, ip6gretap)
	EncapIPIP   = record.EncapIPIP   // IPv4 in IPv4 (ipip)
	Encap6in4   = record.Encap6in4   // IPv6 in IPv4 (sit)
	Encap4in6   = record.Encap4in6   // IPv4 in IPv6 (ip6tnl)
	Encap6in6   = record.Encap6in6   // IPv6 in IPv6 (ip6tnl)
)

// Outer is the header of the tunnel packet that carried an encapsulated
// packet, as the device that captured it saw it.
type Outer struct {
	// EtherType is that of the outer IP header (0x0800 or 0x86dd).
	EtherType uint16
	// Proto is the outer IP protocol: 17 (UDP) for VXLAN and Geneve, 47
	// for GRE, 4 or 41 for IP in IP.
	Proto uint8
	// TTL is the outer TTL or hop limit.
	TTL uint8
	// Src and Dst are the tunnel's endpoints.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the outer UDP ports (VXLAN, Geneve).
	SrcPort, DstPort uint16
	// IPLen is the outer IPv4 total length or IPv6 payload length plus 40.
	IPLen uint16
}

// Tunnels says which UDP destination ports carry VXLAN and Geneve. IP in
// IP and GRE are recognized by their IP protocol and need no port.
type Tunnels struct {
	VXLAN  []uint16
	Geneve []uint16
}

// DefaultTunnels are the ports Decode looks into: VXLAN on IANA's 4789 and
// on 8472 (the Linux kernel's historical default, which flannel uses), and
// Geneve on 6081.
var DefaultTunnels = &Tunnels{VXLAN: []uint16{4789, 8472}, Geneve: []uint16{6081}}

// With returns a copy of t that also knows the given ports; t itself is
// not changed, so a Tunnels in use may be replaced but never modified.
func (t *Tunnels) With(vxlan, geneve []uint16) *Tunnels {
	n := &Tunnels{VXLAN: slices.Clone(t.VXLAN), Geneve: slices.Clone(t.Geneve)}
	for _, p := range vxlan {
		if p != 0 && !slices.Contains(n.VXLAN, p) {
			n.VXLAN = append(n.VXLAN, p)
		}
	}
	for _, p := range geneve {
		if p != 0 && !slices.Contains(n.Geneve, p) {
			n.Geneve = append(n.Geneve, p)
		}
	}
	return n
}

// Decode is the package's Decode with t's ports for VXLAN and Geneve; a nil
// t looks into no tunnel at all.
func (t *Tunnels) Decode(hatype uint16, vlanTCI uint16, data []byte, p *Packet) error {
	*p = Packet{HAType: hatype, VLAN: vlanTCI & 0x0fff, tunnels: t, base: cap(data)}
	err := p.decode(data)
	p.tunnels, p.base = nil, 0
	return err
}

const (
	greEtherTypeTEB = 0x6558 // transparent Ethernet bridging: gretap, Geneve
	vxlanHeaderLen  = 8
	geneveHeaderLen = 8
	greHeaderLen    = 4
)

// tunnel reports whether an IP payload of protocol proto, whose captured
// part is seg, is a tunnel packet Decode looks into, and where its inner
// packet starts: at off, of EtherType inner (IPv4 or IPv6), or with an
// Ethernet header when inner is 0.
func (t *Tunnels) tunnel(proto uint8, v6 bool, seg []byte) (e Encap, id uint32, hasID bool, off int, inner uint16) {
	switch proto {
	case 4:
		if v6 {
			return Encap4in6, 0, false, 0, EtherTypeIPv4
		}
		return EncapIPIP, 0, false, 0, EtherTypeIPv4
	case 41:
		if v6 {
			return Encap6in6, 0, false, 0, EtherTypeIPv6
		}
		return Encap6in4, 0, false, 0, EtherTypeIPv6
	case 47:
		if len(seg) < greHeaderLen {
			return
		}
		flags := seg[0]
		// Version 0 only (1 is PPTP's), no routing (RFC 1701's R bit).
		if seg[1]&0x07 != 0 || flags&0x40 != 0 {
			return
		}
		off = greHeaderLen
		if flags&0x80 != 0 { // checksum and reserved
			off += 4
		}
		if flags&0x20 != 0 { // key
			if len(seg) < off+4 {
				return
			}
			id, hasID = be32(seg[off:]), true
			off += 4
		}
		if flags&0x10 != 0 { // sequence number
			off += 4
		}
		switch et := be16(seg[2:]); et {
		case EtherTypeIPv4, EtherTypeIPv6:
			return EncapGRE, id, hasID, off, et
		case greEtherTypeTEB:
			return EncapGRETap, id, hasID, off, 0
		}
		return EncapNone, 0, false, 0, 0
	case ProtoUDP:
		if len(seg) < udpHeaderLen+8 {
			return
		}
		port := be16(seg[2:])
		h := seg[udpHeaderLen:]
		switch {
		case slices.Contains(t.VXLAN, port):
			// The I flag says the VNI is valid; the other flag bits
			// (but the group policy extension's) are reserved.
			if h[0]&0x08 == 0 {
				return
			}
			return EncapVXLAN, be32(h[4:]) >> 8, true, udpHeaderLen + vxlanHeaderLen, 0
		case slices.Contains(t.Geneve, port):
			if h[0]>>6 != 0 { // version 0
				return
			}
			off = udpHeaderLen + geneveHeaderLen + int(h[0]&0x3f)*4
			id, hasID = be32(h[4:])>>8, true
			switch et := be16(h[2:]); et {
			case greEtherTypeTEB:
				return EncapGeneve, id, hasID, off, 0
			case EtherTypeIPv4, EtherTypeIPv6:
				return EncapGeneve, id, hasID, off, et
			}
		}
	}
	return EncapNone, 0, false, 0, 0
}

// decap tries to decode the packet that p's IP payload (captured part seg)
// carries. On success p describes the inner packet, with the outer header
// in p.Outer, and decap returns true. When the payload is not a tunnel
// packet Decode knows, or the inner packet does not decode (cut by the
// snap length, or not a packet at all), p is unchanged and decap returns
// false: the packet is then fingerprinted as the outer packet it is.
func (p *Packet) decap(seg []byte, v6 bool) bool {
	e, id, hasID, off, inner := p.tunnels.tunnel(p.Proto, v6, seg)
	if e == EncapNone || off > len(seg) {
		return false
	}
	in := seg[off:]
	q := Packet{HAType: p.HAType, base: p.base}
	var err error
	switch inner {
	case 0:
		err = q.decodeEthernet(in)
	case EtherTypeIPv4:
		q.EtherType = inner
		err = q.decodeIPv4(in) // malformed unless the version nibble agrees
	case EtherTypeIPv6:
		q.EtherType = inner
		err = q.decodeIPv6(in)
	}
	if err != nil || !q.Valid {
		return false
	}
	// VLAN is the outer tag: the device's, not the tunnel's payload's.
	q.VLAN = p.VLAN
	q.Encap, q.TunnelID, q.HasTunnelID = e, id, hasID
	q.Outer = Outer{
		EtherType: p.EtherType, Proto: p.Proto, TTL: p.TTL, Src: p.Src, Dst: p.Dst, IPLen: p.IPLen,
	}
	if p.Proto == ProtoUDP {
		q.Outer.SrcPort, q.Outer.DstPort = be16(seg[0:]), be16(seg[2:])
	}
	*p = q
	return true
}

// appendEncap appends "VXLAN vni 42 192.168.1.1 > 192.168.1.2: ", what
// String puts before an encapsulated packet.
func (p *Packet) appendEncap(b []byte) []byte {
	b = append(b, p.Encap.String()...)
	if p.HasTunnelID {
		b = append(b, ' ')
		b = append(b, p.Encap.IDName()...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(p.TunnelID), 10)
	}
	b = append(b, ' ')
	b = appendAddr(b, p.Outer.Src)
	b = append(b, " > "...)
	b = appendAddr(b, p.Outer.Dst)
	return append(b, ": "...)
}
