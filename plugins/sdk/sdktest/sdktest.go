// Package sdktest drives a plugin in-process, as ifacetrace would, for the
// plugin's own tests: the plugin is served over a real gRPC connection
// (go-plugin's in-memory test connection), so what is tested is what
// ifacetrace will talk to — Describe, Configure, the Consume stream with
// its reports, Finish — without starting a process or capturing.
//
// Input comes from Synthetic (a small run: two interfaces, packet records,
// a trace, a flow, statistics) or FromFile (the interfaces and packet
// records of a pcap or pcapng capture, as `ifacetrace -r` would deliver
// them; traces and flows are ifacetrace's correlation and not built here).
package sdktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Result is what the plugin answered.
type Result struct {
	Info     *pb.PluginInfo
	Lines    []string // Report.lines, for the user's terminal
	Warnings []string // Report.warnings
	// ConfigureWarnings are Configure's; Finish's are in Finish.
	ConfigureWarnings []string
	Consumed          uint64 // the highest consumed_seq reported
	Finish            *pb.FinishResponse
}

// Run serves p in-process, configures it with options and run (nil: a
// plausible RunInfo), streams batches (each reduced to what the plugin
// subscribed to, as ifacetrace does) and calls Finish. An error is the
// plugin's, from any step.
func Run(t testing.TB, p sdk.Plugin, options map[string]string, run *pb.RunInfo, batches ...*pb.Batch) (*Result, error) {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.PluginSets(p)[sdk.ProtocolVersion])
	// Deferred in this order, the server stops before the client closes:
	// the other way round races inside go-plugin.
	defer client.Close()
	defer server.Stop()
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		return nil, err
	}
	pc := raw.(pb.PluginClient)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := &Result{}
	if res.Info, err = pc.Describe(ctx, &pb.DescribeRequest{}); err != nil {
		return res, fmt.Errorf("describe: %w", err)
	}
	if run == nil {
		run = &pb.RunInfo{IfacetraceVersion: "sdktest", Hostname: "sdktest", Os: "Linux", Snaplen: 262144, RecordLayout: record.Layout, TraceLayout: record.TraceLayout, StartUnixNano: time.Now().UnixNano()}
	}
	cr, err := pc.Configure(ctx, &pb.ConfigureRequest{Options: options, Run: run})
	if err != nil {
		return res, fmt.Errorf("configure: %w", err)
	}
	res.ConfigureWarnings = cr.GetWarnings()
	stream, err := pc.Consume(ctx)
	if err != nil {
		return res, fmt.Errorf("consume: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			rep, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
			res.Lines = append(res.Lines, rep.GetLines()...)
			res.Warnings = append(res.Warnings, rep.GetWarnings()...)
			res.Consumed = max(res.Consumed, rep.GetConsumedSeq())
		}
	}()
	for i, b := range batches {
		b = host.Subscribed(b, res.Info.GetWants())
		if b == nil {
			continue
		}
		if b.Seq == 0 {
			b.Seq = uint64(i + 1)
		}
		if err := stream.Send(b); err != nil {
			break // the error comes from Recv
		}
	}
	stream.CloseSend()
	if err := <-done; err != nil {
		return res, fmt.Errorf("consume: %w", err)
	}
	if res.Finish, err = pc.Finish(ctx, &pb.FinishRequest{}); err != nil {
		return res, fmt.Errorf("finish: %w", err)
	}
	return res, nil
}

// FromFile reads a capture into batches of interfaces and packet records,
// perBatch records each (0: 1024).
func FromFile(path string, perBatch int) ([]*pb.Batch, error) {
	if perBatch <= 0 {
		perBatch = 1024
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcap.OpenFile(f, path)
	if err != nil {
		return nil, err
	}
	var out []*pb.Batch
	b := &pb.Batch{}
	var h record.Header
	for {
		data, fresh, err := r.Next(&h)
		for _, fi := range fresh {
			b.Interfaces = append(b.Interfaces, host.FileInterface(fi))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b.Records = record.Append(b.Records, h, data)
		if b.RecordCount++; int(b.RecordCount) == perBatch {
			out = append(out, b)
			b = &pb.Batch{}
		}
	}
	if b.RecordCount > 0 || len(b.Interfaces) > 0 {
		out = append(out, b)
	}
	for i, b := range out {
		b.Seq = uint64(i + 1)
	}
	return out, nil
}

// Synthetic is a small run as a live capture delivers it: a ping request
// from namespace c1 seen on its eth0 and on the host's veth-c, as one
// trace and one flow, then statistics.
func Synthetic(start time.Time) []*pb.Batch {
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
