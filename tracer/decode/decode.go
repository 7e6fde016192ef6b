package decode

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Linux ARPHRD_* hardware types (include/uapi/linux/if_arp.h) that Decode
// knows how to frame.
const (
	arphrdEther    = 1
	arphrdRawIP    = 519
	arphrdTunnel   = 768
	arphrdTunnel6  = 769
	arphrdLoopback = 772
	arphrdSIT      = 776
	arphrdIPGRE    = 778
	arphrdNone     = 0xfffe
	arphrdVoid     = 0xffff
)

// EtherTypes that Decode looks into.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd

	etherTypeVLAN    = 0x8100 // 802.1Q
	etherTypeQinQ    = 0x88a8 // 802.1ad
	etherTypeQinQOld = 0x9100 // pre-standard QinQ, still sent by some switches
)

// IP protocol numbers that Decode looks into.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58

	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoDestOpts = 60
)

// TCP flags as they appear in Packet.TCPFlags.
const (
	TCPFin = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	udpHeaderLen  = 8
	icmpHeaderLen = 8
	arpFixedLen   = 8

	// payloadHashLen is how many L4 payload bytes the fingerprint covers.
	payloadHashLen = 64
)

// Sentinel errors of Decode. Decode returns them unwrapped, so returning
// one allocates nothing and == works as well as errors.Is.
var (
	// ErrLinkType: the hardware type has no framing Decode knows. The
	// Packet is still Valid: its Fingerprint hashes the whole frame.
	ErrLinkType = errors.New("decode: unsupported link-layer type")
	// ErrTruncated: the capture ends inside a header that the frame's own
	// headers say is there (link, IP, IPv6 extension, TCP/UDP/ICMP or ARP
	// header). A short payload is not an error.
	ErrTruncated = errors.New("decode: frame ends inside a header")
	// ErrMalformed: a header contradicts itself or the one before it
	// (an IPv4 header shorter than 20 bytes, an IP version that does not
	// match the EtherType, a TCP header longer than the IP payload, …).
	ErrMalformed = errors.New("decode: malformed header")
)

// Packet is what Decode extracts from one frame. Fields of layers that the
// frame does not have are zero. Packet is comparable and holds no
// reference to the frame it was decoded from.
type Packet struct {
	// HAType is the ARPHRD_* hardware type Decode was called with.
	HAType uint16
	// EtherType is the frame's EtherType after any VLAN tags (0x0800,
	// 0x86dd, 0x0806, or another); for raw IP frames the one implied by
	// the IP version. Zero when the link type is unknown.
	EtherType uint16
	// VLAN is the outermost VLAN id: the one the kernel stripped
	// (vlanTCI) if any, else the first non-zero one in the frame's
	// tags. Zero means none.
	VLAN uint16
	// SrcMAC and DstMAC are the Ethernet addresses, zero for raw IP.
	SrcMAC, DstMAC [6]byte
	// Proto is the IP protocol; for IPv6 the final next header after
	// the hop-by-hop, routing, fragment and destination options headers.
	Proto uint8
	// Src and Dst are the IP addresses; for ARP (IPv4 over any hardware)
	// the sender and target protocol addresses.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the TCP or UDP ports; for ICMP and ICMPv6
	// echo request and reply both are the echo identifier (also for the
	// ICMP timestamp, information and address mask queries, which have
	// one in the same place).
	SrcPort, DstPort uint16
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// IPID is the IPv4 identification or the identification of an IPv6
	// fragment header; HasIPID says whether there is one.
	IPID    uint32
	HasIPID bool
	// IPLen is the IPv4 total length or the IPv6 payload length plus 40,
	// from the header, not from the capture. It saturates at 65535 (an
	// IPv6 payload over 65495 bytes, possible on loopback).
	IPLen uint16
	// Fragment is set for a non-first IP fragment, which has no L4
	// header: the L4 fields are zero.
	Fragment bool
	// ICMPType and ICMPCode are the ICMP or ICMPv6 type and code;
	// ICMPSeq is the echo (or query) sequence number.
	ICMPType, ICMPCode uint8
	ICMPSeq            uint16
	// TCPFlags are the TCP flags (TCPFin … TCPCwr), TCPSeq and TCPAck
	// the sequence and acknowledgment numbers, TCPWindow the window
	// (unscaled) and MSS the value of the MSS option, 0 if absent.
	TCPFlags       uint8
	TCPSeq, TCPAck uint32
	TCPWindow      uint16
	MSS            uint16
	// ARPOp is the ARP operation (1 request, 2 reply).
	ARPOp uint16
	// PayloadLen is the length of the L4 payload according to the
	// headers: after the TCP header, the UDP header (UDP length − 8),
	// the 8-byte ICMP header; for a non-first fragment or another IP
	// protocol, the IP payload. For ARP it is the ARP message length;
	// for other EtherTypes and unknown link types, the captured bytes
	// after the link-layer header.
	PayloadLen int
	// Fingerprint identifies the packet across forwarding hops; see the
	// package documentation for what it covers. Meaningful iff Valid.
	Fingerprint uint64
	// Valid is true iff Decode returned nil or ErrLinkType: the
	// Fingerprint and the fields set are meaningful. When Decode returns
	// ErrTruncated or ErrMalformed, Valid is false, Fingerprint is 0 and
	// the fields of the headers decoded before the fault stay set (for
	// display only).
	Valid bool

	// Encap is the tunnel the packet was captured in, EncapNone if none.
	// When set, every field above but HAType and VLAN (the outer tag, if
	// any) describes the inner packet, Fingerprint included, so that the
	// tunnel packet fingerprints as the packet it carries; Outer holds the
	// tunnel's header.
	Encap Encap
	// TunnelID is the VXLAN or Geneve VNI or the GRE key; HasTunnelID says
	// whether the encapsulation carried one.
	TunnelID    uint32
	HasTunnelID bool
	// Outer is the header of the tunnel packet; zero unless Encap is set.
	Outer Outer

	// PayloadOff is where the TCP or UDP payload starts in the frame Decode
	// was given (0 for other packets); PayloadHead is its first 8 bytes,
	// big endian, when HasPayloadHead (they were captured and are payload).
	PayloadOff     int
	PayloadHead    uint64
	HasPayloadHead bool

	tunnels *Tunnels // the ports Decode looks into; nil once Decode returns
	base    int      // cap of the frame, to tell offsets from subslices
}

