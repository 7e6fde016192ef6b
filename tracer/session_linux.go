package tracer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifacetrace/ifacetrace/internal/sched"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/decode"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// Session is a live capture in one or more namespaces.
type Session struct {
	plan *Plan

	mu      sync.Mutex
	spaces  map[netns.ID]*space
	order   []*space                // in the order they were opened
	byKey   map[topology.Key]uint32 // current interface id of each device
	table   []Device                // by interface id
	pending []Device                // not yet delivered
	stopped bool                    // no sockets are added once set
	nsocks  int
	newSrc  []int // sockets not yet announced
	goneSrc []int
	gen     atomic.Uint64 // bumped when a device changes: socket caches reset

	watchErr atomic.Pointer[error]

	trimWindow int64         // > 0: readers trim later copies (TrimLaterCopies)
	cut        atomic.Uint64 // frames cut under load

	background atomic.Bool // Run put the process in the background: readers come forward

	// Set by Open (prepare) and Run.
	wg          sync.WaitGroup
	batches     chan *Batch
	free        chan []byte // record buffers for reuse
	freeBatches chan *Batch // batches for reuse
	backlog     *backlog
	wctx        context.Context
}

// space is one namespace and its sockets.
type space struct {
	ns       netns.Entry
	topo     *topology.Reader
	socks    []*sock
	followed bool // found by --netns all, released when it disappears
	missed   int  // consecutive discovery rounds it was not found in
	live     atomic.Int32
	unwatch  context.CancelFunc
	topoOnce sync.Once
}

type sock struct {
	id      int
	space   *space
	plan    SocketPlan
	s       *afpacket.Socket
	drops   uint64 // drops already reported on records
	cache   map[int32]*cachedDev
	gen     uint64
	buf     []byte
	n       int
	ids     []rawID       // the current raw block's devices
	lost    []rawDrops    // the current raw block's drops
	blocks  uint64        // ring blocks read: the current one's number
	retired atomic.Bool   // its namespace is gone: close as soon as it ends
	copies  *firstCopies  // set when later copies are trimmed
	cut     bool          // the current block's frames are cut to CutLen (OverloadCut)
	bytes   int           // captured bytes of the current block's frames
	big     bool          // the last block's frames were long enough on average for cutting to pay
	pkt     decode.Packet // scratch for keepLen
}

// PermissionHint is the advice given when capturing is not permitted.
const PermissionHint = "capturing needs CAP_NET_RAW (and CAP_NET_ADMIN for -p): run with sudo, or grant the binary once with `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v ifacetrace)`"

// Open opens every socket of the plan. When Open returns, the sockets are
// capturing: frames from then on are kept in the rings until Run reads them.
func Open(p *Plan) (*Session, error) {
	s := &Session{plan: p, spaces: map[netns.ID]*space{}, byKey: map[topology.Key]uint32{}}
	for _, ns := range p.Namespaces {
		// With --netns all, every namespace but our own is released when it
		// disappears.
		topo, err := topology.Open(ns.Path)
		if err != nil {
			s.close()
			return nil, err
		}
		if _, err := s.openSpace(ns.Entry, topo, ns.Sockets, p.Follow && ns.Path != ""); err != nil {
			s.close()
			return nil, err
		}
	}
	s.prepare()
	return s, nil
}

// openSpace opens the sockets of one namespace, whose topology reader it
// takes over, and announces the devices they cover, so that outputs list
// them even when they carry no traffic.
func (s *Session) openSpace(e netns.Entry, topo *topology.Reader, plans []SocketPlan, followed bool) (*space, error) {
	var err error
	sp := &space{ns: e, topo: topo, followed: followed}
	where := ""
	if e.Path != "" {
		where = " in netns " + e.Label()
	}
	open := func() error {
		for _, pl := range plans {
			so, err := afpacket.Open(afpacket.Config{
				Ifindex: int(pl.Ifindex), Promiscuous: pl.Promiscuous, SnapLen: s.plan.SnapLen,
				BlockSize: s.plan.BlockSize, NumBlocks: s.plan.NumBlocks, Filter: s.plan.Filter,
			})
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					return fmt.Errorf("open packet socket on %s%s: %w; %s", pl.Device, where, err, PermissionHint)
				}
				return fmt.Errorf("open packet socket on %s%s: %w", pl.Device, where, err)
			}
			sp.socks = append(sp.socks, &sock{space: sp, plan: pl, s: so, cache: map[int32]*cachedDev{}})
		}
		return nil
	}
	if e.Path == "" {
		err = open()
	} else {
		err = netns.Do(e.Path, open)
	}
	devs, derr := topo.Devices()
	if err == nil {
		err = derr
	}
	if err != nil {
		sp.close()
		return nil, err
	}
	want := map[int32]bool{}
	for _, pl := range plans {
		want[pl.Ifindex] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		sp.close()
		return nil, errStopped
	}
	for _, so := range sp.socks {
		so.id = s.nsocks
		s.nsocks++
		s.newSrc = append(s.newSrc, so.id)
	}
	s.spaces[e.ID] = sp
	s.order = append(s.order, sp)
	for _, d := range devs {
		if want[0] || want[d.Ifindex] {
			s.add(d)
		}
	}
	return sp, nil
}

