package json

import (
	"bufio"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// TimeLayout is how every time is written: RFC 3339 in UTC with exactly nine
// fractional digits, so that the strings sort in time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Plugin writes one JSON lines file.
type Plugin struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	enc  *stdjson.Encoder

	devices map[uint32]device // Interface.id → names, from announcements
	strs    sdk.Strings       // paths, changes and addresses, kept once

	// What the trace path reuses from one trace to the next, so that a
	// trace line costs one allocation (its text) rather than one per
	// string, hop and tunnel: see traceOf and writeTrace.
	trace   traceLine
	tunnels []tunnelSlot
	text    []byte // the trace's own strings, before they become one string
	out     []byte // the trace line, before it is written

	traces, flows, lines uint64
	unknownHops          uint64 // hops naming an interface never announced
	firstUnknown         uint32 // the first such interface id
}

// device is what a hop line repeats of its interface.
type device struct {
	name, netns, ifname string
}

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{devices: map[uint32]device{}} }

// Describe implements sdk.Plugin.
func (p *Plugin) Describe() *pb.PluginInfo {
	return &pb.PluginInfo{
		Name:        "json",
		Version:     Version,
		Description: "writes JSON lines for jq: one object per interface, trace (every hop of a packet), flow and statistics",
		Wants:       &pb.Subscriptions{Traces: true, PackedTraces: true, Flows: true, Stats: true},
		Options: []*pb.OptionSpec{
			{Name: "path", Type: "path", Help: "file to write", Required: true},
		},
		Lossless: true,
	}
}

// Configure implements sdk.Plugin: it creates the file.
func (p *Plugin) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	p.path = req.GetOptions()["path"]
	if p.path == "" {
		return nil, errors.New("json: option path is required (e.g. -o out.jsonl)")
	}
	if err := sdk.CheckTraceLayout(req.GetRun()); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	f, err := os.Create(p.path)
	if err != nil {
		return nil, fmt.Errorf("json: cannot write %s: %w (choose a file in a writable directory)", p.path, err)
	}
	p.f = f
	p.bw = bufio.NewWriterSize(f, 1<<20)
	p.enc = newEncoder(p.bw)
	return &pb.ConfigureResponse{}, nil
}

// newEncoder returns the encoder of every line but traces, which
// appendTraceLine writes the same way.
func newEncoder(w io.Writer) *stdjson.Encoder {
	enc := stdjson.NewEncoder(w)
	enc.SetEscapeHTML(false) // write <, > and & as they are, for grep
	return enc
}

// Consume implements sdk.Plugin. It writes the batch's interfaces, then its
// traces, then its flows, then its statistics; packet records are ignored.
func (p *Plugin) Consume(_ context.Context, b *pb.Batch, r *sdk.Reporter) error {
	if p.enc == nil {
		return fmt.Errorf("json: batch %d before Configure", b.GetSeq())
	}
	for _, ifc := range b.GetInterfaces() {
		p.devices[ifc.GetId()] = device{name: ifc.GetName(), netns: ifc.GetNetns(), ifname: ifc.GetIfname()}
		if err := p.write(interfaceOf(ifc)); err != nil {
			return p.writeError(b, err)
		}
	}
	var werr error
	err := sdk.EachTrace(b, func(t record.TraceView) error {
		if werr = p.writeTrace(p.traceOf(t, r)); werr != nil {
			return werr
		}
		p.traces++
		return nil
	})
	if werr != nil {
		return p.writeError(b, werr)
	}
	if err != nil {
		return fmt.Errorf("json: batch %d: %w", b.GetSeq(), err)
	}
	for _, f := range b.GetFlows() {
		if err := p.write(flowOf(f)); err != nil {
			return p.writeError(b, err)
		}
		p.flows++
	}
	if st := b.GetStats(); st != nil {
		if err := p.write(p.statsOf(st)); err != nil {
			return p.writeError(b, err)
		}
	}
	return nil
}

func (p *Plugin) write(v any) error {
	if err := p.enc.Encode(v); err != nil { // one line, newline included
		return err
	}
	p.lines++
	return nil
}

// writeTrace writes a trace line with appendTraceLine, which writes what
// write (encoding/json) would in about a third of the time.
func (p *Plugin) writeTrace(l *traceLine) error {
	p.out = appendTraceLine(p.out[:0], l)
	_, err := p.bw.Write(p.out)
	if cap(p.out) > maxKeptLine {
		p.out = nil // do not hold on to the memory of a freak line
	}
	if err != nil {
		return err
	}
	p.lines++
	return nil
}

