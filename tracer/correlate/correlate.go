package correlate

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/decode"
)

// Config bounds the correlator. Zero values pick the defaults.
type Config struct {
	// Window is the longest time from a trace's first sighting to its last
	// (default 100ms). Copies further apart become separate traces.
	Window time.Duration
	// Lag is how long a source may stay silent before the merge stops
	// waiting for it (default 50ms: well above the capture rings' 10ms
	// block timeout).
	Lag time.Duration
	// MaxTraces bounds the open traces (default 262144). When full, the
	// oldest is closed early: an eviction.
	MaxTraces int
	// MaxPending bounds the sightings waiting for the merge (default
	// 1048576). When full, the oldest is processed without waiting: a
	// forced release.
	MaxPending int
	// MaxBytes bounds the captured bytes held (default 256 MiB). Beyond
	// it, the oldest half of the open traces is closed early (evictions).
	MaxBytes int
	// MaxCandidates bounds how many open traces with the same fingerprint a
	// sighting is compared with, newest first (default and maximum 64).
	MaxCandidates int
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 100 * time.Millisecond
	}
	if c.Lag <= 0 {
		c.Lag = 50 * time.Millisecond
	}
	if c.MaxTraces <= 0 {
		c.MaxTraces = 1 << 18
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1 << 20
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 256 << 20
	}
	if c.MaxCandidates <= 0 {
		c.MaxCandidates = 64
	}
	return c
}

// Tuple is a packet's addresses at one hop.
type Tuple struct {
	EtherType        uint16
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // TCP/UDP ports; ICMP echo id in both
}

// Hop is one sighting of a traced packet.
type Hop struct {
	Iface     uint32
	Dir       record.Direction
	TimeNanos int64
	OrigLen   uint32
	Tuple     Tuple
	TTL       uint8
	VLAN      uint16
	MSS       uint16
}

// Trace is every sighting of one packet, in time order.
type Trace struct {
	ID      uint64
	Hops    []Hop
	Changes []string
	// Packet is the packet as decoded at the first hop; valid iff Decoded.
	Packet  decode.Packet
	Decoded bool
}

// TimeNanos is the time of the first sighting.
func (t *Trace) TimeNanos() int64 { return t.Hops[0].TimeNanos }

// Transit is the time from the first sighting to the last.
func (t *Trace) Transit() time.Duration {
	return time.Duration(t.Hops[len(t.Hops)-1].TimeNanos - t.Hops[0].TimeNanos)
}

// Stats count what the correlator did.
type Stats struct {
	Sightings uint64 // added
	Traces    uint64 // closed
	MultiHop  uint64 // closed with more than one sighting
	Evicted   uint64 // closed early because MaxTraces were open
	Late      uint64 // arrived after the merge had passed their time and found no trace to join: their packet may be split
	Forced    uint64 // processed early because MaxPending were waiting
	Undecoded uint64 // could not be decoded: a trace of their own each
	Open      int    // traces open now
	Pending   int    // sightings held now
}

// Correlator turns batches of sightings into annotated sightings and traces.
type Correlator struct {
	cfg    Config
	window int64
	lag    int64

	sights []sighting
	freeS  []int32
	heap   []int32 // waiting for the merge, by (time, seq)
	outq   []int32 // processed, in processing order, not yet released
	outh   int
	seq    uint64

	byFP   map[uint64][]*trace
	openq  []*trace // by creation, for closing
	openh  int
	open   int
	freeT  []*trace
	nextID uint64

	sources map[int]*source
	mark    int64 // the merge has processed everything up to here
	chunks  [][]byte
	held    int // bytes of chunks holding sightings

	done  []*Trace
	stats Stats
}

type source struct {
	seen     int64 // newest sighting time delivered
	lastWall int64 // wall time of the last delivery
}

type sighting struct {
	h     record.Header
	data  []byte // aliases a chunk
	chunk *chunkRef
	pkt   decode.Packet
	ok    bool
	late  bool
	seq   uint64
	trace *trace
}

type chunkRef struct {
	buf  []byte
	refs int
}

