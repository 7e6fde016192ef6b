package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ifacetrace/ifacetrace/internal/sched"
	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/proto/codec"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Spec says how to start one plugin.
type Spec struct {
	Name    string            // for messages: "pcapng", "myplugin"
	Cmd     []string          // argv of the plugin process
	Options map[string]string // passed to Configure
	Queue   int               // batches queued before Send waits or drops; 0 means 8
	// Credential, when set, is who the plugin runs as: under sudo, the
	// invoking user, so that it has none of the capture's privileges and
	// the files it writes are that user's.
	Credential *syscall.Credential
	// SHA256, when set, is the hex digest Cmd[0] must have.
	SHA256 string
	// Idle runs the plugin at SCHED_IDLE and nice 19: it takes only CPU
	// time nothing else wants, like the correlation that feeds it.
	Idle bool
}

// UI receives what plugins say.
type UI interface {
	Line(plugin, line string) // for stdout
	Warn(plugin, msg string)  // for stderr
}

// Plugin is one running plugin process.
type Plugin struct {
	Spec
	Info *pb.PluginInfo

	ui      UI
	cmd     *exec.Cmd
	client  *plugin.Client
	rpc     pb.PluginClient
	stream  pb.Plugin_ConsumeClient
	codec   *codec.Sender // the stream's: batches' bytes go out without a copy
	queue   chan queued
	sent    chan struct{} // closed when the sender has stopped
	reports chan struct{} // closed when the report reader has stopped
	stderr  *tail
	sockDir string

	tokens chan struct{} // credit flow control: one per batch the plugin may receive; nil without

	failed  atomic.Pointer[error]
	dropped atomic.Uint64 // batches lost (non-lossless plugins)
	stalled atomic.Int64  // ns Send waited on a full queue
}

// Describe starts the plugin, asks who it is, and stops it.
func Describe(ctx context.Context, spec Spec, ui UI) (*pb.PluginInfo, error) {
	p, err := launch(ctx, spec, ui)
	if err != nil {
		return nil, err
	}
	p.kill()
	return p.Info, nil
}

// Start starts the plugin process, checks its contract, and configures it.
func Start(ctx context.Context, spec Spec, run *pb.RunInfo, ui UI) (*Plugin, error) {
	p, err := launch(ctx, spec, ui)
	if err != nil {
		return nil, err
	}
	if err := p.configure(ctx, run); err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts the plugin process and asks it to describe itself.
func launch(ctx context.Context, spec Spec, ui UI) (*Plugin, error) {
	if len(spec.Cmd) == 0 {
		return nil, fmt.Errorf("plugin %s: no command", spec.Name)
	}
	if spec.Queue <= 0 {
		spec.Queue = 8 // a batch is up to 2 MiB of records
	}
	path, err := checkBinary(spec.Cmd[0], spec.SHA256)
	if err != nil {
		return nil, fmt.Errorf("start plugin %s (%s): %w", spec.Name, spec.Cmd[0], err)
	}
	p := &Plugin{Spec: spec, ui: ui, stderr: &tail{name: spec.Name, ui: ui}}
	// Its socket goes into a directory only it (and root) can enter.
	if p.sockDir, err = socketDir(spec.Credential); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	cmd := exec.Command(path, spec.Cmd[1:]...)
	cmd.Env = append(os.Environ(), plugin.EnvUnixSocketDir+"="+p.sockDir)
	// Killed with ifacetrace, however ifacetrace ends (see start); in a
	// process group of its own so that its children can be killed with it,
	// and so that a terminal's Ctrl-C reaches only ifacetrace, which then
	// shuts the plugin down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: spec.Credential}
	p.cmd = cmd
	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		Stderr:           p.stderr, // the plugin's fd 2: panics, runtime errors
		SyncStderr:       p.stderr, // its os.Stderr, which go-plugin redirects
		StartTimeout:     15 * time.Second,
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize), grpc.MaxCallSendMsgSize(sdk.MaxMessageSize)),
			grpc.WithWriteBufferSize(sdk.StreamBuffer), grpc.WithReadBufferSize(sdk.StreamBuffer),
			grpc.WithInitialWindowSize(sdk.StreamWindow), grpc.WithInitialConnWindowSize(sdk.StreamWindow),
		},
	})
	rpcc, err := p.start(ctx)
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("start plugin %s (%s): %w%s", spec.Name, spec.Cmd[0], err, p.stderr.context())
	}
	raw, err := rpcc.Dispense(sdk.PluginName)
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	p.rpc = raw.(pb.PluginClient)
	if p.Info, err = p.rpc.Describe(ctx, &pb.DescribeRequest{}); err != nil {
		p.kill()
		return nil, fmt.Errorf("plugin %s: describe: %w%s", spec.Name, err, p.stderr.context())
	}
	return p, nil
}

