package topology

// Routing reads a namespace's complete routing state into a fib.Snapshot,
// and WatchRouting says when it changed.
//
// Policy rules are dumped here rather than with the netlink library: its
// RuleList (v1.3.1) drops the rule's action (fib_rule_hdr.action, so
// blackhole, unreachable, prohibit and goto rules all look like "lookup
// table 0"), does not parse FRA_L3MDEV, and reads the one-byte FRA_IP_PROTO
// as four bytes. Reading the attributes ourselves gives the action and
// l3mdev exactly as the kernel reports them.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/fib"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// routingAttempts bounds the retries of a snapshot whose dumps the kernel
// reported as interrupted (NLM_F_DUMP_INTR: the table changed mid-dump).
const routingAttempts = 5

// Routing returns a snapshot of the namespace's routing state: devices with
// the sysctls that change a lookup, addresses of both families, the routes
// of every table and the policy rules of both families. Dumps that the
// kernel reports as interrupted by a concurrent change are retried.
//
// The parts are read one after another, so a change between two dumps can
// show up in one and not yet in the other; WatchRouting tells when to read
// again.
func (r *Reader) Routing() (*fib.Snapshot, error) {
	var err error
	for range routingAttempts {
		var s *fib.Snapshot
		s, err = r.routing()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return s, err
		}
	}
	return nil, fmt.Errorf("routing snapshot: %w (%d attempts)", err, routingAttempts)
}

func (r *Reader) routing() (*fib.Snapshot, error) {
	links, err := r.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	names := make([]string, 0, len(links))
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	conf, err := r.readDevConf(names)
	if err != nil {
		return nil, err
	}
	s := &fib.Snapshot{IPv6Forwarding: conf.ipv6Forwarding}
	for _, l := range links {
		s.Links = append(s.Links, snapLink(l, conf.devs[l.Attrs().Name]))
	}
	sort.Slice(s.Links, func(i, j int) bool { return s.Links[i].Index < s.Links[j].Index })

	addrs, err := r.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, ad := range addrs {
		if a, ok := snapAddr(ad); ok {
			s.Addrs = append(s.Addrs, a)
		}
	}

	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := r.h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("list routes: %w", err)
		}
		for _, rt := range routes {
			if fr, ok := snapRoute(rt); ok {
				s.Routes = append(s.Routes, fr)
			}
		}
	}

	if s.Rules, err = r.dumpRules(); err != nil {
		return nil, err
	}
	return s, nil
}

func snapLink(l netlink.Link, c devConf) fib.Link {
	a := l.Attrs()
	fl := fib.Link{
		Index:    a.Index,
		Name:     a.Name,
		Kind:     kindOf(l),
		Up:       a.Flags&net.FlagUp != 0,
		Loopback: a.Flags&net.FlagLoopback != 0,
		Group:    a.Group,
		Master:   a.MasterIndex,

		Forwarding4:     c.forwarding4,
		Forwarding6:     c.forwarding6,
		RPFilter:        c.rpFilter,
		AcceptLocal:     c.acceptLocal,
		RouteLocalnet:   c.routeLocalnet,
		IgnoreLinkdown4: c.ignoreLinkdown4,
		IgnoreLinkdown6: c.ignoreLinkdown6,
		SendRedirects:   c.sendRedirects,
		SourceValidMark: c.srcValidMark,
	}
	// IFF_LOWER_UP is the kernel's netif_running && netif_carrier_ok at
	// the time of the dump. IFLA_OPERSTATE is not used: linkwatch updates
	// it later (up to a second), so just after a carrier loss it still
	// says up. lo, when up, reports LOWER_UP with operstate unknown.
	fl.Carrier = a.RawFlags&unix.IFF_LOWER_UP != 0 ||
		(fl.Loopback && fl.Up && a.OperState == netlink.OperUnknown)
	if v, ok := l.(*netlink.Vrf); ok {
		fl.VRFTable = v.Table
	}
	return fl
}

