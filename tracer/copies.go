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
	pkt    decode.Packet
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

// trim returns how many bytes of the frame to keep: all of them, or
// CutLen (what a frame cut under load keeps) for a later copy of a packet whose first copy this socket
// read within the window, when the trimmed bytes still give the same
// fingerprint (long extension headers may push the payload it covers past
// the cut).
func (f *firstCopies) trim(hatype, vlan uint16, data []byte, t int64, ifindex int32, dir record.Direction) int {
	if len(data) <= CutLen || decode.Decode(hatype, vlan, data, &f.pkt) != nil || !f.pkt.Valid {
		return len(data) // unknown link types are fingerprinted whole: keep them so
	}
	fp := f.pkt.Fingerprint
	s := &f.slots[fp&f.mask]
	if s.fp == fp && t-s.time <= f.window && t >= s.time && (s.ifindex != ifindex || s.dir != dir) {
		if cutKeeps(hatype, vlan, data, fp, &f.pkt) {
			return CutLen
		}
		return len(data)
	}
	*s = copySlot{fp: fp, time: t, ifindex: ifindex, dir: dir}
	return len(data)
}

// cutLen returns how many bytes of a frame to keep under load
// (OverloadCut): CutLen, or all of them when there are no more, or when
// the frame cannot be fingerprinted from its first CutLen bytes as it is
// whole (unknown link types, long extension headers or tunnel headers
// before the payload the fingerprint covers): a cut copy must still join
// its trace.
func cutLen(hatype, vlan uint16, data []byte, pkt *decode.Packet) int {
	if len(data) <= CutLen || decode.Decode(hatype, vlan, data, pkt) != nil || !pkt.Valid {
		return len(data)
	}
	if cutKeeps(hatype, vlan, data, pkt.Fingerprint, pkt) {
		return CutLen
	}
	return len(data)
}

// cutKeeps reports whether the first CutLen bytes of a frame still give
// fp, its fingerprint. pkt is scratch.
func cutKeeps(hatype, vlan uint16, data []byte, fp uint64, pkt *decode.Packet) bool {
	return decode.Decode(hatype, vlan, data[:CutLen], pkt) == nil && pkt.Valid && pkt.Fingerprint == fp
}
