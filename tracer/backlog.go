package tracer

import (
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

	mem, memMax int // record bytes held in memory, and the allowance

	dir        string
	f          *os.File // the spool, created when first needed
	spoolMax   int64    // 0: never spool
	wOff, rOff int64    // the spool's write and read positions
	spooled    int      // entries in the spool
	err        error    // the spool failed: spooling stops, readers wait

	stats BacklogStats

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

type backlogEntry struct {
	b   *Batch
	off int64 // spooled: where its records are
	n   int   // spooled: how many bytes
}

// BacklogStats count what the backlog did.
type BacklogStats struct {
	SpooledBatches uint64 // batches written to the spool
	SpooledBytes   uint64
	PeakBytes      int64  // most record bytes waiting at once (memory and spool)
	Waits          uint64 // times a reader waited because memory and spool were full
	SpoolError     string // why the spool stopped being used, if it did
}

func newBacklog(memMax int, dir string, spoolMax int64) *backlog {
	b := &backlog{memMax: memMax, dir: dir, spoolMax: spoolMax}
	b.nonEmpty.L = &b.mu
	b.room.L = &b.mu
	return b
}

// push queues a batch. It returns the batch's record buffer for reuse when
// the records went to the spool (nil otherwise). It waits while neither
// memory nor spool has room.
func (bl *backlog) push(b *Batch) (reuse []byte) {
	bl.unseen.Add(1)
	bl.frames.Add(uint64(b.Count))
	bl.bytes.Add(uint64(len(b.Records)))
	bl.mu.Lock()
	defer bl.mu.Unlock()
	n := len(b.Records)
	for {
		if bl.mem+n <= bl.memMax || bl.mem == 0 {
			bl.mem += n
			bl.q = append(bl.q, backlogEntry{b: b})
			bl.peak()
			bl.nonEmpty.Signal()
			return nil
		}
		if bl.err == nil && bl.wOff+int64(n) <= bl.spoolMax {
			if err := bl.spool(b.Records); err == nil {
				bl.q = append(bl.q, backlogEntry{b: b, off: bl.wOff - int64(n), n: n})
				bl.spooled++
				bl.stats.SpooledBatches++
				bl.stats.SpooledBytes += uint64(n)
				bl.peak()
				bl.nonEmpty.Signal()
				reuse, b.Records = b.Records, nil
				return reuse
			}
		}
		bl.stats.Waits++
		bl.room.Wait()
	}
}

// spool appends recs to the spool file. bl.mu is held.
func (bl *backlog) spool(recs []byte) error {
	if bl.f == nil {
		f, err := os.CreateTemp(bl.dir, "ifacetrace-spool-*")
		if err != nil {
			bl.err = fmt.Errorf("backlog spool: %w", err)
			return bl.err
		}
		os.Remove(f.Name()) // unlinked: gone with the process, however it ends
		bl.f = f
	}
	if _, err := bl.f.WriteAt(recs, bl.wOff); err != nil {
		bl.err = fmt.Errorf("backlog spool: %w", err)
		return bl.err
	}
	bl.wOff += int64(len(recs))
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

// pop takes the oldest batch, waiting for one; spare gives memory for
// records read back from the spool (or nil). It returns nil once the
// backlog is closed and empty.
func (bl *backlog) pop(spare func() []byte) (*Batch, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	for bl.head == len(bl.q) && !bl.closed {
		bl.nonEmpty.Wait()
	}
	if bl.head == len(bl.q) {
		return nil, nil
	}
	e := bl.q[bl.head]
	bl.q[bl.head] = backlogEntry{}
	bl.head++
	if bl.head > 1024 && bl.head*2 > len(bl.q) {
		bl.q = append(bl.q[:0], bl.q[bl.head:]...)
		bl.head = 0
	}
	defer bl.room.Broadcast()
	if e.b.Records != nil || e.n == 0 {
		bl.mem -= len(e.b.Records)
		bl.gauge()
		return e.b, nil
	}
	var buf []byte
	if spare != nil {
		buf = spare()
	}
	if cap(buf) < e.n {
		buf = make([]byte, 0, e.n)
	}
	buf = buf[:e.n]
	if _, err := bl.f.ReadAt(buf, e.off); err != nil {
		return nil, fmt.Errorf("backlog spool: read back %d bytes at %d: %w", e.n, e.off, err)
	}
	e.b.Records = buf
	bl.rOff = e.off + int64(e.n)
	if bl.spooled--; bl.spooled == 0 {
		// Caught up: the spool starts over (and gives its disk back).
		bl.wOff, bl.rOff = 0, 0
		bl.f.Truncate(0)
		bl.gauge()
	}
	return e.b, nil
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