// maxKeptLine is the largest line buffer writeTrace keeps for the next
// line. Trace lines are about 1 KB; one with 255 changes of 64 KiB each is
// possible in principle.
const maxKeptLine = 1 << 20

func (p *Plugin) writeError(b *pb.Batch, err error) error {
	return fmt.Errorf("json: batch %d: write %s: %w", b.GetSeq(), p.path, err)
}

// Finish implements sdk.Plugin: flush and close. Like tcpdump, it does not
// fsync: the file is complete for any reader once ifacetrace exits, and
// an fsync of a large file cost a benchmark run half a second.
func (p *Plugin) Finish(context.Context) (*pb.FinishResponse, error) {
	if p.f == nil {
		return &pb.FinishResponse{}, nil
	}
	err := errors.Join(p.bw.Flush(), p.f.Close())
	p.f, p.bw, p.enc = nil, nil, nil
	if err != nil {
		return nil, fmt.Errorf("json: finish %s: %w", p.path, err)
	}
	abs, _ := filepath.Abs(p.path)
	resp := &pb.FinishResponse{
		Files:    []string{abs},
		Counters: map[string]uint64{"traces": p.traces, "flows": p.flows, "lines": p.lines},
	}
	if p.unknownHops > 0 {
		resp.Warnings = []string{fmt.Sprintf("json: %d hops named interfaces never announced (the first: id %d); written as device \"if#ID\"",
			p.unknownHops, p.firstUnknown)}
	}
	return resp, nil
}

// The line types. Field order is output order: "type" comes first. Only
// stats' per-interface "dropped" and "correlation" are ever left out;
// arrays are never null.
//
// traceLine, hopLine and tunnelLine are written by appendTraceLine
// (append.go), not encoding/json: a change to them needs a change there,
// which the tests in append_test.go insist on.

type interfaceLine struct {
	Type        string   `json:"type"`
	ID          uint32   `json:"id"`
	Name        string   `json:"name"`
	Netns       string   `json:"netns"`
	NetnsInode  uint64   `json:"netns_inode"`
	Ifname      string   `json:"ifname"`
	Ifindex     int32    `json:"ifindex"`
	Kind        string   `json:"kind"`
	Hatype      uint32   `json:"hatype"`
	MAC         string   `json:"mac"`
	MTU         uint32   `json:"mtu"`
	Up          bool     `json:"up"`
	Carrier     bool     `json:"carrier"`
	Master      string   `json:"master"`
	Peer        string   `json:"peer"`
	Addresses   []string `json:"addresses"`
	Description string   `json:"description"`
	Snaplen     uint32   `json:"snaplen"`
}

type traceLine struct {
	Type         string    `json:"type"`
	ID           uint64    `json:"id"`
	Time         string    `json:"time"`
	TimeUnixNano int64     `json:"time_unix_nano"`
	TransitNS    int64     `json:"transit_ns"`
	Summary      string    `json:"summary"`
	Path         string    `json:"path"`
	FlowID       uint64    `json:"flow_id"`
	Changes      []string  `json:"changes"`
	Segments     uint32    `json:"segments,omitempty"`
	Stopped      string    `json:"stopped,omitempty"`
	Conntrack    string    `json:"conntrack,omitempty"`
	Hops         []hopLine `json:"hops"`
}

type hopLine struct {
	Netns        string      `json:"netns"`
	Ifname       string      `json:"ifname"`
	Device       string      `json:"device"`
	InterfaceID  uint32      `json:"interface_id"`
	Direction    string      `json:"direction"`
	Time         string      `json:"time"`
	TimeUnixNano int64       `json:"time_unix_nano"`
	OffsetNS     int64       `json:"offset_ns"`
	Length       uint32      `json:"length"`
	TTL          uint32      `json:"ttl"`
	Proto        string      `json:"proto"`
	Src          string      `json:"src"`
	Dst          string      `json:"dst"`
	Sport        uint32      `json:"sport"`
	Dport        uint32      `json:"dport"`
	Tunnel       *tunnelLine `json:"tunnel,omitempty"`
	Segment      uint32      `json:"segment,omitempty"`
}

