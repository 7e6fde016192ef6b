package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/filter"
	"github.com/ifacetrace/ifacetrace/tracer/flow"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

func captureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "interface", Aliases: []string{"i"}, Usage: "capture on `DEVICE` only (repeatable); default: every device"},
		&cli.BoolFlag{Name: "promisc", Aliases: []string{"p"}, Usage: "put the -i devices in promiscuous mode"},
		&cli.IntFlag{Name: "snaplen", Aliases: []string{"s"}, Usage: "keep at most `BYTES` of each frame (0: 262144)"},
		&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Usage: "stop after `N` sightings"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after `TIME` (e.g. 30s, 5m)"},
		&cli.StringFlag{Name: "read", Aliases: []string{"r"}, Usage: "correlate the packets of `FILE` (pcap or pcapng, e.g. from tcpdump -i any) instead of capturing; needs no privilege"},
		&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "write `FILE` (repeatable); its extension picks the plugin: .pcapng, .jsonl (or .json)"},
		&cli.StringSliceFlag{Name: "netns", Usage: netnsUsage},
		&cli.IntFlag{Name: "buffer-size", Aliases: []string{"B"}, Usage: "ring buffer per socket in `MiB` (default 32)"},
		&cli.StringFlag{Name: "spool", Usage: "while correlation falls behind, keep the rings drained into a backlog file of up to `SIZE` (default 1G; 0: none, frames wait in the rings)"},
		&cli.StringFlag{Name: "spool-dir", Usage: "put the backlog file in `DIR` (default $TMPDIR or /tmp); it is unlinked at once"},
		&cli.StringFlag{Name: "overload", Usage: "what to do while the backlog is nearly full (three quarters of --spool) or a ring half full: cut (default: keep every frame, cut those longer than 320 bytes to 320, enough for the headers and the trace) or drop (keep frames whole; once the backlog is full the kernel drops them)", Value: "cut"},
		&cli.DurationFlag{Name: "hold", Usage: "while a traffic burst lasts (50 000 frames or 64 MiB a second), hold correlation and output back for up to `TIME`, so that the tracer takes no CPU from the traffic; they catch up from the backlog once it is over (0: deliver as frames come)", Value: tracer.DefaultHold},
		&cli.BoolFlag{Name: "no-conntrack", Usage: "do not follow connection tracking (ctnetlink events) in the captured namespaces; by default traces and flows say which conntrack entry they belong to and whether their NAT is the kernel's mapping"},
		&cli.BoolFlag{Name: "normal-priority", Usage: "correlate at normal CPU priority; by default correlation and output yield to everything else on a busy host, and catch up from the backlog"},
		&cli.StringSliceFlag{Name: "plugin", Usage: "run plugin `NAME[:key=value,...]` (repeatable): a built-in, ifacetrace-plugin-NAME on the plugin path, or a path; sha256=HEX pins its binary"},
		&cli.StringFlag{Name: "dedup", Usage: "`MODE` for pcapng outputs: all (every copy, default) or first (only the first copy of each packet)", Value: "all"},
		&cli.StringFlag{Name: "rotate-size", Usage: "pcapng outputs: start a new file every `SIZE` (e.g. 100M, 1G; like dumpcap -b filesize)"},
		&cli.IntFlag{Name: "rotate-seconds", Usage: "pcapng outputs: start a new file every `N` seconds"},
		&cli.IntFlag{Name: "keep", Usage: "with rotation, keep only the newest `N` files"},
		&cli.DurationFlag{Name: "window", Usage: "copies of one packet are at most `TIME` apart (default 100ms)"},
		&cli.IntFlag{Name: "max-traces", Usage: "keep at most `N` packets open for correlation (default 262144); more are closed early, counted"},
		&cli.DurationFlag{Name: "flow-timeout", Usage: "a flow idle for `TIME` is reported and forgotten (default 30s)"},
		&cli.StringFlag{Name: "ready-file", Usage: "create `PATH` once every socket is open (for scripts)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print what would be opened and exit"},
	}
}

