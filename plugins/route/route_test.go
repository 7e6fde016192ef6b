package route_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/route"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/plugins/sdk/sdktest"
	"github.com/ifacetrace/ifacetrace/tracer/fib"
)

// The plugin is what sdk.Serve serves.
var _ sdk.Plugin = (*route.Plugin)(nil)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func defaultRules() []fib.Rule {
	return []fib.Rule{
		{Priority: 0, Action: fib.ToTable, Table: fib.TableLocal, SuppressPrefixlen: -1, SuppressIfgroup: -1},
		{Priority: 32766, Action: fib.ToTable, Table: fib.TableMain, SuppressPrefixlen: -1, SuppressIfgroup: -1},
		{Priority: 32767, Action: fib.ToTable, Table: fib.TableDefault, SuppressPrefixlen: -1, SuppressIfgroup: -1},
	}
}

func lo() fib.Link {
	return fib.Link{Index: 1, Name: "lo", Kind: "loopback", Up: true, Carrier: true, Loopback: true}
}

func onLink(table uint32, dst string, dev int, src string) fib.Route {
	return fib.Route{Table: table, Type: fib.Unicast, Dst: pfx(dst), Scope: 253, Protocol: 2, Prefsrc: addr(src),
		Nexthops: []fib.Nexthop{{Ifindex: dev, Weight: 1}}}
}

func via(dst, gw string, dev int) fib.Route {
	return fib.Route{Table: fib.TableMain, Type: fib.Unicast, Dst: pfx(dst), Nexthops: []fib.Nexthop{{Ifindex: dev, Gateway: addr(gw), Weight: 1}}}
}

func local(a string, dev int) fib.Route {
	return fib.Route{Table: fib.TableLocal, Type: fib.Local, Dst: pfx(a + "/32"), Scope: 254, Protocol: 2, Prefsrc: addr(a),
		Nexthops: []fib.Nexthop{{Ifindex: dev, Weight: 1}}}
}

// The lab: container c1 (eth0 10.200.1.2/24, default via 10.200.1.1) whose
// veth peer veth-c is a port of the host's br0 (10.200.1.1/24); the host
// routes to 10.200.2.0/24 over up0 and 10.200.3.0/24 over up1; namespace
// out (eth0 10.200.2.2/24) is behind up0, with a route back to c1.
const (
	inoC1   = 4026532100
	inoHost = 4026531840
	inoOut  = 4026532300
)

func c1Snap() *fib.Snapshot {
	return &fib.Snapshot{
		Links: []fib.Link{lo(), {Index: 2, Name: "eth0", Kind: "veth", Up: true, Carrier: true}},
		Addrs: []fib.Addr{{Ifindex: 1, Prefix: pfx("127.0.0.1/8"), Scope: 254}, {Ifindex: 2, Prefix: pfx("10.200.1.2/24")}},
		Routes: []fib.Route{
			via("0.0.0.0/0", "10.200.1.1", 2),
			onLink(fib.TableMain, "10.200.1.0/24", 2, "10.200.1.2"),
			{Table: fib.TableLocal, Type: fib.Local, Dst: pfx("127.0.0.0/8"), Scope: 254, Protocol: 2, Prefsrc: addr("127.0.0.1"), Nexthops: []fib.Nexthop{{Ifindex: 1, Weight: 1}}},
			local("10.200.1.2", 2),
		},
		Rules: defaultRules(),
	}
}

