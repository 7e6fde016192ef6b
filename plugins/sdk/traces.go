package sdk

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// TraceLayout is the packed trace layout this SDK reads (pcap/record).
const TraceLayout = record.TraceLayout

// UndecodedSummary is the summary of a trace whose packet could not be
// decoded.
const UndecodedSummary = "undecoded frame"

// EachTrace calls f with every trace of b, whichever form it came in: the
// packed Batch.trace_records (for plugins that set
// Subscriptions.packed_traces) read in place, then any Trace messages,
// packed first so that f sees one form. The view aliases memory that is
// reused after f returns. It stops at f's first error, and returns an error
// wrapping record.ErrCorruptTrace for packed traces that do not parse.
func EachTrace(b *pb.Batch, f func(record.TraceView) error) error {
	r := record.NewTraceReader(b.GetTraceRecords())
	for {
		v, ok, err := r.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := f(v); err != nil {
			return err
		}
	}
	if len(b.GetTraces()) == 0 {
		return nil
	}
	var w record.TraceWriter
	for _, t := range b.GetTraces() {
		w.Reset()
		PackTrace(&w, t)
		v, ok, err := record.NewTraceReader(w.Bytes()).Next()
		if err != nil || !ok {
			return err
		}
		if err := f(v); err != nil {
			return err
		}
	}
	return nil
}

// TraceProto turns a packed trace into a Trace message.
func TraceProto(v record.TraceView) *pb.Trace {
	t := &pb.Trace{
		Id: v.ID(), TimeUnixNano: v.TimeNanos(), TransitNanos: v.TransitNanos(), FlowId: v.FlowID(),
		Summary: string(v.Summary()), Path: string(v.Path()), Segments: uint32(v.Segments()),
		Stopped: string(v.Stopped()), Conntrack: string(v.Conntrack()),
	}
	v.Changes(func(c []byte) { t.Changes = append(t.Changes, string(c)) })
	t.Hops = make([]*pb.Hop, v.NumHops())
	for i := range t.Hops {
		h := v.Hop(i)
		t.Hops[i] = &pb.Hop{
			InterfaceId: h.Iface, Direction: h.Dir.String(), TimeUnixNano: h.TimeNanos,
			Length: h.OrigLen, Tuple: TupleProto(h.Tuple), Ttl: uint32(h.TTL),
			Tunnel: TunnelProto(h.Tunnel), Segment: uint32(h.Segment),
		}
	}
	return t
}

// TunnelProto turns a packed hop's tunnel into a Tunnel message; nil when
// the hop saw the packet itself.
func TunnelProto(t record.Tunnel) *pb.Tunnel {
	if t.Encap == record.EncapNone {
		return nil
	}
	return &pb.Tunnel{Encap: t.Encap.String(), Id: t.ID, HasId: t.HasID, Outer: TupleProto(t.Outer), OuterTtl: uint32(t.OuterTTL)}
}

// TupleProto turns a packed tuple into a Tuple message.
func TupleProto(t record.Tuple) *pb.Tuple {
	out := &pb.Tuple{Proto: t.ProtoName(), Sport: uint32(t.SrcPort), Dport: uint32(t.DstPort)}
	if t.Src.IsValid() {
		out.Src = t.Src.String()
	}
	if t.Dst.IsValid() {
		out.Dst = t.Dst.String()
	}
	return out
}

// PackTrace appends t to w in the packed layout (the reverse of
// TraceProto, for tests and for plugins that build traces themselves).
func PackTrace(w *record.TraceWriter, t *pb.Trace) {
	w.Begin()
	for _, h := range t.GetHops() {
		dir := record.DirUnknown
		switch h.GetDirection() {
		case "in":
			dir = record.DirIn
		case "out":
			dir = record.DirOut
		}
		w.Hop(&record.TraceHop{
			TimeNanos: h.GetTimeUnixNano(), Iface: h.GetInterfaceId(), OrigLen: h.GetLength(),
			Dir: dir, TTL: uint8(h.GetTtl()), Tuple: packTuple(h.GetTuple()), Tunnel: packTunnel(h.GetTunnel()),
			Segment: uint16(h.GetSegment()),
		})
	}
	w.End(&record.Trace{
		ID: t.GetId(), TimeNanos: t.GetTimeUnixNano(), TransitNanos: t.GetTransitNanos(), FlowID: t.GetFlowId(),
		Decoded: t.GetSummary() != UndecodedSummary, Segments: uint16(t.GetSegments()), Stopped: t.GetStopped(), Conntrack: t.GetConntrack(), Path: t.GetPath(), Summary: []byte(t.GetSummary()), Changes: t.GetChanges(),
	})
}

func packTunnel(t *pb.Tunnel) record.Tunnel {
	if t == nil {
		return record.Tunnel{}
	}
	return record.Tunnel{
		Encap: record.ParseEncap(t.GetEncap()), ID: t.GetId(), HasID: t.GetHasId(),
		Outer: packTuple(t.GetOuter()), OuterTTL: uint8(t.GetOuterTtl()),
	}
}

func packTuple(t *pb.Tuple) record.Tuple {
	src, _ := netip.ParseAddr(t.GetSrc())
	dst, _ := netip.ParseAddr(t.GetDst())
	out := record.Tuple{Src: src, Dst: dst, SrcPort: uint16(t.GetSport()), DstPort: uint16(t.GetDport())}
	ip := uint16(0x0800)
	if src.Is6() && !src.Is4In6() {
		ip = 0x86dd
	}
	switch p := t.GetProto(); p {
	case "":
	case "arp":
		out.EtherType = 0x0806
	case "ipv4":
		out.EtherType = 0x0800
	case "ipv6":
		out.EtherType = 0x86dd
	default:
		if hex, ok := strings.CutPrefix(p, "ethertype 0x"); ok {
			n, _ := strconv.ParseUint(hex, 16, 16)
			out.EtherType = uint16(n)
			break
		}
		out.EtherType = ip
		out.Proto, _ = record.IPProtoNumber(p)
	}
	return out
}

// CheckTraceLayout is for Configure of plugins that ask for packed traces:
// an error when the host packs traces in a layout this SDK cannot read.
func CheckTraceLayout(run *pb.RunInfo) error {
	if l := run.GetTraceLayout(); l != 0 && l != TraceLayout {
		return fmt.Errorf("ifacetrace packs traces in layout %d; this plugin reads layout %d: rebuild it with the SDK of this ifacetrace", l, TraceLayout)
	}
	return nil
}