type trace struct {
	id       uint64
	fp       uint64
	first    int64
	hops     []int32
	keys     []uint64 // device and direction of each hop, for seenOn
	last     int64    // time of the newest hop
	lastTup  Tuple    // its addresses
	closed   bool
	released int
	indexed  bool
}

// New returns a Correlator.
func New(cfg Config) *Correlator {
	cfg = cfg.withDefaults()
	return &Correlator{
		cfg: cfg, window: int64(cfg.Window), lag: int64(cfg.Lag),
		byFP: map[uint64][]*trace{}, sources: map[int]*source{}, nextID: 1,
		mark: math.MinInt64,
	}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Correlator) Config() Config { return c.cfg }

// AddSource tells the correlator that source src exists (a socket was
// opened at wall time now), so that the merge waits for it, up to Lag,
// before its first batch.
func (c *Correlator) AddSource(src int, now int64) {
	if _, ok := c.sources[src]; !ok {
		c.sources[src] = &source{seen: math.MinInt64, lastWall: now}
	}
}

// RemoveSource forgets a source that will deliver nothing more.
func (c *Correlator) RemoveSource(src int) { delete(c.sources, src) }

// Add takes a batch of records (pcap/record layout) from one source (a
// socket), delivered at wall time now (ns). The records are copied;
// records is not retained.
func (c *Correlator) Add(src int, records []byte, now int64) error {
	if len(records) == 0 {
		return nil
	}
	ch := c.chunk(len(records))
	ch.buf = append(ch.buf[:0], records...)
	s := c.sources[src]
	if s == nil {
		s = &source{seen: math.MinInt64}
		c.sources[src] = s
	}
	s.lastWall = now
	r := record.NewReader(ch.buf)
	var err error
	for {
		var h record.Header
		data, ok, rerr := r.Next(&h)
		if rerr != nil {
			err = rerr
			break
		}
		if !ok {
			break
		}
		i := c.alloc()
		sg := &c.sights[i]
		sg.h, sg.data, sg.chunk, sg.trace = h, data, ch, nil
		sg.seq = c.seq
		c.seq++
		ch.refs++
		sg.ok = decode.Decode(h.HAType, h.VLANTCI, data, &sg.pkt) == nil && sg.pkt.Valid
		if !sg.ok {
			sg.pkt.Valid = false
		}
		if h.TimeNanos > s.seen {
			s.seen = h.TimeNanos
		}
		// Behind the merge: harmless if it still joins its trace, counted
		// in process if it has to start one.
		sg.late = h.TimeNanos <= c.mark
		c.stats.Sightings++
		c.push(i)
		if len(c.heap) > c.cfg.MaxPending {
			c.stats.Forced++
			c.process(c.pop())
		}
	}
	if ch.refs == 0 {
		c.putChunk(ch)
	} else {
		c.held += cap(ch.buf)
		if c.held > c.cfg.MaxBytes {
			c.shed()
		}
	}
	if err != nil {
		return fmt.Errorf("correlate: source %d: %w", src, err)
	}
	return nil
}

// shed makes room when too many bytes are held: everything waiting for the
// merge is processed, and the older half of the open traces is closed so
// that Drain can release their sightings.
func (c *Correlator) shed() {
	for len(c.heap) > 0 {
		c.stats.Forced++
		c.process(c.pop())
	}
	for n := c.open / 2; n > 0 && c.open > 0; n-- {
		c.evict()
	}
}

// Advance lets the merge proceed to the watermark implied by wall time now:
// the oldest newest-delivered time among the sources, not waiting longer
// than Lag for a silent source.
func (c *Correlator) Advance(now int64) {
	w := now - c.lag
	for _, s := range c.sources {
		eff := s.seen
		if now-s.lastWall >= c.lag && w > eff {
			eff = w
		}
		if eff < w {
			w = eff
		}
	}
	c.advanceTo(w)
}

// Flush processes, closes and releases everything: the end of a capture
// (or of a file). The merge's position stays where it was.
func (c *Correlator) Flush() {
	mark := c.mark
	c.advanceTo(math.MaxInt64)
	c.mark = mark
}

