package fib

import (
	"bytes"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func defaultRules() []Rule {
	return []Rule{
		{Priority: 0, Action: ToTable, Table: TableLocal, SuppressPrefixlen: -1, SuppressIfgroup: -1},
		{Priority: 32766, Action: ToTable, Table: TableMain, SuppressPrefixlen: -1, SuppressIfgroup: -1},
		{Priority: 32767, Action: ToTable, Table: TableDefault, SuppressPrefixlen: -1, SuppressIfgroup: -1},
	}
}

// host is a namespace with lo, eth0 10.0.0.2/24 (default via 10.0.0.1) and
// a bridge docker0 172.17.0.1/16.
func host() *Snapshot {
	return &Snapshot{
		Links: []Link{
			{Index: 1, Name: "lo", Kind: "loopback", Up: true, Carrier: true, Loopback: true},
			{Index: 2, Name: "eth0", Kind: "device", Up: true, Carrier: true, Forwarding4: true},
			{Index: 3, Name: "docker0", Kind: "bridge", Up: true, Carrier: false, Forwarding4: true},
		},
		Addrs: []Addr{
			{Ifindex: 1, Prefix: pfx("127.0.0.1/8"), Scope: 254},
			{Ifindex: 2, Prefix: pfx("10.0.0.2/24")},
			{Ifindex: 3, Prefix: pfx("172.17.0.1/16")},
		},
		Routes: []Route{
			{Table: TableMain, Type: Unicast, Dst: pfx("0.0.0.0/0"), Nexthops: []Nexthop{{Ifindex: 2, Gateway: addr("10.0.0.1"), Weight: 1}}},
			{Table: TableMain, Type: Unicast, Dst: pfx("10.0.0.0/24"), Scope: 253, Protocol: 2, Prefsrc: addr("10.0.0.2"), Nexthops: []Nexthop{{Ifindex: 2, Weight: 1}}},
			{Table: TableMain, Type: Unicast, Dst: pfx("172.17.0.0/16"), Scope: 253, Protocol: 2, Prefsrc: addr("172.17.0.1"), Nexthops: []Nexthop{{Ifindex: 3, Weight: 1, Linkdown: true}}},
			{Table: TableLocal, Type: Local, Dst: pfx("127.0.0.0/8"), Scope: 254, Protocol: 2, Prefsrc: addr("127.0.0.1"), Nexthops: []Nexthop{{Ifindex: 1, Weight: 1}}},
			{Table: TableLocal, Type: Local, Dst: pfx("10.0.0.2/32"), Scope: 254, Protocol: 2, Prefsrc: addr("10.0.0.2"), Nexthops: []Nexthop{{Ifindex: 2, Weight: 1}}},
			{Table: TableLocal, Type: Broadcast, Dst: pfx("10.0.0.255/32"), Scope: 253, Protocol: 2, Prefsrc: addr("10.0.0.2"), Nexthops: []Nexthop{{Ifindex: 2, Weight: 1}}},
			{Table: TableLocal, Type: Local, Dst: pfx("172.17.0.1/32"), Scope: 254, Protocol: 2, Prefsrc: addr("172.17.0.1"), Nexthops: []Nexthop{{Ifindex: 3, Weight: 1}}},
		},
		Rules: defaultRules(),
	}
}

func TestBridgeOwnAddressIsLocal(t *testing.T) {
	s := host()
	d := s.Lookup(Query{Dst: addr("172.17.0.1")})
	if d.Type != Local || d.Dev != 1 || d.Table != TableLocal || d.Rule == nil || d.Rule.Priority != 0 {
		t.Fatalf("decision %s, rule %v", s.Summary(d), d.Rule)
	}
	var buf bytes.Buffer
	s.Write(&buf, d)
	out := buf.String()
	for _, want := range []string{"local 172.17.0.1/32 dev lo table local", "address of docker0", "over lo, not over docker0", "table main not consulted: rule 0 decided first"} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}

func TestLongestPrefixAndDefault(t *testing.T) {
	s := host()
	d := s.Lookup(Query{Dst: addr("10.0.0.7")})
	if d.Type != Unicast || d.Dev != 2 || d.Gateway.IsValid() || d.Prefsrc != addr("10.0.0.2") {
		t.Fatalf("got %s", s.Summary(d))
	}
	if len(d.Losers) != 1 || !strings.Contains(d.Losers[0].Why, "longer prefix wins: /24 beats /0") {
		t.Fatalf("losers %+v", d.Losers)
	}
	d = s.Lookup(Query{Dst: addr("192.0.2.1")})
	if d.Gateway != addr("10.0.0.1") || d.Dev != 2 || d.Prefsrc != addr("10.0.0.2") {
		t.Fatalf("got %s", s.Summary(d))
	}
	if d = s.Lookup(Query{Dst: addr("10.0.0.255")}); d.Type != Broadcast || d.Dev != 2 {
		t.Fatalf("got %s", s.Summary(d))
	}
}

func TestPolicyRules(t *testing.T) {
	s := host()
	s.Routes = append(s.Routes,
		Route{Table: 100, Type: Blackhole, Dst: pfx("192.0.2.0/24")},
		Route{Table: 100, Type: Throw, Dst: pfx("198.51.100.0/24")},
		Route{Table: 101, Type: Unicast, Dst: pfx("0.0.0.0/0"), Nexthops: []Nexthop{{Ifindex: 3, Gateway: addr("172.17.0.2"), Weight: 1}}},
	)
	s.Rules = append(s.Rules,
		Rule{Priority: 100, Action: ToTable, Table: 100, Mark: 7, Mask: 0xff, SuppressPrefixlen: -1, SuppressIfgroup: -1},
		Rule{Priority: 200, Action: ToTable, Table: 101, Mark: 7, Mask: 0xff, SuppressPrefixlen: 0, SuppressIfgroup: -1},
		Rule{Priority: 300, Action: Goto, Goto: 32767, Src: pfx("10.0.0.0/24"), SuppressPrefixlen: -1, SuppressIfgroup: -1},
	)
	if d := s.Lookup(Query{Dst: addr("192.0.2.1"), Mark: 0x107}); d.Type != Blackhole || d.Errno != syscall.EINVAL || d.Table != 100 {
		t.Fatalf("fwmark: %s", s.Summary(d))
	}
	// Throw in 100, then 101's default is suppressed, then main.
	d := s.Lookup(Query{Dst: addr("198.51.100.1"), Mark: 7})
	if d.Type != Unicast || d.Table != TableMain || d.Gateway != addr("10.0.0.1") {
		t.Fatalf("throw+suppress: %s", s.Summary(d))
	}
	var why []string
	for _, st := range d.Steps {
		why = append(why, st.Why)
	}
	all := strings.Join(why, "|")
	if !strings.Contains(all, "throw 198.51.100.0/24") || !strings.Contains(all, "suppressed (prefix /0 ≤ suppress_prefixlength 0)") {
		t.Fatalf("steps: %s", all)
	}
	// goto skips main: from 10.0.0.2 jumps to 32767 (default table, empty).
	d = s.Lookup(Query{Dst: addr("192.0.2.9"), Src: addr("10.0.0.2")})
	if d.Type != NoRoute || d.Errno != syscall.ENETUNREACH {
		t.Fatalf("goto: %s", s.Summary(d))
	}
}

func TestInputChecks(t *testing.T) {
	s := host()
	// Forwarded: arrives on docker0 from a container, leaves eth0.
	d := s.Lookup(Query{Dst: addr("192.0.2.1"), Src: addr("172.17.0.2"), Iif: 3})
	if d.Type != Unicast || d.Dev != 2 || d.Errno != 0 {
		t.Fatalf("forward: %s", s.Summary(d))
	}
	// Own address as source: martian.
	if d := s.Lookup(Query{Dst: addr("192.0.2.1"), Src: addr("10.0.0.2"), Iif: 3}); d.Errno != syscall.EINVAL {
		t.Fatalf("martian: %s", s.Summary(d))
	}
	// Strict rp_filter: 192.0.2.1's route back is via eth0, not docker0.
	s.Links[2].RPFilter = 1
	if d := s.Lookup(Query{Dst: addr("10.0.0.7"), Src: addr("192.0.2.1"), Iif: 3}); d.Errno != syscall.EINVAL || !strings.Contains(d.Drop, "reverse-path") {
		t.Fatalf("rp_filter: %s", s.Summary(d))
	}
	s.Links[2].Forwarding4 = false
	if d := s.Lookup(Query{Dst: addr("10.0.0.7"), Src: addr("172.17.0.2"), Iif: 3}); d.Errno != syscall.EHOSTUNREACH {
		t.Fatalf("forwarding off: %s", s.Summary(d))
	}
}

func TestLoDownNamespace(t *testing.T) {
	s := &Snapshot{Links: []Link{{Index: 1, Name: "lo", Kind: "loopback", Loopback: true}}, Rules: defaultRules()}
	d := s.Lookup(Query{Dst: addr("127.0.0.1")})
	if d.Type != NoRoute || d.Errno != syscall.ENETUNREACH {
		t.Fatalf("got %s", s.Summary(d))
	}
	if len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "no interface is up (lo is down)") || !strings.Contains(d.Notes[0], "ip link set lo up") {
		t.Fatalf("notes %q", d.Notes)
	}
}

