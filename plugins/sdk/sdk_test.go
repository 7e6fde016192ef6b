package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// fake is a Plugin that records what it is given.
type fake struct {
	mu        sync.Mutex
	configure *pb.ConfigureRequest
	seqs      []uint64
	records   [][]byte
	finished  bool
	// block makes Consume of that seq wait for its context to end.
	block   uint64
	blocked chan error // receives ctx.Err() of the blocked Consume
}

var info = &pb.PluginInfo{
	Name:        "fake",
	Version:     "1.2.3",
	Description: "a plugin for the contract test",
	Wants:       &pb.Subscriptions{Packets: true, Stats: true},
	Options: []*pb.OptionSpec{
		{Name: "path", Type: "path", Help: "file to write", Required: true},
		{Name: "every", Type: "duration", Help: "how often", Default: "1s"},
	},
	Lossless: true,
}

func (f *fake) Describe() *pb.PluginInfo { return info }

func (f *fake) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configure = req
	if p := req.GetOptions()["path"]; strings.HasPrefix(p, "/forbidden") {
		return nil, fmt.Errorf("fake: cannot write %s: permission denied", p)
	}
	return &pb.ConfigureResponse{Warnings: []string{"option every is ignored"}}, nil
}

func (f *fake) Consume(ctx context.Context, b *pb.Batch, r *sdk.Reporter) error {
	f.mu.Lock()
	f.seqs = append(f.seqs, b.Seq)
	f.records = append(f.records, b.Records)
	f.mu.Unlock()
	if b.Seq == f.block {
		<-ctx.Done()
		f.blocked <- ctx.Err()
		return ctx.Err()
	}
	n := 0
	rd := record.NewReader(b.Records)
	var h record.Header
	for {
		_, ok, err := rd.Next(&h)
		if err != nil {
			r.Line(fmt.Sprintf("batch %d: %d records before the bad one", b.Seq, n))
			return fmt.Errorf("fake: batch %d: %w", b.Seq, err)
		}
		if !ok {
			break
		}
		n++
	}
	r.Line(fmt.Sprintf("batch %d: %d records", b.Seq, n))
	r.Line(fmt.Sprintf("batch %d: second line", b.Seq))
	if b.Seq%2 == 0 {
		r.Warn(fmt.Sprintf("batch %d is even", b.Seq))
	}
	return nil
}

func (f *fake) Finish(context.Context) (*pb.FinishResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = true
	return &pb.FinishResponse{
		Files:    []string{"/tmp/a.out", "/tmp/b.out"},
		Counters: map[string]uint64{"batches": uint64(len(f.seqs))},
		Warnings: []string{"b.out is empty"},
	}, nil
}

// connect serves impl over an in-process gRPC connection, as the host sees
// it after go-plugin's handshake.
func connect(t *testing.T, impl sdk.Plugin) pb.PluginClient {
	t.Helper()
	sets := sdk.PluginSets(impl)
	set, ok := sets[sdk.ProtocolVersion]
	if !ok {
		t.Fatalf("PluginSets has no set for protocol version %d: %v", sdk.ProtocolVersion, sets)
	}
	client, server := plugin.TestPluginGRPCConn(t, false, set)
	t.Cleanup(func() {
		// The server first: closing the client first races inside go-plugin.
		server.Stop()
		client.Close()
	})
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("Dispense(%q): %v", sdk.PluginName, err)
	}
	pc, ok := raw.(pb.PluginClient)
	if !ok {
		t.Fatalf("Dispense gave %T, want pb.PluginClient", raw)
	}
	return pc
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestHandshake(t *testing.T) {
	if sdk.Handshake.ProtocolVersion != sdk.ProtocolVersion || sdk.ProtocolVersion != 1 {
		t.Errorf("handshake protocol version %d, sdk.ProtocolVersion %d; want both 1 (contract v1)", sdk.Handshake.ProtocolVersion, sdk.ProtocolVersion)
	}
	if sdk.Handshake.MagicCookieKey == "" || sdk.Handshake.MagicCookieValue == "" {
		t.Error("handshake has no magic cookie")
	}
	if sdk.RecordLayout != record.Layout {
		t.Errorf("sdk.RecordLayout = %d, want record.Layout %d", sdk.RecordLayout, record.Layout)
	}
	// The host asks for the same versions with a nil implementation.
	if _, ok := sdk.PluginSets(nil)[sdk.ProtocolVersion][sdk.PluginName].(*sdk.GRPCPlugin); !ok {
		t.Errorf("PluginSets(nil) = %v; want a *sdk.GRPCPlugin named %q at version %d", sdk.PluginSets(nil), sdk.PluginName, sdk.ProtocolVersion)
	}
}

