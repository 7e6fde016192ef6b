package correlate

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// Offloads: a TCP socket hands the stack 64 KB "super-packets" (GSO), and
// they are cut into MSS-sized segments only where a device cannot take
// them whole (a device without TSO, or a NIC's hardware); in the other
// direction GRO glues received segments into one. The super-packet and its
// segments share no fingerprint (the lengths, the IP ids and the payloads
// differ), but they share the acknowledgment number, and each segment's
// sequence range lies inside the super-packet's.
//
// So TCP data packets are indexed by acknowledgment number too (byAck), and
// those larger than a segment on a 1500-byte link (maxSegment) once more
// (bySup): in a bulk flow whose peer sends nothing every packet has the
// same ack, and a segment looks for its packet among the few large ones,
// not among its many siblings.
// A sighting that copies no open trace is tried as a piece of one:
//
//   - a segment of an open trace of a larger packet (segmentation): the
//     trace's packet has the same ack, the segment's range lies inside its
//     range, and the trace was not seen on the segment's device in its
//     direction (where it was, the "segment" is a retransmission);
//   - a larger packet whose range holds open traces of smaller ones with the
//     same ack, none of them part of another packet yet (coalescing).
//
// The piece keeps a trace of its own, so that its further copies (the
// segment on the next hop) join it by fingerprint as usual, but it is a
// child of the whole packet's trace: it closes with its parent, and Drain
// gives parent and children as one trace, with one id, numbered hops,
// each child's hops marked with its segment number, and the change
// "segmented into N" or "coalesced from N".

// maxPieceScan bounds how many open traces with the same ack, newest
// first, a piece of a packet is compared with: the large packets a
// segment may come from (a window of 64 KB packets in flight), or the
// segments GRO glued (the newest: 45 at most for 64 KB at MSS 1448).
const maxPieceScan = 256

// maxSegment is the largest TCP payload of a segment on a link of MTU
// 1500 (IPv4 without options); larger packets may be cut into segments.
// On larger MTUs a segment is indexed as a possible whole packet too,
// which costs a comparison, not a wrong match: the ranges decide.
const maxSegment = 1460

// tcpData reports whether sg is a decoded TCP packet with payload.
func (sg *sighting) tcpData() bool { return sg.flags&sightTCP != 0 && sg.plen > 0 }

// ackKey is the byAck key of acknowledgment number ack.
func ackKey(ack uint32) uint64 { return uint64(ack)*0x9e3779b97f4a7c15 | 1 }

// within reports whether [s, s+n) lies inside [bs, bs+bn), modulo 2^32.
func within(s, n, bs, bn uint32) bool {
	off := s - bs
	return off < bn && uint64(off)+uint64(n) <= uint64(bn)
}

// kids are a parent trace's children, in the order they joined, and, once
// the parent closed, every hop of the family in time order.
type kids struct {
	traces []int32
	order  []int32 // sightings, for closedTraces
}

// adopt makes trace ci a child of trace pi.
func (c *Correlator) adopt(pi, ci int32) {
	p := c.traces.at(pi)
	if p.kids == 0 {
		c.kids = append(c.kids, kids{})
		p.kids = int32(len(c.kids))
	}
	k := &c.kids[p.kids-1]
	k.traces = append(k.traces, ci)
	c.traces.at(ci).parent = pi + 1
}

// matchParent finds the open trace whose packet sg is a segment of, or -1.
func (c *Correlator) matchParent(sg *sighting) int32 {
	key := sg.key()
	l := c.bySup.list(ackKey(sg.tack))
	for j := len(l) - 1; j >= max(0, len(l)-maxPieceScan); j-- {
		e := &l[j]
		t := c.traces.at(e.t)
		if t.closed || t.parent != 0 || t.tack != sg.tack || t.plen <= sg.plen ||
			sg.time-t.first > c.window || !within(sg.tseq, sg.plen, t.tseq, t.plen) || c.seenOn(t, key) {
			continue
		}
		// Pieces of one packet never overlap: a piece whose range an
		// existing one covers in part is a retransmission (with a new IP
		// id, or cut differently), not one of them.
		if c.overlapsKid(t, sg.tseq, sg.plen) {
			continue
		}
		return e.t
	}
	return -1
}

