package topology_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// ipRoute is one route of `ip -j route get`.
type ipRoute struct {
	Type     string  `json:"type"`
	Dst      string  `json:"dst"`
	From     string  `json:"from"`
	Gateway  string  `json:"gateway"`
	Dev      string  `json:"dev"`
	Prefsrc  string  `json:"prefsrc"`
	Table    string  `json:"table"`
	Metric   *uint32 `json:"metric"`
	Iif      string  `json:"iif"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Weight  int    `json:"weight"`
	} `json:"nexthops"`
}

// ipRouteGet runs `ip -n NS [-6] -j route get ARGS` and returns its route,
// or the message of its failure.
func ipRouteGet(t *testing.T, ns string, v6 bool, args []string) (ipRoute, string) {
	t.Helper()
	cmd := []string{"-n", ns, "-4", "-j", "route", "get"}
	if v6 {
		cmd[2] = "-6"
	}
	var stdout, stderr bytes.Buffer
	c := exec.Command("ip", append(cmd, args...)...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			t.Fatalf("ip %s: %v", strings.Join(c.Args[1:], " "), err)
		}
		return ipRoute{}, msg
	}
	var rs []ipRoute
	if err := json.Unmarshal(stdout.Bytes(), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("ip %s: %v: %s", strings.Join(c.Args[1:], " "), err, stdout.String())
	}
	return rs[0], ""
}

var ipTypes = map[string]uint8{
	"": unix.RTN_UNICAST, "unicast": unix.RTN_UNICAST, "local": unix.RTN_LOCAL,
	"broadcast": unix.RTN_BROADCAST, "anycast": unix.RTN_ANYCAST, "multicast": unix.RTN_MULTICAST,
}

var ipTables = map[string]uint32{"": unix.RT_TABLE_MAIN, "main": unix.RT_TABLE_MAIN, "local": unix.RT_TABLE_LOCAL, "default": unix.RT_TABLE_DEFAULT}

// compareIP reports where the kernel's answer through RouteGet differs from
// what ip(8) printed. ifindex maps device names to indexes.
func compareIP(t *testing.T, got topology.KernelRoute, ip ipRoute, ipErr string, v6 bool, ifindex map[string]int) {
	t.Helper()
	if ipErr != "" {
		if got.Err == nil {
			t.Errorf("RouteGet = %+v, ip failed: %s", got, ipErr)
			return
		}
		// "RTNETLINK answers: strerror", unless the kernel sent an extack
		// message ("Error: ..."), which ip prints instead.
		if msg, ok := strings.CutPrefix(ipErr, "RTNETLINK answers: "); ok && !strings.EqualFold(msg, got.Err.Error()) {
			t.Errorf("RouteGet error %q, ip %q", got.Err, ipErr)
		}
		return
	}
	if got.Err != nil {
		t.Errorf("RouteGet error %v, ip answered %+v", got.Err, ip)
		return
	}
	dev := func(name string) int {
		if name == "" {
			return 0
		}
		i, ok := ifindex[name]
		if !ok {
			t.Fatalf("ip names unknown device %q", name)
		}
		return i
	}
	addr := func(s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Addr()
		}
		return netip.MustParseAddr(s)
	}
	if typ, ok := ipTypes[ip.Type]; !ok || typ != got.Type {
		t.Errorf("type %d, ip %q", got.Type, ip.Type)
	}
	table, ok := ipTables[ip.Table]
	if !ok {
		n, err := strconv.ParseUint(ip.Table, 10, 32)
		if err != nil {
			t.Fatalf("ip table %q", ip.Table)
		}
		table = uint32(n)
	}
	// ip omits table 0 too: the kernel's answer for a destination it
	// assumed on-link because Oif was given matched no FIB entry.
	if got.Table != table && (ip.Table != "" || got.Table != unix.RT_TABLE_UNSPEC) {
		t.Errorf("table %d, ip %q", got.Table, ip.Table)
	}
	var dst netip.Prefix
	switch {
	case ip.Dst == "default" && v6:
		dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	case ip.Dst == "default":
		dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	case strings.Contains(ip.Dst, "/"):
		dst = netip.MustParsePrefix(ip.Dst)
	default:
		a := netip.MustParseAddr(ip.Dst)
		dst = netip.PrefixFrom(a, a.BitLen())
	}
	if got.Dst != dst {
		t.Errorf("dst %v, ip %q", got.Dst, ip.Dst)
	}
	if got.Oif != dev(ip.Dev) || got.Iif != dev(ip.Iif) {
		t.Errorf("oif %d iif %d, ip dev %q iif %q", got.Oif, got.Iif, ip.Dev, ip.Iif)
	}
	if got.Gateway != addr(ip.Gateway) || got.Prefsrc != addr(ip.Prefsrc) || got.Src != addr(ip.From) {
		t.Errorf("gateway %v prefsrc %v src %v, ip gateway %q prefsrc %q from %q", got.Gateway, got.Prefsrc, got.Src, ip.Gateway, ip.Prefsrc, ip.From)
	}
	metric := uint32(0) // ip omits a metric of 0 in IPv4
	if ip.Metric != nil {
		metric = *ip.Metric
	}
	if got.Priority != metric {
		t.Errorf("priority %d, ip metric %d", got.Priority, metric)
	}
	if len(got.Multipath) != len(ip.Nexthops) {
		t.Errorf("multipath %+v, ip nexthops %+v", got.Multipath, ip.Nexthops)
		return
	}
	for i, nh := range ip.Nexthops {
		g := got.Multipath[i]
		if g.Oif != dev(nh.Dev) || g.Gateway != addr(nh.Gateway) || g.Weight != nh.Weight {
			t.Errorf("nexthop %d %+v, ip %+v", i, g, nh)
		}
	}
}

// routeCase is one query, the same query for ip(8), and what the kernel is
// known to answer (zero fields are not checked; ip's answer always is).
type routeCase struct {
	name    string
	q       topology.RouteQuery
	ip      []string // arguments of `ip route get`
	err     error
	typ     uint8
	table   uint32
	dst     string // prefix
	dev     string
	gateway string
	iif     string
	weights map[string]int // gateway → weight of a multipath route
}

func TestRouteGet(t *testing.T) {
	l := lab.New(t)
	l.AddNS("x")
	l.AddNS("p")
	l.Veth("x", "v0", "p", "p0")
	l.Veth("x", "v1", "p", "p1")
	l.Addr("x", "v0", "10.200.1.1/24")
	l.Addr("x", "v1", "10.200.2.1/24")
	l.Addr("x", "v0", "fd00:200::1/112")
	l.Addr("x", "v1", "fd00:200::2:1/112")
	l.Sysctl("x", "net.ipv4.ip_forward", "1")
	l.Sysctl("x", "net.ipv6.conf.all.forwarding", "1")
	ns := l.NS("x")
	for _, c := range [][]string{
		{"route", "add", "10.200.10.0/24", "via", "10.200.1.2"},
		{"route", "add", "blackhole", "10.200.20.0/24"},
		{"route", "add", "unreachable", "10.200.21.0/24"},
		{"route", "add", "prohibit", "10.200.22.0/24"},
		{"route", "add", "throw", "10.200.23.0/24"},
		{"route", "add", "10.200.30.0/24", "nexthop", "via", "10.200.1.2", "weight", "1", "nexthop", "via", "10.200.2.2", "weight", "3"},
		{"route", "add", "10.200.50.0/24", "via", "10.200.1.4"},
		{"route", "add", "10.200.50.0/24", "via", "10.200.2.2", "table", "100"},
		{"route", "add", "10.200.50.0/24", "via", "10.200.1.3", "table", "101"},
		{"route", "add", "10.200.50.0/24", "via", "10.200.2.3", "table", "102"},
		{"route", "add", "default", "via", "10.200.1.9", "table", "103"},
		{"rule", "add", "fwmark", "7", "table", "100"},
		{"rule", "add", "ipproto", "udp", "dport", "53", "table", "101"},
		{"rule", "add", "tos", "0x10", "table", "102"},
		{"rule", "add", "fwmark", "9", "table", "103"},
		{"rule", "add", "uidrange", "1000-1000", "table", "100"},

		{"-6", "route", "add", "fd00:200::10:0/112", "via", "fd00:200::2"},
		{"-6", "route", "add", "blackhole", "fd00:200::20:0/112"},
		{"-6", "route", "add", "unreachable", "fd00:200::21:0/112"},
		{"-6", "route", "add", "prohibit", "fd00:200::22:0/112"},
		{"-6", "route", "add", "fd00:200::30:0/112", "nexthop", "via", "fd00:200::2", "dev", "v0", "weight", "1", "nexthop", "via", "fd00:200::2:2", "dev", "v1", "weight", "3"},
		{"-6", "route", "add", "fd00:200::50:0/112", "via", "fd00:200::5"},
		{"-6", "route", "add", "fd00:200::50:0/112", "via", "fd00:200::2:2", "table", "100"},
		{"-6", "route", "add", "fd00:200::50:0/112", "via", "fd00:200::3", "table", "101"},
		{"-6", "route", "add", "fd00:200::50:0/112", "via", "fd00:200::2:3", "table", "102"},
		{"-6", "rule", "add", "fwmark", "7", "table", "100"},
		{"-6", "rule", "add", "ipproto", "udp", "dport", "53", "table", "101"},
		{"-6", "rule", "add", "tos", "0x10", "table", "102"},
	} {
		l.IP(append([]string{"-n", ns}, c...)...)
	}

	r := openNS(t, l.Path("x"))
	devs, err := r.Devices()
	if err != nil {
		t.Fatal(err)
	}
	ifindex := map[string]int{}
	for _, d := range devs {
		ifindex[d.Name] = int(d.Ifindex)
	}
	a := netip.MustParseAddr
	uid := uint32(1000)
	const main, local = unix.RT_TABLE_MAIN, unix.RT_TABLE_LOCAL
	cases := []routeCase{
		{name: "v4/gateway", q: topology.RouteQuery{Dst: a("10.200.10.5")}, ip: []string{"10.200.10.5"},
			typ: unix.RTN_UNICAST, table: main, dst: "10.200.10.5/32", dev: "v0", gateway: "10.200.1.2"},
		{name: "v4/connected", q: topology.RouteQuery{Dst: a("10.200.1.7")}, ip: []string{"10.200.1.7"},
			typ: unix.RTN_UNICAST, table: main, dev: "v0"},
		{name: "v4/local", q: topology.RouteQuery{Dst: a("10.200.1.1")}, ip: []string{"10.200.1.1"},
			typ: unix.RTN_LOCAL, table: local, dev: "lo"},
		{name: "v4/broadcast", q: topology.RouteQuery{Dst: a("10.200.1.255")}, ip: []string{"10.200.1.255"},
			typ: unix.RTN_BROADCAST, table: local, dev: "v0"},
		{name: "v4/blackhole", q: topology.RouteQuery{Dst: a("10.200.20.1")}, ip: []string{"10.200.20.1"}, err: unix.EINVAL},
		{name: "v4/unreachable", q: topology.RouteQuery{Dst: a("10.200.21.1")}, ip: []string{"10.200.21.1"}, err: unix.EHOSTUNREACH},
		{name: "v4/prohibit", q: topology.RouteQuery{Dst: a("10.200.22.1")}, ip: []string{"10.200.22.1"}, err: unix.EACCES},
		{name: "v4/throw", q: topology.RouteQuery{Dst: a("10.200.23.1")}, ip: []string{"10.200.23.1"}, err: unix.ENETUNREACH},
		{name: "v4/no-route", q: topology.RouteQuery{Dst: a("10.200.99.1")}, ip: []string{"10.200.99.1"}, err: unix.ENETUNREACH},
		{name: "v4/oif-on-link", q: topology.RouteQuery{Dst: a("10.200.10.5"), Oif: ifindex["v1"]}, ip: []string{"10.200.10.5", "oif", "v1"},
			typ: unix.RTN_UNICAST, dev: "v1"}, // no route via v1: the kernel assumes the destination on-link

		{name: "v4/main-for-mark-50", q: topology.RouteQuery{Dst: a("10.200.50.1")}, ip: []string{"10.200.50.1"},
			table: main, gateway: "10.200.1.4"},
		{name: "v4/fwmark", q: topology.RouteQuery{Dst: a("10.200.50.1"), Mark: 7}, ip: []string{"10.200.50.1", "mark", "7"},
			table: 100, dev: "v1", gateway: "10.200.2.2"},
		{name: "v4/other-mark", q: topology.RouteQuery{Dst: a("10.200.50.1"), Mark: 8}, ip: []string{"10.200.50.1", "mark", "8"},
			table: main},
		{name: "v4/uid", q: topology.RouteQuery{Dst: a("10.200.50.1"), UID: &uid}, ip: []string{"10.200.50.1", "uid", "1000"},
			table: 100},
		{name: "v4/udp-dport", q: topology.RouteQuery{Dst: a("10.200.50.1"), Proto: unix.IPPROTO_UDP, Sport: 5353, Dport: 53},
			ip: []string{"10.200.50.1", "ipproto", "udp", "sport", "5353", "dport", "53"}, table: 101, gateway: "10.200.1.3"},
		{name: "v4/tcp-dport", q: topology.RouteQuery{Dst: a("10.200.50.1"), Proto: unix.IPPROTO_TCP, Dport: 53},
			ip: []string{"10.200.50.1", "ipproto", "tcp", "dport", "53"}, table: main},
		{name: "v4/udp-other-dport", q: topology.RouteQuery{Dst: a("10.200.50.1"), Proto: unix.IPPROTO_UDP, Dport: 54},
			ip: []string{"10.200.50.1", "ipproto", "udp", "dport", "54"}, table: main},
		{name: "v4/unsupported-proto", q: topology.RouteQuery{Dst: a("10.200.50.1"), Proto: unix.IPPROTO_GRE},
			ip: []string{"10.200.50.1", "ipproto", "gre"}, err: unix.EOPNOTSUPP},
		{name: "v4/tos", q: topology.RouteQuery{Dst: a("10.200.50.1"), Tos: 0x10}, ip: []string{"10.200.50.1", "tos", "0x10"},
			table: 102, gateway: "10.200.2.3"},
		{name: "v4/tos-ecn", q: topology.RouteQuery{Dst: a("10.200.50.1"), Tos: 0x11}, ip: []string{"10.200.50.1", "tos", "0x11"},
			table: 102},
		{name: "v4/tos-other", q: topology.RouteQuery{Dst: a("10.200.50.1"), Tos: 0x14}, ip: []string{"10.200.50.1", "tos", "0x14"},
			table: main},
		// The legacy "tos" rule compares only the bits of 0x1c (on 6.x).
		{name: "v4/tos-precedence", q: topology.RouteQuery{Dst: a("10.200.50.1"), Tos: 0x90}, ip: []string{"10.200.50.1", "tos", "0x90"}},
		{name: "v4/tos-0x12", q: topology.RouteQuery{Dst: a("10.200.50.1"), Tos: 0x12}, ip: []string{"10.200.50.1", "tos", "0x12"}},
		{name: "v4/input-forward", q: topology.RouteQuery{Dst: a("10.200.10.5"), Src: a("10.200.2.2"), Iif: ifindex["v1"]},
			ip: []string{"10.200.10.5", "from", "10.200.2.2", "iif", "v1"}, typ: unix.RTN_UNICAST, dev: "v0", gateway: "10.200.1.2", iif: "v1"},
		{name: "v4/input-local", q: topology.RouteQuery{Dst: a("10.200.1.1"), Src: a("10.200.2.2"), Iif: ifindex["v1"]},
			ip: []string{"10.200.1.1", "from", "10.200.2.2", "iif", "v1"}, typ: unix.RTN_LOCAL, dev: "lo", iif: "v1"},
		{name: "v4/input-broadcast", q: topology.RouteQuery{Dst: a("10.200.2.255"), Src: a("10.200.2.2"), Iif: ifindex["v1"]},
			ip: []string{"10.200.2.255", "from", "10.200.2.2", "iif", "v1"}, typ: unix.RTN_BROADCAST, dev: "lo", iif: "v1"},
		{name: "v4/input-unreachable", q: topology.RouteQuery{Dst: a("10.200.21.1"), Src: a("10.200.2.2"), Iif: ifindex["v1"]},
			ip: []string{"10.200.21.1", "from", "10.200.2.2", "iif", "v1"}, err: unix.EHOSTUNREACH},
		{name: "v4/input-no-source", q: topology.RouteQuery{Dst: a("10.200.10.5"), Iif: ifindex["v1"]},
			ip: []string{"10.200.10.5", "iif", "v1"}, err: unix.EINVAL},
		{name: "v4/input-martian-source", q: topology.RouteQuery{Dst: a("10.200.10.5"), Src: a("10.200.1.1"), Iif: ifindex["v1"]},
			ip: []string{"10.200.10.5", "from", "10.200.1.1", "iif", "v1"}, err: unix.EINVAL},
		{name: "v4/fibmatch", q: topology.RouteQuery{Dst: a("10.200.10.5"), FIBMatch: true}, ip: []string{"fibmatch", "10.200.10.5"},
			table: main, dst: "10.200.10.0/24", dev: "v0", gateway: "10.200.1.2"},
		{name: "v4/fibmatch-local", q: topology.RouteQuery{Dst: a("10.200.1.1"), FIBMatch: true}, ip: []string{"fibmatch", "10.200.1.1"},
			typ: unix.RTN_LOCAL, table: local, dst: "10.200.1.1/32", dev: "v0"},
		{name: "v4/fibmatch-mark", q: topology.RouteQuery{Dst: a("10.200.50.1"), Mark: 7, FIBMatch: true}, ip: []string{"fibmatch", "10.200.50.1", "mark", "7"},
			table: 100, dst: "10.200.50.0/24", dev: "v1"},
		{name: "v4/fibmatch-default", q: topology.RouteQuery{Dst: a("10.200.99.1"), Mark: 9, FIBMatch: true}, ip: []string{"fibmatch", "10.200.99.1", "mark", "9"},
			table: 103, dst: "0.0.0.0/0", gateway: "10.200.1.9"},
		{name: "v4/fibmatch-input", q: topology.RouteQuery{Dst: a("10.200.10.5"), Src: a("10.200.2.2"), Iif: ifindex["v1"], FIBMatch: true},
			ip: []string{"fibmatch", "10.200.10.5", "from", "10.200.2.2", "iif", "v1"}, table: main, dst: "10.200.10.0/24"},
		{name: "v4/fibmatch-multipath", q: topology.RouteQuery{Dst: a("10.200.30.1"), FIBMatch: true}, ip: []string{"fibmatch", "10.200.30.1"},
			table: main, dst: "10.200.30.0/24", weights: map[string]int{"10.200.1.2": 1, "10.200.2.2": 3}},

		{name: "v6/gateway", q: topology.RouteQuery{Dst: a("fd00:200::10:5")}, ip: []string{"fd00:200::10:5"},
			typ: unix.RTN_UNICAST, table: main, dst: "fd00:200::10:5/128", dev: "v0", gateway: "fd00:200::2"},
		{name: "v6/connected", q: topology.RouteQuery{Dst: a("fd00:200::7")}, ip: []string{"fd00:200::7"},
			typ: unix.RTN_UNICAST, table: main, dev: "v0"},
		{name: "v6/local", q: topology.RouteQuery{Dst: a("fd00:200::1")}, ip: []string{"fd00:200::1"},
			typ: unix.RTN_LOCAL, table: local, dev: "lo"},
		{name: "v6/blackhole", q: topology.RouteQuery{Dst: a("fd00:200::20:1")}, ip: []string{"fd00:200::20:1"}, err: unix.EINVAL},
		{name: "v6/unreachable", q: topology.RouteQuery{Dst: a("fd00:200::21:1")}, ip: []string{"fd00:200::21:1"}, err: unix.EHOSTUNREACH},
		{name: "v6/prohibit", q: topology.RouteQuery{Dst: a("fd00:200::22:1")}, ip: []string{"fd00:200::22:1"}, err: unix.EACCES},
		{name: "v6/no-route", q: topology.RouteQuery{Dst: a("fd00:200::99:1")}, ip: []string{"fd00:200::99:1"}, err: unix.ENETUNREACH},
		{name: "v6/fwmark", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Mark: 7}, ip: []string{"fd00:200::50:1", "mark", "7"},
			table: 100, dev: "v1", gateway: "fd00:200::2:2"},
		{name: "v6/udp-dport", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Proto: unix.IPPROTO_UDP, Dport: 53},
			ip: []string{"fd00:200::50:1", "ipproto", "udp", "dport", "53"}, table: 101, gateway: "fd00:200::3"},
		{name: "v6/udp-sport", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Proto: unix.IPPROTO_UDP, Sport: 53},
			ip: []string{"fd00:200::50:1", "ipproto", "udp", "sport", "53"}, table: main, gateway: "fd00:200::5"},
		{name: "v6/icmp-is-v4-only", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Proto: unix.IPPROTO_ICMP},
			ip: []string{"fd00:200::50:1", "ipproto", "icmp"}, err: unix.EOPNOTSUPP},
		{name: "v6/tos", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Tos: 0x10}, ip: []string{"fd00:200::50:1", "tos", "0x10"},
			table: 102, gateway: "fd00:200::2:3"},
		{name: "v6/tos-precedence", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Tos: 0x90}, ip: []string{"fd00:200::50:1", "tos", "0x90"}},
		{name: "v6/input-forward", q: topology.RouteQuery{Dst: a("fd00:200::10:5"), Src: a("fd00:200::2:2"), Iif: ifindex["v1"]},
			ip: []string{"fd00:200::10:5", "from", "fd00:200::2:2", "iif", "v1"}, typ: unix.RTN_UNICAST, dev: "v0", gateway: "fd00:200::2", iif: "v1"},
		{name: "v6/input-local", q: topology.RouteQuery{Dst: a("fd00:200::1"), Src: a("fd00:200::2:2"), Iif: ifindex["v1"]},
			ip: []string{"fd00:200::1", "from", "fd00:200::2:2", "iif", "v1"}, typ: unix.RTN_LOCAL, table: local, dev: "lo", iif: "v1"},
		{name: "v6/input-no-source", q: topology.RouteQuery{Dst: a("fd00:200::10:5"), Iif: ifindex["v1"]},
			ip: []string{"fd00:200::10:5", "iif", "v1"}, dev: "v0", iif: "v1"},
		{name: "v6/input-unreachable", q: topology.RouteQuery{Dst: a("fd00:200::21:1"), Src: a("fd00:200::2:2"), Iif: ifindex["v1"]},
			ip: []string{"fd00:200::21:1", "from", "fd00:200::2:2", "iif", "v1"}, err: unix.EHOSTUNREACH},
		{name: "v6/fibmatch", q: topology.RouteQuery{Dst: a("fd00:200::10:5"), FIBMatch: true}, ip: []string{"fibmatch", "fd00:200::10:5"},
			table: main, dst: "fd00:200::10:0/112", dev: "v0", gateway: "fd00:200::2"},
		{name: "v6/fibmatch-local", q: topology.RouteQuery{Dst: a("fd00:200::1"), FIBMatch: true}, ip: []string{"fibmatch", "fd00:200::1"},
			typ: unix.RTN_LOCAL, table: local, dst: "fd00:200::1/128", dev: "v0"},
		{name: "v6/fibmatch-mark", q: topology.RouteQuery{Dst: a("fd00:200::50:1"), Mark: 7, FIBMatch: true}, ip: []string{"fibmatch", "fd00:200::50:1", "mark", "7"},
			table: 100, dst: "fd00:200::50:0/112", dev: "v1"},
		{name: "v6/fibmatch-multipath", q: topology.RouteQuery{Dst: a("fd00:200::30:1"), FIBMatch: true}, ip: []string{"fibmatch", "fd00:200::30:1"},
			table: main, dst: "fd00:200::30:0/112", weights: map[string]int{"fd00:200::2": 1, "fd00:200::2:2": 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.RouteGet(c.q)
			if err != nil {
				t.Fatal(err)
			}
			v6 := c.q.Dst.Is6()
			ip, ipErr := ipRouteGet(t, ns, v6, c.ip)
			if ipErr != "" {
				t.Logf("kernel: %v; ip: %s", got.Err, ipErr)
			} else {
				t.Logf("kernel: %+v; ip: %+v", got, ip)
			}
			compareIP(t, got, ip, ipErr, v6, ifindex)
			checkKnown(t, c, got, ifindex)
		})
	}
}

// checkKnown checks got against what c says the kernel answers.
func checkKnown(t *testing.T, c routeCase, got topology.KernelRoute, ifindex map[string]int) {
	t.Helper()
	if c.err != nil {
		var errno unix.Errno
		if !errors.As(got.Err, &errno) || got.Err != c.err || !errors.Is(got.Err, c.err) {
			t.Errorf("Err = %#v, want the bare %v", got.Err, c.err)
		}
		return
	}
	if got.Err != nil {
		t.Fatalf("Err = %v", got.Err)
	}
	if c.typ != 0 && got.Type != c.typ {
		t.Errorf("Type = %d, want %d", got.Type, c.typ)
	}
	if c.table != 0 && got.Table != c.table {
		t.Errorf("Table = %d, want %d", got.Table, c.table)
	}
	if c.dst != "" && got.Dst != netip.MustParsePrefix(c.dst) {
		t.Errorf("Dst = %v, want %s", got.Dst, c.dst)
	}
	if c.dev != "" && got.Oif != ifindex[c.dev] {
		t.Errorf("Oif = %d, want %s (%d)", got.Oif, c.dev, ifindex[c.dev])
	}
	if c.iif != "" && got.Iif != ifindex[c.iif] {
		t.Errorf("Iif = %d, want %s (%d)", got.Iif, c.iif, ifindex[c.iif])
	}
	if c.gateway != "" && got.Gateway != netip.MustParseAddr(c.gateway) {
		t.Errorf("Gateway = %v, want %s", got.Gateway, c.gateway)
	}
	if c.weights != nil {
		var gws []string
		for _, nh := range got.Multipath {
			gws = append(gws, nh.Gateway.String())
			if w, ok := c.weights[nh.Gateway.String()]; !ok || w != nh.Weight || nh.Oif == 0 {
				t.Errorf("nexthop %+v, want weights %v", nh, c.weights)
			}
		}
		if len(got.Multipath) != len(c.weights) {
			t.Errorf("Multipath = %v, want %d nexthops", gws, len(c.weights))
		}
	}
}

// TestRouteGetOwnNamespace asks for 127.0.0.1 in the test's own namespace,
// where RouteGet opens its socket without entering the namespace. It only
// reads.
func TestRouteGetOwnNamespace(t *testing.T) {
	lab.RequireTool(t, "ip")
	r, err := topology.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.RouteGet(topology.RouteQuery{Dst: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "-j", "route", "get", "127.0.0.1").CombinedOutput()
	if err != nil {
		if got.Err == nil {
			t.Errorf("RouteGet = %+v, ip failed: %s", got, out)
		}
		return
	}
	var rs []ipRoute
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("ip route get 127.0.0.1: %v %s", err, out)
	}
	if got.Err != nil || got.Type != ipTypes[rs[0].Type] || got.Dst != netip.MustParsePrefix("127.0.0.1/32") {
		t.Errorf("RouteGet = %+v, ip %+v", got, rs[0])
	}
}

func TestRouteGetBadQuery(t *testing.T) {
	r, err := topology.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.RouteGet(topology.RouteQuery{}); err == nil {
		t.Error("RouteGet without a destination: no error")
	}
	q := topology.RouteQuery{Dst: netip.MustParseAddr("10.200.0.1"), Src: netip.MustParseAddr("fd00:200::1")}
	if _, err := r.RouteGet(q); err == nil {
		t.Error("RouteGet with a source of another family: no error")
	}
}