// options turns flags into tracer options.
func options(c *cli.Context) (tracer.Options, []netns.Entry, error) {
	o := tracer.Options{
		Interfaces:  c.StringSlice("interface"),
		Promiscuous: c.Bool("promisc"),
		SnapLen:     c.Int("snaplen"),
		Count:       c.Int("count"),
		Duration:    c.Duration("duration"),
		BufferSize:  c.Int("buffer-size") << 20,
	}
	if o.SnapLen < 0 || o.Count < 0 || o.Duration < 0 || o.BufferSize < 0 {
		return o, nil, usagef("--snaplen, --count, --duration and --buffer-size must not be negative")
	}
	switch v := c.String("spool"); v {
	case "":
	case "0":
		o.Spool = -1
	default:
		n, err := parseSize(v)
		if err != nil {
			return o, nil, usagef("--spool %s: %v", v, err)
		}
		o.Spool = n
	}
	o.SpoolDir = c.String("spool-dir")
	switch v := c.String("overload"); v {
	case "cut":
		o.Overload = tracer.OverloadCut
	case "drop":
		o.Overload = tracer.OverloadDrop
	default:
		return o, nil, usagef("--overload %s: want cut or drop", v)
	}
	switch h := c.Duration("hold"); {
	case h < 0:
		return o, nil, usagef("--hold must not be negative")
	case h == 0:
		o.Hold = -1
	default:
		o.Hold = h
	}
	o.NormalPriority = c.Bool("normal-priority")
	entries, follow, err := selectNamespaces(c.StringSlice("netns"))
	o.Follow = follow
	return o, entries, err
}

func captureAction(c *cli.Context) error {
	pcapngOpts, err := pcapngOptions(c)
	if err != nil {
		return err
	}
	outs, err := parseOutputs(c.StringSlice("output"), pcapngOpts)
	if err != nil {
		return err
	}
	for _, v := range c.StringSlice("plugin") {
		spec, err := parsePluginFlag(v)
		if err != nil {
			return err
		}
		outs = append(outs, spec)
	}
	// Plugins have none of the capture's privileges: under sudo they run
	// as the user who ran sudo.
	for i := range outs {
		outs[i].Credential = pluginCredential()
	}
	if c.Int("max-traces") < 0 || c.Duration("window") < 0 || c.Duration("flow-timeout") < 0 {
		return usagef("--window, --max-traces and --flow-timeout must not be negative")
	}
	ccfg := correlate.Config{Window: c.Duration("window"), MaxTraces: c.Int("max-traces")}
	fcfg := flow.Config{Timeout: c.Duration("flow-timeout")}
	// Trailing arguments are a filter in tcpdump's language, compiled by
	// libpcap for every link type a capture mixes.
	expr := strings.Join(c.Args().Slice(), " ")
	compile := filter.Compile
	if len(c.StringSlice("interface")) == 0 && c.String("read") == "" {
		compile = filter.CompileAny // sockets on all devices: as tcpdump -i any
	}
	prog, err := compile(expr, c.Int("snaplen"))
	if err != nil {
		return usageError{err}
	}
	for _, w := range prog.Unsupported() {
		fmt.Fprintf(c.App.ErrWriter, "ifacetrace: warning: %v\n", w)
	}
	if file := c.String("read"); file != "" {
		var match func(uint16, []byte) bool
		if prog != nil {
			match = prog.Match
		}
		return readAction(c, file, outs, ccfg, fcfg, expr, match)
	}
	opts, entries, err := options(c)
	if err != nil {
		return err
	}
	opts.Filter, opts.FilterExpr = prog.Instructions(), expr
	spaces, err := spacesOf(entries)
	if err != nil {
		return err
	}
	plan, err := tracer.NewPlan(opts, spaces)
	if err != nil {
		return err
	}
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.Bool("dry-run") {
		fmt.Fprint(stdout, plan)
		for _, o := range outs {
			fmt.Fprintf(stdout, "output: plugin %s %v\n", o.Name, o.Options)
		}
		return nil
	}

	sess, err := tracer.Open(plan)
	if err != nil {
		return err
	}
	start := time.Now()
	ui := &terminal{stdout: bufio.NewWriter(stdout), stderr: stderr}
	for i := range outs {
		outs[i].Idle = plan.Idle // plugins yield the CPU as correlation does
	}
	out, err := startOutputs(c.Context, outs, runInfo(plan.SnapLen, expr, start), ui)
	if err != nil {
		sess.Close()
		return err
	}
	if rf := c.String("ready-file"); rf != "" {
		if err := os.WriteFile(rf, []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
			out.close()
			sess.Close()
			return fmt.Errorf("ready file: %w", err)
		}
	}

	ownNS, _ := netns.Current()
	pipe := newPipeline(ccfg, fcfg, out.sink, ownNS)
	if out.onlyFirstCopies() {
		sess.TrimLaterCopies(pipe.corr.Config().Window)
	}
	if !c.Bool("no-conntrack") {
		pipe.ct = newCTWatch(c.Context, ownNS, func(err error) { fmt.Fprintf(stderr, "ifacetrace: warning: %v\n", err) })
		defer pipe.ct.close()
	}
	if out.wantTopology() {
		pipe.routes = newRouting(c.Context, ownNS, func(err error) { fmt.Fprintf(stderr, "ifacetrace: warning: %v\n", err) })
		defer pipe.routes.close()
	}
	st := startStatus(stderr, start, pipe, sess.KernelDrops, out)
	stats, runErr := sess.Run(c.Context, pipe)
	st.stop()
	if err := sess.WatchError(); err != nil && runErr == nil {
		fmt.Fprintf(stderr, "ifacetrace: warning: %v\n", err)
	}
	return out.finish(pipe, stats, statsToPB(stats, start, time.Now()), start, runErr)
}

