package tracer

import (
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// Device is a device as the run knows it: the interface id its records use
// and what netlink said of it when it was first seen.
type Device struct {
	ID uint32
	topology.Device
}

// Batch is what a Session delivers: devices new to the run, then frames.
type Batch struct {
	// Devices are announced before any record that uses their ID.
	Devices []Device
	// Records holds Count frames in the pcap/record layout. It is valid
	// only until Deliver returns.
	Records []byte
	Count   int
	// Source is the socket the records came from: frames of one source
	// are in time order, those of different sources are not.
	Source int
	// Time is the wall time (ns) at which the reader took the records from
	// the ring; later than any of their timestamps.
	Time int64
	// NewSources are sockets opened since the last batch (all of them on
	// the first), announced before their first records; GoneSources were
	// closed and deliver nothing more.
	NewSources, GoneSources []int

	// raw: Records holds a ring block as the kernel wrote it, not records
	// yet; the delivery loop converts it (see Session.read). ids are the
	// device ids of the block's ifindexes and drops the kernel drops to
	// report on its frames, both resolved by the reader when it took the
	// block.
	raw   bool
	ids   []rawID
	drops []rawDrops
}

// rawID is the device id of an ifindex in a raw block.
type rawID struct {
	ifindex int32
	id      uint32
}

// rawDrops are kernel drops to report on the frame-th frame of a raw block.
type rawDrops struct {
	frame int
	drops uint32
}

// Sink receives a session's batches, in order, on one goroutine. A sink
// must not keep a batch, or anything of it, after Deliver returns: the
// session reuses batches and their record buffers.
type Sink interface {
	Deliver(*Batch) error
}

// Ticker is a Sink that also wants to know the time while no batch
// arrives, e.g. to close correlation windows. Tick runs on the Deliver
// goroutine, about every TickInterval.
type Ticker interface {
	Tick(now time.Time) error
}

// TickInterval is how often a Ticker sink is told the time.
const TickInterval = 10 * time.Millisecond

// SinkFunc adapts a function to Sink.
type SinkFunc func(*Batch) error

// Deliver calls f.
func (f SinkFunc) Deliver(b *Batch) error { return f(b) }

// DeviceStats counts the sightings of one device.
type DeviceStats struct {
	Device
	In, Out uint64
}

// SocketStats are one socket's kernel counters.
type SocketStats struct {
	NetNS   netns.ID
	Label   string // namespace name or inode; "" for the caller's own
	Device  string // "any" or the device name
	Packets uint64 // frames the kernel handed to the socket, dropped ones included
	Drops   uint64 // frames the kernel dropped because the ring was full
}

// Stats summarise a session.
type Stats struct {
	Sightings uint64
	// Namespaces captured in, including those picked up while running.
	Namespaces int
	Devices    []DeviceStats // by interface id
	Sockets    []SocketStats
	Backlog    BacklogStats // what waited between the readers and delivery
	// Cut counts frames cut to CutLen bytes because the backlog was
	// nearly full (OverloadCut).
	Cut uint64
	// Holds counts the traffic bursts that held delivery back (Hold), and
	// Held is how long they held it in all.
	Holds int
	Held  time.Duration
}

// Drops is the total of the sockets' kernel drops.
func (s Stats) Drops() uint64 {
	var n uint64
	for _, so := range s.Sockets {
		n += so.Drops
	}
	return n
}
