package main

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/flow"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// pipeline sits between the session and the outputs: it correlates the
// sightings of each packet into a trace, accounts traces to flows, and
// hands annotated records, traces and flows to the fanout.
type pipeline struct {
	corr     *correlate.Correlator
	flows    *flow.Table
	out      sender
	ownNS    netns.ID
	names    []string // display name by interface id
	devices  []*pb.Interface
	buf      []byte
	lastTick int64

	digest *digest
	stops  *stops
	ct     *ctWatch // nil: conntrack not followed

	// The batch's traces, packed; scratch for packing.
	packed  record.TraceWriter
	hop     record.TraceHop
	summary []byte

	// Scratch for paths.
	steps  []flow.Step
	pieces []int

	// String caches; reset when full.
	paths   map[string]string // hop key (interface, direction)… → path text
	pathKey []byte

	// routes supplies routing snapshots to plugins that want topology;
	// nil when none does.
	routes *routing

	// fileEnd is, for -r, the file's last time: the clock of finish, so
	// that reading a file expires no flow for the time since it was
	// written. 0: the wall clock.
	fileEnd int64

	// For the status line, read from another goroutine.
	sightings, traces atomic.Uint64
}

// sender is where emit sends its batches: the outputs' fanout, or for -r,
// until the outputs have started, a queue in front of them.
type sender interface {
	send(b *pb.Batch, recs, traces []byte, ntraces int) (nextRecs, nextTraces []byte)
}

func newPipeline(cfg correlate.Config, fcfg flow.Config, out sender, own netns.ID) *pipeline {
	p := &pipeline{corr: correlate.New(cfg), flows: flow.NewTable(fcfg), out: out, ownNS: own, digest: newDigest(),
		paths: map[string]string{}}
	p.stops = newStops(own, p.name, p.digest.local)
	p.digest.name = p.name
	return p
}

// Deliver implements tracer.Sink.
func (p *pipeline) Deliver(b *tracer.Batch) error {
	now := b.Time
	if now == 0 {
		now = time.Now().UnixNano()
	}
	for _, src := range b.NewSources {
		p.corr.AddSource(src, now)
	}
	for _, d := range b.Devices {
		p.routes.ensure(d.NetNS, d.NetNSName)
		p.announce(deviceToPB(d, p.ownNS))
		p.learnTunnel(d.Tunnel)
		p.stops.device(d)
		p.ct.ensure(d.NetNS, d.NetNSName)
	}
	if b.Count > 0 {
		p.sightings.Add(uint64(b.Count))
		if err := p.corr.Add(b.Source, b.Records, now); err != nil {
			return err
		}
	}
	for _, src := range b.GoneSources {
		p.corr.RemoveSource(src)
	}
	p.corr.Advance(now)
	p.emit(now, false)
	return nil
}

// announce queues a device for the next batch, before its records.
func (p *pipeline) announce(ifc *pb.Interface) {
	p.digest.device(ifc)
	p.devices = append(p.devices, ifc)
	for int(ifc.Id) >= len(p.names) {
		p.names = append(p.names, "")
	}
	p.names[ifc.Id] = ifc.Name
}

// learnTunnel has the correlator look into UDP to a VXLAN or Geneve
// device's port, when it is not one of the well-known ones: the underlay's
// copies of the device's packets then join their traces. Copies seen
// before the device's first sighting are not looked into.
func (p *pipeline) learnTunnel(t *topology.Tunnel) {
	if t == nil || t.Port == 0 {
		return
	}
	cur := p.corr.Config().Tunnels
	switch {
	case t.Encap == record.EncapVXLAN && !slices.Contains(cur.VXLAN, t.Port):
		p.corr.SetTunnels(cur.With([]uint16{t.Port}, nil))
	case t.Encap == record.EncapGeneve && !slices.Contains(cur.Geneve, t.Port):
		p.corr.SetTunnels(cur.With(nil, []uint16{t.Port}))
	}
}

