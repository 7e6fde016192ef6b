package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/tracer/conntrack"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/flow"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// ctWatch follows connection tracking in every namespace the capture
// sees, from its first device on, so that traces and flows can say what
// the kernel's conntrack made of them: the entry, its state, zone and
// mark, and whether the NAT between a packet's copies is the kernel's
// mapping. A namespace where ctnetlink cannot be followed is warned about
// once; correlation there goes on from packet contents. A namespace that
// vanishes is let go, as routing does: the ctnetlink sockets would keep it
// (and a container's veth pair) alive; its table stays for the traces still
// to come through it.
type ctWatch struct {
	ctx  context.Context
	own  netns.ID
	warn func(error)

	mu     sync.Mutex
	tables map[netns.ID]*conntrack.Table // nil: tried and failed
	stop   map[netns.ID]*ctFollowed      // namespaces followed now
	names  map[netns.ID]string
	warned bool
	done   chan struct{}
}

type ctFollowed struct {
	cancel context.CancelFunc
	misses int
}

func newCTWatch(ctx context.Context, own netns.ID, warn func(error)) *ctWatch {
	w := &ctWatch{ctx: ctx, own: own, warn: warn, tables: map[netns.ID]*conntrack.Table{}, stop: map[netns.ID]*ctFollowed{},
		names: map[netns.ID]string{}, done: make(chan struct{})}
	go everyRound(ctx, w.done, own, w.releaseVanished)
	return w
}

// close stops following every namespace.
func (w *ctWatch) close() {
	if w == nil {
		return
	}
	close(w.done)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.stop {
		f.cancel()
	}
	w.stop = nil
	for id, t := range w.tables {
		if t != nil && t.Err() != nil {
			w.warn(fmt.Errorf("conntrack in %s stopped being followed: %w; later NAT there was told from packet contents alone", w.labelLocked(id), t.Err()))
		}
	}
}

// releaseVanished stops following namespaces missing from two rounds.
func (w *ctWatch) releaseVanished(present map[netns.ID]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, f := range w.stop { // nil once closed: nothing to do
		if present[id] {
			f.misses = 0
			continue
		}
		if f.misses++; f.misses >= 2 {
			f.cancel()
			delete(w.stop, id)
		}
	}
}

// ensure starts following namespace id (named name) unless it is already
// followed, or was tried. The dump of a busy host's table takes a while:
// it runs in the background, and the namespace's traces have conntrack
// notes once it is done.
func (w *ctWatch) ensure(id netns.ID, name string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	if _, ok := w.tables[id]; ok {
		w.mu.Unlock()
		return
	}
	w.tables[id] = nil
	w.names[id] = name
	w.mu.Unlock()
	go w.follow(id, name)
}

