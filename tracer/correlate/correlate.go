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
	// 524288). When full, the oldest is processed without waiting: a
	// forced release.
	MaxPending int
	// MaxBytes bounds the captured bytes held (default 64 MiB: a 100ms
	// window of small packets at a million sightings per second holds
	// about 20 MiB; a bulk TCP flow of 64 KB super-packets at 5 Gbit/s
	// seen on three devices, 180 MiB). Beyond it, the oldest half of the
	// open traces is closed early (evictions).
	MaxBytes int
	// MaxCandidates bounds how many open traces with the same fingerprint a
	// sighting is compared with, newest first (default and maximum 64).
	MaxCandidates int
	// Tunnels are the UDP ports decoded as VXLAN and Geneve (default
	// decode.DefaultTunnels); SetTunnels changes them.
	Tunnels *decode.Tunnels
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
		c.MaxPending = 1 << 19
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
	if c.MaxCandidates <= 0 {
		c.MaxCandidates = 64
	}
	if c.Tunnels == nil {
		c.Tunnels = decode.DefaultTunnels
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
	// Tunnel is the tunnel this device saw the packet in; zero when it saw
	// the packet itself. Tuple is always the packet's own.
	Tunnel record.Tunnel
	// Segment is, in a trace whose packet was segmented or coalesced
	// (Trace.Segments > 0), the number of the segment this hop saw, 1… in
	// sequence order; 0 where the hop saw the whole packet.
	Segment uint16
}

// Trace is every sighting of one packet, in time order.
type Trace struct {
	ID      uint64
	Hops    []Hop
	Changes []string
	// Packet is the packet as decoded at the first hop; valid iff Decoded.
	Packet  decode.Packet
	Decoded bool
	// Segments is how many segments the packet was cut into (GSO, TSO) or
	// glued from (GRO) on its way; 0 when neither.
	Segments int
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
//
// Its state is kept in flat, pointer-free arrays (see store.go) so that the
// hundreds of thousands of sightings a full window holds cost the garbage
// collector nothing to scan and take no allocation per sighting.
type Correlator struct {
	cfg    Config
	window int64
	lag    int64

	sights blocks[sighting]
	freeS  []int32
	merge  merge   // waiting for the merge, by (time, seq)
	outq   []int32 // processed, in processing order, not yet released
	outh   int
	seq    uint64

	traces blocks[trace]
	freeT  []int32
	more   []moreHops // hops of traces with more than inlineHops; a trace keeps its entry
	byFP   fpIndex
	byAck  fpIndex // open traces of TCP data packets, by ack (segments.go)
	bySup  fpIndex // those of them larger than a segment, by ack
	byHead fpIndex // open traces of large UDP datagrams, by the payload their next piece starts with
	kids   []kids  // children of traces whose packet was segmented or coalesced
	devs   devices
	openq  []int32 // by creation, for closing
	openh  int
	open   int
	nextID uint64

	// Loads ahead of use (advanceTo): how many more pops and closes the
	// last touches cover, and where their results go.
	popAhead, closeAhead int
	touched              uint64

	sources map[int]*source
	mark    int64 // the merge has processed everything up to here
	chunks  [][]byte
	refs    []chunkRef // chunks holding sightings, by index
	freeC   []int32
	held    int // bytes of chunks holding sightings

	done    []int32 // traces closed since the last Drain
	scratch []pending
	pkt     decode.Packet // for decoding tunnel hops again
	changes []string
	chEnd   []int
	intern  interner

	// Drain's output, reused by the next Drain.
	outTr []*Trace
	outT  []Trace
	outH  []Hop
	outCh []string
	stats Stats
}

type source struct {
	seen     int64 // newest sighting time delivered
	lastWall int64 // wall time of the last delivery
}

// sighting is one held record: the record itself stays in its chunk, at
// off; this is what matching and closing need of it. Pointer-free.
type sighting struct {
	time  int64
	seq   uint64
	fp    uint64
	tup   ctuple // its Tuple; zero if not decoded
	off   int    // offset of the record in its chunk
	iface uint32
	chunk int32
	trace int32
	hop   uint16 // 1-based position in its closed trace
	dev   uint16 // devices.id(key())
	vlan  uint16
	mss   uint16
	ttl   uint8
	dir   record.Direction
	flags uint8 // sightOK, sightLate, …
	// TCP sequence and acknowledgment numbers and payload length, if
	// sightTCP; the UDP payload length, its first 8 bytes (sightHead) and
	// where it starts in the record's frame, if sightUDP: what segments.go
	// matches pieces of a packet by.
	tseq, tack, plen uint32
	head             uint64
	poff             uint16
}

func (sg *sighting) key() uint64 { return hopKey(sg.iface, sg.dir) }

const (
	sightOK     = 1 << iota // decoded: Decode returned nil and the packet is Valid
	sightLate               // behind the merge when added
	sightTunnel             // seen inside a tunnel packet
	sightTCP                // a TCP packet whose header was decoded
	sightUDP                // a UDP datagram whose header was decoded
	sightHead               // head holds the first 8 payload bytes
)

// pending is a sighting's merge key kept next to its index, so that the
// merge does not touch the sightings.
type pending struct {
	time int64
	seq  uint64
	i    int32
}

func (a *pending) before(b *pending) bool {
	return a.time < b.time || a.time == b.time && a.seq < b.seq
}

type chunkRef struct {
	buf  []byte
	refs int
}

// inlineHops is how many hops a trace holds without an overflow entry.
const inlineHops = 4

// trace is an open (or closed, not yet released) trace. Pointer-free; the
// fields match compares come first.
type trace struct {
	first    int64
	last     int64              // time of the newest hop
	mask     uint64             // bit of each hop's device that has one
	n        int32              // hops
	more     int32              // 1 + index in Correlator.more of hops beyond inlineHops, 0 if none
	keys     [inlineHops]uint64 // device and direction of each hop, for seenOn
	lastTup  ctuple             // addresses of the newest hop
	li, pos  int32              // its entry in byFP, if indexed
	id       uint64
	fp       uint64
	hops     [inlineHops]int32
	released int32
	closed   bool
	reported bool // closed and returned by Drain: its records may go
	indexed  bool

	// Offloads (segments.go): the first sighting's TCP numbers; the
	// parent (1 + index) of a segment's trace, the children (1 + index in
	// Correlator.kids) of a segmented or coalesced packet's, the family's
	// hop count once closed; the entries in byAck and bySup.
	tseq, tack, plen uint32
	parent, kids     int32
	total            int32
	ali, apos        int32
	sli, spos        int32
	ackIndexed       bool
	supIndexed       bool
	// UDP: where the next piece starts in the payload, the pieces' size,
	// the first sighting's payload offset, and the entry in byHead.
	uoff, ugso  uint32
	upoff       uint16
	hkey        uint64
	hli, hpos   int32
	headIndexed bool
}

type moreHops struct {
	keys []uint64
	hops []int32
}

// New returns a Correlator.
func New(cfg Config) *Correlator {
	cfg = cfg.withDefaults()
	return &Correlator{
		cfg: cfg, window: int64(cfg.Window), lag: int64(cfg.Lag),
		sources: map[int]*source{}, nextID: 1,
		mark: math.MinInt64,
	}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Correlator) Config() Config { return c.cfg }

// SetTunnels changes the UDP ports decoded as VXLAN and Geneve from the
// next Add on, e.g. when a tunnel device with another port appears.
func (c *Correlator) SetTunnels(t *decode.Tunnels) {
	if t == nil {
		t = decode.DefaultTunnels
	}
	c.cfg.Tunnels = t
}

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
	ci := c.chunk(len(records))
	ch := &c.refs[ci]
	ch.buf = append(ch.buf[:0], records...)
	return c.add(src, ci, now)
}