func snapAddr(ad netlink.Addr) (fib.Addr, bool) {
	if ad.IPNet == nil {
		return fib.Addr{}, false
	}
	ones, bits := ad.Mask.Size()
	ip, ok := netip.AddrFromSlice(ad.IP)
	if !ok || bits == 0 {
		return fib.Addr{}, false
	}
	v4 := bits == 32
	if v4 {
		ip = ip.Unmap()
	} else if ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
		return fib.Addr{}, false // not usable until (unless) DAD succeeds
	}
	return fib.Addr{
		Ifindex: ad.LinkIndex,
		Prefix:  netip.PrefixFrom(ip, ones), // not masked: the address itself
		Scope:   uint8(ad.Scope),
		// IPv6 has no secondary addresses: the same bit is
		// IFA_F_TEMPORARY there (a privacy address).
		Secondary: v4 && ad.Flags&unix.IFA_F_SECONDARY != 0,
	}, true
}

// snapRoute converts one route of the dump. Cloned (cached) routes and
// routes of other families (MPLS) are not part of the FIB and are dropped.
func snapRoute(rt netlink.Route) (fib.Route, bool) {
	if rt.Flags&unix.RTM_F_CLONED != 0 {
		return fib.Route{}, false
	}
	v4 := rt.Family == netlink.FAMILY_V4
	if !v4 && rt.Family != netlink.FAMILY_V6 {
		return fib.Route{}, false
	}
	fr := fib.Route{
		Table:    uint32(rt.Table),
		Type:     fib.Type(rt.Type),
		Tos:      uint8(rt.Tos),
		Metric:   uint32(rt.Priority),
		Scope:    uint8(rt.Scope),
		Protocol: uint8(rt.Protocol),
		Prefsrc:  snapIP(rt.Src, v4),
	}
	// The library fills a missing RTA_DST in as 0.0.0.0/0 or ::/0 itself
	// (for IPv4 with a 16-byte net.IPv4zero, hence the Unmap in snapIP).
	fr.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if !v4 {
		fr.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if rt.Dst != nil {
		if a := snapIP(rt.Dst.IP, v4); a.IsValid() {
			ones, _ := rt.Dst.Mask.Size()
			fr.Dst = netip.PrefixFrom(a, ones)
		}
	}
	if fr.Type.Reject() || fr.Type == fib.Throw {
		// IPv6 reports reject routes on lo; they have no nexthop.
		return fr, true
	}
	if len(rt.MultiPath) > 0 {
		for _, nh := range rt.MultiPath {
			fr.Nexthops = append(fr.Nexthops, snapNexthop(nh.LinkIndex, nh.Gw, nh.Via, nh.Flags, nh.Hops+1, v4))
		}
		return fr, true
	}
	fr.Nexthops = []fib.Nexthop{snapNexthop(rt.LinkIndex, rt.Gw, rt.Via, rt.Flags, 1, v4)}
	return fr, true
}

func snapNexthop(ifindex int, gw net.IP, via netlink.Destination, flags, weight int, v4 bool) fib.Nexthop {
	nh := fib.Nexthop{
		Ifindex:  ifindex,
		Gateway:  snapIP(gw, v4),
		Weight:   weight,
		Onlink:   flags&unix.RTNH_F_ONLINK != 0,
		Dead:     flags&unix.RTNH_F_DEAD != 0,
		Linkdown: flags&unix.RTNH_F_LINKDOWN != 0,
	}
	// RTA_VIA: an IPv4 route through an IPv6 gateway.
	if v, ok := via.(*netlink.Via); ok && !nh.Gateway.IsValid() {
		nh.Gateway = snapIP(v.Addr, v.AddrFamily == netlink.FAMILY_V4)
	}
	return nh
}

// snapIP converts a netlink address; an IPv4 one may come as 16 bytes.
func snapIP(ip net.IP, v4 bool) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	if v4 {
		a = a.Unmap()
	}
	return a
}

// Rule attributes the netlink library has no names for (linux/fib_rules.h).
const (
	fraTunID         = 12
	fraDSCP          = 25
	fraFlowlabel     = 26
	fraFlowlabelMask = 27
	fraSportMask     = 28
	fraDportMask     = 29
	fraDSCPMask      = 30
)