// onlyFirstCopies reports whether every plugin that wants packet bytes is
// a built-in pcapng output with --dedup first: then the bytes of a packet's
// later copies are never written, and the readers may trim them.
func (o *outputs) onlyFirstCopies() bool {
	some := false
	for i, p := range o.plugins {
		if !p.Info.GetWants().GetPacketBytes() {
			continue
		}
		s := o.specs[i]
		builtin := len(s.Cmd) == 3 && s.Cmd[1] == pluginServeName && s.Cmd[2] == "pcapng"
		if !builtin || s.Options["dedup"] != "first" {
			return false
		}
		some = true
	}
	return some
}

// outputs are the plugins of a run, or the terminal view when there are
// none.
type outputs struct {
	specs   []host.Spec
	plugins []*host.Plugin
	sink    *fanout
	ui      *terminal
}

func startOutputs(ctx context.Context, specs []host.Spec, run *pb.RunInfo, ui *terminal) (*outputs, error) {
	o := &outputs{specs: specs, ui: ui}
	for _, spec := range specs {
		p, err := host.Start(ctx, spec, run, ui)
		if err != nil {
			o.close()
			return nil, err
		}
		o.plugins = append(o.plugins, p)
	}
	o.sink = &fanout{plugins: o.plugins, ui: ui}
	for _, p := range o.plugins {
		w := p.Info.GetWants()
		o.sink.messages = o.sink.messages || w.GetTraces() && !w.GetPackedTraces()
	}
	if len(o.plugins) == 0 {
		o.sink.view = newView(ui.stdout)
	}
	return o, nil
}

// wantTopology reports whether any plugin asked for routing snapshots.
func (o *outputs) wantTopology() bool {
	for _, p := range o.plugins {
		if p.Info.GetWants().GetTopology() {
			return true
		}
	}
	return false
}

