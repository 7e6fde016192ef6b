package correlate

import (
	"math/rand"
	"slices"
	"testing"
)

// fpIndex against a map of slices, with few distinct fingerprints that
// collide in the table, some with the same 32-bit slot hash, and removals
// out of order now and then.
func TestFPIndex(t *testing.T) {
	// inv·0x9e3779b97f4a7c15 = 1: fp and fp+inv hash alike (hash32)
	// unless the low half of fp's product is all ones.
	inv := uint64(0x9e3779b97f4a7c15)
	for range 6 {
		inv *= 2 - 0x9e3779b97f4a7c15*inv
	}
	rng := rand.New(rand.NewSource(1))
	var x fpIndex
	want := map[uint64][]int32{}
	type place struct {
		fp      uint64
		li, pos int32
	}
	where := map[int32]*place{}
	next := int32(0)
	fps := make([]uint64, 300)
	for k := range fps {
		fps[k] = rng.Uint64() &^ (1<<20 - 1) // same low bits, different homes
		if k%3 == 0 {
			fps[k] = uint64(k) << 58 // same home after the multiply's top bits… roughly
		}
		if k%3 == 1 {
			fps[k] = fps[k-1] + inv
			if hash32(fps[k]) != hash32(fps[k-1]) {
				t.Fatalf("%#x and %#x: hashes %#x and %#x, want one", fps[k-1], fps[k], hash32(fps[k-1]), hash32(fps[k]))
			}
		}
	}
	for step := 0; step < 200000; step++ {
		if rng.Intn(2) == 0 || len(where) == 0 {
			fp := fps[rng.Intn(len(fps))]
			li, pos := x.add(fp, fpEnt{first: int64(next), t: next})
			where[next] = &place{fp, li, pos}
			want[fp] = append(want[fp], next)
			next++
		} else {
			// Usually the oldest of a list, sometimes any.
			fp := fps[rng.Intn(len(fps))]
			l := want[fp]
			if len(l) == 0 {
				continue
			}
			k := 0
			if rng.Intn(5) == 0 {
				k = rng.Intn(len(l))
			}
			ti := l[k]
			p := where[ti]
			for _, e := range x.remove(p.fp, p.li, p.pos) {
				where[e.t].pos--
			}
			delete(where, ti)
			want[fp] = slices.Delete(l, k, k+1)
		}
		if step%1000 == 0 || step > 199000 {
			for _, fp := range fps {
				var got []int32
				for _, e := range x.list(fp) {
					got = append(got, e.t)
					if e.first != int64(e.t) {
						t.Fatalf("entry of %d holds %d", e.t, e.first)
					}
				}
				if !slices.Equal(got, want[fp]) {
					t.Fatalf("step %d: list of %x is %v, want %v", step, fp, got, want[fp])
				}
			}
			for ti, p := range where {
				if e := x.at(p.li, p.pos); e.t != ti {
					t.Fatalf("step %d: %d's position holds %d", step, ti, e.t)
				}
			}
		}
	}
	n := 0
	for _, l := range want {
		if len(l) > 0 {
			n++
		}
	}
	if x.used != n {
		t.Errorf("%d slots used, %d fingerprints", x.used, n)
	}
}

// The first 64 device and direction pairs get a bit, the others none, and
// a pair keeps its id.
func TestDevices(t *testing.T) {
	var d devices
	for round := 0; round < 3; round++ {
		for k := uint64(0); k < 1000; k++ {
			id := d.id(k * 257)
			if k < noBit && id != uint16(k) || k >= noBit && id != noBit || (bit(id) == 0) != (k >= noBit) {
				t.Fatalf("round %d: pair %d has id %d", round, k, id)
			}
		}
	}
}

// merge against a sort: batches in order, out of order and in between,
// taken from in the middle of a batch (forced releases) and between
// batches, with entries left waiting long enough to be compacted.
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var m merge
	var want []pending // waiting, unordered
	seq := uint64(0)
	popped, compacted := 0, 0
	take := func() {
		k := 0
		for j := range want {
			if want[j].before(&want[k]) {
				k = j
			}
		}
		if got := m.pop(); got != want[k].i {
			t.Fatalf("pop %d: got %d, want %d (%+v)", popped, got, want[k].i, want[k])
		}
		want = slices.Delete(want, k, k+1)
		popped++
	}
	for batch := 0; batch < 3000; batch++ {
		before := len(m.ents)
		m.start()
		if len(m.ents) < before && m.n > 0 {
			compacted++
		}
		n := rng.Intn(300)
		base := int64(batch) * 100
		order := rng.Intn(3)
		for k := 0; k < n; k++ {
			var at int64
			switch order {
			case 0:
				at = base + int64(k)
			case 1:
				at = base - int64(k)
			default:
				at = base + int64(rng.Intn(50))
			}
			e := pending{time: at, seq: seq, i: int32(seq)}
			seq++
			m.push(e)
			want = append(want, e)
			if rng.Intn(40) == 0 {
				take()
			}
		}
		if m.n != len(want) {
			t.Fatalf("n %d, want %d", m.n, len(want))
		}
		// Leave many waiting now and then.
		for k := rng.Intn(m.n + 1); k > 0 && batch%7 != 0; k-- {
			take()
		}
		if len(want) > 0 && m.min().time > base+1000 {
			t.Fatal("min is wrong")
		}
	}
	for len(want) > 0 {
		take()
	}
	if compacted == 0 {
		t.Error("never compacted")
	}
}
