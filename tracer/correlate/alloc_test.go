package correlate

import (
	"testing"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// steady is BenchmarkCorrelate's workload: every 2µs an ICMP echo request
// (1024 distinct ones, then again), seen on 3 devices 1µs apart, each
// device read by its own source, delivered in batches of perBatch
// sightings per source, with the wall clock 60ms ahead of the newest
// sighting so that the merge never waits.
type steady struct {
	c       *Correlator
	frames  [3][][]byte // per device
	batches [3][]byte
	out     []byte
	at      int64
	traces  int
	changes int // of the last trace drained
}

func newSteady(t testing.TB, nat bool) *steady {
	w := &steady{c: New(Config{}), at: t0}
	for i := 0; i < 4096; i++ {
		f := echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(i), 7, uint16(i), macA)
		w.frames[0] = append(w.frames[0], f)
		w.frames[1] = append(w.frames[1], f)
		if nat { // the last device is past a SNAT, a hop further
			f = echo4(t, "10.200.2.1", "10.200.2.2", 63, uint16(i), 7, uint16(i), macB)
		}
		w.frames[2] = append(w.frames[2], f)
	}
	return w
}

// cycle adds one batch per source, advances and drains.
func (w *steady) cycle(t testing.TB, perBatch int) {
	for s := range w.batches {
		w.batches[s] = w.batches[s][:0]
	}
	for i := 0; i < perBatch; i++ {
		w.at += 2 * us
		for s := range w.batches {
			w.batches[s] = record.Append(w.batches[s], record.Header{Iface: uint32(s), Dir: record.DirIn, TimeNanos: w.at + int64(s)*us, HAType: arphrdEther}, w.frames[s][i%4096])
		}
	}
	for s := range w.batches {
		if err := w.c.Add(s, w.batches[s], w.at); err != nil {
			t.Fatal(err)
		}
	}
	w.c.Advance(w.at + 60*ms)
	var trs []*Trace
	w.out, _, trs = w.c.Drain(w.out[:0])
	w.traces = len(trs)
	if len(trs) > 0 {
		w.changes = len(trs[len(trs)-1].Changes)
	}
}

// TestSteadyStateAllocs pins that correlation allocates nothing per
// sighting once warm.
//
// What is measured: testing.AllocsPerRun over one steady.cycle: 3 Adds of
// perBatch records each (3*perBatch sightings, perBatch packets), one
// Advance and one Drain into a reused buffer; the record building in the
// cycle allocates nothing once its buffers have grown. Before measuring,
// the correlator is warmed up: sources known, the 100ms window full (about
// 150k sightings held, 50k traces open), every internal buffer grown.
//
// What is allowed: nothing. Each run closes and returns perBatch traces,
// built in the memory of the previous Drain's traces (valid until the next
// Drain), with or without changes (NAT), for two batch sizes.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("warms up a full window")
	}
	for _, tc := range []struct {
		name      string
		nat       bool
		perDrain  float64 // allocations per run: Drain's output
		perBatchs []int
	}{
		{"plain", false, 0, []int{1024, 256}},
		{"nat", true, 0, []int{1024, 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSteady(t, tc.nat)
			for _, perBatch := range tc.perBatchs {
				for range 300 { // 600ms of traffic for 1024: the window is 100ms
					w.cycle(t, perBatch)
				}
				if w.traces != perBatch || w.c.Stats().Open < 40000 || (w.changes != 0) != tc.nat {
					t.Fatalf("not in steady state: %d traces per cycle, %+v", w.traces, w.c.Stats())
				}
				allocs := testing.AllocsPerRun(100, func() { w.cycle(t, perBatch) })
				if allocs > tc.perDrain {
					t.Errorf("%d sightings per run: %v allocations per run, want %v", 3*perBatch, allocs, tc.perDrain)
				}
			}
		})
	}
}