var errStopped = errors.New("session stopped")

// add assigns the next interface id to d. s.mu must be held or s unshared.
func (s *Session) add(d topology.Device) uint32 {
	id := uint32(len(s.table))
	dev := Device{ID: id, Device: d}
	s.table = append(s.table, dev)
	s.pending = append(s.pending, dev)
	s.byKey[d.Key] = id
	return id
}

// lookup returns the interface id of a device of sp, describing the device on
// first sight.
func (s *Session) lookup(sp *space, ifindex int32) uint32 {
	key := topology.Key{NetNS: sp.ns.ID, Ifindex: ifindex}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byKey[key]; ok {
		return id
	}
	d, err := sp.topo.Device(ifindex)
	if err != nil {
		d = topology.Device{Key: key, NetNSName: sp.ns.Name, Name: fmt.Sprintf("if%d", ifindex), Kind: "gone"}
	}
	return s.add(d)
}

// changed handles a netlink link event: a device that is gone or renamed
// gets a fresh interface id at its next sighting.
func (s *Session) changed(c topology.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byKey[c.Device.Key]
	if !ok {
		return
	}
	if c.Removed || s.table[id].Name != c.Device.Name {
		delete(s.byKey, c.Device.Key)
		s.gen.Add(1)
		return
	}
	// Same device, new details (master, state, addresses): keep the id and
	// the description it was announced with.
}

// Devices returns the devices seen so far, by interface id.
func (s *Session) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Device(nil), s.table...)
}

// Run reads the sockets and delivers batches to sink until ctx ends, the
// plan's count or duration is reached, or sink fails. Frames captured before
// the stop are delivered; the sockets are closed when Run returns.
//
// With Plan.Idle, Run puts the whole process in the background for its
// duration (package internal/sched): every thread at SCHED_IDLE but the
// readers'. Without CAP_SYS_NICE it falls back to delivering on one thread
// at nice 19.
//
// Environment: IFACETRACE_SCHED=nice forces that fallback, for comparing
// the two (docs/benchmarks.md).
func (s *Session) Run(ctx context.Context, sink Sink) (Stats, error) {
	if !s.plan.Idle {
		return s.run(ctx, sink)
	}
	s.mu.Lock()
	n := s.nsocks
	s.mu.Unlock()
	restore, err := func() (func(), error) {
		if os.Getenv("IFACETRACE_SCHED") == "nice" {
			return nil, errors.New("IFACETRACE_SCHED=nice")
		}
		return sched.Background(n + 1)
	}()
	if err == nil {
		defer restore()
		s.background.Store(true)
		defer s.background.Store(false)
		return s.run(ctx, sink)
	}
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result)
	go func() {
		// The thread stays locked: it ends with this goroutine, and its
		// priority with it.
		runtime.LockOSThread()
		sched.Nice()
		st, err := s.run(ctx, sink)
		done <- result{st, err}
	}()
	r := <-done
	return r.st, r.err
}

