package decode

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
		switch p.Proto {
		case ProtoTCP:
			return "tcp"
		case ProtoUDP:
			return "udp"
		case ProtoICMP:
			return "icmp"
		case ProtoICMPv6:
			return "icmp6"
		case 2:
			return "igmp"
		case 47:
			return "gre"
		case 50:
			return "esp"
		case 51:
			return "ah"
		case 132:
			return "sctp"
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
// prefixed with "vlan N " when the packet had a VLAN tag and followed by
// " [invalid]" when it is not Valid. It allocates; it is not for the
// per-packet path.
func (p *Packet) String() string {
	var b strings.Builder
	if p.VLAN != 0 {
		fmt.Fprintf(&b, "vlan %d ", p.VLAN)
	}
	switch p.EtherType {
	case EtherTypeIPv4, EtherTypeIPv6:
		p.writeIP(&b)
	case EtherTypeARP:
		p.writeARP(&b)
	case 0:
		if !p.isEthernet() {
			fmt.Fprintf(&b, "hatype %d frame length %d", p.HAType, p.PayloadLen)
			break
		}
		fallthrough
	default:
		fmt.Fprintf(&b, "ethertype 0x%04x length %d", p.EtherType, p.PayloadLen)
	}
	if !p.Valid {
		b.WriteString(" [invalid]")
	}
	return b.String()
}

func (p *Packet) writeARP(b *strings.Builder) {
	if !p.Src.IsValid() {
		fmt.Fprintf(b, "ARP op %d", p.ARPOp)
		return
	}
	switch p.ARPOp {
	case 1:
		fmt.Fprintf(b, "ARP who-has %s tell %s", p.Dst, p.Src)
	case 2:
		fmt.Fprintf(b, "ARP reply %s to %s", p.Src, p.Dst)
	default:
		fmt.Fprintf(b, "ARP op %d %s > %s", p.ARPOp, p.Src, p.Dst)
	}
}

func (p *Packet) writeIP(b *strings.Builder) {
	v6 := p.EtherType == EtherTypeIPv6
	if !p.Src.IsValid() {
		if v6 {
			b.WriteString("IP6")
		} else {
			b.WriteString("IP")
		}
		return
	}
	l4 := p.Valid && !p.Fragment // the L4 header was decoded
	isICMP := l4 && (p.Proto == ProtoICMP && !v6 || p.Proto == ProtoICMPv6 && v6)
	hasPorts := l4 && (p.Proto == ProtoTCP || p.Proto == ProtoUDP)
	var label string
	switch {
	case p.Fragment:
		label = "fragment"
	case p.Proto == ProtoTCP && hasPorts:
		label = "TCP"
	case p.Proto == ProtoUDP && hasPorts:
		label = "UDP"
	case isICMP && v6:
		label = "ICMP6 " + icmpName(p.ICMPType, true)
	case isICMP:
		label = "ICMP " + icmpName(p.ICMPType, false)
	default:
		label = "proto " + p.ProtoName()
	}
	src, dst := p.Src.String(), p.Dst.String()
	if hasPorts {
		src = netip.AddrPortFrom(p.Src, p.SrcPort).String()
		dst = netip.AddrPortFrom(p.Dst, p.DstPort).String()
	}
	switch {
	case v6:
		fmt.Fprintf(b, "IP6 %s > %s %s", src, dst, label)
	case hasPorts || isICMP:
		fmt.Fprintf(b, "%s %s > %s", label, src, dst)
	default:
		fmt.Fprintf(b, "IP %s > %s %s", src, dst, label)
	}
	switch {
	case p.Fragment:
		fmt.Fprintf(b, " proto %s id %d length %d", p.ProtoName(), p.IPID, p.PayloadLen)
	case p.Proto == ProtoTCP && hasPorts:
		fmt.Fprintf(b, " [%s] seq %d", tcpFlags(p.TCPFlags), p.TCPSeq)
		if p.TCPFlags&TCPAck != 0 {
			fmt.Fprintf(b, " ack %d", p.TCPAck)
		}
		if p.PayloadLen > 0 {
			fmt.Fprintf(b, " length %d", p.PayloadLen)
		}
	case p.Proto == ProtoUDP && hasPorts:
		fmt.Fprintf(b, " length %d", p.PayloadLen)
	case isICMP && icmpClass(p.ICMPType, v6) == classEcho:
		fmt.Fprintf(b, " id %d seq %d", p.SrcPort, p.ICMPSeq)
	case isICMP:
		if p.ICMPCode != 0 {
			fmt.Fprintf(b, " code %d", p.ICMPCode)
		}
	default:
		fmt.Fprintf(b, " length %d", p.PayloadLen)
	}
}

// tcpFlags spells flags as tcpdump does: FSRP, '.' for ACK, then UEW.
func tcpFlags(f uint8) string {
	const letters = "FSRP.UEW"
	var s []byte
	for i := range 8 {
		if f&(1<<i) != 0 {
			s = append(s, letters[i])
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return string(s)
}

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
		return "type " + strconv.Itoa(int(t))
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
	return "type " + strconv.Itoa(int(t))
}
