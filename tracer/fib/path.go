package fib

import (
	"fmt"
	"net/netip"
	"syscall"
)

var (
	lbcast4   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	zeronet4  = netip.MustParsePrefix("0.0.0.0/8")
)

// output4 follows ip_route_output_key_hash_rcu, or ip_route_input_slow for
// an input lookup.
func (s *Snapshot) output4(d *Decision) {
	q := d.Query
	if q.Input() {
		s.input4(d)
		return
	}
	fl := s.newFlow(q)
	if fl.hasSrc {
		if fl.src.IsMulticast() || fl.src == lbcast4 || zeronet4.Contains(fl.src) {
			d.Errno, d.Drop = syscall.EINVAL, fmt.Sprintf("source %s cannot send", fl.src)
			return
		}
		if !s.isLocalAddr(fl.src) && !s.localRouteCovers(fl.src) {
			d.Errno = syscall.ENETUNREACH
			d.Drop = fmt.Sprintf("source %s is not an address of this namespace: a local sender can only use its own addresses", fl.src)
			return
		}
		if q.Oif == 0 && (fl.dst.IsMulticast() || fl.dst == lbcast4) {
			// The device that has the source address sends it.
			if dev := s.addrDevice(fl.src); dev != 0 {
				d.Type, d.Dev, d.Prefsrc = Multicast, dev, fl.src
				if fl.dst == lbcast4 {
					d.Type = Broadcast
				}
				d.Notes = append(d.Notes, fmt.Sprintf("a %s from %s leaves through %s, the device with that address", d.Type, fl.src, s.LinkName(dev)))
				return
			}
		}
	}
	if q.Oif != 0 {
		l, ok := s.Link(q.Oif)
		if !ok {
			d.Errno, d.Drop = syscall.ENODEV, fmt.Sprintf("no device with index %d", q.Oif)
			return
		}
		if !l.Up {
			d.Errno, d.Drop = syscall.ENETUNREACH, l.Name+" is down"
			return
		}
		if isLocalMulticast4(fl.dst) || fl.dst == lbcast4 || fl.proto == 2 {
			d.Type, d.Dev = Multicast, q.Oif
			if fl.dst == lbcast4 {
				d.Type = Broadcast
			}
			d.Prefsrc = s.prefsrc4(q, nil, q.Oif, netip.Addr{}, 253)
			return
		}
	}
	if fl.dst.IsUnspecified() {
		d.Type, d.Dev = Local, s.loIndex()
		return
	}
	res := s.walk(fl, &d.Steps)
	d.Rule, d.Table, d.Route = res.rule, res.table, res.route
	if res.errno != 0 {
		if q.Oif != 0 && (fl.dst.IsMulticast() || !s.isVRF(q.Oif)) {
			// No route, but the sender named a device: the kernel assumes
			// the destination is on that link.
			d.Rule, d.Table, d.Route = nil, 0, nil
			d.Type, d.Dev = Unicast, q.Oif
			d.Notes = append(d.Notes, fmt.Sprintf("no route: with oif %s the kernel assumes %s is on that link", s.LinkName(q.Oif), fl.dst))
			s.mkrouteOutput(d, fl)
			d.Prefsrc = q.Src
			if !d.Prefsrc.IsValid() {
				d.Prefsrc = s.prefsrc4(q, nil, q.Oif, netip.Addr{}, 253)
			}
			s.loopbackSource(d)
			return
		}
		d.Type, d.Errno = res.typ, res.errno
		return
	}
	d.Type = res.typ
	if res.typ == Local {
		d.Nexthops = res.nhs
		d.Dev = s.loIndex()
		if len(res.nhs) > 0 {
			if m := s.vrfOf(res.nhs[0].Ifindex); m != 0 {
				d.Dev = m
			}
		}
		d.Prefsrc = q.Src
		if !d.Prefsrc.IsValid() {
			d.Prefsrc = res.route.Prefsrc
			if !d.Prefsrc.IsValid() {
				d.Prefsrc = fl.dst
			}
		}
		return
	}
	s.selectPath(d, res, fl)
	s.mkrouteOutput(d, fl)
	if d.Errno == 0 && !q.Src.IsValid() {
		d.Prefsrc = s.prefsrc4(q, res.route, d.Dev, d.Gateway, res.route.Scope)
	} else {
		d.Prefsrc = q.Src
	}
	s.loopbackSource(d)
}

// loopbackSource is __mkroute_output's check: a packet from 127.0.0.0/8
// may only leave through lo (or a device with route_localnet).
func (s *Snapshot) loopbackSource(d *Decision) {
	l, _ := s.Link(d.Dev)
	if d.Errno == 0 && loopback4.Contains(d.Prefsrc) && !l.Loopback && l.Kind != "vrf" && !l.RouteLocalnet {
		d.Errno, d.Drop = syscall.EINVAL, fmt.Sprintf("source %s is a loopback address and may only leave through lo, not %s", d.Prefsrc, l.Name)
	}
}

