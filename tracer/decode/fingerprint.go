package decode

import (
	"encoding/binary"
	"math/bits"
)

// Kinds tag the first hash word of each part of a fingerprint (top byte),
// so that words of different layouts never mean the same thing.
const (
	kindFrame     = 0x01 << 56 // whole frame of an unknown link type
	kindEther     = 0x02 << 56 // other EtherType
	kindARP       = 0x03 << 56
	kindIPv4      = 0x04 << 56
	kindIPv6      = 0x06 << 56
	kindOpaque    = 0x10 << 56 // IP payload not looked into
	kindTCP       = 0x11 << 56
	kindUDP       = 0x12 << 56
	kindICMPEcho  = 0x13 << 56
	kindICMPError = 0x14 << 56
	kindICMPOther = 0x15 << 56
)

// The hash is wyhash's core (Wang Yi, public domain): each pair of 64-bit
// words is folded into the state with one 64×64→128-bit multiply
// (bits.Mul64, a single instruction on amd64 and arm64), then the state is
// finalized with the bijective murmur3 fmix64. It is fixed, not seeded per
// process, so a fingerprint means the same in every process and every run.
// It is not meant to resist crafted collisions.
const (
	wyp0 = 0xa0761d6478bd642f
	wyp1 = 0xe7037ed1a0b428db
)

// hasher is the running state of a fingerprint. It lives on the stack.
type hasher uint64

func newHasher() hasher { return hasher(wyp0) }

// add folds two words into the state.
func (h *hasher) add(a, b uint64) {
	hi, lo := bits.Mul64(a^wyp1, b^uint64(*h))
	*h = hasher(hi ^ lo)
}

// bytes folds b into the state, 16 bytes at a time, the last block padded
// with zeros. The caller must have hashed len(b) before, or the padding
// would be ambiguous.
func (h *hasher) bytes(b []byte) {
	for len(b) >= 16 {
		h.add(binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]))
		b = b[16:]
	}
	if len(b) > 0 {
		var t [16]byte
		copy(t[:], b)
		h.add(binary.LittleEndian.Uint64(t[:]), binary.LittleEndian.Uint64(t[8:]))
	}
}

// sum returns the finalized fingerprint.
func (h hasher) sum() uint64 {
	x := uint64(h)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