func TestMultipathIsOneOf(t *testing.T) {
	s := host()
	s.Routes = append(s.Routes, Route{Table: TableMain, Type: Unicast, Dst: pfx("203.0.113.0/24"), Nexthops: []Nexthop{
		{Ifindex: 2, Gateway: addr("10.0.0.1"), Weight: 1}, {Ifindex: 2, Gateway: addr("10.0.0.3"), Weight: 2}}})
	d := s.Lookup(Query{Dst: addr("203.0.113.5")})
	if len(d.Nexthops) != 2 || !strings.Contains(s.Summary(d), "one of: 10.0.0.1 dev eth0, 10.0.0.3 dev eth0") {
		t.Fatalf("got %s", s.Summary(d))
	}
}

func TestReviewRegressions(t *testing.T) {
	s := host()
	// A backward goto (refused by the kernel, possible on the wire) must
	// not loop.
	s.Rules = append(s.Rules, Rule{Priority: 500, Action: Goto, Goto: 100, SuppressPrefixlen: -1, SuppressIfgroup: -1})
	if d := s.Lookup(Query{Dst: addr("192.0.2.1")}); d.Type != Unicast || len(d.Steps) > 10 {
		t.Fatalf("backward goto: %s, %d steps", s.Summary(d), len(d.Steps))
	}
	// __mkroute_output checks the source, not the destination: 127.0.0.5
	// sent with oif eth0 gets eth0's address and goes; from 127.0.0.1 it
	// may not leave eth0.
	if d := s.Lookup(Query{Dst: addr("127.0.0.5"), Oif: 2}); d.Errno != 0 || d.Dev != 2 || d.Prefsrc != addr("10.0.0.2") {
		t.Fatalf("127.0.0.5 oif eth0: %s", s.Summary(d))
	}
	if d := s.Lookup(Query{Dst: addr("192.0.2.1"), Src: addr("127.0.0.1")}); d.Errno != syscall.EINVAL {
		t.Fatalf("from 127.0.0.1 via eth0: %s", s.Summary(d))
	}
	// A broadcast from an address leaves through that address's device.
	if d := s.Lookup(Query{Dst: addr("255.255.255.255"), Src: addr("172.17.0.1")}); d.Type != Broadcast || d.Dev != 3 {
		t.Fatalf("broadcast from docker0's address: %s", s.Summary(d))
	}
	// A received packet from a multicast source is martian before any
	// multicast handling.
	if d := s.Lookup(Query{Dst: addr("224.0.0.5"), Src: addr("224.0.0.9"), Iif: 2}); d.Errno != syscall.EINVAL {
		t.Fatalf("multicast source: %s", s.Summary(d))
	}
}
