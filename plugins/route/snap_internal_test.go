package route

import (
	"testing"

	"github.com/ifacetrace/ifacetrace/tracer/fib"
)

// A trace is judged against the snapshot current when it was seen: output
// lags the capture, so the newest snapshot may postdate it.
func TestSnapshotByTime(t *testing.T) {
	p := New()
	a, b, c, d := &fib.Snapshot{}, &fib.Snapshot{}, &fib.Snapshot{}, &fib.Snapshot{}
	p.addSnap(7, 10, a)
	p.addSnap(7, 20, b)
	for _, tc := range []struct {
		t    int64
		want *fib.Snapshot
	}{{5, a}, {10, a}, {15, a}, {20, b}, {99, b}} {
		if got := p.snapAt(7, tc.t); got != tc.want {
			t.Errorf("at %d: got the wrong snapshot", tc.t)
		}
	}
	p.addSnap(7, 30, c)
	p.addSnap(7, 40, d) // a falls out
	if got := p.snapAt(7, 5); got != b {
		t.Error("before every kept snapshot: want the oldest kept")
	}
	if p.snapAt(8, 5) != nil {
		t.Error("unknown namespace: want nil")
	}
}