func hostSnap() *fib.Snapshot {
	return &fib.Snapshot{
		Links: []fib.Link{
			lo(),
			{Index: 4, Name: "br0", Kind: "bridge", Up: true, Carrier: true, Forwarding4: true},
			{Index: 5, Name: "veth-c", Kind: "veth", Up: true, Carrier: true, Master: 4, Forwarding4: true},
			{Index: 6, Name: "up0", Kind: "veth", Up: true, Carrier: true, Forwarding4: true},
			{Index: 7, Name: "up1", Kind: "veth", Up: true, Carrier: true, Forwarding4: true},
			{Index: 8, Name: "veth-d", Kind: "veth", Up: true, Carrier: true, Master: 4, Forwarding4: true},
		},
		Addrs: []fib.Addr{
			{Ifindex: 1, Prefix: pfx("127.0.0.1/8"), Scope: 254},
			{Ifindex: 4, Prefix: pfx("10.200.1.1/24")},
			{Ifindex: 6, Prefix: pfx("10.200.2.1/24")},
			{Ifindex: 7, Prefix: pfx("10.200.3.1/24")},
		},
		Routes: []fib.Route{
			onLink(fib.TableMain, "10.200.1.0/24", 4, "10.200.1.1"),
			onLink(fib.TableMain, "10.200.2.0/24", 6, "10.200.2.1"),
			onLink(fib.TableMain, "10.200.3.0/24", 7, "10.200.3.1"),
			{Table: fib.TableLocal, Type: fib.Local, Dst: pfx("127.0.0.0/8"), Scope: 254, Protocol: 2, Prefsrc: addr("127.0.0.1"), Nexthops: []fib.Nexthop{{Ifindex: 1, Weight: 1}}},
			local("10.200.1.1", 4),
			local("10.200.2.1", 6),
			local("10.200.3.1", 7),
		},
		Rules: defaultRules(),
	}
}

func outSnap() *fib.Snapshot {
	return &fib.Snapshot{
		Links: []fib.Link{lo(), {Index: 2, Name: "eth0", Kind: "veth", Up: true, Carrier: true}},
		Addrs: []fib.Addr{{Ifindex: 1, Prefix: pfx("127.0.0.1/8"), Scope: 254}, {Ifindex: 2, Prefix: pfx("10.200.2.2/24")}},
		Routes: []fib.Route{
			onLink(fib.TableMain, "10.200.2.0/24", 2, "10.200.2.2"),
			via("10.200.1.0/24", "10.200.2.1", 2),
			local("10.200.2.2", 2),
		},
		Rules: defaultRules(),
	}
}

// Interface ids.
const (
	idC1Eth0 = iota + 1
	idVethC
	idBr0
	idUp0
	idUp1
	idOutEth0
	idLo
	idVethD
)

func interfaces() []*pb.Interface {
	return []*pb.Interface{
		{Id: idC1Eth0, Name: "c1/eth0", Ifname: "eth0", Ifindex: 2, Netns: "c1", NetnsInode: inoC1, Kind: "veth", Peer: "veth-c"},
		{Id: idVethC, Name: "veth-c", Ifname: "veth-c", Ifindex: 5, NetnsInode: inoHost, Kind: "veth", Master: "br0", Peer: "c1/eth0"},
		{Id: idBr0, Name: "br0", Ifname: "br0", Ifindex: 4, NetnsInode: inoHost, Kind: "bridge"},
		{Id: idUp0, Name: "up0", Ifname: "up0", Ifindex: 6, NetnsInode: inoHost, Kind: "veth", Peer: "out/eth0"},
		{Id: idUp1, Name: "up1", Ifname: "up1", Ifindex: 7, NetnsInode: inoHost, Kind: "veth"},
		{Id: idOutEth0, Name: "out/eth0", Ifname: "eth0", Ifindex: 2, Netns: "out", NetnsInode: inoOut, Kind: "veth", Peer: "up0"},
		{Id: idLo, Name: "lo", Ifname: "lo", Ifindex: 1, NetnsInode: inoHost, Kind: "loopback"},
		{Id: idVethD, Name: "veth-d", Ifname: "veth-d", Ifindex: 8, NetnsInode: inoHost, Kind: "veth", Master: "br0"},
	}
}

// setup is the first batch: interfaces and the routing of c1, the host
// and out (those given).
func setup(snaps map[string]*fib.Snapshot) *pb.Batch {
	b := &pb.Batch{Interfaces: interfaces()}
	inodes := map[string]uint64{"c1": inoC1, "": inoHost, "out": inoOut}
	for _, ns := range []string{"c1", "", "out"} {
		if s := snaps[ns]; s != nil {
			b.Routing = append(b.Routing, route.ToProto(s, ns, inodes[ns], 1))
		}
	}
	return b
}

func labSnaps() map[string]*fib.Snapshot {
	return map[string]*fib.Snapshot{"c1": c1Snap(), "": hostSnap(), "out": outSnap()}
}

