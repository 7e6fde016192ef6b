package route

import (
	"fmt"
	"net/netip"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/tracer/fib"
)

// ToProto puts a namespace's routing snapshot on the wire.
func ToProto(s *fib.Snapshot, netns string, inode uint64, now int64) *pb.Routing {
	out := &pb.Routing{Netns: netns, NetnsInode: inode, Ipv6Forwarding: s.IPv6Forwarding, TimeUnixNano: now}
	for _, l := range s.Links {
		out.Links = append(out.Links, &pb.RoutingLink{
			Ifindex: int32(l.Index), Name: l.Name, Kind: l.Kind, Up: l.Up, Carrier: l.Carrier,
			Loopback: l.Loopback, Group: l.Group, Master: int32(l.Master), VrfTable: l.VRFTable,
			Forwarding4: l.Forwarding4, Forwarding6: l.Forwarding6, RpFilter: uint32(l.RPFilter),
			AcceptLocal: l.AcceptLocal, RouteLocalnet: l.RouteLocalnet,
			IgnoreLinkdown4: l.IgnoreLinkdown4, IgnoreLinkdown6: l.IgnoreLinkdown6,
			SendRedirects: l.SendRedirects, SrcValidMark: l.SourceValidMark,
		})
	}
	for _, a := range s.Addrs {
		out.Addrs = append(out.Addrs, &pb.RoutingAddr{Ifindex: int32(a.Ifindex), Prefix: a.Prefix.String(), Scope: uint32(a.Scope), Secondary: a.Secondary})
	}
	for _, r := range s.Routes {
		pr := &pb.Route{Table: r.Table, Type: uint32(r.Type), Dst: r.Dst.String(), Tos: uint32(r.Tos),
			Metric: r.Metric, Scope: uint32(r.Scope), Protocol: uint32(r.Protocol), Prefsrc: addrString(r.Prefsrc)}
		for _, nh := range r.Nexthops {
			pr.Nexthops = append(pr.Nexthops, &pb.Nexthop{Ifindex: int32(nh.Ifindex), Gateway: addrString(nh.Gateway),
				Weight: uint32(nh.Weight), Onlink: nh.Onlink, Dead: nh.Dead, Linkdown: nh.Linkdown})
		}
		out.Routes = append(out.Routes, pr)
	}
	for _, r := range s.Rules {
		pr := &pb.RoutingRule{Ipv6: r.IPv6, Priority: r.Priority, Action: uint32(r.Action), Table: r.Table, Goto: r.Goto,
			Src: prefixString(r.Src), Dst: prefixString(r.Dst), Iif: r.Iif, Oif: r.Oif, Mark: r.Mark, Mask: r.Mask,
			Tos: uint32(r.Tos), Ipproto: uint32(r.IPProto), L3Mdev: r.L3mdev, Invert: r.Invert,
			SuppressPrefixlen: int32(r.SuppressPrefixlen), SuppressIfgroup: int32(r.SuppressIfgroup), Unmodelled: r.Unmodelled}
		if r.Sport != nil {
			pr.Sport = &pb.PortRange{Start: uint32(r.Sport.Start), End: uint32(r.Sport.End)}
		}
		if r.Dport != nil {
			pr.Dport = &pb.PortRange{Start: uint32(r.Dport.Start), End: uint32(r.Dport.End)}
		}
		if r.UID != nil {
			pr.Uid = &pb.UIDRange{Start: r.UID.Start, End: r.UID.End}
		}
		out.Rules = append(out.Rules, pr)
	}
	return out
}

// FromProto is the inverse of ToProto.
func FromProto(p *pb.Routing) (*fib.Snapshot, error) {
	s := &fib.Snapshot{IPv6Forwarding: p.GetIpv6Forwarding()}
	ns := p.GetNetns()
	if ns == "" {
		ns = "the tracer's own namespace"
	}
	for _, l := range p.GetLinks() {
		s.Links = append(s.Links, fib.Link{
			Index: int(l.GetIfindex()), Name: l.GetName(), Kind: l.GetKind(), Up: l.GetUp(), Carrier: l.GetCarrier(),
			Loopback: l.GetLoopback(), Group: l.GetGroup(), Master: int(l.GetMaster()), VRFTable: l.GetVrfTable(),
			Forwarding4: l.GetForwarding4(), Forwarding6: l.GetForwarding6(), RPFilter: int(l.GetRpFilter()),
			AcceptLocal: l.GetAcceptLocal(), RouteLocalnet: l.GetRouteLocalnet(),
			IgnoreLinkdown4: l.GetIgnoreLinkdown4(), IgnoreLinkdown6: l.GetIgnoreLinkdown6(),
			SendRedirects: l.GetSendRedirects(), SourceValidMark: l.GetSrcValidMark(),
		})
	}
	for _, a := range p.GetAddrs() {
		pfx, err := netip.ParsePrefix(a.GetPrefix())
		if err != nil {
			return nil, fmt.Errorf("routing of %s: address %q: %w", ns, a.GetPrefix(), err)
		}
		s.Addrs = append(s.Addrs, fib.Addr{Ifindex: int(a.GetIfindex()), Prefix: pfx, Scope: uint8(a.GetScope()), Secondary: a.GetSecondary()})
	}
	for _, r := range p.GetRoutes() {
		dst, err := netip.ParsePrefix(r.GetDst())
		if err != nil {
			return nil, fmt.Errorf("routing of %s: route to %q: %w", ns, r.GetDst(), err)
		}
		fr := fib.Route{Table: r.GetTable(), Type: fib.Type(r.GetType()), Dst: dst, Tos: uint8(r.GetTos()), Metric: r.GetMetric(),
			Scope: uint8(r.GetScope()), Protocol: uint8(r.GetProtocol()), Prefsrc: parseAddr(r.GetPrefsrc())}
		for _, nh := range r.GetNexthops() {
			fr.Nexthops = append(fr.Nexthops, fib.Nexthop{Ifindex: int(nh.GetIfindex()), Gateway: parseAddr(nh.GetGateway()),
				Weight: int(nh.GetWeight()), Onlink: nh.GetOnlink(), Dead: nh.GetDead(), Linkdown: nh.GetLinkdown()})
		}
		s.Routes = append(s.Routes, fr)
	}
	for _, r := range p.GetRules() {
		fr := fib.Rule{IPv6: r.GetIpv6(), Priority: r.GetPriority(), Action: fib.Action(r.GetAction()), Table: r.GetTable(), Goto: r.GetGoto(),
			Src: parsePrefix(r.GetSrc()), Dst: parsePrefix(r.GetDst()), Iif: r.GetIif(), Oif: r.GetOif(), Mark: r.GetMark(), Mask: r.GetMask(),
			Tos: uint8(r.GetTos()), IPProto: uint8(r.GetIpproto()), L3mdev: r.GetL3Mdev(), Invert: r.GetInvert(),
			SuppressPrefixlen: int(r.GetSuppressPrefixlen()), SuppressIfgroup: int(r.GetSuppressIfgroup()), Unmodelled: r.GetUnmodelled()}
		if r.GetSport() != nil {
			fr.Sport = &fib.PortRange{Start: uint16(r.GetSport().Start), End: uint16(r.GetSport().End)}
		}
		if r.GetDport() != nil {
			fr.Dport = &fib.PortRange{Start: uint16(r.GetDport().Start), End: uint16(r.GetDport().End)}
		}
		if r.GetUid() != nil {
			fr.UID = &fib.UIDRange{Start: r.GetUid().Start, End: r.GetUid().End}
		}
		s.Rules = append(s.Rules, fr)
	}
	return s, nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

func parsePrefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}
