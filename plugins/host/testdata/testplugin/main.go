// Command testplugin is the plugin the host tests start as a real process.
//
// Arguments choose what Describe says and how the plugin is served:
//
//	-lossless  Describe asks for a lossless queue
//	-credits N credit flow control: N batches ahead
//	-raw       serve with go-plugin directly, without the SDK's watch on its
//	           parent, so that only the host's parent-death signal ends it
//
// The option "mode" of Configure chooses its behaviour:
//
//	echo    (default) one line per batch: "batch SEQ: N records"
//	slow    sleeps "delay" (default 10ms) per batch
//	crash   on batch "n" (default 3) writes to stderr ("via": os.Stderr, the
//	        default, or fd2, the process's file descriptor 2) and exits 2
//	panic   panics on batch "n"
//	reject  Consume returns an error on batch "n"
//	hang    Consume never returns from batch "n"
//	stdout  writes to its stdout (os.Stdout and file descriptor 1) per batch
//	fail    Configure fails
//	count   (any other) only counts
//
// Finish reports batches, records and the process's CPU time (cpu_ns).
//
// Configure always warns "pid PID". Finish counts batches and records.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

type testPlugin struct {
	lossless bool
	credits  uint32
	mode     string
	n        uint64
	delay    time.Duration
	via      string
	batches  uint64
	records  uint64
}

func (p *testPlugin) Describe() *pb.PluginInfo {
	return &pb.PluginInfo{
		Name:     "testplugin",
		Version:  "0.0.1",
		Wants:    &pb.Subscriptions{Packets: true, PacketBytes: true, Stats: true},
		Options:  []*pb.OptionSpec{{Name: "mode", Type: "string", Default: "echo"}},
		Lossless: p.lossless,
		Credits:  p.credits,
	}
}

func (p *testPlugin) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	o := req.GetOptions()
	p.mode = o["mode"]
	if p.mode == "" {
		p.mode = "echo"
	}
	p.n = 3
	if s := o["n"]; s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("testplugin: option n: %w", err)
		}
		p.n = n
	}
	p.delay = 10 * time.Millisecond
	if s := o["delay"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("testplugin: option delay: %w", err)
		}
		p.delay = d
	}
	p.via = o["via"]
	if p.mode == "fail" {
		return nil, errors.New("testplugin: cannot open /nonexistent/out.test: permission denied")
	}
	if l := req.GetRun().GetRecordLayout(); l != sdk.RecordLayout {
		return nil, fmt.Errorf("testplugin: record layout %d", l)
	}
	return &pb.ConfigureResponse{Warnings: []string{fmt.Sprintf("pid %d", os.Getpid())}}, nil
}

func (p *testPlugin) Consume(_ context.Context, b *pb.Batch, r *sdk.Reporter) error {
	n := 0
	rd := record.NewReader(b.Records)
	var h record.Header
	for {
		_, ok, err := rd.Next(&h)
		if err != nil {
			return fmt.Errorf("testplugin: batch %d: %w", b.Seq, err)
		}
		if !ok {
			break
		}
		n++
	}
	p.batches++
	p.records += uint64(n)
	switch p.mode {
	case "echo":
		r.Line(fmt.Sprintf("batch %d: %d records", b.Seq, n))
	case "slow":
		time.Sleep(p.delay)
	case "crash":
		if b.Seq == p.n {
			msg := fmt.Sprintf("testplugin: giving up on batch %d\n", b.Seq)
			if p.via == "fd2" {
				os.NewFile(2, "fd2").WriteString(msg)
			} else {
				fmt.Fprint(os.Stderr, msg)
			}
			os.Exit(2)
		}
	case "panic":
		if b.Seq == p.n {
			panic(fmt.Sprintf("testplugin: boom on batch %d", b.Seq))
		}
	case "reject":
		if b.Seq == p.n {
			return fmt.Errorf("testplugin: rejecting batch %d", b.Seq)
		}
	case "hang":
		if b.Seq == p.n {
			select {}
		}
	case "stdout":
		fmt.Printf("STDOUT-NOISE batch %d\n", b.Seq)
		os.NewFile(1, "fd1").WriteString(fmt.Sprintf("FD1-NOISE batch %d\n1|1|tcp|127.0.0.1:1|grpc|\n", b.Seq))
		r.Line(fmt.Sprintf("batch %d: %d records", b.Seq, n))
	}
	return nil
}

func (p *testPlugin) Finish(context.Context) (*pb.FinishResponse, error) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := uint64(ru.Utime.Nano() + ru.Stime.Nano())
	return &pb.FinishResponse{Counters: map[string]uint64{"batches": p.batches, "records": p.records, "cpu_ns": cpu}}, nil
}

func main() {
	lossless := flag.Bool("lossless", false, "ask for a lossless queue")
	raw := flag.Bool("raw", false, "serve without the SDK's watch on the parent process")
	credits := flag.Uint("credits", 0, "ask for credit flow control with this many credits")
	flag.Parse()
	p := &testPlugin{lossless: *lossless, credits: uint32(*credits)}
	if *raw {
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: sdk.Handshake, VersionedPlugins: sdk.PluginSets(p), GRPCServer: plugin.DefaultGRPCServer})
		os.Exit(0)
	}
	sdk.Serve(p)
}
