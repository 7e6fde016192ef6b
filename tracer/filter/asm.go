package filter

import (
	"fmt"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h) used by this
// package. They are repeated here so that the pure parts build on any OS.
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	sizeW = 0x00
	sizeH = 0x08
	sizeB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	aluADD = 0x00
	aluSUB = 0x10
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluXOR = 0xa0

	jmpJA  = 0x00
	jmpJEQ = 0x10
	jmpJGT = 0x20
	jmpJGE = 0x30

	srcK = 0x00
	srcX = 0x08

	miscTAX = 0x00
	miscTXA = 0x80

	opRetK = clsRET | srcK // ret #k

	memWords = 16 // BPF_MEMWORDS: scratch cells M[0]..M[15]
	maxInsns = 4096
)

// Linux ancillary data: loads at SKF_AD_OFF+n read skb metadata instead of
// packet bytes (linux/filter.h). The kernel ignores the load size.
const (
	skfADOff          = 0xfffff000 // SKF_AD_OFF (-0x1000) as an unsigned k
	skfADHatype       = skfADOff + 28
	skfADVLANTag      = skfADOff + 44
	skfADVLANPresent  = skfADOff + 48
	skfADVLANTPID     = skfADOff + 60
	opLoadAncillary   = clsLD | sizeW | modeABS
	negativeOffsetMin = 0x80000000 // k of an absolute load this large is a negative offset
)

func class(op uint16) uint16 { return op & 0x07 }

// loadSize is the size in bytes of a BPF_LD load, 0 for another code.
func loadSize(op uint16) uint32 {
	switch op & 0x18 {
	case sizeW:
		return 4
	case sizeH:
		return 2
	case sizeB:
		return 1
	}
	return 0
}

// asm collects a classic BPF program whose jumps name labels rather than
// offsets. link lays it out, turning a conditional jump whose target is
// further than the 8-bit jt/jf can reach into a jump over a 32-bit ja.
// Classic BPF only jumps forward, so every label is marked after the jumps
// that name it.
type asm struct {
	code   []asmOp
	labels []int // label → index in code, -1 until marked
}

type asmOp struct {
	op     uint16
	k      uint32
	jt, jf int // labels of a conditional jump's targets; jt alone for ja; -1 otherwise
}

