package pcapng

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// Plugin writes one pcapng file.
type Plugin struct {
	path   string
	f      *os.File
	bw     *bufio.Writer
	cw     *countingWriter
	w      *pcap.Writer
	ids    []int          // interface id → 1 + pcapng interface index in the current file, 0: none
	idsMap map[uint32]int // the same for ids past maxSliceID
	ifaces []*pb.Interface
	snap   uint32
	run    *pb.RunInfo

	rotate  rotation
	opened  time.Time // of the current file
	seq     int       // number of the current file, from 1, when rotating
	written []string  // files written, oldest first
	frames  uint64
	stats   *pb.Stats
	first   bool             // --dedup first: only the first copy of each trace
	traces  map[uint64]int32 // trace id → index in pending
	pending []trace          // comments of traces whose records are still to come
	freeT   []int32          // unused indexes of pending
	strs    sdk.Strings      // paths and changes, kept once
	scratch []byte
	comment []byte
}

// trace is what the comments of a trace's records say.
type trace struct {
	path, changes string
	left          int // records still to come
}

// New returns an unconfigured plugin.
func New() *Plugin {
	return &Plugin{traces: map[uint64]int32{}}
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe() *pb.PluginInfo {
	return &pb.PluginInfo{
		Name:        "pcapng",
		Version:     Version,
		Description: "writes a pcapng file for Wireshark: one interface per device, direction and drops per frame, the trace id of every copy of a packet in epb_packetid and a comment with its path",
		Wants:       &pb.Subscriptions{Packets: true, PacketBytes: true, Traces: true, PackedTraces: true, Stats: true},
		Options: []*pb.OptionSpec{
			{Name: "path", Type: "path", Help: "file to write", Required: true},
			{Name: "dedup", Type: "string", Help: "all: every copy of a packet; first: only its first copy", Default: "all"},
			{Name: "rotate_size", Type: "int", Help: "start a new file once this one has this many bytes (0: never)"},
			{Name: "rotate_seconds", Type: "int", Help: "start a new file after this many seconds (0: never)"},
			{Name: "keep", Type: "int", Help: "with rotation, keep only the newest N files (0: all)"},
		},
		Lossless: true,
	}
}

// Configure implements sdk.Plugin: it creates the file.
func (p *Plugin) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	p.path = req.GetOptions()["path"]
	if p.path == "" {
		return nil, errors.New("pcapng: option path is required (e.g. -o out.pcapng)")
	}
	switch d := req.GetOptions()["dedup"]; d {
	case "", "all":
	case "first":
		p.first = true
	default:
		return nil, fmt.Errorf("pcapng: dedup=%s: use all or first", d)
	}
	if l := req.GetRun().GetRecordLayout(); l != record.Layout {
		return nil, fmt.Errorf("pcapng: record layout %d is not supported (this plugin reads %d): use the plugin of the same ifacetrace version", l, record.Layout)
	}
	if err := sdk.CheckTraceLayout(req.GetRun()); err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	var err error
	if p.rotate, err = parseRotation(req.GetOptions()); err != nil {
		return nil, err
	}
	p.run = req.GetRun()
	p.snap = p.run.GetSnaplen()
	if err := p.open(time.Now()); err != nil {
		return nil, err
	}
	return &pb.ConfigureResponse{}, nil
}