// configure passes the options and opens the stream.
func (p *Plugin) configure(ctx context.Context, run *pb.RunInfo) error {
	spec, ui := p.Spec, p.ui
	resp, err := p.rpc.Configure(ctx, &pb.ConfigureRequest{Options: spec.Options, Run: run})
	if err != nil {
		p.kill()
		return fmt.Errorf("plugin %s: %s", spec.Name, grpcMessage(err))
	}
	for _, w := range resp.GetWarnings() {
		ui.Warn(spec.Name, w)
	}
	// The stream lives until Close, independent of the caller's ctx: a
	// stopping capture still delivers what it has.
	p.codec = codec.NewSender()
	if p.stream, err = p.rpc.Consume(context.Background(), p.codec.CallOption()); err != nil {
		p.kill()
		return fmt.Errorf("plugin %s: consume: %w", spec.Name, err)
	}
	p.queue = make(chan queued, spec.Queue)
	if c := p.Info.GetCredits(); c > 0 {
		p.tokens = make(chan struct{}, maxCredits)
		p.grant(c)
	}
	p.sent = make(chan struct{})
	p.reports = make(chan struct{})
	go p.send()
	go p.readReports()
	return nil
}

// grpcMessage strips gRPC's "rpc error: code = … desc =" from a plugin's error.
func grpcMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "desc = "); i >= 0 {
		return s[i+len("desc = "):]
	}
	return s
}

func (p *Plugin) fail(err error) {
	if p.failed.CompareAndSwap(nil, &err) {
		// A dead plugin's last stderr lines may still be in the pipe: give
		// go-plugin a moment to read them before quoting them.
		for i := 0; i < 20 && !p.client.Exited(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if p.client.Exited() {
			time.Sleep(20 * time.Millisecond)
		}
		p.ui.Warn(p.Name, fmt.Sprintf("plugin failed, its output stops here: %v%s", err, p.stderr.context()))
	}
}

// Err returns why the plugin failed, or nil.
func (p *Plugin) Err() error {
	if e := p.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *Plugin) send() {
	defer close(p.sent)
	for q := range p.queue {
		if err := p.sendOne(q); err != nil {
			// gRPC's Send says only EOF; the reason comes from Recv, which
			// the report reader is about to see.
			select {
			case <-p.reports:
			case <-time.After(time.Second):
			}
			p.fail(fmt.Errorf("send batch: %w", err))
		}
	}
}

// sendOne hands q's batch to gRPC and releases it once gRPC no longer
// needs its memory: its records and trace records go out from the
// batch's own buffers (plugins/proto/codec), so that may be after
// sendOne returns.
func (p *Plugin) sendOne(q queued) error {
	if p.Err() != nil {
		q.release()
		return nil // drain so that Send never blocks on a dead plugin
	}
	if p.tokens != nil {
		select {
		case <-p.tokens:
		case <-p.reports: // the plugin is gone: no credit will come
			q.release()
			return nil
		}
	}
	return p.codec.Send(p.stream, q.b, q.done)
}

func (p *Plugin) readReports() {
	defer close(p.reports)
	for {
		r, err := p.stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.fail(fmt.Errorf("consume: %s", grpcMessage(err)))
			return
		}
		for _, l := range r.Lines {
			p.ui.Line(p.Name, l)
		}
		for _, w := range r.Warnings {
			p.ui.Warn(p.Name, w)
		}
		if p.tokens != nil {
			p.grant(r.Credits)
		}
	}
}

