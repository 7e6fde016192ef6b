package flow

import (
	"slices"
	"testing"
)

// TestTransit: per pair of consecutive hops, the count, the minimum, the
// maximum and the median of the times between them; segmented traces and
// single hops are left out.
func TestTransit(t *testing.T) {
	tb := NewTable(Config{})
	a := tup("10.200.1.2", 5000, "10.200.2.2", 53)
	for i := range 9 {
		tr := trace(int64(i)*1000, a, a, a)
		// Hop 1 → 2 takes 10·(i+1) ns, hop 2 → 3 a constant 7 ns.
		tr.Hops[1].TimeNanos = tr.Hops[0].TimeNanos + int64(10*(i+1))
		tr.Hops[2].TimeNanos = tr.Hops[1].TimeNanos + 7
		id, _ := tb.Add(tr)
		tb.Transit(id, tr)
	}
	seg := trace(0, a, a)
	seg.Segments = 2
	id, _ := tb.Add(seg)
	tb.Transit(id, seg)
	f := tb.Flush()[0]
	if len(f.HopTimes) != 2 {
		t.Fatalf("%d hop pairs, want 2: %+v", len(f.HopTimes), f.HopTimes)
	}
	h := &f.HopTimes[0]
	if h.From != (Step{0, 2}) || h.To != (Step{1, 2}) || h.Count != 9 || h.Min != 10 || h.Max != 90 || h.Median() != 50 {
		t.Errorf("first pair %+v median %d, want if0 out→if1 out, 9 times, 10/50/90", h, h.Median())
	}
	if h := &f.HopTimes[1]; h.Count != 9 || h.Min != 7 || h.Max != 7 || h.Median() != 7 {
		t.Errorf("second pair %+v", h)
	}
}

// TestTransitSample: beyond 64 times, the median comes from a uniform
// sample: for 10000 times 1…10000 it is near 5000, and min and max exact.
func TestTransitSample(t *testing.T) {
	var h HopTimes
	h.rng = 12345
	for i := range 10000 {
		h.Add(int64((i*7919)%10000 + 1))
	}
	if h.Count != 10000 || h.Min != 1 || h.Max != 10000 || len(h.sample) != sampleLen {
		t.Fatalf("%+v", h)
	}
	if m := h.Median(); m < 3500 || m > 6500 {
		t.Errorf("median of a sample %d, want near 5000", m)
	}
}

// TestSegmentedFlow: a coalesced packet's flow counts the whole packet's
// bytes, and its path names each device once with the pieces it saw.
func TestSegmentedFlow(t *testing.T) {
	tb := NewTable(Config{})
	a := tup("10.200.1.2", 5000, "10.200.2.2", 80)
	tr := trace(0, a, a, a, a, a)
	// Two pieces on device 0 and on device 1, glued on device 2.
	tr.Segments = 2
	for k, seg := range []uint16{1, 1, 2, 2, 0} {
		tr.Hops[k].Segment = seg
		tr.Hops[k].Iface = []uint32{0, 1, 0, 1, 2}[k]
	}
	tr.Hops[4].OrigLen = 3000
	for range 2 {
		tb.Add(tr)
	}
	f := tb.Flush()[0]
	if f.Bytes[0] != 6000 {
		t.Errorf("bytes %d, want 2 × 3000 (the whole packet's)", f.Bytes[0])
	}
	if len(f.Paths) != 1 || f.Paths[0].Count != 2 || len(f.Paths[0].Steps) != 3 || !slices.Equal(f.Paths[0].Pieces, []int{2, 2, 1}) {
		t.Errorf("paths %+v, want one of 3 steps seen twice with pieces 2 2 1", f.Paths)
	}
}