type h struct {
	id  uint32
	dir string
	tu  *pb.Tuple // nil: the trace's tuple
}

var nextTrace uint64

func trace(flow uint64, tu *pb.Tuple, hops ...h) *pb.Trace {
	nextTrace++
	t := &pb.Trace{Id: nextTrace, FlowId: flow, Summary: fmt.Sprintf("%s %s > %s", tu.Proto, tu.Src, tu.Dst)}
	for _, x := range hops {
		ht := tu
		if x.tu != nil {
			ht = x.tu
		}
		t.Hops = append(t.Hops, &pb.Hop{InterfaceId: x.id, Direction: x.dir, Tuple: ht})
	}
	return t
}

func times(n int, mk func() *pb.Trace) []*pb.Trace {
	var out []*pb.Trace
	for range n {
		out = append(out, mk())
	}
	return out
}

var (
	ping    = &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 7, Dport: 7}
	pong    = &pb.Tuple{Proto: "icmp", Src: "10.200.2.2", Dst: "10.200.1.2", Sport: 7, Dport: 7}
	forward = func() *pb.Trace {
		return trace(1, ping, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil}, h{idUp0, "out", nil}, h{idOutEth0, "in", nil})
	}
	backward = func() *pb.Trace {
		return trace(1, pong, h{idOutEth0, "out", nil}, h{idUp0, "in", nil}, h{idBr0, "out", nil}, h{idVethC, "out", nil}, h{idC1Eth0, "in", nil})
	}
)

func closed(id uint64, tu *pb.Tuple, fwd, rev uint64) *pb.Batch {
	return &pb.Batch{Flows: []*pb.Flow{{Id: id, Tuple: tu, PacketsForward: fwd, PacketsReverse: rev, Final: true}}}
}