// maxCredits bounds the credits a plugin may hold.
const maxCredits = 1 << 16

// grant adds n credits, beyond maxCredits ignored.
func (p *Plugin) grant(n uint32) {
	for ; n > 0; n-- {
		select {
		case p.tokens <- struct{}{}:
		default:
			return
		}
	}
}

// Send queues b for the plugin. b must not be changed afterwards. A lossless
// plugin makes Send wait for room; another loses b when its queue is full.
func (p *Plugin) Send(b *pb.Batch) { p.SendThen(b, nil) }

// SendThen is Send, and calls done (when not nil) once b's memory is no
// longer needed: after b was sent, dropped or discarded because the plugin
// had failed. done may run on another goroutine.
func (p *Plugin) SendThen(b *pb.Batch, done func()) {
	q := queued{b, done}
	if p.Err() != nil {
		q.release()
		return
	}
	select {
	case p.queue <- q:
		return
	default:
	}
	if !p.Info.GetLossless() {
		p.dropped.Add(1)
		q.release()
		return
	}
	start := time.Now()
	p.queue <- q
	p.stalled.Add(int64(time.Since(start)))
}

// queued is a batch waiting to be sent, and what to call once it is gone.
type queued struct {
	b    *pb.Batch
	done func()
}

func (q queued) release() {
	if q.done != nil {
		q.done()
	}
}

// Backlog is how many batches wait in the plugin's queue now.
func (p *Plugin) Backlog() int { return len(p.queue) }

// Dropped is how many batches the plugin has lost so far (not lossless
// plugins that fell behind).
func (p *Plugin) Dropped() uint64 { return p.dropped.Load() }

// Result is what a plugin reports at the end.
type Result struct {
	Finish  *pb.FinishResponse
	Dropped uint64        // batches lost because the plugin fell behind
	Stalled time.Duration // time the capture waited for the plugin
	Err     error         // why the plugin failed, if it did
}

// Close ends the stream, lets the plugin flush (Finish) and stops the process.
// A plugin that has not finished when ctx ends is killed.
func (p *Plugin) Close(ctx context.Context) Result {
	close(p.queue)
	wait := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		case <-ctx.Done():
			p.kill()
			p.fail(fmt.Errorf("did not finish in time (%v): killed", ctx.Err()))
			<-c // the kill breaks the stream, which ends the goroutine
			return false
		}
	}
	if wait(p.sent) {
		if err := p.stream.CloseSend(); err != nil {
			p.fail(err)
		}
	}
	wait(p.reports)
	res := Result{Dropped: p.dropped.Load(), Stalled: time.Duration(p.stalled.Load())}
	if p.Err() == nil {
		f, err := p.rpc.Finish(ctx, &pb.FinishRequest{})
		if err != nil {
			p.fail(fmt.Errorf("finish: %s", grpcMessage(err)))
		}
		res.Finish = f
	}
	p.kill()
	res.Err = p.Err()
	return res
}

