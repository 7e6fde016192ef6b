package tracer

import (
	"context"
	"encoding/binary"
	"os/exec"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/internal/sched"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func labSpace(t *testing.T, l *lab.Lab, role string) Space {
	t.Helper()
	e, err := netns.Resolve(l.Path(role))
	if err != nil {
		t.Fatal(err)
	}
	r, err := topology.Open(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	devs, err := r.Devices()
	if err != nil {
		t.Fatal(err)
	}
	return Space{Entry: e, Devices: devs}
}

// openIn opens a session in the lab namespace role; tweak, if not nil,
// changes the plan first.
func openIn(t *testing.T, l *lab.Lab, role string, o Options, tweak func(*Plan)) *Session {
	t.Helper()
	plan, err := NewPlan(o, []Space{labSpace(t, l, role)})
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(plan)
	}
	s, err := Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// datagramSeq is the sequence number the tests' UDP datagrams to port 9
// start with (an IPv4 frame on Ethernet); ok is false for other frames.
func datagramSeq(frame []byte) (seq int64, ok bool) {
	if len(frame) < 46 || frame[23] != 17 || binary.BigEndian.Uint16(frame[36:]) != 9 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(frame[42:])), true
}

// numbered is n payloads of size bytes, each starting with its index, the
// sequence number datagramSeq reads.
func numbered(n, size int) [][]byte {
	p := make([][]byte, n)
	for i := range p {
		p[i] = binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(i))[:size]
	}
	return p
}

// waitEnd waits for a cancelled session's Run to return (done closed).
func waitEnd(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("session did not end")
	}
}

// TestSessionInOtherNamespace captures in a lab namespace (not the test's
// own), and checks that every record's device was announced first, with its
// name and veth peer across namespaces, and that -c is exact.
func TestSessionInOtherNamespace(t *testing.T) {
	l := lab.NewPair(t)

	s := openIn(t, l, "a", Options{Count: 7}, nil)
	known := map[uint32]Device{}
	var got []record.Header
	done := make(chan struct{})
	var st Stats
	var runErr error
	go func() {
		defer close(done)
		st, runErr = s.Run(context.Background(), SinkFunc(func(b *Batch) error {
			for _, d := range b.Devices {
				known[d.ID] = d
			}
			return eachRecord(b.Records, func(h *record.Header, _ []byte) {
				if _, ok := known[h.Iface]; !ok {
					t.Errorf("record for interface %d before its announcement", h.Iface)
				}
				got = append(got, *h)
			})
		}))
	}()
	payloads := make([][]byte, 20)
	for i := range payloads {
		payloads[i] = []byte("ifacetrace")
	}
	l.SendUDP("a", lab.PairB, 9, 0, payloads...)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not stop after -c 7")
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if len(got) != 7 || st.Sightings != 7 {
		t.Fatalf("%d records, %d sightings; want 7", len(got), st.Sightings)
	}
	var va *Device
	for _, d := range known {
		if d.Name == "va" {
			d := d
			va = &d
		}
	}
	if va == nil {
		t.Fatalf("va not announced: %+v", known)
	}
	if va.Kind != "veth" || va.Peer == nil || va.Peer.Name != "vb" || va.Peer.NetNSName != l.NS("b") {
		t.Errorf("va = kind %q peer %+v; want veth, peer %s/vb", va.Kind, va.Peer, l.NS("b"))
	}
	var onVA uint64
	for _, h := range got {
		if h.Iface == va.ID && h.Dir == record.DirOut {
			onVA++
		}
	}
	var statVA uint64
	for _, d := range st.Devices {
		if d.ID == va.ID {
			statVA = d.Out
		}
	}
	if onVA == 0 || statVA != onVA {
		t.Errorf("va out: %d records, stats say %d", onVA, statVA)
	}
}