// AddOwned is Add without the copy, for a caller that hands records over:
// the correlator keeps the buffer until its sightings are released, then
// offers it back through Spare. The caller must not touch records again.
func (c *Correlator) AddOwned(src int, records []byte, now int64) error {
	if len(records) == 0 {
		return nil
	}
	ci := slot(&c.refs, &c.freeC)
	c.refs[ci] = chunkRef{buf: records}
	return c.add(src, ci, now)
}

// Spare returns an empty buffer whose records were all released, or nil
// if there is none: for a caller of AddOwned to fill next.
func (c *Correlator) Spare() []byte {
	n := len(c.chunks)
	if n == 0 {
		return nil
	}
	b := c.chunks[n-1]
	c.chunks = c.chunks[:n-1]
	return b
}

// add reads the records of chunk ci.
func (c *Correlator) add(src int, ci int32, now int64) error {
	buf := c.refs[ci].buf
	s := c.sources[src]
	if s == nil {
		s = &source{seen: math.MinInt64}
		c.sources[src] = s
	}
	s.lastWall = now
	r := record.NewReader(buf)
	var err error
	var pkt decode.Packet
	c.merge.start()
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
		sg := c.sights.at(i)
		decoded := c.cfg.Tunnels.Decode(h.HAType, h.VLANTCI, data, &pkt) == nil && pkt.Valid
		*sg = sighting{
			time:  h.TimeNanos,
			seq:   c.seq,
			iface: h.Iface,
			dir:   h.Dir,
			dev:   c.devs.id(hopKey(h.Iface, h.Dir)),
			off:   cap(buf) - cap(data) - record.HeaderLen,
			chunk: ci,
			vlan:  pkt.VLAN,
			mss:   pkt.MSS,
			ttl:   pkt.TTL,
		}
		if decoded {
			sg.flags = sightOK
			sg.fp = pkt.Fingerprint
			sg.tup = compactTuple(&pkt)
			if pkt.Encap != decode.EncapNone {
				sg.flags |= sightTunnel
			}
			switch {
			case pkt.Proto == decode.ProtoTCP && !pkt.Fragment && pkt.PayloadLen >= 0:
				sg.flags |= sightTCP
				sg.tseq, sg.tack, sg.plen = pkt.TCPSeq, pkt.TCPAck, uint32(pkt.PayloadLen)
			case pkt.Proto == decode.ProtoUDP && !pkt.Fragment:
				sg.flags |= sightUDP
				sg.plen, sg.poff = uint32(pkt.PayloadLen), uint16(min(pkt.PayloadOff, math.MaxUint16))
				if pkt.HasPayloadHead {
					sg.flags |= sightHead
					sg.head = pkt.PayloadHead
				}
			}
		}
		c.seq++
		c.refs[ci].refs++
		if h.TimeNanos > s.seen {
			s.seen = h.TimeNanos
		}
		// Behind the merge: harmless if it still joins its trace, counted
		// in process if it has to start one.
		if h.TimeNanos <= c.mark {
			sg.flags |= sightLate
		}
		c.stats.Sightings++
		c.merge.push(pending{time: sg.time, seq: sg.seq, i: i})
		if c.merge.n > c.cfg.MaxPending {
			c.stats.Forced++
			c.process(c.merge.pop())
		}
	}
	if ch := &c.refs[ci]; ch.refs == 0 {
		c.putChunk(ci)
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
	for c.merge.n > 0 {
		c.stats.Forced++
		c.process(c.merge.pop())
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

// FlushStep is Flush in pieces, for callers that Drain after each step so
// that the end of a capture is not one batch of everything still held (a
// window of traces and more, tens of megabytes at high rates). Each step
// moves the merge a sixteenth of a window past the oldest sighting still
// waiting (or past where it stands): at full rate that is a few thousand
// traces, about what a step of the capture itself releases, so the end
// needs no larger buffers than the rest (half a window was 20 times that,
// and its buffers alone took the heap past its limit). It returns false
// once everything is released: the last step was a Flush.
func (c *Correlator) FlushStep() bool {
	w := c.mark
	if c.merge.n > 0 {
		w = max(w, c.merge.min().time)
	}
	step := max(c.window/16, 1)
	if c.merge.n == 0 && c.open == 0 || w > math.MaxInt64-step {
		c.Flush()
		return false
	}
	c.advanceTo(w + step)
	return true
}

func (c *Correlator) advanceTo(w int64) {
	for c.merge.n > 0 && c.merge.min().time <= w {
		if c.popAhead == 0 {
			c.popAhead = c.touchPops()
		}
		c.popAhead--
		c.process(c.merge.pop())
	}
	if w > c.mark {
		c.mark = w
	}
	for c.openh < len(c.openq) {
		ti := c.openq[c.openh]
		t := c.traces.at(ti)
		if !t.closed && t.first+c.window > w && w != math.MaxInt64 {
			break
		}
		if c.closeAhead == 0 {
			c.closeAhead = c.touchCloses()
		}
		c.closeAhead--
		c.openh++
		if !t.closed {
			c.close(ti)
		}
	}
	if c.openh > 1024 && c.openh*2 > len(c.openq) {
		c.openq = append(c.openq[:0], c.openq[c.openh:]...)
		c.openh = 0
	}
}

// touchAhead is how many sightings, or traces, one touch covers.
const touchAhead = 16

// touchPops loads the index slots that matching the next sightings of the
// merge will look at first, and returns how many it covered.
//
// Most sightings look up a fingerprint among a window of open traces (a
// table of megabytes at a few hundred thousand packets a second), which
// misses the cache: matching one by one, each miss waits for the last.
// Go has no prefetch instruction; loads in a tight loop whose results
// nothing waits for are the nearest thing, and the processor keeps many of
// them in flight at once. Only the next run's sightings are touched: with
// one source, as with a file, that is all of them.
func (c *Correlator) touchPops() int {
	m := &c.merge
	r := m.runs[m.heap[0]]
	end := min(r.end, r.head+touchAhead)
	var sum uint64
	for _, e := range m.ents[r.head:end] {
		if sg := c.sights.at(e.i); sg.flags&sightOK != 0 {
			sum += c.byFP.touch(sg.fp)
		}
	}
	c.touched += sum
	return end - r.head
}

// touchCloses is touchPops for the traces that close next: their index
// slots and lists, a window after they were last used.
func (c *Correlator) touchCloses() int {
	end := min(len(c.openq), c.openh+touchAhead)
	var sum uint64
	for _, ti := range c.openq[c.openh:end] {
		if t := c.traces.at(ti); t.indexed {
			sum += c.byFP.touch(t.fp) + c.byFP.touchList(t.li)
		}
	}
	c.touched += sum
	return end - c.openh
}

// process matches one sighting to a trace.
func (c *Correlator) process(i int32) {
	sg := c.sights.at(i)
	c.outq = append(c.outq, i)
	bi := int32(-1)
	if sg.flags&sightOK != 0 {
		bi = c.match(sg)
	} else {
		c.stats.Undecoded++
	}
	if bi < 0 {
		if sg.flags&sightLate != 0 {
			c.stats.Late++
		}
		bi = c.newTrace(sg)
		switch {
		case sg.tcpData():
			if pi := c.matchParent(sg); pi >= 0 {
				c.adopt(pi, bi)
			} else {
				c.adoptSegments(bi, sg)
			}
		case sg.flags&sightHead != 0 && c.byHead.used > 0:
			if pi := c.matchDatagram(sg); pi >= 0 {
				c.adoptDatagram(pi, bi, sg)
			}
		}
	}
	best := c.traces.at(bi)
	c.addHop(best, i, sg.key())
	best.mask |= bit(sg.dev)
	if sg.time >= best.last {
		best.last, best.lastTup = sg.time, sg.tup
	}
	best.first = min(best.first, sg.time)
	if best.indexed {
		e := c.byFP.at(best.li, best.pos)
		e.first, e.last, e.mask = best.first, best.last, best.mask
	}
	sg.trace = bi
	if c.open > c.cfg.MaxTraces {
		c.evict()
	}
}

func (c *Correlator) addHop(t *trace, i int32, key uint64) {
	if k := t.n; k < inlineHops {
		t.hops[k], t.keys[k] = i, key
	} else {
		if t.more == 0 {
			c.more = append(c.more, moreHops{})
			t.more = int32(len(c.more))
		}
		m := &c.more[t.more-1]
		m.hops = append(m.hops, i)
		m.keys = append(m.keys, key)
	}
	t.n++
}

// hopAt is the index of t's k-th hop.
func (c *Correlator) hopAt(t *trace, k int) int32 {
	if k < inlineHops {
		return t.hops[k]
	}
	return c.more[t.more-1].hops[k-inlineHops]
}

// closeSlack is added to the shortest gap when deciding which candidates
// are as close in time as the closest one.
const closeSlack = 50 * int64(time.Microsecond)

// match finds the open trace sg is a copy of, or -1. Candidates share its
// fingerprint, are within the window, and have no sighting on sg's device
// in sg's direction. Of those, the ones whose last sighting is about as
// recent as the most recent one's are kept (a copy lost on the way leaves
// a trace that stopped long ago, and an identical later packet, such as a
// retransmission, must not continue it); among those the oldest wins, as
// queues keep order, unless one had the same addresses at its last hop.
func (c *Correlator) match(sg *sighting) int32 {
	var eligible [64]int32
	var gaps [64]int64
	n := 0
	minGap := int64(math.MaxInt64)
	// The newest traces are the likely ones: scan back from them, so that a
	// burst of identical packets costs a bounded scan per sighting.
	cands := c.byFP.list(sg.fp)
	stop := max(0, len(cands)-min(c.cfg.MaxCandidates, len(eligible)))
	// A device with a bit (one of the first 64 seen) is looked for in
	// the entry's mask, another in the trace's hops.
	at, b := sg.time, bit(sg.dev)
	for k := len(cands) - 1; k >= stop; k-- {
		e := &cands[k]
		if max(e.last, at)-min(e.first, at) > c.window {
			continue
		}
		if b != 0 {
			if e.mask&b != 0 {
				continue
			}
		} else if c.seenOn(c.traces.at(e.t), sg.key()) {
			continue
		}
		gap := at - e.last
		if gap < 0 {
			gap = -gap
		}
		eligible[n], gaps[n] = e.t, gap
		n++
		minGap = min(minGap, gap)
	}
	if n == 0 {
		return -1
	}
	limit := 4*minGap + closeSlack
	best := int32(-1)
	for k := n - 1; k >= 0; k-- { // oldest first
		if gaps[k] > limit {
			continue
		}
		ti := eligible[k]
		if best < 0 {
			best = ti
		}
		if c.traces.at(ti).lastTup == sg.tup {
			return ti
		}
	}
	return best
}

func (c *Correlator) seenOn(t *trace, key uint64) bool {
	for k := range min(int(t.n), inlineHops) {
		if t.keys[k] == key {
			return true
		}
	}
	return t.more != 0 && slices.Contains(c.more[t.more-1].keys, key)
}

func hopKey(iface uint32, dir record.Direction) uint64 { return uint64(iface)<<8 | uint64(dir) }

func (c *Correlator) newTrace(sg *sighting) int32 {
	var ti int32
	if n := len(c.freeT); n > 0 {
		ti = c.freeT[n-1]
		c.freeT = c.freeT[:n-1]
	} else {
		ti = c.traces.grow()
	}
	t := c.traces.at(ti)
	more, kids := t.more, t.kids
	if more != 0 {
		m := &c.more[more-1]
		m.hops, m.keys = m.hops[:0], m.keys[:0]
	}
	if kids != 0 {
		k := &c.kids[kids-1]
		k.traces, k.order = k.traces[:0], k.order[:0]
	}
	*t = trace{more: more, kids: kids}
	t.id = c.nextID
	c.nextID++
	t.first = sg.time
	t.last = math.MinInt64
	if sg.flags&sightOK != 0 {
		t.fp = sg.fp
		t.indexed = true
		t.li, t.pos = c.byFP.add(t.fp, fpEnt{first: t.first, last: t.last, t: ti})
	}
	if sg.flags&sightUDP != 0 {
		t.plen, t.upoff = sg.plen, sg.poff
		if sg.flags&sightHead != 0 && sg.plen > maxDatagramPiece && c.wholePayload(sg) {
			t.headIndexed, t.hkey = true, headKey(sg.head)
			t.hli, t.hpos = c.byHead.add(t.hkey, fpEnt{first: t.first, t: ti})
		}
	}
	if sg.tcpData() {
		t.tseq, t.tack, t.plen = sg.tseq, sg.tack, sg.plen
		t.ackIndexed = true
		t.ali, t.apos = c.byAck.add(ackKey(sg.tack), fpEnt{first: t.first, t: ti})
		if sg.plen > maxSegment {
			t.supIndexed = true
			t.sli, t.spos = c.bySup.add(ackKey(sg.tack), fpEnt{first: t.first, t: ti})
		}
	}
	c.openq = append(c.openq, ti)
	c.open++
	return ti
}

// evict closes the oldest open trace.
func (c *Correlator) evict() {
	for c.openh < len(c.openq) {
		ti := c.openq[c.openh]
		c.openh++
		if !c.traces.at(ti).closed {
			c.stats.Evicted++
			c.close(ti)
			return
		}
	}
}

// close finishes a trace: hops in time order and numbered. Drain turns it
// into a Trace. A segmented or coalesced packet's trace closes with its
// children, as one: closing a child (the segments GRO glued are older
// than the packet it made) closes its parent.
func (c *Correlator) close(ti int32) {
	t := c.traces.at(ti)
	if t.parent != 0 {
		ti = t.parent - 1
		t = c.traces.at(ti)
	}
	c.closeOne(ti)
	c.stats.Traces++
	if t.n > 1 || c.family(t) != nil {
		c.stats.MultiHop++
	}
	if c.family(t) != nil {
		c.closeFamily(ti)
	}
	c.done = append(c.done, ti)
}

// family is t's children, nil when it has none.
func (c *Correlator) family(t *trace) *kids {
	if t.kids == 0 || len(c.kids[t.kids-1].traces) == 0 {
		return nil
	}
	return &c.kids[t.kids-1]
}

// closeOne marks trace ti closed, takes it out of the indexes and numbers
// its hops in time order.
func (c *Correlator) closeOne(ti int32) {
	t := c.traces.at(ti)
	t.closed = true
	c.open--
	if t.indexed {
		for _, e := range c.byFP.remove(t.fp, t.li, t.pos) {
			c.traces.at(e.t).pos--
		}
	}
	if t.ackIndexed {
		for _, e := range c.byAck.remove(ackKey(t.tack), t.ali, t.apos) {
			c.traces.at(e.t).apos--
		}
	}
	if t.supIndexed {
		for _, e := range c.bySup.remove(ackKey(t.tack), t.sli, t.spos) {
			c.traces.at(e.t).spos--
		}
	}
	c.unindexHead(t)
	n := int(t.n)
	hs := c.scratch[:0]
	for k := range n {
		i := c.hopAt(t, k)
		sg := c.sights.at(i)
		hs = append(hs, pending{time: sg.time, seq: sg.seq, i: i})
	}
	sortPending(hs)
	for k := range hs {
		i := hs[k].i
		c.sights.at(i).hop = uint16(min(k+1, math.MaxUint16))
		if k < inlineHops {
			t.hops[k], t.keys[k] = i, c.sights.at(i).key()
		} else {
			m := &c.more[t.more-1]
			m.hops[k-inlineHops], m.keys[k-inlineHops] = i, c.sights.at(i).key()
		}
	}
	c.scratch = hs[:0]
}

// Drain appends the sightings released so far to dst, in time order and
// annotated with their trace, and returns the traces closed since the last
// Drain. Traces come before or with the records that refer to them.
//
// The traces, their hops and changes are valid until the next Drain, which
// reuses their memory: a caller that keeps one copies what it needs.
func (c *Correlator) Drain(dst []byte) (records []byte, count int, traces []*Trace) {
	records, count, traces, _ = c.DrainLimit(dst, math.MaxInt, math.MaxInt)
	return records, count, traces
}

// DrainLimit is Drain in bounded pieces: it returns at most maxTraces
// traces (the oldest closed) and stops adding records once dst holds
// maxBytes, or at the first record whose trace is still to be returned.
// It takes at least one trace and one record when they are ready. So a
// batch stays small however many large frames a step released, and
// however many traces it closed at once (the wall clock passing a
// window's worth of traces at the end of a burst: tens of thousands, whose
// Hops alone were tens of megabytes). more reports whether released
// records or closed traces remain for another call.
func (c *Correlator) DrainLimit(dst []byte, maxBytes, maxTraces int) (records []byte, count int, traces []*Trace, more bool) {
	if len(c.done) > 0 {
		traces = c.closedTraces(max(maxTraces, 1))
	}
	for c.outh < len(c.outq) {
		i := c.outq[c.outh]
		sg := c.sights.at(i)
		t := c.traces.at(sg.trace)
		if !t.reported {
			break // open, or closed and still in c.done: more says so below
		}
		if count > 0 && len(dst) >= maxBytes {
			more = true
			break
		}
		var h record.Header
		data := c.record(sg, &h)
		n := t.n
		if t.total > 0 {
			n = t.total
		}
		h.TraceID, h.Hop, h.Hops = t.id, sg.hop, uint16(min(n, math.MaxUint16))
		dst = record.Append(dst, h, data)
		count++
		c.outh++
		t.released++
		if t.released == t.n {
			c.freeT = append(c.freeT, sg.trace)
		}
		c.free(i)
	}
	if c.outh > 1024 && c.outh*2 > len(c.outq) {
		c.outq = append(c.outq[:0], c.outq[c.outh:]...)
		c.outh = 0
	}
	return dst, count, traces, more || len(c.done) > 0
}

// closedTraces builds the Traces of the oldest closed traces not yet
// returned, at most limit, in the order they closed, in memory the previous
// Drain's traces used: a fresh Trace per packet would be most of what
// correlation allocates. Their records may be released from then on.
func (c *Correlator) closedTraces(limit int) []*Trace {
	done := c.done[:min(limit, len(c.done))]
	nh := 0
	for _, ti := range done {
		t := c.traces.at(ti)
		nh += int(max(t.n, t.total))
	}
	out := reuse(&c.outTr, len(done))
	trs := reuse(&c.outT, len(done))
	hops := grow(&c.outH, nh) // each written whole below
	c.changes, c.chEnd = c.changes[:0], c.chEnd[:0]
	for k, ti := range done {
		t := c.traces.at(ti)
		t.reported = true
		tr := &trs[k]
		n := int(t.n)
		fam := c.family(t)
		if fam != nil {
			n = len(fam.order)
			tr.Segments = len(fam.traces)
			for _, ci := range fam.traces {
				c.traces.at(ci).reported = true
			}
		}
		tr.ID, tr.Hops, hops = t.id, hops[:n:n], hops[n:]
		for j := range tr.Hops {
			var sg *sighting
			if fam != nil {
				sg = c.sights.at(fam.order[j])
			} else {
				sg = c.sights.at(c.hopAt(t, j))
			}
			var h record.Header
			data := c.record(sg, &h)
			tr.Hops[j] = Hop{
				Iface: sg.iface, Dir: sg.dir, TimeNanos: sg.time, OrigLen: h.OrigLen,
				Tuple: sg.tup.tuple(), TTL: sg.ttl, VLAN: sg.vlan, MSS: sg.mss,
			}
			// Decoded again rather than kept for every sighting:
			// Decode is a function of these bytes.
			if j == 0 {
				// With the tunnels it was decoded with when added: a
				// sighting that was not looked into stays the outer
				// packet, whatever port was learnt since.
				tun := c.cfg.Tunnels
				if sg.flags&sightTunnel == 0 {
					tun = nil
				}
				err := tun.Decode(h.HAType, h.VLANTCI, data, &tr.Packet)
				tr.Decoded = err == nil && tr.Packet.Valid
				if !tr.Decoded {
					tr.Packet.Valid = false
				}
			}
			if sg.flags&sightTunnel != 0 {
				p := &c.pkt
				if j == 0 {
					p = &tr.Packet
				} else {
					_ = c.cfg.Tunnels.Decode(h.HAType, h.VLANTCI, data, p)
				}
				tr.Hops[j].Tunnel = tunnelOf(p)
			}
			if fam != nil && sg.trace != ti {
				tr.Hops[j].Segment = c.segmentOf(t, sg.trace)
			}
		}
		c.changes = appendChanges(c.changes, tr.Hops, &c.intern)
		if fam != nil {
			kind := uint8(changeSegmented)
			if tr.Hops[0].Segment != 0 {
				kind = changeCoalesced
			}
			c.changes = append(c.changes, c.intern.str(changeKey{kind: kind, id: uint32(tr.Segments)}))
		}
		c.chEnd = append(c.chEnd, len(c.changes))
		out[k] = tr
	}
	if len(c.changes) > 0 {
		all := reuse(&c.outCh, len(c.changes))
		copy(all, c.changes)
		clear(c.changes)
		from := 0
		for k, to := range c.chEnd {
			if to > from {
				trs[k].Changes = all[from:to:to]
			}
			from = to
		}
	}
	c.done = c.done[:copy(c.done, c.done[len(done):])]
	return out
}

// reuse returns (*buf)[:n], cleared, growing *buf when it is too short.
func reuse[T any](buf *[]T, n int) []T {
	b := grow(buf, n)
	clear(b)
	return b
}

// grow returns (*buf)[:n], growing *buf when it is too short; what it
// held is left there.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n, n+n/4)
	}
	return (*buf)[:n]
}

