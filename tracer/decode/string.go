package decode

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// ProtoName names the packet's protocol: "tcp", "udp", "icmp", "icmp6",
// "gre", "esp", "ah", "sctp", "igmp" or the decimal IP protocol number for
// IP packets; "ipv4" or "ipv6" for an IP packet whose header was not
// decoded; "arp"; "ethertype 0x…" for other EtherTypes and "hatype N" for
// unknown link types. It allocates nothing for the named protocols.
func (p *Packet) ProtoName() string {
	switch p.EtherType {
	case EtherTypeIPv4, EtherTypeIPv6:
		if !p.Src.IsValid() {
			if p.EtherType == EtherTypeIPv4 {
				return "ipv4"
			}
			return "ipv6"
		}
		if s := ipProtoName(p.Proto); s != "" {
			return s
		}
		return strconv.Itoa(int(p.Proto))
	case EtherTypeARP:
		return "arp"
	case 0:
		if !p.isEthernet() {
			return "hatype " + strconv.Itoa(int(p.HAType))
		}
	}
	return fmt.Sprintf("ethertype 0x%04x", p.EtherType)
}

// ipProtoName names IP protocol proto as ProtoName does, "" if it has no
// name there: the names plugins see in packed traces (pcap/record).
func ipProtoName(proto uint8) string { return record.IPProtoName(proto) }

// isEthernet reports whether p came from a device with Ethernet framing or
// with raw IP framing, that is whether Decode knew the link type.
func (p *Packet) isEthernet() bool {
	switch p.HAType {
	case arphrdEther, arphrdLoopback, arphrdNone, arphrdIPGRE, arphrdTunnel, arphrdTunnel6, arphrdSIT, arphrdRawIP, arphrdVoid:
		return true
	}
	return false
}

// String returns a one-line summary in the spirit of tcpdump, such as
//
//	ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1
//	UDP 10.200.1.2:5000 > 10.200.2.2:6000 length 12
//	TCP 10.0.0.1:1234 > 10.0.0.2:80 [S] seq 1
//	IP6 fd00::1 > fd00::2 ICMP6 echo request id 7 seq 1
//	ARP who-has 10.200.1.1 tell 10.200.1.2
//
// prefixed with "vlan N " when the packet had a VLAN tag, before that with
// the tunnel ("VXLAN vni 42 192.168.1.1 > 192.168.1.2: ") when it was
// encapsulated, and followed by
// " [invalid]" when it is not Valid. It allocates the string it returns;
// on the per-packet path, use AppendString into a reused buffer.
func (p *Packet) String() string {
	var buf [maxStringLen]byte
	return string(p.AppendString(buf[:0]))
}

// maxStringLen bounds the length of String for a Packet that Decode filled
// (a tagged TCP packet between IPv6 addresses of 39 characters with every
// flag and every number at its widest is 169 bytes; a tunnel between such
// addresses adds at most 105).
const maxStringLen = 320

// AppendString appends what String returns to b. It allocates nothing
// when b has the capacity: maxStringLen (320) bytes is enough for any
// Packet that Decode filled.
func (p *Packet) AppendString(b []byte) []byte {
	if p.Encap != EncapNone {
		b = p.appendEncap(b)
	}
	if p.VLAN != 0 {
		b = append(b, "vlan "...)
		b = strconv.AppendUint(b, uint64(p.VLAN), 10)
		b = append(b, ' ')
	}
	switch p.EtherType {
	case EtherTypeIPv4, EtherTypeIPv6:
		b = p.appendIP(b)
	case EtherTypeARP:
		b = p.appendARP(b)
	case 0:
		if !p.isEthernet() {
			b = append(b, "hatype "...)
			b = strconv.AppendUint(b, uint64(p.HAType), 10)
			b = append(b, " frame length "...)
			b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
			break
		}
		fallthrough
	default:
		b = append(b, "ethertype 0x"...)
		b = appendHex16(b, p.EtherType)
		b = append(b, " length "...)
		b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
	}
	if !p.Valid {
		b = append(b, " [invalid]"...)
	}
	return b
}