// start runs go-plugin's start-up (fork, handshake, connect) on an OS thread
// of the plugin's own, locked for as long as the plugin runs: a child's
// parent-death signal fires when the thread that forked it ends, and Go ends
// threads (e.g. after a failed namespace switch). One plugin's slow
// handshake delays no other, and ctx ends the wait.
func (p *Plugin) start(ctx context.Context) (plugin.ClientProtocol, error) {
	type result struct {
		c   plugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if p.Spec.Idle {
			// Inherited by the process forked from this thread, which
			// does nothing else but wait, and which ends with this
			// goroutine (it stays locked) rather than going back to
			// the runtime at low priority. SCHED_IDLE, not only nice
			// 19: a CPU busy with nice-19 work looks busy to the
			// kernel, which then wakes the readers on the CPU that
			// forwards the traffic (internal/sched says more).
			sched.Idle()
		}
		c, err := p.client.Client()
		done <- result{c, err}
		for !p.client.Exited() {
			time.Sleep(100 * time.Millisecond)
		}
		if !p.Spec.Idle {
			runtime.UnlockOSThread()
		}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// kill ends the plugin and every process it started.
func (p *Plugin) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.client.Kill()
	os.RemoveAll(p.sockDir)
}

// tail forwards a plugin's stderr to the UI line by line, turning go-plugin's
// JSON log lines into their message, and keeps the last lines for errors.
type tail struct {
	name  string
	ui    UI
	mu    sync.Mutex
	last  []string
	panic string // a Go panic's own message, which its stack trace pushes out of last
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var entry struct {
			Message string `json:"@message"`
			Level   string `json:"@level"`
		}
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &entry) == nil && entry.Message != "" {
			line = entry.Message
		}
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			t.panic = line
		}
		t.last = append(t.last, line)
		if len(t.last) > 10 {
			t.last = t.last[1:]
		}
		t.ui.Warn(t.name, line)
	}
	return len(b), nil
}

func (t *tail) context() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.last) == 0 {
		return ""
	}
	words := t.last
	if t.panic != "" && !slices.Contains(words, t.panic) {
		words = append([]string{t.panic, "…"}, words...)
	}
	return "; its last words: " + strings.Join(words, " | ")
}

// Subscribed is the part of b a plugin that wants w receives, or nil when
// that is nothing. Interfaces go to every plugin; the parts are shared,
// read-only.
func Subscribed(b *pb.Batch, w *pb.Subscriptions) *pb.Batch {
	out := &pb.Batch{Seq: b.Seq, Interfaces: b.Interfaces}
	switch {
	case w.GetPacketBytes():
		out.Records, out.RecordCount = b.Records, b.RecordCount
	case w.GetPackets():
		out.Records, out.RecordCount = headersOnly(b.Records), b.RecordCount
	}
	switch {
	case w.GetTraces() && w.GetPackedTraces() && b.TraceCount > 0:
		out.TraceRecords, out.TraceCount = b.TraceRecords, b.TraceCount
	case w.GetTraces(): // also to packed subscribers when only messages exist
		out.Traces = b.Traces
	}
	if w.GetFlows() {
		out.Flows = b.Flows
	}
	if w.GetStats() {
		out.Stats = b.Stats
	}
	if w.GetTopology() {
		out.Routing = b.Routing
	}
	if len(out.Interfaces) == 0 && out.RecordCount == 0 && len(out.Traces) == 0 && out.TraceCount == 0 && len(out.Flows) == 0 && out.Stats == nil && len(out.Routing) == 0 {
		return nil
	}
	return out
}

// headersOnly re-packs records without their bytes (captured length 0;
// the original length stays), for plugins that want packets but not bytes.
func headersOnly(recs []byte) []byte {
	if len(recs) == 0 {
		return nil
	}
	r := record.NewReader(recs)
	var out []byte
	var h record.Header
	for {
		_, ok, err := r.Next(&h)
		if err != nil || !ok {
			return out
		}
		out = record.Append(out, h, nil)
	}
}

// FileInterface describes a device of a capture file (-r) as plugins see
// devices.
func FileInterface(fi pcap.FileInterface) *pb.Interface {
	return &pb.Interface{
		Id: fi.ID, Name: fi.Name, Ifname: fi.Ifname, Ifindex: fi.IfIndex, Netns: fi.NetNS,
		Hatype: uint32(fi.HAType), Description: fi.Description, Up: true,
	}
}