// close ends every plugin: a plugin gets pluginFinishTimeout to write out
// what it has; then it is killed.
func (o *outputs) close() []host.Result {
	ctx, cancel := context.WithTimeout(context.Background(), pluginFinishTimeout)
	defer cancel()
	res := make([]host.Result, len(o.plugins))
	for i, p := range o.plugins {
		res[i] = p.Close(ctx)
	}
	return res
}

// finish releases what the correlator holds, sends the statistics, closes
// the plugins and prints the summary. runErr is the run's own error.
func (o *outputs) finish(pipe *pipeline, stats tracer.Stats, st *pb.Stats, start time.Time, runErr error) error {
	pipe.finish()
	st.Correlation = pipe.correlationStats()
	o.sink.send(&pb.Batch{Stats: st}, nil, nil, 0)
	results := o.close()
	o.ui.flush()
	summary(o.ui.stderr, stats, st.Correlation, o.specs, results, time.Since(start), pipe.names)
	pipe.digest.print(o.ui.stderr)
	if runErr != nil {
		return runErr
	}
	for i, r := range results {
		if r.Err != nil {
			return pluginError{fmt.Errorf("plugin %s failed: %w", o.specs[i].Name, r.Err)}
		}
	}
	return nil
}

const pluginFinishTimeout = time.Minute

func runInfo(snaplen int, filter string, start time.Time) *pb.RunInfo {
	host, _ := os.Hostname()
	osName := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osName = "Linux " + strings.TrimSpace(string(b))
	}
	return &pb.RunInfo{
		IfacetraceVersion: version,
		Hostname:          host,
		Os:                osName,
		Hardware:          runtime.GOARCH,
		StartUnixNano:     start.UnixNano(),
		Snaplen:           uint32(snaplen),
		Filter:            filter,
		CommandLine:       os.Args,
		RecordLayout:      record.Layout,
		TraceLayout:       record.TraceLayout,
	}
}

// pcapngOptions are the plugin options the pcapng flags ask for.
func pcapngOptions(c *cli.Context) (map[string]string, error) {
	opts := map[string]string{"dedup": c.String("dedup")}
	if d := opts["dedup"]; d != "all" && d != "first" {
		return nil, usagef("--dedup %s: use all or first", d)
	}
	if v := c.String("rotate-size"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return nil, usagef("--rotate-size %s: %v", v, err)
		}
		opts["rotate_size"] = strconv.FormatInt(n, 10)
	}
	if n := c.Int("rotate-seconds"); n != 0 {
		if n < 0 {
			return nil, usagef("--rotate-seconds must not be negative")
		}
		opts["rotate_seconds"] = strconv.Itoa(n)
	}
	if n := c.Int("keep"); n != 0 {
		if n < 0 || (opts["rotate_size"] == "" && opts["rotate_seconds"] == "") {
			return nil, usagef("--keep %d needs --rotate-size or --rotate-seconds, and must be positive", n)
		}
		opts["keep"] = strconv.Itoa(n)
	}
	return opts, nil
}

// parseSize reads 1500, 64K, 100M or 2G (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size such as 1500, 64K, 100M or 2G")
	}
	return n * mult, nil
}

// parseOutputs maps -o FILE to plugin specs by the file's extension.
func parseOutputs(files []string, pcapngOpts map[string]string) ([]host.Spec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable to start built-in plugins: %w", err)
	}
	var specs []host.Spec
	for _, f := range files {
		var name string
		opts := map[string]string{"path": f}
		switch strings.ToLower(filepath.Ext(f)) {
		case ".pcapng":
			name = "pcapng"
			for k, v := range pcapngOpts {
				opts[k] = v
			}
		case ".jsonl", ".json":
			name = "json"
		default:
			return nil, usagef("-o %s: no output format for this file name; use a name ending in .pcapng, .jsonl or .json", f)
		}
		specs = append(specs, host.Spec{
			Name:    name,
			Cmd:     []string{self, pluginServeName, name},
			Options: opts,
		})
	}
	return specs, nil
}

// terminal serialises what the capture and the plugins print.
type terminal struct {
	mu     sync.Mutex
	stdout *bufio.Writer
	stderr io.Writer
}