// record decodes sg's record, in its chunk, into h and returns its data.
func (c *Correlator) record(sg *sighting, h *record.Header) []byte {
	data, _, _ := record.NewReader(c.refs[sg.chunk].buf[sg.off:]).Next(h) // read once already: no error
	return data
}

// Stats returns the counters.
func (c *Correlator) Stats() Stats {
	st := c.stats
	st.Open = c.open
	st.Pending = c.sights.n - len(c.freeS)
	return st
}

func (c *Correlator) alloc() int32 {
	if n := len(c.freeS); n > 0 {
		i := c.freeS[n-1]
		c.freeS = c.freeS[:n-1]
		return i
	}
	return c.sights.grow()
}

func (c *Correlator) free(i int32) {
	ci := c.sights.at(i).chunk
	c.freeS = append(c.freeS, i)
	ch := &c.refs[ci]
	if ch.refs--; ch.refs == 0 {
		c.held -= cap(ch.buf)
		c.putChunk(ci)
	}
}

// chunk returns a chunk with room for n bytes: a spare buffer if one is
// big enough, newest first, else a new one of at least 64 KiB.
func (c *Correlator) chunk(n int) int32 {
	var b []byte
	for k := len(c.chunks) - 1; k >= 0; k-- {
		if cap(c.chunks[k]) >= n {
			b = c.chunks[k]
			c.chunks = slices.Delete(c.chunks, k, k+1)
			break
		}
	}
	if b == nil {
		b = make([]byte, 0, max(n, 64<<10))
	}
	ci := slot(&c.refs, &c.freeC)
	c.refs[ci] = chunkRef{buf: b}
	return ci
}

