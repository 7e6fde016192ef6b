package tracer

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// backlog is the queue between the sockets' readers and the delivery loop.
//
// Why it exists: a capture ring holds a few hundred milliseconds of a busy
// host's traffic. Correlating a sighting costs a microsecond or more, copying
// it off the ring tens of nanoseconds. When the traffic outruns the
// correlation for longer than the ring lasts, a reader that waits for the
// delivery loop leaves the ring full and the kernel drops frames: the tracer
// goes blind exactly under load. With a backlog the readers keep draining
// the rings as cheaply as tcpdump does; batches beyond a small in-memory
// allowance are spooled to an unlinked file and read back in order when the
// delivery loop catches up. The file is bounded: when it is full the readers
// wait, as they did without a backlog, and the kernel's drops are counted.
type backlog struct {
	mu       sync.Mutex
	nonEmpty sync.Cond // signalled when an entry arrives or the backlog closes
	room     sync.Cond // signalled when entries leave

	q      []backlogEntry // FIFO: q[head:]
	head   int
	closed bool

	// mem is the memory held by batches in memory, and memMax its
	// allowance. A batch holds its record buffer whole, however little of
	// it a block filled: it is counted by its capacity, so that the
	// allowance also bounds how many buffers a burst takes before it
	// spools (Session.prepare makes them ahead).
	mem, memMax int

	dir        string
	f          *os.File // the spool, created when first needed
	spoolMax   int64    // 0: never spool
	wOff, rOff int64    // the spool's write and read positions
	spooled    int      // entries in the spool
	err        error    // the spool failed: spooling stops, readers wait

	stats BacklogStats
	tail  []byte // scratch for spool's ids and drops

	// unseen counts batches pushed and not yet received by the delivery
	// loop (it calls seen): popped ones may still be on their way.
	unseen atomic.Int64

	// nearlyFull is set while three quarters of the room is taken: of the
	// spool, or of the memory allowance when there is no spool (or it
	// failed). The spool is written from its start again only once it is
	// empty, so its quarter left is what counts.
	nearlyFull atomic.Bool
	// halfFull is set while half the room is taken, by the same measure:
	// delivery stops holding back for a burst (burstHold).
	halfFull atomic.Bool

	// frames and bytes count what was pushed, for the capture's rate.
	frames, bytes atomic.Uint64
}

// backlogEntry is a queued batch: in memory, or spooled. A spooled batch
// holds no memory of its own but this entry: its records are in the
// spool, followed by its raw block's device ids and drops (spoolTail), and
// its Batch and record buffer went back to the reader. A burst can spool
// thousands of batches; the readers allocate nothing for them.
type backlogEntry struct {
	b *Batch // in memory; nil when spooled

	off        int64 // where its records are
	n          int   // how many bytes of records
	ids, drops int   // how many device ids and drops follow them
	count, src int
	time       int64
	raw        bool
}

// BacklogStats count what the backlog did.
type BacklogStats struct {
	SpooledBatches uint64 // batches written to the spool
	SpooledBytes   uint64
	PeakBytes      int64  // most bytes waiting at once (buffers in memory and records spooled)
	Waits          uint64 // times a reader waited because memory and spool were full
	SpoolError     string // why the spool stopped being used, if it did
}

func newBacklog(memMax int, dir string, spoolMax int64) *backlog {
	b := &backlog{memMax: memMax, dir: dir, spoolMax: spoolMax, q: make([]backlogEntry, 0, 1024)}
	b.nonEmpty.L = &b.mu
	b.room.L = &b.mu
	return b
}

// push queues a batch. It reports whether the batch went to the spool: b
// and its record buffer are then the caller's again. It waits while
// neither memory nor spool has room.
func (bl *backlog) push(b *Batch) (spooled bool) {
	bl.unseen.Add(1)
	bl.frames.Add(uint64(b.Count))
	bl.bytes.Add(uint64(len(b.Records)))
	bl.mu.Lock()
	defer bl.mu.Unlock()
	n, held := len(b.Records), cap(b.Records)
	for {
		if bl.mem+held <= bl.memMax || bl.mem == 0 {
			bl.mem += held
			bl.q = append(bl.q, backlogEntry{b: b})
			bl.peak()
			bl.nonEmpty.Signal()
			return false
		}
		if bl.err == nil && bl.wOff+int64(n+spoolTail*(len(b.ids)+len(b.drops))) <= bl.spoolMax {
			off := bl.wOff
			if err := bl.spool(b); err == nil {
				bl.q = append(bl.q, backlogEntry{off: off, n: n, ids: len(b.ids), drops: len(b.drops),
					count: b.Count, src: b.Source, time: b.Time, raw: b.raw})
				bl.spooled++
				bl.stats.SpooledBatches++
				bl.stats.SpooledBytes += uint64(n)
				bl.peak()
				bl.nonEmpty.Signal()
				return true
			}
		}
		bl.stats.Waits++
		bl.room.Wait()
	}
}

// spoolTail is the size of a device id or a drop in the spool, after a
// raw block's records: two little-endian uint32s.
const spoolTail = 8