func (a *asm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

// mark places label l at the next instruction.
func (a *asm) mark(l int) { a.labels[l] = len(a.code) }

// stmt appends an instruction that does not jump.
func (a *asm) stmt(op uint16, k uint32) {
	a.code = append(a.code, asmOp{op: op, k: k, jt: -1, jf: -1})
}

// jump appends a conditional jump (op is BPF_JMP|cond|src).
func (a *asm) jump(op uint16, k uint32, jt, jf int) {
	a.code = append(a.code, asmOp{op: op, k: k, jt: jt, jf: jf})
}

// ja appends an unconditional jump to l.
func (a *asm) ja(l int) {
	a.code = append(a.code, asmOp{op: clsJMP | jmpJA, jt: l, jf: -1})
}

// program appends prog, a complete program with relative jumps such as
// libpcap emits. rewrite emits the replacement of every instruction that is
// not a jump (emitting it unchanged is one choice). A jump past the end of
// prog is an error.
func (a *asm) program(prog []afpacket.Instruction, rewrite func(afpacket.Instruction) error) error {
	n := len(prog)
	if n == 0 {
		return fmt.Errorf("empty program")
	}
	lab := make([]int, n)
	for i := range lab {
		lab[i] = a.label()
	}
	target := func(i int, off uint32) (int, error) {
		if uint64(i)+1+uint64(off) >= uint64(n) {
			return 0, fmt.Errorf("instruction %d jumps past the end of its program (%d instructions)", i, n)
		}
		return lab[i+1+int(off)], nil
	}
	for i, ins := range prog {
		a.mark(lab[i])
		if class(ins.Op) != clsJMP {
			if err := rewrite(ins); err != nil {
				return err
			}
			continue
		}
		if ins.Op&0xf0 == jmpJA {
			t, err := target(i, ins.K)
			if err != nil {
				return err
			}
			a.ja(t)
			continue
		}
		jt, err := target(i, uint32(ins.Jt))
		if err != nil {
			return err
		}
		jf, err := target(i, uint32(ins.Jf))
		if err != nil {
			return err
		}
		a.jump(ins.Op, ins.K, jt, jf)
	}
	if class(prog[n-1].Op) != clsRET {
		return fmt.Errorf("program does not end in ret")
	}
	return nil
}

// link resolves the labels and returns the program ready for the kernel.
func (a *asm) link() ([]afpacket.Instruction, error) {
	n := len(a.code)
	if n == 0 || class(a.code[n-1].op) != clsRET {
		return nil, fmt.Errorf("program does not end in ret")
	}
	for i, c := range a.code {
		for _, l := range []int{c.jt, c.jf} {
			if l < 0 {
				continue
			}
			if t := a.labels[l]; t <= i || t >= n {
				return nil, fmt.Errorf("instruction %d jumps to %d: not forward within the program", i, t)
			}
		}
	}
	// farT/farF say whether a conditional jump reaches its true/false target
	// through a ja placed right after it. Sizes only grow, so this settles.
	farT := make([]bool, n)
	farF := make([]bool, n)
	pos := make([]int, n+1)
	isCond := func(c asmOp) bool { return class(c.op) == clsJMP && c.op&0xf0 != jmpJA }
	for {
		p := 0
		for i := range a.code {
			pos[i] = p
			p++
			if farT[i] {
				p++
			}
			if farF[i] {
				p++
			}
		}
		pos[n] = p
		if p > maxInsns {
			return nil, fmt.Errorf("program has %d instructions, more than the kernel's %d", p, maxInsns)
		}
		changed := false
		for i, c := range a.code {
			if !isCond(c) {
				continue
			}
			base := pos[i] + 1 // a near target is counted from here, over any ja
			if !farT[i] && pos[a.labels[c.jt]]-base > 255 {
				farT[i], changed = true, true
			}
			if !farF[i] && pos[a.labels[c.jf]]-base > 255 {
				farF[i], changed = true, true
			}
		}
		if !changed {
			break
		}
	}
	for i, c := range a.code {
		if !isCond(c) {
			continue
		}
		base := pos[i] + 1
		for _, far := range []struct {
			far bool
			l   int
		}{{farT[i], c.jt}, {farF[i], c.jf}} {
			if d := pos[a.labels[far.l]] - base; !far.far && (d < 0 || d > 255) {
				return nil, fmt.Errorf("internal error: jump %d of %d does not fit", i, d)
			}
		}
	}
	out := make([]afpacket.Instruction, 0, pos[n])
	for i, c := range a.code {
		p := pos[i]
		switch {
		case class(c.op) == clsJMP && c.op&0xf0 == jmpJA:
			out = append(out, afpacket.Instruction{Op: c.op, K: uint32(pos[a.labels[c.jt]] - (p + 1))})
		case isCond(c):
			t, f := pos[a.labels[c.jt]], pos[a.labels[c.jf]]
			switch {
			case !farT[i] && !farF[i]:
				out = append(out, afpacket.Instruction{Op: c.op, K: c.k, Jt: uint8(t - (p + 1)), Jf: uint8(f - (p + 1))})
			case farT[i] && !farF[i]:
				out = append(out,
					afpacket.Instruction{Op: c.op, K: c.k, Jt: 0, Jf: uint8(f - (p + 1))},
					afpacket.Instruction{Op: clsJMP | jmpJA, K: uint32(t - (p + 2))})
			case !farT[i] && farF[i]:
				out = append(out,
					afpacket.Instruction{Op: c.op, K: c.k, Jt: uint8(t - (p + 1)), Jf: 0},
					afpacket.Instruction{Op: clsJMP | jmpJA, K: uint32(f - (p + 2))})
			default:
				out = append(out,
					afpacket.Instruction{Op: c.op, K: c.k, Jt: 0, Jf: 1},
					afpacket.Instruction{Op: clsJMP | jmpJA, K: uint32(t - (p + 2))},
					afpacket.Instruction{Op: clsJMP | jmpJA, K: uint32(f - (p + 3))})
			}
		default:
			out = append(out, afpacket.Instruction{Op: c.op, K: c.k})
		}
	}
	return out, nil
}

// scratch hands out the memory cells a program leaves unused.
type scratch struct{ used uint16 }

func newScratch(prog []afpacket.Instruction) *scratch {
	s := &scratch{}
	for _, ins := range prog {
		switch ins.Op {
		case clsST, clsSTX, clsLD | modeMEM, clsLDX | modeMEM:
			if ins.K < memWords {
				s.used |= 1 << ins.K
			}
		}
	}
	return s
}

func (s *scratch) take() (uint32, error) {
	for i := uint32(0); i < memWords; i++ {
		if s.used&(1<<i) == 0 {
			s.used |= 1 << i
			return i, nil
		}
	}
	return 0, fmt.Errorf("all %d scratch memory cells are in use", memWords)
}