// Tick implements tracer.Ticker: traces close while no frame arrives.
func (p *pipeline) Tick(t time.Time) error {
	now := t.UnixNano()
	p.corr.Advance(now)
	p.emit(now, false)
	return nil
}

// finish releases everything still held and ends every flow.
func (p *pipeline) finish() {
	// In steps, each its own batch: one batch of everything held would be
	// the largest allocation of the run.
	for p.corr.FlushStep() {
		p.emit(p.endTime(), false)
	}
	p.emit(p.endTime(), true)
}

// endTime is the clock of finish.
func (p *pipeline) endTime() int64 {
	if p.fileEnd != 0 {
		return p.fileEnd
	}
	return time.Now().UnixNano()
}

// flowExpiry is how often idle flows are looked for.
const flowExpiry = time.Second

// maxBatchRecords bounds the record bytes of one batch: a correlation step
// can release a window of 64 KB super-packets at once, and each batch is
// copied and queued whole on its way to every plugin.
const maxBatchRecords = 2 << 20

// maxBatchTraces bounds the traces of one batch. Traces close in bursts:
// when the wall clock passes the end of a burst's last window, a window's
// worth at once (tens of thousands at this host's forwarding rate), and
// their Go form, packed form and records were each tens of megabytes,
// the run's peak memory. 8192 is more than the 2 MiB of records of a
// batch of small packets hold.
const maxBatchTraces = 8192

func (p *pipeline) emit(now int64, final bool) {
	for more := true; more; {
		var recs []byte
		var n int
		var traces []*correlate.Trace
		recs, n, traces, more = p.corr.DrainLimit(p.buf[:0], maxBatchRecords, maxBatchTraces)
		p.buf = recs
		p.traces.Add(uint64(len(traces)))
		batch := &pb.Batch{Interfaces: p.devices, RecordCount: uint32(n), Routing: p.routes.take()}
		p.devices = nil
		for _, tr := range traces {
			id, evicted := p.flows.Add(tr)
			stopped, known := p.stops.explain(tr, now)
			if stopped == "" && known {
				p.flows.Transit(id, tr)
				p.digest.transit(tr)
			}
			path := p.pack(tr, id, stopped, p.ct.note(tr, p.stops.nsOf))
			p.digest.trace(tr, path, stopped)
			for _, f := range evicted {
				batch.Flows = append(batch.Flows, p.flowToPB(f))
			}
		}
		if !more {
			var ended []*flow.Flow
			if final {
				ended = p.flows.Flush()
			} else if now-p.lastTick >= int64(flowExpiry) {
				p.lastTick = now
				ended = p.flows.Expire(now)
			}
			for _, f := range ended {
				batch.Flows = append(batch.Flows, p.flowToPB(f))
			}
		}
		if n == 0 && len(batch.Interfaces) == 0 && p.packed.Count() == 0 && len(batch.Flows) == 0 && len(batch.Routing) == 0 {
			continue
		}
		var packed []byte
		p.buf, packed = p.out.send(batch, recs, p.packed.Bytes(), p.packed.Count())
		p.packed.ResetTo(packed)
	}
}

// pathText is "DEVICE dir → DEVICE dir → …"; a segmented packet's names
// each device once, with "×N" where N of its pieces were seen there
// (flow.StepsOf).
func (p *pipeline) pathText(tr *correlate.Trace) string {
	p.steps, p.pieces = flow.StepsOf(tr, p.steps[:0], p.pieces)
	return p.stepsText(p.steps, p.pieces)
}

// stepsText spells a path of steps, with the pieces each saw if any.
func (p *pipeline) stepsText(steps []flow.Step, pieces []int) string {
	var b strings.Builder
	for k, s := range steps {
		if k > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(p.name(s.Iface) + " " + s.Dir.String())
		if k < len(pieces) && pieces[k] > 1 {
			b.WriteString(" ×" + strconv.Itoa(pieces[k]))
		}
	}
	return b.String()
}