// overlapsKid reports whether a child of t covers part of [seq, seq+n).
func (c *Correlator) overlapsKid(t *trace, seq, n uint32) bool {
	if t.kids == 0 {
		return false
	}
	for _, ci := range c.kids[t.kids-1].traces {
		k := c.traces.at(ci)
		// Relative to k's start, mod 2^32: [0, k.plen) and [d, d+n).
		if d := seq - k.tseq; d < k.plen || uint32(-d) < n {
			return true
		}
	}
	return false
}

// adoptSegments makes the open traces of smaller packets inside the range
// of new trace ti (sg its first sighting) its children: sg coalesced them.
func (c *Correlator) adoptSegments(ti int32, sg *sighting) {
	l := c.byAck.list(ackKey(sg.tack))
	for j := len(l) - 1; j >= max(0, len(l)-maxPieceScan); j-- {
		e := &l[j]
		if e.t == ti {
			continue
		}
		k := c.traces.at(e.t)
		if k.closed || k.parent != 0 || c.family(k) != nil || k.tack != sg.tack || k.plen >= sg.plen ||
			sg.time-k.first > c.window || !within(k.tseq, k.plen, sg.tseq, sg.plen) || c.seenOn(k, sg.key()) ||
			c.overlapsKid(c.traces.at(ti), k.tseq, k.plen) {
			continue
		}
		c.adopt(ti, e.t)
	}
}

// closeFamily closes the children of parent trace pi with it and numbers
// the hops of all of them in time order, as one trace: the children's
// sightings are released with the parent's id.
func (c *Correlator) closeFamily(pi int32) {
	p := c.traces.at(pi)
	k := &c.kids[p.kids-1]
	for _, ci := range k.traces {
		if !c.traces.at(ci).closed {
			c.closeOne(ci)
		}
	}
	hs := c.scratch[:0] // after closeOne, which uses it too
	add := func(ti int32) {
		t := c.traces.at(ti)
		for j := range int(t.n) {
			i := c.hopAt(t, j)
			sg := c.sights.at(i)
			hs = append(hs, pending{time: sg.time, seq: sg.seq, i: i})
		}
	}
	add(pi)
	for _, ci := range k.traces {
		add(ci)
	}
	sortPending(hs)
	k.order = k.order[:0]
	total := int32(len(hs))
	for n, h := range hs {
		sg := c.sights.at(h.i)
		sg.hop = uint16(min(n+1, math.MaxUint16))
		k.order = append(k.order, h.i)
	}
	c.scratch = hs[:0]
	p.total = total
	for _, ci := range k.traces {
		t := c.traces.at(ci)
		t.id, t.total = p.id, total
	}
}

// segmentOf is the number of child trace ti of closed parent p: 1… in
// the order of the children's sequence numbers, for Hop.Segment.
func (c *Correlator) segmentOf(p *trace, ti int32) uint16 {
	k := &c.kids[p.kids-1]
	t := c.traces.at(ti)
	n := 1
	for _, ci := range k.traces {
		if o := c.traces.at(ci); ci != ti && int32(o.tseq-t.tseq) < 0 {
			n++
		}
	}
	return uint16(min(n, math.MaxUint16))
}