// appendHex16 appends v as 4 lowercase hex digits, as %04x does.
func appendHex16(b []byte, v uint16) []byte {
	const hex = "0123456789abcdef"
	return append(b, hex[v>>12], hex[v>>8&0xf], hex[v>>4&0xf], hex[v&0xf])
}

// appendAddr appends a as a.String() spells it, "invalid IP" for the zero
// Addr (which Addr.AppendTo leaves out).
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "invalid IP"...)
	}
	return a.AppendTo(b)
}

// appendAddrPort appends a:port as netip.AddrPort.String spells it,
// "invalid AddrPort" for the zero Addr.
func appendAddrPort(b []byte, a netip.Addr, port uint16) []byte {
	if !a.IsValid() {
		return append(b, "invalid AddrPort"...)
	}
	return netip.AddrPortFrom(a, port).AppendTo(b)
}

func (p *Packet) appendARP(b []byte) []byte {
	if !p.Src.IsValid() {
		b = append(b, "ARP op "...)
		return strconv.AppendUint(b, uint64(p.ARPOp), 10)
	}
	switch p.ARPOp {
	case 1:
		b = append(b, "ARP who-has "...)
		b = appendAddr(b, p.Dst)
		b = append(b, " tell "...)
		b = appendAddr(b, p.Src)
	case 2:
		b = append(b, "ARP reply "...)
		b = appendAddr(b, p.Src)
		b = append(b, " to "...)
		b = appendAddr(b, p.Dst)
	default:
		b = append(b, "ARP op "...)
		b = strconv.AppendUint(b, uint64(p.ARPOp), 10)
		b = append(b, ' ')
		b = appendAddr(b, p.Src)
		b = append(b, " > "...)
		b = appendAddr(b, p.Dst)
	}
	return b
}

func (p *Packet) appendIP(b []byte) []byte {
	v6 := p.EtherType == EtherTypeIPv6
	if !p.Src.IsValid() {
		if v6 {
			return append(b, "IP6"...)
		}
		return append(b, "IP"...)
	}
	l4 := p.Valid && !p.Fragment // the L4 header was decoded
	isICMP := l4 && (p.Proto == ProtoICMP && !v6 || p.Proto == ProtoICMPv6 && v6)
	hasPorts := l4 && (p.Proto == ProtoTCP || p.Proto == ProtoUDP)
	switch {
	case v6:
		b = append(b, "IP6 "...)
		b = p.appendAddrs(b, hasPorts)
		b = append(b, ' ')
		b = p.appendLabel(b, v6, isICMP, hasPorts)
	case hasPorts || isICMP:
		b = p.appendLabel(b, v6, isICMP, hasPorts)
		b = append(b, ' ')
		b = p.appendAddrs(b, hasPorts)
	default:
		b = append(b, "IP "...)
		b = p.appendAddrs(b, hasPorts)
		b = append(b, ' ')
		b = p.appendLabel(b, v6, isICMP, hasPorts)
	}
	switch {
	case p.Fragment:
		b = append(b, " proto "...)
		b = p.appendIPProtoName(b)
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(p.IPID), 10)
		b = append(b, " length "...)
		b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
	case p.Proto == ProtoTCP && hasPorts:
		b = append(b, " ["...)
		b = appendTCPFlags(b, p.TCPFlags)
		b = append(b, "] seq "...)
		b = strconv.AppendUint(b, uint64(p.TCPSeq), 10)
		if p.TCPFlags&TCPAck != 0 {
			b = append(b, " ack "...)
			b = strconv.AppendUint(b, uint64(p.TCPAck), 10)
		}
		if p.PayloadLen > 0 {
			b = append(b, " length "...)
			b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
		}
	case p.Proto == ProtoUDP && hasPorts:
		b = append(b, " length "...)
		b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
	case isICMP && icmpClass(p.ICMPType, v6) == classEcho:
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(p.SrcPort), 10)
		b = append(b, " seq "...)
		b = strconv.AppendUint(b, uint64(p.ICMPSeq), 10)
	case isICMP:
		if p.ICMPCode != 0 {
			b = append(b, " code "...)
			b = strconv.AppendUint(b, uint64(p.ICMPCode), 10)
		}
	default:
		b = append(b, " length "...)
		b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
	}
	return b
}