func (p *pipeline) name(id uint32) string {
	if int(id) < len(p.names) && p.names[id] != "" {
		return p.names[id]
	}
	return "if#" + strconv.FormatUint(uint64(id), 10)
}

// pack appends tr to the batch's packed traces and returns its path text.
func (p *pipeline) pack(tr *correlate.Trace, flowID uint64, stopped, ctNote string) string {
	p.packed.Begin()
	key := p.pathKey[:0]
	for i := range tr.Hops {
		h := &tr.Hops[i]
		p.hop = record.TraceHop{
			TimeNanos: h.TimeNanos, Iface: h.Iface, OrigLen: h.OrigLen, Dir: h.Dir, TTL: h.TTL,
			Tuple: record.Tuple(h.Tuple), Tunnel: h.Tunnel, Segment: h.Segment,
		}
		p.packed.Hop(&p.hop)
		key = append(key, byte(h.Iface), byte(h.Iface>>8), byte(h.Iface>>16), byte(h.Iface>>24), byte(h.Dir))
	}
	p.pathKey = key
	// Most packets take one of a few paths: build each path's text once.
	path, ok := p.paths[string(key)]
	if !ok {
		path = p.pathText(tr)
		if len(p.paths) >= maxCached {
			clear(p.paths)
		}
		p.paths[string(key)] = path
	}
	if tr.Decoded {
		p.summary = tr.Packet.AppendString(p.summary[:0])
	} else {
		p.summary = append(p.summary[:0], sdk.UndecodedSummary...)
	}
	p.packed.End(&record.Trace{
		ID: tr.ID, TimeNanos: tr.TimeNanos(), TransitNanos: int64(tr.Transit()), FlowID: flowID, Segments: uint16(min(tr.Segments, 0xffff)),
		Decoded: tr.Decoded, Path: path, Summary: p.summary, Changes: tr.Changes, Stopped: stopped, Conntrack: ctNote,
	})
	return path
}

// maxCached bounds the path string cache.
const maxCached = 4096

func (p *pipeline) flowToPB(f *flow.Flow) *pb.Flow {
	out := &pb.Flow{
		Id: f.ID, Tuple: sdk.TupleProto(record.Tuple(f.Tuple)), FirstUnixNano: f.First, LastUnixNano: f.Last,
		PacketsForward: f.Packets[0], PacketsReverse: f.Packets[1],
		BytesForward: f.Bytes[0], BytesReverse: f.Bytes[1],
		Nat: f.NAT, Final: f.Final,
	}
	for _, path := range f.Paths {
		out.Paths = append(out.Paths, &pb.PathCount{Path: p.stepsText(path.Steps, path.Pieces), Count: path.Count})
	}
	out.Conntrack = p.ct.flowEntries(f, p.stops.nsOf)
	for i := range f.HopTimes {
		h := &f.HopTimes[i]
		out.HopTimes = append(out.HopTimes, &pb.HopTime{
			From: p.name(h.From.Iface) + " " + h.From.Dir.String(), To: p.name(h.To.Iface) + " " + h.To.Dir.String(),
			Count: h.Count, MinNanos: h.Min, MedianNanos: h.Median(), MaxNanos: h.Max,
		})
	}
	return out
}

// correlationStats fills the correlation part of the run's statistics.
func (p *pipeline) correlationStats() *pb.CorrelationStats {
	cs, fs, cfg := p.corr.Stats(), p.flows.Stats(), p.corr.Config()
	return &pb.CorrelationStats{
		Traces: cs.Traces, MultiHopTraces: cs.MultiHop, Flows: fs.Flows,
		EvictedTraces: cs.Evicted, LateSightings: cs.Late, Undecoded: cs.Undecoded,
		WindowNanos: int64(cfg.Window), MaxTraces: uint32(cfg.MaxTraces),
	}
}
