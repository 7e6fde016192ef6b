package sdk

import (
	"net/netip"
	"testing"
	"unsafe"
)

func TestStrings(t *testing.T) {
	var s Strings
	a, b := s.Text([]byte("veth-c in → br0 in")), s.Text([]byte("veth-c in → br0 in"))
	if a != "veth-c in → br0 in" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("Text gave %q and %q, not one string", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { s.Text([]byte("veth-c in → br0 in")) }); n != 0 {
		t.Errorf("Text of known bytes allocates %v times", n)
	}
	if got := s.Addr(netip.MustParseAddr("fd00:200::1")); got != "fd00:200::1" {
		t.Errorf("Addr = %q", got)
	}
	if got := s.Addr(netip.Addr{}); got != "" {
		t.Errorf("Addr of no address = %q", got)
	}
	for i := range stringsMax + 10 { // it forgets rather than grows
		s.Text([]byte{byte(i), byte(i >> 8)})
	}
	if len(s.texts) > stringsMax {
		t.Errorf("%d texts kept, max %d", len(s.texts), stringsMax)
	}
}
