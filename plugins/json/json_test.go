package json_test

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-plugin"

	"github.com/ifacetrace/ifacetrace/plugins/json"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// The plugin is what sdk.Serve serves.
var _ sdk.Plugin = (*json.Plugin)(nil)

var update = flag.Bool("update", false, "rewrite testdata/golden.jsonl from the plugin's output")

func runInfo() *pb.RunInfo {
	return &pb.RunInfo{IfacetraceVersion: "test", Hostname: "testhost", Os: "Linux test", Snaplen: 262144, RecordLayout: 1}
}

// configure returns a plugin configured to write a file in a fresh
// temporary directory, and that file's path.
func configure(t testing.TB) (*json.Plugin, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	p := json.New()
	resp, err := p.Configure(context.Background(), &pb.ConfigureRequest{
		Options: map[string]string{"path": path},
		Run:     runInfo(),
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if len(resp.GetWarnings()) != 0 {
		t.Errorf("Configure warnings: %q", resp.GetWarnings())
	}
	return p, path
}

var start = time.Unix(1_700_000_000, 123_456_789)

// at is start plus us microseconds, in ns since the epoch.
func at(us int) int64 { return start.Add(time.Duration(us) * time.Microsecond).UnixNano() }

// A lab of two namespaces, c1 and labhost, behind the tracer's own: c1/eth0
// is a veth whose peer labhost/veth-c1 is a port of labhost/br0;
// labhost/up0 leads to eth0 in the tracer's namespace, with SNAT.
var (
	c1eth0 = &pb.Interface{
		Id: 1, Name: "c1/eth0", Ifname: "eth0", Ifindex: 2, Netns: "c1", NetnsInode: 4026532300,
		Kind: "veth", Hatype: 1, Mac: "02:c1:00:00:00:02", Mtu: 1500, Up: true, Carrier: true,
		Peer: "labhost/veth-c1", Addresses: []string{"10.200.1.2/24", "fd00:1::2/64"},
		Description: "veth, up, peer labhost/veth-c1, 02:c1:00:00:00:02, mtu 1500, 10.200.1.2/24, fd00:1::2/64", Snaplen: 262144,
	}
	vethC1 = &pb.Interface{
		Id: 2, Name: "labhost/veth-c1", Ifname: "veth-c1", Ifindex: 7, Netns: "labhost", NetnsInode: 4026532400,
		Kind: "veth", Hatype: 1, Mac: "02:00:00:00:01:01", Mtu: 1500, Up: true, Carrier: true,
		Master: "labhost/br0", Peer: "c1/eth0",
		Description: "veth, up, master labhost/br0, peer c1/eth0, 02:00:00:00:01:01, mtu 1500", Snaplen: 262144,
	}
	br0 = &pb.Interface{
		Id: 3, Name: "labhost/br0", Ifname: "br0", Ifindex: 5, Netns: "labhost", NetnsInode: 4026532400,
		Kind: "bridge", Hatype: 1, Mac: "02:00:00:00:01:00", Mtu: 1500, Up: true, Carrier: true,
		Addresses: []string{"10.200.1.1/24"}, Snaplen: 262144,
		Description: "bridge, up, 02:00:00:00:01:00, mtu 1500, 10.200.1.1/24",
	}
	up0 = &pb.Interface{
		Id: 4, Name: "labhost/up0", Ifname: "up0", Ifindex: 9, Netns: "labhost", NetnsInode: 4026532400,
		Kind: "veth", Hatype: 1, Mac: "02:00:00:00:02:01", Mtu: 1500, Up: true, Carrier: true,
		Peer: "eth0", Addresses: []string{"10.200.2.1/24"}, Snaplen: 262144,
		Description: "veth, up, peer eth0, 02:00:00:00:02:01, mtu 1500, 10.200.2.1/24",
	}
	eth0 = &pb.Interface{
		Id: 5, Name: "eth0", Ifname: "eth0", Ifindex: 3, NetnsInode: 4026531840,
		Kind: "veth", Hatype: 1, Mac: "02:00:00:00:02:02", Mtu: 1500, Up: true, Carrier: true,
		Peer: "labhost/up0", Addresses: []string{"10.200.2.2/24"}, Snaplen: 262144,
		Description: "veth, up, peer labhost/up0, 02:00:00:00:02:02, mtu 1500, 10.200.2.2/24",
	}
	// lo is announced in the batch of the first trace that uses it.
	lo = &pb.Interface{
		Id: 6, Name: "labhost/lo", Ifname: "lo", Ifindex: 1, Netns: "labhost", NetnsInode: 4026532400,
		Kind: "loopback", Hatype: 772, Mtu: 65536, Up: true, Carrier: true,
		Addresses: []string{"127.0.0.1/8"}, Snaplen: 262144, Description: "loopback, up, mtu 65536, 127.0.0.1/8",
	}
)

func udp(src, dst string) *pb.Tuple {
	return &pb.Tuple{Proto: "udp", Src: src, Sport: 40000, Dst: dst, Dport: 53}
}

const snat = "SNAT 10.200.1.2→10.200.2.1"

// dns is a five-hop trace from c1 to the tracer's namespace, source NATed
// on its way out of labhost.
var dns = &pb.Trace{
	Id: 101, TimeUnixNano: at(0), TransitNanos: 24_000,
	Hops: []*pb.Hop{
		{InterfaceId: 1, Direction: "out", TimeUnixNano: at(0), Length: 74, Ttl: 64, Tuple: udp("10.200.1.2", "10.200.2.2")},
		{InterfaceId: 2, Direction: "in", TimeUnixNano: at(3), Length: 74, Ttl: 64, Tuple: udp("10.200.1.2", "10.200.2.2")},
		{InterfaceId: 3, Direction: "in", TimeUnixNano: at(5), Length: 74, Ttl: 64, Tuple: udp("10.200.1.2", "10.200.2.2")},
		{InterfaceId: 4, Direction: "out", TimeUnixNano: at(21), Length: 74, Ttl: 63, Tuple: udp("10.200.2.1", "10.200.2.2")},
		{InterfaceId: 5, Direction: "in", TimeUnixNano: at(24), Length: 74, Ttl: 63, Tuple: udp("10.200.2.1", "10.200.2.2")},
	},
	Changes: []string{snat},
	Summary: "UDP 10.200.1.2:40000 → 10.200.2.2:53 len 32 <dns>",
	Path:    "c1/eth0 out → labhost/veth-c1 in → labhost/br0 in → labhost/up0 out → eth0 in",
	FlowId:  7,
}

// fixture is a four-batch run: five devices with two traces (and packet
// records, which the plugin must ignore), a device announced with the trace
// that uses it and two flows, statistics, and records alone.
func fixture() []*pb.Batch {
	arp := &pb.Trace{
		Id: 102, TimeUnixNano: at(100),
		Hops:    []*pb.Hop{{InterfaceId: 1, Direction: "out", TimeUnixNano: at(100), Length: 42, Tuple: &pb.Tuple{Proto: "arp", Src: "10.200.1.2", Dst: "10.200.1.1"}}},
		Summary: "ARP who-has 10.200.1.1 tell 10.200.1.2", Path: "c1/eth0 out",
	}
	ping := &pb.Trace{
		Id: 103, TimeUnixNano: at(200), TransitNanos: 2_000,
		Hops: []*pb.Hop{
			{InterfaceId: 6, Direction: "out", TimeUnixNano: at(200), Length: 98, Ttl: 64, Tuple: &pb.Tuple{Proto: "icmp", Src: "127.0.0.1", Dst: "127.0.0.1", Sport: 9}},
			{InterfaceId: 6, Direction: "in", TimeUnixNano: at(202), Length: 98, Ttl: 64, Tuple: &pb.Tuple{Proto: "icmp", Src: "127.0.0.1", Dst: "127.0.0.1", Sport: 9}},
		},
		Summary: "ICMP echo request 127.0.0.1 → 127.0.0.1 id 9 seq 1", Path: "labhost/lo out → labhost/lo in", FlowId: 8,
	}
	flowDNS := &pb.Flow{
		Id: 7, Tuple: udp("10.200.1.2", "10.200.2.2"), FirstUnixNano: at(0), LastUnixNano: at(900),
		PacketsForward: 3, PacketsReverse: 2, BytesForward: 222, BytesReverse: 300,
		Paths: []*pb.PathCount{
			{Path: dns.Path, Count: 3},
			{Path: "eth0 out → labhost/up0 in → labhost/br0 out → labhost/veth-c1 out → c1/eth0 in", Count: 2},
		},
		Nat: []string{snat},
		HopTimes: []*pb.HopTime{
			{From: "c1/eth0 out", To: "labhost/veth-c1 in", Count: 3, MinNanos: 2000, MedianNanos: 3000, MaxNanos: 9000},
		},
		Conntrack: []*pb.Conntrack{{
			Netns: "labhost", Orig: udp("10.200.1.2", "10.200.2.2"), Reply: &pb.Tuple{Proto: "udp", Src: "10.200.2.2", Sport: 53, Dst: "10.200.2.1", Dport: 40000},
			Status: []string{"SEEN_REPLY", "CONFIRMED", "SRC_NAT"}, Nat: []string{snat}, Confirmed: true,
		}},
	}
	flowPing := &pb.Flow{
		Id: 8, Tuple: &pb.Tuple{Proto: "icmp", Src: "127.0.0.1", Dst: "127.0.0.1", Sport: 9},
		FirstUnixNano: at(200), LastUnixNano: at(200), PacketsForward: 1, BytesForward: 98, Final: true,
	}
	stats := &pb.Stats{
		StartUnixNano: start.UnixNano(), EndUnixNano: start.Add(2 * time.Second).UnixNano(), Sightings: 8,
		Interfaces: []*pb.InterfaceStats{
			{Id: 1, ReceivedOut: 2, HasDropped: true}, // dropped 0, but known
			{Id: 3, ReceivedIn: 1},
			{Id: 99, ReceivedIn: 1}, // never announced
		},
		Sockets: []*pb.SocketStats{{Device: "any", Packets: 10}, {Device: "labhost/br0", Packets: 5, Drops: 1}},
		Correlation: &pb.CorrelationStats{
			Traces: 3, MultiHopTraces: 2, Flows: 2, LateSightings: 1, WindowNanos: 50_000_000, MaxTraces: 65536,
		},
	}
	garbage := []byte{0xde, 0xad, 0xbe, 0xef}
	return []*pb.Batch{
		{Seq: 1, Interfaces: []*pb.Interface{c1eth0, vethC1, br0, up0, eth0}, Traces: []*pb.Trace{dns, arp},
			Records: garbage, RecordCount: 1},
		{Seq: 2, Flows: []*pb.Flow{flowDNS, flowPing}, Traces: []*pb.Trace{ping}, Interfaces: []*pb.Interface{lo}},
		{Seq: 3, Stats: stats},
		{Seq: 4, Records: garbage, RecordCount: 1},
	}
}

// run feeds batches to a configured plugin, finishes it and returns the
// file's lines.
func run(t *testing.T, batches []*pb.Batch) (lines [][]byte, resp *pb.FinishResponse, path string) {
	t.Helper()
	p, path := configure(t)
	ctx := context.Background()
	for _, b := range batches {
		if err := p.Consume(ctx, b, &sdk.Reporter{}); err != nil {
			t.Fatalf("Consume batch %d: %v", b.Seq, err)
		}
	}
	resp, err := p.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the file does not end with a newline")
	}
	for l := range bytes.Lines(data) {
		lines = append(lines, l)
	}
	return lines, resp, path
}

// decode reads one line as a generic object, numbers kept exact.
func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	dec := stdjson.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("line is not a JSON object: %v\n%s", err, line)
	}
	return m
}