func (s *Session) run(ctx context.Context, sink Sink) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.plan.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, s.plan.Duration)
		defer c2()
	}
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	s.wctx = wctx
	defer s.backlog.release()
	var backlogErr atomic.Pointer[error]
	h := &burstHold{max: s.plan.Hold} // the mover's; read after s.batches closes
	go func() {
		// Backlog → delivery, in order, reading spooled records back.
		// In the foreground like the readers: it holds the backlog's
		// lock while it reads the spool, and a starved background
		// thread holding that lock would stall the readers (measured:
		// half a million kernel drops in 3 s with a busy host).
		s.comeForward("the backlog")
		defer close(s.batches)
		defer func() { h.end(time.Now()) }()
		var gcOff collectorOff
		defer gcOff.on()
		for {
			// A burst holds the batches back until it is over, the
			// backlog half full or the hold at its longest: delivery then
			// takes no CPU from the traffic (burstHold).
			for h.hold(time.Now(), s.backlog.frames.Load(), s.backlog.bytes.Load(), !s.backlog.halfFull.Load() && ctx.Err() == nil) {
				if s.background.Load() {
					gcOff.off()
				}
				time.Sleep(burstSample / 4)
			}
			gcOff.on()
			b, err := s.backlog.pop(s.spare, s.batch)
			if err != nil {
				backlogErr.Store(&err)
				cancel()
				for { // drop the rest, so that no reader waits for room
					if b, err := s.backlog.pop(nil, nil); b == nil && err == nil {
						return
					}
				}
			}
			if b == nil {
				return
			}
			s.batches <- b
		}
	}()

	s.mu.Lock()
	for _, sp := range s.order {
		s.start(sp)
	}
	s.mu.Unlock()
	if s.plan.Follow {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follow(ctx)
		}()
	}
	go func() { s.wg.Wait(); s.backlog.close() }()

	// Stopping: wait until the kernel retires partly filled blocks, then wake
	// the readers; they deliver what the rings hold and end.
	stopOnce := sync.Once{}
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			s.mu.Lock()
			s.stopped = true
			s.mu.Unlock()
			go func() {
				time.Sleep(25 * time.Millisecond)
				s.mu.Lock()
				defer s.mu.Unlock()
				for _, sp := range s.order {
					for _, so := range sp.socks {
						so.s.Wake()
					}
				}
			}()
		})
	}
	go func() { <-ctx.Done(); stop() }()

	ticker, _ := sink.(Ticker)
	tick := time.NewTicker(TickInterval)
	defer tick.Stop()
	var sightings uint64
	var counts []uint64 // per interface id: in, out interleaved
	var runErr error
	for {
		var b *Batch
		select {
		case b = <-s.batches:
		case now := <-tick.C:
			// Only when nothing is queued is the wall clock a fair bound
			// on what the sockets may still deliver.
			if ticker != nil && runErr == nil && s.backlog.empty() {
				if err := ticker.Tick(now); err != nil {
					runErr = fmt.Errorf("deliver: %w", err)
					stop()
				}
			}
			continue
		}
		if b == nil {
			break
		}
		s.backlog.seen()
		if b.raw {
			s.recycle(convert(b, s.buffer()))
		}
		limit := -1
		if s.plan.Count > 0 {
			limit = s.plan.Count - int(sightings)
		}
		if runErr != nil || limit == 0 {
			s.recycle(b.Records)
			s.recycleBatch(b)
			continue
		}
		counts = account(b, limit, counts)
		if b.Count == limit {
			stop()
		}
		s.mu.Lock()
		b.Devices, s.pending = s.pending, nil
		b.NewSources, s.newSrc = s.newSrc, nil
		b.GoneSources, s.goneSrc = s.goneSrc, nil
		s.mu.Unlock()
		sightings += uint64(b.Count)
		if err := sink.Deliver(b); err != nil {
			runErr = fmt.Errorf("deliver: %w", err)
			stop()
		}
		s.recycle(b.Records)
		s.recycleBatch(b)
	}
	// Devices seen in the last moments and not yet announced.
	s.mu.Lock()
	rest := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(rest) > 0 && runErr == nil {
		runErr = sink.Deliver(&Batch{Devices: rest})
	}
	if p := backlogErr.Load(); p != nil && runErr == nil {
		runErr = *p
	}
	st := s.stats(sightings, counts)
	st.Backlog = s.backlog.Stats()
	st.Holds, st.Held = h.holds, h.held
	wcancel() // device watches end before their netlink handles close
	s.close()
	return st, runErr
}

