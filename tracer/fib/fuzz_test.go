package fib

import (
	"net/netip"
	"testing"
)

// FuzzLookup builds a snapshot from the fuzzer's bytes (routes and rules of
// every type and selector over host()'s devices) and asks it a question
// the bytes also choose. The model must never panic, must terminate (goto
// loops cannot happen: a goto only jumps forward), and must give a
// consistent answer.
func FuzzLookup(f *testing.F) {
	f.Add([]byte{10, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{172, 17, 0, 1, 10, 0, 0, 9, 3, 0, 7, 0x10, 1, 24, 10, 0, 0, 0, 6, 100, 2, 8, 1, 0})
	f.Add([]byte{0xfd, 0, 0, 2, 1, 2, 3, 4, 2, 2, 0, 0, 9, 0, 0, 0, 0, 0, 2, 1, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		next := func() byte {
			if len(b) == 0 {
				return 0
			}
			c := b[0]
			b = b[1:]
			return c
		}
		a4 := func() netip.Addr { return netip.AddrFrom4([4]byte{next(), next(), next(), next()}) }
		s := host()
		v6 := false
		q := Query{Dst: a4()}
		if q.Dst.As4()[0] == 0xfd {
			v6 = true
			var x [16]byte
			x[0], x[1], x[15] = 0xfd, 0, next()
			q.Dst = netip.AddrFrom16(x)
		}
		if src := a4(); src.As4()[0] != 0 && !v6 {
			q.Src = src
		}
		q.Iif, q.Oif = int(next()%5), int(next()%5)
		q.Mark, q.Tos, q.Proto = uint32(next()%4), next(), next()%18
		q.Dport = uint16(next())
		for len(b) > 6 {
			kind := next() % 4
			plen := int(next() % 33)
			dst, _ := a4().Prefix(plen)
			if v6 {
				var x [16]byte
				x[0], x[15] = 0xfd, dst.Addr().As4()[3]
				dst = netip.PrefixFrom(netip.AddrFrom16(x), 96+plen).Masked()
			}
			table := []uint32{TableMain, 100, 101, TableLocal}[next()%4]
			switch kind {
			case 0, 1:
				typ := Type(1 + next()%9)
				r := Route{Table: table, Type: typ, Dst: dst, Tos: next() & 0x1c, Metric: uint32(next())}
				if !typ.Reject() && typ != Throw {
					r.Nexthops = []Nexthop{{Ifindex: 1 + int(next()%4), Weight: 1, Linkdown: next()%2 == 0, Dead: next()%5 == 0}}
				}
				s.Routes = append(s.Routes, r)
			default:
				r := Rule{IPv6: v6, Priority: uint32(next()) * 100, Action: Action([]uint8{1, 2, 3, 6, 7, 8}[next()%6]),
					Table: table, Goto: uint32(next()) * 100, Mark: uint32(next() % 4), Mask: 0xff, Tos: next() & 0x1c,
					Invert: next()%7 == 0, SuppressPrefixlen: int(next()%34) - 1, SuppressIfgroup: -1}
				if next()%3 == 0 {
					r.Dst = dst
				}
				if next()%4 == 0 {
					r.Iif = []string{"lo", "eth0", "docker0", "nope"}[next()%4]
				}
				if r.Action == Goto && r.Goto <= r.Priority {
					r.Goto = r.Priority + 1 // the kernel refuses backward gotos
				}
				s.Rules = append(s.Rules, r)
			}
		}
		d := s.Lookup(q)
		if d.Errno == 0 && d.Type == NoRoute {
			t.Fatalf("no error but no route: %s", s.Summary(d))
		}
		if d.Errno == 0 && d.Type == Unicast && d.Dev == 0 {
			t.Fatalf("unicast without a device: %s", s.Summary(d))
		}
		if d.Route != nil && d.Route.Dst.IsValid() && !d.Route.Dst.Contains(q.Dst.Unmap()) {
			t.Fatalf("route %s does not cover %s", d.Route.Dst, q.Dst)
		}
		s.Write(discard{}, d)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