func (c *Correlator) advanceTo(w int64) {
	for len(c.heap) > 0 && c.sights[c.heap[0]].h.TimeNanos <= w {
		c.process(c.pop())
	}
	if w > c.mark {
		c.mark = w
	}
	for c.openh < len(c.openq) {
		t := c.openq[c.openh]
		if !t.closed && t.first+c.window > w && w != math.MaxInt64 {
			break
		}
		c.openq[c.openh] = nil
		c.openh++
		if !t.closed {
			c.close(t)
		}
	}
	if c.openh > 1024 && c.openh*2 > len(c.openq) {
		c.openq = append(c.openq[:0], c.openq[c.openh:]...)
		c.openh = 0
	}
}

// process matches one sighting to a trace.
func (c *Correlator) process(i int32) {
	sg := &c.sights[i]
	c.outq = append(c.outq, i)
	var best *trace
	if sg.ok {
		best = c.match(sg)
	} else {
		c.stats.Undecoded++
	}
	if best == nil {
		if sg.late {
			c.stats.Late++
		}
		best = c.newTrace(sg)
	}
	best.hops = append(best.hops, i)
	best.keys = append(best.keys, hopKey(sg.h.Iface, sg.h.Dir))
	if sg.h.TimeNanos >= best.last {
		best.last, best.lastTup = sg.h.TimeNanos, tupleOf(&sg.pkt)
	}
	best.first = min(best.first, sg.h.TimeNanos)
	sg.trace = best
	if c.open > c.cfg.MaxTraces {
		c.evict()
	}
}

// closeSlack is added to the shortest gap when deciding which candidates
// are as close in time as the closest one.
const closeSlack = 50 * int64(time.Microsecond)

// match finds the open trace sg is a copy of, or nil. Candidates share its
// fingerprint, are within the window, and have no sighting on sg's device
// in sg's direction. Of those, the ones whose last sighting is about as
// recent as the most recent one's are kept (a copy lost on the way leaves
// a trace that stopped long ago, and an identical later packet, such as a
// retransmission, must not continue it); among those the oldest wins, as
// queues keep order, unless one had the same addresses at its last hop.
func (c *Correlator) match(sg *sighting) *trace {
	var eligible [64]*trace
	var gaps [64]int64
	n := 0
	minGap := int64(math.MaxInt64)
	// The newest traces are the likely ones: scan back from them, so that a
	// burst of identical packets costs a bounded scan per sighting.
	cands := c.byFP[sg.pkt.Fingerprint]
	stop := max(0, len(cands)-min(c.cfg.MaxCandidates, len(eligible)))
	for k := len(cands) - 1; k >= stop; k-- {
		t := cands[k]
		if max(t.last, sg.h.TimeNanos)-min(t.first, sg.h.TimeNanos) > c.window || c.seenOn(t, sg.h.Iface, sg.h.Dir) {
			continue
		}
		gap := sg.h.TimeNanos - t.last
		if gap < 0 {
			gap = -gap
		}
		eligible[n], gaps[n] = t, gap
		n++
		minGap = min(minGap, gap)
	}
	if n == 0 {
		return nil
	}
	limit := 4*minGap + closeSlack
	tup := tupleOf(&sg.pkt)
	var best *trace
	for k := n - 1; k >= 0; k-- { // oldest first
		if gaps[k] > limit {
			continue
		}
		t := eligible[k]
		if best == nil {
			best = t
		}
		if t.lastTup == tup {
			return t
		}
	}
	return best
}

func (c *Correlator) seenOn(t *trace, iface uint32, dir record.Direction) bool {
	return slices.Contains(t.keys, hopKey(iface, dir))
}

func hopKey(iface uint32, dir record.Direction) uint64 { return uint64(iface)<<8 | uint64(dir) }

func (c *Correlator) newTrace(sg *sighting) *trace {
	var t *trace
	if n := len(c.freeT); n > 0 {
		t = c.freeT[n-1]
		c.freeT = c.freeT[:n-1]
		*t = trace{hops: t.hops[:0], keys: t.keys[:0]}
	} else {
		t = &trace{}
	}
	t.id = c.nextID
	c.nextID++
	t.first = sg.h.TimeNanos
	t.last = math.MinInt64
	if sg.ok {
		t.fp = sg.pkt.Fingerprint
		t.indexed = true
		c.byFP[t.fp] = append(c.byFP[t.fp], t)
	}
	c.openq = append(c.openq, t)
	c.open++
	return t
}

