package decode

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// referenceString is String as it was before AppendString, kept verbatim
// (helpers renamed) so that tests can check that AppendString and the
// String built on it print exactly what it printed. It is test-only and
// must not be edited to follow later changes to the format.
func referenceString(p *Packet) string {
	var b strings.Builder
	if p.VLAN != 0 {
		fmt.Fprintf(&b, "vlan %d ", p.VLAN)
	}
	switch p.EtherType {
	case EtherTypeIPv4, EtherTypeIPv6:
		refWriteIP(p, &b)
	case EtherTypeARP:
		refWriteARP(p, &b)
	case 0:
		if !refIsEthernet(p) {
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

// referenceProtoName is ProtoName as it was before AppendString.
func referenceProtoName(p *Packet) string {
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
		if !refIsEthernet(p) {
			return "hatype " + strconv.Itoa(int(p.HAType))
		}
	}
	return fmt.Sprintf("ethertype 0x%04x", p.EtherType)
}

func refIsEthernet(p *Packet) bool {
	switch p.HAType {
	case arphrdEther, arphrdLoopback, arphrdNone, arphrdIPGRE, arphrdTunnel, arphrdTunnel6, arphrdSIT, arphrdRawIP, arphrdVoid:
		return true
	}
	return false
}

func refWriteARP(p *Packet, b *strings.Builder) {
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

func refWriteIP(p *Packet, b *strings.Builder) {
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
		label = "ICMP6 " + refICMPName(p.ICMPType, true)
	case isICMP:
		label = "ICMP " + refICMPName(p.ICMPType, false)
	default:
		label = "proto " + referenceProtoName(p)
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
		fmt.Fprintf(b, " proto %s id %d length %d", referenceProtoName(p), p.IPID, p.PayloadLen)
	case p.Proto == ProtoTCP && hasPorts:
		fmt.Fprintf(b, " [%s] seq %d", refTCPFlags(p.TCPFlags), p.TCPSeq)
		if p.TCPFlags&TCPAck != 0 {
			fmt.Fprintf(b, " ack %d", p.TCPAck)
		}
		if p.PayloadLen > 0 {
			fmt.Fprintf(b, " length %d", p.PayloadLen)
		}
	case p.Proto == ProtoUDP && hasPorts:
		fmt.Fprintf(b, " length %d", p.PayloadLen)
	case isICMP && refICMPClass(p.ICMPType, v6) == classEcho:
		fmt.Fprintf(b, " id %d seq %d", p.SrcPort, p.ICMPSeq)
	case isICMP:
		if p.ICMPCode != 0 {
			fmt.Fprintf(b, " code %d", p.ICMPCode)
		}
	default:
		fmt.Fprintf(b, " length %d", p.PayloadLen)
	}
}

func refTCPFlags(f uint8) string {
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

func refICMPName(t uint8, v6 bool) string {
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

// refICMPClass is icmpClass (decode.go) as it was, frozen with the rest.
func refICMPClass(t uint8, v6 bool) int {
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
		return classEcho
	case 3, 4, 5, 11, 12:
		return classError
	}
	return classOther
}
