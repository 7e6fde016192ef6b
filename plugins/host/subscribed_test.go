package host_test

import (
	"testing"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// A plugin receives what it subscribed to: records with or without bytes,
// traces, flows, stats; interfaces always; nothing when nothing is left.
func TestSubscribed(t *testing.T) {
	full := batch(1, 3, 100)
	full.Interfaces = []*pb.Interface{{Id: 1, Name: "eth0"}}
	full.Traces = []*pb.Trace{{Id: 1}}
	full.Flows = []*pb.Flow{{Id: 1}}
	full.Stats = &pb.Stats{Sightings: 3}

	got := host.Subscribed(full, &pb.Subscriptions{Packets: true})
	r := record.NewReader(got.Records)
	n := 0
	for {
		var h record.Header
		data, ok, err := r.Next(&h)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if len(data) != 0 || h.CapLen != 0 || h.Iface != 1 {
			t.Errorf("record %d without bytes: %+v, %d bytes", n, h, len(data))
		}
		n++
	}
	if n != 3 || got.RecordCount != 3 || got.Traces != nil || got.Flows != nil || got.Stats != nil || len(got.Interfaces) != 1 {
		t.Errorf("packets only: %d records, %+v", n, got)
	}
	if got := host.Subscribed(full, &pb.Subscriptions{PacketBytes: true, Traces: true}); len(got.Records) != len(full.Records) || len(got.Traces) != 1 || got.Flows != nil {
		t.Errorf("bytes and traces: %+v", got)
	}
	if got := host.Subscribed(&pb.Batch{Seq: 2, Flows: full.Flows}, &pb.Subscriptions{Traces: true}); got != nil {
		t.Errorf("nothing wanted in the batch: got %+v, want nil", got)
	}
}

// Traces go packed to plugins that asked for packed traces and as messages
// to the others; a batch that has only messages gives messages to both.
func TestSubscribedPackedTraces(t *testing.T) {
	both := &pb.Batch{Seq: 1, Traces: []*pb.Trace{{Id: 1}}, TraceRecords: make([]byte, 64), TraceCount: 1}
	packed := &pb.Subscriptions{Traces: true, PackedTraces: true}
	messages := &pb.Subscriptions{Traces: true}
	if got := host.Subscribed(both, packed); got.TraceCount != 1 || len(got.TraceRecords) != 64 || got.Traces != nil {
		t.Errorf("packed subscriber: %+v", got)
	}
	if got := host.Subscribed(both, messages); got.TraceCount != 0 || got.TraceRecords != nil || len(got.Traces) != 1 {
		t.Errorf("message subscriber: %+v", got)
	}
	only := &pb.Batch{Seq: 2, Traces: []*pb.Trace{{Id: 2}}}
	if got := host.Subscribed(only, packed); len(got.Traces) != 1 {
		t.Errorf("packed subscriber, batch with messages only: %+v", got)
	}
	if got := host.Subscribed(both, &pb.Subscriptions{PackedTraces: true}); got != nil {
		t.Errorf("packed_traces without traces: got %+v, want nil", got)
	}
}