// Decode fills p from one captured frame of a device whose ARPHRD_* hardware
// type is hatype. vlanTCI is the VLAN tag the kernel stripped from the frame
// (tp_vlan_tci), 0 when none; its VID (vlanTCI & 0xfff) becomes p.VLAN,
// since the stripped tag was the outermost one on the wire.
//
// Framing by hatype: ARPHRD_ETHER (1) and ARPHRD_LOOPBACK (772) frames
// start with an Ethernet header (any 802.1Q/802.1ad tags in the frame are
// skipped); ARPHRD_NONE, ARPHRD_IPGRE, ARPHRD_TUNNEL, ARPHRD_TUNNEL6,
// ARPHRD_SIT, ARPHRD_RAWIP and 0xffff frames start with the IP header and
// the version nibble says which. Any other hatype: Decode returns
// ErrLinkType with p Valid and its Fingerprint a hash of the whole frame, so
// exact copies still group.
//
// Tunnels: an IP payload that is IP in IP (IPIP, sit, ip6tnl), GRE with a
// known protocol (IP, or Ethernet for gretap), or UDP to a VXLAN or Geneve
// port of DefaultTunnels is decoded as the packet it carries, one level
// deep; see Packet.Encap. Tunnels.Decode takes other ports.
//
// Decode overwrites all of *p, does not retain data, allocates nothing and
// never panics. It returns nil, ErrLinkType, ErrTruncated or ErrMalformed
// itself, never wrapped; see Packet.Valid for what p holds after each.
func Decode(hatype uint16, vlanTCI uint16, data []byte, p *Packet) error {
	return DefaultTunnels.Decode(hatype, vlanTCI, data, p)
}

func (p *Packet) decode(data []byte) error {
	switch hatype := p.HAType; hatype {
	case arphrdEther, arphrdLoopback:
		return p.decodeEthernet(data)
	case arphrdNone, arphrdIPGRE, arphrdTunnel, arphrdTunnel6, arphrdSIT, arphrdRawIP, arphrdVoid:
		if len(data) == 0 {
			return ErrTruncated
		}
		switch data[0] >> 4 {
		case 4:
			p.EtherType = EtherTypeIPv4
			return p.decodeIPv4(data)
		case 6:
			p.EtherType = EtherTypeIPv6
			return p.decodeIPv6(data)
		}
		return ErrMalformed
	}
	h := newHasher()
	h.add(kindFrame|uint64(p.HAType)<<32|uint64(len(data)), 0)
	h.bytes(data)
	p.PayloadLen = len(data)
	p.finish(h)
	return ErrLinkType
}