var fraNames = map[uint16]string{
	fraTunID: "tun_id", fraDSCP: "dscp", fraFlowlabel: "flowlabel", fraFlowlabelMask: "flowlabel mask",
	fraSportMask: "sport mask", fraDportMask: "dport mask", fraDSCPMask: "dscp mask",
}

// watchBuffer is the receive buffer of the routing subscriptions: a burst
// of route changes (a routing daemon loading a table) must not overflow it,
// since the library ends a subscription on any receive error.
const watchBuffer = 4 << 20

// Rule dump: struct fib_rule_hdr has the layout of struct rtmsg, with
// action where rtmsg has rtm_type.
const (
	fibRuleInvert = 0x2 // FIB_RULE_INVERT
	frActToTbl    = 1   // FR_ACT_TO_TBL
)

// dumpRules lists the rules of both families, IPv4 first, each in the
// kernel's order.
func (r *Reader) dumpRules() ([]fib.Rule, error) {
	ns := vnetns.None() // the caller's namespace: no setns, as in Open
	if r.path != "" {
		ns = r.handle
	}
	s, err := nl.GetNetlinkSocketAt(ns, vnetns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("list rules: netlink socket: %w", err)
	}
	defer s.Close()
	if err := s.SetSendTimeout(&nl.SocketTimeoutTv); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	sockets := map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	var out []fib.Rule
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP)
		req.AddData(&nl.RtMsg{RtMsg: unix.RtMsg{Family: family}})
		req.Sockets = sockets
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
		if err != nil {
			// Also ErrDumpInterrupted: Routing retries the snapshot.
			return nil, fmt.Errorf("list rules: %w", err)
		}
		for _, m := range msgs {
			ru, ok, err := parseFibRule(m)
			if err != nil {
				return nil, fmt.Errorf("list rules: %w", err)
			}
			if ok && ru.IPv6 == (family == unix.AF_INET6) {
				out = append(out, ru)
			}
		}
	}
	return out, nil
}

// parseFibRule reads one RTM_NEWRULE message: struct fib_rule_hdr, then
// FRA_* attributes. ok is false for a family other than IPv4 and IPv6.
func parseFibRule(b []byte) (ru fib.Rule, ok bool, err error) {
	if len(b) < unix.SizeofRtMsg {
		return fib.Rule{}, false, errors.New("short RTM_NEWRULE")
	}
	hdr := nl.DeserializeRtMsg(b)
	if hdr.Family != unix.AF_INET && hdr.Family != unix.AF_INET6 {
		return fib.Rule{}, false, nil
	}
	ru = fib.Rule{
		IPv6:   hdr.Family == unix.AF_INET6,
		Action: fib.Action(hdr.Type), // fib_rule_hdr.action
		Table:  uint32(hdr.Table),
		Tos:    hdr.Tos,
		Invert: hdr.Flags&fibRuleInvert != 0,

		// The kernel's defaults: it sends FRA_SUPPRESS_PREFIXLEN always
		// (0xffffffff, i.e. -1, when unset) and FRA_SUPPRESS_IFGROUP only
		// when set.
		SuppressPrefixlen: -1,
		SuppressIfgroup:   -1,
	}
	if ru.Action == 0 {
		ru.Action = frActToTbl
	}
	attrs, err := nl.ParseRouteAttr(b[unix.SizeofRtMsg:])
	if err != nil {
		return fib.Rule{}, false, fmt.Errorf("RTM_NEWRULE attributes: %w", err)
	}
	var hasMark, hasMask bool
	for _, a := range attrs {
		v := a.Value
		switch a.Attr.Type {
		case nl.FRA_SRC:
			ru.Src = rulePrefix(v, hdr.Src_len)
		case nl.FRA_DST:
			ru.Dst = rulePrefix(v, hdr.Dst_len)
		case nl.FRA_IIFNAME:
			ru.Iif = strings.TrimRight(string(v), "\x00")
		case nl.FRA_OIFNAME:
			ru.Oif = strings.TrimRight(string(v), "\x00")
		case nl.FRA_PRIORITY:
			ru.Priority = ruleU32(v)
		case nl.FRA_TABLE:
			ru.Table = ruleU32(v)
		case nl.FRA_GOTO:
			ru.Goto = ruleU32(v)
		case nl.FRA_FWMARK:
			ru.Mark, hasMark = ruleU32(v), true
		case nl.FRA_FWMASK:
			ru.Mask, hasMask = ruleU32(v), true
		case nl.FRA_SUPPRESS_PREFIXLEN:
			if x := ruleU32(v); x != 0xffffffff {
				ru.SuppressPrefixlen = int(x)
			}
		case nl.FRA_SUPPRESS_IFGROUP:
			if x := ruleU32(v); x != 0xffffffff {
				ru.SuppressIfgroup = int(x)
			}
		case nl.FRA_L3MDEV:
			ru.L3mdev = len(v) > 0 && v[0] != 0
		case nl.FRA_IP_PROTO:
			if len(v) > 0 {
				ru.IPProto = v[0]
			}
		case nl.FRA_SPORT_RANGE:
			ru.Sport = rulePorts(v)
		case nl.FRA_DPORT_RANGE:
			ru.Dport = rulePorts(v)
		case fraSportMask, fraDportMask:
			// The kernel reports the full mask with every port range.
			if len(v) >= 2 && binary.NativeEndian.Uint16(v) != 0xffff {
				ru.Unmodelled = append(ru.Unmodelled, fraNames[a.Attr.Type])
			}
		case fraTunID, fraDSCP, fraFlowlabel, fraFlowlabelMask, fraDSCPMask:
			// Selectors of newer kernels the model does not evaluate.
			ru.Unmodelled = append(ru.Unmodelled, fraNames[a.Attr.Type])
		case nl.FRA_UID_RANGE:
			if len(v) >= 8 {
				ru.UID = &fib.UIDRange{
					Start: binary.NativeEndian.Uint32(v[0:4]),
					End:   binary.NativeEndian.Uint32(v[4:8]),
				}
			}
		}
	}
	// The kernel matches (mark ^ rule.mark) & rule.mask == 0. A rule given
	// a mark without a mask gets mask 0xffffffff (and the kernel then
	// reports it); "fwmark 0/MASK" is reported as FRA_FWMASK alone.
	if hasMark && !hasMask && ru.Mark != 0 {
		ru.Mask = 0xffffffff
	}
	return ru, true, nil
}