func (w *ctWatch) follow(id netns.ID, name string) {
	path, err := namespacePath(w.own, id)
	if err != nil {
		return
	}
	t := conntrack.NewTable(0)
	ctx, cancel := context.WithCancel(w.ctx)
	w.mu.Lock()
	closed := w.stop == nil
	w.mu.Unlock()
	if closed {
		cancel()
		return
	}
	if err := conntrack.Watch(ctx, path, t); err != nil {
		cancel()
		w.mu.Lock()
		first := !w.warned
		w.warned = true
		w.mu.Unlock()
		if first {
			w.warn(fmt.Errorf("%w (in %s; NAT is told from packet contents alone there)", err, nameOr(name, id)))
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop == nil { // closed meanwhile
		cancel()
		return
	}
	w.tables[id] = t
	w.stop[id] = &ctFollowed{cancel: cancel}
}

func (w *ctWatch) table(id netns.ID) *conntrack.Table {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tables[id]
}

func (w *ctWatch) label(id netns.ID) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.labelLocked(id)
}

func (w *ctWatch) labelLocked(id netns.ID) string {
	if id == w.own {
		return "this namespace"
	}
	return nameOr(w.names[id], id)
}

func ctTuple(t correlate.Tuple) conntrack.Tuple {
	return conntrack.Tuple{Proto: t.Proto, Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort}
}

// note is what conntrack said of trace tr in each namespace it crossed:
// "NETNS: zone 0, mark 0x0, ASSURED SRC_NAT; SNAT a→b confirmed", joined by
// " | "; "" when no followed namespace had its connection.
func (w *ctWatch) note(tr *correlate.Trace, nsOf func(uint32) (netns.ID, bool)) string {
	if w == nil || !tr.Decoded || tr.Segments > 0 || len(tr.Hops) == 0 {
		return ""
	}
	switch tr.Hops[0].Tuple.Proto {
	case 1, 6, 17, 58, 132:
	default:
		return ""
	}
	var notes []string
	for i := 0; i < len(tr.Hops); {
		ns, ok := nsOf(tr.Hops[i].Iface)
		j := i
		for j+1 < len(tr.Hops) {
			if n2, ok2 := nsOf(tr.Hops[j+1].Iface); !ok2 || n2 != ns {
				break
			}
			j++
		}
		if t := w.table(ns); ok && t != nil {
			if n := w.noteIn(t, ns, &tr.Hops[i], &tr.Hops[j]); n != "" {
				notes = append(notes, n)
			}
		}
		i = j + 1
	}
	return strings.Join(notes, " | ")
}

// noteIn describes the entry of the connection of a packet that entered
// namespace ns as first and left as last.
func (w *ctWatch) noteIn(t *conntrack.Table, ns netns.ID, first, last *correlate.Hop) string {
	in, out := ctTuple(first.Tuple), ctTuple(last.Tuple)
	e, reply, ok := t.Lookup(in) // conntrack keys a packet as it enters
	if !ok {
		return ""
	}
	s := w.label(ns) + ": " + e.String()
	if in == out {
		return s
	}
	want := e.Reply.Reverse() // the original direction leaves as the reply's reverse
	if reply {
		want = e.Orig.Reverse()
	}
	changes := strings.Join(correlate.Changes([]correlate.Hop{*first, *last}), ", ")
	if out == want {
		return s + "; " + changes + " confirmed"
	}
	return s + "; " + changes + " not the kernel's mapping (" + tupleText(want) + ")"
}

func tupleText(t conntrack.Tuple) string {
	return fmt.Sprintf("%s %s:%d → %s:%d", record.IPProtoName(t.Proto), t.Src, t.SrcPort, t.Dst, t.DstPort)
}

// flowEntries are the conntrack entries of flow f, one per followed
// namespace its paths crossed that has one of its tuples.
func (w *ctWatch) flowEntries(f *flow.Flow, nsOf func(uint32) (netns.ID, bool)) []*pb.Conntrack {
	if w == nil {
		return nil
	}
	var out []*pb.Conntrack
	seen := map[netns.ID]bool{}
	for _, p := range f.Paths {
		for _, s := range p.Steps {
			ns, ok := nsOf(s.Iface)
			if !ok || seen[ns] {
				continue
			}
			seen[ns] = true
			t := w.table(ns)
			if t == nil {
				continue
			}
			for _, tup := range f.Tuples() {
				e, _, ok := t.Lookup(ctTuple(tup))
				if !ok {
					continue
				}
				out = append(out, w.entryPB(ns, e, tup.EtherType, f.NAT))
				break
			}
		}
	}
	return out
}

func (w *ctWatch) entryPB(ns netns.ID, e conntrack.Entry, etherType uint16, flowNAT []string) *pb.Conntrack {
	tup := func(t conntrack.Tuple) *pb.Tuple {
		return sdk.TupleProto(record.Tuple{EtherType: etherType, Proto: t.Proto, Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort})
	}
	name := w.label(ns)
	if ns == w.own {
		name = ""
	}
	c := &pb.Conntrack{Netns: name, Orig: tup(e.Orig), Reply: tup(e.Reply), Zone: uint32(e.Zone), Mark: e.Mark,
		State: e.State(), Status: e.StatusNames(), Destroyed: e.Destroyed}
	// The entry's NAT in the words of the flow's changes: the original
	// direction before and after.
	hop := func(t conntrack.Tuple) correlate.Hop {
		return correlate.Hop{Tuple: correlate.Tuple{EtherType: etherType, Proto: t.Proto, Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort}}
	}
	c.Nat = correlate.Changes([]correlate.Hop{hop(e.Orig), hop(e.Reply.Reverse())})
	c.Confirmed = len(c.Nat) > 0
	for _, n := range c.Nat {
		if !slices.Contains(flowNAT, n) {
			c.Confirmed = false
		}
	}
	return c
}