// TestSessionFollowsNamespaces captures with Follow (--netns all): a
// namespace created during the capture is picked up, and once it is
// deleted our sockets let it go, so its veth peer disappears as it would
// without ifacetrace.
func TestSessionFollowsNamespaces(t *testing.T) {
	l := lab.NewPair(t)
	s := openIn(t, l, "a", Options{Follow: true}, nil)
	rc := runCounting(s)
	defer rc.stop()

	l.AddNS("c")
	l.Veth("a", "ac", "c", "ca")
	l.Addr("a", "ac", "10.200.8.1/24")
	l.Addr("c", "ca", "10.200.8.2/24")
	ca := l.NS("c") + "/ca"
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.SendUDP("c", "10.200.8.1", 9, 0, []byte("hello"))
		time.Sleep(100 * time.Millisecond)
		rc.mu.Lock()
		n := rc.seen[ca]
		rc.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sighting on %s within 5s of its namespace appearing; seen %v", ca, rc.seen)
		}
	}

	l.DelNS("c")
	deadline = time.Now().Add(5 * time.Second)
	for {
		if err := exec.Command("ip", "-n", l.NS("a"), "link", "show", "ac").Run(); err != nil {
			break // the namespace was freed, and with it the veth pair
		}
		if time.Now().After(deadline) {
			t.Fatal("veth peer of a deleted namespace still exists after 5s: the capture keeps the namespace alive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, runErr := rc.stop()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if st.Namespaces < 2 {
		t.Errorf("stats: %d namespaces, want at least 2", st.Namespaces)
	}
}

// counting runs a session and counts records per NETNS/IFNAME.
type counting struct {
	mu     sync.Mutex
	seen   map[string]int
	cancel context.CancelFunc
	done   chan struct{}
	st     Stats
	err    error
}

func runCounting(s *Session) *counting {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &counting{seen: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	names := map[uint32]string{}
	go func() {
		defer close(rc.done)
		rc.st, rc.err = s.Run(ctx, SinkFunc(func(b *Batch) error {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for _, d := range b.Devices {
				names[d.ID] = d.NetNSName + "/" + d.Name
			}
			return eachRecord(b.Records, func(h *record.Header, _ []byte) { rc.seen[names[h.Iface]]++ })
		}))
	}()
	return rc
}

// stop ends the run (once) and returns its result.
func (rc *counting) stop() (Stats, error) {
	rc.cancel()
	<-rc.done
	return rc.st, rc.err
}

// TestSessionBacklog: while delivery is slow, the backlog keeps the ring
// drained: a burst several times the ring's size arrives whole and in
// order. Without a spool, the same burst overflows the ring (the test's
// premise holds).
func TestSessionBacklog(t *testing.T) {
	const n = 60000     // about 18 MB of ring slots
	var seqs int        // datagrams of the burst delivered, in the last run
	var reported uint64 // kernel drops the records reported, in the last run
	var cut, whole int  // records of the burst cut to CutLen, and kept whole
	var firstCut int    // sequence number of the first datagram cut, -1 if none
	run := func(t *testing.T, o Options, n, size int) (Stats, int) {
		seqs, reported, cut, whole, firstCut = 0, 0, 0, 0, -1
		l := lab.NewPair(t)
		if size > 1400 {
			l.Exec("a", "ip", "link", "set", "va", "mtu", "9000")
			l.Exec("b", "ip", "link", "set", "vb", "mtu", "9000")
		}
		// A ring of 8 MiB: room for the reader's scheduling hiccups on a
		// loaded machine, not for the burst.
		o.BufferSize, o.SpoolDir = 8<<20, t.TempDir()
		s := openIn(t, l, "a", o, func(p *Plan) { p.backlogMem = 64 << 10 })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var st Stats
		var runErr error
		var got, disorder int
		last := int64(-1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			st, runErr = s.Run(ctx, SinkFunc(func(b *Batch) error {
				time.Sleep(50 * time.Millisecond) // a slow correlation
				return eachRecord(b.Records, func(h *record.Header, data []byte) {
					got++
					reported += uint64(h.Drops)
					// The datagrams' own sequence numbers, not kernel
					// times (which CPUs stamp), prove the order.
					seq, ok := datagramSeq(data)
					if !ok {
						return
					}
					seqs++
					if seq <= last {
						disorder++
					}
					last = seq
					switch {
					case int(h.CapLen) == int(h.OrigLen):
						whole++
					case h.CapLen == CutLen:
						cut++
						if firstCut < 0 {
							firstCut = int(seq)
						}
					default:
						t.Errorf("datagram %d: %d of %d bytes captured", seq, h.CapLen, h.OrigLen)
					}
				})
			}))
		}()
		l.SendUDP("a", lab.PairB, 9, 0, numbered(n, size)...)
		time.Sleep(200 * time.Millisecond) // the last block retires
		cancel()
		waitEnd(t, done)
		if runErr != nil {
			t.Fatal(runErr)
		}
		if disorder > 0 {
			t.Errorf("%d datagrams out of order", disorder)
		}
		if uint64(got) != st.Sightings {
			t.Errorf("delivered %d records, stats say %d sightings", got, st.Sightings)
		}
		return st, got
	}
	t.Run("spool", func(t *testing.T) {
		st, got := run(t, Options{}, n, 200) // the default spool
		t.Logf("%d sightings, %d dropped, backlog %+v", got, st.Drops(), st.Backlog)
		if st.Drops() != 0 || got < n {
			t.Errorf("%d of %d datagrams delivered, %d dropped by the kernel; want all, none", got, n, st.Drops())
		}
		if seqs != n {
			t.Errorf("%d of the %d datagrams recognised in order", seqs, n)
		}
		if st.Backlog.SpooledBatches == 0 {
			t.Errorf("nothing spooled: the test did not overrun the ring")
		}
		if st.Cut != 0 || cut != 0 {
			t.Errorf("%d frames cut (%d records) with the backlog never nearly full", st.Cut, cut)
		}
	})
	t.Run("no spool", func(t *testing.T) {
		st, got := run(t, Options{Spool: -1}, n, 200)
		t.Logf("%d sightings, %d dropped, backlog %+v", got, st.Drops(), st.Backlog)
		if st.Drops() == 0 {
			t.Errorf("no kernel drops without a spool: the burst did not overrun the ring, so the spool case proves nothing")
		}
		// Drops are reported on the first frame the kernel marks as
		// following them; those after the last such frame are not.
		if reported == 0 || reported > st.Drops() {
			t.Errorf("records report %d kernel drops of the %d counted; want some, and no more", reported, st.Drops())
		}
		if cut != 0 {
			t.Errorf("%d frames of %d bytes cut: they are no longer than CutLen", cut, 242)
		}
	})
	// A burst of 8 KB datagrams, 32 MB, through an 8 MiB ring and an 8 MiB
	// spool: whole, they overflow both (OverloadDrop); cut to CutLen once
	// the spool is three quarters written or the ring half full
	// (OverloadCut, the default), they arrive, in order, the first whole.
	// The sender outruns any reader, so a few may be dropped before the
	// ring is half full: the test wants 98 %, and a quarter of the drops.
	const big, bigSize = 4000, 8000
	var dropped uint64 // by the kernel with OverloadDrop
	t.Run("overload drop", func(t *testing.T) {
		st, got := run(t, Options{Spool: 8 << 20, Overload: OverloadDrop}, big, bigSize)
		t.Logf("%d sightings, %d dropped, backlog %+v", got, st.Drops(), st.Backlog)
		dropped = st.Drops()
		if dropped < big/5 {
			t.Errorf("%d kernel drops with frames kept whole: the burst did not overrun ring and spool, so the cut case proves little", dropped)
		}
		if st.Cut != 0 || cut != 0 {
			t.Errorf("%d frames cut (%d records) with OverloadDrop", st.Cut, cut)
		}
	})
	t.Run("overload cut", func(t *testing.T) {
		st, got := run(t, Options{Spool: 8 << 20}, big, bigSize)
		t.Logf("%d sightings, %d dropped, %d cut from datagram %d on, backlog %+v", got, st.Drops(), st.Cut, firstCut, st.Backlog)
		if seqs < big*98/100 || dropped > 0 && 4*st.Drops() > dropped {
			t.Errorf("%d of %d datagrams delivered in order, %d dropped by the kernel (%d without cutting)", seqs, big, st.Drops(), dropped)
		}
		if cut == 0 || uint64(cut) != st.Cut || whole == 0 {
			t.Errorf("%d records cut, stats say %d, %d whole; want the same, some of each", cut, st.Cut, whole)
		}
	})
}

// TestSessionHoldsBursts: a burst of small datagrams, far above a burst's
// rate, holds delivery back until it is over (Hold, the default), and then
// every datagram arrives, in order; with Hold off, the same burst is
// delivered while it lasts (the test's premise holds). Delivery runs at
// normal priority in both, so that only the hold differs. In the
// background (the default), the collector is off while the burst is held,
// and on again after it (collectorOff).
func TestSessionHoldsBursts(t *testing.T) {
	const n = 150000 // ~20 ring blocks: the first two may go before the burst is seen
	gogc := func() int64 {
		m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(m)
		return int64(m[0].Value.Uint64())
	}
	before := gogc()
	var atEnd int64 // GOGC as the burst ended, in the last run
	run := func(t *testing.T, hold time.Duration, normal bool) (st Stats, during, seqs int) {
		l := lab.NewPair(t)
		s := openIn(t, l, "a", Options{SpoolDir: t.TempDir(), NormalPriority: normal, Hold: hold}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var over atomic.Bool // the burst is over
		var runErr error
		disorder, last := 0, int64(-1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			st, runErr = s.Run(ctx, SinkFunc(func(b *Batch) error {
				return eachRecord(b.Records, func(_ *record.Header, data []byte) {
					seq, ok := datagramSeq(data)
					if !ok {
						return
					}
					seqs++
					if !over.Load() {
						during++
					}
					if seq <= last {
						disorder++
					}
					last = seq
				})
			}))
		}()
		payloads := numbered(n, 18)
		start := time.Now()
		l.SendUDP("a", lab.PairB, 9, 0, payloads...)
		over.Store(true)
		atEnd = gogc() // the hold lasts 100 ms more
		took := time.Since(start)
		time.Sleep(300 * time.Millisecond) // the last block retires, the hold ends
		cancel()
		waitEnd(t, done)
		if runErr != nil {
			t.Fatal(runErr)
		}
		t.Logf("burst of %d in %v (%.0f/s): %d delivered during it, %d in all; %d holds, %v held; %d dropped; backlog %+v; GOGC %d at its end",
			n, took.Round(time.Millisecond), n/took.Seconds(), during, seqs, st.Holds, st.Held, st.Drops(), st.Backlog, atEnd)
		if after := gogc(); after != before {
			t.Errorf("GOGC is %d after the run, was %d before", after, before)
		}
		if seqs+int(st.Drops()) < n || disorder > 0 {
			t.Errorf("%d of %d datagrams delivered, %d dropped by the kernel, %d out of order", seqs, n, st.Drops(), disorder)
		}
		return st, during, seqs
	}
	t.Run("held", func(t *testing.T) {
		st, during, _ := run(t, 0, true)
		if st.Holds < 1 || st.Held <= 0 || st.Held > DefaultHold {
			t.Errorf("%d holds for %v in all; want one or more, for at most %v", st.Holds, st.Held, DefaultHold)
		}
		if 4*during > n {
			t.Errorf("%d of %d datagrams delivered during the burst; want at most a quarter (what goes before the burst is seen)", during, n)
		}
		if atEnd != before {
			t.Errorf("GOGC %d during a hold at normal priority, want %d: only in the background is the collector off", atEnd, before)
		}
	})
	t.Run("held in the background", func(t *testing.T) {
		st, _, _ := run(t, 0, false)
		if st.Holds < 1 {
			t.Fatalf("no hold")
		}
		if atEnd != -1 {
			t.Errorf("GOGC %d during the hold, want -1 (the collector off)", atEnd)
		}
	})
	t.Run("not held", func(t *testing.T) {
		st, during, _ := run(t, -1, true)
		if st.Holds != 0 {
			t.Errorf("%d holds with Hold off", st.Holds)
		}
		if 2*during < n {
			t.Errorf("only %d of %d datagrams delivered during the burst without a hold: the held case proves nothing", during, n)
		}
	})
}

// TestRunInBackground: while a session runs with the default plan, every
// thread of the process is at SCHED_IDLE but the readers' (one per socket)
// and the backlog mover's, delivery included; afterwards all are back where they were. With
// IFACETRACE_SCHED=nice (as without CAP_SYS_NICE) delivery runs on a thread
// at nice 19 and nothing else changes.
func TestRunInBackground(t *testing.T) {
	l := lab.NewPair(t)
	run := func(t *testing.T) (deliverer string, during map[string]int) {
		s := openIn(t, l, "a", Options{Interfaces: []string{"lo", "va"}}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error)
		go func() {
			_, err := s.Run(ctx, SinkFunc(func(b *Batch) error {
				if b.Count > 0 && during == nil {
					deliverer = sched.Policy()
					during = sched.Census()
					cancel()
				}
				return nil
			}))
			done <- err
		}()
		for i := 0; i < 50 && ctx.Err() == nil; i++ {
			l.SendUDP("a", lab.PairB, 9, 0, []byte("background"))
			time.Sleep(20 * time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if during == nil {
			t.Fatal("nothing delivered")
		}
		if after := sched.Census(); after["idle"] != 0 {
			t.Errorf("%d threads still idle after the run: %v", after["idle"], after)
		}
		return deliverer, during
	}
	t.Run("background", func(t *testing.T) {
		deliverer, during := run(t)
		t.Logf("threads during the run %v, delivering on %q", during, deliverer)
		if deliverer != "idle" {
			t.Errorf("delivery ran at %q, want idle", deliverer)
		}
		normal := 0
		for p, n := range during {
			if p != "idle" {
				normal += n
			}
		}
		if normal != 3 {
			t.Errorf("%d threads at normal priority during the run, want the 2 readers and the backlog's mover: %v", normal, during)
		}
	})
	t.Run("nice", func(t *testing.T) {
		t.Setenv("IFACETRACE_SCHED", "nice")
		deliverer, during := run(t)
		t.Logf("threads during the run %v, delivering on %q", during, deliverer)
		if deliverer != "normal, nice 19" {
			t.Errorf("delivery ran at %q, want normal, nice 19", deliverer)
		}
		if during["idle"] != 0 || during["normal, nice 19"] != 1 {
			t.Errorf("threads during the run: %v, want one at nice 19 and none idle", during)
		}
	})
}