func TestDescribe(t *testing.T) {
	info := json.New().Describe()
	if info.GetName() != "json" || info.GetVersion() != json.Version || json.Version != "0.1.0" {
		t.Errorf("name, version = %q, %q; want json, 0.1.0", info.GetName(), info.GetVersion())
	}
	if !info.GetLossless() {
		t.Error("a file writer must be lossless")
	}
	want := &pb.Subscriptions{Traces: true, Flows: true, Stats: true}
	if w := info.GetWants(); w.GetPackets() != want.Packets || w.GetPacketBytes() != want.PacketBytes || w.GetTraces() != want.Traces ||
		w.GetFlows() != want.Flows || w.GetStats() != want.Stats || w.GetTopology() {
		t.Errorf("wants %v; want traces, flows and stats only", w)
	}
	var opts []string
	for _, o := range info.GetOptions() {
		opts = append(opts, fmt.Sprintf("%s %s required=%v", o.GetName(), o.GetType(), o.GetRequired()))
	}
	if diff := cmp.Diff([]string{"path path required=true"}, opts); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestWriteRead runs the fixture and reads the file back: the sequence of
// line types, every line against the schema, the documented meaning of
// fields one by one, and the whole output against testdata/golden.jsonl.
func TestWriteRead(t *testing.T) {
	lines, resp, path := run(t, fixture())

	if diff := cmp.Diff([]string{path}, resp.GetFiles()); diff != "" {
		t.Errorf("Finish files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"traces": 3, "flows": 2, "lines": 12}, resp.GetCounters()); diff != "" {
		t.Errorf("Finish counters (-want +got):\n%s", diff)
	}
	if len(resp.GetWarnings()) != 0 {
		t.Errorf("Finish warnings %q; want none", resp.GetWarnings())
	}

	var types []string
	objs := make([]map[string]any, len(lines))
	for i, l := range lines {
		if err := json.Validate(l); err != nil {
			t.Errorf("line %d: %v", i+1, err)
		}
		objs[i] = decode(t, l)
		types = append(types, fmt.Sprint(objs[i]["type"]))
	}
	// Per batch: interfaces, traces, flows, stats; records never.
	wantTypes := []string{
		"interface", "interface", "interface", "interface", "interface", "trace", "trace",
		"interface", "trace", "flow", "flow",
		"stats",
	}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Fatalf("line types (-want +got):\n%s", diff)
	}
	n := func(v any) stdjson.Number { return stdjson.Number(fmt.Sprint(v)) }

	t.Run("interfaces", func(t *testing.T) {
		want := map[string]any{
			"type": "interface", "id": n(1), "name": "c1/eth0", "netns": "c1", "netns_inode": n(4026532300),
			"ifname": "eth0", "ifindex": n(2), "kind": "veth", "hatype": n(1), "mac": "02:c1:00:00:00:02", "mtu": n(1500),
			"up": true, "carrier": true, "master": "", "peer": "labhost/veth-c1",
			"addresses": []any{"10.200.1.2/24", "fd00:1::2/64"}, "description": c1eth0.Description, "snaplen": n(262144),
		}
		if diff := cmp.Diff(want, objs[0]); diff != "" {
			t.Errorf("c1/eth0 (-want +got):\n%s", diff)
		}
		if got := objs[1]["addresses"]; !cmp.Equal(got, []any{}) {
			t.Errorf("labhost/veth-c1 addresses = %#v; want [] for none", got)
		}
		if got := objs[1]["master"]; got != "labhost/br0" {
			t.Errorf("labhost/veth-c1 master = %v, want labhost/br0", got)
		}
		// The tracer's own namespace is "", and still written.
		if got, ok := objs[4]["netns"]; !ok || got != "" || objs[4]["name"] != "eth0" {
			t.Errorf("eth0: netns %#v (present %v), name %v; want netns \"\" and name eth0", got, ok, objs[4]["name"])
		}
	})

	t.Run("trace", func(t *testing.T) {
		tr := objs[5]
		wantTop := map[string]any{
			"type": "trace", "id": n(101), "time": "2023-11-14T22:13:20.123456789Z", "time_unix_nano": n(at(0)),
			"transit_ns": n(24000), "summary": dns.Summary, "path": dns.Path, "flow_id": n(7),
			"changes": []any{snat},
		}
		got := map[string]any{}
		for k, v := range tr {
			if k != "hops" {
				got[k] = v
			}
		}
		if diff := cmp.Diff(wantTop, got); diff != "" {
			t.Errorf("trace 101 (-want +got):\n%s", diff)
		}
		hops, _ := tr["hops"].([]any)
		if len(hops) != 5 {
			t.Fatalf("trace 101: %d hops, want 5", len(hops))
		}
		type hop struct{ Netns, Ifname, Device, Dir, Time, Src string }
		var gotHops []hop
		var offsets []stdjson.Number
		for _, h := range hops {
			h := h.(map[string]any)
			gotHops = append(gotHops, hop{h["netns"].(string), h["ifname"].(string), h["device"].(string), h["direction"].(string), h["time"].(string), h["src"].(string)})
			offsets = append(offsets, h["offset_ns"].(stdjson.Number))
		}
		wantHops := []hop{
			{"c1", "eth0", "c1/eth0", "out", "2023-11-14T22:13:20.123456789Z", "10.200.1.2"},
			{"labhost", "veth-c1", "labhost/veth-c1", "in", "2023-11-14T22:13:20.123459789Z", "10.200.1.2"},
			{"labhost", "br0", "labhost/br0", "in", "2023-11-14T22:13:20.123461789Z", "10.200.1.2"},
			{"labhost", "up0", "labhost/up0", "out", "2023-11-14T22:13:20.123477789Z", "10.200.2.1"},
			{"", "eth0", "eth0", "in", "2023-11-14T22:13:20.123480789Z", "10.200.2.1"},
		}
		if diff := cmp.Diff(wantHops, gotHops); diff != "" {
			t.Errorf("trace 101 hops (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]stdjson.Number{"0", "3000", "5000", "21000", "24000"}, offsets); diff != "" {
			t.Errorf("trace 101 offset_ns (-want +got):\n%s", diff)
		}
		wantLast := map[string]any{
			"netns": "", "ifname": "eth0", "device": "eth0", "interface_id": n(5), "direction": "in",
			"time": "2023-11-14T22:13:20.123480789Z", "time_unix_nano": n(at(24)), "offset_ns": n(24000),
			"length": n(74), "ttl": n(63), "proto": "udp", "src": "10.200.2.1", "dst": "10.200.2.2", "sport": n(40000), "dport": n(53),
		}
		if diff := cmp.Diff(wantLast, hops[4]); diff != "" {
			t.Errorf("trace 101 last hop (-want +got):\n%s", diff)
		}
		// No changes: [], not null or absent.
		if got, ok := objs[6]["changes"]; !ok || !cmp.Equal(got, []any{}) {
			t.Errorf("trace 102 changes = %#v (present %v); want []", got, ok)
		}
		// A device announced in the same batch as its trace is named.
		if got := objs[8]["hops"].([]any)[0].(map[string]any)["device"]; got != "labhost/lo" {
			t.Errorf("trace 103 device = %v, want labhost/lo", got)
		}
	})

	t.Run("flows", func(t *testing.T) {
		want := map[string]any{
			"type": "flow", "id": n(7), "proto": "udp", "src": "10.200.1.2", "dst": "10.200.2.2", "sport": n(40000), "dport": n(53),
			"first": "2023-11-14T22:13:20.123456789Z", "first_unix_nano": n(at(0)),
			"last": "2023-11-14T22:13:20.124356789Z", "last_unix_nano": n(at(900)),
			"packets": map[string]any{"forward": n(3), "reverse": n(2)},
			"bytes":   map[string]any{"forward": n(222), "reverse": n(300)},
			"paths": []any{
				map[string]any{"path": dns.Path, "count": n(3)},
				map[string]any{"path": "eth0 out → labhost/up0 in → labhost/br0 out → labhost/veth-c1 out → c1/eth0 in", "count": n(2)},
			},
			"nat": []any{snat}, "final": false,
			"hop_times": []any{map[string]any{"from": "c1/eth0 out", "to": "labhost/veth-c1 in", "count": n(3), "min_ns": n(2000), "median_ns": n(3000), "max_ns": n(9000)}},
			"conntrack": []any{map[string]any{
				"netns": "labhost", "zone": n(0), "mark": n(0), "state": "", "confirmed": true, "destroyed": false,
				"orig":   map[string]any{"proto": "udp", "src": "10.200.1.2", "dst": "10.200.2.2", "sport": n(40000), "dport": n(53)},
				"reply":  map[string]any{"proto": "udp", "src": "10.200.2.2", "dst": "10.200.2.1", "sport": n(53), "dport": n(40000)},
				"status": []any{"SEEN_REPLY", "CONFIRMED", "SRC_NAT"}, "nat": []any{snat},
			}},
		}
		if diff := cmp.Diff(want, objs[9]); diff != "" {
			t.Errorf("flow 7 (-want +got):\n%s", diff)
		}
		for _, k := range []string{"nat", "paths", "hop_times", "conntrack"} {
			if got, ok := objs[10][k]; !ok || !cmp.Equal(got, []any{}) {
				t.Errorf("flow 8 %s = %#v (present %v); want []", k, got, ok)
			}
		}
		if objs[10]["final"] != true {
			t.Errorf("flow 8 final = %v, want true", objs[10]["final"])
		}
	})

	t.Run("stats", func(t *testing.T) {
		want := map[string]any{
			"type": "stats", "start": "2023-11-14T22:13:20.123456789Z", "start_unix_nano": n(start.UnixNano()),
			"end": "2023-11-14T22:13:22.123456789Z", "end_unix_nano": n(start.Add(2 * time.Second).UnixNano()),
			"sightings": n(8),
			"interfaces": []any{
				// dropped only when has_dropped, even when 0
				map[string]any{"id": n(1), "device": "c1/eth0", "in": n(0), "out": n(2), "dropped": n(0)},
				map[string]any{"id": n(3), "device": "labhost/br0", "in": n(1), "out": n(0)},
				map[string]any{"id": n(99), "device": "if#99", "in": n(1), "out": n(0)},
			},
			"sockets": []any{
				map[string]any{"device": "any", "packets": n(10), "drops": n(0)},
				map[string]any{"device": "labhost/br0", "packets": n(5), "drops": n(1)},
			},
			"correlation": map[string]any{
				"traces": n(3), "multi_hop_traces": n(2), "flows": n(2), "evicted_traces": n(0),
				"late_sightings": n(1), "undecoded": n(0), "window_ns": n(50_000_000), "max_traces": n(65536),
			},
		}
		if diff := cmp.Diff(want, objs[11]); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})

	t.Run("jq-friendly", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Arrays are never null; nothing is null.
		if bytes.Contains(data, []byte("null")) {
			t.Errorf("the file contains null:\n%s", data)
		}
		// < and > stay as they are (no \u003c), for grep.
		if !bytes.Contains(data, []byte("<dns>")) {
			t.Errorf("the summary's <dns> was escaped:\n%s", lines[5])
		}
	})

	t.Run("golden", func(t *testing.T) {
		golden := filepath.Join("testdata", "golden.jsonl")
		got := bytes.Join(lines, nil)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -run TestWriteRead/golden -update writes it)", err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("output differs from %s (-want +got):\n%s", golden, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
		}
	})
}