func run(t *testing.T, opts map[string]string, batches ...*pb.Batch) *sdktest.Result {
	t.Helper()
	res, err := sdktest.Run(t, route.New(), opts, nil, batches...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// block returns the lines from the one starting with head up to the next
// one that does not start with a space.
func block(lines []string, head string) []string {
	for i, l := range lines {
		if l != head {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.HasPrefix(lines[j], " ") {
			j++
		}
		return lines[i:j]
	}
	return nil
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no line %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestDescribe(t *testing.T) {
	info := route.New().Describe()
	w := info.GetWants()
	if info.GetName() != "route" || !w.GetTraces() || !w.GetFlows() || !w.GetTopology() || w.GetPackets() || w.GetPacketBytes() {
		t.Errorf("info %v", info)
	}
	if len(info.GetOptions()) != 1 || info.GetOptions()[0].GetName() != "path" || info.GetOptions()[0].GetRequired() {
		t.Errorf("options %v", info.GetOptions())
	}
}

// A ping from c1 through the host to out and back: the container's output
// lookup, the host's input lookups on br0 and up0, local delivery at both
// ends, each once however many packets.
func TestRoutedFlow(t *testing.T) {
	traces := append(times(3, forward), times(3, backward)...)
	res := run(t, nil, setup(labSnaps()), &pb.Batch{Traces: traces}, closed(1, ping, 3, 3))
	want := []string{
		"flow 1 icmp 10.200.1.2 → 10.200.2.2 (3 packets →, 3 ←)",
		"  → c1: sent via eth0: unicast default via 10.200.1.1 dev eth0 table main src 10.200.1.2 (rule 32766 from all lookup main); observed eth0 ✓ (3)",
		"  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (3)",
		"  → out: in eth0: local 10.200.2.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (3)",
		"  ← out: sent via eth0: unicast 10.200.1.0/24 via 10.200.2.1 dev eth0 table main src 10.200.2.2 (rule 32766 from all lookup main); observed eth0 ✓ (3)",
		"  ← host: in up0, routed to br0: unicast 10.200.1.0/24 dev br0 table main (rule 32766 from all lookup main); observed br0 ✓ (3)",
		"  ← c1: in eth0: local 10.200.1.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (3)",
	}
	if got := strings.Join(res.Lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	c := res.Finish.GetCounters()
	// Six distinct lookups for 30 hops: the cache answers the rest.
	for k, v := range map[string]uint64{"flows": 1, "traces": 6, "lookups": 6, "mismatches": 0, "never_left": 0, "delivered_locally": 6, "explained": 18} {
		if c[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, c[k], v, c)
		}
	}
	if len(res.Warnings) != 0 || len(res.Finish.GetWarnings()) != 0 || len(res.Finish.GetFiles()) != 0 {
		t.Errorf("warnings %q, finish %v", res.Warnings, res.Finish)
	}
}

// The flow's direction comes from Flow.tuple, not from which trace came
// first: a reply seen first is still "←", and listed after "→".
func TestDirectionFromFlowTuple(t *testing.T) {
	traces := []*pb.Trace{backward(), forward()}
	res := run(t, nil, setup(labSnaps()), &pb.Batch{Traces: traces}, closed(1, ping, 1, 1))
	b := block(res.Lines, "flow 1 icmp 10.200.1.2 → 10.200.2.2 (1 packet →, 1 ←)")
	if len(b) != 7 || !strings.HasPrefix(b[1], "  → c1: sent via eth0") || !strings.HasPrefix(b[4], "  ← out: sent via eth0") {
		t.Errorf("block:\n%s", strings.Join(res.Lines, "\n"))
	}
}

// Packets the host sends itself: an output lookup with no input device;
// a source SNAT rewrote after the lookup is left out of it.
func TestSentFromHost(t *testing.T) {
	own := &pb.Tuple{Proto: "udp", Src: "10.200.2.1", Dst: "10.200.2.2", Sport: 4000, Dport: 53}
	nat := &pb.Tuple{Proto: "udp", Src: "192.0.2.7", Dst: "10.200.2.2", Sport: 4001, Dport: 53}
	res := run(t, nil, setup(labSnaps()),
		&pb.Batch{Traces: []*pb.Trace{
			trace(4, own, h{idUp0, "out", nil}, h{idOutEth0, "in", nil}),
			trace(5, nat, h{idUp0, "out", nil}, h{idOutEth0, "in", nil}),
		}},
		closed(4, own, 1, 0), closed(5, nat, 1, 0))
	wantLines(t, res.Lines,
		"flow 4 udp 10.200.2.1:4000 → 10.200.2.2:53 (1 packet →, 0 ←)",
		"  → host: sent via up0: unicast 10.200.2.0/24 dev up0 table main src 10.200.2.1 (rule 32766 from all lookup main); observed up0 ✓ (1)",
		"flow 5 udp 192.0.2.7:4001 → 10.200.2.2:53 (1 packet →, 0 ←)",
	)
	if b := block(res.Lines, "flow 5 udp 192.0.2.7:4001 → 10.200.2.2:53 (1 packet →, 0 ←)"); len(b) < 2 || !strings.Contains(b[1], "sent via up0") || !strings.Contains(b[1], "✓") {
		t.Errorf("SNATed sender: %q", b)
	}
}

// A packet that reached br0 (or only its port veth-c, then routed as from
// br0) and went no further although routing would forward it.
func TestNeverLeftRoutingAllows(t *testing.T) {
	res := run(t, nil, setup(labSnaps()),
		&pb.Batch{Traces: []*pb.Trace{
			trace(2, ping, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil}),
			trace(2, ping, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}),
		}},
		closed(2, ping, 2, 0))
	wantLines(t, res.Lines,
		"  → host: in br0: 2 packets never left: routing allows it (unicast 10.200.2.0/24 dev up0 table main): dropped elsewhere, e.g. by netfilter")
	if c := res.Finish.GetCounters(); c["never_left"] != 2 || c["mismatches"] != 0 {
		t.Errorf("counters %v", c)
	}
}

// Routing itself drops: a blackhole in a table a rule sends the
// destination to, no route at all, and forwarding turned off by a newer
// snapshot in the middle of a flow.
func TestRoutingDrops(t *testing.T) {
	hs := hostSnap()
	hs.Routes = append(hs.Routes, fib.Route{Table: 100, Type: fib.Blackhole, Dst: pfx("10.200.9.0/24")})
	hs.Rules = append(hs.Rules, fib.Rule{Priority: 100, Action: fib.ToTable, Table: 100, Dst: pfx("10.200.9.0/24"), SuppressPrefixlen: -1, SuppressIfgroup: -1})
	snaps := labSnaps()
	snaps[""] = hs
	toBH := &pb.Tuple{Proto: "tcp", Src: "10.200.1.2", Dst: "10.200.9.9", Sport: 40000, Dport: 80}
	toNowhere := &pb.Tuple{Proto: "udp", Src: "10.200.1.2", Dst: "192.0.2.1", Sport: 40001, Dport: 53}
	upTo := func(flow uint64, tu *pb.Tuple) *pb.Trace {
		return trace(flow, tu, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil})
	}
	off := hostSnap()
	for i := range off.Links {
		if off.Links[i].Name == "br0" {
			off.Links[i].Forwarding4 = false
		}
	}
	// The snapshot turning forwarding off is read at time 2; the traces
	// after it were seen at time 3.
	late := []*pb.Trace{upTo(1, ping), upTo(1, ping)}
	for _, tr := range late {
		for _, hp := range tr.Hops {
			hp.TimeUnixNano = 3
		}
	}
	res := run(t, nil, setup(snaps),
		&pb.Batch{Traces: []*pb.Trace{upTo(3, toBH), upTo(6, toNowhere), forward()}},
		&pb.Batch{Routing: []*pb.Routing{route.ToProto(off, "", inoHost, 2)}, Traces: late},
		&pb.Batch{Flows: []*pb.Flow{
			{Id: 3, Tuple: toBH, PacketsForward: 1},
			{Id: 6, Tuple: toNowhere, PacketsForward: 1},
			{Id: 1, Tuple: ping, PacketsForward: 3},
		}})
	wantLines(t, res.Lines,
		"  → host: in br0: 1 packet never left: blackhole route 10.200.9.0/24 in table 100 (rule 100 from all to 10.200.9.0/24 lookup 100)",
		"  → host: in br0: 1 packet never left: no route to 192.0.2.1 (network is unreachable)",
		// Before the change, forwarded; after it, dropped.
		"  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (1)",
		"  → host: in br0: 2 packets never left: dropped by routing: forwarding is off on br0 (net.ipv4.conf.br0.forwarding=0)",
	)
}

// The packet left through up1 where routing says up0; one for br0's own
// address left at all.
func TestMismatch(t *testing.T) {
	toBr0 := &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.1.1", Sport: 9, Dport: 9}
	wrong := func() *pb.Trace {
		return trace(1, ping, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil}, h{idUp1, "out", nil})
	}
	res := run(t, nil, setup(labSnaps()),
		&pb.Batch{Traces: append(times(2, wrong), forward(),
			trace(7, toBr0, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil}, h{idUp0, "out", nil}))},
		closed(1, ping, 3, 0), closed(7, toBr0, 1, 0))
	wantLines(t, res.Lines,
		"  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up1 ✗ (2), up0 ✓ (1)",
		"  → host: in br0: MISMATCH: routing says dev up0, the packet left via up1 (2)",
		"  → host: in br0: MISMATCH: routing says local delivery over lo, the packet left via up0 (1)",
		"    note: 10.200.1.1 is an address of br0: the local route in table local delivers it over lo, not over br0",
	)
	if c := res.Finish.GetCounters(); c["mismatches"] != 3 {
		t.Errorf("counters %v", c)
	}
}