// spool appends b's records to the spool file, and a raw block's device
// ids and drops. bl.mu is held.
func (bl *backlog) spool(b *Batch) error {
	if bl.f == nil {
		f, err := os.CreateTemp(bl.dir, "ifacetrace-spool-*")
		if err != nil {
			bl.err = fmt.Errorf("backlog spool: %w", err)
			return bl.err
		}
		os.Remove(f.Name()) // unlinked: gone with the process, however it ends
		bl.f = f
	}
	bl.tail = bl.tail[:0]
	for _, r := range b.ids {
		bl.tail = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(bl.tail, uint32(r.ifindex)), r.id)
	}
	for _, d := range b.drops {
		bl.tail = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(bl.tail, uint32(d.frame)), d.drops)
	}
	for _, part := range [2][]byte{b.Records, bl.tail} {
		if len(part) == 0 {
			continue
		}
		if _, err := bl.f.WriteAt(part, bl.wOff); err != nil {
			bl.err = fmt.Errorf("backlog spool: %w", err)
			return bl.err
		}
		bl.wOff += int64(len(part))
	}
	return nil
}

func (bl *backlog) peak() {
	bl.stats.PeakBytes = max(bl.stats.PeakBytes, int64(bl.mem)+bl.wOff-bl.rOff)
	bl.gauge()
}

// gauge updates nearlyFull and halfFull. bl.mu is held.
func (bl *backlog) gauge() {
	taken, room := int64(bl.mem), int64(bl.memMax)
	if bl.spoolMax > 0 && bl.err == nil {
		taken, room = bl.wOff, bl.spoolMax
	}
	bl.nearlyFull.Store(4*taken >= 3*room)
	bl.halfFull.Store(2*taken >= room)
}

// pop takes the oldest batch, waiting for one. A spooled one is read back
// into a batch from batch and a record buffer from spare (either may be
// nil, or return nil: then they are made). It returns nil once the backlog
// is closed and empty.
//
// The spool is read without the lock, and what pop allocates is allocated
// without it: the readers push under that lock, and must not wait for the
// reading or for the collector (Session.prepare).
func (bl *backlog) pop(spare func() []byte, batch func() *Batch) (*Batch, error) {
	bl.mu.Lock()
	for bl.head == len(bl.q) && !bl.closed {
		bl.nonEmpty.Wait()
	}
	if bl.head == len(bl.q) {
		bl.mu.Unlock()
		return nil, nil
	}
	e := bl.q[bl.head]
	bl.q[bl.head] = backlogEntry{}
	bl.head++
	if bl.head > 1024 && bl.head*2 > len(bl.q) {
		bl.q = append(bl.q[:0], bl.q[bl.head:]...)
		bl.head = 0
	}
	if e.b != nil {
		bl.mem -= cap(e.b.Records)
		bl.gauge()
		bl.room.Broadcast()
		bl.mu.Unlock()
		return e.b, nil
	}
	f := bl.f
	bl.mu.Unlock()

	var b *Batch
	if batch != nil {
		b = batch()
	}
	if b == nil {
		b = &Batch{}
	}
	var buf []byte
	if spare != nil {
		buf = spare()
	}
	tail := spoolTail * (e.ids + e.drops)
	if cap(buf) < e.n+tail {
		buf = make([]byte, 0, e.n+tail)
	}
	buf = buf[:e.n+tail]
	if _, err := f.ReadAt(buf, e.off); err != nil {
		return nil, fmt.Errorf("backlog spool: read back %d bytes at %d: %w", len(buf), e.off, err)
	}
	b.Records, b.Count, b.Source, b.Time, b.raw = buf[:e.n], e.count, e.src, e.time, e.raw
	b.ids, b.drops = b.ids[:0], b.drops[:0]
	for i := range e.ids {
		p := buf[e.n+spoolTail*i:]
		b.ids = append(b.ids, rawID{int32(binary.LittleEndian.Uint32(p)), binary.LittleEndian.Uint32(p[4:])})
	}
	for i := range e.drops {
		p := buf[e.n+spoolTail*(e.ids+i):]
		b.drops = append(b.drops, rawDrops{int(binary.LittleEndian.Uint32(p)), binary.LittleEndian.Uint32(p[4:])})
	}

	bl.mu.Lock()
	defer bl.mu.Unlock()
	bl.rOff = e.off + int64(len(buf))
	if bl.spooled--; bl.spooled == 0 {
		// Caught up: the spool starts over (and gives its disk back).
		bl.wOff, bl.rOff = 0, 0
		bl.f.Truncate(0)
		bl.gauge()
		bl.room.Broadcast()
	}
	return b, nil
}

// seen tells the backlog the delivery loop received a batch.
func (bl *backlog) seen() { bl.unseen.Add(-1) }

// empty reports whether no batch waits anywhere on its way to the
// delivery loop.
func (bl *backlog) empty() bool { return bl.unseen.Load() == 0 }

// close ends the backlog once the readers are done: pop returns what is
// left, then nil.
func (bl *backlog) close() {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	bl.closed = true
	bl.nonEmpty.Broadcast()
}

// release closes the spool file.
func (bl *backlog) release() {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.f != nil {
		bl.f.Close()
		bl.f = nil
	}
}

// Stats returns the counters.
func (bl *backlog) Stats() BacklogStats {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	st := bl.stats
	if bl.err != nil {
		st.SpoolError = bl.err.Error()
	}
	return st
}