// TestJq pipes the output through jq, the tool it is written for, with the
// one-liners docs/json.md gives. jq is optional: without it the test skips.
func TestJq(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not on PATH (optional: apt-get install jq)")
	}
	_, _, path := run(t, fixture())
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"hops per trace", []string{"-c", `select(.type=="trace") | .hops | length`}, "5\n1\n2\n"},
		{"traces with SNAT", []string{"-c", `select(.type=="trace" and any(.changes[]; startswith("SNAT"))) | {id, path, changes}`},
			`{"id":101,"path":"` + dns.Path + `","changes":["` + snat + `"]}` + "\n"},
		{"paths per flow", []string{"-r", `select(.type=="flow") | "\(.id) \(.proto) \(.src):\(.sport) → \(.dst):\(.dport)", (.paths[] | "  \(.count)× \(.path)")`},
			"7 udp 10.200.1.2:40000 → 10.200.2.2:53\n" +
				"  3× " + dns.Path + "\n" +
				"  2× eth0 out → labhost/up0 in → labhost/br0 out → labhost/veth-c1 out → c1/eth0 in\n" +
				"8 icmp 127.0.0.1:9 → 127.0.0.1:0\n"},
		{"hops of trace N", []string{"-r", "--argjson", "id", "101", `select(.type=="trace" and .id==$id) | .hops[] | [.offset_ns, .device, .direction, .src, .dst, .ttl] | @tsv`},
			"0\tc1/eth0\tout\t10.200.1.2\t10.200.2.2\t64\n" +
				"3000\tlabhost/veth-c1\tin\t10.200.1.2\t10.200.2.2\t64\n" +
				"5000\tlabhost/br0\tin\t10.200.1.2\t10.200.2.2\t64\n" +
				"21000\tlabhost/up0\tout\t10.200.2.1\t10.200.2.2\t63\n" +
				"24000\teth0\tin\t10.200.2.1\t10.200.2.2\t63\n"},
		{"drops per socket", []string{"-c", `select(.type=="stats") | .sockets[] | select(.drops > 0)`},
			`{"device":"labhost/br0","packets":5,"drops":1}` + "\n"},
		{"one object per line", []string{"-c", `.type`}, strings.Repeat(`"interface"`+"\n", 5) + strings.Repeat(`"trace"`+"\n", 2) +
			`"interface"` + "\n" + `"trace"` + "\n" + strings.Repeat(`"flow"`+"\n", 2) + `"stats"` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(jq, append(c.args, path)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Fatalf("jq %q: %v\n%s", c.args, err, stderr.String())
			}
			if diff := cmp.Diff(c.want, stdout.String()); diff != "" {
				t.Errorf("jq %q (-want +got):\n%s", c.args, diff)
			}
		})
	}
}