// prepare makes the queues between readers and delivery, and the record
// buffers and batches that circulate through them.
//
// Why ahead of time: once a capture runs, the readers must allocate
// nothing. An allocation is what starts a collection, and a collection's
// stop-the-world pauses wait for every thread running Go code, including
// the background ones that a saturated host does not schedule for hundreds
// of milliseconds (package internal/sched); the readers stop with them and
// the rings overflow. Measured with IFACETRACE_TRACE: a 503 ms pause at
// the start of a 130 000 frames/s burst, the reader stopped throughout, a
// 32 MiB ring lost 31 218 frames. Before, the first blocks of a burst took
// fresh 1 MiB buffers from the heap, four times its first goal: a
// collection started exactly when the burst did.
//
// So what a burst needs before it spools is made here: buffers for the
// backlog's memory allowance, the batches channel, the mover and the
// delivery loop's conversion, and twice as many batches (the readers and
// the spool's read-back take them too); by Open, before the caller starts
// the traffic it means to capture. Each reader takes its own buffer when
// it starts.
func (s *Session) prepare() {
	mem := s.plan.backlogMem
	if mem == 0 {
		mem = backlogMemory
	}
	const queued = 4
	n := mem/s.bufferSize() + 1 + queued + 3
	s.batches = make(chan *Batch, queued)
	s.free = make(chan []byte, n)
	s.freeBatches = make(chan *Batch, 2*n)
	for range n {
		s.free <- make([]byte, 0, s.bufferSize())
	}
	for range 2 * n {
		s.freeBatches <- &Batch{ids: make([]rawID, 0, 8), drops: make([]rawDrops, 0, 8)}
	}
	s.backlog = newBacklog(mem, s.plan.SpoolDir, s.plan.Spool)
}

// batch returns a recycled batch, or a new one.
func (s *Session) batch() *Batch {
	select {
	case b := <-s.freeBatches:
		return b
	default:
		return &Batch{}
	}
}

// recycleBatch keeps b for reuse, without its records, which the caller
// recycles. Its devices and sources went to the sink: they are dropped.
func (s *Session) recycleBatch(b *Batch) {
	*b = Batch{ids: b.ids[:0], drops: b.drops[:0]}
	select {
	case s.freeBatches <- b:
	default:
	}
}

// comeForward moves the calling goroutine's thread back to normal priority
// when Run put the process in the background; the thread ends with the
// goroutine. A failure leaves what (e.g. "the reader for eth0") in the
// background and is reported as a watch error.
func (s *Session) comeForward(what string) {
	if !s.background.Load() {
		return
	}
	if err := sched.Foreground(); err != nil {
		err = fmt.Errorf("%s stays in the background: %w", what, err)
		s.watchErr.Store(&err)
	}
}

// start begins reading sp's sockets. s.mu must be held.
func (s *Session) start(sp *space) {
	ctx, cancel := context.WithCancel(s.wctx)
	sp.unwatch = cancel
	if err := sp.topo.Watch(ctx, s.changed, func(err error) { s.watchErr.Store(&err) }); err != nil {
		// Capture still works; devices are described when first seen.
		s.watchErr.Store(&err)
	}
	sp.live.Store(int32(len(sp.socks)))
	for _, so := range sp.socks {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// The readers stay at normal priority: they keep the rings
			// drained however busy the host.
			s.comeForward("the reader for " + so.plan.Device)
			if err := s.read(so); err != nil {
				err = fmt.Errorf("capture on %s stopped: %w", so.plan.Device, err)
				s.watchErr.Store(&err)
			}
			if so.retired.Load() {
				// Our sockets keep the namespace alive: release them, and
				// the netlink sockets with the last one, so the kernel can
				// free it. Its inode may then be reused by a new namespace.
				so.s.Close()
				s.mu.Lock()
				s.goneSrc = append(s.goneSrc, so.id)
				if sp.live.Add(-1) == 0 {
					delete(s.spaces, sp.ns.ID)
					for k := range s.byKey {
						if k.NetNS == sp.ns.ID {
							delete(s.byKey, k)
						}
					}
					s.gen.Add(1)
				}
				s.mu.Unlock()
				if sp.live.Load() == 0 {
					sp.unwatch()
					sp.closeTopo()
				}
			}
		}()
	}
}

// followInterval is how often --netns all looks for new namespaces.
const followInterval = 500 * time.Millisecond