func (t *terminal) Line(plugin, line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.stdout, line)
}

func (t *terminal) Warn(plugin, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stdout.Flush()
	fmt.Fprintf(t.stderr, "ifacetrace: plugin %s: %s\n", plugin, msg)
}

func (t *terminal) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stdout.Flush()
}

// fanout hands each batch to the plugins, or to the terminal view.
type fanout struct {
	plugins []*host.Plugin
	view    *view
	ui      *terminal
	seq     uint64
	// Recycled memory of records and of packed traces, kept apart so that
	// each comes back at the size its kind needs.
	recBufs, traceBufs buffers

	// messages: some plugin wants traces as Trace messages rather than
	// packed.
	messages bool
}

// send delivers a batch whose records are recs and whose traces are packed
// in traces. The batch takes both over, without a copy; send returns the
// buffers for the caller to fill next.
func (f *fanout) send(b *pb.Batch, recs, traces []byte, ntraces int) (nextRecs, nextTraces []byte) {
	f.seq++
	b.Seq = f.seq
	packed := &pb.Batch{TraceRecords: traces}
	if f.view != nil && ntraces > 0 {
		f.ui.mu.Lock()
		sdk.EachTrace(packed, func(v record.TraceView) error { f.view.trace(v); return nil })
		f.ui.stdout.Flush()
		f.ui.mu.Unlock()
	}
	if len(f.plugins) == 0 {
		return recs, traces
	}
	if len(recs) > 0 {
		b.Records = recs
	}
	if ntraces > 0 {
		b.TraceRecords, b.TraceCount = traces, uint32(ntraces)
		if f.messages {
			b.Traces = make([]*pb.Trace, 0, ntraces)
			sdk.EachTrace(packed, func(v record.TraceView) error {
				b.Traces = append(b.Traces, sdk.TraceProto(v))
				return nil
			})
		}
	}
	// The plugins share the batch's memory, read-only; it comes back
	// once the last of them has handed it to gRPC (or dropped it).
	refs := new(atomic.Int32)
	refs.Store(1)
	release := func() {
		if refs.Add(-1) == 0 {
			f.recBufs.put(recs)
			f.traceBufs.put(traces)
		}
	}
	for _, p := range f.plugins {
		if pb := host.Subscribed(b, p.Info.GetWants()); pb != nil {
			refs.Add(1)
			p.SendThen(pb, release)
		}
	}
	release()
	return f.recBufs.get(), f.traceBufs.get()
}

// buffers recycles the memory of batches: a fresh buffer for every batch
// costs page faults and clearing, growing one from nothing costs copies,
// and a copy of each batch costs as much again.
type buffers struct {
	mu   sync.Mutex
	free [][]byte
	size int // capacity for a new buffer: the largest batch lately
}

// maxFreeBuffers bounds the spare buffers kept. Batches come back as fast
// as they go out unless a plugin falls behind, and spare megabytes are
// heap the garbage collector works to keep under the memory limit.
const maxFreeBuffers = 4

func (p *buffers) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.free)
	if n == 0 {
		return make([]byte, 0, p.size)
	}
	b := p.free[n-1]
	p.free = p.free[:n-1]
	return b[:0]
}

func (p *buffers) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Follow the batches' size, up and (slowly) down.
	p.size = max(len(b)+len(b)/4, p.size-p.size/16)
	if len(p.free) < maxFreeBuffers && cap(b) >= p.size/2 {
		p.free = append(p.free, b)
	}
}

// counters formats a plugin's counters: "frames" alone as "N frames", any
// others as "key N", sorted.
func counters(c map[string]uint64) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
	}
	return strings.Join(parts, ", ")
}