// TestDocExamples validates every example line of docs/json.md (its json
// code blocks) against the schema.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	in := false
	for l := range strings.Lines(string(doc)) {
		switch l = strings.TrimSuffix(l, "\n"); {
		case l == "```json":
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in && l != "":
			if err := json.Validate([]byte(l)); err != nil {
				t.Errorf("docs/json.md: %v", err)
			}
			var m map[string]any
			_ = stdjson.Unmarshal([]byte(l), &m)
			seen[fmt.Sprint(m["type"])] = true
		}
	}
	for _, typ := range []string{"interface", "trace", "flow", "stats"} {
		if !seen[typ] {
			t.Errorf("docs/json.md has no example %s line", typ)
		}
	}
}

// connect serves p over an in-process gRPC connection, as ifacetrace sees it.
func connect(t *testing.T, p sdk.Plugin) pb.PluginClient {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.PluginSets(p)[sdk.ProtocolVersion])
	t.Cleanup(func() {
		// The server first: closing the client first races inside go-plugin.
		server.Stop()
		client.Close()
	})
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(pb.PluginClient)
}

// TestUnknownInterface: a hop on an interface never announced is written as
// device "if#ID", warned about once and counted, without failing the run.
func TestUnknownInterface(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pc := connect(t, json.New())
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if _, err := pc.Configure(ctx, &pb.ConfigureRequest{Options: map[string]string{"path": path}, Run: runInfo()}); err != nil {
		t.Fatal(err)
	}
	hop := func(id uint32) *pb.Hop { return &pb.Hop{InterfaceId: id, Direction: "in", TimeUnixNano: at(0)} }
	batches := []*pb.Batch{
		{Seq: 1, Interfaces: []*pb.Interface{br0}, Traces: []*pb.Trace{{Id: 1, TimeUnixNano: at(0), Hops: []*pb.Hop{hop(42), hop(3), hop(43)}}}},
		{Seq: 2, Traces: []*pb.Trace{{Id: 2, TimeUnixNano: at(0), Hops: []*pb.Hop{hop(44)}}}},
	}
	stream, err := pc.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := stream.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for {
		rep, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break // the plugin consumed everything
		}
		if err != nil {
			t.Fatalf("Consume: %v", err)
		}
		warnings = append(warnings, rep.GetWarnings()...)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "interface 42") || !strings.Contains(warnings[0], `"if#42"`) {
		t.Errorf("warnings %q; want one, naming interface 42 and device \"if#42\"", warnings)
	}
	resp, err := pc.Finish(ctx, &pb.FinishRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetWarnings()) != 1 || !strings.Contains(resp.GetWarnings()[0], "3 hops") {
		t.Errorf("Finish warnings %q; want one counting 3 hops", resp.GetWarnings())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var devices []string
	for l := range bytes.Lines(data) {
		if err := json.Validate(l); err != nil {
			t.Error(err)
		}
		m := decode(t, l)
		if m["type"] != "trace" {
			continue
		}
		for _, h := range m["hops"].([]any) {
			h := h.(map[string]any)
			devices = append(devices, fmt.Sprintf("%s|%s|%s", h["netns"], h["ifname"], h["device"]))
		}
	}
	want := []string{"||if#42", "labhost|br0|labhost/br0", "||if#43", "||if#44"}
	if diff := cmp.Diff(want, devices); diff != "" {
		t.Errorf("hop netns|ifname|device (-want +got):\n%s", diff)
	}
}

