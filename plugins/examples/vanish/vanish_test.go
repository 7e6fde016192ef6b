package vanish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/plugins/examples/vanish"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/plugins/sdk/sdktest"
)

// The plugin is what sdk.Serve serves.
var _ sdk.Plugin = (*vanish.Plugin)(nil)

// The fixture: ifacetrace runs in the host's unnamed namespace, where br0
// (10.200.1.1/24) bridges veth-c (to c1), veth-p2 and veth-p3 (to p2 and p3),
// and up0 (10.200.2.1/24) leads to o1 (10.200.2.2). Namespace x has a device
// with no address. Every namespace but x is captured whole. One namespace
// has no name.
const (
	hostIno = 4026531840
	c1Ino   = 4026532300
	o1Ino   = 4026532400
	p2Ino   = 4026532500
	p3Ino   = 4026532600
	xIno    = 4026532700
	anonIno = 4026532800
)

var interfaces = []*pb.Interface{
	{Id: 1, Name: "lo", Ifname: "lo", NetnsInode: hostIno, Kind: "loopback", Hatype: 772, Addresses: []string{"127.0.0.1/8", "::1/128"}},
	{Id: 2, Name: "eth0", Ifname: "eth0", NetnsInode: hostIno, Kind: "device", Hatype: 1, Addresses: []string{"192.0.2.10/24", "2001:db8::10/64", "fe80::10/64"}},
	{Id: 3, Name: "br0", Ifname: "br0", NetnsInode: hostIno, Kind: "bridge", Hatype: 1, Addresses: []string{"10.200.1.1/24", "fd00:200:1::1/64"}},
	{Id: 4, Name: "veth-c", Ifname: "veth-c", NetnsInode: hostIno, Kind: "veth", Hatype: 1, Master: "br0", Peer: "c1/eth0"},
	{Id: 5, Name: "up0", Ifname: "up0", NetnsInode: hostIno, Kind: "veth", Hatype: 1, Peer: "o1/eth0", Addresses: []string{"10.200.2.1/24", "fd00:200:2::1/64"}},
	{Id: 6, Name: "veth-p2", Ifname: "veth-p2", NetnsInode: hostIno, Kind: "veth", Hatype: 1, Master: "br0", Peer: "p2/eth0"},
	{Id: 7, Name: "veth-p3", Ifname: "veth-p3", NetnsInode: hostIno, Kind: "veth", Hatype: 1, Master: "br0", Peer: "p3/eth0"},
	{Id: 10, Name: "c1/lo", Ifname: "lo", Netns: "c1", NetnsInode: c1Ino, Kind: "loopback", Hatype: 772, Addresses: []string{"127.0.0.1/8"}},
	{Id: 11, Name: "c1/eth0", Ifname: "eth0", Netns: "c1", NetnsInode: c1Ino, Kind: "veth", Hatype: 1, Peer: "veth-c", Addresses: []string{"10.200.1.2/24", "fd00:200:1::2/64"}},
	{Id: 12, Name: "o1/eth0", Ifname: "eth0", Netns: "o1", NetnsInode: o1Ino, Kind: "veth", Hatype: 1, Peer: "up0", Addresses: []string{"10.200.2.2/24", "fd00:200:2::2/64"}},
	{Id: 13, Name: "p2/eth0", Ifname: "eth0", Netns: "p2", NetnsInode: p2Ino, Kind: "veth", Hatype: 1, Addresses: []string{"10.200.1.3/24"}},
	{Id: 14, Name: "p3/eth0", Ifname: "eth0", Netns: "p3", NetnsInode: p3Ino, Kind: "veth", Hatype: 1, Addresses: []string{"10.200.1.4/24"}},
	{Id: 15, Name: "x/eth0", Ifname: "eth0", Netns: "x", NetnsInode: xIno, Kind: "veth", Hatype: 1},
	// A namespace with no name in /run/netns, e.g. a container's.
	{Id: 16, Name: "netns:4026532800/eth0", Ifname: "eth0", NetnsInode: anonIno, Kind: "veth", Hatype: 1, Addresses: []string{"172.17.0.2/16"}},
}

