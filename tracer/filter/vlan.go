package filter

import (
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// usesVLAN reports whether expr contains libpcap's vlan keyword. libpcap's
// scanner reads the longest run of name characters as one token, and a name
// does not end in '-' or '_', so "vlan" must stand alone: "vlan10" and
// "vlan-gw" are host names.
func usesVLAN(expr string) bool {
	isName := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-' || c == ':'
	}
	for i := 0; i < len(expr); {
		if !isName(expr[i]) {
			i++
			continue
		}
		j := i
		for j < len(expr) && isName(expr[j]) {
			j++
		}
		tok := expr[i:j]
		for len(tok) > 0 && (tok[len(tok)-1] == '-' || tok[len(tok)-1] == '_') {
			tok = tok[:len(tok)-1]
		}
		if tok == "vlan" {
			return true
		}
		i = j
	}
	return false
}

// tagOff is where an 802.1Q tag sits in an Ethernet frame; tagLen its size.
const (
	tagOff = 12
	tagLen = 4
)

// taggedRewriter emits libpcap's Ethernet program so that it runs on a frame
// whose outer VLAN tag the kernel has moved into skb metadata, and decides as
// it would on the frame with the tag put back at offset 12 (the logical
// frame, which is also what a capture file holds). Loads before the tag read
// the frame; loads after it read 4 bytes earlier; bytes of the tag come from
// SKF_AD_VLAN_TPID and SKF_AD_VLAN_TAG; the length is 4 more.
type taggedRewriter struct {
	a       *asm
	mem     *scratch
	sx, acc int // scratch cells for X and an accumulator, -1 until taken
}

func emitTagged(a *asm, prog []afpacket.Instruction) error {
	r := &taggedRewriter{a: a, mem: newScratch(prog), sx: -1, acc: -1}
	return a.program(prog, r.rewrite)
}

func (r *taggedRewriter) cells() (sx, acc uint32, err error) {
	if r.sx < 0 {
		c, err := r.mem.take()
		if err != nil {
			return 0, 0, err
		}
		r.sx = int(c)
	}
	if r.acc < 0 {
		c, err := r.mem.take()
		if err != nil {
			return 0, 0, err
		}
		r.acc = int(c)
	}
	return uint32(r.sx), uint32(r.acc), nil
}

func (r *taggedRewriter) rewrite(ins afpacket.Instruction) error {
	a := r.a
	mode := ins.Op & 0xe0
	switch class(ins.Op) {
	case clsLD:
		switch mode {
		case modeABS:
			if ins.K >= negativeOffsetMin { // ancillary or SKF_NET/LL_OFF: not packet bytes
				a.stmt(ins.Op, ins.K)
				return nil
			}
			return r.loadConst(ins.Op, loadSize(ins.Op), ins.K)
		case modeIND:
			return r.loadInd(ins.Op, loadSize(ins.Op), ins.K)
		case modeLEN:
			a.stmt(ins.Op, ins.K)
			a.stmt(clsALU|aluADD|srcK, tagLen)
			return nil
		}
	case clsLDX:
		switch mode {
		case modeMSH: // X = 4*(P[k]&0xf)
			switch {
			case ins.K < tagOff:
				a.stmt(ins.Op, ins.K)
			case ins.K >= tagOff+tagLen:
				a.stmt(ins.Op, ins.K-tagLen)
			default:
				sa, _, err := r.cells()
				if err != nil {
					return err
				}
				a.stmt(clsST, sa)
				r.tagByte(ins.K)
				a.stmt(clsALU|aluAND|srcK, 0xf)
				a.stmt(clsALU|aluLSH|srcK, 2)
				a.stmt(clsMISC|miscTAX, 0)
				a.stmt(clsLD|modeMEM, sa)
			}
			return nil
		case modeLEN:
			sa, _, err := r.cells()
			if err != nil {
				return err
			}
			a.stmt(clsST, sa)
			a.stmt(clsLD|sizeW|modeLEN, 0)
			a.stmt(clsALU|aluADD|srcK, tagLen)
			a.stmt(clsMISC|miscTAX, 0)
			a.stmt(clsLD|modeMEM, sa)
			return nil
		}
	}
	a.stmt(ins.Op, ins.K)
	return nil
}

// tagByte loads byte k (12 ≤ k < 16) of the logical frame into A.
func (r *taggedRewriter) tagByte(k uint32) {
	src := uint32(skfADVLANTPID)
	if k >= tagOff+2 {
		src = skfADVLANTag
	}
	r.a.stmt(opLoadAncillary, src)
	if k%2 == 0 {
		r.a.stmt(clsALU|aluRSH|srcK, 8)
	} else {
		r.a.stmt(clsALU|aluAND|srcK, 0xff)
	}
}