// sortPending sorts hops by time, then arrival: insertion sort, as hops
// come mostly in order.
func sortPending(hs []pending) {
	for k := 1; k < len(hs); k++ {
		for j := k; j > 0 && hs[j].before(&hs[j-1]); j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

// UDP GSO: a socket with UDP_SEGMENT hands the stack one large datagram
// that is cut into datagrams of gso_size payload bytes where a device
// cannot take it whole. The pieces have no sequence numbers; they carry
// the large datagram's payload in order. So an open large datagram whose
// payload was captured whole is indexed (byHead) by the first 8 bytes its
// next piece must start with, and a datagram that copies no open trace is
// its next piece if its first 64 payload bytes (as many as both hold)
// equal the large one's at that place, it fits, it has the size of the
// pieces before it (the last may be shorter), and the large one was not
// seen on its device. After each piece the large datagram is indexed by
// the bytes the next one starts with. GRO's gluing of UDP datagrams is
// not followed: it happens only on request (UDP_GRO sockets, or
// rx-udp-gro-forwarding) and leaves no trace in the glued datagram of
// where the pieces ended.

// maxDatagramPiece is the largest UDP payload of a datagram on a link of
// MTU 1500 (IPv4): larger datagrams may be cut into pieces.
const maxDatagramPiece = 1472

// headKey is the byHead key of a payload starting with head.
func headKey(head uint64) uint64 { return head*0x9e3779b97f4a7c15 | 1 }

// wholePayload reports whether sg's record holds all of its UDP payload:
// not an IP fragment's first part, nor cut by the snap length.
func (c *Correlator) wholePayload(sg *sighting) bool {
	var h record.Header
	data := c.record(sg, &h)
	return sg.poff > 0 && len(data)-int(sg.poff) >= int(sg.plen)
}

func (c *Correlator) unindexHead(t *trace) {
	if !t.headIndexed {
		return
	}
	for _, e := range c.byHead.remove(t.hkey, t.hli, t.hpos) {
		c.traces.at(e.t).hpos--
	}
	t.headIndexed = false
}

// matchDatagram finds the open trace of a large UDP datagram whose next
// piece sg is, or -1.
func (c *Correlator) matchDatagram(sg *sighting) int32 {
	l := c.byHead.list(headKey(sg.head))
	for j := len(l) - 1; j >= max(0, len(l)-maxPieceScan); j-- {
		e := &l[j]
		t := c.traces.at(e.t)
		if t.closed || t.parent != 0 || t.plen <= sg.plen || sg.time-t.first > c.window ||
			t.uoff+sg.plen > t.plen || t.ugso != 0 && sg.plen != t.ugso && t.uoff+sg.plen != t.plen ||
			c.seenOn(t, sg.key()) || !c.samePayload(t, sg) {
			continue
		}
		return e.t
	}
	return -1
}

// samePayload compares the first 64 payload bytes of sg with the large
// datagram of t at the next piece's place.
func (c *Correlator) samePayload(t *trace, sg *sighting) bool {
	var h record.Header
	big := c.record(c.sights.at(t.hops[0]), &h)
	piece := c.record(sg, &h)
	at := int(t.upoff) + int(t.uoff)
	n := min(64, int(sg.plen), len(piece)-int(sg.poff), len(big)-at)
	return n >= 8 && sg.poff > 0 && bytes.Equal(big[at:at+n], piece[int(sg.poff):int(sg.poff)+n])
}

// adoptDatagram makes trace ci, whose first sighting is sg, the next
// piece of large datagram pi, and indexes pi by the piece after.
func (c *Correlator) adoptDatagram(pi, ci int32, sg *sighting) {
	c.adopt(pi, ci)
	p := c.traces.at(pi)
	c.traces.at(ci).tseq = p.uoff // numbers the pieces in payload order
	if p.ugso == 0 {
		p.ugso = sg.plen
	}
	p.uoff += sg.plen
	c.unindexHead(p)
	var h record.Header
	data := c.record(c.sights.at(p.hops[0]), &h)
	at := int(p.upoff) + int(p.uoff)
	if p.uoff >= p.plen || at+8 > len(data) {
		return
	}
	p.hkey = headKey(binary.BigEndian.Uint64(data[at:]))
	p.headIndexed = true
	p.hli, p.hpos = c.byHead.add(p.hkey, fpEnt{first: p.first, t: pi})
}
