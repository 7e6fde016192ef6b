package tracer

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// Options are what a user asks for.
type Options struct {
	NetNS       string   // namespace path to capture in; "" for the caller's own
	Interfaces  []string // devices to capture on; none means all ("any")
	Promiscuous bool     // promiscuous mode on the named devices
	SnapLen     int      // bytes kept per frame; 0 for the default (262144)
	Count       int      // stop after this many sightings; 0 for no limit
	Duration    time.Duration
	BufferSize  int // ring bytes per socket; 0 for the default (32 MiB)
}

// SocketPlan is one capture socket.
type SocketPlan struct {
	Device      string // "any" or a device name
	Ifindex     int32  // 0 for any
	Promiscuous bool
}

// Plan is everything Open will do, decided without touching the kernel.
type Plan struct {
	NetNS     string
	Sockets   []SocketPlan
	SnapLen   int
	Count     int
	Duration  time.Duration
	BlockSize int
	NumBlocks int
}

// DefaultBufferSize is the ring size of each socket.
const DefaultBufferSize = 32 << 20

const blockSize = 1 << 20

// UnknownDeviceError reports a -i name that the namespace does not have.
type UnknownDeviceError struct {
	Name      string
	Available []string
}

func (e *UnknownDeviceError) Error() string {
	return fmt.Sprintf("no device %q here; available: %s", e.Name, strings.Join(e.Available, ", "))
}

// NewPlan decides which sockets to open, given the devices of the namespace.
func NewPlan(o Options, devs []topology.Device) (*Plan, error) {
	if o.SnapLen < 0 || o.Count < 0 || o.Duration < 0 || o.BufferSize < 0 {
		return nil, fmt.Errorf("snap length, count, duration and buffer size must not be negative")
	}
	p := &Plan{NetNS: o.NetNS, SnapLen: o.SnapLen, Count: o.Count, Duration: o.Duration, BlockSize: blockSize}
	if p.SnapLen == 0 {
		p.SnapLen = 262144
	}
	buf := o.BufferSize
	if buf == 0 {
		buf = DefaultBufferSize
	}
	p.NumBlocks = max(2, (buf+blockSize-1)/blockSize)
	if len(o.Interfaces) == 0 {
		if o.Promiscuous {
			return nil, fmt.Errorf("promiscuous mode needs devices: name them with -i")
		}
		p.Sockets = []SocketPlan{{Device: "any"}}
		return p, nil
	}
	byName := make(map[string]topology.Device, len(devs))
	for _, d := range devs {
		byName[d.Name] = d
	}
	seen := map[string]bool{}
	for _, name := range o.Interfaces {
		if seen[name] {
			continue
		}
		seen[name] = true
		d, ok := byName[name]
		if !ok {
			avail := make([]string, 0, len(devs))
			for _, d := range devs {
				avail = append(avail, d.Name)
			}
			sort.Strings(avail)
			return nil, &UnknownDeviceError{Name: name, Available: avail}
		}
		p.Sockets = append(p.Sockets, SocketPlan{Device: name, Ifindex: d.Ifindex, Promiscuous: o.Promiscuous})
	}
	return p, nil
}

// String describes the plan, one socket a line, for --dry-run.
func (p *Plan) String() string {
	var b strings.Builder
	ns := p.NetNS
	if ns == "" {
		ns = "current namespace"
	}
	fmt.Fprintf(&b, "namespace: %s\n", ns)
	for _, s := range p.Sockets {
		fmt.Fprintf(&b, "socket: AF_PACKET TPACKET_V3 on %s", s.Device)
		if s.Ifindex != 0 {
			fmt.Fprintf(&b, " (ifindex %d)", s.Ifindex)
		}
		if s.Promiscuous {
			b.WriteString(", promiscuous")
		}
		fmt.Fprintf(&b, ", ring %d x %d KiB, snaplen %d\n", p.NumBlocks, p.BlockSize>>10, p.SnapLen)
	}
	if p.Count > 0 {
		fmt.Fprintf(&b, "stop after: %d sightings\n", p.Count)
	}
	if p.Duration > 0 {
		fmt.Fprintf(&b, "stop after: %s\n", p.Duration)
	}
	return b.String()
}