func ids() map[string]uint32 {
	m := map[string]uint32{}
	for _, i := range interfaces {
		m[i.Name] = i.Id
	}
	return m
}

var start = time.Unix(1_700_000_000, 0)

func icmp(src, dst string) *pb.Tuple { return &pb.Tuple{Proto: "icmp", Src: src, Dst: dst, Sport: 9} }
func udp(src, dst string) *pb.Tuple {
	return &pb.Tuple{Proto: "udp", Src: src, Dst: dst, Sport: 40000, Dport: 53}
}

// trace builds a trace whose hops are steps ("DEVICE DIR", devices by
// display name; "if#N" for an interface never announced), all with tuple tu.
func trace(id, flow uint64, tu *pb.Tuple, steps ...string) *pb.Trace {
	t := &pb.Trace{Id: id, FlowId: flow, TimeUnixNano: start.UnixNano(), Path: strings.Join(steps, " → ")}
	if tu != nil {
		// As tracer/decode writes them (in the spirit of tcpdump).
		switch tu.Proto {
		case "icmp":
			t.Summary = fmt.Sprintf("ICMP echo request %s > %s id %d seq %d", tu.Src, tu.Dst, tu.Sport, id)
		default:
			t.Summary = fmt.Sprintf("%s %s:%d > %s:%d length 12", strings.ToUpper(tu.Proto), tu.Src, tu.Sport, tu.Dst, tu.Dport)
		}
	}
	byName := ids()
	for i, s := range steps {
		dev, dir, _ := strings.Cut(s, " ")
		id, ok := byName[dev]
		if !ok {
			fmt.Sscanf(dev, "if#%d", &id)
		}
		t.Hops = append(t.Hops, &pb.Hop{InterfaceId: id, Direction: dir, TimeUnixNano: start.Add(time.Duration(i) * time.Microsecond).UnixNano(), Tuple: tu})
	}
	return t
}

// result is what one run of the plugin said.
type result struct {
	lines, warnings []string // from Consume's reports
	finish          *pb.FinishResponse
}

// run drives a fresh plugin with opts (sdktest: over gRPC, as ifacetrace
// does): the fixture's interfaces, then the traces, one batch each, with
// stats on the last, and Finish.
func run(t *testing.T, opts map[string]string, stats *pb.Stats, traces ...*pb.Trace) result {
	t.Helper()
	batches := []*pb.Batch{{Seq: 1, Interfaces: interfaces}}
	for i, tr := range traces {
		batches = append(batches, &pb.Batch{Seq: uint64(i + 2), Traces: []*pb.Trace{tr}})
	}
	batches[len(batches)-1].Stats = stats
	r, err := sdktest.Run(t, vanish.New(), opts, &pb.RunInfo{RecordLayout: 1}, batches...)
	if err != nil {
		t.Fatal(err)
	}
	return result{lines: r.Lines, warnings: r.Warnings, finish: r.Finish}
}