// addrDevice is the device that has address a, or 0.
func (s *Snapshot) addrDevice(a netip.Addr) int {
	for _, ad := range s.Addrs {
		if ad.Prefix.Addr() == a {
			return ad.Ifindex
		}
	}
	return 0
}

// mkrouteOutput applies __mkroute_output's type rewrites.
func (s *Snapshot) mkrouteOutput(d *Decision, fl flow) {
	switch {
	case fl.dst == lbcast4:
		d.Type = Broadcast
	case fl.dst.IsMulticast():
		d.Type = Multicast
	case zeronet4.Contains(fl.dst):
		d.Errno, d.Drop = syscall.EINVAL, fmt.Sprintf("%s is in 0.0.0.0/8", fl.dst)
	}
}

// selectPath is fib_select_path: the usable nexthops, all of them for a
// multipath route without oif, of which the kernel hashes to one.
func (s *Snapshot) selectPath(d *Decision, res result, fl flow) {
	nhs := res.nhs
	if len(nhs) == 0 {
		return
	}
	switch {
	case len(res.route.Nexthops) > 1 && (fl.oif == 0 || (fl.v6 && !fl.oifStrict)):
		// IPv4 hashes over the paths when no oif is given; IPv6 hashes
		// over the siblings whether or not it is.
		d.Nexthops = nhs
	default:
		d.Nexthops = nhs[:1]
	}
	d.Dev, d.Gateway = nhs[0].Ifindex, nhs[0].Gateway
}

func isLocalMulticast4(a netip.Addr) bool {
	return netip.MustParsePrefix("224.0.0.0/24").Contains(a)
}

func (s *Snapshot) isVRF(ifindex int) bool {
	l, ok := s.Link(ifindex)
	return ok && l.Kind == "vrf"
}

// vrfOf is the VRF device ifindex is enslaved to (or is), else 0.
func (s *Snapshot) vrfOf(ifindex int) int {
	l, ok := s.Link(ifindex)
	if !ok {
		return 0
	}
	if l.Kind == "vrf" {
		return l.Index
	}
	if s.isVRF(l.Master) {
		return l.Master
	}
	return 0
}

// localRouteCovers reports whether the local table has a local route for a
// (the kernel's fallback when the address is on no device).
func (s *Snapshot) localRouteCovers(a netip.Addr) bool {
	fl := flow{dst: a, v6: a.Is6(), src: netip.IPv4Unspecified()}
	res := s.tableLookup(TableLocal, fl)
	return res.errno == 0 && res.typ == Local
}

