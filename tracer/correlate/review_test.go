package correlate

import (
	"math"
	"testing"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

func addOne(t *testing.T, c *Correlator, src int, iface uint32, dir record.Direction, at int64, data []byte, now int64) {
	t.Helper()
	if err := c.Add(src, record.Append(nil, record.Header{Iface: iface, Dir: dir, TimeNanos: at, HAType: arphrdEther, OrigLen: uint32(len(data))}, data), now); err != nil {
		t.Fatal(err)
	}
}

// A copy of packet P1 that arrives after P1's trace closed joins the trace
// of an identical later packet P2 started 300ms after it: two packets merged.
func TestLateCopyNeverJoinsALaterPacket(t *testing.T) {
	c := New(Config{})
	pkt := udp6(t, 64, "same")
	// P1 on dev 1 out at T, from source 0.
	addOne(t, c, 0, 1, record.DirOut, t0, pkt, t0)
	c.Advance(t0 + 200*ms) // source 0 idle: P1 processed and closed
	// P2 (identical, e.g. retransmission over IPv6) on dev 1 out at T+300ms.
	addOne(t, c, 0, 1, record.DirOut, t0+300*ms, pkt, t0+300*ms)
	c.Advance(t0 + 360*ms)
	// P1's copy on dev 2 in (T+10µs) from a lagging source 1 arrives now.
	addOne(t, c, 1, 2, record.DirIn, t0+10*us, pkt, t0+361*ms)
	c.Advance(t0 + 362*ms)
	c.Flush()
	_, traces := drain(t, c)
	for _, tr := range traces {
		if span := tr.Hops[len(tr.Hops)-1].TimeNanos - tr.Hops[0].TimeNanos; span > int64(c.Config().Window) {
			t.Errorf("trace %d spans %v > window: hops %+v (late=%d)", tr.ID, span, tr.Hops, c.Stats().Late)
		}
	}
}

// After Flush the mark is MaxInt64: every later sighting counts as late.
func TestNotLateAfterFlush(t *testing.T) {
	c := New(Config{})
	pkt := udp6(t, 64, "a")
	addOne(t, c, 0, 1, record.DirOut, t0, pkt, t0)
	c.Flush()
	drain(t, c)
	addOne(t, c, 0, 1, record.DirOut, t0+1*ms, pkt, t0+1*ms)
	if l := c.Stats().Late; l != 0 {
		t.Errorf("Late=%d after Flush then an in-time Add", l)
	}
}

// A timestamp near MinInt64 sets the mark there; mark-window overflows and
// every ordinary sighting afterwards counts as late.
func TestMarkDoesNotOverflow(t *testing.T) {
	c := New(Config{})
	addOne(t, c, 0, 1, record.DirOut, math.MinInt64+10, udp6(t, 64, "a"), t0)
	c.Advance(t0)
	addOne(t, c, 0, 1, record.DirOut, t0, udp6(t, 64, "b"), t0)
	if l := c.Stats().Late; l != 0 {
		t.Errorf("Late=%d: mark-window overflowed", l)
	}
}

// match: sg.time - t.first overflows for far apart times: a sighting at
// t0 joins a trace whose first copy is at MinInt64+10.
func TestFarApartTimesDoNotMatch(t *testing.T) {
	c := New(Config{})
	pkt := udp6(t, 64, "a")
	addOne(t, c, 0, 1, record.DirOut, math.MinInt64+10, pkt, t0)
	addOne(t, c, 0, 2, record.DirIn, t0, pkt, t0)
	c.Flush()
	_, traces := drain(t, c)
	if len(traces) != 2 {
		t.Errorf("%d traces, want 2: %+v", len(traces), traces[0].Hops)
	}
}

// A copy 5ms after the first, arriving after the trace closed, is split off
// but not counted as late.
func TestLateCopyIsCounted(t *testing.T) {
	c := New(Config{})
	pkt := udp6(t, 64, "x")
	addOne(t, c, 0, 1, record.DirOut, t0, pkt, t0)
	c.Advance(t0 + 153*ms) // source 0 idle for >= lag: mark = t0+103ms, trace closed
	addOne(t, c, 1, 2, record.DirIn, t0+5*ms, pkt, t0+153*ms)
	c.Flush()
	_, traces := drain(t, c)
	if len(traces) == 2 && c.Stats().Late == 0 {
		t.Errorf("copy split into its own trace (%d traces) but Late=0", len(traces))
	}
}

// Start-up backlog: source 0's reader delivers its ring backlog (200ms of
// frames, captured while plugins started) before source 1 delivers its
// first batch. Announced with AddSource, source 1 is waited for.
func TestAnnouncedSourceIsWaitedFor(t *testing.T) {
	c := New(Config{})
	now := t0 + 1000*ms // wall clock at Run start; frames are older
	// The session announces its sockets before their first batches.
	c.AddSource(0, now)
	c.AddSource(1, now)
	var pkts [][]byte
	for i := 0; i < 20; i++ {
		pkts = append(pkts, echo4(t, "10.200.1.2", "10.200.2.2", 64, uint16(100+i), 7, uint16(i), macA))
	}
	for i, p := range pkts { // one batch per 10ms block
		addOne(t, c, 0, 1, record.DirOut, t0+int64(i)*10*ms, p, now)
		c.Advance(now)
	}
	var b []byte
	for i, p := range pkts {
		b = record.Append(b, record.Header{Iface: 2, Dir: record.DirIn, TimeNanos: t0 + int64(i)*10*ms + 20*us, HAType: arphrdEther}, p)
	}
	if err := c.Add(1, b, now+1*ms); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	_, traces := drain(t, c)
	if len(traces) != 20 {
		t.Errorf("%d traces for 20 packets seen twice each; Late=%d", len(traces), c.Stats().Late)
	}
}