// TestValidate: Validate accepts what the plugin writes and rejects a line
// with any field missing or of the wrong JSON type, so that it can fail.
func TestValidate(t *testing.T) {
	lines, _, _ := run(t, fixture())
	examples := map[string][]byte{} // the first line of each type
	for _, l := range lines {
		typ := fmt.Sprint(decode(t, l)["type"])
		if examples[typ] == nil {
			examples[typ] = l
		}
	}

	// The fields the plugin's documentation promises, by type (hops.x is x
	// in every hop, and so on).
	required := map[string][]string{
		"interface": {"type", "id", "name", "netns", "netns_inode", "ifname", "ifindex", "kind", "mac", "mtu", "master", "peer", "addresses"},
		"trace": {"type", "id", "time", "time_unix_nano", "transit_ns", "summary", "path", "flow_id", "changes", "hops",
			"hops.netns", "hops.ifname", "hops.device", "hops.interface_id", "hops.direction", "hops.time", "hops.time_unix_nano",
			"hops.offset_ns", "hops.length", "hops.ttl", "hops.proto", "hops.src", "hops.dst", "hops.sport", "hops.dport"},
		"flow": {"type", "id", "proto", "src", "dst", "sport", "dport", "first", "last", "packets", "packets.forward", "packets.reverse",
			"bytes", "bytes.forward", "bytes.reverse", "paths", "paths.path", "paths.count", "nat", "final"},
		"stats": {"type", "start", "end", "sightings", "interfaces", "interfaces.id", "interfaces.device", "interfaces.in", "interfaces.out",
			"sockets", "sockets.device", "sockets.packets", "sockets.drops", "correlation.traces", "correlation.multi_hop_traces",
			"correlation.flows", "correlation.evicted_traces", "correlation.late_sightings", "correlation.undecoded",
			"correlation.window_ns", "correlation.max_traces"},
	}
	// Fields that may be absent: dropped without has_dropped, correlation
	// when the host has none.
	optional := map[string]bool{"stats interfaces.dropped": true, "stats correlation": true}

	for typ, line := range examples {
		if err := json.Validate(line); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		paths := fieldPaths(decode(t, line), nil)
		var names []string
		for _, p := range paths {
			names = append(names, p.name())
		}
		for _, r := range required[typ] {
			if !slices.Contains(names, r) {
				t.Errorf("%s: the plugin does not write %s", typ, r)
			}
		}
		for _, p := range paths {
			t.Run(typ+" "+p.name(), func(t *testing.T) {
				if p.arrayElement() {
					// Arrays of strings hold strings only.
					bad := mutate(t, line, p, func(parent any, key any) { setIn(parent, key, stdjson.Number("5")) })
					if err := json.Validate(bad); err == nil {
						t.Errorf("Validate accepts a number in %s:\n%s", p.name(), bad)
					}
					return
				}
				del := mutate(t, line, p, func(parent any, key any) { delete(parent.(map[string]any), key.(string)) })
				err := json.Validate(del)
				if optional[typ+" "+p.name()] {
					if err != nil {
						t.Errorf("Validate rejects a line without optional %s: %v", p.name(), err)
					}
				} else if err == nil {
					t.Errorf("Validate accepts a line without %s:\n%s", p.name(), del)
				} else if last := p[len(p)-1].(string); !strings.Contains(err.Error(), last) {
					t.Errorf("Validate's error %q does not name %s", err, last)
				}
				for _, wrong := range wrongValues(p.get(decode(t, line))) {
					bad := mutate(t, line, p, func(parent any, key any) { setIn(parent, key, wrong) })
					if err := json.Validate(bad); err == nil {
						t.Errorf("Validate accepts %s = %s:\n%s", p.name(), mustMarshal(t, wrong), bad)
					}
				}
			})
		}
	}

	// Values of the right JSON type that the schema still rejects, and
	// lines that are not objects of a known type.
	set := func(typ, field string, v any) []byte {
		p := path{field}
		return mutate(t, examples[typ], p, func(parent any, key any) { setIn(parent, key, v) })
	}
	bad := map[string][]byte{
		"empty":                 []byte(""),
		"null":                  []byte("null"),
		"array":                 []byte(`[{"type":"trace"}]`),
		"string":                []byte(`"trace"`),
		"empty object":          []byte(`{}`),
		"type not first":        []byte(`{"id":1,"type":"trace"}`),
		"unknown type":          []byte(`{"type":"packet"}`),
		"type not a string":     []byte(`{"type":1}`),
		"two objects":           append(bytes.TrimSuffix(examples["flow"], []byte("\n")), examples["flow"]...),
		"trailing garbage":      append(bytes.TrimSuffix(examples["flow"], []byte("\n")), " x\n"...),
		"two lines":             bytes.Replace(examples["flow"], []byte(`,"id"`), []byte(",\n\"id\""), 1),
		"truncated":             examples["trace"][:len(examples["trace"])/2],
		"negative id":           set("trace", "id", stdjson.Number("-1")),
		"fractional length":     set("flow", "sport", stdjson.Number("1.5")),
		"exponent":              set("flow", "sport", stdjson.Number("1e3")),
		"id beyond uint64":      set("trace", "id", stdjson.Number("18446744073709551616")),
		"time not UTC":          set("trace", "time", "2023-11-14T23:13:20.123456789+01:00"),
		"time short fraction":   set("trace", "time", "2023-11-14T22:13:20.1Z"),
		"time without fraction": set("flow", "first", "2023-11-14T22:13:20Z"),
		"time not a time":       set("stats", "end", "yesterday"),
		"direction":             mutate(t, examples["trace"], path{"hops", 0, "direction"}, func(parent any, key any) { setIn(parent, key, "sideways") }),
	}
	for name, line := range bad {
		if err := json.Validate(line); err == nil {
			t.Errorf("Validate accepts %s: %s", name, line)
		}
	}
	// New fields are welcome; whitespace and a missing final newline too.
	good := map[string][]byte{
		"added field":     set("flow", "vlan", stdjson.Number("100")),
		"no newline":      bytes.TrimSuffix(examples["stats"], []byte("\n")),
		"spaces":          []byte(strings.Replace(string(examples["interface"]), `{"type":`, `{ "type" : `, 1)),
		"ID at uint64max": set("trace", "id", stdjson.Number("18446744073709551615")),
	}
	for name, line := range good {
		if err := json.Validate(line); err != nil {
			t.Errorf("Validate rejects %s: %v", name, err)
		}
	}
}