func ruleU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

// rulePorts reads struct fib_rule_port_range (two host-order u16).
func rulePorts(b []byte) *fib.PortRange {
	if len(b) < 4 {
		return nil
	}
	return &fib.PortRange{Start: binary.NativeEndian.Uint16(b[0:2]), End: binary.NativeEndian.Uint16(b[2:4])}
}

func rulePrefix(b []byte, bits uint8) netip.Prefix {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, int(bits))
}

// devConf holds the per-device sysctls combined as the kernel combines
// conf/all and conf/DEV (include/linux/inetdevice.h):
//
//	IN_DEV_FORWARD                      the device's own value
//	IN_DEV_RPFILTER                     max(all, dev)
//	IN_DEV_ACCEPT_LOCAL                 all || dev (IN_DEV_ORCONF)
//	IN_DEV_ROUTE_LOCALNET               all || dev
//	IN_DEV_SRC_VMARK                    all || dev
//	IN_DEV_TX_REDIRECTS                 all || dev
//	IN_DEV_IGNORE_ROUTES_WITH_LINKDOWN  all || dev (IN_DEV_ORCONF; older kernels used dev)
//
// For IPv6, forwarding and ignore_routes_with_linkdown are the device's own
// values (idev->cnf, see ip6_ignore_linkdown in include/net/addrconf.h);
// writing conf/all/ of either copies the value to every device. A device
// without a conf directory (no inet or inet6 device) gets false and 0.
type devConf struct {
	forwarding4, forwarding6         bool
	rpFilter                         int
	acceptLocal, routeLocalnet       bool
	srcValidMark, sendRedirects      bool
	ignoreLinkdown4, ignoreLinkdown6 bool
}

type nsConf struct {
	ipv6Forwarding bool
	devs           map[string]devConf
}