func (c *Correlator) putChunk(ci int32) {
	ch := &c.refs[ci]
	if len(c.chunks) < 64 {
		c.chunks = append(c.chunks, ch.buf[:0])
	}
	ch.buf = nil
	c.freeC = append(c.freeC, ci)
}

// tunnelOf is the Tunnel of a decoded packet.
func tunnelOf(p *decode.Packet) record.Tunnel {
	if p.Encap == decode.EncapNone {
		return record.Tunnel{}
	}
	o := &p.Outer
	return record.Tunnel{
		Encap: p.Encap, ID: p.TunnelID, HasID: p.HasTunnelID, OuterTTL: o.TTL,
		Outer: record.Tuple{EtherType: o.EtherType, Proto: o.Proto, Src: o.Src, Dst: o.Dst, SrcPort: o.SrcPort, DstPort: o.DstPort},
	}
}

// Changes describes what changed between consecutive hops, each change
// once, in order of first appearance: "SNAT a→b", "DNAT a→b" (with ports
// for TCP and UDP when they changed), "MSS a→b", "VLAN a→b"; where the
// packet went into a tunnel or came out of one, "encap VXLAN vni 42
// 10.212.0.1→10.212.0.2" and "decap …" with the tunnel's endpoints, and
// "outer SNAT a→b" or "outer DNAT a→b" where the tunnel packet's were
// rewritten.
func Changes(hops []Hop) []string { return appendChanges(nil, hops, nil) }