type tunnelLine struct {
	Encap      string  `json:"encap"`
	ID         *uint32 `json:"id,omitempty"`
	OuterProto string  `json:"outer_proto"`
	OuterSrc   string  `json:"outer_src"`
	OuterDst   string  `json:"outer_dst"`
	OuterSport uint32  `json:"outer_sport"`
	OuterDport uint32  `json:"outer_dport"`
	OuterTTL   uint32  `json:"outer_ttl"`
}

type flowLine struct {
	Type          string      `json:"type"`
	ID            uint64      `json:"id"`
	Proto         string      `json:"proto"`
	Src           string      `json:"src"`
	Dst           string      `json:"dst"`
	Sport         uint32      `json:"sport"`
	Dport         uint32      `json:"dport"`
	First         string      `json:"first"`
	FirstUnixNano int64       `json:"first_unix_nano"`
	Last          string      `json:"last"`
	LastUnixNano  int64       `json:"last_unix_nano"`
	Packets       directions  `json:"packets"`
	Bytes         directions  `json:"bytes"`
	Paths         []pathCount `json:"paths"`
	NAT           []string    `json:"nat"`
	Final         bool        `json:"final"`
	HopTimes      []hopTime   `json:"hop_times"`
	Conntrack     []ctLine    `json:"conntrack"`
}

type ctLine struct {
	Netns     string   `json:"netns"`
	Orig      ctTuple  `json:"orig"`
	Reply     ctTuple  `json:"reply"`
	Zone      uint32   `json:"zone"`
	Mark      uint32   `json:"mark"`
	State     string   `json:"state"`
	Status    []string `json:"status"`
	NAT       []string `json:"nat"`
	Confirmed bool     `json:"confirmed"`
	Destroyed bool     `json:"destroyed"`
}

type ctTuple struct {
	Proto string `json:"proto"`
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Sport uint32 `json:"sport"`
	Dport uint32 `json:"dport"`
}

type hopTime struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Count    uint64 `json:"count"`
	MinNS    int64  `json:"min_ns"`
	MedianNS int64  `json:"median_ns"`
	MaxNS    int64  `json:"max_ns"`
}

type directions struct {
	Forward uint64 `json:"forward"`
	Reverse uint64 `json:"reverse"`
}

type pathCount struct {
	Path  string `json:"path"`
	Count uint64 `json:"count"`
}

type statsLine struct {
	Type          string            `json:"type"`
	Start         string            `json:"start"`
	StartUnixNano int64             `json:"start_unix_nano"`
	End           string            `json:"end"`
	EndUnixNano   int64             `json:"end_unix_nano"`
	Sightings     uint64            `json:"sightings"`
	Interfaces    []interfaceStats  `json:"interfaces"`
	Sockets       []socketStats     `json:"sockets"`
	Correlation   *correlationStats `json:"correlation,omitempty"`
}

type interfaceStats struct {
	ID      uint32  `json:"id"`
	Device  string  `json:"device"`
	In      uint64  `json:"in"`
	Out     uint64  `json:"out"`
	Dropped *uint64 `json:"dropped,omitempty"` // only when it had a socket of its own
}

type socketStats struct {
	Device  string `json:"device"`
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}

type correlationStats struct {
	Traces         uint64 `json:"traces"`
	MultiHopTraces uint64 `json:"multi_hop_traces"`
	Flows          uint64 `json:"flows"`
	EvictedTraces  uint64 `json:"evicted_traces"`
	LateSightings  uint64 `json:"late_sightings"`
	Undecoded      uint64 `json:"undecoded"`
	WindowNS       int64  `json:"window_ns"`
	MaxTraces      uint32 `json:"max_traces"`
}

func interfaceOf(ifc *pb.Interface) *interfaceLine {
	return &interfaceLine{
		Type: "interface", ID: ifc.GetId(), Name: ifc.GetName(),
		Netns: ifc.GetNetns(), NetnsInode: ifc.GetNetnsInode(), Ifname: ifc.GetIfname(), Ifindex: ifc.GetIfindex(),
		Kind: ifc.GetKind(), Hatype: ifc.GetHatype(), MAC: ifc.GetMac(), MTU: ifc.GetMtu(),
		Up: ifc.GetUp(), Carrier: ifc.GetCarrier(), Master: ifc.GetMaster(), Peer: ifc.GetPeer(),
		Addresses: nonNil(ifc.GetAddresses()), Description: ifc.GetDescription(), Snaplen: ifc.GetSnaplen(),
	}
}