// path is the way to a field in a decoded line: keys and array indices.
type path []any

func (p path) name() string {
	var s []string
	for _, k := range p {
		if k, ok := k.(string); ok {
			s = append(s, k)
		}
	}
	return strings.Join(s, ".")
}

// arrayElement says whether p ends at an element of an array.
func (p path) arrayElement() bool { _, ok := p[len(p)-1].(int); return ok }

func (p path) get(v any) any {
	for _, k := range p {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// fieldPaths lists every field of v: members of objects, and the first
// element of every non-empty array (objects in it are walked in turn).
func fieldPaths(v any, prefix path) []path {
	var out []path
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := append(slices.Clone(prefix), k)
			out = append(out, p)
			out = append(out, fieldPaths(v[k], p)...)
		}
	case []any:
		if len(v) > 0 {
			p := append(slices.Clone(prefix), 0)
			if _, isObj := v[0].(map[string]any); isObj {
				return fieldPaths(v[0], p)
			}
			out = append(out, p)
		}
	}
	return out
}

// mutate decodes line afresh, applies op to the parent of p's last step,
// and encodes it again with "type" first, as the plugin does.
func mutate(t *testing.T, line []byte, p path, op func(parent any, key any)) []byte {
	t.Helper()
	m := decode(t, line)
	op(p[:len(p)-1].get(m), p[len(p)-1])
	typ, hasType := m["type"]
	delete(m, "type")
	rest := mustMarshal(t, m)
	if !hasType {
		return rest
	}
	head := `{"type":` + string(mustMarshal(t, typ))
	if string(rest) == "{}" {
		return []byte(head + "}")
	}
	return []byte(head + "," + string(rest[1:]))
}