// loadConst loads size bytes at offset k of the logical frame into A.
func (r *taggedRewriter) loadConst(op uint16, size, k uint32) error {
	a := r.a
	switch {
	case k+size <= tagOff:
		a.stmt(op, k)
		return nil
	case k >= tagOff+tagLen:
		a.stmt(op, k-tagLen)
		return nil
	case k == tagOff && size == 2:
		a.stmt(opLoadAncillary, skfADVLANTPID)
		return nil
	case k == tagOff+2 && size == 2:
		a.stmt(opLoadAncillary, skfADVLANTag)
		return nil
	case size == 1:
		r.tagByte(k)
		return nil
	}
	// A load that straddles the tag: assemble it byte by byte.
	sx, acc, err := r.cells()
	if err != nil {
		return err
	}
	a.stmt(clsSTX, sx)
	for j := uint32(0); j < size; j++ {
		switch p := k + j; {
		case p < tagOff:
			a.stmt(clsLD|sizeB|modeABS, p)
		case p >= tagOff+tagLen:
			a.stmt(clsLD|sizeB|modeABS, p-tagLen)
		default:
			r.tagByte(p)
		}
		r.accumulate(j, size, acc)
	}
	a.stmt(clsLDX|modeMEM, sx)
	return nil
}

// accumulate shifts byte j of a size-byte load (in A) into place and ORs it
// into the value in M[acc]; after the last byte the value is in A. It
// overwrites X.
func (r *taggedRewriter) accumulate(j, size, acc uint32) {
	a := r.a
	if sh := 8 * (size - 1 - j); sh > 0 {
		a.stmt(clsALU|aluLSH|srcK, sh)
	}
	if j > 0 {
		a.stmt(clsLDX|modeMEM, acc)
		a.stmt(clsALU|aluOR|srcX, 0)
	}
	if j < size-1 {
		a.stmt(clsST, acc)
	}
}

// loadInd loads size bytes at offset X+k of the logical frame into A. Where
// the offset lies is known only at run time unless k ≥ 16.
func (r *taggedRewriter) loadInd(op uint16, size, k uint32) error {
	a := r.a
	if k >= tagOff+tagLen {
		a.stmt(op, k-tagLen)
		return nil
	}
	sx, acc, err := r.cells()
	if err != nil {
		return err
	}
	hi, mid, low, mix, done := a.label(), a.label(), a.label(), a.label(), a.label()
	a.stmt(clsMISC|miscTXA, 0)
	a.stmt(clsALU|aluADD|srcK, k)
	a.jump(clsJMP|jmpJGE|srcK, tagOff+tagLen, hi, mid)
	a.mark(mid)
	a.jump(clsJMP|jmpJGT|srcK, tagOff-size, mix, low)
	a.mark(low)
	a.stmt(op, k)
	a.ja(done)
	a.mark(hi)
	a.stmt(op, k-tagLen) // wraps for k < 4; X+k-4 is still ≥ 12 in 32-bit arithmetic
	a.ja(done)
	a.mark(mix)
	a.stmt(clsSTX, sx)
	for j := uint32(0); j < size; j++ {
		if j > 0 {
			a.stmt(clsLDX|modeMEM, sx)
		}
		r.runtimeByte(k + j)
		r.accumulate(j, size, acc)
	}
	a.stmt(clsLDX|modeMEM, sx)
	a.mark(done)
	return nil
}

// runtimeByte loads byte X+k of the logical frame into A.
func (r *taggedRewriter) runtimeByte(k uint32) {
	a := r.a
	hi, mid, low, tag, done := a.label(), a.label(), a.label(), a.label(), a.label()
	a.stmt(clsMISC|miscTXA, 0)
	a.stmt(clsALU|aluADD|srcK, k)
	a.jump(clsJMP|jmpJGE|srcK, tagOff+tagLen, hi, mid)
	a.mark(mid)
	a.jump(clsJMP|jmpJGE|srcK, tagOff, tag, low)
	a.mark(low)
	a.stmt(clsLD|sizeB|modeIND, k)
	a.ja(done)
	a.mark(hi)
	a.stmt(clsLD|sizeB|modeIND, k-tagLen)
	a.ja(done)
	a.mark(tag)
	b12, n12, b13, n13, b14, b15 := a.label(), a.label(), a.label(), a.label(), a.label(), a.label()
	a.jump(clsJMP|jmpJEQ|srcK, tagOff, b12, n12)
	a.mark(n12)
	a.jump(clsJMP|jmpJEQ|srcK, tagOff+1, b13, n13)
	a.mark(n13)
	a.jump(clsJMP|jmpJEQ|srcK, tagOff+2, b14, b15)
	for i, l := range []int{b12, b13, b14, b15} {
		a.mark(l)
		r.tagByte(tagOff + uint32(i))
		if i < 3 {
			a.ja(done)
		}
	}
	a.mark(done)
}