func TestDescribe(t *testing.T) {
	pc := connect(t, &fake{})
	got, err := pc.Describe(ctx(t), &pb.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(info, got, protocmp.Transform()); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
}

func TestConfigure(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	req := &pb.ConfigureRequest{
		Options: map[string]string{"path": "/tmp/x.out", "every": "5s"},
		Run: &pb.RunInfo{
			IfacetraceVersion: "0.1.0", Hostname: "h", Os: "Linux 6.1", Hardware: "amd64",
			StartUnixNano: 1_700_000_000_000_000_000, Snaplen: 262144, Filter: "icmp",
			CommandLine: []string{"ifacetrace", "-o", "x.out"}, RecordLayout: record.Layout,
		},
	}
	resp, err := pc.Configure(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"option every is ignored"}, resp.GetWarnings()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if diff := cmp.Diff(req, f.configure, protocmp.Transform()); diff != "" {
		t.Errorf("the plugin received (-sent +received):\n%s", diff)
	}
}

func TestConfigureError(t *testing.T) {
	pc := connect(t, &fake{})
	_, err := pc.Configure(ctx(t), &pb.ConfigureRequest{Options: map[string]string{"path": "/forbidden/x"}})
	if err == nil {
		t.Fatal("Configure succeeded")
	}
	if got, want := status.Convert(err).Message(), "fake: cannot write /forbidden/x: permission denied"; got != want {
		t.Errorf("error message %q, want the plugin's %q", got, want)
	}
}

// consume sends batches, closes its side and collects every report until the
// plugin ends the stream; it returns the reports and the stream's end.
func consume(t *testing.T, pc pb.PluginClient, batches []*pb.Batch) ([]*pb.Report, error) {
	t.Helper()
	stream, err := pc.Consume(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() {
		for _, b := range batches {
			if err := stream.Send(b); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	var reports []*pb.Report
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if err := <-sendErr; err != nil {
				t.Errorf("send: %v", err)
			}
			return reports, nil
		}
		if err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
}

func batches(n int) []*pb.Batch {
	var bs []*pb.Batch
	for seq := 1; seq <= n; seq++ {
		var recs []byte
		for i := 0; i < seq; i++ {
			recs = record.Append(recs, record.Header{Iface: 1, TimeNanos: int64(seq*1000 + i), Dir: record.DirIn}, []byte(fmt.Sprintf("frame %d.%d", seq, i)))
		}
		bs = append(bs, &pb.Batch{Seq: uint64(seq), Records: recs, RecordCount: uint32(seq)})
	}
	return bs
}

func TestConsume(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	const n = 50
	in := batches(n)
	reports, err := consume(t, pc, in)
	if err != nil {
		t.Fatalf("stream ended with %v", err)
	}

	f.mu.Lock()
	var want []uint64
	for seq := uint64(1); seq <= n; seq++ {
		want = append(want, seq)
	}
	if diff := cmp.Diff(want, f.seqs); diff != "" {
		t.Errorf("batches consumed out of order (-want +got):\n%s", diff)
	}
	for i, recs := range f.records {
		if string(recs) != string(in[i].Records) {
			t.Errorf("batch %d: records changed on the way", i+1)
		}
	}
	f.mu.Unlock()

	if len(reports) != n {
		t.Fatalf("%d reports, want one per batch (%d)", len(reports), n)
	}
	for i, r := range reports {
		seq := uint64(i + 1)
		wantR := &pb.Report{
			ConsumedSeq: seq,
			Lines:       []string{fmt.Sprintf("batch %d: %d records", seq, seq), fmt.Sprintf("batch %d: second line", seq)},
		}
		if seq%2 == 0 {
			wantR.Warnings = []string{fmt.Sprintf("batch %d is even", seq)}
		}
		if diff := cmp.Diff(wantR, r, protocmp.Transform()); diff != "" {
			t.Errorf("report %d (-want +got):\n%s", i, diff)
		}
	}
}

// TestConsumeError: a batch the plugin rejects is reported with the error as
// a warning (and the lines it had queued), then the stream ends with that
// error and no later batch reaches the plugin.
func TestConsumeError(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	in := batches(5)
	in[2].Records = in[2].Records[:len(in[2].Records)-3] // seq 3: truncated
	reports, err := consume(t, pc, in)
	if err == nil {
		t.Fatal("stream ended cleanly after a failed batch")
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "fake: batch 3:") || !strings.Contains(msg, record.ErrCorrupt.Error()) {
		t.Errorf("stream error %q; want the plugin's error for batch 3", msg)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3 (two good batches, then the failed one): %v", len(reports), reports)
	}
	last := reports[2]
	if last.GetConsumedSeq() != 3 {
		t.Errorf("report of the failed batch has consumed_seq %d, want 3", last.GetConsumedSeq())
	}
	if len(last.GetLines()) != 1 || !strings.Contains(last.GetLines()[0], "2 records before the bad one") {
		t.Errorf("lines of the failed batch %q; want the line queued before the error", last.GetLines())
	}
	if len(last.GetWarnings()) != 1 || last.GetWarnings()[0] != msg {
		t.Errorf("warnings of the failed batch %q; want the error %q", last.GetWarnings(), msg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if diff := cmp.Diff([]uint64{1, 2, 3}, f.seqs); diff != "" {
		t.Errorf("consumed (-want +got):\n%s", diff)
	}
}

// TestConsumeCancel: the plugin's Consume context ends when the host drops
// the stream.
func TestConsumeCancel(t *testing.T) {
	f := &fake{block: 2, blocked: make(chan error, 1)}
	pc := connect(t, f)
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := pc.Consume(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches(2) {
		if err := stream.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := stream.Recv(); err != nil || r.GetConsumedSeq() != 1 {
		t.Fatalf("first report %v, %v; want consumed_seq 1", r, err)
	}
	cancel()
	select {
	case err := <-f.blocked:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("plugin's context ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's Consume context did not end when the host cancelled the stream")
	}
}

// TestEmptyStream: a capture without batches still ends cleanly.
func TestEmptyStream(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	reports, err := consume(t, pc, nil)
	if err != nil || len(reports) != 0 {
		t.Errorf("reports %v, end %v; want none and a clean end", reports, err)
	}
}

func TestFinish(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	if _, err := consume(t, pc, batches(3)); err != nil {
		t.Fatal(err)
	}
	resp, err := pc.Finish(ctx(t), &pb.FinishRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.FinishResponse{
		Files:    []string{"/tmp/a.out", "/tmp/b.out"},
		Counters: map[string]uint64{"batches": 3},
		Warnings: []string{"b.out is empty"},
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("Finish (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.finished {
		t.Error("the plugin's Finish was not called")
	}
}

// TestFullSequence runs the calls in the host's order over one connection.
func TestFullSequence(t *testing.T) {
	f := &fake{}
	pc := connect(t, f)
	c := ctx(t)
	if got, err := pc.Describe(c, &pb.DescribeRequest{}); err != nil || !proto.Equal(got, info) {
		t.Fatalf("Describe: %v, %v", got, err)
	}
	if _, err := pc.Configure(c, &pb.ConfigureRequest{Options: map[string]string{"path": "/tmp/x"}, Run: &pb.RunInfo{RecordLayout: sdk.RecordLayout}}); err != nil {
		t.Fatal(err)
	}
	reports, err := consume(t, pc, batches(4))
	if err != nil || len(reports) != 4 || reports[3].GetConsumedSeq() != 4 {
		t.Fatalf("reports %v, end %v", reports, err)
	}
	resp, err := pc.Finish(c, &pb.FinishRequest{})
	if err != nil || resp.GetCounters()["batches"] != 4 {
		t.Fatalf("Finish: %v, %v", resp, err)
	}
}