// input4 follows ip_route_input_slow for a packet from q.Src arriving on
// q.Iif.
func (s *Snapshot) input4(d *Decision) {
	q := d.Query
	iif, ok := s.Link(q.Iif)
	if !ok {
		d.Errno, d.Drop = syscall.ENODEV, fmt.Sprintf("no device with index %d", q.Iif)
		return
	}
	fl := s.newFlow(q)
	src, dst := fl.src, fl.dst
	martian := func(what string) {
		d.Errno, d.Drop = syscall.EINVAL, "martian "+what
	}
	switch {
	case src.IsMulticast() || src == lbcast4:
		martian(fmt.Sprintf("source %s", src))
		return
	case dst.IsMulticast():
		d.Type, d.Dev = Multicast, s.loIndex()
		if dst != netip.AddrFrom4([4]byte{224, 0, 0, 1}) {
			// Only all-hosts is joined on every device; for another group
			// the kernel answers EINVAL unless a socket joined it.
			d.AltErrno = syscall.EINVAL
			d.Notes = append(d.Notes, "multicast: delivered only if a socket on "+iif.Name+" joined "+dst.String()+", forwarded only by a multicast router; group membership is not in the snapshot")
		}
		return
	case dst == lbcast4:
		d.Type, d.Dev = Broadcast, s.loIndex()
		return
	case zeronet4.Contains(src):
		martian(fmt.Sprintf("source %s (0.0.0.0/8)", src))
		return
	case zeronet4.Contains(dst):
		martian(fmt.Sprintf("destination %s (0.0.0.0/8)", dst))
		return
	case loopback4.Contains(dst) && !iif.RouteLocalnet:
		martian(fmt.Sprintf("destination %s: loopback addresses arriving on %s (route_localnet is off)", dst, iif.Name))
		return
	case loopback4.Contains(src) && !iif.RouteLocalnet:
		martian(fmt.Sprintf("source %s: loopback addresses arriving on %s (route_localnet is off)", src, iif.Name))
		return
	}
	res := s.walk(fl, &d.Steps)
	d.Rule, d.Table, d.Route, d.Type = res.rule, res.table, res.route, res.typ
	if res.errno != 0 {
		d.Errno = res.errno
		if !iif.Forwarding4 {
			d.Errno = syscall.EHOSTUNREACH
		}
		return
	}
	switch res.typ {
	case Broadcast:
		if !src.IsUnspecified() {
			// Broadcasts are validated as if sent to 0.0.0.0.
			bfl := fl
			bfl.dst = netip.IPv4Unspecified()
			if errno, why := s.validateSource4(bfl, 0, iif); errno != 0 {
				d.Errno, d.Drop = errno, why
				return
			}
		}
		d.Dev = s.loIndex()
		return
	case Local:
		if errno, why := s.validateSource4(fl, 0, iif); errno != 0 {
			d.Errno, d.Drop = errno, why
			return
		}
		d.Nexthops = res.nhs
		d.Dev = s.loIndex()
		return
	}
	if !iif.Forwarding4 {
		d.Errno = syscall.EHOSTUNREACH
		d.Drop = fmt.Sprintf("forwarding is off on %s (net.ipv4.conf.%s.forwarding=0)", iif.Name, iif.Name)
		return
	}
	if res.typ != Unicast {
		d.Errno, d.Drop = syscall.EINVAL, fmt.Sprintf("martian destination: a %s route does not forward", res.typ)
		return
	}
	s.selectPath(d, res, fl)
	// The source check depends on the egress path, so with a multipath
	// route it may pass for some paths and fail for others.
	var pass []Nexthop
	var failErr syscall.Errno
	var failWhy string
	for _, nh := range d.Nexthops {
		if errno, why := s.validateSource4(fl, nh.Ifindex, iif); errno != 0 {
			failErr, failWhy = errno, why
		} else {
			pass = append(pass, nh)
		}
	}
	switch {
	case len(pass) == 0:
		d.Errno, d.Drop = failErr, failWhy
	case len(pass) < len(d.Nexthops):
		d.Nexthops = pass
		d.Dev, d.Gateway = pass[0].Ifindex, pass[0].Gateway
		d.AltErrno = failErr
		d.Notes = append(d.Notes, "a flow the multipath hash sends to another path is dropped: "+failWhy)
	}
}

// validateSource4 is fib_validate_source: is the packet's source one this
// device may receive from? fib_validate_source returns EXDEV when the
// reverse-path filter rejects the packet, but RTM_GETROUTE answers EINVAL
// for it as for any martian source, so this returns EINVAL too.
func (s *Snapshot) validateSource4(fl flow, oif int, iif Link) (syscall.Errno, string) {
	rpf := iif.RPFilter
	if rpf == 0 && (iif.Index != oif || !iif.SendRedirects) {
		if iif.AcceptLocal {
			return 0, ""
		}
		if !s.customLocalRoutes() && !s.customRules() {
			if s.isLocalAddr(fl.src) {
				return syscall.EINVAL, fmt.Sprintf("martian source: %s is this namespace's own address", fl.src)
			}
			return 0, ""
		}
	}
	rev := flow{
		dst: fl.src, src: fl.dst, hasSrc: true, iif: oif, tos: fl.tos, uid: 0,
	}
	if rev.iif == 0 {
		rev.iif = s.loIndex()
	}
	if iif.SourceValidMark {
		rev.mark = fl.mark
	}
	if s.rulesDissectPorts() {
		rev.proto, rev.sport, rev.dport = fl.proto, fl.dport, fl.sport
	}
	res := s.walk(rev, nil)
	rpfFail := func() (syscall.Errno, string) {
		mode := "strict"
		if rpf == 2 {
			mode = "loose"
		}
		return syscall.EINVAL, fmt.Sprintf("reverse-path filter (rp_filter=%d, %s) on %s: no route back to %s via %s", rpf, mode, iif.Name, fl.src, iif.Name)
	}
	if res.errno != 0 {
		if rpf != 0 {
			return rpfFail()
		}
		return 0, ""
	}
	if res.typ != Unicast && (res.typ != Local || !iif.AcceptLocal) {
		if res.typ == Local {
			return syscall.EINVAL, fmt.Sprintf("martian source: %s is this namespace's own address", fl.src)
		}
		return syscall.EINVAL, fmt.Sprintf("martian source: the route back to %s is %s", fl.src, res.typ)
	}
	for _, nh := range res.route.Nexthops {
		if nh.Ifindex == iif.Index {
			return 0, ""
		}
	}
	if res.typ == Local && iif.Loopback {
		return 0, ""
	}
	if !s.hasAddr4(iif.Index) {
		if rpf != 0 {
			return rpfFail()
		}
		return 0, ""
	}
	if rpf == 1 {
		return rpfFail()
	}
	return 0, ""
}

