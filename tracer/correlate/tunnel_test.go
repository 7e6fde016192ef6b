package correlate

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/decode"
)

// vxlan wraps an inner frame as node src's underlay sends it to dst.
func vxlan(t testing.TB, src, dst string, port uint16, vni uint32, ipid uint16, inner []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: ipid, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	u := &layers.UDP{SrcPort: 40123, DstPort: layers.UDPPort(port)}
	u.SetNetworkLayerForChecksum(ip)
	return frame(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, u,
		&layers.VXLAN{ValidIDFlag: true, VNI: vni}, gopacket.Payload(inner))
}

// TestTunnelTrace: a pod's ping crosses a VXLAN overlay between two nodes.
// The pod's veth, the vxlan devices and the underlay (outer packets, whose
// IP ids differ from each other and from the inner packet's) give one
// trace, with the encapsulation and the decapsulation named.
func TestTunnelTrace(t *testing.T) {
	const (
		podA, vxA, upA, upB, vxB, podB = 1, 2, 3, 4, 5, 6
	)
	in, out := record.DirIn, record.DirOut
	ping := func(ttl uint8) []byte { return echo4(t, "10.244.1.2", "10.244.2.2", ttl, 999, 7, 1, macA) }
	ss := []sight{
		{0, podA, in, t0, ping(64)},
		{0, vxA, out, t0 + 5*us, ping(63)},
		{0, upA, out, t0 + 8*us, vxlan(t, "10.212.0.1", "10.212.0.2", 4789, 42, 1, ping(63))},
		{1, upB, in, t0 + 20*us, vxlan(t, "10.212.0.1", "10.212.0.2", 4789, 42, 1, ping(63))},
		{1, vxB, in, t0 + 22*us, ping(63)},
		{1, podB, out, t0 + 25*us, ping(62)},
		// Another node's VXLAN on a port the correlator is told about
		// later, and a ping that only the underlay saw: traces of their own.
		{2, upB, in, t0 + 30*us, vxlan(t, "10.212.0.3", "10.212.0.2", 9999, 5, 2, echo4(t, "10.244.3.2", "10.244.2.2", 63, 1000, 7, 2, macA))},
	}
	_, traces := feed(t, New(Config{}), ss)
	if len(traces) != 2 {
		t.Fatalf("%d traces, want 2", len(traces))
	}
	tr := traces[0]
	if diff := cmp.Diff([]hopID{{podA, in}, {vxA, out}, {upA, out}, {upB, in}, {vxB, in}, {podB, out}}, path(tr)); diff != "" {
		t.Fatalf("path (-want +got):\n%s", diff)
	}
	want := []string{"encap VXLAN vni 42 10.212.0.1→10.212.0.2", "decap VXLAN vni 42 10.212.0.1→10.212.0.2"}
	if diff := cmp.Diff(want, tr.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	for k, h := range tr.Hops {
		tunneled := k == 2 || k == 3
		if got := h.Tunnel.Encap == decode.EncapVXLAN; got != tunneled {
			t.Errorf("hop %d tunnel %+v", k, h.Tunnel)
		}
		if tunneled && (h.Tunnel.ID != 42 || h.Tunnel.Outer.Src.String() != "10.212.0.1" || h.Tunnel.Outer.DstPort != 4789 || h.Tunnel.Outer.Proto != 17 || h.Tunnel.OuterTTL != 64) {
			t.Errorf("hop %d tunnel %+v", k, h.Tunnel)
		}
		if h.Tuple.Src.String() != "10.244.1.2" || h.Tuple.Proto != 1 {
			t.Errorf("hop %d tuple %+v, want the pod's packet", k, h.Tuple)
		}
	}
	if p := traces[1].Hops[0]; p.Tunnel.Encap != decode.EncapNone || p.Tuple.DstPort != 9999 {
		t.Errorf("VXLAN on port 9999 unannounced: %+v", p)
	}

	// Told about port 9999, the correlator looks into it, and a trace
	// that starts in the tunnel says so in its packet and its hop.
	c := New(Config{})
	c.SetTunnels(decode.DefaultTunnels.With([]uint16{9999}, nil))
	_, traces = feed(t, c, ss[6:])
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	if tr := traces[0]; tr.Hops[0].Tunnel.ID != 5 || tr.Packet.Encap != decode.EncapVXLAN || tr.Packet.Src.String() != "10.244.3.2" || len(tr.Changes) != 0 {
		t.Errorf("port 9999 announced: hop %+v packet %v changes %q", tr.Hops[0], &tr.Packet, tr.Changes)
	}
}

func TestTunnelChanges(t *testing.T) {
	tun := func(src, dst string) record.Tunnel {
		return record.Tunnel{Encap: record.EncapGRE, ID: 7, HasID: true, Outer: record.Tuple{EtherType: 0x0800, Proto: 47, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}}
	}
	hops := []Hop{
		{Tunnel: tun("192.0.2.1", "192.0.2.2")},
		{Tunnel: tun("198.51.100.1", "192.0.2.2")},
		{Tunnel: tun("198.51.100.1", "198.51.100.2")},
		{},
		{Tunnel: record.Tunnel{Encap: record.EncapIPIP, Outer: record.Tuple{EtherType: 0x0800, Proto: 4, Src: netip.MustParseAddr("192.0.2.9"), Dst: netip.MustParseAddr("192.0.2.2")}}},
	}
	want := []string{"outer SNAT 192.0.2.1→198.51.100.1", "outer DNAT 192.0.2.2→198.51.100.2",
		"decap GRE key 7 198.51.100.1→198.51.100.2", "encap IPIP 192.0.2.9→192.0.2.2"}
	if diff := cmp.Diff(want, Changes(hops)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}
