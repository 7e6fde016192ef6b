package tracer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// Session is a live capture.
type Session struct {
	plan  *Plan
	topo  *topology.Reader
	socks []*sock

	mu      sync.Mutex
	byIndex map[int32]uint32 // current interface id of each ifindex
	table   []Device         // by interface id
	pending []Device         // not yet delivered
	gen     atomic.Uint64    // bumped when a device changes: socket caches reset

	watchErr atomic.Pointer[error]
}

type sock struct {
	plan  SocketPlan
	s     *afpacket.Socket
	drops uint64 // drops already reported on records
	cache map[int32]uint32
	gen   uint64
	buf   []byte
	n     int
}

// PermissionHint is the advice given when capturing is not permitted.
const PermissionHint = "capturing needs CAP_NET_RAW (and CAP_NET_ADMIN for -p): run with sudo, or grant the binary once with `sudo setcap cap_net_raw,cap_net_admin+ep $(command -v ifacetrace)`"

// Open opens every socket of the plan. When Open returns, the sockets are
// capturing: frames from then on are kept in the rings until Run reads them.
func Open(p *Plan) (*Session, error) {
	topo, err := topology.Open(p.NetNS)
	if err != nil {
		return nil, err
	}
	s := &Session{plan: p, topo: topo, byIndex: map[int32]uint32{}}
	open := func() error {
		for _, sp := range p.Sockets {
			so, err := afpacket.Open(afpacket.Config{
				Ifindex: int(sp.Ifindex), Promiscuous: sp.Promiscuous, SnapLen: p.SnapLen,
				BlockSize: p.BlockSize, NumBlocks: p.NumBlocks,
			})
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					return fmt.Errorf("open packet socket on %s: %w; %s", sp.Device, err, PermissionHint)
				}
				return fmt.Errorf("open packet socket on %s: %w", sp.Device, err)
			}
			s.socks = append(s.socks, &sock{plan: sp, s: so, cache: map[int32]uint32{}})
		}
		return nil
	}
	if p.NetNS == "" {
		err = open()
	} else {
		err = netns.Do(p.NetNS, open)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	// Announce the devices the sockets cover, so that outputs list them even
	// when they carry no traffic.
	devs, err := topo.Devices()
	if err != nil {
		s.close()
		return nil, err
	}
	want := map[int32]bool{}
	for _, sp := range p.Sockets {
		want[sp.Ifindex] = true
	}
	for _, d := range devs {
		if want[0] || want[d.Ifindex] {
			s.add(d)
		}
	}
	return s, nil
}

// add assigns the next interface id to d. s.mu must be held or s unshared.
func (s *Session) add(d topology.Device) uint32 {
	id := uint32(len(s.table))
	dev := Device{ID: id, Device: d}
	s.table = append(s.table, dev)
	s.pending = append(s.pending, dev)
	s.byIndex[d.Ifindex] = id
	return id
}

// lookup returns the interface id of ifindex, describing the device on first
// sight.
func (s *Session) lookup(ifindex int32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byIndex[ifindex]; ok {
		return id
	}
	d, err := s.topo.Device(ifindex)
	if err != nil {
		ns, name := s.topo.NetNS()
		d = topology.Device{Key: topology.Key{NetNS: ns, Ifindex: ifindex}, NetNSName: name,
			Name: fmt.Sprintf("if%d", ifindex), Kind: "gone"}
	}
	return s.add(d)
}

