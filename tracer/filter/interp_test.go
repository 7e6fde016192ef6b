package filter

import (
	"encoding/binary"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// skbMeta is the skb metadata a Linux socket filter can read.
type skbMeta struct {
	hatype  uint16
	vlan    bool   // a tag was stripped into the metadata
	tci     uint16 // valid iff vlan
	tpid    uint16 // valid iff vlan
	pkttype uint32
}

// runKernel runs a classic BPF program as Linux's socket filter does (the
// reference for the tests, independent of golang.org/x/net/bpf): registers
// and scratch start at zero, a load outside the frame or a division by zero
// ends the program with 0, indexed offsets wrap in 32 bits, and loads at
// SKF_AD_OFF+n read the metadata. It returns what the program returns.
func runKernel(prog []afpacket.Instruction, m skbMeta, pkt []byte) uint32 {
	var a, x uint32
	var mem [memWords]uint32
	load := func(off uint32, size uint32) (uint32, bool) {
		if off >= negativeOffsetMin {
			if off < skfADOff {
				return 0, false // SKF_NET_OFF, SKF_LL_OFF: unused by libpcap
			}
			switch off {
			case skfADHatype:
				return uint32(m.hatype), true
			case skfADOff + 4: // SKF_AD_PKTTYPE
				return m.pkttype, true
			case skfADVLANTag:
				if !m.vlan {
					return 0, true
				}
				return uint32(m.tci), true
			case skfADVLANPresent:
				if m.vlan {
					return 1, true
				}
				return 0, true
			case skfADVLANTPID:
				if !m.vlan {
					return 0, true
				}
				return uint32(m.tpid), true
			}
			return 0, false
		}
		if uint64(off)+uint64(size) > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		default:
			return uint32(pkt[off]), true
		}
	}
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch class(ins.Op) {
		case clsLD:
			switch ins.Op & 0xe0 {
			case modeIMM:
				a = ins.K
			case modeABS, modeIND:
				off := ins.K
				if ins.Op&0xe0 == modeIND {
					off = x + ins.K
					if off >= negativeOffsetMin {
						return 0
					}
				}
				v, ok := load(off, loadSize(ins.Op))
				if !ok {
					return 0
				}
				a = v
			case modeMEM:
				a = mem[ins.K&0xf]
			case modeLEN:
				a = uint32(len(pkt))
			default:
				return 0
			}
		case clsLDX:
			switch ins.Op & 0xe0 {
			case modeIMM:
				x = ins.K
			case modeMEM:
				x = mem[ins.K&0xf]
			case modeLEN:
				x = uint32(len(pkt))
			case modeMSH:
				v, ok := load(ins.K, 1)
				if !ok {
					return 0
				}
				x = 4 * (v & 0xf)
			default:
				return 0
			}
		case clsST:
			mem[ins.K&0xf] = a
		case clsSTX:
			mem[ins.K&0xf] = x
		case clsALU:
			v := ins.K
			if ins.Op&srcX != 0 {
				v = x
			}
			switch ins.Op & 0xf0 {
			case aluADD:
				a += v
			case 0x10: // sub
				a -= v
			case 0x20: // mul
				a *= v
			case 0x30: // div
				if v == 0 {
					return 0
				}
				a /= v
			case 0x90: // mod
				if v == 0 {
					return 0
				}
				a %= v
			case aluOR:
				a |= v
			case aluAND:
				a &= v
			case aluXOR:
				a ^= v
			case aluLSH:
				a <<= v
			case aluRSH:
				a >>= v
			case aluNEG:
				a = -a
			default:
				return 0
			}
		case clsJMP:
			if ins.Op&0xf0 == jmpJA {
				pc += int(ins.K)
				continue
			}
			v := ins.K
			if ins.Op&srcX != 0 {
				v = x
			}
			var cond bool
			switch ins.Op & 0xf0 {
			case jmpJEQ:
				cond = a == v
			case jmpJGT:
				cond = a > v
			case jmpJGE:
				cond = a >= v
			case 0x40: // jset
				cond = a&v != 0
			default:
				return 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case clsRET:
			if ins.Op&0x18 == 0x10 { // BPF_A
				return a
			}
			return ins.K
		case clsMISC:
			if ins.Op&0xf8 == miscTXA {
				a = x
			} else {
				x = a
			}
		}
	}
	return 0
}
