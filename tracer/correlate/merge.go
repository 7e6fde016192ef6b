package correlate

import (
	"cmp"
	"slices"
)

// merge orders the sightings waiting for it by (time, seq). Each source
// delivers its sightings mostly in time order, so they are kept as runs:
// stretches of one batch in (time, seq) order, merged by a heap of runs
// keyed by their first entry. Taking the next sighting costs a comparison
// or two when a few runs wait, rather than a heap operation among all the
// waiting sightings; a batch out of order is many short runs, which is the
// heap of sightings again.
type merge struct {
	ents  []pending // the runs' entries; a run is ents[head:end]
	runs  []run     // by id
	free  []int32   // unused run ids
	heap  []int32   // ids of the runs with entries, by their first entry
	cur   int32     // the run the current batch extends, -1 if none
	n     int       // entries waiting
	order []int32   // scratch for compact
}

type run struct{ head, end int }

// start begins a batch: its first entry starts a run.
func (m *merge) start() {
	m.cur = -1
	if m.n == 0 {
		m.ents = m.ents[:0]
	} else if len(m.ents) > 4096 && len(m.ents) > 4*m.n {
		m.compact()
	}
}

// compact moves the entries still waiting to the front of the buffer, in
// place: one buffer that grows once to the traffic, rather than two that
// take turns (each growth is a copy and fresh memory, whose page faults
// cost more than the copy).
func (m *merge) compact() {
	// Runs do not overlap: taken by position, each moves down or stays.
	m.order = append(m.order[:0], m.heap...)
	slices.SortFunc(m.order, func(a, b int32) int { return cmp.Compare(m.runs[a].head, m.runs[b].head) })
	to := 0
	for _, id := range m.order {
		r := &m.runs[id]
		n := copy(m.ents[to:], m.ents[r.head:r.end])
		r.head, r.end = to, to+n
		to += n
	}
	m.ents = m.ents[:to]
}

// add appends e, doubling the buffer when full: append grows large
// slices by a quarter at a time, each time a copy of everything.
func (m *merge) add(e pending) {
	if len(m.ents) == cap(m.ents) {
		grown := make([]pending, len(m.ents), max(2*cap(m.ents), 1024))
		copy(grown, m.ents)
		m.ents = grown
	}
	m.ents = append(m.ents, e)
}

// push adds the next entry of the current batch.
func (m *merge) push(e pending) {
	m.n++
	if m.cur >= 0 {
		r := &m.runs[m.cur]
		if last := &m.ents[r.end-1]; last.time <= e.time { // and last.seq < e.seq
			m.add(e)
			r.end++
			return
		}
	}
	id := slot(&m.runs, &m.free)
	m.runs[id] = run{head: len(m.ents), end: len(m.ents) + 1}
	m.add(e)
	m.cur = id
	// Sift up.
	h := append(m.heap, id)
	k := len(h) - 1
	for k > 0 {
		p := (k - 1) / 2
		if !m.before(h[k], h[p]) {
			break
		}
		h[k], h[p] = h[p], h[k]
		k = p
	}
	m.heap = h
}

func (m *merge) before(a, b int32) bool {
	return m.ents[m.runs[a].head].before(&m.ents[m.runs[b].head])
}

// min is the first entry waiting; m.n must not be 0.
func (m *merge) min() *pending { return &m.ents[m.runs[m.heap[0]].head] }

// pop takes the first entry waiting and returns its sighting.
func (m *merge) pop() int32 {
	m.n--
	h := m.heap
	id := h[0]
	r := &m.runs[id]
	top := m.ents[r.head].i
	r.head++
	if r.head == r.end { // the run is done: the heap's last takes its place
		m.free = append(m.free, id)
		if id == m.cur {
			m.cur = -1
		}
		n := len(h) - 1
		h[0] = h[n]
		h = h[:n]
		m.heap = h
	}
	// Sift down the first run, whose key grew, or the one moved there.
	n := len(h)
	k := 0
	for {
		l := 2*k + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && m.before(h[r], h[l]) {
			c = r
		}
		if !m.before(h[c], h[k]) {
			break
		}
		h[k], h[c] = h[c], h[k]
		k = c
	}
	return top
}