// finish sets the fingerprint from h and marks p valid.
func (p *Packet) finish(h hasher) {
	p.Fingerprint = h.sum()
	p.Valid = true
}

func (p *Packet) decodeEthernet(b []byte) error {
	if len(b) < ethHeaderLen {
		return ErrTruncated
	}
	p.DstMAC = [6]byte(b[0:6])
	p.SrcMAC = [6]byte(b[6:12])
	et := be16(b[12:])
	off := ethHeaderLen
	for et == etherTypeVLAN || et == etherTypeQinQ || et == etherTypeQinQOld {
		if len(b) < off+4 {
			p.EtherType = et
			return ErrTruncated
		}
		if p.VLAN == 0 {
			p.VLAN = be16(b[off:]) & 0x0fff
		}
		et = be16(b[off+2:])
		off += 4
	}
	p.EtherType = et
	b = b[off:]
	switch et {
	case EtherTypeIPv4:
		return p.decodeIPv4(b)
	case EtherTypeIPv6:
		return p.decodeIPv6(b)
	case EtherTypeARP:
		return p.decodeARP(b)
	}
	// Another EtherType: there is no length to trust, so hash what was
	// captured (up to payloadHashLen bytes) and how much that was.
	n := min(len(b), payloadHashLen)
	h := newHasher()
	h.add(kindEther|uint64(et)<<32|uint64(n), 0)
	h.bytes(b[:n])
	p.PayloadLen = len(b)
	p.finish(h)
	return nil
}

func (p *Packet) decodeARP(b []byte) error {
	if len(b) < arpFixedLen {
		return ErrTruncated
	}
	hlen, plen := int(b[4]), int(b[5])
	p.ARPOp = be16(b[6:])
	msgLen := arpFixedLen + 2*(hlen+plen)
	if len(b) < msgLen {
		return ErrTruncated
	}
	if be16(b[2:]) == EtherTypeIPv4 && plen == 4 {
		p.Src = netip.AddrFrom4([4]byte(b[arpFixedLen+hlen:]))
		p.Dst = netip.AddrFrom4([4]byte(b[arpFixedLen+2*hlen+plen:]))
	}
	p.PayloadLen = msgLen
	// The whole ARP message, and nothing of the Ethernet padding after it.
	h := newHasher()
	h.add(kindARP|uint64(msgLen), 0)
	h.bytes(b[:msgLen])
	p.finish(h)
	return nil
}

func (p *Packet) decodeIPv4(b []byte) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrMalformed
	}
	if len(b) < ipv4HeaderLen {
		return ErrTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(be16(b[2:]))
	id := be16(b[4:])
	frag := be16(b[6:])
	p.TTL = b[8]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.IPID = uint32(id)
	p.HasIPID = true
	p.IPLen = uint16(total)
	if ihl < ipv4HeaderLen || total < ihl {
		return ErrMalformed
	}
	if len(b) < ihl {
		return ErrTruncated
	}
	h := newHasher()
	h.add(kindIPv4|uint64(p.Proto)<<40|uint64(frag)<<16, uint64(id)<<32|uint64(total))
	// Bytes past the total length are link-layer padding or trailer.
	seg := b[ihl:min(len(b), total)]
	if frag&0x1fff != 0 {
		p.Fragment = true
		return p.opaque(h, seg, total-ihl)
	}
	return p.decodeL4(h, seg, total-ihl, false, frag&0x2000 != 0)
}

func (p *Packet) decodeIPv6(b []byte) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	if b[0]>>4 != 6 {
		return ErrMalformed
	}
	if len(b) < ipv6HeaderLen {
		return ErrTruncated
	}
	plen := int(be16(b[4:]))
	nh := b[6]
	p.TTL = b[7]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.IPLen = uint16(min(plen+ipv6HeaderLen, 0xffff))
	p.Proto = nh

	seg := b[ipv6HeaderLen:min(len(b), ipv6HeaderLen+plen)]
	rest := plen // bytes of IPv6 payload left according to the header
	var fragField uint16
	var hasFrag, firstFrag bool