func setIn(parent any, key any, v any) {
	switch k := key.(type) {
	case string:
		parent.(map[string]any)[k] = v
	case int:
		parent.([]any)[k] = v
	}
}

// wrongValues are values of every JSON type but v's.
func wrongValues(v any) []any {
	all := map[string]any{"string": "5", "number": stdjson.Number("5"), "bool": true, "array": []any{}, "object": map[string]any{}}
	var mine string
	switch v.(type) {
	case string:
		mine = "string"
	case stdjson.Number:
		mine = "number"
	case bool:
		mine = "bool"
	case []any:
		mine = "array"
	case map[string]any:
		mine = "object"
	}
	out := []any{nil}
	for _, k := range []string{"string", "number", "bool", "array", "object"} {
		if k != mine {
			out = append(out, all[k])
		}
	}
	return out
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := stdjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		options map[string]string
		want    []string // substrings of the error
	}{
		{"no path", nil, []string{"path", "required"}},
		{"empty path", map[string]string{"path": ""}, []string{"path", "required"}},
		{"missing directory", map[string]string{"path": filepath.Join(dir, "no", "such", "dir", "out.jsonl")},
			[]string{filepath.Join(dir, "no", "such", "dir", "out.jsonl"), "writable"}},
		{"path is a directory", map[string]string{"path": dir}, []string{dir, "writable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := json.New()
			_, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: c.options, Run: runInfo()})
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Finish after a failed Configure has nothing to close.
			if _, err := p.Finish(context.Background()); err != nil {
				t.Errorf("Finish after failed Configure: %v", err)
			}
		})
	}
}

// TestConfigureUnwritable uses a read-only directory. Root ignores file
// modes, so the path is also tried below a regular file, which fails for
// everyone.
func TestConfigureUnwritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(file, "out.jsonl")}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(ro, "out.jsonl"))
	}
	for _, path := range paths {
		_, err := json.New().Configure(context.Background(), &pb.ConfigureRequest{
			Options: map[string]string{"path": path}, Run: runInfo(),
		})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Configure(%s) = %v; want an error naming the path", path, err)
		}
	}
}

// TestCallOrder: a host that breaks the call order gets errors, not a
// crashed plugin process.
func TestCallOrder(t *testing.T) {
	b := fixture()[0]
	p := json.New()
	if err := p.Consume(context.Background(), b, &sdk.Reporter{}); err == nil || !strings.Contains(err.Error(), "before Configure") {
		t.Errorf("Consume before Configure = %v; want an error saying so", err)
	}
	p, _ = configure(t)
	if _, err := p.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Consume(context.Background(), b, &sdk.Reporter{}); err == nil {
		t.Error("Consume after Finish succeeded")
	}
	if _, err := p.Finish(context.Background()); err != nil {
		t.Errorf("second Finish: %v", err)
	}
}

// TestEmptyRun: a run without a line still leaves an (empty) file, and
// records alone write nothing.
func TestEmptyRun(t *testing.T) {
	lines, resp, _ := run(t, []*pb.Batch{{Seq: 1, Records: []byte{1, 2, 3}, RecordCount: 1}})
	if len(lines) != 0 {
		t.Errorf("%d lines, want none: %q", len(lines), lines)
	}
	if diff := cmp.Diff(map[string]uint64{"traces": 0, "flows": 0, "lines": 0}, resp.GetCounters()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestRelativePath: the file reported by Finish is absolute.
func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p := json.New()
	if _, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: map[string]string{"path": "out.jsonl"}, Run: runInfo()}); err != nil {
		t.Fatal(err)
	}
	resp, err := p.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files := resp.GetFiles()
	if len(files) != 1 || !filepath.IsAbs(files[0]) {
		t.Fatalf("files %q; want one absolute path", files)
	}
	a, errA := os.Stat(files[0])
	b, errB := os.Stat(filepath.Join(dir, "out.jsonl"))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Errorf("files %q; want %s (%v, %v)", files, filepath.Join(dir, "out.jsonl"), errA, errB)
	}
}