// appendChanges appends Changes(hops) to out, taking the strings from in
// (if not nil) so that the same change is not formatted again.
func appendChanges(out []string, hops []Hop, in *interner) []string {
	start := len(out)
	add := func(k changeKey) {
		if s := in.str(k); !slices.Contains(out[start:], s) {
			out = append(out, s)
		}
	}
	for k := 1; k < len(hops); k++ {
		a, b := &hops[k-1], &hops[k]
		ta, tb := &a.Tunnel, &b.Tunnel
		switch {
		case ta.Encap == record.EncapNone && tb.Encap != record.EncapNone:
			add(tunnelChange(changeEncap, tb))
		case ta.Encap != record.EncapNone && tb.Encap == record.EncapNone:
			add(tunnelChange(changeDecap, ta))
		case ta.Encap != record.EncapNone:
			if ta.Outer.Src != tb.Outer.Src {
				add(changeKey{kind: changeOuterSNAT, a: ta.Outer.Src, b: tb.Outer.Src})
			}
			if ta.Outer.Dst != tb.Outer.Dst {
				add(changeKey{kind: changeOuterDNAT, a: ta.Outer.Dst, b: tb.Outer.Dst})
			}
		}
		if a.Tuple.EtherType != b.Tuple.EtherType || a.Tuple.Proto != b.Tuple.Proto {
			continue
		}
		ports := a.Tuple.Proto == 6 || a.Tuple.Proto == 17 || a.Tuple.Proto == 132
		if a.Tuple.Src != b.Tuple.Src || (ports && a.Tuple.SrcPort != b.Tuple.SrcPort) {
			add(addrChange(changeSNAT, a.Tuple.Src, a.Tuple.SrcPort, b.Tuple.Src, b.Tuple.SrcPort, ports && a.Tuple.SrcPort != b.Tuple.SrcPort))
		}
		if a.Tuple.Dst != b.Tuple.Dst || (ports && a.Tuple.DstPort != b.Tuple.DstPort) {
			add(addrChange(changeDNAT, a.Tuple.Dst, a.Tuple.DstPort, b.Tuple.Dst, b.Tuple.DstPort, ports && a.Tuple.DstPort != b.Tuple.DstPort))
		}
		if !ports && a.Tuple.SrcPort != b.Tuple.SrcPort && (a.Tuple.Proto == 1 || a.Tuple.Proto == 58) {
			add(changeKey{kind: changeEcho, ap: a.Tuple.SrcPort, bp: b.Tuple.SrcPort})
		}
		if a.MSS != 0 && b.MSS != 0 && a.MSS != b.MSS {
			add(changeKey{kind: changeMSS, ap: a.MSS, bp: b.MSS})
		}
		if a.VLAN != b.VLAN {
			add(changeKey{kind: changeVLAN, ap: a.VLAN, bp: b.VLAN})
		}
	}
	return out
}

