// Package flow aggregates traces into conversations.
//
// A flow is every trace of one conversation in both directions: the
// request from a container and its reply, although NAT gives them four
// different address tuples along the way. A trace joins the flow of any
// tuple it was seen with (in either direction), and registers all its
// tuples, so that the post-NAT tuple of a reply finds the flow the
// pre-NAT request created. The flow is named by the tuple its first trace
// had at its first hop: the originator's view, before any NAT.
//
// The package is pure: the caller passes times, so tests drive it with
// synthetic traces. Memory is bounded by Config.MaxFlows; flows evicted
// early are counted.
package flow

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
)

// Config bounds the table. Zero values pick the defaults.
type Config struct {
	Timeout  time.Duration // idle time after which a flow is emitted (default 30s)
	MaxFlows int           // default 65536
}

// Step is one hop of a path: a device and a direction.
type Step struct {
	Iface uint32
	Dir   record.Direction
}

// Path is a distinct sequence of hops the flow's packets took.
type Path struct {
	Steps []Step
	// Pieces is, for a segmented or coalesced packet's path, how many
	// pieces of it each step saw; nil when each saw the packet once.
	Pieces  []int
	Reverse bool // taken by replies
	Count   uint64
}

// StepsOf appends to steps the path of trace tr: its hops' devices and
// directions in order. A segmented or coalesced packet's hops interleave
// its pieces: its path names each device and direction once, where the
// packet first reached it, and pieces (appended to, and returned nil when
// every step saw one) says how many pieces each saw.
func StepsOf(tr *correlate.Trace, steps []Step, pieces []int) ([]Step, []int) {
	if tr.Segments == 0 {
		for _, h := range tr.Hops {
			steps = append(steps, Step{h.Iface, h.Dir})
		}
		return steps, pieces[:0]
	}
	start := len(steps)
	pieces = pieces[:0]
	for _, h := range tr.Hops {
		st := Step{h.Iface, h.Dir}
		if k := slices.Index(steps[start:], st); k >= 0 {
			pieces[k]++
			continue
		}
		steps = append(steps, st)
		pieces = append(pieces, 1)
	}
	if !slices.ContainsFunc(pieces, func(n int) bool { return n > 1 }) {
		pieces = pieces[:0]
	}
	return steps, pieces
}

// Flow is one conversation.
type Flow struct {
	ID          uint64
	Tuple       correlate.Tuple // of the first trace at its first hop
	First, Last int64           // ns
	Packets     [2]uint64       // forward (from the originator), reverse
	Bytes       [2]uint64       // at each trace's first hop
	Paths       []Path
	NAT         []string // distinct changes seen
	Final       bool     // emitted at the end rather than on expiry
	// HopTimes are the transit times between consecutive hops of the
	// flow's complete traces (Transit), in the order the pairs were first
	// seen.
	HopTimes []HopTimes
	tuples   []correlate.Tuple
}

// Tuples are every address tuple the flow's traces had, in the
// originator's orientation, in the order first seen.
func (f *Flow) Tuples() []correlate.Tuple { return f.tuples }

// Stats count the table's work.
type Stats struct {
	Flows   uint64 // created
	Evicted uint64 // emitted early because MaxFlows were open
	Open    int
}

// Table holds the open flows.
type Table struct {
	cfg    Config
	byTup  map[tupleKey]entry
	flows  map[uint64]*Flow
	nextID uint64
	stats  Stats
	steps  []Step // scratch for Add
	pieces []int
}

type entry struct {
	f   *Flow
	fwd bool
}

const (
	maxPaths = 16
	maxNAT   = 16
)

// NewTable returns an empty table.
func NewTable(cfg Config) *Table {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 1 << 16
	}
	return &Table{cfg: cfg, byTup: map[tupleKey]entry{}, flows: map[uint64]*Flow{}, nextID: 1}
}