// follow opens sockets in namespaces that appear, and releases those of
// namespaces that are gone, until ctx ends.
func (s *Session) follow(ctx context.Context) {
	own, _ := netns.Current()
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		all, err := netns.All()
		if err != nil {
			s.watchErr.Store(&err)
			continue
		}
		found := map[netns.ID]bool{}
		for _, e := range all {
			found[e.ID] = true
			s.mu.Lock()
			_, known := s.spaces[e.ID]
			s.mu.Unlock()
			if known {
				continue
			}
			if e.ID == own {
				e.Path = ""
			}
			s.addSpace(e)
		}
		s.mu.Lock()
		for _, sp := range s.order {
			if !sp.followed || found[sp.ns.ID] {
				sp.missed = 0
				continue
			}
			// Our sockets keep a namespace alive after its last process
			// left; it counts as gone when discovery misses it twice.
			if sp.missed++; sp.missed == 2 {
				for _, so := range sp.socks {
					so.retired.Store(true)
					so.s.Wake()
				}
			}
		}
		s.mu.Unlock()
	}
}

// addSpace opens the planned sockets of a namespace found while running.
func (s *Session) addSpace(e netns.Entry) {
	r, err := topology.Open(e.Path)
	if err != nil {
		return // gone already
	}
	devs, err := r.Devices()
	if err != nil {
		r.Close()
		return
	}
	plans := s.plan.SocketsFor(Space{Entry: e, Devices: devs}, nil)
	if len(plans) == 0 {
		// Nothing to capture there yet (the -i device may be moved in
		// later): look again next round.
		r.Close()
		return
	}
	sp, err := s.openSpace(e, r, plans, true)
	if err != nil {
		if !errors.Is(err, errStopped) {
			err = fmt.Errorf("namespace %s appeared but cannot be captured: %w", e.Label(), err)
			s.watchErr.Store(&err)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		if s.background.Load() {
			sched.Spare(len(sp.socks)) // a P for each new reader
		}
		s.start(sp)
	}
}

// spare returns a recycled record buffer, or nil when none is free.
func (s *Session) spare() []byte {
	select {
	case b := <-s.free:
		return b
	default:
		return nil
	}
}

func (s *Session) recycle(buf []byte) {
	select {
	case s.free <- buf[:0]:
	default:
	}
}

// buffer returns a recycled record buffer, or a new one.
func (s *Session) buffer() []byte {
	if b := s.spare(); b != nil {
		return b
	}
	return make([]byte, 0, s.bufferSize())
}

// bufferSize is a record buffer's capacity: a ring block, and room for
// the record headers of the frames it holds.
func (s *Session) bufferSize() int { return s.plan.BlockSize + 64<<10 }

// account counts b's records per device and direction into counts, keeping
// only the first limit records when limit >= 0.
func account(b *Batch, limit int, counts []uint64) []uint64 {
	r := record.NewReader(b.Records)
	var h record.Header
	off, n := 0, 0
	for n != limit {
		if _, ok, err := r.Next(&h); !ok || err != nil {
			break
		}
		off += record.Size(int(h.CapLen))
		n++
		i := int(h.Iface) * 2
		if h.Dir == record.DirOut {
			i++
		}
		if i >= len(counts) {
			counts = append(counts, make([]uint64, i+1-len(counts)+16)...)
		}
		counts[i]++
	}
	b.Records = b.Records[:off]
	b.Count = n
	return counts
}

// read is one socket's loop: ring blocks → records → batches. It returns
// nil when woken for shutdown.
func (s *Session) read(so *sock) error {
	r := s.newReader(so)
	defer r.done()
	for {
		if err := r.block(); errors.Is(err, afpacket.ErrClosed) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// reader reads one socket. Once started it allocates nothing (see
// Session.prepare): TestReaderAllocs.
type reader struct {
	s       *Session
	so      *sock
	each    func(*afpacket.Packet) // copies a frame into the batch
	resolve func(*afpacket.Packet) // notes a frame of a block taken raw
	raw     func([]byte)           // takes a block raw; nil: never
}

func (s *Session) newReader(so *sock) *reader {
	if s.trimWindow > 0 {
		so.copies = newFirstCopies(s.trimWindow)
	}
	so.buf = s.buffer()
	r := &reader{s: s, so: so}
	r.each = func(p *afpacket.Packet) { s.append(so, p) }
	// Unless later copies are trimmed or frames cut (which needs each
	// frame), the reader takes each block whole, as the kernel wrote it,
	// and the delivery loop makes the records (convert). Copying a block
	// is much cheaper than copying its frames one by one into records,
	// and the reader is the one thread that competes at normal priority
	// with the traffic being captured: its CPU time is forwarding lost
	// (about 60 % of it was that conversion). The reader still walks
	// every frame, to resolve its device while the device exists and to
	// note the kernel's drops when they happen.
	if so.copies == nil {
		r.resolve = func(p *afpacket.Packet) { s.resolve(so, p) }
		r.raw = func(block []byte) {
			if so.n > 0 {
				so.buf = append(so.buf, block...)
				r.flush(true)
			}
		}
	}
	return r
}

// done lets the socket's buffers go; a retired socket stays listed.
func (r *reader) done() { r.so.copies, r.so.buf = nil, nil }

// flush queues the socket's batch: records, or with raw a ring block and
// what the reader resolved of it.
func (r *reader) flush(raw bool) {
	s, so := r.s, r.so
	if so.n == 0 {
		return
	}
	b := s.batch()
	b.Records, b.Count, b.Source, b.Time = so.buf, so.n, so.id, time.Now().UnixNano()
	if raw {
		b.raw, b.ids, b.drops = true, append(b.ids[:0], so.ids...), append(b.drops[:0], so.lost...)
	}
	if s.backlog.push(b) { // spooled: batch and buffer are the reader's again
		so.buf = b.Records[:0]
		s.recycleBatch(b)
	} else {
		so.buf = s.buffer()
	}
	so.n = 0
}

// block reads one ring block, waiting for it, and queues it as one batch:
// blocks retire at least every block timeout, which bounds latency, and
// hold many frames when busy. It returns afpacket.ErrClosed when woken for
// shutdown.
func (r *reader) block() error {
	s, so := r.s, r.so
	so.blocks++
	// While the backlog is nearly full, or the reader has half the ring
	// still to read, long frames are cut (OverloadCut): whole, they would
	// soon be dropped. Cutting needs each frame, which costs the reader
	// more than taking the block whole: it pays only where frames are long
	// (bulk TCP's super-packets, not a flood of small datagrams), as they
	// were in the block before.
	so.cut = s.plan.Overload == OverloadCut && so.big && (s.backlog.nearlyFull.Load() || so.s.Behind())
	var n int
	var err error
	if r.raw != nil && !so.cut {
		n, err = so.s.ReadBlockRaw(r.resolve, r.raw)
		// raw has queued the block, unless it failed: then what the walk
		// noted goes.
		so.n, so.ids, so.lost = 0, so.ids[:0], so.lost[:0]
	} else {
		n, err = so.s.ReadBlockRaw(r.each, nil)
		r.flush(false)
	}
	if n > 0 {
		so.big = so.bytes/n > 2*CutLen
	}
	so.bytes = 0
	return err
}

// cachedDev is a socket's device id for an ifindex, and the number of
// the last raw block that listed it (Batch.ids).
type cachedDev struct {
	id    uint32
	block uint64
}

// deviceOf is the cache entry of a frame's ifindex, looked up once per
// socket and device (again after devices changed).
func (s *Session) deviceOf(so *sock, ifindex int32) *cachedDev {
	if g := s.gen.Load(); g != so.gen {
		clear(so.cache)
		so.gen = g
	}
	d := so.cache[ifindex]
	if d == nil {
		d = &cachedDev{id: s.lookup(so.space, ifindex)}
		so.cache[ifindex] = d
	}
	return d
}

// dropsAt returns the kernel drops not yet reported when frame p says the
// socket is losing frames, else 0.
func (so *sock) dropsAt(p *afpacket.Packet) uint32 {
	if p.Status&afpacket.StatusLosing != 0 {
		if st, err := so.s.Stats(); err == nil && st.Drops > so.drops {
			d := uint32(min(st.Drops-so.drops, 1<<32-1))
			so.drops = st.Drops
			return d
		}
	}
	return 0
}

// resolve notes, for a frame of a block taken raw, its device and the
// kernel drops to report on it.
func (s *Session) resolve(so *sock, p *afpacket.Packet) {
	so.bytes += len(p.Data)
	if d := s.deviceOf(so, p.Ifindex); d.block != so.blocks {
		d.block = so.blocks
		so.ids = append(so.ids, rawID{p.Ifindex, d.id})
	}
	if d := so.dropsAt(p); d > 0 {
		so.lost = append(so.lost, rawDrops{so.n, d})
	}
	so.n++
}

// convert makes the records of a batch that holds a raw block, in memory
// from out; the block's memory is returned.
func convert(b *Batch, out []byte) (block []byte) {
	block = b.Records
	drops := b.drops
	n := 0
	afpacket.WalkBlock(block, func(p *afpacket.Packet) { // walked once already: no error
		var id uint32
		for _, r := range b.ids {
			if r.ifindex == p.Ifindex {
				id = r.id
				break
			}
		}
		h := headerOf(p, id)
		if len(drops) > 0 && drops[0].frame == n {
			h.Drops, drops = drops[0].drops, drops[1:]
		}
		out = record.Append(out, h, p.Data)
		n++
	})
	b.Records, b.Count, b.raw, b.ids, b.drops = out, n, false, b.ids[:0], b.drops[:0]
	return block
}

// headerOf is the record header of frame p on device id.
func headerOf(p *afpacket.Packet, id uint32) record.Header {
	return record.Header{
		Iface:     id,
		TimeNanos: p.TimeNanos,
		OrigLen:   p.OrigLen,
		Dir:       DirectionOf(p.PktType),
		PktType:   p.PktType,
		HAType:    p.HAType,
		Status:    p.Status,
		VLANTCI:   p.VLANTCI,
		VLANTPID:  p.VLANTPID,
		Proto:     p.Proto,
	}
}

// append copies one frame from the ring into the socket's batch.
func (s *Session) append(so *sock, p *afpacket.Packet) {
	h := headerOf(p, s.deviceOf(so, p.Ifindex).id)
	h.Drops = so.dropsAt(p)
	data := p.Data
	so.bytes += len(data)
	if so.copies != nil || so.cut {
		later := false
		n := keepLen(p.HAType, p.VLANTCI, data, &so.pkt, func(fp uint64) bool {
			later = so.copies != nil && so.copies.later(fp, p.TimeNanos, p.Ifindex, h.Dir)
			return later || so.cut
		})
		if n < len(data) && !later {
			s.cut.Add(1) // trimming alone would have kept it whole
		}
		data = data[:n]
	}
	so.buf = record.Append(so.buf, h, data)
	so.n++
}

// TrimLaterCopies makes the readers keep only the first bytes of a
// packet's copies after the first (see firstCopies), window being how far
// apart copies of one packet may be. For outputs that write only first
// copies (--dedup first). Call it before Run.
func (s *Session) TrimLaterCopies(window time.Duration) {
	s.trimWindow = int64(window)
}

func (s *Session) stats(sightings uint64, counts []uint64) Stats {
	st := Stats{Sightings: sightings, Cut: s.cut.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.table {
		ds := DeviceStats{Device: d}
		if i := int(d.ID) * 2; i+1 < len(counts) {
			ds.In, ds.Out = counts[i], counts[i+1]
		}
		st.Devices = append(st.Devices, ds)
	}
	for _, sp := range s.order {
		if len(sp.socks) > 0 {
			st.Namespaces++
		}
		label := ""
		if sp.ns.Path != "" {
			label = sp.ns.Label()
		}
		for _, so := range sp.socks {
			k, _ := so.s.Stats()
			st.Sockets = append(st.Sockets, SocketStats{NetNS: sp.ns.ID, Label: label, Device: so.plan.Device, Packets: k.Packets, Drops: k.Drops})
		}
	}
	return st
}

// KernelDrops is the sum of the sockets' kernel drops so far. It may be
// called while Run runs.
func (s *Session) KernelDrops() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, sp := range s.order {
		for _, so := range sp.socks {
			if st, err := so.s.Stats(); err == nil {
				n += st.Drops
			}
		}
	}
	return n
}

// WatchError returns the error that stopped a device watch or namespace
// discovery, if any.
func (s *Session) WatchError() error {
	if p := s.watchErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close releases a session that will not Run. Run closes it by itself.
func (s *Session) Close() { s.close() }

func (s *Session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, sp := range s.order {
		sp.close()
	}
}

func (sp *space) close() {
	for _, so := range sp.socks {
		so.s.Close()
	}
	sp.closeTopo()
}

func (sp *space) closeTopo() {
	sp.topoOnce.Do(func() {
		if sp.topo != nil {
			sp.topo.Close()
		}
	})
}