// A multipath route: leaving through either nexthop is right.
func TestMultipath(t *testing.T) {
	hs := hostSnap()
	hs.Routes = append(hs.Routes, fib.Route{Table: fib.TableMain, Type: fib.Unicast, Dst: pfx("10.200.5.0/24"), Nexthops: []fib.Nexthop{
		{Ifindex: 6, Gateway: addr("10.200.2.254"), Weight: 1}, {Ifindex: 7, Gateway: addr("10.200.3.254"), Weight: 1}}})
	snaps := labSnaps()
	snaps[""] = hs
	tu := &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.5.5"}
	res := run(t, nil, setup(snaps),
		&pb.Batch{Traces: []*pb.Trace{trace(1, tu, h{idVethC, "in", nil}, h{idBr0, "in", nil}, h{idUp1, "out", nil})}},
		closed(1, tu, 1, 0))
	wantLines(t, res.Lines,
		"  → host: in br0, routed to one of up0, up1: unicast 10.200.5.0/24 via 10.200.2.254 dev up0 (one of: 10.200.2.254 dev up0, 10.200.3.254 dev up1) table main (rule 32766 from all lookup main); observed up1 ✓ (1)")
	if c := res.Finish.GetCounters(); c["mismatches"] != 0 {
		t.Errorf("counters %v", c)
	}
}

