package sdk

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/proto/codec"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// ProtocolVersion is the go-plugin protocol version of ifacetrace.plugin.v1.
const ProtocolVersion = 1

// Handshake is shared by ifacetrace and its plugins. The cookie only keeps a
// plugin binary from being run by hand by mistake; it is not security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "IFACETRACE_PLUGIN",
	MagicCookieValue: "8d1f6c1e-ifacetrace-plugin-v1",
}

// PluginName is the name under which the plugin is dispensed.
const PluginName = "ifacetrace"

// MaxMessageSize bounds one gRPC message either way. Batches stay far below
// (one capture ring block, 1 MiB by default); the limit is raised from gRPC's
// 4 MiB default so that a larger configured block never aborts the stream.
const MaxMessageSize = 64 << 20

// StreamBuffer and StreamWindow size the plugin connection's buffers and
// HTTP/2 flow-control windows, both ends (gRPC's defaults are 32 KiB and
// 64 KiB): batches are megabytes, and with the defaults the stream was
// a write system call per 32 KiB and a window update per 64 KiB. Measured
// on -r to pcapng, 5.3 s became 4.9 s and system time fell by a sixth.
const (
	StreamBuffer = 1 << 20
	StreamWindow = 8 << 20
)

// RecordLayout is the packet record layout this SDK reads (pcap/record).
const RecordLayout = record.Layout

// Plugin is what a plugin implements.
type Plugin interface {
	// Describe says who the plugin is and what it wants.
	Describe() *pb.PluginInfo
	// Configure receives the options and run metadata before capturing.
	Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error)
	// Consume receives batches, one at a time, in order.
	Consume(ctx context.Context, b *pb.Batch, r *Reporter) error
	// Finish flushes and closes the plugin's outputs.
	Finish(ctx context.Context) (*pb.FinishResponse, error)
}

// Reporter sends lines and warnings to the user's terminal during Consume.
type Reporter struct {
	lines, warnings []string
}

// Line queues a line for the user's terminal (stdout of ifacetrace).
func (r *Reporter) Line(s string) { r.lines = append(r.lines, s) }

// Warn queues a warning (stderr of ifacetrace).
func (r *Reporter) Warn(s string) { r.warnings = append(r.warnings, s) }

// GRPCPlugin binds a Plugin to go-plugin on both sides: plugins serve Impl;
// the host leaves Impl nil and gets a pb.PluginClient.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin

	stderr *os.File        // the process's real stderr, see server.restoreStderr
	codec  *codec.Receiver // the server's codec when Serve set it, else nil
}

// GRPCServer registers the plugin's gRPC service.
func (g *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, &server{impl: g.Impl, stderr: g.stderr, codec: g.codec})
	return nil
}

// GRPCClient returns a pb.PluginClient.
func (g *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return pb.NewPluginClient(c), nil
}

// PluginSets are the versioned plugin sets for go-plugin's negotiation.
func PluginSets(impl Plugin) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}}}
}

// Option changes how Serve serves a plugin.
type Option func(*options)

type options struct {
	reuse bool
}

// ReuseBuffers has Serve receive each batch's records and trace records
// into memory that the next batch reuses, which spares the plugin an
// allocation of fresh memory per batch (megabytes at full rate, and the
// page faults of touching them). Pass it only when the plugin keeps no
// part of Batch.Records or Batch.TraceRecords (nor a TraceView or record
// data read from them) once Consume has returned: copy what you keep.
// Without it, they are the plugin's to keep.
func ReuseBuffers() Option { return func(o *options) { o.reuse = true } }

// Serve runs p as a plugin process until ifacetrace disconnects. It does not
// return.
func Serve(p Plugin, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// Batches are received with one copy, not gRPC's two (and, with
	// ReuseBuffers, into reused memory): plugins/proto/codec.
	c := codec.NewReceiver(o.reuse)
	go exitWithParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{Impl: p, stderr: os.Stderr, codec: c}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize), c.ServerOption(),
				grpc.ReadBufferSize(StreamBuffer), grpc.WriteBufferSize(StreamBuffer),
				grpc.InitialWindowSize(StreamWindow), grpc.InitialConnWindowSize(StreamWindow))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
	os.Exit(0)
}

// exitWithParent ends the plugin when the process that started it is gone
// (its parent changes), so that no plugin outlives ifacetrace.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(250 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(3)
		}
	}
}

type server struct {
	pb.UnimplementedPluginServer
	impl   Plugin
	stderr *os.File
	codec  *codec.Receiver // nil: gRPC's own
	once   sync.Once
}

// restoreStderr points os.Stderr back at the process's real stderr.
// go-plugin's Serve redirects it into a gRPC stream, which loses what a
// plugin writes just before it dies — exactly the lines worth showing. The
// real stderr is a pipe ifacetrace reads to the end. os.Stdout stays
// redirected: it must never reach the handshake channel.
func (s *server) restoreStderr() {
	s.once.Do(func() {
		if s.stderr != nil {
			os.Stderr = s.stderr
		}
	})
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.PluginInfo, error) {
	s.restoreStderr()
	return s.impl.Describe(), nil
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	s.restoreStderr()
	return s.impl.Configure(ctx, req)
}

func (s *server) Consume(stream pb.Plugin_ConsumeServer) error {
	ctx := stream.Context()
	// With credit flow control, each consumed batch grants the next.
	var grant uint32
	if s.impl.Describe().GetCredits() > 0 {
		grant = 1
	}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var r Reporter
		err = s.impl.Consume(ctx, b, &r)
		if s.codec != nil {
			s.codec.Release(b)
		}
		rep := &pb.Report{Lines: r.lines, Warnings: r.warnings, ConsumedSeq: b.Seq, Credits: grant}
		if err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
		if serr := stream.Send(rep); serr != nil {
			return serr
		}
		if err != nil {
			return err
		}
	}
}

func (s *server) Finish(ctx context.Context, _ *pb.FinishRequest) (*pb.FinishResponse, error) {
	return s.impl.Finish(ctx)
}