// prefsrc4 is the source a local sender gets: the route's preferred
// source, else inet_select_addr on the egress device (an address in the
// gateway's subnet first), else the first fitting address of any device.
func (s *Snapshot) prefsrc4(q Query, r *Route, dev int, gw netip.Addr, scope uint8) netip.Addr {
	if r != nil && r.Prefsrc.IsValid() {
		return r.Prefsrc
	}
	l, _ := s.Link(dev)
	localnet := uint8(254)
	if l.RouteLocalnet {
		localnet = 253
	}
	var first netip.Addr
	for _, a := range s.Addrs {
		if a.Ifindex != dev || !a.Prefix.Addr().Is4() || a.Secondary {
			continue
		}
		if min(a.Scope, localnet) > scope {
			continue
		}
		if !gw.IsValid() || a.Prefix.Masked().Contains(gw) {
			return a.Prefix.Addr()
		}
		if !first.IsValid() {
			first = a.Prefix.Addr()
		}
	}
	if first.IsValid() {
		return first
	}
	for _, lk := range s.Links {
		for _, a := range s.Addrs {
			if a.Ifindex == lk.Index && a.Prefix.Addr().Is4() && !a.Secondary && a.Scope != 253 && a.Scope <= scope {
				return a.Prefix.Addr()
			}
		}
	}
	return netip.Addr{}
}

// lookup6 follows ip6_route_output or ip6_route_input_lookup.
func (s *Snapshot) lookup6(d *Decision) {
	q := d.Query
	fl := s.newFlow(q)
	if q.Input() {
		if _, ok := s.Link(q.Iif); !ok {
			d.Errno, d.Drop = syscall.ENODEV, fmt.Sprintf("no device with index %d", q.Iif)
			return
		}
	} else if q.Oif != 0 && (!fl.hasSrc || needStrict6(fl.dst)) {
		fl.oifStrict = true
	}
	res := s.walk(fl, &d.Steps)
	d.Rule, d.Table, d.Route, d.Type = res.rule, res.table, res.route, res.typ
	if res.errno != 0 {
		d.Errno = res.errno
		return
	}
	switch res.typ {
	case Local, Anycast:
		d.Nexthops = res.nhs
		d.Dev = s.loIndex()
		if len(res.nhs) > 0 {
			if m := s.vrfOf(res.nhs[0].Ifindex); m != 0 {
				d.Dev = m
			}
		}
	default:
		s.selectPath(d, res, fl)
	}
	if q.Input() {
		if l, _ := s.Link(q.Iif); res.typ == Unicast && !l.Forwarding6 && !s.IPv6Forwarding {
			d.Notes = append(d.Notes, fmt.Sprintf("IPv6 forwarding is off: a packet arriving on %s for another host is dropped after the lookup", l.Name))
		}
	}
	if q.Src.IsValid() {
		d.Prefsrc = q.Src
	} else if res.route != nil && res.route.Prefsrc.IsValid() {
		d.Prefsrc = res.route.Prefsrc
	} else {
		d.Prefsrc = s.prefsrc6(d.Dev, fl.dst)
	}
	if !s.IPv6Forwarding && d.Gateway.IsValid() {
		d.Notes = append(d.Notes, "IPv6 forwarding is off, so the kernel prefers gateways whose neighbour is reachable; neighbour state is not modelled")
	}
}

// needStrict6 is rt6_need_strict: multicast and link-local destinations
// must leave through the given oif.
func needStrict6(a netip.Addr) bool {
	return a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLoopback()
}

// prefsrc6 approximates the kernel's IPv6 source selection (RFC 6724): an
// address of the egress device of the destination's scope sharing the
// longest prefix with it, else such an address of any device.
func (s *Snapshot) prefsrc6(dev int, dst netip.Addr) netip.Addr {
	best, bestLen, bestDev := netip.Addr{}, -1, false
	for _, a := range s.Addrs {
		addr := a.Prefix.Addr()
		if !addr.Is6() || addr.IsLinkLocalUnicast() != dst.IsLinkLocalUnicast() || (addr.IsLoopback() && !dst.IsLoopback()) {
			continue
		}
		onDev := a.Ifindex == dev
		n := commonPrefix(addr, dst)
		if (onDev && !bestDev) || (onDev == bestDev && n > bestLen) {
			best, bestLen, bestDev = addr, n, onDev
		}
	}
	return best
}

func commonPrefix(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	return n
}
