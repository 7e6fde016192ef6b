package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

func pluginsTestCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "check a plugin binary against contract ifacetrace.plugin.v1 with a synthetic run",
		ArgsUsage: "PATH|NAME[:key=value,...]",
		Description: `Starts the plugin as ifacetrace would, has it describe itself, configures it with
the options given, sends it a short synthetic run (two interfaces, packet records,
a trace, a flow, statistics), closes it and reports each step. Exit 0 when every
step passed.

Example:
   ifacetrace plugins test ./ifacetrace-plugin-vanish:path=/tmp/v.jsonl`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("plugins test needs one plugin: a path or a name, with its options")
			}
			spec, err := parsePluginFlag(c.Args().First())
			if err != nil {
				return err
			}
			spec.Credential = pluginCredential()
			return testPlugin(c.Context, c.App.Writer, spec)
		},
	}
}

// testPlugin runs spec through a synthetic run and reports each step on w.
func testPlugin(ctx context.Context, w io.Writer, spec host.Spec) error {
	failed := 0
	step := func(name string, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL  %s: %v\n", name, err)
			return
		}
		fmt.Fprintf(w, "ok    %s\n", name)
	}
	ui := &collectUI{}
	start := time.Now()
	p, err := host.Start(ctx, spec, runInfo(262144, "", start), ui)
	step("start, handshake (gRPC, protocol 1), Describe, Configure", err)
	if err != nil {
		return fmt.Errorf("%s does not keep the contract", spec.Name)
	}
	info := p.Info
	var derr error
	switch {
	case info.GetName() == "" || info.GetVersion() == "":
		derr = fmt.Errorf("the plugin must describe itself with a name and a version, gave %q %q", info.GetName(), info.GetVersion())
	case info.GetWants() == nil:
		derr = fmt.Errorf("the plugin must say what it wants (Subscriptions) in Describe")
	}
	step(fmt.Sprintf("Describe: %s %s, wants %s, lossless %v", info.GetName(), info.GetVersion(), wants(info.GetWants()), info.GetLossless()), derr)
	for _, b := range syntheticRun(start) {
		p.Send(subscribed(b, info.GetWants()))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	res := p.Close(cctx)
	step("Consume of 3 batches and Finish", res.Err)
	if res.Finish != nil {
		fmt.Fprintf(w, "      files %v, counters %v\n", res.Finish.Files, res.Finish.Counters)
	}
	var serr error
	if d := time.Since(t0); d > 10*time.Second {
		serr = fmt.Errorf("took %s to finish and exit", d.Round(time.Millisecond))
	}
	step("stops when asked", serr)
	for _, l := range ui.lines {
		fmt.Fprintf(w, "      line: %s\n", l)
	}
	for _, l := range ui.warns {
		fmt.Fprintf(w, "      warning: %s\n", l)
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d step(s) failed", spec.Name, failed)
	}
	return nil
}

type collectUI struct{ lines, warns []string }

func (u *collectUI) Line(_, s string) { u.lines = append(u.lines, s) }
func (u *collectUI) Warn(_, s string) { u.warns = append(u.warns, s) }

// syntheticRun is a small run: a ping request through two devices, as a
// live capture would deliver it.
func syntheticRun(start time.Time) []*pb.Batch {
	t0 := start.UnixNano()
	ifs := []*pb.Interface{
		{Id: 0, Name: "c1/eth0", Ifname: "eth0", Ifindex: 2, Netns: "c1", Kind: "veth", Hatype: 1, Mtu: 1500, Up: true, Carrier: true, Peer: "veth-c", Addresses: []string{"10.200.1.2/24"}, Description: "veth, up, peer veth-c"},
		{Id: 1, Name: "veth-c", Ifname: "veth-c", Ifindex: 5, Kind: "veth", Hatype: 1, Mtu: 1500, Up: true, Carrier: true, Peer: "c1/eth0", Master: "br0", Description: "veth, up, master br0, peer c1/eth0"},
	}
	// An ICMP echo request 10.200.1.2 > 10.200.2.2 in an Ethernet frame.
	frame := []byte{
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 200, 1, 2, 10, 200, 2, 2,
		8, 0, 0xf7, 0xfd, 0, 1, 0, 1,
	}
	var recs []byte
	for i, dir := range []record.Direction{record.DirOut, record.DirIn} {
		recs = record.Append(recs, record.Header{Iface: uint32(i), TimeNanos: t0 + int64(i)*1000, OrigLen: uint32(len(frame)),
			Dir: dir, HAType: 1, Proto: 0x0800, TraceID: 1, Hop: uint16(i + 1), Hops: 2}, frame)
	}
	tuple := &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 1, Dport: 1}
	trace := &pb.Trace{Id: 1, TimeUnixNano: t0, TransitNanos: 1000, Summary: "ICMP echo request 10.200.1.2 > 10.200.2.2 id 1 seq 1",
		Path: "c1/eth0 out → veth-c in", FlowId: 1, Hops: []*pb.Hop{
			{InterfaceId: 0, Direction: "out", TimeUnixNano: t0, Length: uint32(len(frame)), Tuple: tuple, Ttl: 64},
			{InterfaceId: 1, Direction: "in", TimeUnixNano: t0 + 1000, Length: uint32(len(frame)), Tuple: tuple, Ttl: 64},
		}}
	flow := &pb.Flow{Id: 1, Tuple: tuple, FirstUnixNano: t0, LastUnixNano: t0 + 1000, PacketsForward: 1, BytesForward: uint64(len(frame)),
		Paths: []*pb.PathCount{{Path: trace.Path, Count: 1}}, Final: true}
	stats := &pb.Stats{StartUnixNano: t0, EndUnixNano: t0 + 1e9, Sightings: 2,
		Interfaces:  []*pb.InterfaceStats{{Id: 0, ReceivedOut: 1}, {Id: 1, ReceivedIn: 1}},
		Correlation: &pb.CorrelationStats{Traces: 1, MultiHopTraces: 1, Flows: 1}}
	return []*pb.Batch{
		{Seq: 1, Interfaces: ifs},
		{Seq: 2, Records: recs, RecordCount: 2, Traces: []*pb.Trace{trace}},
		{Seq: 3, Flows: []*pb.Flow{flow}, Stats: stats},
	}
}
