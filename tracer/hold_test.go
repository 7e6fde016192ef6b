package tracer

import (
	"testing"
	"time"
)

// holdRun drives a burstHold through a capture described phase by phase,
// asking it every 5 ms as the mover would while batches wait, and returns
// for each phase how long it held.
type holdPhase struct {
	d       time.Duration
	fps     float64 // frames a second pushed
	bps     float64 // bytes a second pushed
	allowed bool
}

func holdRun(h *burstHold, phases []holdPhase) []time.Duration {
	const step = 5 * time.Millisecond
	now := time.Unix(1000, 0)
	var frames, bytes float64
	held := make([]time.Duration, len(phases))
	for i, p := range phases {
		for t := time.Duration(0); t < p.d; t += step {
			frames += p.fps * step.Seconds()
			bytes += p.bps * step.Seconds()
			now = now.Add(step)
			if h.hold(now, uint64(frames), uint64(bytes), p.allowed) {
				held[i] += step
			}
		}
	}
	return held
}

func TestBurstHold(t *testing.T) {
	const slack = 2 * burstSample // detecting a change takes up to a sample or two
	near := func(got, want time.Duration) bool { return got >= want-slack && got <= want+slack }
	t.Run("quiet traffic is never held", func(t *testing.T) {
		h := &burstHold{max: 5 * time.Second}
		held := holdRun(h, []holdPhase{{2 * time.Second, burstFrames / 2, burstBytes / 2, true}})
		if held[0] != 0 || h.holds != 0 {
			t.Fatalf("held %v in %d holds at half a burst's rate", held[0], h.holds)
		}
	})
	t.Run("a burst is held until it ends", func(t *testing.T) {
		h := &burstHold{max: 5 * time.Second}
		held := holdRun(h, []holdPhase{
			{time.Second, 100, 0, true},
			{2 * time.Second, 4 * burstFrames, 0, true},
			{time.Second, 100, 0, true},
		})
		if held[0] != 0 || !near(held[1], 2*time.Second) || !near(held[2], burstQuiet) {
			t.Fatalf("held %v before, %v during and %v after a 2 s burst: want none, 2s, and the %v it takes to see the end", held[0], held[1], held[2], burstQuiet)
		}
		if h.holds != 1 || !h.since.IsZero() || !near(h.held, 2*time.Second+burstQuiet) {
			t.Fatalf("%d holds, %v in all, holding since %v", h.holds, h.held, h.since)
		}
	})
	t.Run("a pause does not end a burst", func(t *testing.T) {
		h := &burstHold{max: 5 * time.Second}
		held := holdRun(h, []holdPhase{
			{time.Second, 4 * burstFrames, 0, true},
			{burstQuiet / 2, 0, 0, true},
			{time.Second, 4 * burstFrames, 0, true},
		})
		if all := held[0] + held[1] + held[2]; held[1] != burstQuiet/2 || h.holds != 1 || !near(all, 2*time.Second+burstQuiet/2) {
			t.Fatalf("held %v of a %v pause, %v in %d holds: want one hold through the pause", held[1], burstQuiet/2, all, h.holds)
		}
	})
	t.Run("bytes alone make a burst", func(t *testing.T) {
		h := &burstHold{max: 5 * time.Second}
		held := holdRun(h, []holdPhase{{time.Second, 1000, 2 * burstBytes, true}})
		if !near(held[0], time.Second) {
			t.Fatalf("held %v of a second of %d MiB/s", held[0], 2*burstBytes>>20)
		}
	})
	t.Run("a long burst is held once, for the longest hold", func(t *testing.T) {
		h := &burstHold{max: time.Second}
		held := holdRun(h, []holdPhase{
			{3 * time.Second, 4 * burstFrames, 0, true},
			{3 * burstQuiet, 0, 0, true},
			{3 * time.Second, 4 * burstFrames, 0, true},
		})
		if !near(held[0], time.Second) || held[1] != 0 || !near(held[2], time.Second) || h.holds != 2 {
			t.Fatalf("held %v, %v, %v in %d holds: want the longest hold of 1s in each burst", held[0], held[1], held[2], h.holds)
		}
	})
	t.Run("a half full backlog ends the hold for the burst", func(t *testing.T) {
		h := &burstHold{max: 5 * time.Second}
		held := holdRun(h, []holdPhase{
			{time.Second, 4 * burstFrames, 0, true},
			{100 * time.Millisecond, 4 * burstFrames, 0, false},
			{time.Second, 4 * burstFrames, 0, true},
		})
		if !near(held[0], time.Second) || held[1] != 0 || held[2] != 0 || h.holds != 1 {
			t.Fatalf("held %v, %v, %v in %d holds: want the first second only", held[0], held[1], held[2], h.holds)
		}
	})
	t.Run("no hold", func(t *testing.T) {
		h := &burstHold{}
		held := holdRun(h, []holdPhase{{time.Second, 4 * burstFrames, 4 * burstBytes, true}})
		if held[0] != 0 || h.holds != 0 {
			t.Fatalf("held %v with the longest hold 0", held[0])
		}
	})
}
