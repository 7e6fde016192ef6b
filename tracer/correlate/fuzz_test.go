package correlate

import (
	"encoding/binary"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// FuzzCorrelator feeds arbitrary frames, devices, directions, sources and
// times. The correlator must not panic, must respect MaxTraces, and must
// give back every sighting exactly once, annotated with a trace that
// holds it.
func FuzzCorrelator(f *testing.F) {
	f.Add(echo4(f, "10.200.1.2", "10.200.2.2", 64, 1, 7, 1, macA), []byte{0, 1, 1, 0, 2, 2, 1, 3, 1})
	f.Add(udp6(f, 64, "same"), []byte{0, 1, 2, 0, 1, 2, 1, 2, 1, 1, 2, 1})
	f.Add(arpRequest(f), []byte{0, 1, 1, 0, 2, 2, 0, 3, 2})
	f.Add(tcp4(f, 9, 100, "x"), []byte{3, 200, 1, 3, 1, 1})
	f.Fuzz(func(t *testing.T, frame []byte, script []byte) {
		const maxTraces = 8
		c := New(Config{MaxTraces: maxTraces, MaxPending: 16, Window: time.Millisecond, Lag: time.Millisecond})
		wall := t0
		added := 0
		var d drained
		// Each 3 script bytes: source, device, and a time step; the frame
		// is mutated by the step so that copies differ now and then.
		for len(script) >= 3 {
			src, dev, step := int(script[0]%4), uint32(script[1]%6), int64(script[2])
			script = script[3:]
			data := append([]byte(nil), frame...)
			if step%5 == 0 && len(data) > 0 {
				data[len(data)-1] ^= byte(step)
			}
			wall += step * int64(time.Microsecond) * 20
			h := record.Header{Iface: dev, Dir: record.Direction(1 + dev%2), TimeNanos: wall - int64(src)*int64(time.Millisecond), HAType: uint16(binary.LittleEndian.Uint16(append(frame, 1, 0)[:2])%3) * 1}
			if step%7 == 0 {
				h.HAType = 1
			}
			if err := c.Add(src, record.Append(nil, h, data), wall); err != nil {
				t.Fatal(err)
			}
			added++
			if st := c.Stats(); st.Open > maxTraces {
				t.Fatalf("%d open traces, max %d", st.Open, maxTraces)
			}
			if step%3 == 0 {
				c.Advance(wall)
				d.take(t, c, int(step), int(step%4)) // bounded, and at times less than what is ready
			}
		}
		checkDrained(t, c, &d, added)
	})
}

// drained collects what bounded DrainLimit calls return and checks each
// call's bounds and that a record never comes before its trace.
type drained struct {
	recs   []record.Header
	traces []*Trace // copies: Drain reuses their memory
	ids    map[uint64]*Trace
}

// take makes one DrainLimit call and reports whether it said more.
func (d *drained) take(t testing.TB, c *Correlator, maxBytes, maxTraces int) bool {
	t.Helper()
	if d.ids == nil {
		d.ids = map[uint64]*Trace{}
	}
	buf, n, trs, more := c.DrainLimit(nil, maxBytes, maxTraces)
	if len(trs) > max(maxTraces, 1) {
		t.Fatalf("%d traces from DrainLimit(…, %d)", len(trs), maxTraces)
	}
	for _, tr := range trs {
		cp := *tr
		cp.Hops, cp.Changes = slices.Clone(tr.Hops), slices.Clone(tr.Changes)
		if d.ids[cp.ID] != nil {
			t.Fatalf("trace id %d twice", cp.ID)
		}
		d.ids[cp.ID] = &cp
		d.traces = append(d.traces, &cp)
	}
	hs := headers(t, buf)
	off := 0
	for k, h := range hs {
		if d.ids[h.TraceID] == nil {
			t.Fatalf("record of trace %d before the trace", h.TraceID)
		}
		if k > 0 && off >= maxBytes {
			t.Fatalf("record %d starts at byte %d, past DrainLimit's %d", k, off, maxBytes)
		}
		off += record.Size(int(h.CapLen))
	}
	if len(hs) != n {
		t.Fatalf("DrainLimit said %d records, buffer holds %d", n, len(hs))
	}
	d.recs = append(d.recs, hs...)
	if n == 0 && len(trs) == 0 && more {
		t.Fatalf("DrainLimit returned nothing but said more")
	}
	return more
}

// checkDrained flushes c and wants every one of the added sightings back
// exactly once (with what earlier calls of d took), in bounded pieces, as
// the hop of its trace that its record says, one trace per id, and nothing
// left open.
func checkDrained(t *testing.T, c *Correlator, d *drained, added int) {
	t.Helper()
	c.Flush()
	for d.take(t, c, 512, 3) {
	}
	recs, traces := d.recs, d.traces
	if len(recs) != added {
		t.Fatalf("%d sightings out, %d in", len(recs), added)
	}
	ids := d.ids
	hops := 0
	for _, tr := range traces {
		hops += len(tr.Hops)
	}
	if hops != added {
		t.Fatalf("%d hops in traces, %d sightings", hops, added)
	}
	for _, h := range recs {
		tr := ids[h.TraceID]
		if tr == nil || int(h.Hops) != len(tr.Hops) || h.Hop == 0 || int(h.Hop) > len(tr.Hops) {
			t.Fatalf("record trace %d hop %d/%d does not match its trace %+v", h.TraceID, h.Hop, h.Hops, tr)
		}
		if hop := tr.Hops[h.Hop-1]; hop.Iface != h.Iface || hop.Dir != h.Dir || hop.TimeNanos != h.TimeNanos {
			t.Fatalf("record (%d %v %d) is not hop %d of its trace (%+v)", h.Iface, h.Dir, h.TimeNanos, h.Hop, hop)
		}
	}
	if st := c.Stats(); st.Open != 0 || st.Pending != 0 {
		t.Fatalf("after Flush and Drain: %+v", st)
	}
}

// BenchmarkCorrelate measures sightings per second through merge, decode,
// match, close and release: 3 sources, UDP packets seen on 3 devices.
func BenchmarkCorrelate(b *testing.B) {
	const perBatch = 1024
	c := New(Config{})
	frames := make([][]byte, 4096)
	for i := range frames {
		frames[i] = echo4(b, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
	}
	batches := make([][]byte, 3)
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	at := t0
	for n := 0; n < b.N; n += 3 * perBatch {
		for s := range batches {
			batches[s] = batches[s][:0]
		}
		for i := 0; i < perBatch; i++ {
			at += 2 * us
			f := frames[i%len(frames)]
			for s := range batches {
				batches[s] = record.Append(batches[s], record.Header{Iface: uint32(s), Dir: record.DirIn, TimeNanos: at + int64(s)*us, HAType: arphrdEther}, f)
			}
		}
		for s := range batches {
			if err := c.Add(s, batches[s], at); err != nil {
				b.Fatal(err)
			}
		}
		c.Advance(at + 60*ms)
		out, _, _ = c.Drain(out[:0])
	}
	b.StopTimer()
	c.Flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sightings/s")
}

// BenchmarkCorrelateAny is what -r of a tcpdump -i any file asks: one
// source, each packet's three copies in time order, 2µs apart, distinct
// within the window (so the index holds a window of traces, 50 000,
// larger than a core's cache), advanced to the last record less the lag
// after each batch of 4096 records, as the offline pipeline does.
func BenchmarkCorrelateAny(b *testing.B) {
	const perBatch = 4096
	c := New(Config{})
	frames := make([][]byte, 1<<16)
	for i := range frames {
		frames[i] = echo4(b, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i>>3), macA)
	}
	var batch, out []byte
	b.ReportAllocs()
	b.ResetTimer()
	at, k := t0, 0
	for n := 0; n < b.N; n += perBatch {
		batch = batch[:0]
		for i := 0; i < perBatch; i += 3 {
			k++
			f := frames[k%len(frames)]
			for s := range 3 {
				batch = record.Append(batch, record.Header{Iface: uint32(s), Dir: record.DirIn, TimeNanos: at + int64(s)*us, HAType: arphrdEther}, f)
			}
			at += 2 * us
		}
		if err := c.Add(0, batch, at); err != nil {
			b.Fatal(err)
		}
		c.Advance(at)
		for more := true; more; {
			out, _, _, more = c.DrainLimit(out[:0], 1<<20, 4096)
		}
	}
	b.StopTimer()
	c.Flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sightings/s")
}

// AddOwned correlates exactly as Add does, keeps the buffers it is handed
// only while their sightings are held (the test scribbles on every buffer
// Spare returns before handing it over again), and Spare returns them.
func TestAddOwned(t *testing.T) {
	const batches, perBatch = 60, 1500 // 500 packets × 3 copies, 200µs apart
	const gap = 200 * us
	frames := make([][]byte, 1<<10)
	for i := range frames {
		frames[i] = echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
	}
	batch := func(n int) []byte {
		var b []byte
		for i := 0; i < perBatch; i += 3 {
			k := n*perBatch/3 + i/3
			for s := range 3 {
				b = record.Append(b, record.Header{Iface: uint32(s), Dir: record.DirIn, TimeNanos: t0 + int64(k)*gap + int64(s)*us, HAType: arphrdEther}, frames[k%len(frames)])
			}
		}
		return b
	}
	copied, owned := New(Config{}), New(Config{})
	var dc, do drained
	spares := 0
	var spare []byte
	for n := range batches {
		recs := batch(n)
		now := t0 + int64(n+1)*perBatch/3*gap
		if err := copied.Add(0, recs, now); err != nil {
			t.Fatal(err)
		}
		mine := append(spare[:0], recs...)
		if err := owned.AddOwned(0, mine, now); err != nil {
			t.Fatal(err)
		}
		copied.Advance(now)
		owned.Advance(now)
		dc.take(t, copied, 1<<20, 1<<20)
		do.take(t, owned, 1<<20, 1<<20)
		spare = owned.Spare()
		if spare != nil {
			spares++
			spare = spare[:cap(spare)]
			for k := range spare {
				spare[k] = 0xa5
			}
		}
	}
	copied.Flush()
	owned.Flush()
	for dc.take(t, copied, 1<<20, 1<<20) {
	}
	for do.take(t, owned, 1<<20, 1<<20) {
	}
	if len(dc.recs) != batches*perBatch || len(dc.traces) != batches*perBatch/3 {
		t.Fatalf("Add: %d records, %d traces; want %d, %d", len(dc.recs), len(dc.traces), batches*perBatch, batches*perBatch/3)
	}
	if len(do.recs) != len(dc.recs) || len(do.traces) != len(dc.traces) {
		t.Fatalf("AddOwned: %d records, %d traces; Add: %d, %d", len(do.recs), len(do.traces), len(dc.recs), len(dc.traces))
	}
	for k := range dc.recs {
		if !reflect.DeepEqual(dc.recs[k], do.recs[k]) {
			t.Fatalf("record %d: AddOwned's %+v, Add's %+v", k, do.recs[k], dc.recs[k])
		}
	}
	for k := range dc.traces {
		if !reflect.DeepEqual(dc.traces[k], do.traces[k]) {
			t.Fatalf("trace %d: AddOwned's %+v, Add's %+v", k, do.traces[k], dc.traces[k])
		}
	}
	if spares < batches/2 {
		t.Errorf("Spare returned %d buffers in %d batches", spares, batches)
	}
}