const (
	changeSNAT = iota + 1
	changeDNAT
	changeEcho
	changeMSS
	changeVLAN
	changeEncap
	changeDecap
	changeOuterSNAT
	changeOuterDNAT
	changeSegmented
	changeCoalesced
)

// changeKey is what a change's text is made of.
type changeKey struct {
	kind     uint8
	withPort bool
	encap    record.Encap
	hasID    bool
	id       uint32
	a, b     netip.Addr
	ap, bp   uint16
}

func tunnelChange(kind uint8, t *record.Tunnel) changeKey {
	return changeKey{kind: kind, encap: t.Encap, hasID: t.HasID, id: t.ID, a: t.Outer.Src, b: t.Outer.Dst}
}

func addrChange(kind uint8, a netip.Addr, ap uint16, b netip.Addr, bp uint16, withPort bool) changeKey {
	if !withPort {
		ap, bp = 0, 0
	}
	return changeKey{kind: kind, withPort: withPort, a: a, b: b, ap: ap, bp: bp}
}

func (k changeKey) String() string {
	switch k.kind {
	case changeSNAT:
		return "SNAT " + endpoint(k.a, k.ap, k.withPort) + "→" + endpoint(k.b, k.bp, k.withPort)
	case changeDNAT:
		return "DNAT " + endpoint(k.a, k.ap, k.withPort) + "→" + endpoint(k.b, k.bp, k.withPort)
	case changeEcho:
		return "echo id " + strconv.Itoa(int(k.ap)) + "→" + strconv.Itoa(int(k.bp))
	case changeMSS:
		return "MSS " + strconv.Itoa(int(k.ap)) + "→" + strconv.Itoa(int(k.bp))
	case changeVLAN:
		return "VLAN " + vlan(k.ap) + "→" + vlan(k.bp)
	case changeEncap, changeDecap:
		s := "encap "
		if k.kind == changeDecap {
			s = "decap "
		}
		s += k.encap.String()
		if k.hasID {
			s += " " + k.encap.IDName() + " " + strconv.FormatUint(uint64(k.id), 10)
		}
		return s + " " + k.a.String() + "→" + k.b.String()
	case changeOuterSNAT:
		return "outer SNAT " + k.a.String() + "→" + k.b.String()
	case changeOuterDNAT:
		return "outer DNAT " + k.a.String() + "→" + k.b.String()
	case changeSegmented:
		return "segmented into " + strconv.FormatUint(uint64(k.id), 10)
	case changeCoalesced:
		return "coalesced from " + strconv.FormatUint(uint64(k.id), 10)
	}
	return ""
}

