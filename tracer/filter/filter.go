package filter

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/bpf"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// Link types (DLT_*) as libpcap's compiler knows them on Linux. Note that
// DLT_RAW is 12 here: LINKTYPE_RAW (101, gopacket's layers.LinkTypeRaw) is
// the number written in capture files, and pcap_open_dead rejects it.
const (
	dltEN10MB = 1
	dltRaw    = 12
)

// family is a set of hardware types whose frames start with the same
// link-layer header, so that one libpcap program serves them all.
type family uint8

const (
	famNone family = iota
	famEthernet
	famRawIP
	numFamilies
)

var families = [numFamilies]struct {
	name    string
	dlt     int
	hatypes []uint16 // ARPHRD_* values
}{
	famEthernet: {"Ethernet", dltEN10MB, []uint16{
		1,   // ARPHRD_ETHER: veth, bridges, NICs, tap
		772, // ARPHRD_LOOPBACK: lo has an all-zero Ethernet header
	}},
	famRawIP: {"raw IP", dltRaw, []uint16{
		0xfffe, // ARPHRD_NONE: tun, WireGuard
		519,    // ARPHRD_RAWIP
		768,    // ARPHRD_TUNNEL: ipip
		769,    // ARPHRD_TUNNEL6: ip6tnl
		776,    // ARPHRD_SIT
		778,    // ARPHRD_IPGRE: point-to-point GRE
	}},
}

func familyOf(hatype uint16) family {
	for f := famEthernet; f < numFamilies; f++ {
		for _, h := range families[f].hatypes {
			if h == hatype {
				return f
			}
		}
	}
	return famNone
}

// Program is a compiled filter for a socket whose frames mix link types.
// It is immutable and safe for concurrent use.
type Program struct {
	expr        string
	insns       []afpacket.Instruction
	vms         [numFamilies]*bpf.VM // nil: the family drops every frame
	unsupported []error
}

// Compile compiles expr with libpcap's compiler for every link type family
// and stitches the result into one program. snaplen is what the program
// returns for accepted frames; 0 or less means afpacket.DefaultSnapLen. An
// empty or all-space expr returns (nil, nil): no filter.
//
// A family the expression cannot be compiled for (ether host on raw IP, vlan
// on raw IP) drops all its frames; Unsupported says which and why. If the
// expression compiles for no family, the error carries libpcap's message.
func Compile(expr string, snaplen int) (*Program, error) {
	return compile(expr, snaplen, false)
}

// CompileAny is Compile for a socket on all devices ("any"). It differs in
// one thing: tcpdump -i any filters on cooked sockets, where the kernel has
// removed the link-layer header before the filter runs, so there `len`
// (greater, less, len) is the length from the network header on. Our
// socket keeps the Ethernet header; CompileAny subtracts it, so that
// `greater 240` keeps what tcpdump -i any keeps. Match is unchanged: files
// hold whole frames, as tcpdump -r sees them.
func CompileAny(expr string, snaplen int) (*Program, error) {
	return compile(expr, snaplen, true)
}

func compile(expr string, snaplen int, anyLen bool) (*Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	if snaplen <= 0 {
		snaplen = afpacket.DefaultSnapLen
	}
	p := &Program{expr: expr}
	var subs [numFamilies][]afpacket.Instruction
	var errs [numFamilies]error
	compiled := false
	for f := famEthernet; f < numFamilies; f++ {
		subs[f], errs[f] = compileDLT(families[f].dlt, snaplen, expr)
		if errs[f] != nil {
			continue
		}
		compiled = true
		vm, err := matchVM(subs[f])
		if err != nil {
			return nil, fmt.Errorf("filter %q: %s program: %w", expr, families[f].name, err)
		}
		p.vms[f] = vm
	}
	if !compiled {
		eth, raw := errs[famEthernet], errs[famRawIP]
		if eth.Error() == raw.Error() {
			return nil, fmt.Errorf("filter %q: %w", expr, eth)
		}
		return nil, fmt.Errorf("filter %q: %w (for raw IP devices: %v)", expr, eth, raw)
	}
	for f := famEthernet; f < numFamilies; f++ {
		if errs[f] != nil {
			p.unsupported = append(p.unsupported, fmt.Errorf("%s devices (ARPHRD %v) drop every frame: %w", families[f].name, families[f].hatypes, errs[f]))
		}
	}
	insns, err := stitch(subs, usesVLAN(expr), anyLen)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	p.insns = insns
	return p, nil
}

// stitch builds the program the kernel runs: a dispatcher on the hardware
// type, then one sub-program per family. vlan adds, for Ethernet, a second
// copy of the sub-program for frames whose tag the kernel stripped.
func stitch(subs [numFamilies][]afpacket.Instruction, vlan, anyLen bool) ([]afpacket.Instruction, error) {
	a := &asm{}
	var entry [numFamilies]int
	a.stmt(opLoadAncillary, skfADHatype)
	for f := famEthernet; f < numFamilies; f++ {
		if subs[f] == nil {
			continue
		}
		entry[f] = a.label()
		for _, h := range families[f].hatypes {
			next := a.label()
			a.jump(clsJMP|jmpJEQ|srcK, uint32(h), entry[f], next)
			a.mark(next)
		}
	}
	a.stmt(opRetK, 0) // a link type no family knows: drop
	verbatim := func(ins afpacket.Instruction) error { a.stmt(ins.Op, ins.K); return nil }
	for f := famEthernet; f < numFamilies; f++ {
		if subs[f] == nil {
			continue
		}
		a.mark(entry[f])
		plainRewrite := verbatim
		if f == famEthernet && anyLen {
			plainRewrite = networkLen(a, newScratch(subs[f]))
		}
		if f == famEthernet && vlan {
			plain, tagged := a.label(), a.label()
			a.stmt(opLoadAncillary, skfADVLANPresent)
			a.jump(clsJMP|jmpJEQ|srcK, 1, tagged, plain)
			a.mark(plain)
			resetRegs(a)
			if err := a.program(subs[f], plainRewrite); err != nil {
				return nil, fmt.Errorf("%s program: %w", families[f].name, err)
			}
			a.mark(tagged)
			resetRegs(a)
			if err := emitTagged(a, subs[f]); err != nil {
				return nil, fmt.Errorf("%s program for VLAN-stripped frames: %w", families[f].name, err)
			}
			continue
		}
		resetRegs(a)
		if err := a.program(subs[f], plainRewrite); err != nil {
			return nil, fmt.Errorf("%s program: %w", families[f].name, err)
		}
	}
	return a.link()
}