// hopDevice is the device of a hop's interface. One never announced is
// named "if#N"; the first is warned about, all are counted.
func (p *Plugin) hopDevice(iface uint32, trace uint64, r *sdk.Reporter) device {
	dev, ok := p.devices[iface]
	if ok {
		return dev
	}
	dev = device{name: "if#" + strconv.FormatUint(uint64(iface), 10)}
	if p.unknownHops == 0 {
		p.firstUnknown = iface
		if r != nil {
			r.Warn(fmt.Sprintf("json: trace %d has a hop on interface %d, which was never announced; written as device %q (further ones are only counted)",
				trace, iface, dev.name))
		}
	}
	p.unknownHops++
	return dev
}

// tunnelSlot is where traceOf keeps a hop's tunnel, with the id the
// tunnel line points to.
type tunnelSlot struct {
	line tunnelLine
	id   uint32
}

// traceOf returns the line of trace t. The line, its slices and its
// tunnels are the plugin's, reused by the next call: write it before then.
func (p *Plugin) traceOf(t record.TraceView, r *sdk.Reporter) *traceLine {
	n := t.NumHops()
	// The strings that are the trace's own — its times, summary and notes —
	// are put one after the other into p.text, made one string at the end
	// and cut up among the fields: one allocation per trace rather than
	// one per string. Every time is timeLen bytes: the trace's first, then
	// the hops' in order.
	txt := appendTime(p.text[:0], t.TimeNanos())

	l := &p.trace
	changes, hops := l.Changes[:0], l.Hops[:0]
	if changes == nil { // the first trace: arrays are written [], not null
		changes = make([]string, 0, 4)
	}
	if hops == nil {
		hops = make([]hopLine, 0, max(n, 4))
	}
	*l = traceLine{
		Type: "trace", ID: t.ID(), TimeUnixNano: t.TimeNanos(),
		TransitNS: t.TransitNanos(), Path: p.strs.Text(t.Path()), FlowID: t.FlowID(),
		Segments: uint32(t.Segments()), Changes: changes, Hops: hops,
	}
	t.Changes(func(c []byte) { l.Changes = append(l.Changes, p.strs.Text(c)) })
	if cap(p.tunnels) < n {
		p.tunnels = make([]tunnelSlot, n)
	}
	p.tunnels = p.tunnels[:n]
	for i := range n {
		h := t.Hop(i)
		dev := p.hopDevice(h.Iface, t.ID(), r)
		txt = appendTime(txt, h.TimeNanos)
		tu := h.Tuple
		l.Hops = append(l.Hops, hopLine{
			Netns: dev.netns, Ifname: dev.ifname, Device: dev.name, InterfaceID: h.Iface,
			Direction: h.Dir.String(), TimeUnixNano: h.TimeNanos,
			OffsetNS: h.TimeNanos - t.TimeNanos(), Length: h.OrigLen, TTL: uint32(h.TTL),
			Proto: tu.ProtoName(), Src: p.strs.Addr(tu.Src), Dst: p.strs.Addr(tu.Dst), Sport: uint32(tu.SrcPort), Dport: uint32(tu.DstPort),
			Tunnel: p.tunnelOf(&h.Tunnel, &p.tunnels[i]), Segment: uint32(h.Segment),
		})
	}
	summary, stopped, ct := t.Summary(), t.Stopped(), t.Conntrack()
	txt = append(txt, summary...)
	txt = append(txt, stopped...)
	txt = append(txt, ct...)
	p.text = txt

	s := string(txt)
	l.Time, s = s[:timeLen], s[timeLen:]
	for i := range l.Hops {
		l.Hops[i].Time, s = s[:timeLen], s[timeLen:]
	}
	l.Summary, s = s[:len(summary)], s[len(summary):]
	l.Stopped, l.Conntrack = s[:len(stopped)], s[len(stopped):]
	return l
}

// tunnelOf returns the line of a hop's tunnel, kept in slot; nil for a hop
// that saw the packet as itself.
func (p *Plugin) tunnelOf(t *record.Tunnel, slot *tunnelSlot) *tunnelLine {
	if t.Encap == record.EncapNone {
		return nil
	}
	o := &t.Outer
	slot.line = tunnelLine{
		Encap: t.Encap.String(), OuterProto: o.ProtoName(), OuterSrc: p.strs.Addr(o.Src), OuterDst: p.strs.Addr(o.Dst),
		OuterSport: uint32(o.SrcPort), OuterDport: uint32(o.DstPort), OuterTTL: uint32(t.OuterTTL),
	}
	if t.HasID {
		slot.id = t.ID
		slot.line.ID = &slot.id
	}
	return &slot.line
}