// DNAT on the host (out → 10.200.2.1:8080, forwarded to c1's port 80):
// routing saw the rewritten destination, so br0 is right.
func TestDNATUsesTheRewrittenDestination(t *testing.T) {
	pre := &pb.Tuple{Proto: "tcp", Src: "10.200.2.2", Dst: "10.200.2.1", Sport: 40000, Dport: 8080}
	post := &pb.Tuple{Proto: "tcp", Src: "10.200.2.2", Dst: "10.200.1.2", Sport: 40000, Dport: 80}
	res := run(t, nil, setup(labSnaps()),
		&pb.Batch{Traces: []*pb.Trace{trace(8, pre,
			h{idOutEth0, "out", nil}, h{idUp0, "in", nil}, h{idBr0, "out", post}, h{idVethC, "out", post}, h{idC1Eth0, "in", post})}},
		closed(8, pre, 1, 0))
	wantLines(t, res.Lines,
		"  → host: in up0, routed to br0: unicast 10.200.1.0/24 dev br0 table main (rule 32766 from all lookup main); observed br0 ✓ (1)",
		"  → c1: in eth0: local 10.200.1.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (1)")
	if c := res.Finish.GetCounters(); c["mismatches"] != 0 {
		t.Errorf("counters %v\n%s", c, strings.Join(res.Lines, "\n"))
	}
}

// Between two ports of one bridge nothing is routed.
func TestBridged(t *testing.T) {
	tu := &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.1.3"}
	res := run(t, nil, setup(labSnaps()),
		&pb.Batch{Traces: []*pb.Trace{trace(1, tu, h{idVethC, "in", nil}, h{idVethD, "out", nil})}},
		closed(1, tu, 1, 0))
	wantLines(t, res.Lines, "  → host: bridged by br0 (veth-c to veth-d), not routed (1)")
	if c := res.Finish.GetCounters(); c["lookups"] != 0 || c["mismatches"] != 0 {
		t.Errorf("counters %v", c)
	}
}

// Without a namespace's snapshot (a capture read from a file) that
// namespace is skipped, said once; the others are explained.
func TestNoSnapshot(t *testing.T) {
	snaps := labSnaps()
	delete(snaps, "out")
	res := run(t, nil, setup(snaps), &pb.Batch{Traces: append(times(2, forward), backward())}, closed(1, ping, 2, 1))
	n := 0
	for _, l := range res.Lines {
		if l == "no routing snapshot for out: explanations need a live capture" {
			n++
		}
		if strings.HasPrefix(l, "  → out:") || strings.HasPrefix(l, "  ← out:") {
			t.Errorf("explained without a snapshot: %q", l)
		}
	}
	if n != 1 {
		t.Errorf("said %d times:\n%s", n, strings.Join(res.Lines, "\n"))
	}
	wantLines(t, res.Lines, "  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (2)")
	if c := res.Finish.GetCounters(); c["no_snapshot"] != 1 {
		t.Errorf("counters %v", c)
	}
}

// A snapshot that does not parse is reported; the previous one stays.
func TestBadSnapshotKeepsTheOld(t *testing.T) {
	bad := route.ToProto(hostSnap(), "", inoHost, 2)
	bad.Addrs[0].Prefix = "bogus"
	res := run(t, nil, setup(labSnaps()), &pb.Batch{Routing: []*pb.Routing{bad}, Traces: []*pb.Trace{forward()}}, closed(1, ping, 1, 0))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "routing snapshot of host is unusable, keeping the previous one") || !strings.Contains(res.Warnings[0], "bogus") {
		t.Errorf("warnings %q", res.Warnings)
	}
	wantLines(t, res.Lines, "  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (1)")
}