// interner keeps the text of recent changes, so that a NAT's change is
// formatted (and allocated) once, not once per trace.
type interner struct{ m map[internKey]string }

// internKey is a changeKey as a map key: without netip.Addr's pointer and
// padding, it hashes as one block of memory rather than field by field.
type internKey struct {
	kind, encap, flags, kinds uint8 // flags: withPort, hasID; kinds: addrKind of a, b
	id                        uint32
	a, b                      [16]byte
	ap, bp                    uint16
}

func (k *changeKey) internKey() internKey {
	var flags uint8
	if k.withPort {
		flags |= 1
	}
	if k.hasID {
		flags |= 2
	}
	return internKey{
		kind: k.kind, encap: uint8(k.encap), flags: flags, kinds: addrKind(k.a) | addrKind(k.b)<<2,
		id: k.id, a: k.a.As16(), b: k.b.As16(), ap: k.ap, bp: k.bp,
	}
}

// internMax bounds the changes kept; past it they are forgotten at once.
const internMax = 4096

func (in *interner) str(k changeKey) string {
	if in == nil {
		return k.String()
	}
	ik := k.internKey()
	if s, ok := in.m[ik]; ok {
		return s
	}
	if in.m == nil {
		in.m = map[internKey]string{}
	} else if len(in.m) >= internMax {
		clear(in.m)
	}
	s := k.String()
	in.m[ik] = s
	return s
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
