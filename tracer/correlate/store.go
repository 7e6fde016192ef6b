package correlate

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/ifacetrace/ifacetrace/tracer/decode"
)

// The correlator's state is kept in pointer-free structures indexed by
// int32, so that the garbage collector has nothing to scan in them, a full
// window costs no allocation per sighting once they have grown, and growing
// them copies nothing.

const (
	blockShift = 8
	blockLen   = 1 << blockShift
)

// blocks is a growable array of T in fixed blocks: elements never move.
type blocks[T any] struct {
	b []*[blockLen]T
	n int // elements in use
}

func (a *blocks[T]) at(i int32) *T { return &a.b[i>>blockShift][i&(blockLen-1)] }

// grow adds a (zero) element and returns its index.
func (a *blocks[T]) grow() int32 {
	if a.n == len(a.b)*blockLen {
		a.b = append(a.b, new([blockLen]T))
	}
	a.n++
	return int32(a.n - 1)
}

// ctuple is a Tuple without pointers: the addresses as 16 bytes and their
// kind. Two ctuples are equal iff their Tuples are (Decode makes no zoned
// addresses).
type ctuple struct {
	src, dst     [16]byte
	sport, dport uint16
	etherType    uint16
	proto        uint8
	kinds        uint8 // addrKind of src | addrKind of dst << 2
}

func addrKind(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return 1
	case a.Is6():
		return 2
	}
	return 0
}

func addrOf(b *[16]byte, kind uint8) netip.Addr {
	switch kind {
	case 1:
		return netip.AddrFrom4([4]byte(b[12:]))
	case 2:
		return netip.AddrFrom16(*b)
	}
	return netip.Addr{}
}

// compactTuple is the Tuple of a Valid packet as a ctuple (an invalid
// packet's is the zero ctuple).
func compactTuple(p *decode.Packet) ctuple {
	return ctuple{
		src: p.Src.As16(), dst: p.Dst.As16(), sport: p.SrcPort, dport: p.DstPort,
		etherType: p.EtherType, proto: p.Proto, kinds: addrKind(p.Src) | addrKind(p.Dst)<<2,
	}
}

func (t *ctuple) tuple() Tuple {
	return Tuple{
		EtherType: t.etherType, Proto: t.proto, Src: addrOf(&t.src, t.kinds&3), Dst: addrOf(&t.dst, t.kinds>>2),
		SrcPort: t.sport, DstPort: t.dport,
	}
}

// fpIndex maps a fingerprint to its open traces, in creation order: an
// open-addressing table (linear probing, backward-shift deletion) of lists
// whose buffers are reused. The lists hold what match looks at of each
// trace, so that it reads them in sequence rather than trace by trace.
//
// A slot is 8 bytes: 32 bits of the fingerprint's hash, from which its home
// slot is computed too, and its list, which holds the whole fingerprint.
// A window of open traces at a few hundred thousand packets a second is a
// table of 128 Ki slots, and most of a lookup's time is the cache miss on
// its slot: half the bytes are half the table to miss in. Different
// fingerprints with the same 32 bits are told apart by their lists.
type fpIndex struct {
	slots []fpSlot // len is 0 or a power of 2, at most half used
	shift uint     // 32 - log2(len(slots))
	used  int
	lists []fpList
	freeL []int32 // 1 + index of unused lists
}

type fpSlot struct {
	hash uint32 // hash32 of the fingerprint
	list int32  // 1 + index in lists; 0: empty slot
}

// fpList is ents[head:]. An entry's position, which its trace keeps, is
// its index plus off: it does not change when the list is compacted.
type fpList struct {
	ents []fpEnt
	head int
	off  int32
	fp   uint64
}

// fpEnt is a copy of a trace's fields that match reads.
type fpEnt struct {
	first, last int64
	mask        uint64 // trace.mask
	t           int32
}

func hash32(fp uint64) uint32 { return uint32((fp * 0x9e3779b97f4a7c15) >> 32) }

func (x *fpIndex) home(h uint32) int { return int(h >> x.shift) }

// find returns the slot of fp, or -1.
func (x *fpIndex) find(fp uint64) int {
	if len(x.slots) == 0 {
		return -1
	}
	h := hash32(fp)
	mask := len(x.slots) - 1
	for p := x.home(h); ; p = (p + 1) & mask {
		s := &x.slots[p]
		if s.list == 0 {
			return -1
		}
		if s.hash == h && x.lists[s.list-1].fp == fp {
			return p
		}
	}
}

// touch loads fp's home slot, to have it in the cache before it is looked
// for (Correlator.touchPops), and returns a word of it.
func (x *fpIndex) touch(fp uint64) uint64 {
	if len(x.slots) == 0 {
		return 0
	}
	return uint64(x.slots[x.home(hash32(fp))].hash)
}

// touchList is touch for list li's header and oldest entry.
func (x *fpIndex) touchList(li int32) uint64 {
	l := &x.lists[li-1]
	if l.head < len(l.ents) {
		return uint64(l.ents[l.head].first)
	}
	return 0
}

