package flow

import (
	"slices"

	"github.com/ifacetrace/ifacetrace/tracer/correlate"
)

// HopTimes are the transit times between two consecutive hops of a flow's
// traces: from one device and direction to the next.
type HopTimes struct {
	From, To Step
	Count    uint64
	Min, Max int64 // ns
	// sample holds up to sampleLen of the times, a uniform sample once
	// there were more (reservoir sampling), for the median.
	sample []int64
	rng    uint64
}

// sampleLen bounds the times kept per pair of hops for the median.
const sampleLen = 64

// maxHopPairs bounds the pairs of hops kept per flow.
const maxHopPairs = 32

// Add accounts one time, in ns.
func (h *HopTimes) Add(d int64) {
	if h.Count == 0 || d < h.Min {
		h.Min = d
	}
	if h.Count == 0 || d > h.Max {
		h.Max = d
	}
	h.Count++
	if len(h.sample) < sampleLen {
		h.sample = append(h.sample, d)
		return
	}
	// Algorithm R, with xorshift64: deterministic.
	if h.rng == 0 {
		h.rng = 0x9e3779b97f4a7c15
	}
	h.rng ^= h.rng << 13
	h.rng ^= h.rng >> 7
	h.rng ^= h.rng << 17
	if k := h.rng % h.Count; k < sampleLen {
		h.sample[k] = d
	}
}

// Median is the median of the times: exact up to 64 of them, else the
// median of a uniform sample of 64.
func (h *HopTimes) Median() int64 {
	if len(h.sample) == 0 {
		return 0
	}
	s := slices.Clone(h.sample)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Transit accounts the times between the consecutive hops of tr, a
// complete trace (one that did not stop inside the host) of flow id, as
// Add returned it. Traces of segmented or coalesced packets, whose hops
// are pieces, are left out.
func (t *Table) Transit(id uint64, tr *correlate.Trace) {
	f := t.flows[id]
	if f == nil {
		return
	}
	HopPairs(tr, func(from, to Step, ns int64) {
		i := slices.IndexFunc(f.HopTimes, func(h HopTimes) bool { return h.From == from && h.To == to })
		if i < 0 {
			if len(f.HopTimes) >= maxHopPairs {
				return
			}
			f.HopTimes = append(f.HopTimes, HopTimes{From: from, To: to, rng: uint64(from.Iface)<<40 | uint64(to.Iface)<<8 | 1})
			i = len(f.HopTimes) - 1
		}
		f.HopTimes[i].Add(ns)
	})
}

// HopPairs calls f with each pair of consecutive hops of tr and the time
// between them; not for a segmented or coalesced packet, whose hops are
// pieces.
func HopPairs(tr *correlate.Trace, f func(from, to Step, ns int64)) {
	if tr.Segments > 0 {
		return
	}
	for k := 1; k < len(tr.Hops); k++ {
		a, b := &tr.Hops[k-1], &tr.Hops[k]
		f(Step{a.Iface, a.Dir}, Step{b.Iface, b.Dir}, b.TimeNanos-a.TimeNanos)
	}
}