// etherHeaderLen is what CompileAny takes off `len` on Ethernet devices.
const etherHeaderLen = 14

// networkLen rewrites the loads of the packet length to the length from
// the network header on (see CompileAny).
func networkLen(a *asm, mem *scratch) func(afpacket.Instruction) error {
	return func(ins afpacket.Instruction) error {
		switch ins.Op {
		case clsLD | sizeW | modeLEN:
			a.stmt(ins.Op, ins.K)
			a.stmt(clsALU|aluSUB|srcK, etherHeaderLen)
		case clsLDX | sizeW | modeLEN:
			c, err := mem.take()
			if err != nil {
				return err
			}
			a.stmt(clsST, c)
			a.stmt(clsLD|sizeW|modeLEN, 0)
			a.stmt(clsALU|aluSUB|srcK, etherHeaderLen)
			a.stmt(clsMISC|miscTAX, 0)
			a.stmt(clsLD|modeMEM, c)
		default:
			a.stmt(ins.Op, ins.K)
		}
		return nil
	}
}

// resetRegs gives a sub-program the zero A and X it would start with alone.
func resetRegs(a *asm) {
	a.stmt(clsLD|sizeW|modeIMM, 0)
	a.stmt(clsLDX|sizeW|modeIMM, 0)
}

// matchVM prepares a family's program for golang.org/x/net/bpf's VM, which
// lacks neg and Linux ancillary loads: neg becomes xor and add, an ancillary
// load (inbound, outbound) becomes "ret #0", so frames that reach it do not
// match, and ldx #len goes through a scratch cell.
func matchVM(prog []afpacket.Instruction) (*bpf.VM, error) {
	a := &asm{}
	mem := newScratch(prog)
	err := a.program(prog, func(ins afpacket.Instruction) error {
		switch {
		case ins.Op == clsALU|aluNEG:
			a.stmt(clsALU|aluXOR|srcK, 0xffffffff)
			a.stmt(clsALU|aluADD|srcK, 1)
		case class(ins.Op) == clsLD && ins.Op&0xe0 == modeABS && ins.K >= skfADOff:
			a.stmt(opRetK, 0)
		case ins.Op == clsLDX|sizeW|modeLEN:
			c, err := mem.take()
			if err != nil {
				return err
			}
			a.stmt(clsST, c)
			a.stmt(clsLD|sizeW|modeLEN, 0)
			a.stmt(clsMISC|miscTAX, 0)
			a.stmt(clsLD|modeMEM, c)
		default:
			raw := bpf.RawInstruction{Op: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
			if _, unknown := raw.Disassemble().(bpf.RawInstruction); unknown {
				a.stmt(opRetK, 0)
			} else {
				a.stmt(ins.Op, ins.K)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	code, err := a.link()
	if err != nil {
		return nil, err
	}
	raw := make([]bpf.RawInstruction, len(code))
	for i, ins := range code {
		raw[i] = bpf.RawInstruction{Op: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, errors.New("golang.org/x/net/bpf cannot decode the program")
	}
	return bpf.NewVM(insns)
}

// Instructions returns the program, ready for afpacket.Config.Filter. A nil
// Program returns nil: no filter.
func (p *Program) Instructions() []afpacket.Instruction {
	if p == nil {
		return nil
	}
	out := make([]afpacket.Instruction, len(p.insns))
	copy(out, p.insns)
	return out
}

// Expr returns the expression the program was compiled from.
func (p *Program) Expr() string {
	if p == nil {
		return ""
	}
	return p.expr
}

// Unsupported returns one error per link type family the expression could
// not be compiled for, with libpcap's reason; the program drops every frame
// of those families. It is empty when the expression applies to all.
func (p *Program) Unsupported() []error {
	if p == nil {
		return nil
	}
	return append([]error(nil), p.unsupported...)
}

// Match reports whether the program keeps frame, a frame of a device with
// hardware type hatype as a capture file holds it (a VLAN tag, if any, in
// the frame). It runs libpcap's program for hatype's family in
// golang.org/x/net/bpf's VM; a hatype of no family never matches, nor does a
// frame that reaches a Linux ancillary load (inbound, outbound). A nil
// Program matches every frame. Match does not allocate or retain frame.
func (p *Program) Match(hatype uint16, frame []byte) bool {
	if p == nil {
		return true
	}
	vm := p.vms[familyOf(hatype)]
	if vm == nil {
		return false
	}
	n, err := vm.Run(frame)
	return err == nil && n > 0
}