// appendAddrs appends "src > dst" of an IP packet, with the ports if
// hasPorts.
func (p *Packet) appendAddrs(b []byte, hasPorts bool) []byte {
	if hasPorts {
		b = appendAddrPort(b, p.Src, p.SrcPort)
		b = append(b, " > "...)
		return appendAddrPort(b, p.Dst, p.DstPort)
	}
	b = appendAddr(b, p.Src)
	b = append(b, " > "...)
	return appendAddr(b, p.Dst)
}

// appendLabel appends what an IP packet is: "fragment", "TCP", "UDP",
// "ICMP …", "ICMP6 …" or "proto NAME".
func (p *Packet) appendLabel(b []byte, v6, isICMP, hasPorts bool) []byte {
	switch {
	case p.Fragment:
		return append(b, "fragment"...)
	case p.Proto == ProtoTCP && hasPorts:
		return append(b, "TCP"...)
	case p.Proto == ProtoUDP && hasPorts:
		return append(b, "UDP"...)
	case isICMP && v6:
		b = append(b, "ICMP6 "...)
		return appendICMPName(b, p.ICMPType, true)
	case isICMP:
		b = append(b, "ICMP "...)
		return appendICMPName(b, p.ICMPType, false)
	}
	b = append(b, "proto "...)
	return p.appendIPProtoName(b)
}

// appendIPProtoName appends ProtoName of an IP packet whose Src is valid.
func (p *Packet) appendIPProtoName(b []byte) []byte {
	if s := ipProtoName(p.Proto); s != "" {
		return append(b, s...)
	}
	return strconv.AppendUint(b, uint64(p.Proto), 10)
}

// appendTCPFlags spells flags as tcpdump does: FSRP, '.' for ACK, then UEW;
// "none" for none.
func appendTCPFlags(b []byte, f uint8) []byte {
	if f == 0 {
		return append(b, "none"...)
	}
	const letters = "FSRP.UEW"
	for i := range 8 {
		if f&(1<<i) != 0 {
			b = append(b, letters[i])
		}
	}
	return b
}

// appendICMPName appends the name of ICMP (v6: ICMPv6) type t, "type N"
// for a type without one.
func appendICMPName(b []byte, t uint8, v6 bool) []byte {
	if s := icmpName(t, v6); s != "" {
		return append(b, s...)
	}
	b = append(b, "type "...)
	return strconv.AppendUint(b, uint64(t), 10)
}

// icmpName names ICMP (v6: ICMPv6) type t, "" if it has no name here.
func icmpName(t uint8, v6 bool) string {
	if v6 {
		switch t {
		case 1:
			return "unreachable"
		case 2:
			return "packet too big"
		case 3:
			return "time exceeded"
		case 4:
			return "parameter problem"
		case 128:
			return "echo request"
		case 129:
			return "echo reply"
		case 133:
			return "router solicitation"
		case 134:
			return "router advertisement"
		case 135:
			return "neighbor solicitation"
		case 136:
			return "neighbor advertisement"
		case 137:
			return "redirect"
		case 143:
			return "multicast listener report v2"
		}
		return ""
	}
	switch t {
	case 0:
		return "echo reply"
	case 3:
		return "unreachable"
	case 4:
		return "source quench"
	case 5:
		return "redirect"
	case 8:
		return "echo request"
	case 11:
		return "time exceeded"
	case 12:
		return "parameter problem"
	case 13:
		return "timestamp request"
	case 14:
		return "timestamp reply"
	}
	return ""
}
