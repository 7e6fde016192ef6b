package topology_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/tracer/fib"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// routingLab builds namespace "r" with four veth pairs to namespace "p":
// va0 and vb0 carry addresses and routes, vd0 loses its carrier (its peer
// goes down) and ve0 is set down.
func routingLab(t *testing.T) *lab.Lab {
	t.Helper()
	l := lab.New(t)
	l.AddNS("r")
	l.AddNS("p")
	l.Veth("r", "va0", "p", "pa0")
	l.Veth("r", "vb0", "p", "pb0")
	l.Veth("r", "vd0", "p", "pd0")
	l.Veth("r", "ve0", "p", "pe0")
	l.Addr("r", "va0", "10.200.1.1/24")
	l.Addr("r", "va0", "10.200.1.5/24") // secondary
	l.Addr("r", "va0", "fd00:200::1/64")
	l.Addr("r", "vb0", "10.200.2.1/24")
	l.Addr("r", "vd0", "10.200.3.1/24")
	l.Addr("p", "pa0", "10.200.1.2/24")
	l.Addr("p", "pa0", "fd00:200::2/64")
	l.Addr("p", "pb0", "10.200.2.2/24")

	ip := func(args ...string) { l.IP(append([]string{"-n", l.NS("r")}, args...)...) }
	ip("route", "add", "10.200.10.0/24", "via", "10.200.1.2")
	ip("route", "add", "10.200.11.0/24", "via", "10.200.2.2", "table", "100")
	ip("route", "add", "default", "via", "10.200.1.2", "table", "200")
	ip("route", "add", "blackhole", "10.200.20.0/24")
	ip("route", "add", "unreachable", "10.200.21.0/24")
	ip("route", "add", "prohibit", "10.200.22.0/24")
	ip("route", "add", "throw", "10.200.23.0/24", "table", "100")
	ip("route", "add", "10.200.30.0/24", "tos", "0x10", "via", "10.200.1.2")
	ip("route", "add", "10.200.40.0/24", "via", "10.200.1.2", "metric", "50")
	ip("route", "add", "10.200.40.0/24", "via", "10.200.2.2", "metric", "200")
	ip("route", "add", "10.200.99.0/24", "nexthop", "via", "10.200.1.2", "dev", "va0",
		"nexthop", "via", "10.200.2.2", "dev", "vb0", "weight", "3")
	ip("route", "add", "10.200.50.0/24", "via", "10.200.77.1", "dev", "va0", "onlink")
	ip("route", "add", "10.200.60.0/24", "via", "10.200.3.2", "dev", "vd0")
	ip("route", "add", "10.200.70.0/24", "dev", "vb0", "src", "10.200.2.1")
	ip("-6", "route", "add", "fd00:200::100/120", "via", "fd00:200::2")
	ip("-6", "route", "add", "default", "via", "fd00:200::2", "table", "200")
	ip("-6", "route", "add", "blackhole", "fd00:200::200/120", "table", "100")
	ip("-6", "route", "add", "fd00:200::300/120", "nexthop", "via", "fd00:200::2", "dev", "va0",
		"nexthop", "via", "fd00:200::3", "dev", "va0", "weight", "2")

	ip("rule", "add", "fwmark", "7/0xff", "table", "100", "pref", "50")
	ip("rule", "add", "fwmark", "9", "table", "100", "pref", "51")
	ip("rule", "add", "fwmark", "0/0xff", "table", "100", "pref", "52")
	ip("rule", "add", "from", "10.200.5.0/24", "lookup", "100", "priority", "100")
	ip("rule", "add", "iif", "va0", "table", "100", "pref", "110")
	ip("rule", "add", "oif", "vb0", "table", "100", "pref", "111")
	ip("rule", "add", "ipproto", "udp", "dport", "53", "table", "100", "pref", "120")
	ip("rule", "add", "ipproto", "tcp", "sport", "1000-2000", "table", "100", "pref", "121")
	ip("rule", "add", "tos", "0x10", "table", "100", "pref", "130")
	ip("rule", "add", "not", "from", "10.200.6.0/24", "table", "100", "pref", "140")
	ip("rule", "add", "table", "main", "suppress_prefixlength", "0", "pref", "150")
	ip("rule", "add", "table", "main", "suppress_ifgroup", "5", "pref", "151")
	ip("rule", "add", "to", "10.200.7.0/24", "table", "100", "pref", "200")
	ip("rule", "add", "goto", "200", "pref", "160")
	ip("rule", "add", "uidrange", "1000-2000", "table", "100", "pref", "170")
	ip("rule", "add", "to", "10.200.8.0/24", "unreachable", "pref", "180")
	ip("rule", "add", "to", "10.200.8.0/24", "prohibit", "pref", "181")
	ip("rule", "add", "to", "10.200.8.0/24", "blackhole", "pref", "182")
	ip("rule", "add", "nop", "pref", "185")
	ip("rule", "add", "l3mdev", "pref", "1000")
	ip("-6", "rule", "add", "from", "fd00:200::/64", "table", "100", "pref", "100")
	ip("-6", "rule", "add", "fwmark", "3", "unreachable", "pref", "101")

	l.Sysctl("r", "net.ipv4.conf.va0.forwarding", "1")
	l.Sysctl("r", "net.ipv4.conf.va0.rp_filter", "2")
	l.Sysctl("r", "net.ipv4.conf.all.rp_filter", "1")
	l.Sysctl("r", "net.ipv4.conf.all.accept_local", "1")
	l.Sysctl("r", "net.ipv4.conf.vb0.route_localnet", "1")
	l.Sysctl("r", "net.ipv4.conf.all.send_redirects", "0")
	l.Sysctl("r", "net.ipv4.conf.vb0.send_redirects", "0")
	l.Sysctl("r", "net.ipv4.conf.vd0.ignore_routes_with_linkdown", "1")
	l.Sysctl("r", "net.ipv6.conf.all.forwarding", "1")
	l.Sysctl("r", "net.ipv6.conf.vd0.ignore_routes_with_linkdown", "1")

	l.IP("-n", l.NS("p"), "link", "set", "pd0", "down") // vd0: no carrier
	// The kernel marks vd0's routes linkdown when linkwatch gets to it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if strings.Contains(l.IP("-n", l.NS("r"), "route", "show", "10.200.60.0/24"), "linkdown") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("route via vd0 not marked linkdown within 5s of its peer going down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ip("link", "set", "ve0", "down")
	return l
}