// Add accounts a trace to its flow and returns the flow's id, or 0 for
// traces that are no conversation (not IP, or not decoded). It may emit
// flows evicted to make room.
func (t *Table) Add(tr *correlate.Trace) (id uint64, evicted []*Flow) {
	if !tr.Decoded || len(tr.Hops) == 0 || !tr.Hops[0].Tuple.Src.IsValid() || tr.Hops[0].Tuple.EtherType == 0x0806 {
		return 0, nil
	}
	var f *Flow
	fwd := true
	known := -1 // the hop whose tuple found f
	for k := range tr.Hops {
		if k > 0 && tr.Hops[k].Tuple == tr.Hops[k-1].Tuple {
			continue
		}
		key := keyOf(tr.Hops[k].Tuple)
		if e, ok := t.byTup[key]; ok {
			f, fwd, known = e.f, e.fwd, k
			break
		}
		if e, ok := t.byTup[key.reverse()]; ok {
			f, fwd, known = e.f, !e.fwd, k
			break
		}
	}
	if f == nil {
		if len(t.flows) >= t.cfg.MaxFlows {
			evicted = t.evict()
		}
		f = &Flow{ID: t.nextID, Tuple: tr.Hops[0].Tuple, First: tr.TimeNanos()}
		t.nextID++
		t.flows[f.ID] = f
		t.stats.Flows++
	}
	for k := range tr.Hops {
		// Consecutive hops mostly have the same tuple: look up each run once.
		tup := tr.Hops[k].Tuple
		if k == known || k > 0 && tup == tr.Hops[k-1].Tuple || known >= 0 && tup == tr.Hops[known].Tuple {
			continue
		}
		if !fwd {
			tup = reverse(tup)
		}
		key := keyOf(tup)
		if _, ok := t.byTup[key]; !ok {
			t.byTup[key] = entry{f: f, fwd: true}
			f.tuples = append(f.tuples, tup)
		}
	}
	d := 0
	if !fwd {
		d = 1
	}
	f.Packets[d]++
	whole := &tr.Hops[0] // a coalesced packet's first hop is a piece
	for i := range tr.Hops {
		if tr.Hops[i].Segment == 0 {
			whole = &tr.Hops[i]
			break
		}
	}
	f.Bytes[d] += uint64(whole.OrigLen)
	if last := tr.Hops[len(tr.Hops)-1].TimeNanos; last > f.Last {
		f.Last = last
	}
	t.steps, t.pieces = StepsOf(tr, t.steps[:0], t.pieces)
	found := false
	for k := range f.Paths {
		if p := &f.Paths[k]; p.Reverse == !fwd && slices.Equal(p.Steps, t.steps) && slices.Equal(p.Pieces, t.pieces) {
			p.Count++
			found = true
			break
		}
	}
	if !found && len(f.Paths) < maxPaths {
		p := Path{Steps: slices.Clone(t.steps), Reverse: !fwd, Count: 1}
		if len(t.pieces) > 0 {
			p.Pieces = slices.Clone(t.pieces)
		}
		f.Paths = append(f.Paths, p)
	}
	for _, c := range tr.Changes {
		if len(f.NAT) < maxNAT && !slices.Contains(f.NAT, c) {
			f.NAT = append(f.NAT, c)
		}
	}
	return f.ID, evicted
}

// Expire emits the flows idle since before now-Timeout.
func (t *Table) Expire(now int64) []*Flow {
	var out []*Flow
	limit := now - int64(t.cfg.Timeout)
	for _, f := range t.flows {
		if f.Last < limit {
			out = append(out, f)
		}
	}
	return t.remove(out)
}

// Flush emits every open flow, marked Final.
func (t *Table) Flush() []*Flow {
	out := make([]*Flow, 0, len(t.flows))
	for _, f := range t.flows {
		f.Final = true
		out = append(out, f)
	}
	return t.remove(out)
}

// Stats returns the counters.
func (t *Table) Stats() Stats {
	st := t.stats
	st.Open = len(t.flows)
	return st
}

// evict emits the least recently active eighth of the flows.
func (t *Table) evict() []*Flow {
	all := make([]*Flow, 0, len(t.flows))
	for _, f := range t.flows {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Last < all[j].Last })
	n := max(1, len(all)/8)
	t.stats.Evicted += uint64(n)
	return t.remove(all[:n])
}

func (t *Table) remove(fs []*Flow) []*Flow {
	sort.Slice(fs, func(i, j int) bool { return fs[i].ID < fs[j].ID })
	for _, f := range fs {
		delete(t.flows, f.ID)
		for _, tup := range f.tuples {
			if key := keyOf(tup); t.byTup[key].f == f {
				delete(t.byTup, key)
			}
		}
	}
	return fs
}

// tupleKey is a Tuple as the table's key. Without netip.Addr's pointer
// and with no padding, it hashes as one block of memory: a Tuple hashes
// field by field, at about three times the cost.
type tupleKey struct {
	src, dst            [16]byte
	sport, dport, ether uint16
	proto, kinds        uint8 // kinds: kind of src | kind of dst<<3
}

func keyOf(t correlate.Tuple) tupleKey {
	return tupleKey{
		src: t.Src.As16(), dst: t.Dst.As16(), sport: t.SrcPort, dport: t.DstPort, ether: t.EtherType,
		proto: t.Proto, kinds: kind(t.Src) | kind(t.Dst)<<3,
	}
}

// kind tells an IPv4 address (1) from its IPv4-mapped IPv6 form (4), which
// As16 makes the same, and from no address (0).
func kind(a netip.Addr) uint8 { return uint8(a.BitLen() >> 5) }

func (k tupleKey) reverse() tupleKey {
	k.src, k.dst = k.dst, k.src
	k.sport, k.dport = k.dport, k.sport
	k.kinds = k.kinds>>3 | k.kinds&7<<3
	return k
}

func reverse(t correlate.Tuple) correlate.Tuple {
	t.Src, t.Dst = t.Dst, t.Src
	t.SrcPort, t.DstPort = t.DstPort, t.SrcPort
	return t
}
