package afpacket

import "time"

// Config says how to open a capture socket. The zero value captures on every
// device of the calling thread's namespace with the defaults below.
type Config struct {
	// Ifindex is the device to capture on; 0 captures on all devices ("any").
	Ifindex int
	// Promiscuous asks the device to accept frames for other hosts. It needs
	// Ifindex != 0 and CAP_NET_ADMIN.
	Promiscuous bool
	// SnapLen limits the bytes kept of each frame; 0 keeps up to 262144.
	SnapLen int
	// BlockSize is the size of one ring block in bytes, a multiple of the page
	// size; 0 means 1 MiB.
	BlockSize int
	// NumBlocks is the number of ring blocks; 0 means 32.
	NumBlocks int
	// BlockTimeout is how long the kernel waits before handing over a block
	// that is not full; 0 means 10ms. It bounds the latency of a quiet capture.
	BlockTimeout time.Duration
	// Filter is a classic BPF program (as for SO_ATTACH_FILTER), attached
	// before the socket is bound so that no unfiltered frame slips in. Its
	// non-zero returns are the number of bytes to keep. Nil keeps every frame
	// (truncated to SnapLen).
	Filter []Instruction
}

// Instruction is one classic BPF instruction (struct sock_filter).
type Instruction struct {
	Op uint16
	Jt uint8
	Jf uint8
	K  uint32
}

// Stats are the kernel's counters for one socket since it was opened.
type Stats struct {
	Packets uint64 // frames handed to the socket, including dropped ones
	Drops   uint64 // frames dropped because the ring was full
	Freezes uint64 // times the ring was frozen (tp_freeze_q_cnt)
}

// DefaultSnapLen is the snap length used when Config.SnapLen is 0.
const DefaultSnapLen = 262144

func (c Config) withDefaults() Config {
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.BlockSize <= 0 {
		c.BlockSize = 1 << 20
	}
	if c.NumBlocks <= 0 {
		c.NumBlocks = 32
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = 10 * time.Millisecond
	}
	return c
}