walk:
	for {
		switch nh {
		case protoHopByHop, protoRouting, protoDestOpts:
			if rest < 2 {
				return ErrMalformed
			}
			if len(seg) < 2 {
				return ErrTruncated
			}
			n := (int(seg[1]) + 1) * 8
			if n > rest {
				return ErrMalformed
			}
			if len(seg) < n {
				return ErrTruncated
			}
			nh = seg[0]
			seg, rest = seg[n:], rest-n
		case protoFragment:
			if rest < 8 {
				return ErrMalformed
			}
			if len(seg) < 8 {
				return ErrTruncated
			}
			nh = seg[0]
			fragField = be16(seg[2:])
			p.IPID = be32(seg[4:])
			p.HasIPID = true
			hasFrag = true
			firstFrag = fragField&1 != 0
			seg, rest = seg[8:], rest-8
			if fragField&0xfff8 != 0 {
				p.Fragment = true
				break walk
			}
		default:
			break walk
		}
		p.Proto = nh
	}
	p.Proto = nh
	var f uint64
	if hasFrag {
		f = 1
	}
	h := newHasher()
	h.add(kindIPv6|uint64(nh)<<40|uint64(fragField)<<16|f, uint64(p.IPID)<<32|uint64(plen))
	if p.Fragment {
		return p.opaque(h, seg, rest)
	}
	return p.decodeL4(h, seg, rest, true, firstFrag)
}

// decodeL4 decodes the L4 header in seg, the captured part of an IP payload
// of declared bytes (seg never extends past declared). firstFrag is set
// when the packet is the first of several fragments: its L4 header may be
// cut by the fragmentation, which is then not malformed.
func (p *Packet) decodeL4(h hasher, seg []byte, declared int, v6, firstFrag bool) error {
	if p.tunnels != nil && !firstFrag && p.decap(seg, v6) {
		return nil
	}
	switch {
	case p.Proto == ProtoTCP:
		return p.decodeTCP(h, seg, declared, firstFrag)
	case p.Proto == ProtoUDP:
		return p.decodeUDP(h, seg, declared, firstFrag)
	case p.Proto == ProtoICMP && !v6, p.Proto == ProtoICMPv6 && v6:
		return p.decodeICMP(h, seg, declared, v6, firstFrag)
	}
	return p.opaque(h, seg, declared)
}

// opaque fingerprints an IP payload that Decode does not look into: the
// declared length and up to payloadHashLen captured bytes.
func (p *Packet) opaque(h hasher, seg []byte, declared int) error {
	n := min(len(seg), payloadHashLen)
	h.add(kindOpaque|uint64(declared)<<8|uint64(n), 0)
	h.bytes(seg[:n])
	p.PayloadLen = declared
	p.finish(h)
	return nil
}

// short handles an IP payload too short, per its header, for the L4 header:
// a first fragment is hashed opaquely, anything else is malformed.
func (p *Packet) short(h hasher, seg []byte, declared int, firstFrag bool) error {
	if firstFrag {
		return p.opaque(h, seg, declared)
	}
	return ErrMalformed
}

func (p *Packet) decodeTCP(h hasher, seg []byte, declared int, firstFrag bool) error {
	if declared < tcpHeaderLen {
		return p.short(h, seg, declared, firstFrag)
	}
	if len(seg) < tcpHeaderLen {
		return ErrTruncated
	}
	p.SrcPort = be16(seg[0:])
	p.DstPort = be16(seg[2:])
	p.TCPSeq = be32(seg[4:])
	p.TCPAck = be32(seg[8:])
	p.TCPFlags = seg[13]
	p.TCPWindow = be16(seg[14:])
	doff := int(seg[12]>>4) * 4
	if doff < tcpHeaderLen {
		return ErrMalformed
	}
	if doff > declared {
		return p.short(h, seg, declared, firstFrag)
	}
	if len(seg) < doff {
		return ErrTruncated
	}
	p.MSS = mssOption(seg[tcpHeaderLen:doff])
	payload := seg[doff:]
	n := min(len(payload), payloadHashLen)
	p.PayloadLen = declared - doff
	p.setPayload(payload)
	// Not the ports (NAT), the checksum, or the options (MSS clamping).
	h.add(kindTCP|uint64(p.TCPFlags)<<48|uint64(p.TCPWindow)<<32|uint64(p.PayloadLen)<<8|uint64(n),
		uint64(p.TCPSeq)<<32|uint64(p.TCPAck))
	h.bytes(payload[:n])
	p.finish(h)
	return nil
}

// setPayload notes where payload, a subslice of the frame, starts, and its
// first 8 bytes.
func (p *Packet) setPayload(payload []byte) {
	p.PayloadOff = p.base - cap(payload)
	if len(payload) >= 8 && p.PayloadLen >= 8 {
		p.PayloadHead, p.HasPayloadHead = binary.BigEndian.Uint64(payload), true
	}
}