// list returns the open traces with fingerprint fp, oldest first.
func (x *fpIndex) list(fp uint64) []fpEnt {
	p := x.find(fp)
	if p < 0 {
		return nil
	}
	l := &x.lists[x.slots[p].list-1]
	return l.ents[l.head:]
}

// at is the entry at position pos of list li.
func (x *fpIndex) at(li, pos int32) *fpEnt {
	l := &x.lists[li-1]
	return &l.ents[pos-l.off]
}

// add appends e to fp's list and returns the list and e's position.
func (x *fpIndex) add(fp uint64, e fpEnt) (li, pos int32) {
	p := x.find(fp)
	if p < 0 {
		p = x.insert(fp)
	}
	li = x.slots[p].list
	l := &x.lists[li-1]
	if len(l.ents) == cap(l.ents) && l.head > 0 && l.head >= len(l.ents)/2 {
		l.ents = l.ents[:copy(l.ents, l.ents[l.head:])]
		l.off += int32(l.head)
		l.head = 0
	}
	l.ents = append(l.ents, e)
	return li, l.off + int32(len(l.ents)-1)
}

func (x *fpIndex) insert(fp uint64) int {
	if 2*(x.used+1) > len(x.slots) {
		x.rehash(max(64, 2*len(x.slots)))
	}
	var li int32
	if n := len(x.freeL); n > 0 {
		li = x.freeL[n-1]
		x.freeL = x.freeL[:n-1]
	} else {
		x.lists = append(x.lists, fpList{})
		li = int32(len(x.lists))
	}
	x.lists[li-1].fp = fp
	h := hash32(fp)
	mask := len(x.slots) - 1
	p := x.home(h)
	for x.slots[p].list != 0 {
		p = (p + 1) & mask
	}
	x.slots[p] = fpSlot{hash: h, list: li}
	x.used++
	return p
}

func (x *fpIndex) rehash(n int) {
	old := x.slots
	x.slots = make([]fpSlot, n)
	x.shift = uint(32 - bits.Len(uint(n-1)))
	mask := n - 1
	for _, s := range old {
		if s.list == 0 {
			continue
		}
		p := x.home(s.hash)
		for x.slots[p].list != 0 {
			p = (p + 1) & mask
		}
		x.slots[p] = s
	}
}

// remove takes the entry at position pos out of list li, the list of fp:
// usually its oldest, as traces close in the order they opened. It returns
// the entries that moved down one position, whose traces must be told.
func (x *fpIndex) remove(fp uint64, li, pos int32) (moved []fpEnt) {
	l := &x.lists[li-1]
	if k := int(pos - l.off); k == l.head {
		l.head++
	} else {
		l.ents = slices.Delete(l.ents, k, k+1)
		moved = l.ents[k:]
	}
	if l.head < len(l.ents) {
		return moved
	}
	l.ents, l.head, l.off = l.ents[:0], 0, 0
	x.freeL = append(x.freeL, li)
	x.delete(x.find(fp))
	return nil
}

// delete empties slot p, moving back the entries of its probe run that
// can take its place.
func (x *fpIndex) delete(p int) {
	x.used--
	mask := len(x.slots) - 1
	for {
		x.slots[p] = fpSlot{}
		q := p
		for {
			q = (q + 1) & mask
			if x.slots[q].list == 0 {
				return
			}
			// The entry at q may move to p iff its home is not in the
			// cyclic range (p, q].
			h := x.home(x.slots[q].hash)
			if (p < q && (h <= p || h > q)) || (p > q && h <= p && h > q) {
				x.slots[p] = x.slots[q]
				p = q
				break
			}
		}
	}
}

// devices numbers the device and direction pairs (hop keys) in the order
// they are first seen, so that the first 64 are a bit in a trace's mask.
type devices struct {
	ids   map[uint64]uint16
	cache [256]struct {
		key uint64
		id  uint16 // 1 + id; 0: empty
	}
}

// noBit is the id of the pairs past the first 64.
const noBit = 64

func (d *devices) id(key uint64) uint16 {
	e := &d.cache[(key*0x9e3779b97f4a7c15)>>56]
	if e.id != 0 && e.key == key {
		return e.id - 1
	}
	if d.ids == nil {
		d.ids = map[uint64]uint16{}
	}
	id, ok := d.ids[key]
	if !ok {
		id = noBit
		if len(d.ids) < noBit {
			id = uint16(len(d.ids))
			d.ids[key] = id
		}
	}
	e.key, e.id = key, id+1
	return id
}

// bit is the mask bit of device id, 0 if it has none.
func bit(id uint16) uint64 {
	if id >= noBit {
		return 0
	}
	return 1 << id
}

// slot returns the index of a free element of *items: one from the free
// list, or a new zero element appended.
func slot[T any](items *[]T, free *[]int32) int32 {
	if k := len(*free); k > 0 {
		i := (*free)[k-1]
		*free = (*free)[:k-1]
		return i
	}
	var zero T
	*items = append(*items, zero)
	return int32(len(*items) - 1)
}
