package lab

import "testing"

// Addresses of the pair lab.
const (
	PairA = "10.200.7.1"
	PairB = "10.200.7.2"
)

// NewPair builds the smallest lab: namespaces "a" and "b" joined by a veth
// pair, va (PairA/24) in a and vb (PairB/24) in b.
func NewPair(t testing.TB) *Lab {
	t.Helper()
	l := New(t)
	l.AddNS("a")
	l.AddNS("b")
	l.Veth("a", "va", "b", "vb")
	l.Addr("a", "va", PairA+"/24")
	l.Addr("b", "vb", PairB+"/24")
	return l
}