// evict closes the oldest open trace.
func (c *Correlator) evict() {
	for c.openh < len(c.openq) {
		t := c.openq[c.openh]
		c.openq[c.openh] = nil
		c.openh++
		if !t.closed {
			c.stats.Evicted++
			c.close(t)
			return
		}
	}
}

// close finishes a trace: hops in time order, numbered, and its summary.
func (c *Correlator) close(t *trace) {
	t.closed = true
	c.open--
	if t.indexed {
		l := c.byFP[t.fp]
		if len(l) > 0 && l[0] == t {
			l = l[1:] // the usual case: traces close in the order they opened
		} else if k := slices.Index(l, t); k >= 0 {
			l = slices.Delete(l, k, k+1)
		}
		if len(l) == 0 {
			delete(c.byFP, t.fp)
		} else {
			c.byFP[t.fp] = l
		}
	}
	slices.SortStableFunc(t.hops, func(a, b int32) int {
		x, y := &c.sights[a], &c.sights[b]
		if x.h.TimeNanos != y.h.TimeNanos {
			if x.h.TimeNanos < y.h.TimeNanos {
				return -1
			}
			return 1
		}
		if x.seq < y.seq {
			return -1
		}
		return 1
	})
	out := &Trace{ID: t.id, Hops: make([]Hop, len(t.hops))}
	for k, j := range t.hops {
		sg := &c.sights[j]
		sg.h.TraceID = t.id
		sg.h.Hop = uint16(min(k+1, math.MaxUint16))
		sg.h.Hops = uint16(min(len(t.hops), math.MaxUint16))
		out.Hops[k] = Hop{
			Iface: sg.h.Iface, Dir: sg.h.Dir, TimeNanos: sg.h.TimeNanos, OrigLen: sg.h.OrigLen,
			Tuple: tupleOf(&sg.pkt), TTL: sg.pkt.TTL, VLAN: sg.pkt.VLAN, MSS: sg.pkt.MSS,
		}
		if k == 0 {
			out.Packet, out.Decoded = sg.pkt, sg.ok
		}
	}
	out.Changes = Changes(out.Hops)
	c.stats.Traces++
	if len(t.hops) > 1 {
		c.stats.MultiHop++
	}
	c.done = append(c.done, out)
}

// Drain appends the sightings released so far to dst, in time order and
// annotated with their trace, and returns the traces closed since the last
// Drain. Traces come before or with the records that refer to them.
func (c *Correlator) Drain(dst []byte) (records []byte, count int, traces []*Trace) {
	for c.outh < len(c.outq) {
		i := c.outq[c.outh]
		sg := &c.sights[i]
		t := sg.trace
		if !t.closed {
			break
		}
		dst = record.Append(dst, sg.h, sg.data)
		count++
		c.outh++
		t.released++
		if t.released == len(t.hops) {
			c.freeT = append(c.freeT, t)
		}
		c.free(i)
	}
	if c.outh > 1024 && c.outh*2 > len(c.outq) {
		c.outq = append(c.outq[:0], c.outq[c.outh:]...)
		c.outh = 0
	}
	traces, c.done = c.done, nil
	return dst, count, traces
}

// Stats returns the counters.
func (c *Correlator) Stats() Stats {
	st := c.stats
	st.Open = c.open
	st.Pending = len(c.sights) - len(c.freeS)
	return st
}

func (c *Correlator) alloc() int32 {
	if n := len(c.freeS); n > 0 {
		i := c.freeS[n-1]
		c.freeS = c.freeS[:n-1]
		return i
	}
	c.sights = append(c.sights, sighting{})
	return int32(len(c.sights) - 1)
}

func (c *Correlator) free(i int32) {
	sg := &c.sights[i]
	ch := sg.chunk
	sg.data, sg.chunk, sg.trace = nil, nil, nil
	c.freeS = append(c.freeS, i)
	if ch.refs--; ch.refs == 0 {
		c.held -= cap(ch.buf)
		c.putChunk(ch)
	}
}