func TestRoutingSnapshot(t *testing.T) {
	l := routingLab(t)
	r := openNS(t, l.Path("r"))
	s, err := r.Routing()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		for _, ln := range s.Links {
			t.Logf("link %+v", ln)
		}
		for _, a := range s.Addrs {
			t.Logf("addr %+v", a)
		}
		for _, rt := range s.Routes {
			t.Logf("route %+v", rt)
		}
		for _, ru := range s.Rules {
			t.Logf("rule %+v", ru)
		}
	}

	link := func(name string) fib.Link {
		t.Helper()
		ln, ok := s.LinkByName(name)
		if !ok {
			t.Fatalf("no link %s", name)
		}
		return ln
	}
	lo, va, vb, vd, ve := link("lo"), link("va0"), link("vb0"), link("vd0"), link("ve0")

	// Devices.
	if lo.Index != 1 || lo.Kind != "loopback" || !lo.Loopback || !lo.Up || !lo.Carrier {
		t.Errorf("lo = %+v", lo)
	}
	if va.Kind != "veth" || !va.Up || !va.Carrier || va.Loopback || va.Master != 0 {
		t.Errorf("va0 = %+v", va)
	}
	if !vd.Up || vd.Carrier {
		t.Errorf("vd0 (peer down) up %v carrier %v, want up without carrier", vd.Up, vd.Carrier)
	}
	if ve.Up || ve.Carrier {
		t.Errorf("ve0 (set down) up %v carrier %v, want down", ve.Up, ve.Carrier)
	}
	for i := 1; i < len(s.Links); i++ {
		if s.Links[i-1].Index >= s.Links[i].Index {
			t.Errorf("links not ordered by index: %d before %d", s.Links[i-1].Index, s.Links[i].Index)
		}
	}

	// Sysctls, combined as the kernel combines conf/all and conf/DEV.
	if !va.Forwarding4 || vb.Forwarding4 {
		t.Errorf("forwarding4 va0 %v vb0 %v, want true false", va.Forwarding4, vb.Forwarding4)
	}
	if va.RPFilter != 2 || vb.RPFilter != 1 {
		t.Errorf("rp_filter va0 %d vb0 %d, want 2 (dev) and 1 (all)", va.RPFilter, vb.RPFilter)
	}
	if !va.AcceptLocal || !vb.AcceptLocal {
		t.Error("accept_local set in all, not seen on every device")
	}
	if va.RouteLocalnet || !vb.RouteLocalnet {
		t.Errorf("route_localnet va0 %v vb0 %v, want false true", va.RouteLocalnet, vb.RouteLocalnet)
	}
	if !va.SendRedirects || vb.SendRedirects {
		t.Errorf("send_redirects va0 %v vb0 %v, want true false", va.SendRedirects, vb.SendRedirects)
	}
	if !vd.IgnoreLinkdown4 || va.IgnoreLinkdown4 || !vd.IgnoreLinkdown6 || va.IgnoreLinkdown6 {
		t.Errorf("ignore_routes_with_linkdown vd0 %v/%v va0 %v/%v, want only vd0", vd.IgnoreLinkdown4, vd.IgnoreLinkdown6, va.IgnoreLinkdown4, va.IgnoreLinkdown6)
	}
	if !s.IPv6Forwarding || !va.Forwarding6 {
		t.Errorf("IPv6 forwarding all %v va0 %v, want true (all copies to every device)", s.IPv6Forwarding, va.Forwarding6)
	}

	// Addresses.
	addr := func(p string) fib.Addr {
		t.Helper()
		want := netip.MustParsePrefix(p)
		for _, a := range s.Addrs {
			if a.Prefix == want {
				return a
			}
		}
		t.Fatalf("no address %s", p)
		return fib.Addr{}
	}
	if a := addr("10.200.1.1/24"); a.Ifindex != va.Index || a.Secondary || a.Scope != 0 {
		t.Errorf("10.200.1.1/24 = %+v", a)
	}
	if a := addr("10.200.1.5/24"); a.Ifindex != va.Index || !a.Secondary {
		t.Errorf("10.200.1.5/24 = %+v, want secondary on va0", a)
	}
	if a := addr("fd00:200::1/64"); a.Ifindex != va.Index || a.Secondary {
		t.Errorf("fd00:200::1/64 = %+v", a)
	}
	if a := addr("127.0.0.1/8"); a.Ifindex != 1 || a.Scope != 254 {
		t.Errorf("127.0.0.1/8 = %+v, want scope host on lo", a)
	}
	if a := addr("::1/128"); a.Ifindex != 1 {
		t.Errorf("::1/128 = %+v", a)
	}

	// Routes.
	routes := func(table uint32, dst string) []fib.Route {
		want := netip.MustParsePrefix(dst)
		var out []fib.Route
		for _, rt := range s.Routes {
			if rt.Table == table && rt.Dst == want {
				out = append(out, rt)
			}
		}
		return out
	}
	route := func(table uint32, dst string) fib.Route {
		t.Helper()
		rs := routes(table, dst)
		if len(rs) != 1 {
			t.Fatalf("table %d has %d routes to %s, want 1", table, len(rs), dst)
		}
		return rs[0]
	}
	gw := netip.MustParseAddr
	nh := func(ifindex int, g string, weight int) fib.Nexthop {
		n := fib.Nexthop{Ifindex: ifindex, Weight: weight}
		if g != "" {
			n.Gateway = gw(g)
		}
		return n
	}
	check := func(rt fib.Route, typ fib.Type, nhs ...fib.Nexthop) {
		t.Helper()
		if rt.Type != typ {
			t.Errorf("%s table %d: type %v, want %v", rt.Dst, rt.Table, rt.Type, typ)
		}
		if diff := cmp.Diff(nhs, rt.Nexthops, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s table %d nexthops (-want +got):\n%s", rt.Dst, rt.Table, diff)
		}
	}
	check(route(fib.TableMain, "10.200.10.0/24"), fib.Unicast, nh(va.Index, "10.200.1.2", 1))
	check(route(100, "10.200.11.0/24"), fib.Unicast, nh(vb.Index, "10.200.2.2", 1))
	check(route(200, "0.0.0.0/0"), fib.Unicast, nh(va.Index, "10.200.1.2", 1))
	check(route(fib.TableMain, "10.200.20.0/24"), fib.Blackhole)
	check(route(fib.TableMain, "10.200.21.0/24"), fib.Unreachable)
	check(route(fib.TableMain, "10.200.22.0/24"), fib.Prohibit)
	check(route(100, "10.200.23.0/24"), fib.Throw)
	if rt := route(fib.TableMain, "10.200.30.0/24"); rt.Tos != 0x10 {
		t.Errorf("tos route = %+v", rt)
	}
	metrics := map[uint32]int{}
	for _, rt := range routes(fib.TableMain, "10.200.40.0/24") {
		if len(rt.Nexthops) == 1 {
			metrics[rt.Metric] = rt.Nexthops[0].Ifindex
		}
	}
	if diff := cmp.Diff(map[uint32]int{50: va.Index, 200: vb.Index}, metrics); diff != "" {
		t.Errorf("10.200.40.0/24 metric → device (-want +got):\n%s", diff)
	}
	check(route(fib.TableMain, "10.200.99.0/24"), fib.Unicast, nh(va.Index, "10.200.1.2", 1), nh(vb.Index, "10.200.2.2", 3))
	onlink := nh(va.Index, "10.200.77.1", 1)
	onlink.Onlink = true
	check(route(fib.TableMain, "10.200.50.0/24"), fib.Unicast, onlink)
	down := nh(vd.Index, "10.200.3.2", 1)
	// With ignore_routes_with_linkdown on vd0 the kernel marks the
	// nexthop dead as well as linkdown (fib_sync_down_dev).
	down.Linkdown, down.Dead = true, true
	check(route(fib.TableMain, "10.200.60.0/24"), fib.Unicast, down)
	if rt := route(fib.TableMain, "10.200.70.0/24"); rt.Prefsrc != gw("10.200.2.1") || rt.Scope != 253 {
		t.Errorf("10.200.70.0/24 = %+v, want src 10.200.2.1 scope link", rt)
	}
	if rt := route(fib.TableMain, "10.200.1.0/24"); rt.Protocol != 2 || rt.Scope != 253 || rt.Prefsrc != gw("10.200.1.1") {
		t.Errorf("connected route = %+v, want proto kernel scope link src 10.200.1.1", rt)
	}
	// The local table.
	if rt := route(fib.TableLocal, "10.200.1.1/32"); rt.Type != fib.Local || rt.Scope != 254 || len(rt.Nexthops) != 1 || rt.Nexthops[0].Ifindex != va.Index {
		t.Errorf("local 10.200.1.1 = %+v", rt)
	}
	check(route(fib.TableLocal, "10.200.1.255/32"), fib.Broadcast, nh(va.Index, "", 1))
	check(route(fib.TableLocal, "127.0.0.0/8"), fib.Local, nh(1, "", 1))
	// IPv6.
	v6 := route(fib.TableMain, "fd00:200::100/120")
	check(v6, fib.Unicast, nh(va.Index, "fd00:200::2", 1))
	if v6.Metric != 1024 {
		t.Errorf("IPv6 route metric %d, want the default 1024", v6.Metric)
	}
	check(route(200, "::/0"), fib.Unicast, nh(va.Index, "fd00:200::2", 1))
	check(route(100, "fd00:200::200/120"), fib.Blackhole)
	check(route(fib.TableMain, "fd00:200::300/120"), fib.Unicast, nh(va.Index, "fd00:200::2", 1), nh(va.Index, "fd00:200::3", 2))
	check(route(fib.TableLocal, "fd00:200::1/128"), fib.Local, nh(va.Index, "", 1))
	check(route(fib.TableLocal, "fd00:200::/128"), fib.Anycast, nh(va.Index, "", 1))
	if rs := routes(fib.TableLocal, "ff00::/8"); len(rs) == 0 || rs[0].Type != fib.Multicast {
		t.Errorf("IPv6 multicast routes of table local: %+v", rs)
	}

	// Rules.
	base := func(pref uint32, table uint32) fib.Rule {
		return fib.Rule{Priority: pref, Action: fib.ToTable, Table: table, SuppressPrefixlen: -1, SuppressIfgroup: -1}
	}
	with := func(ru fib.Rule, f func(*fib.Rule)) fib.Rule { f(&ru); return ru }
	pfx := netip.MustParsePrefix
	want := []fib.Rule{
		base(0, fib.TableLocal),
		with(base(50, 100), func(r *fib.Rule) { r.Mark, r.Mask = 7, 0xff }),
		with(base(51, 100), func(r *fib.Rule) { r.Mark, r.Mask = 9, 0xffffffff }),
		with(base(52, 100), func(r *fib.Rule) { r.Mark, r.Mask = 0, 0xff }),
		with(base(100, 100), func(r *fib.Rule) { r.Src = pfx("10.200.5.0/24") }),
		with(base(110, 100), func(r *fib.Rule) { r.Iif = "va0" }),
		with(base(111, 100), func(r *fib.Rule) { r.Oif = "vb0" }),
		with(base(120, 100), func(r *fib.Rule) { r.IPProto, r.Dport = 17, &fib.PortRange{Start: 53, End: 53} }),
		with(base(121, 100), func(r *fib.Rule) { r.IPProto, r.Sport = 6, &fib.PortRange{Start: 1000, End: 2000} }),
		with(base(130, 100), func(r *fib.Rule) { r.Tos = 0x10 }),
		with(base(140, 100), func(r *fib.Rule) { r.Src, r.Invert = pfx("10.200.6.0/24"), true }),
		with(base(150, fib.TableMain), func(r *fib.Rule) { r.SuppressPrefixlen = 0 }),
		with(base(151, fib.TableMain), func(r *fib.Rule) { r.SuppressIfgroup = 5 }),
		with(base(160, 0), func(r *fib.Rule) { r.Action, r.Goto = fib.Goto, 200 }),
		with(base(170, 100), func(r *fib.Rule) { r.UID = &fib.UIDRange{Start: 1000, End: 2000} }),
		with(base(180, 0), func(r *fib.Rule) { r.Action, r.Dst = fib.RuleUnreachable, pfx("10.200.8.0/24") }),
		with(base(181, 0), func(r *fib.Rule) { r.Action, r.Dst = fib.RuleProhibit, pfx("10.200.8.0/24") }),
		with(base(182, 0), func(r *fib.Rule) { r.Action, r.Dst = fib.RuleBlackhole, pfx("10.200.8.0/24") }),
		with(base(185, 0), func(r *fib.Rule) { r.Action = fib.Nop }),
		with(base(200, 100), func(r *fib.Rule) { r.Dst = pfx("10.200.7.0/24") }),
		with(base(1000, 0), func(r *fib.Rule) { r.L3mdev = true }),
		base(32766, fib.TableMain),
		base(32767, fib.TableDefault),
		with(base(0, fib.TableLocal), func(r *fib.Rule) { r.IPv6 = true }),
		with(base(100, 100), func(r *fib.Rule) { r.IPv6, r.Src = true, pfx("fd00:200::/64") }),
		with(base(101, 0), func(r *fib.Rule) { r.IPv6, r.Action, r.Mark, r.Mask = true, fib.RuleUnreachable, 3, 0xffffffff }),
		with(base(32766, fib.TableMain), func(r *fib.Rule) { r.IPv6 = true }),
	}
	prefixEq := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff(want, s.Rules, prefixEq); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