func flowOf(f *pb.Flow) *flowLine {
	tu := f.GetTuple()
	l := &flowLine{
		Type: "flow", ID: f.GetId(),
		Proto: tu.GetProto(), Src: tu.GetSrc(), Dst: tu.GetDst(), Sport: tu.GetSport(), Dport: tu.GetDport(),
		First: timeString(f.GetFirstUnixNano()), FirstUnixNano: f.GetFirstUnixNano(),
		Last: timeString(f.GetLastUnixNano()), LastUnixNano: f.GetLastUnixNano(),
		Packets:  directions{f.GetPacketsForward(), f.GetPacketsReverse()},
		Bytes:    directions{f.GetBytesForward(), f.GetBytesReverse()},
		Paths:    make([]pathCount, 0, len(f.GetPaths())),
		NAT:      nonNil(f.GetNat()),
		Final:    f.GetFinal(),
		HopTimes: make([]hopTime, 0, len(f.GetHopTimes())),
	}
	for _, pc := range f.GetPaths() {
		l.Paths = append(l.Paths, pathCount{pc.GetPath(), pc.GetCount()})
	}
	l.Conntrack = make([]ctLine, 0, len(f.GetConntrack()))
	for _, c := range f.GetConntrack() {
		tup := func(t *pb.Tuple) ctTuple {
			return ctTuple{Proto: t.GetProto(), Src: t.GetSrc(), Dst: t.GetDst(), Sport: t.GetSport(), Dport: t.GetDport()}
		}
		l.Conntrack = append(l.Conntrack, ctLine{Netns: c.GetNetns(), Orig: tup(c.GetOrig()), Reply: tup(c.GetReply()),
			Zone: c.GetZone(), Mark: c.GetMark(), State: c.GetState(), Status: nonNil(c.GetStatus()), NAT: nonNil(c.GetNat()),
			Confirmed: c.GetConfirmed(), Destroyed: c.GetDestroyed()})
	}
	for _, h := range f.GetHopTimes() {
		l.HopTimes = append(l.HopTimes, hopTime{From: h.GetFrom(), To: h.GetTo(), Count: h.GetCount(),
			MinNS: h.GetMinNanos(), MedianNS: h.GetMedianNanos(), MaxNS: h.GetMaxNanos()})
	}
	return l
}

func (p *Plugin) statsOf(st *pb.Stats) *statsLine {
	l := &statsLine{
		Type:  "stats",
		Start: timeString(st.GetStartUnixNano()), StartUnixNano: st.GetStartUnixNano(),
		End: timeString(st.GetEndUnixNano()), EndUnixNano: st.GetEndUnixNano(),
		Sightings:  st.GetSightings(),
		Interfaces: make([]interfaceStats, 0, len(st.GetInterfaces())),
		Sockets:    make([]socketStats, 0, len(st.GetSockets())),
	}
	for _, is := range st.GetInterfaces() {
		name := "if#" + strconv.FormatUint(uint64(is.GetId()), 10)
		if dev, ok := p.devices[is.GetId()]; ok {
			name = dev.name
		}
		s := interfaceStats{ID: is.GetId(), Device: name, In: is.GetReceivedIn(), Out: is.GetReceivedOut()}
		if is.GetHasDropped() {
			d := is.GetDropped()
			s.Dropped = &d
		}
		l.Interfaces = append(l.Interfaces, s)
	}
	for _, ss := range st.GetSockets() {
		l.Sockets = append(l.Sockets, socketStats{ss.GetDevice(), ss.GetPackets(), ss.GetDrops()})
	}
	if c := st.GetCorrelation(); c != nil {
		l.Correlation = &correlationStats{
			Traces: c.GetTraces(), MultiHopTraces: c.GetMultiHopTraces(), Flows: c.GetFlows(),
			EvictedTraces: c.GetEvictedTraces(), LateSightings: c.GetLateSightings(), Undecoded: c.GetUndecoded(),
			WindowNS: c.GetWindowNanos(), MaxTraces: c.GetMaxTraces(),
		}
	}
	return l
}

// timeString formats a time in ns since the epoch as TimeLayout, in UTC.
func timeString(ns int64) string {
	var b [timeLen]byte
	return string(appendTime(b[:0], ns))
}

// nonNil returns s, or an empty slice for nil: arrays are written [], not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