func (c *Correlator) chunk(n int) *chunkRef {
	for k := len(c.chunks) - 1; k >= 0; k-- {
		if cap(c.chunks[k]) >= n {
			b := c.chunks[k]
			c.chunks = slices.Delete(c.chunks, k, k+1)
			return &chunkRef{buf: b}
		}
	}
	return &chunkRef{buf: make([]byte, 0, max(n, 64<<10))}
}

func (c *Correlator) putChunk(ch *chunkRef) {
	if len(c.chunks) < 64 {
		c.chunks = append(c.chunks, ch.buf[:0])
	}
	ch.buf = nil
}

// heap of sighting indices by (time, seq).
func (c *Correlator) less(a, b int32) bool {
	x, y := &c.sights[a], &c.sights[b]
	if x.h.TimeNanos != y.h.TimeNanos {
		return x.h.TimeNanos < y.h.TimeNanos
	}
	return x.seq < y.seq
}

func (c *Correlator) push(i int32) {
	h := append(c.heap, i)
	k := len(h) - 1
	for k > 0 {
		p := (k - 1) / 2
		if !c.less(h[k], h[p]) {
			break
		}
		h[k], h[p] = h[p], h[k]
		k = p
	}
	c.heap = h
}

func (c *Correlator) pop() int32 {
	h := c.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	k := 0
	for {
		l := 2*k + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && c.less(h[r], h[l]) {
			m = r
		}
		if !c.less(h[m], h[k]) {
			break
		}
		h[k], h[m] = h[m], h[k]
		k = m
	}
	c.heap = h
	return top
}

func tupleOf(p *decode.Packet) Tuple {
	if !p.Valid {
		return Tuple{}
	}
	return Tuple{EtherType: p.EtherType, Proto: p.Proto, Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
}

// Changes describes what changed between consecutive hops, each change
// once, in order of first appearance: "SNAT a→b", "DNAT a→b" (with ports
// for TCP and UDP when they changed), "MSS a→b", "VLAN a→b".
func Changes(hops []Hop) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for k := 1; k < len(hops); k++ {
		a, b := hops[k-1], hops[k]
		if a.Tuple.EtherType != b.Tuple.EtherType || a.Tuple.Proto != b.Tuple.Proto {
			continue
		}
		ports := a.Tuple.Proto == 6 || a.Tuple.Proto == 17 || a.Tuple.Proto == 132
		if a.Tuple.Src != b.Tuple.Src || (ports && a.Tuple.SrcPort != b.Tuple.SrcPort) {
			add("SNAT " + endpoint(a.Tuple.Src, a.Tuple.SrcPort, ports && a.Tuple.SrcPort != b.Tuple.SrcPort) +
				"→" + endpoint(b.Tuple.Src, b.Tuple.SrcPort, ports && a.Tuple.SrcPort != b.Tuple.SrcPort))
		}
		if a.Tuple.Dst != b.Tuple.Dst || (ports && a.Tuple.DstPort != b.Tuple.DstPort) {
			add("DNAT " + endpoint(a.Tuple.Dst, a.Tuple.DstPort, ports && a.Tuple.DstPort != b.Tuple.DstPort) +
				"→" + endpoint(b.Tuple.Dst, b.Tuple.DstPort, ports && a.Tuple.DstPort != b.Tuple.DstPort))
		}
		if !ports && a.Tuple.SrcPort != b.Tuple.SrcPort && (a.Tuple.Proto == 1 || a.Tuple.Proto == 58) {
			add("echo id " + strconv.Itoa(int(a.Tuple.SrcPort)) + "→" + strconv.Itoa(int(b.Tuple.SrcPort)))
		}
		if a.MSS != 0 && b.MSS != 0 && a.MSS != b.MSS {
			add("MSS " + strconv.Itoa(int(a.MSS)) + "→" + strconv.Itoa(int(b.MSS)))
		}
		if a.VLAN != b.VLAN {
			add("VLAN " + vlan(a.VLAN) + "→" + vlan(b.VLAN))
		}
	}
	return out
}

func endpoint(a netip.Addr, port uint16, withPort bool) string {
	if !withPort {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

func vlan(id uint16) string {
	if id == 0 {
		return "untagged"
	}
	return strconv.Itoa(int(id))
}