// TestRoutingOwnNamespace reads the same namespace through Open("") from a
// thread inside it, the path that reads /proc/sys without netns.Do.
func TestRoutingOwnNamespace(t *testing.T) {
	l := routingLab(t)
	r := openNS(t, l.Path("r"))
	want, err := r.Routing()
	if err != nil {
		t.Fatal(err)
	}
	var got *fib.Snapshot
	err = netns.Do(l.Path("r"), func() error {
		own, err := topology.Open("")
		if err != nil {
			return err
		}
		defer own.Close()
		got, err = own.Routing()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eq := []cmp.Option{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
	if diff := cmp.Diff(want, got, eq...); diff != "" {
		t.Errorf("Open(path) and Open(\"\") inside the namespace differ (-path +own):\n%s", diff)
	}
}

func TestWatchRouting(t *testing.T) {
	l := lab.NewPair(t)
	r, err := topology.Open(l.Path("a"))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			r.Close()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan struct{}, 64)
	var inFlight, overlap atomic.Int32
	fn := func() {
		if inFlight.Add(1) > 1 {
			overlap.Add(1)
		}
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		calls <- struct{}{}
	}
	var watchErr atomic.Value
	if err := r.WatchRouting(ctx, fn, func(err error) { watchErr.Store(err) }); err != nil {
		t.Fatal(err)
	}
	// quiet drains pending calls and waits until none has come for a while.
	quiet := func() {
		for {
			select {
			case <-calls:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	expect := func(what string, change func()) {
		t.Helper()
		quiet()
		change()
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("WatchRouting did not fire within 5s after %s", what)
		}
	}
	ip := func(args ...string) func() {
		return func() { l.IP(append([]string{"-n", l.NS("a")}, args...)...) }
	}
	expect("ip route add", ip("route", "add", "10.200.9.0/24", "via", lab.PairB))
	expect("ip rule add", ip("rule", "add", "from", "10.200.5.0/24", "table", "100", "pref", "100"))
	expect("ip -6 rule add", ip("-6", "rule", "add", "from", "fd00:200::/64", "table", "100", "pref", "100"))
	expect("ip addr add", ip("addr", "add", "10.200.7.9/24", "dev", "va"))
	expect("a forwarding change", func() { l.Sysctl("a", "net.ipv4.conf.va.forwarding", "1") })

	// A burst (one `ip -batch`) is coalesced into one call.
	quiet()
	var batch strings.Builder
	for i := range 10 {
		batch.WriteString("route add 10.200.10." + strconv.Itoa(i*16) + "/28 via " + lab.PairB + "\n")
	}
	batchFile := filepath.Join(t.TempDir(), "routes")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	l.IP("-n", l.NS("a"), "-batch", batchFile)
	time.Sleep(500 * time.Millisecond)
	if n := len(calls); n == 0 || n > 2 {
		t.Errorf("a burst of 10 route changes gave %d calls, want 1 (or 2)", n)
	}

	// After ctx ends, fn is not called and Close returns.
	quiet()
	cancel()
	time.Sleep(50 * time.Millisecond)
	ip("route", "add", "10.200.11.0/24", "via", lab.PairB)()
	select {
	case <-calls:
		t.Error("fn called after ctx ended")
	case <-time.After(400 * time.Millisecond):
	}
	closeDone := make(chan error, 1)
	go func() { closeDone <- r.Close() }()
	select {
	case err := <-closeDone:
		closed = true
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s after ctx ended")
	}
	if n := overlap.Load(); n != 0 {
		t.Errorf("fn ran concurrently %d times", n)
	}
	if err, _ := watchErr.Load().(error); err != nil {
		t.Errorf("onErr: %v", err)
	}
}
