package tracer

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// Options are what a user asks for.
type Options struct {
	// Interfaces are the devices to capture on: IFNAME (in every selected
	// namespace that has it) or NETNS/IFNAME. None means all ("any").
	Interfaces  []string
	Promiscuous bool // promiscuous mode on the named devices
	SnapLen     int  // bytes kept per frame; 0 for the default (262144)
	Count       int  // stop after this many sightings; 0 for no limit
	Duration    time.Duration
	BufferSize  int // ring bytes per socket; 0 for the default (32 MiB)
	// Follow picks up namespaces that appear during the capture (--netns all).
	Follow bool
	// Filter is a classic BPF program run in the kernel on every socket
	// (tracer/filter compiles one from a tcpdump expression); FilterExpr
	// is that expression, for display.
	Filter     []afpacket.Instruction
	FilterExpr string
	// Spool bounds the backlog file that keeps the rings drained while
	// delivery falls behind (default 1 GiB; negative: no spool, readers
	// wait for delivery). SpoolDir is where it goes (default os.TempDir).
	Spool    int64
	SpoolDir string
	// NormalPriority delivers at the priority of the rest of the process.
	// By default Run puts everything but the readers in the background
	// (SCHED_IDLE, package internal/sched): when the host is busy, delivery
	// (correlation and output) takes only spare CPU time while the readers
	// keep the rings drained into the backlog.
	NormalPriority bool
	// Overload is what the readers do while the backlog is nearly full.
	Overload Overload
	// Hold is the longest a traffic burst holds delivery back, so that the
	// tracer takes no CPU from the traffic while it lasts (see burstHold):
	// 0 for DefaultHold, negative to deliver as frames come. A Count
	// turns it off: the capture stops as soon as delivery has counted.
	Hold time.Duration
}

// Overload is what the readers do while the backlog is nearly full (three
// quarters of the spool written, or of its memory without a spool), that
// is while delivery has fallen far behind a burst, or while a reader has
// half its ring still to read.
type Overload int

const (
	// OverloadCut keeps every frame but cuts those longer than CutLen to
	// CutLen bytes: the readers stay ahead of the rings for hundreds of
	// times longer on bulk traffic, and every packet keeps its headers and
	// its trace. Frames no longer than CutLen are kept whole, so traffic
	// of small packets still fills the backlog.
	OverloadCut Overload = iota
	// OverloadDrop keeps frames whole: once the backlog is full the
	// readers wait, the rings fill and the kernel drops whole frames.
	OverloadDrop
)

// CutLen is what OverloadCut keeps of a frame: room for link, VLAN, IPv6
// with extension headers, TCP with options and the 64 payload bytes the
// correlation's fingerprint covers, so a cut copy still joins its trace.
const CutLen = 320

// DefaultSpool is the default bound of the backlog file.
const DefaultSpool = 1 << 30

// backlogMemory is the memory the backlog's batches may hold before it
// spools, counted by their record buffers' capacity: three ring blocks.
const backlogMemory = 4 << 20

// Space is a namespace to capture in, with the devices it has now. Its
// Entry.Path is "" for the caller's own namespace, which needs no setns.
type Space struct {
	netns.Entry
	Devices []topology.Device
}

// SocketPlan is one capture socket.
type SocketPlan struct {
	Device      string // "any" or a device name
	Ifindex     int32  // 0 for any
	Promiscuous bool
}

// NSPlan is the sockets of one namespace.
type NSPlan struct {
	netns.Entry
	Sockets []SocketPlan
}

// Plan is everything Open will do, decided without touching the kernel.
type Plan struct {
	Namespaces []NSPlan
	// Follow: namespaces that appear later get sockets by the same rules.
	Follow      bool
	Interfaces  []string
	Promiscuous bool
	SnapLen     int
	Count       int
	Duration    time.Duration
	BlockSize   int
	NumBlocks   int
	Filter      []afpacket.Instruction
	FilterExpr  string
	Spool       int64 // bytes; 0: no spool
	SpoolDir    string
	Idle        bool // deliver in the background (internal/sched)
	Overload    Overload
	Hold        time.Duration // 0: deliver as frames come

	backlogMem int // memory the backlog's batches may hold; 0: backlogMemory
}

// DefaultBufferSize is the ring size of each socket.
const DefaultBufferSize = 32 << 20

const blockSize = 1 << 20

// UnknownDeviceError reports a -i name that no selected namespace has.
type UnknownDeviceError struct {
	Name      string
	Available []string
}

func (e *UnknownDeviceError) Error() string {
	return fmt.Sprintf("no device %q here; available: %s", e.Name, strings.Join(e.Available, ", "))
}