// readDevConf reads /proc/sys/net of the Reader's namespace. /proc/sys/net
// shows the namespace of the thread that opens the files, so for another
// namespace the reading runs inside it.
func (r *Reader) readDevConf(names []string) (nsConf, error) {
	var c nsConf
	var err error
	read := func() error {
		c, err = readNSConf("/proc/sys/net", names)
		return nil
	}
	if r.path == "" {
		_ = read()
	} else if derr := netns.DoFd(int(r.handle), read); derr != nil {
		// The Reader's own handle, not its path: /proc/PID/ns/net may
		// name another namespace once that process is gone.
		return nsConf{}, fmt.Errorf("read sysctls: %w", derr)
	}
	if err != nil {
		return nsConf{}, fmt.Errorf("read sysctls: %w", err)
	}
	return c, nil
}

func readNSConf(root string, names []string) (nsConf, error) {
	var firstErr error
	get := func(family, dev, key string) int {
		b, err := os.ReadFile(filepath.Join(root, family, "conf", dev, key))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
				firstErr = err
			}
			return 0
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s/%s/conf/%s/%s: %w", root, family, dev, key, err)
		}
		return n
	}
	all4 := func(key string) int { return get("ipv4", "all", key) }
	allRP, allAL, allRL := all4("rp_filter"), all4("accept_local"), all4("route_localnet")
	allVM, allSR, allIL := all4("src_valid_mark"), all4("send_redirects"), all4("ignore_routes_with_linkdown")
	c := nsConf{
		ipv6Forwarding: get("ipv6", "all", "forwarding") != 0,
		devs:           make(map[string]devConf, len(names)),
	}
	for _, name := range names {
		// A name that would leave the conf directory is no device's.
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		dev4 := func(key string) int { return get("ipv4", name, key) }
		var d devConf
		if _, err := os.Stat(filepath.Join(root, "ipv4", "conf", name)); err == nil {
			d.forwarding4 = dev4("forwarding") != 0
			d.rpFilter = max(allRP, dev4("rp_filter"))
			d.acceptLocal = allAL != 0 || dev4("accept_local") != 0
			d.routeLocalnet = allRL != 0 || dev4("route_localnet") != 0
			d.srcValidMark = allVM != 0 || dev4("src_valid_mark") != 0
			d.sendRedirects = allSR != 0 || dev4("send_redirects") != 0
			d.ignoreLinkdown4 = allIL != 0 || dev4("ignore_routes_with_linkdown") != 0
		}
		d.forwarding6 = get("ipv6", name, "forwarding") != 0
		d.ignoreLinkdown6 = get("ipv6", name, "ignore_routes_with_linkdown") != 0
		c.devs[name] = d
	}
	return c, firstErr
}

// routingCoalesce is how long WatchRouting waits after the first event of a
// burst before it calls fn once for the whole burst.
const routingCoalesce = 100 * time.Millisecond

// Multicast groups not in the netlink library's subscriptions.
var routingGroups = []uint{
	unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE,
	unix.RTNLGRP_IPV4_NETCONF, unix.RTNLGRP_IPV6_NETCONF,
}