// A flow never closed is explained at Finish: as warnings without a file.
func TestUnclosedFlow(t *testing.T) {
	res := run(t, nil, setup(labSnaps()), &pb.Batch{Traces: []*pb.Trace{forward(), forward()}})
	for _, l := range res.Lines {
		if strings.HasPrefix(l, "flow ") {
			t.Errorf("flow before it closed: %q", l)
		}
	}
	w := res.Finish.GetWarnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "flow 1 icmp 10.200.1.2 → 10.200.2.2 (2 packets →, 0 ←; never closed)\n  → c1: sent via eth0") {
		t.Errorf("finish warnings %q", w)
	}
	if c := res.Finish.GetCounters(); c["flows"] != 1 {
		t.Errorf("counters %v", c)
	}
}

// Traces without a flow are explained one by one, at most 100 lines;
// ARP is not routed.
func TestTracesWithoutFlow(t *testing.T) {
	arp := &pb.Tuple{Proto: "arp", Src: "10.200.1.2", Dst: "10.200.1.1"}
	nd := &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2"}
	traces := []*pb.Trace{trace(0, arp, h{idC1Eth0, "out", nil}, h{idVethC, "in", nil}, h{idBr0, "in", nil})}
	for range 60 {
		traces = append(traces, trace(0, nd, h{idC1Eth0, "out", nil})) // two lines each
	}
	res := run(t, nil, setup(labSnaps()), &pb.Batch{Traces: traces})
	first := fmt.Sprintf("trace %d: icmp 10.200.1.2 > 10.200.2.2", traces[1].Id)
	wantLines(t, block(res.Lines, first),
		"  → c1: sent via eth0: unicast default via 10.200.1.1 dev eth0 table main src 10.200.1.2 (rule 32766 from all lookup main); observed eth0 ✓ (1)")
	if len(res.Lines) != 100 {
		t.Errorf("%d lines", len(res.Lines))
	}
	for _, l := range res.Lines {
		if strings.Contains(l, "arp") || strings.Contains(l, fmt.Sprintf("trace %d:", traces[0].Id)) {
			t.Errorf("ARP explained: %q", l)
		}
	}
	if c := res.Finish.GetCounters(); c["not_shown"] != 10 {
		t.Errorf("counters %v", c)
	}
	if w := res.Finish.GetWarnings(); len(w) != 1 || w[0] != "10 more traces without a flow not shown (at most 100 lines of them)" {
		t.Errorf("finish warnings %q", w)
	}
}

// With path, the same text goes to the file and none to the terminal;
// flows never closed go to the file too.
func TestPath(t *testing.T) {
	batches := func() []*pb.Batch {
		nextTrace = 0
		return []*pb.Batch{setup(labSnaps()), &pb.Batch{Traces: append(times(3, forward), times(3, backward)...)}, closed(1, ping, 3, 3),
			{Traces: []*pb.Trace{trace(9, pong, h{idOutEth0, "out", nil})}}}
	}
	term := run(t, nil, batches()...)
	path := filepath.Join(t.TempDir(), "route.txt")
	// Longer than what the plugin writes: the file must be truncated.
	if err := os.WriteFile(path, []byte(strings.Repeat("old content that must go\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	res := run(t, map[string]string{"path": path}, batches()...)
	if len(res.Lines) != 0 {
		t.Errorf("terminal lines with path: %q", res.Lines)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unclosed := strings.Split(term.Finish.GetWarnings()[0], "\n")
	want := strings.Join(append(slices.Clone(term.Lines), unclosed...), "\n") + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	if !strings.HasPrefix(unclosed[0], "flow 9 icmp 10.200.2.2 → 10.200.1.2 (1 packet →, 0 ←; never closed)") {
		t.Errorf("unclosed %q", unclosed)
	}
	abs, _ := filepath.Abs(path)
	if f := res.Finish.GetFiles(); len(f) != 1 || f[0] != abs || len(res.Finish.GetWarnings()) != 0 {
		t.Errorf("finish %v", res.Finish)
	}
}

func TestUnwritablePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "route.txt")
	_, err := sdktest.Run(t, route.New(), map[string]string{"path": path}, nil, setup(labSnaps()))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v", err)
	}
}
