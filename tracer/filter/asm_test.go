package filter

import (
	"strings"
	"testing"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// TestLinkLongJumps checks that conditional jumps further than jt/jf can
// reach go through ja, for the true target, the false target and both.
func TestLinkLongJumps(t *testing.T) {
	const filler = 300
	for _, tc := range []struct {
		name          string
		farT, farF    bool
		want0, wantOn uint32 // result for frame {0} and frame {1}
	}{
		{"near", false, false, 2, 1},
		{"far true", true, false, 2, 1},
		{"far false", false, true, 2, 1},
		{"both far", true, true, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &asm{}
			yes, no := a.label(), a.label()
			a.stmt(clsLD|sizeB|modeABS, 0)
			a.jump(clsJMP|jmpJEQ|srcK, 1, yes, no)
			pad := func(far bool) {
				if far {
					for i := 0; i < filler; i++ {
						a.stmt(clsALU|aluADD|srcK, 1)
					}
				}
			}
			// Targets are laid out in order: filler, yes, filler, no.
			pad(tc.farT)
			a.mark(yes)
			a.stmt(opRetK, 1)
			pad(tc.farF && !tc.farT)
			a.mark(no)
			a.stmt(opRetK, 2)
			prog, err := a.link()
			if err != nil {
				t.Fatal(err)
			}
			if got := runKernel(prog, skbMeta{}, []byte{0}); got != tc.want0 {
				t.Errorf("frame {0}: got %d, want %d", got, tc.want0)
			}
			if got := runKernel(prog, skbMeta{}, []byte{1}); got != tc.wantOn {
				t.Errorf("frame {1}: got %d, want %d", got, tc.wantOn)
			}
			var ja int
			for _, ins := range prog {
				if ins.Op == clsJMP|jmpJA {
					ja++
				}
			}
			wantJA := 0
			if tc.farT {
				wantJA++
			}
			if tc.farF || tc.farT { // "no" lies beyond the filler whenever yes does
				wantJA++
			}
			if tc.name == "near" {
				wantJA = 0
			}
			if ja != wantJA {
				t.Errorf("%d ja instructions, want %d", ja, wantJA)
			}
		})
	}
}

func TestProgramRejectsJumpPastEnd(t *testing.T) {
	a := &asm{}
	err := a.program([]afpacket.Instruction{
		{Op: clsJMP | jmpJEQ | srcK, Jt: 0, Jf: 2},
		{Op: opRetK},
	}, func(ins afpacket.Instruction) error { a.stmt(ins.Op, ins.K); return nil })
	if err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("got %v, want a jump-past-the-end error", err)
	}
}

func TestUsesVLAN(t *testing.T) {
	for expr, want := range map[string]bool{
		"vlan":                     true,
		"vlan 10 and ip":           true,
		"(vlan)":                   true,
		"not vlan":                 true,
		"ip and vlan-":             true,
		"host vlan10":              false,
		"host vlan-gw":             false,
		"host gw.vlan.example.org": false,
		"udp port 9":               false,
		"VLAN":                     false,
	} {
		if got := usesVLAN(expr); got != want {
			t.Errorf("usesVLAN(%q) = %v, want %v", expr, got, want)
		}
	}
}

// TestLinkTooLong: a program beyond the kernel's 4096 instructions is an
// error at Compile, not at attach time.
func TestLinkTooLong(t *testing.T) {
	a := &asm{}
	for i := 0; i < maxInsns; i++ {
		a.stmt(clsALU|aluADD|srcK, 1)
	}
	a.stmt(opRetK, 0)
	if _, err := a.link(); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("got %v, want an error naming the kernel's 4096-instruction limit", err)
	}
}
