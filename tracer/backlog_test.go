package tracer

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// eachRecord calls fn with each record of recs, in order, and returns the
// first error reading them.
func eachRecord(recs []byte, fn func(h *record.Header, data []byte)) error {
	rd := record.NewReader(recs)
	for {
		var h record.Header
		data, ok, err := rd.Next(&h)
		if err != nil || !ok {
			return err
		}
		fn(&h, data)
	}
}

func backlogBatch(i, size int) *Batch {
	return &Batch{Source: i % 3, Count: i, Records: bytes.Repeat([]byte{byte(i)}, size)}
}

// rawBatch is backlogBatch as a raw block: with i device ids and i%3 drops.
func rawBatch(i, size int) *Batch {
	b := backlogBatch(i, size)
	b.raw, b.Time = true, int64(1e9+i)
	for j := range i % 4 {
		b.ids = append(b.ids, rawID{int32(j + 1), uint32(i + j)})
	}
	for j := range i % 3 {
		b.drops = append(b.drops, rawDrops{j * 7, uint32(i)})
	}
	return b
}

// The backlog hands batches out in the order they came, with their
// records (and a raw block's device ids and drops), whether it kept them in
// memory or spooled them; the spool starts over once read back, and its
// file is gone from the directory.
func TestBacklogOrderAndSpool(t *testing.T) {
	dir := t.TempDir()
	bl := newBacklog(4096, dir, 1<<20)
	const n = 200
	reused := 0
	for i := range n {
		b := rawBatch(i, 1000+i)
		if bl.push(b) {
			reused++
			// The caller's to reuse: the backlog must have kept nothing.
			clear(b.Records)
			b.Count = -1
			clear(b.ids)
			clear(b.drops)
		}
	}
	if reused == 0 || reused > n-3 {
		t.Fatalf("%d of %d batches spooled: want most, but not those that fit in memory", reused, n)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool left a name in %s: %v", dir, ents)
	}
	bl.close()
	for i := range n {
		b, err := bl.pop(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			t.Fatalf("backlog ended after %d of %d batches", i, n)
		}
		want := rawBatch(i, 1000+i)
		if b.Count != i || b.Source != i%3 || b.Time != want.Time || !b.raw || !bytes.Equal(b.Records, want.Records) {
			t.Fatalf("batch %d came back as count %d, source %d, time %d, raw %v, %d bytes", i, b.Count, b.Source, b.Time, b.raw, len(b.Records))
		}
		if !slices.Equal(b.ids, want.ids) || !slices.Equal(b.drops, want.drops) {
			t.Fatalf("batch %d came back with device ids %v and drops %v, want %v and %v", i, b.ids, b.drops, want.ids, want.drops)
		}
	}
	if b, err := bl.pop(nil, nil); b != nil || err != nil {
		t.Fatalf("after the last batch: %v, %v", b, err)
	}
	st := bl.Stats()
	if st.SpooledBatches != uint64(reused) || st.PeakBytes < 100000 || bl.wOff != 0 {
		t.Errorf("stats %+v, spool at %d after catching up", st, bl.wOff)
	}
	bl.release()
}

// With memory and spool full, push waits until pop makes room.
func TestBacklogFullWaits(t *testing.T) {
	bl := newBacklog(1000, t.TempDir(), 2000)
	bl.push(backlogBatch(0, 1000)) // memory
	bl.push(backlogBatch(1, 1000)) // spool
	bl.push(backlogBatch(2, 1000)) // spool, now full
	var wg sync.WaitGroup
	pushed := make(chan struct{})
	wg.Go(func() {
		bl.push(backlogBatch(3, 1000))
		close(pushed)
	})
	select {
	case <-pushed:
		t.Fatal("push did not wait with memory and spool full")
	case <-time.After(100 * time.Millisecond):
	}
	for i := range 4 {
		b, err := bl.pop(nil, nil)
		if err != nil || b == nil || b.Count != i {
			t.Fatalf("pop %d: %v %v", i, b, err)
		}
	}
	wg.Wait()
	if st := bl.Stats(); st.Waits == 0 {
		t.Errorf("Waits = 0 after a push waited")
	}
	bl.release()
}