// changed handles a netlink link event: a device that is gone or renamed
// gets a fresh interface id at its next sighting.
func (s *Session) changed(c topology.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byIndex[c.Device.Ifindex]
	if !ok {
		return
	}
	if c.Removed || s.table[id].Name != c.Device.Name {
		delete(s.byIndex, c.Device.Ifindex)
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
func (s *Session) Run(ctx context.Context, sink Sink) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.plan.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, s.plan.Duration)
		defer c2()
	}
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	if err := s.topo.Watch(wctx, s.changed, func(err error) { s.watchErr.Store(&err) }); err != nil {
		// Capture still works; devices are described when first seen.
		s.watchErr.Store(&err)
	}

	batches := make(chan *Batch, 4*len(s.socks))
	free := make(chan []byte, 8*len(s.socks))
	var wg sync.WaitGroup
	for _, so := range s.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.read(so, batches, free)
		}()
	}
	go func() { wg.Wait(); close(batches) }()

	// Stopping: wait until the kernel retires partly filled blocks, then wake
	// the readers; they deliver what the rings hold and end.
	stopOnce := sync.Once{}
	stop := func() {
		stopOnce.Do(func() {
			go func() {
				time.Sleep(25 * time.Millisecond)
				for _, so := range s.socks {
					so.s.Wake()
				}
			}()
		})
	}
	go func() { <-ctx.Done(); stop() }()

	var sightings uint64
	var counts []uint64 // per interface id: in, out interleaved
	var runErr error
	for b := range batches {
		limit := -1
		if s.plan.Count > 0 {
			limit = s.plan.Count - int(sightings)
		}
		if runErr != nil || limit == 0 {
			recycle(free, b)
			continue
		}
		counts = account(b, limit, counts)
		if b.Count == limit {
			stop()
		}
		s.mu.Lock()
		b.Devices, s.pending = s.pending, nil
		s.mu.Unlock()
		sightings += uint64(b.Count)
		if err := sink.Deliver(b); err != nil {
			runErr = fmt.Errorf("deliver: %w", err)
			stop()
		}
		recycle(free, b)
	}
	// Devices seen in the last moments and not yet announced.
	s.mu.Lock()
	rest := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(rest) > 0 && runErr == nil {
		runErr = sink.Deliver(&Batch{Devices: rest})
	}
	st := s.stats(sightings, counts)
	s.close()
	return st, runErr
}

func recycle(free chan []byte, b *Batch) {
	select {
	case free <- b.Records[:0]:
	default:
	}
}

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

// read is one socket's loop: ring blocks → records → batches.
func (s *Session) read(so *sock, out chan<- *Batch, free chan []byte) {
	newBuf := func() []byte {
		select {
		case b := <-free:
			return b
		default:
			return make([]byte, 0, s.plan.BlockSize+64<<10)
		}
	}
	so.buf = newBuf()
	flush := func() {
		if so.n == 0 {
			return
		}
		out <- &Batch{Records: so.buf, Count: so.n}
		so.buf, so.n = newBuf(), 0
	}
	fn := func(p *afpacket.Packet) { s.append(so, p) }
	for {
		// One ring block becomes one batch: blocks retire at least every
		// block timeout, which bounds latency, and hold many frames when busy.
		_, err := so.s.ReadBlock(fn)
		flush()
		if err != nil {
			return
		}
	}
}

// append copies one frame from the ring into the socket's batch.
func (s *Session) append(so *sock, p *afpacket.Packet) {
	if g := s.gen.Load(); g != so.gen {
		clear(so.cache)
		so.gen = g
	}
	id, ok := so.cache[p.Ifindex]
	if !ok {
		id = s.lookup(p.Ifindex)
		so.cache[p.Ifindex] = id
	}
	h := record.Header{
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
	if p.Status&afpacket.StatusLosing != 0 {
		if st, err := so.s.Stats(); err == nil && st.Drops > so.drops {
			h.Drops = uint32(min(st.Drops-so.drops, 1<<32-1))
			so.drops = st.Drops
		}
	}
	so.buf = record.Append(so.buf, h, p.Data)
	so.n++
}

func (s *Session) stats(sightings uint64, counts []uint64) Stats {
	st := Stats{Sightings: sightings}
	s.mu.Lock()
	for _, d := range s.table {
		ds := DeviceStats{Device: d}
		if i := int(d.ID) * 2; i+1 < len(counts) {
			ds.In, ds.Out = counts[i], counts[i+1]
		}
		st.Devices = append(st.Devices, ds)
	}
	s.mu.Unlock()
	for _, so := range s.socks {
		k, _ := so.s.Stats()
		st.Sockets = append(st.Sockets, SocketStats{Device: so.plan.Device, Packets: k.Packets, Drops: k.Drops})
	}
	return st
}

// WatchError returns the error that stopped the device watch, if any.
func (s *Session) WatchError() error {
	if p := s.watchErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close releases a session that will not Run. Run closes it by itself.
func (s *Session) Close() { s.close() }

func (s *Session) close() {
	for _, so := range s.socks {
		so.s.Close()
	}
	s.topo.Close()
}
