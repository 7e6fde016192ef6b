package conntrack

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Tuple is one direction of a connection as conntrack keys it. For ICMP
// and ICMPv6 echo both ports are the echo identifier, as in traces.
type Tuple struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Reverse is the tuple of the other direction.
func (t Tuple) Reverse() Tuple {
	return Tuple{Proto: t.Proto, Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort}
}

// Entry is one connection.
type Entry struct {
	Orig, Reply Tuple
	Zone        uint16
	Mark        uint32
	Status      uint32 // IPS_* bits
	TCPState    uint8  // TCP_CONNTRACK_*, for TCP
	Destroyed   bool   // the kernel has let it go
}

// IPS_* status bits (uapi/linux/netfilter/nf_conntrack_common.h).
const (
	StatusSeenReply = 1 << 1
	StatusAssured   = 1 << 2
	StatusConfirmed = 1 << 3
	StatusSrcNAT    = 1 << 4
	StatusDstNAT    = 1 << 5
)

// StatusNames are the status bits worth showing: "SEEN_REPLY", "ASSURED",
// "CONFIRMED", "SRC_NAT", "DST_NAT", "DYING".
func (e *Entry) StatusNames() []string {
	var out []string
	for _, b := range []struct {
		bit  uint32
		name string
	}{{StatusSeenReply, "SEEN_REPLY"}, {StatusAssured, "ASSURED"}, {StatusConfirmed, "CONFIRMED"},
		{StatusSrcNAT, "SRC_NAT"}, {StatusDstNAT, "DST_NAT"}, {1 << 9, "DYING"}} {
		if e.Status&b.bit != 0 {
			out = append(out, b.name)
		}
	}
	return out
}

// State is the TCP state as conntrack(8) prints it ("ESTABLISHED", …),
// "" for other protocols.
func (e *Entry) State() string {
	if e.Orig.Proto != 6 {
		return ""
	}
	states := []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
	if int(e.TCPState) < len(states) {
		return states[e.TCPState]
	}
	return "UNKNOWN"
}

// String is "zone 0, mark 0x0, ESTABLISHED, ASSURED SRC_NAT".
func (e *Entry) String() string {
	var b strings.Builder
	b.WriteString("zone ")
	b.WriteString(strconv.FormatUint(uint64(e.Zone), 10))
	b.WriteString(", mark 0x")
	b.WriteString(strconv.FormatUint(uint64(e.Mark), 16))
	if s := e.State(); s != "" {
		b.WriteString(", ")
		b.WriteString(s)
	}
	if names := e.StatusNames(); len(names) > 0 {
		b.WriteString(", ")
		b.WriteString(strings.Join(names, " "))
	}
	if e.Destroyed {
		b.WriteString(", destroyed")
	}
	return b.String()
}

// Table holds a namespace's recent connections, by both tuples. It is safe
// for concurrent use: the watcher fills it while the pipeline reads. Zones
// are not part of the key: packets do not say theirs, so of two entries
// with one tuple in different zones the newer is found.
type Table struct {
	mu      sync.Mutex
	byTuple map[Tuple]*Entry
	ring    []*Entry // insertion order, for eviction
	next    int
	max     int
	events  uint64
	err     error
}

// NewTable returns a table of at most max entries (default 65536).
func NewTable(max int) *Table {
	if max <= 0 {
		max = 1 << 16
	}
	return &Table{byTuple: map[Tuple]*Entry{}, max: max}
}

// Put records or updates e (found by its original tuple).
func (t *Table) Put(e Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events++
	if old := t.byTuple[e.Orig]; old != nil && old.Orig == e.Orig {
		// An update: the reply tuple may have been NATed since NEW.
		if old.Reply != e.Reply {
			if t.byTuple[old.Reply] == old {
				delete(t.byTuple, old.Reply)
			}
			t.byTuple[e.Reply] = old
		}
		destroyed := old.Destroyed || e.Destroyed
		*old = e
		old.Destroyed = destroyed
		return
	}
	n := &Entry{}
	*n = e
	if len(t.ring) < t.max {
		t.ring = append(t.ring, n)
	} else {
		old := t.ring[t.next]
		if t.byTuple[old.Orig] == old {
			delete(t.byTuple, old.Orig)
		}
		if t.byTuple[old.Reply] == old {
			delete(t.byTuple, old.Reply)
		}
		t.ring[t.next] = n
		t.next = (t.next + 1) % t.max
	}
	t.byTuple[n.Orig] = n
	t.byTuple[n.Reply] = n
}

// Destroy marks the connection with original tuple orig as gone; it stays
// for lookups until evicted.
func (t *Table) Destroy(orig Tuple) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events++
	if e := t.byTuple[orig]; e != nil && e.Orig == orig {
		e.Destroyed = true
	}
}

// Lookup finds the connection a packet with tuple tup belongs to: reply is
// false when tup is its original direction, true when it is the reply.
func (t *Table) Lookup(tup Tuple) (e Entry, reply, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byTuple[tup]
	if p == nil {
		return Entry{}, false, false
	}
	return *p, p.Orig != tup, true
}

// Entries returns a copy of every entry held, oldest first.
func (t *Table) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Entry, 0, len(t.ring))
	for k := range t.ring {
		out = append(out, *t.ring[(t.next+k)%len(t.ring)])
	}
	return out
}

func (t *Table) setErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
}

// Err is why the table stopped following the kernel's, nil while it does.
func (t *Table) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Events is how many events (and dumped entries) the table has taken.
func (t *Table) Events() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events
}