// WatchRouting calls fn whenever the devices, addresses, routes or policy
// rules of the namespace change, and when the kernel announces a change of
// forwarding, rp_filter or ignore_routes_with_linkdown (RTM_NEWNETCONF; the
// other sysctls of a Snapshot send no notification). A burst of changes
// gives one call, routingCoalesce after its first event. fn is called on
// one goroutine, never concurrently, until ctx ends; it should read the
// new state with Routing.
//
// If a subscription breaks, onErr (when not nil) is told once and the
// watch ends. WatchRouting returns after subscribing, or with the
// subscription error. Close waits for the watch, whose ctx must have ended.
func (r *Reader) WatchRouting(ctx context.Context, fn func(), onErr func(error)) error {
	var ns *vnetns.NsHandle
	nsh := vnetns.None()
	if r.path != "" {
		ns, nsh = &r.handle, r.handle
	}
	done := make(chan struct{})
	linkCh := make(chan netlink.LinkUpdate, 64)
	addrCh := make(chan netlink.AddrUpdate, 64)
	routeCh := make(chan netlink.RouteUpdate, 64)
	ruleCh := make(chan struct{}, 1)

	// The library reports non-fatal trouble (a message it could not
	// parse) through the same callback as the receive error that ends a
	// subscription; the last one is the cause when a channel closes.
	var errMu sync.Mutex
	lastErr := map[string]error{}
	cb := func(what string) func(error) {
		return func(err error) {
			errMu.Lock()
			lastErr[what] = err
			errMu.Unlock()
		}
	}
	cause := func(what string) error {
		errMu.Lock()
		defer errMu.Unlock()
		if err := lastErr[what]; err != nil {
			return fmt.Errorf("watch routing: %s: %w", what, err)
		}
		return fmt.Errorf("watch routing: %s subscription ended", what)
	}

	// stop closes the subscriptions and waits for their goroutines, which
	// close their channels once their sockets are closed.
	var subscribed []func()
	stop := func() {
		close(done)
		for _, drain := range subscribed {
			drain()
		}
	}
	fail := func(what string, err error) error {
		stop()
		return fmt.Errorf("watch routing: subscribe to %s: %w", what, err)
	}

	if err := netlink.LinkSubscribeWithOptions(linkCh, done, netlink.LinkSubscribeOptions{
		Namespace: ns, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: os.Geteuid() == 0, ErrorCallback: cb("devices"),
	}); err != nil {
		return fail("devices", err)
	}
	subscribed = append(subscribed, func() {
		for range linkCh {
		}
	})
	if err := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{
		Namespace: ns, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: os.Geteuid() == 0, ErrorCallback: cb("addresses"),
	}); err != nil {
		return fail("addresses", err)
	}
	subscribed = append(subscribed, func() {
		for range addrCh {
		}
	})
	if err := netlink.RouteSubscribeWithOptions(routeCh, done, netlink.RouteSubscribeOptions{
		Namespace: ns, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: os.Geteuid() == 0, ErrorCallback: cb("routes"),
	}); err != nil {
		return fail("routes", err)
	}
	subscribed = append(subscribed, func() {
		for range routeCh {
		}
	})
	// The library has no rule subscription: listen to the groups directly.
	s, err := nl.SubscribeAt(nsh, vnetns.None(), unix.NETLINK_ROUTE, routingGroups...)
	if err != nil {
		return fail("rules", err)
	}
	ruleDone := make(chan struct{})
	go func() {
		defer close(ruleDone)
		watchRuleSocket(s, done, ruleCh, cb("rules"))
	}()
	go func() {
		<-done
		s.Close()
	}()
	subscribed = append(subscribed, func() { <-ruleDone })

	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		defer stop()
		var fire <-chan time.Time
		var timer *time.Timer
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		changed := func() {
			if fire == nil {
				timer = time.NewTimer(routingCoalesce)
				fire = timer.C
			}
		}
		broken := func(what string) {
			if onErr != nil && ctx.Err() == nil {
				onErr(cause(what))
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-linkCh:
				if !ok {
					broken("devices")
					return
				}
				changed()
			case _, ok := <-addrCh:
				if !ok {
					broken("addresses")
					return
				}
				changed()
			case u, ok := <-routeCh:
				if !ok {
					broken("routes")
					return
				}
				if u.Flags&unix.RTM_F_CLONED == 0 {
					changed()
				}
			case _, ok := <-ruleCh:
				if !ok {
					broken("rules")
					return
				}
				changed()
			case <-fire:
				fire, timer = nil, nil
				if ctx.Err() == nil {
					fn()
				}
			}
		}
	}()
	return nil
}

// watchRuleSocket turns messages of the rule and netconf groups into a
// non-blocking signal on ch, which it closes when the socket fails. An
// overrun receive buffer (ENOBUFS) lost events, which is itself a change.
func watchRuleSocket(s *nl.NetlinkSocket, done <-chan struct{}, ch chan<- struct{}, onErr func(error)) {
	defer close(ch)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for {
		msgs, from, err := s.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				signal()
				continue
			}
			select {
			case <-done:
			default:
				onErr(err)
			}
			return
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.RTM_NEWRULE, unix.RTM_DELRULE, unix.RTM_NEWNETCONF, unix.RTM_DELNETCONF:
				signal()
			}
		}
	}
}
