package tracer

import (
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestReaderAllocs: once started, a reader takes a ring block and queues it
// as a batch without allocating, taken raw or frame by frame (with later
// copies trimmed), into the backlog's memory and into its spool. An
// allocation can start a collection, whose pauses stop the readers while
// the host is too busy to run the threads they wait for (Session.prepare).
func TestReaderAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		trim bool
	}{{"raw", false}, {"frame by frame", true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := lab.NewPair(t)
			s := openIn(t, l, "a", Options{Interfaces: []string{"va"}, SpoolDir: t.TempDir()}, nil)
			defer s.Close()
			defer s.backlog.release()
			if tc.trim {
				s.TrimLaterCopies(time.Second)
			}
			// One block per burst: the kernel hands a block over 10 ms
			// after its first frame. The ring has 32; the test reads 24.
			const bursts, size = 30, 200
			for i := range bursts {
				l.SendUDP("a", lab.PairB, 9, 0, numbered(50, size)...)
				if i < bursts-1 {
					time.Sleep(25 * time.Millisecond)
				}
			}
			time.Sleep(50 * time.Millisecond) // the last block retires
			so := s.order[0].socks[0]
			r := s.newReader(so)
			defer r.done()
			for range 3 { // the first blocks size the socket's scratch slices
				if err := r.block(); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			allocs := testing.AllocsPerRun(20, func() {
				if e := r.block(); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			st := s.backlog.Stats()
			if st.SpooledBatches == 0 || len(s.backlog.q)-s.backlog.spooled == 0 {
				t.Fatalf("backlog %+v, %d batches: the blocks did not go both to memory and to the spool", st, len(s.backlog.q))
			}
			if allocs != 0 {
				t.Errorf("%v allocations per ring block read, want 0", allocs)
			}
		})
	}
}
