package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// view prints one line per sighting, like tcpdump -i any, with the device
// name and direction first:
//
//	10:02:03.123456789 veth-c     in  IP 10.200.1.2 > 10.200.2.2: ICMP echo request, id 7, seq 1, length 64
type view struct {
	w io.Writer
}

func newView(w io.Writer) *view { return &view{w: w} }

func (v *view) print(records []byte, names []string) {
	r := record.NewReader(records)
	var h record.Header
	for {
		data, ok, err := r.Next(&h)
		if err != nil || !ok {
			return
		}
		name := fmt.Sprintf("if#%d", h.Iface)
		if int(h.Iface) < len(names) {
			name = names[h.Iface]
		}
		ts := time.Unix(0, h.TimeNanos).Format("15:04:05.000000000")
		fmt.Fprintf(v.w, "%s %-10s %-3s %s\n", ts, name, h.Dir, describe(h.HAType, data, h.OrigLen))
	}
}

// describe summarises a frame the way tcpdump's one-line output does.
func describe(hatype uint16, data []byte, origLen uint32) string {
	lt, ok := pcap.LinkTypeForHAType(hatype)
	if !ok {
		return fmt.Sprintf("hardware type %d, length %d", hatype, origLen)
	}
	var first gopacket.Decoder = lt
	if lt == layers.LinkTypeRaw && len(data) > 0 {
		first = layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	p := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var b strings.Builder
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		fmt.Fprintf(&b, "IP %s > %s: ", ip4.SrcIP, ip4.DstIP)
	} else if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		fmt.Fprintf(&b, "IP6 %s > %s: ", ip6.SrcIP, ip6.DstIP)
	} else if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		if arp.Operation == layers.ARPRequest {
			return fmt.Sprintf("ARP who-has %s tell %s, length %d", ipString(arp.DstProtAddress), ipString(arp.SourceProtAddress), origLen)
		}
		return fmt.Sprintf("ARP %s is-at %s, length %d", ipString(arp.SourceProtAddress), macString(arp.SourceHwAddress), origLen)
	} else {
		if l := p.LinkLayer(); l != nil {
			return fmt.Sprintf("%s, length %d", l.LayerType(), origLen)
		}
		return fmt.Sprintf("length %d", origLen)
	}
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		fmt.Fprintf(&b, "UDP %d > %d, length %d", l.SrcPort, l.DstPort, len(l.Payload))
		return b.String()
	case *layers.TCP:
		fmt.Fprintf(&b, "TCP %d > %d [%s] seq %d", l.SrcPort, l.DstPort, tcpFlags(l), l.Seq)
		if l.ACK {
			fmt.Fprintf(&b, " ack %d", l.Ack)
		}
		fmt.Fprintf(&b, ", length %d", len(l.Payload))
		return b.String()
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		switch icmp.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest:
			fmt.Fprintf(&b, "ICMP echo request, id %d, seq %d, length %d", icmp.Id, icmp.Seq, len(icmp.Payload)+8)
		case layers.ICMPv4TypeEchoReply:
			fmt.Fprintf(&b, "ICMP echo reply, id %d, seq %d, length %d", icmp.Id, icmp.Seq, len(icmp.Payload)+8)
		default:
			fmt.Fprintf(&b, "ICMP %s, length %d", icmp.TypeCode, len(icmp.Payload)+8)
		}
		return b.String()
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		fmt.Fprintf(&b, "ICMP6 %s, length %d", icmp.TypeCode, len(icmp.Payload)+4)
		return b.String()
	}
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		fmt.Fprintf(&b, "%s", ip4.Protocol)
	} else if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		fmt.Fprintf(&b, "%s", ip6.NextHeader)
	}
	fmt.Fprintf(&b, ", length %d", origLen)
	return b.String()
}

func ipString(b []byte) string { return layers.NewIPEndpoint(b).String() }

func macString(b []byte) string { return layers.NewMACEndpoint(b).String() }

func tcpFlags(t *layers.TCP) string {
	var s []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.ACK, '.'}, {t.URG, 'U'}} {
		if f.on {
			s = append(s, f.c)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return string(s)
}