// open starts the next file, with an IDB for every interface known so far
// so that it can be read on its own.
func (p *Plugin) open(now time.Time) error {
	name := p.path
	if p.rotate.on() {
		p.seq++
		name = rotatedName(p.path, p.seq, now)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	p.f, p.opened = f, now
	p.cw = &countingWriter{w: f}
	p.bw = bufio.NewWriterSize(p.cw, 1<<20)
	p.w = pcap.NewWriter(p.bw, pcap.WriterOptions{
		Application: "ifacetrace " + p.run.GetIfacetraceVersion(),
		OS:          p.run.GetOs(),
		Hardware:    p.run.GetHardware(),
		Comment:     "captured by ifacetrace on " + p.run.GetHostname(),
	})
	p.written = append(p.written, name)
	clear(p.ids)
	clear(p.idsMap)
	for _, ifc := range p.ifaces {
		if err := p.addInterface(ifc); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plugin) addInterface(ifc *pb.Interface) error {
	idx, err := p.w.AddInterface(pcap.Interface{
		Name:        ifc.Name,
		Description: ifc.Description,
		HAType:      uint16(ifc.Hatype),
		IfIndex:     uint32(ifc.Ifindex),
		SnapLen:     p.snap,
	})
	if err != nil {
		return fmt.Errorf("pcapng: interface %s: %w", ifc.Name, err)
	}
	if ifc.Id > maxSliceID {
		if p.idsMap == nil {
			p.idsMap = map[uint32]int{}
		}
		p.idsMap[ifc.Id] = 1 + idx
		return nil
	}
	for int(ifc.Id) >= len(p.ids) {
		p.ids = append(p.ids, 0)
	}
	p.ids[ifc.Id] = 1 + idx
	return nil
}

// maxSliceID is the largest interface id looked up in a slice (hosts
// number interfaces from 0): a lookup per record, cheaper than a map's.
const maxSliceID = 4095

// index is the pcapng interface index of interface id in the current
// file, -1 if it has none.
func (p *Plugin) index(id uint32) int {
	if int(id) < len(p.ids) {
		return p.ids[id] - 1
	}
	return p.idsMap[id] - 1
}

// closeFile completes the current file: flush and close. Like tcpdump, it
// does not fsync: the file is complete for any reader once it is closed,
// and an fsync of a gigabyte file cost a benchmark run half a second.
func (p *Plugin) closeFile() error {
	name := p.written[len(p.written)-1]
	if err := errors.Join(p.w.Close(), p.bw.Flush(), p.f.Close()); err != nil {
		return fmt.Errorf("pcapng: finish %s: %w", name, err)
	}
	return nil
}

// maybeRotate starts a new file when the current one is big or old enough,
// and removes the oldest beyond keep.
func (p *Plugin) maybeRotate(now time.Time) error {
	if !p.rotate.due(p.cw.n+int64(p.bw.Buffered()), now.Sub(p.opened)) {
		return nil
	}
	if err := p.closeFile(); err != nil {
		return err
	}
	if err := p.open(now); err != nil {
		return err
	}
	for p.rotate.keep > 0 && len(p.written) > p.rotate.keep {
		if err := os.Remove(p.written[0]); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("pcapng: remove old file: %w", err)
		}
		p.written = p.written[1:]
	}
	return nil
}

// Consume implements sdk.Plugin.
func (p *Plugin) Consume(_ context.Context, b *pb.Batch, _ *sdk.Reporter) error {
	if p.w == nil {
		return errors.New("pcapng: batch before Configure")
	}
	if p.rotate.on() {
		if err := p.maybeRotate(time.Now()); err != nil {
			return err
		}
	}
	for _, ifc := range b.Interfaces {
		p.ifaces = append(p.ifaces, ifc)
		if err := p.addInterface(ifc); err != nil {
			return err
		}
	}
	err := sdk.EachTrace(b, func(tr record.TraceView) error {
		t := trace{path: p.strs.Text(tr.Path()), left: tr.NumHops()}
		p.scratch = p.scratch[:0]
		if tr.NumChanges() > 0 {
			p.scratch = append(p.scratch, " ["...)
			tr.Changes(func(c []byte) {
				if len(p.scratch) > 2 {
					p.scratch = append(p.scratch, ", "...)
				}
				p.scratch = append(p.scratch, c...)
			})
			p.scratch = append(p.scratch, ']')
		}
		if stop := tr.Stopped(); len(stop) > 0 {
			p.scratch = append(p.scratch, " ("...)
			p.scratch = append(p.scratch, stop...)
			p.scratch = append(p.scratch, ')')
		}
		if len(p.scratch) > 0 {
			t.changes = p.strs.Text(p.scratch)
		}
		var i int32
		if n := len(p.freeT); n > 0 {
			i, p.freeT = p.freeT[n-1], p.freeT[:n-1]
		} else {
			i = int32(len(p.pending))
			p.pending = append(p.pending, trace{})
		}
		p.pending[i] = t
		p.traces[tr.ID()] = i
		return nil
	})
	if err != nil {
		return fmt.Errorf("pcapng: batch %d: %w", b.Seq, err)
	}
	r := record.NewReader(b.Records)
	var h record.Header
	var pkt pcap.Packet
	for {
		data, ok, err := r.Next(&h)
		if err != nil {
			return fmt.Errorf("pcapng: batch %d: %w", b.Seq, err)
		}
		if !ok {
			break
		}
		comment := p.comment[:0]
		if h.TraceID != 0 {
			if i, ok := p.traces[h.TraceID]; ok {
				t := &p.pending[i]
				// "trace ID hop I/N: PATH [CHANGES] (STOPPED)", built without allocating.
				comment = append(comment, "trace "...)
				comment = strconv.AppendUint(comment, h.TraceID, 10)
				comment = append(comment, " hop "...)
				comment = strconv.AppendUint(comment, uint64(h.Hop), 10)
				comment = append(comment, '/')
				comment = strconv.AppendUint(comment, uint64(h.Hops), 10)
				comment = append(comment, ": "...)
				comment = append(comment, t.path...)
				comment = append(comment, t.changes...)
				p.comment = comment
				if t.left--; t.left <= 0 {
					delete(p.traces, h.TraceID)
					*t = trace{}
					p.freeT = append(p.freeT, i)
				}
			}
			if p.first && h.Hop > 1 {
				continue
			}
		}
		idx := p.index(h.Iface)
		if idx < 0 {
			return fmt.Errorf("pcapng: batch %d: record for unannounced interface %d", b.Seq, h.Iface)
		}
		pkt = pcap.Packet{
			Iface: idx, TimeNanos: h.TimeNanos, Data: data, OrigLen: h.OrigLen,
			Dir: h.Dir, PktType: h.PktType, Proto: h.Proto, Status: h.Status,
			VLANTCI: h.VLANTCI, VLANTPID: h.VLANTPID, VLANValid: h.Status&statusVLANValid != 0,
			DropCount: uint64(h.Drops), HasDropCount: h.Drops > 0,
			PacketID: h.TraceID, HasPacketID: h.TraceID != 0,
			CommentBytes: comment,
		}
		if err := p.w.WritePacket(&pkt); err != nil {
			return fmt.Errorf("pcapng: write %s: %w", p.path, err)
		}
		p.frames++
	}
	if b.Stats != nil {
		p.stats = b.Stats
	}
	return nil
}

// statusVLANValid is TP_STATUS_VLAN_VALID of the ring status bits.
const statusVLANValid = 1 << 4

// Finish implements sdk.Plugin: interface statistics, flush, fsync, close.
func (p *Plugin) Finish(context.Context) (*pb.FinishResponse, error) {
	if p.w == nil {
		return &pb.FinishResponse{}, nil
	}
	var errs []error
	if st := p.stats; st != nil {
		start, end := time.Unix(0, st.StartUnixNano), time.Unix(0, st.EndUnixNano)
		for _, is := range st.Interfaces {
			idx := p.index(is.Id)
			if idx < 0 {
				continue
			}
			errs = append(errs, p.w.WriteStats(idx, pcap.Stats{
				Received: is.ReceivedIn + is.ReceivedOut, Dropped: is.Dropped, HasDropped: is.HasDropped,
				Start: start, End: end,
			}))
		}
	}
	errs = append(errs, p.closeFile())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pcapng: finish: %w", err)
	}
	resp := &pb.FinishResponse{Counters: map[string]uint64{"frames": p.frames}}
	for _, name := range p.written {
		abs, _ := filepath.Abs(name)
		resp.Files = append(resp.Files, abs)
	}
	return resp, nil
}