func TestDescribe(t *testing.T) {
	info := vanish.New().Describe()
	if info.GetName() != "vanish" || info.GetVersion() != "0.1.0" || vanish.Version != "0.1.0" {
		t.Errorf("name, version = %q, %q; want vanish, 0.1.0", info.GetName(), info.GetVersion())
	}
	if info.GetLossless() {
		t.Error("an observer must not be lossless: it would slow the capture down")
	}
	w := info.GetWants()
	if !w.GetTraces() || !w.GetStats() || w.GetPackets() || w.GetPacketBytes() || w.GetFlows() || w.GetTopology() {
		t.Errorf("wants %v; want traces and stats only", w)
	}
	var opts []string
	for _, o := range info.GetOptions() {
		opts = append(opts, fmt.Sprintf("%s %s default=%q required=%v", o.GetName(), o.GetType(), o.GetDefault(), o.GetRequired()))
	}
	want := []string{`path path default="" required=false`, `min int default="1" required=false`, `ignore string default="" required=false`}
	if diff := cmp.Diff(want, opts); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestJudge: which traces are alerts, one trace per run.
func TestJudge(t *testing.T) {
	req := icmp("10.200.1.2", "10.200.2.2")
	cases := []struct {
		name  string
		trace *pb.Trace
		want  string // the alert's namespace, "" for none
	}{
		{"delivered to the bridge's address", trace(1, 1, icmp("10.200.1.2", "10.200.1.1"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"delivered to an address of another device of the namespace", trace(1, 1, icmp("10.200.1.2", "10.200.2.1"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"delivered to a link-local address", trace(1, 1, icmp("fe80::99", "fe80::10"), "eth0 in"), ""},
		{"forwarded: left through up0", trace(1, 1, req, "c1/eth0 out", "veth-c in", "br0 in", "up0 out"), ""},
		{"delivered in o1", trace(1, 1, req, "c1/eth0 out", "veth-c in", "br0 in", "up0 out", "o1/eth0 in"), ""},
		{"bridged: left through a port", trace(1, 1, icmp("10.200.1.2", "10.200.1.3"), "c1/eth0 out", "veth-c in", "veth-p2 out"), ""},
		{"dropped in the host", trace(1, 1, req, "c1/eth0 out", "veth-c in", "br0 in"), "host"},
		{"dropped in the host, IPv6", trace(1, 1, icmp("fd00:200:1::2", "fd00:200:2::2"), "c1/eth0 out", "veth-c in", "br0 in"), "host"},
		{"dropped by the bridge (first hop)", trace(1, 1, req, "veth-c in"), "host"},
		{"dropped in c1", trace(1, 1, icmp("10.200.2.2", "10.200.1.9"), "o1/eth0 out", "up0 in", "br0 out", "veth-c out", "c1/eth0 in"), "c1"},
		{"dropped in o1, seen only there", trace(1, 1, icmp("10.200.2.1", "10.200.3.3"), "o1/eth0 in"), "o1"},
		{"dropped in a namespace without a name", trace(1, 1, icmp("172.17.0.1", "172.17.0.9"), "netns:4026532800/eth0 in"), "netns:4026532800"},
		{"ARP", trace(1, 0, &pb.Tuple{Proto: "arp", Src: "10.200.1.2", Dst: "10.200.1.99"}, "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"limited broadcast", trace(1, 1, udp("0.0.0.0", "255.255.255.255"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"directed broadcast of a subnet of the namespace", trace(1, 1, udp("10.200.1.2", "10.200.1.255"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"IPv4 multicast", trace(1, 1, udp("10.200.1.2", "224.0.0.251"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"IPv6 multicast", trace(1, 1, udp("fd00:200:1::2", "ff02::fb"), "c1/eth0 out", "veth-c in", "br0 in"), ""},
		{"loopback", trace(1, 1, udp("127.0.0.1", "127.0.0.53"), "lo out", "lo in"), ""},
		{"loopback address arriving elsewhere", trace(1, 1, udp("10.200.1.2", "127.0.0.53"), "veth-c in"), ""},
		{"flooded to several namespaces, for none", trace(1, 1, icmp("10.200.1.2", "10.200.1.77"),
			"c1/eth0 out", "veth-c in", "veth-p2 out", "veth-p3 out", "p2/eth0 in", "p3/eth0 in"), ""},
		{"undecoded: no tuple", trace(1, 0, nil, "c1/eth0 out", "veth-c in"), ""},
		{"not an IP address", trace(1, 0, &pb.Tuple{Proto: "0x88cc", Src: "?", Dst: "?"}, "veth-c in"), ""},
		{"a device never announced", trace(1, 1, req, "if#99 in"), ""},
		{"a namespace without known addresses", trace(1, 1, req, "x/eth0 in"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, nil, nil, c.trace)
			if c.want == "" {
				if len(res.lines) != 0 {
					t.Errorf("lines %q; want none", res.lines)
				}
				if n := res.finish.GetCounters()["vanished"]; n != 0 {
					t.Errorf("counted %d vanished; want 0", n)
				}
				return
			}
			if len(res.lines) != 1 || !strings.Contains(res.lines[0], " entered "+c.want+" ("+c.trace.Path+") and never left") {
				t.Errorf("lines %q; want one saying it entered %s (%s) and never left", res.lines, c.want, c.trace.Path)
			}
		})
	}
}

// TestAlert pins the terminal line, the counters and the summary.
func TestAlert(t *testing.T) {
	tr := trace(42, 7, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in")
	res := run(t, nil, nil, tr,
		trace(43, 7, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in"),
		trace(44, 8, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in", "up0 out"))
	want := []string{
		"vanish: ICMP echo request 10.200.1.2 > 10.200.2.2 id 9 seq 42 entered host (c1/eth0 out → veth-c in → br0 in) and never left: dropped there (firewall, no route, rp_filter) [trace 42]",
		"vanish: ICMP echo request 10.200.1.2 > 10.200.2.2 id 9 seq 43 entered host (c1/eth0 out → veth-c in → br0 in) and never left: dropped there (firewall, no route, rp_filter) [trace 43, 2 so far in flow 7]",
	}
	if diff := cmp.Diff(want, res.lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if len(res.warnings) != 0 {
		t.Errorf("Consume warnings %q; want none", res.warnings)
	}
	wantCounters := map[string]uint64{"traces": 3, "vanished": 2, "alerts": 2, "below_min": 0, "ignored": 0, "unjudged": 0}
	if diff := cmp.Diff(wantCounters, res.finish.GetCounters()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	wantWarnings := []string{"vanish: 2 packets entered host and never left (1 flow); the first: trace 42, ICMP echo request 10.200.1.2 > 10.200.2.2 id 9 seq 42"}
	if diff := cmp.Diff(wantWarnings, res.finish.GetWarnings()); diff != "" {
		t.Errorf("Finish warnings (-want +got):\n%s", diff)
	}
	if len(res.finish.GetFiles()) != 0 {
		t.Errorf("files %q; want none without path", res.finish.GetFiles())
	}
}

// TestMin: only from the min-th vanished packet of a flow in a namespace on.
func TestMin(t *testing.T) {
	drop := func(id, flow uint64) *pb.Trace {
		return trace(id, flow, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in")
	}
	// Flow 7 vanishes three times in the host and once in c1; flow 8 once.
	inC1 := trace(5, 7, icmp("10.200.2.2", "10.200.1.9"), "up0 in", "br0 out", "veth-c out", "c1/eth0 in")
	res := run(t, map[string]string{"min": "2"}, nil, drop(1, 7), drop(2, 8), inC1, drop(3, 7), drop(4, 7))
	var got []string
	for _, l := range res.lines {
		got = append(got, l[strings.LastIndex(l, "["):])
	}
	if diff := cmp.Diff([]string{"[trace 3, 2 so far in flow 7]", "[trace 4, 3 so far in flow 7]"}, got); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	c := res.finish.GetCounters()
	if c["vanished"] != 5 || c["alerts"] != 2 || c["below_min"] != 3 {
		t.Errorf("counters %v; want 5 vanished, 2 alerts, 3 below min", c)
	}
	want := []string{
		"vanish: 4 packets entered host and never left (2 flows); the first: trace 1, ICMP echo request 10.200.1.2 > 10.200.2.2 id 9 seq 1; 2 not shown, below min=2",
		"vanish: 1 packet entered c1 and never left (1 flow); the first: trace 5, ICMP echo request 10.200.2.2 > 10.200.1.9 id 9 seq 5; 1 not shown, below min=2",
	}
	if diff := cmp.Diff(want, res.finish.GetWarnings()); diff != "" {
		t.Errorf("Finish warnings (-want +got):\n%s", diff)
	}
}

// TestIgnore: ignored namespaces are not judged, others are.
func TestIgnore(t *testing.T) {
	inHost := trace(1, 1, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in")
	inC1 := trace(2, 2, icmp("10.200.2.2", "10.200.1.9"), "up0 in", "br0 out", "veth-c out", "c1/eth0 in")
	inO1 := trace(3, 3, icmp("10.200.2.1", "10.200.3.3"), "o1/eth0 in")
	res := run(t, map[string]string{"ignore": "host;o1 x"}, nil, inHost, inC1, inO1)
	if len(res.lines) != 1 || !strings.Contains(res.lines[0], "entered c1 ") {
		t.Errorf("lines %q; want only the one in c1", res.lines)
	}
	if c := res.finish.GetCounters(); c["ignored"] != 2 || c["vanished"] != 1 {
		t.Errorf("counters %v; want 2 ignored, 1 vanished", c)
	}
	if w := res.finish.GetWarnings(); len(w) != 1 || !strings.Contains(w[0], "entered c1 ") {
		t.Errorf("Finish warnings %q; want one, for c1", w)
	}
	// Through gRPC a comma list arrives whole, as another host may send it.
	res = run(t, map[string]string{"ignore": "c1,host"}, nil, inHost, inC1)
	if len(res.lines) != 0 {
		t.Errorf("ignore=c1,host: lines %q; want none", res.lines)
	}
}

// TestPath: alerts are appended to the file as JSON lines.
func TestPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vanish.jsonl")
	const before = `{"type":"vanish","note":"an earlier run"}` + "\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := trace(42, 7, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in")
	tr.Hops[2].Tuple = &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 9}
	res := run(t, map[string]string{"path": path}, nil, tr,
		trace(43, 8, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in", "up0 out"))
	if diff := cmp.Diff([]string{path}, res.finish.GetFiles()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(before))
	if !ok {
		t.Fatalf("the file's earlier content is gone:\n%s", data)
	}
	var got []vanish.Alert
	for l := range bytes.Lines(rest) {
		var a vanish.Alert
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, a)
	}
	want := []vanish.Alert{{
		Type: "vanish", Time: "2023-11-14T22:13:20.000002000Z", TimeUnixNano: start.UnixNano() + 2000,
		Netns: "host", Device: "br0", TraceID: 42, FlowID: 7, Count: 1,
		Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 9,
		Summary: "ICMP echo request 10.200.1.2 > 10.200.2.2 id 9 seq 42", Path: "c1/eth0 out → veth-c in → br0 in",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}
	if !bytes.Contains(rest, []byte("→")) {
		t.Errorf("arrows escaped: %s", rest)
	}
}

// TestRelativePath: the file Finish reports is absolute.
func TestRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	res := run(t, map[string]string{"path": "v.jsonl"}, nil)
	if fs := res.finish.GetFiles(); len(fs) != 1 || !filepath.IsAbs(fs[0]) || filepath.Base(fs[0]) != "v.jsonl" {
		t.Errorf("files %q; want the absolute path of v.jsonl", fs)
	}
}

func TestConfigureErrors(t *testing.T) {
	cases := map[string]struct {
		opts map[string]string
		want string
	}{
		"min zero":        {map[string]string{"min": "0"}, "min=0"},
		"min negative":    {map[string]string{"min": "-2"}, "min=-2"},
		"min not a count": {map[string]string{"min": "three"}, "min=three"},
		"unknown option":  {map[string]string{"mni": "3"}, `unknown option "mni"`},
		"unwritable path": {map[string]string{"path": filepath.Join(t.TempDir(), "no", "such", "dir", "v.jsonl")}, "cannot append to"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := vanish.New()
			_, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: c.opts})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "vanish: ") {
				t.Errorf("Configure(%v) = %v; want an error with %q", c.opts, err, c.want)
			}
			if _, err := p.Finish(context.Background()); err != nil {
				t.Errorf("Finish after a failed Configure: %v", err)
			}
		})
	}
}

// TestInterfacesOnly: with -i, the namespaces' other addresses are unknown,
// and Configure says what that means.
func TestInterfacesOnly(t *testing.T) {
	for _, c := range []struct {
		args []string
		warn bool
	}{
		{[]string{"ifacetrace", "--netns", "all", "--plugin", "vanish"}, false},
		{[]string{"ifacetrace", "-i", "br0", "--plugin", "vanish"}, true},
		{[]string{"ifacetrace", "--interface=br0", "--plugin", "vanish"}, true},
		{[]string{"ifacetrace", "--plugin", "vanish", "--", "host", "-i"}, false},
	} {
		resp, err := vanish.New().Configure(context.Background(), &pb.ConfigureRequest{Run: &pb.RunInfo{CommandLine: c.args}})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resp.GetWarnings()) == 1 && strings.Contains(resp.GetWarnings()[0], "-i"); got != c.warn {
			t.Errorf("%q: warnings %q; want a warning about -i: %v", c.args, resp.GetWarnings(), c.warn)
		}
	}
}

// TestCaptureLoss: when the capture lost copies, the summary says that a
// packet reported may have left unseen.
func TestCaptureLoss(t *testing.T) {
	drop := trace(1, 1, icmp("10.200.1.2", "10.200.2.2"), "c1/eth0 out", "veth-c in", "br0 in")
	stats := &pb.Stats{
		Sockets:     []*pb.SocketStats{{Device: "any", Packets: 100, Drops: 3}, {Device: "c1/any", Packets: 10}},
		Correlation: &pb.CorrelationStats{LateSightings: 1},
	}
	res := run(t, nil, stats, drop)
	w := res.finish.GetWarnings()
	if len(w) != 2 || !strings.Contains(w[1], "3 frames") || !strings.Contains(w[1], "1 copy arrived after") {
		t.Errorf("Finish warnings %q; want the summary and one naming 3 dropped frames and 1 late copy", w)
	}
	// Without anything vanished, the loss is not the plugin's to report.
	res = run(t, nil, stats, trace(2, 1, icmp("10.200.1.2", "10.200.1.1"), "veth-c in", "br0 in"))
	if w := res.finish.GetWarnings(); len(w) != 0 {
		t.Errorf("Finish warnings %q; want none", w)
	}
}

// TestUnjudged: traces ending where no address is known are counted and
// reported once at the end.
func TestUnjudged(t *testing.T) {
	res := run(t, nil, nil, trace(1, 1, icmp("10.200.1.2", "10.200.2.2"), "x/eth0 in"), trace(2, 1, icmp("10.200.1.2", "10.200.2.2"), "if#99 in"))
	if c := res.finish.GetCounters(); c["unjudged"] != 2 {
		t.Errorf("counters %v; want 2 unjudged", c)
	}
	if w := res.finish.GetWarnings(); len(w) != 1 || !strings.Contains(w[0], "2 traces") {
		t.Errorf("Finish warnings %q; want one counting 2 traces", w)
	}
}

// TestManyFlows: the per-flow table stays bounded and counts what it forgets.
func TestManyFlows(t *testing.T) {
	p := vanish.New()
	ctx := context.Background()
	if _, err := p.Configure(ctx, &pb.ConfigureRequest{Options: map[string]string{"min": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Consume(ctx, &pb.Batch{Seq: 1, Interfaces: interfaces}, &sdk.Reporter{}); err != nil {
		t.Fatal(err)
	}
	n := vanish.MaxFlows + 10
	b := &pb.Batch{Seq: 2}
	for i := range n {
		b.Traces = append(b.Traces, trace(uint64(i), uint64(i+1), icmp("10.200.1.2", "10.200.2.2"), "veth-c in"))
	}
	if err := p.Consume(ctx, b, &sdk.Reporter{}); err != nil {
		t.Fatal(err)
	}
	resp, err := p.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.GetCounters(); c["vanished"] != uint64(n) || c["evicted"] != 10 || c["alerts"] != 0 {
		t.Errorf("counters %v; want %d vanished, 10 evicted, no alert", c, n)
	}
}

// TestReadmeExample: the JSON line README.md shows is what the plugin
// writes: the same fields, in the same order.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for l := range bytes.Lines(data) {
		l = bytes.TrimSpace(l)
		if !bytes.HasPrefix(l, []byte(`{"type":"vanish"`)) {
			continue
		}
		found = true
		var a vanish.Alert
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("README.md: %v\n%s", err, l)
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		if got := bytes.TrimSpace(out.Bytes()); !bytes.Equal(got, l) {
			t.Errorf("README.md example:\n%s\nwritten back:\n%s", l, got)
		}
		if ts, err := time.Parse(vanish.TimeLayout, a.Time); err != nil || ts.UnixNano() != a.TimeUnixNano {
			t.Errorf("README.md example: time %q and time_unix_nano %d disagree (%v)", a.Time, a.TimeUnixNano, err)
		}
	}
	if !found {
		t.Error("README.md shows no JSON line")
	}
}
