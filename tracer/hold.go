package tracer

import (
	"runtime/debug"
	"time"
)

// Holding delivery back during a burst.
//
// Why: on a host whose CPUs the traffic keeps busy, the tracer's delivery
// (correlation, the plugin stream, the plugins) competes with the traffic
// even in the background. Measured on a 2-vCPU VM forwarding small UDP at
// its limit: with delivery running during the burst, forwarding was 0.91 ×
// what it was while tcpdump captured; with delivery held until the burst
// was over, 1.04 ×. A CPU that runs anything at all, even SCHED_IDLE work,
// slows its sibling's packet path (shared caches, memory bandwidth, SMT
// siblings on the hypervisor). The readers alone cost about what tcpdump
// costs: they copy ring blocks into the backlog, which spools them.
//
// So while the capture runs at a burst's rate, the backlog's mover holds
// batches back, and delivery catches up once the rate has been lower for
// 100 ms, the backlog
// is half full, or the hold has lasted its longest (--hold). Each burst
// is held once: a burst longer than the hold is delivered as it comes once
// the hold ends, so output never lags by more than the hold plus the
// catching up. Holding changes when output appears, never what it is:
// correlation runs on the kernel's timestamps, and its wall-clock ticks
// wait for an empty backlog.

// DefaultHold is the longest a burst holds delivery back by default.
const DefaultHold = 5 * time.Second

const (
	// burstFrames and burstBytes are the capture rates, per second, that
	// make a burst: at 50 000 frames a second delivery costs a tenth of a
	// CPU or more (about 2 µs a frame, all of it); 64 MiB a second is
	// bulk traffic's copies.
	burstFrames = 50000
	burstBytes  = 64 << 20
	// burstSample is how often the rate is measured; a burst is over
	// once the rate has stayed below for burstQuiet, so that a sender's
	// pause (or a busy host's scheduling) does not end it.
	burstSample = 20 * time.Millisecond
	burstQuiet  = 100 * time.Millisecond
)

// burstHold decides, batch by batch, whether the backlog's mover holds
// delivery back. It is the mover's alone.
type burstHold struct {
	max time.Duration // the longest hold; 0: never hold

	at            time.Time // the last sample
	frames, bytes uint64    // the backlog's counters at the last sample
	fast          time.Time // the last sample at a burst's rate
	since         time.Time // when the current hold began; zero: none
	spent         bool      // this burst had its hold

	holds int           // holds begun
	held  time.Duration // their total length
}

// hold reports whether the next batch waits, given the time, the number of
// frames and bytes pushed into the backlog so far, and whether holding is
// allowed at all (the backlog less than half full, the capture not
// stopping).
func (h *burstHold) hold(now time.Time, frames, bytes uint64, allowed bool) bool {
	if h.max <= 0 {
		return false
	}
	if d := now.Sub(h.at); d >= burstSample {
		s := d.Seconds()
		if float64(frames-h.frames) >= burstFrames*s || float64(bytes-h.bytes) >= burstBytes*s {
			h.fast = now
		}
		h.at, h.frames, h.bytes = now, frames, bytes
	}
	busy := h.busy(now)
	if !busy {
		h.spent = false // the burst is over: the next one may hold
	}
	if !h.since.IsZero() {
		if busy && allowed && now.Sub(h.since) < h.max {
			return true
		}
		h.end(now)
		return false
	}
	if busy && allowed && !h.spent {
		h.since = now
		h.holds++
		return true
	}
	return false
}

// end ends a hold, if one is on. A hold cut short while the burst goes on
// spends the burst's hold.
func (h *burstHold) end(now time.Time) {
	if h.since.IsZero() {
		return
	}
	h.held += now.Sub(h.since)
	h.since = time.Time{}
	h.spent = h.busy(now)
}

// busy reports whether a burst is on: the rate was a burst's less than
// burstQuiet ago.
func (h *burstHold) busy(now time.Time) bool {
	return !h.fast.IsZero() && now.Sub(h.fast) < burstQuiet
}

// collectorOff turns the Go collector off while a burst is held, and back
// on after it.
//
// Why: a collection stops the world twice, and a stop waits for every
// thread that runs Go code to reach a safe point, the ones at SCHED_IDLE
// too, which a host whose CPUs the traffic keeps busy does not run for
// hundreds of milliseconds (package internal/sched). The readers stop
// with the world, and the rings overflow. During a hold nothing allocates
// much: the readers nothing (Session.prepare), delivery is held. So a
// collection then would only start because the heap happened to sit at
// its goal; it can wait until the burst is over. The soft memory limit
// still applies while the collector is off.
type collectorOff struct {
	was int  // GOGC before
	set bool // off
}

func (c *collectorOff) off() {
	if !c.set {
		// Waits for a collection under way to finish: the mover, which
		// calls it, is holding anyway.
		c.was, c.set = debug.SetGCPercent(-1), true
	}
}

func (c *collectorOff) on() {
	if c.set {
		debug.SetGCPercent(c.was)
		c.set = false
	}
}