// NewPlan decides which sockets to open in which namespaces, given the
// namespaces and their devices. Spaces are planned in the order given.
func NewPlan(o Options, spaces []Space) (*Plan, error) {
	if o.SnapLen < 0 || o.Count < 0 || o.Duration < 0 || o.BufferSize < 0 {
		return nil, fmt.Errorf("snap length, count, duration and buffer size must not be negative")
	}
	if o.Promiscuous && len(o.Interfaces) == 0 {
		return nil, fmt.Errorf("promiscuous mode needs devices: name them with -i")
	}
	if len(spaces) == 0 {
		return nil, fmt.Errorf("no namespace to capture in")
	}
	p := &Plan{
		Follow: o.Follow, Interfaces: o.Interfaces, Promiscuous: o.Promiscuous,
		SnapLen: o.SnapLen, Count: o.Count, Duration: o.Duration, BlockSize: blockSize,
		Filter: o.Filter, FilterExpr: o.FilterExpr,
		Spool: o.Spool, SpoolDir: o.SpoolDir, Idle: !o.NormalPriority, Overload: o.Overload,
	}
	switch {
	case p.Spool == 0:
		p.Spool = DefaultSpool
	case p.Spool < 0:
		p.Spool = 0
	}
	switch {
	case o.Count > 0 || o.Hold < 0:
	case o.Hold == 0:
		p.Hold = DefaultHold
	default:
		p.Hold = o.Hold
	}
	if p.SnapLen == 0 {
		p.SnapLen = 262144
	}
	buf := o.BufferSize
	if buf == 0 {
		buf = DefaultBufferSize
	}
	p.NumBlocks = max(2, (buf+blockSize-1)/blockSize)
	matched := map[string]bool{}
	for _, sp := range spaces {
		ns := NSPlan{Entry: sp.Entry, Sockets: p.SocketsFor(sp, matched)}
		if len(ns.Sockets) > 0 {
			p.Namespaces = append(p.Namespaces, ns)
		}
	}
	for _, name := range o.Interfaces {
		if !matched[name] {
			return nil, &UnknownDeviceError{Name: name, Available: available(spaces)}
		}
	}
	return p, nil
}

// SocketsFor returns the sockets the plan opens in sp: one on any, or one per
// named device sp has. matched, when not nil, collects the names that
// matched a device.
func (p *Plan) SocketsFor(sp Space, matched map[string]bool) []SocketPlan {
	if len(p.Interfaces) == 0 {
		return []SocketPlan{{Device: "any"}}
	}
	var out []SocketPlan
	seen := map[int32]bool{}
	for _, name := range p.Interfaces {
		want := name
		if ns, dev, ok := strings.Cut(name, "/"); ok {
			if ns != sp.Label() {
				continue
			}
			want = dev
		}
		for _, d := range sp.Devices {
			if d.Name != want {
				continue
			}
			if matched != nil {
				matched[name] = true
			}
			if !seen[d.Ifindex] {
				seen[d.Ifindex] = true
				out = append(out, SocketPlan{Device: d.Name, Ifindex: d.Ifindex, Promiscuous: p.Promiscuous})
			}
		}
	}
	return out
}

func available(spaces []Space) []string {
	var out []string
	for _, sp := range spaces {
		for _, d := range sp.Devices {
			name := d.Name
			if len(spaces) > 1 {
				name = sp.Label() + "/" + d.Name
			}
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// String describes the plan, one socket a line, for --dry-run.
func (p *Plan) String() string {
	var b strings.Builder
	for _, ns := range p.Namespaces {
		label := ns.Label()
		if ns.Path == "" {
			label += " (current namespace)"
		} else {
			label += " (" + ns.Path + ")"
		}
		fmt.Fprintf(&b, "namespace: %s\n", label)
		for _, s := range ns.Sockets {
			fmt.Fprintf(&b, "  socket: AF_PACKET TPACKET_V3 on %s", s.Device)
			if s.Ifindex != 0 {
				fmt.Fprintf(&b, " (ifindex %d)", s.Ifindex)
			}
			if s.Promiscuous {
				b.WriteString(", promiscuous")
			}
			fmt.Fprintf(&b, ", ring %d x %d KiB, snaplen %d\n", p.NumBlocks, p.BlockSize>>10, p.SnapLen)
		}
	}
	if p.Follow {
		b.WriteString("namespaces that appear: captured too\n")
	}
	if p.FilterExpr != "" {
		fmt.Fprintf(&b, "filter: %s (%d BPF instructions, in the kernel on every socket)\n", p.FilterExpr, len(p.Filter))
	}
	if p.Count > 0 {
		fmt.Fprintf(&b, "stop after: %d sightings\n", p.Count)
	}
	if p.Duration > 0 {
		fmt.Fprintf(&b, "stop after: %s\n", p.Duration)
	}
	return b.String()
}