// Without a spool (size 0) the backlog only holds its memory's worth.
func TestBacklogNoSpool(t *testing.T) {
	bl := newBacklog(1000, t.TempDir(), 0)
	bl.push(backlogBatch(0, 1000))
	done := make(chan struct{})
	go func() { bl.push(backlogBatch(1, 10)); close(done) }()
	select {
	case <-done:
		t.Fatal("push did not wait without a spool")
	case <-time.After(100 * time.Millisecond):
	}
	bl.pop(nil, nil)
	<-done
	if bl.Stats().SpooledBatches != 0 {
		t.Error("spooled without a spool")
	}
}

// An unusable spool directory is not fatal: readers wait, as without one.
func TestBacklogBadSpoolDir(t *testing.T) {
	bl := newBacklog(10, "/nonexistent/dir", 1<<20)
	bl.push(backlogBatch(0, 100))
	done := make(chan struct{})
	go func() { bl.push(backlogBatch(1, 100)); close(done) }()
	time.Sleep(50 * time.Millisecond)
	if b, _ := bl.pop(nil, nil); b == nil || b.Count != 0 {
		t.Fatal("first batch lost")
	}
	<-done
	if b, _ := bl.pop(nil, nil); b == nil || b.Count != 1 {
		t.Fatal("second batch lost")
	}
	if bl.Stats().SpoolError == "" {
		t.Error("no error reported for the spool")
	}
}

// nearlyFull is set from three quarters of the spool written (of the
// memory allowance without a spool) and cleared once the spool is read
// back empty (memory drops below three quarters); halfFull likewise from
// half. The backlog counts the frames and bytes pushed, for the rate.
func TestBacklogGauges(t *testing.T) {
	check := func(t *testing.T, bl *backlog, when string, nearly, half bool) {
		t.Helper()
		if got := bl.nearlyFull.Load(); got != nearly {
			t.Fatalf("%s: nearlyFull %v, want %v (spool at %d, memory %d)", when, got, nearly, bl.wOff, bl.mem)
		}
		if got := bl.halfFull.Load(); got != half {
			t.Fatalf("%s: halfFull %v, want %v (spool at %d, memory %d)", when, got, half, bl.wOff, bl.mem)
		}
	}
	t.Run("spool", func(t *testing.T) {
		bl := newBacklog(1000, t.TempDir(), 4000)
		defer bl.release()
		for i, want := range []struct{ nearly, half bool }{{false, false}, {false, false}, {false, true}, {true, true}, {true, true}} {
			// 1000 in memory, then 1000 per push into the spool.
			bl.push(backlogBatch(i, 1000))
			check(t, bl, fmt.Sprintf("after %d KB pushed", i+1), want.nearly, want.half)
		}
		if f, b := bl.frames.Load(), bl.bytes.Load(); f != 0+1+2+3+4 || b != 5000 {
			t.Fatalf("counted %d frames and %d bytes pushed, want 10 and 5000", f, b)
		}
		for i := range 5 {
			bl.pop(nil, nil)
			check(t, bl, fmt.Sprintf("after %d pops", i+1), i < 4, i < 4)
		}
	})
	t.Run("memory", func(t *testing.T) {
		bl := newBacklog(1000, "", 0)
		for i, want := range []struct{ nearly, half bool }{{false, false}, {false, true}, {true, true}} {
			bl.push(backlogBatch(i, 300))
			check(t, bl, fmt.Sprintf("after %d bytes", 300*(i+1)), want.nearly, want.half)
		}
		bl.pop(nil, nil)
		check(t, bl, "600 of 1000 bytes held", false, true)
		bl.pop(nil, nil)
		check(t, bl, "300 of 1000 bytes held", false, false)
	})
}