// summary prints per-device counts, drops and outputs on stderr.
func summary(w io.Writer, st tracer.Stats, cs *pb.CorrelationStats, outs []host.Spec, results []host.Result, took time.Duration, names []string) {
	fmt.Fprintf(w, "ifacetrace: %d sightings in %s", st.Sightings, took.Round(time.Millisecond))
	if d := st.Drops(); d > 0 {
		fmt.Fprintf(w, ", %d DROPPED by the kernel (ring full: raise -B or --spool, or lower -s)", d)
	} else {
		fmt.Fprint(w, ", none dropped by the kernel")
	}
	fmt.Fprintln(w)
	if bs := st.Backlog; bs.SpooledBatches > 0 || bs.Waits > 0 {
		fmt.Fprintf(w, "ifacetrace: correlation fell behind the capture: up to %d MiB waited, %d MiB went through the backlog file",
			bs.PeakBytes>>20, bs.SpooledBytes>>20)
		if bs.Waits > 0 {
			fmt.Fprintf(w, "; it was full %d times (raise --spool)", bs.Waits)
		}
		fmt.Fprintln(w)
	}
	if st.Cut > 0 {
		fmt.Fprintf(w, "ifacetrace: %d frames cut to %d bytes while the backlog was nearly full or the capture behind (raise --spool or -B to keep them whole, or --overload drop to keep them whole or not at all)\n", st.Cut, tracer.CutLen)
	}
	if st.Holds > 0 {
		fmt.Fprintf(w, "ifacetrace: %d traffic bursts held correlation and output back for %s in all, to leave the CPUs to the traffic (--hold 0: deliver as frames come)\n", st.Holds, st.Held.Round(time.Millisecond))
	}
	if e := st.Backlog.SpoolError; e != "" {
		fmt.Fprintf(w, "ifacetrace: the backlog could not spool (%s): choose another --spool-dir\n", e)
	}
	fmt.Fprintf(w, "ifacetrace: %d packets (traces), %d seen on more than one device; %d flows", cs.Traces, cs.MultiHopTraces, cs.Flows)
	if cs.EvictedTraces > 0 {
		fmt.Fprintf(w, "; %d traces closed early because %d were open (raise --max-traces)", cs.EvictedTraces, cs.MaxTraces)
	}
	if cs.LateSightings > 0 {
		fmt.Fprintf(w, "; %d sightings came too late to join their packet (the host was busy): those packets may show as split", cs.LateSightings)
	}
	fmt.Fprintln(w)
	devs := append([]tracer.DeviceStats(nil), st.Devices...)
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].In+devs[i].Out > devs[j].In+devs[j].Out })
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  device\tin\tout\t")
	for _, d := range devs {
		if d.In+d.Out == 0 {
			continue
		}
		name := d.Name
		if int(d.ID) < len(names) && names[d.ID] != "" {
			name = names[d.ID]
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t\n", name, d.In, d.Out)
	}
	tw.Flush()
	for i, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "ifacetrace: %s output FAILED: %v\n", outs[i].Name, r.Err)
		case r.Finish != nil:
			what := counters(r.Finish.Counters)
			switch fs := r.Finish.Files; len(fs) {
			case 0:
				if what != "" {
					fmt.Fprintf(w, "ifacetrace: %s: %s\n", outs[i].Name, what)
				}
			case 1:
				fmt.Fprintf(w, "ifacetrace: wrote %s (%s)\n", fs[0], what)
			default:
				fmt.Fprintf(w, "ifacetrace: wrote %d files (%s in all): %s … %s\n", len(fs), what, fs[0], fs[len(fs)-1])
			}
			for _, warn := range r.Finish.Warnings {
				fmt.Fprintf(w, "ifacetrace: plugin %s: %s\n", outs[i].Name, warn)
			}
		}
		if r.Dropped > 0 {
			fmt.Fprintf(w, "ifacetrace: %s fell behind and lost %d batches\n", outs[i].Name, r.Dropped)
		}
		if r.Stalled > 100*time.Millisecond {
			fmt.Fprintf(w, "ifacetrace: the capture waited %s for %s\n", r.Stalled.Round(time.Millisecond), outs[i].Name)
		}
	}
}
