package main

import (
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// displayName is IFNAME for devices of ifacetrace's own namespace, else
// NETNS/IFNAME.
func displayName(r topology.Ref, own netns.ID) string {
	if r.NetNS == own {
		r.NetNS, r.NetNSName = netns.ID{}, ""
	}
	return r.String()
}

func deviceToPB(d tracer.Device, own netns.ID) *pb.Interface {
	ifc := &pb.Interface{
		Id:          d.ID,
		Name:        displayName(d.Ref(), own),
		Ifname:      d.Name,
		Ifindex:     d.Ifindex,
		Netns:       d.NetNSName,
		NetnsInode:  d.NetNS.Ino,
		Kind:        d.Kind,
		Hatype:      uint32(d.HAType),
		Mtu:         uint32(d.MTU),
		Up:          d.Up,
		Carrier:     d.Carrier,
		Description: d.Description(),
	}
	if len(d.MAC) > 0 {
		ifc.Mac = d.MAC.String()
	}
	if d.Master != nil {
		ifc.Master = displayName(*d.Master, own)
	}
	if d.Peer != nil {
		ifc.Peer = displayName(*d.Peer, own)
	}
	for _, a := range d.Addrs {
		ifc.Addresses = append(ifc.Addresses, a.String())
	}
	if t := d.Tunnel; t != nil {
		outer := &pb.Tuple{Dport: uint32(t.Port)}
		switch t.Encap {
		case record.EncapVXLAN, record.EncapGeneve:
			outer.Proto = "udp"
		case record.EncapGRE, record.EncapGRETap:
			outer.Proto = "gre"
		case record.EncapIPIP, record.Encap4in6:
			outer.Proto = "4"
		default:
			outer.Proto = "41"
		}
		if t.Local.IsValid() {
			outer.Src = t.Local.String()
		}
		if t.Remote.IsValid() {
			outer.Dst = t.Remote.String()
		}
		ifc.Tunnel = &pb.Tunnel{Encap: t.Encap.String(), Id: t.ID, HasId: t.HasID, Outer: outer}
	}
	return ifc
}

func statsToPB(st tracer.Stats, start, end time.Time) *pb.Stats {
	out := &pb.Stats{StartUnixNano: start.UnixNano(), EndUnixNano: end.UnixNano(), Sightings: st.Sightings}
	// A device's drops are known only when it had a socket of its own.
	type devKey struct {
		ns   netns.ID
		name string
	}
	own := map[devKey]uint64{}
	for _, s := range st.Sockets {
		name := s.Device
		if s.Label != "" {
			name = s.Label + "/" + s.Device
		}
		out.Sockets = append(out.Sockets, &pb.SocketStats{Device: name, Packets: s.Packets, Drops: s.Drops})
		if s.Device != "any" {
			own[devKey{s.NetNS, s.Device}] = s.Drops
		}
	}
	for _, d := range st.Devices {
		is := &pb.InterfaceStats{Id: d.ID, ReceivedIn: d.In, ReceivedOut: d.Out}
		if drops, ok := own[devKey{d.NetNS, d.Name}]; ok {
			is.HasDropped, is.Dropped = true, drops
		}
		out.Interfaces = append(out.Interfaces, is)
	}
	return out
}