// mssOption returns the value of the MSS option in TCP options opts, 0 if
// there is none or the options are malformed before it.
func mssOption(opts []byte) uint16 {
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return 0
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return 0
		}
		if opts[0] == 2 && opts[1] == 4 {
			return be16(opts[2:])
		}
		opts = opts[opts[1]:]
	}
	return 0
}

func (p *Packet) decodeUDP(h hasher, seg []byte, declared int, firstFrag bool) error {
	if declared < udpHeaderLen {
		return p.short(h, seg, declared, firstFrag)
	}
	if len(seg) < udpHeaderLen {
		return ErrTruncated
	}
	p.SrcPort = be16(seg[0:])
	p.DstPort = be16(seg[2:])
	ulen := int(be16(seg[4:]))
	// A UDP length that disagrees with the IP payload is hashed as it is:
	// such a packet is worth following to the hop that drops it.
	p.PayloadLen = max(ulen-udpHeaderLen, 0)
	payload := seg[udpHeaderLen:]
	p.setPayload(payload)
	n := min(len(payload), p.PayloadLen, payloadHashLen)
	h.add(kindUDP|uint64(ulen)<<8|uint64(n), 0)
	h.bytes(payload[:n])
	p.finish(h)
	return nil
}

func (p *Packet) decodeICMP(h hasher, seg []byte, declared int, v6, firstFrag bool) error {
	if declared < icmpHeaderLen {
		return p.short(h, seg, declared, firstFrag)
	}
	if len(seg) < icmpHeaderLen {
		return ErrTruncated
	}
	t, c := seg[0], seg[1]
	p.ICMPType, p.ICMPCode = t, c
	p.PayloadLen = declared - icmpHeaderLen
	tc := uint64(t)<<48 | uint64(c)<<40
	switch icmpClass(t, v6) {
	case classEcho:
		id := be16(seg[4:])
		p.SrcPort, p.DstPort = id, id
		p.ICMPSeq = be16(seg[6:])
		// Not the identifier, which masquerading may rewrite.
		body := seg[icmpHeaderLen:]
		n := min(len(body), payloadHashLen)
		h.add(kindICMPEcho|tc|uint64(p.ICMPSeq)<<24|uint64(n), uint64(declared))
		h.bytes(body[:n])
	case classError:
		// The embedded packet's addresses, ports and checksums are
		// rewritten by NAT on the way back; its IP identification,
		// protocol and length are not. A redirect's gateway address
		// (the 4 bytes after the checksum) may be, so it is left out.
		var rest uint64
		if v6 || t != 5 {
			rest = uint64(be32(seg[4:]))
		}
		h.add(kindICMPError|tc|uint64(declared), rest)
		h.add(embedded(seg[icmpHeaderLen:]))
	default:
		body := seg[4:]
		n := min(len(body), payloadHashLen)
		h.add(kindICMPOther|tc|uint64(declared)<<8|uint64(n), 0)
		h.bytes(body[:n])
	}
	p.finish(h)
	return nil
}

const (
	classOther = iota
	classEcho
	classError
)

func icmpClass(t uint8, v6 bool) int {
	if v6 {
		switch {
		case t == 128 || t == 129:
			return classEcho
		case t >= 1 && t <= 4:
			return classError
		}
		return classOther
	}
	switch t {
	case 0, 8, 13, 14, 15, 16, 17, 18:
		// Echo, and the queries that carry an identifier and a sequence
		// number as echo does (timestamp, information, address mask):
		// conntrack tracks and NATs all of them by that identifier.
		return classEcho
	case 3, 4, 5, 11, 12:
		return classError
	}
	return classOther
}

// embedded returns the hash words of the IP header that an ICMP error
// quotes: version, protocol, length, fragment field and identification,
// none of which NAT rewrites. Zero words when the header is not captured.
func embedded(b []byte) (uint64, uint64) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < ipv4HeaderLen {
			return 0, 0
		}
		return 4<<56 | uint64(b[9])<<48 | uint64(be16(b[2:]))<<32 | uint64(be16(b[6:]))<<16,
			uint64(be16(b[4:]))
	case 6:
		if len(b) < ipv6HeaderLen {
			return 0, 0
		}
		nh := b[6]
		a := 6<<56 | uint64(nh)<<48 | uint64(be16(b[4:]))<<32
		if nh == protoFragment && len(b) >= ipv6HeaderLen+8 {
			return a | uint64(be16(b[ipv6HeaderLen+2:]))<<16 | 1, uint64(be32(b[ipv6HeaderLen+4:]))
		}
		return a, 0
	}
	return 0, 0
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