// FuzzWrite: whatever strings and numbers the host sends, every line the
// plugin writes is one line that Validate accepts.
func FuzzWrite(f *testing.F) {
	f.Add("c1/eth0", "c1", snat, dns.Summary, uint32(1), uint32(2), at(0), int64(24_000), true)
	f.Add("", "", "", "", uint32(0), uint32(0), int64(0), int64(0), false)
	f.Add("a\nb\"c\\", "\x00\xff", "\u2028</script>", "\xc3", ^uint32(0), uint32(7), int64(-1<<63), int64(1<<63-1), true)
	f.Fuzz(func(t *testing.T, name, netns, change, summary string, id, otherID uint32, t0, dt int64, out bool) {
		dir := "in"
		if out {
			dir = "out"
		}
		batches := []*pb.Batch{{
			Seq:        1,
			Interfaces: []*pb.Interface{{Id: id, Name: name, Netns: netns, Ifname: name, Addresses: []string{change}, Description: summary}},
			Traces: []*pb.Trace{{Id: uint64(id), TimeUnixNano: t0, TransitNanos: dt, Summary: summary, Path: name, Changes: []string{change},
				Hops: []*pb.Hop{
					{InterfaceId: id, Direction: dir, TimeUnixNano: t0, Tuple: &pb.Tuple{Proto: name, Src: netns}},
					{InterfaceId: otherID, Direction: dir, TimeUnixNano: t0 + dt},
				}}},
			Flows: []*pb.Flow{{Id: uint64(otherID), Tuple: &pb.Tuple{Src: name}, FirstUnixNano: t0, LastUnixNano: dt,
				Paths: []*pb.PathCount{{Path: summary, Count: uint64(id)}}, Nat: []string{change}}},
			Stats: &pb.Stats{StartUnixNano: t0, EndUnixNano: dt, Interfaces: []*pb.InterfaceStats{{Id: otherID, HasDropped: out}},
				Sockets: []*pb.SocketStats{{Device: name}}, Correlation: &pb.CorrelationStats{WindowNanos: dt}},
		}}
		p := json.New()
		path := filepath.Join(t.TempDir(), "fuzz.jsonl")
		if _, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: map[string]string{"path": path}}); err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if err := p.Consume(context.Background(), b, &sdk.Reporter{}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := p.Finish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		var n uint64
		for sc.Scan() {
			n++
			if err := json.Validate(sc.Bytes()); err != nil {
				t.Errorf("line %d: %v\n%s", n, err, sc.Bytes())
			}
		}
		if n != 4 || resp.GetCounters()["lines"] != 4 {
			t.Errorf("%d lines, counted %d; want 4", n, resp.GetCounters()["lines"])
		}
	})
}

// FuzzValidate: Validate never panics, and what it accepts is a JSON object
// of a known type.
func FuzzValidate(f *testing.F) {
	if golden, err := os.ReadFile(filepath.Join("testdata", "golden.jsonl")); err == nil {
		for l := range bytes.Lines(golden) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"type":"trace","hops":[{}]}`))
	f.Add([]byte(`{"type":"stats","interfaces":[1],"correlation":null}`))
	f.Add([]byte(`{"type":"flow","packets":{"forward":1e400}}`))
	f.Add([]byte(`{"type":"interface"}` + "\n"))
	f.Add([]byte(`{"type":"trace","id":1,"time":"2023-11-14T22:13:20.123456789Z","time_unix_nano":1,"transit_ns":0,"summary":"","path":"","flow_id":0,"changes":[],"hops":[]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if json.Validate(line) != nil {
			return
		}
		var m map[string]any
		if err := stdjson.Unmarshal(line, &m); err != nil {
			t.Fatalf("Validate accepted a line that is not a JSON object: %v", err)
		}
		switch m["type"] {
		case "interface", "trace", "flow", "stats":
		default:
			t.Fatalf("Validate accepted type %v", m["type"])
		}
	})
}

// TestTunnelHop: a hop that saw the packet inside a VXLAN packet carries a
// tunnel object; a hop that saw the packet itself has none.
func TestTunnelHop(t *testing.T) {
	tu := &pb.Tuple{Proto: "icmp", Src: "10.244.1.2", Dst: "10.244.2.2", Sport: 7, Dport: 7}
	tr := &pb.Trace{
		Id: 9, TimeUnixNano: at(0), Path: "labhost/br0 out → labhost/br0 in", Changes: []string{"encap VXLAN vni 42 10.212.0.1→10.212.0.2"},
		Hops: []*pb.Hop{
			{InterfaceId: 3, Direction: "out", TimeUnixNano: at(0), Ttl: 64, Tuple: tu},
			{InterfaceId: 3, Direction: "in", TimeUnixNano: at(1), Ttl: 64, Tuple: tu,
				Tunnel: &pb.Tunnel{Encap: "VXLAN", Id: 42, HasId: true, OuterTtl: 63, Outer: &pb.Tuple{Proto: "udp", Src: "10.212.0.1", Dst: "10.212.0.2", Sport: 40123, Dport: 4789}}},
			{InterfaceId: 3, Direction: "in", TimeUnixNano: at(2), Ttl: 64, Tuple: tu,
				Tunnel: &pb.Tunnel{Encap: "IPIP", Outer: &pb.Tuple{Proto: "4", Src: "10.212.0.1", Dst: "10.212.0.2"}}},
		},
	}
	lines, _, _ := run(t, []*pb.Batch{{Seq: 1, Interfaces: []*pb.Interface{br0}, Traces: []*pb.Trace{tr}}})
	var obj map[string]any
	for i, l := range lines {
		if err := json.Validate(l); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if o := decode(t, l); o["type"] == "trace" {
			obj = o
		}
	}
	hops := obj["hops"].([]any)
	if _, ok := hops[0].(map[string]any)["tunnel"]; ok {
		t.Errorf("hop 0 has a tunnel: %v", hops[0])
	}
	n := func(v int) stdjson.Number { return stdjson.Number(fmt.Sprint(v)) }
	want := map[string]any{"encap": "VXLAN", "id": n(42), "outer_proto": "udp", "outer_src": "10.212.0.1", "outer_dst": "10.212.0.2",
		"outer_sport": n(40123), "outer_dport": n(4789), "outer_ttl": n(63)}
	if diff := cmp.Diff(want, hops[1].(map[string]any)["tunnel"]); diff != "" {
		t.Errorf("hop 1 tunnel (-want +got):\n%s", diff)
	}
	if got := hops[2].(map[string]any)["tunnel"].(map[string]any); got["encap"] != "IPIP" || got["id"] != nil {
		t.Errorf("hop 2 tunnel %v, want IPIP without id", got)
	}
}
