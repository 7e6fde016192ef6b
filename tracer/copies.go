package tracer

import (
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/decode"
)

// firstCopies tells, as a socket reads them, a packet's first copy from the
// copies that follow it on other devices, by the fingerprint correlation
// uses. It exists for --dedup first: only first copies are written whole,
// so later copies need only enough bytes to be correlated, and a bulk
// transfer of 64 KB super-packets seen on three devices moves a third of
// the bytes through the backlog, the correlator and the plugin stream.
//
// Like the correlator, it takes a copy on the device and direction the
// first was seen on for a new packet (a retransmission), and it forgets a
// fingerprint after the window. It can err: a first copy that the ring
// delivers after a later one is trimmed. Collisions of its small table make
// it keep a copy whole, never trim a first copy.
type firstCopies struct {
	slots  []copySlot
	mask   uint64
	window int64
}

type copySlot struct {
	fp      uint64
	time    int64
	ifindex int32
	dir     record.Direction
}

func newFirstCopies(window int64) *firstCopies {
	const n = 1 << 14 // 384 KiB: more packets in flight only means fewer trims
	return &firstCopies{slots: make([]copySlot, n), mask: n - 1, window: window}
}

// later reports whether a frame with fingerprint fp, read at t on device
// ifindex in direction dir, is a later copy of a packet whose first copy
// this socket read within the window. A frame that is not becomes its
// packet's first copy.
func (f *firstCopies) later(fp uint64, t int64, ifindex int32, dir record.Direction) bool {
	s := &f.slots[fp&f.mask]
	if s.fp == fp && t-s.time <= f.window && t >= s.time && (s.ifindex != ifindex || s.dir != dir) {
		return true
	}
	*s = copySlot{fp: fp, time: t, ifindex: ifindex, dir: dir}
	return false
}

// keepLen returns how many bytes of a frame a reader keeps: CutLen when
// the frame is longer, cut says so of its fingerprint (a later copy, with
// firstCopies.later; any frame while cutting under load), and its first
// CutLen bytes give the same fingerprint; all of them otherwise. A cut
// copy must still join its trace: unknown link types are fingerprinted
// whole, and long extension headers or tunnel headers may push the
// payload the fingerprint covers past the cut. pkt is scratch; the frame
// is decoded once whatever cut decides.
func keepLen(hatype, vlan uint16, data []byte, pkt *decode.Packet, cut func(fp uint64) bool) int {
	if len(data) <= CutLen || decode.Decode(hatype, vlan, data, pkt) != nil || !pkt.Valid {
		return len(data)
	}
	fp := pkt.Fingerprint
	if cut(fp) && decode.Decode(hatype, vlan, data[:CutLen], pkt) == nil && pkt.Valid && pkt.Fingerprint == fp {
		return CutLen
	}
	return len(data)
}
