package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by ReadBlock once the socket was closed or woken for
// shutdown.
var ErrClosed = errors.New("afpacket: socket closed")

// Socket is an AF_PACKET socket with a TPACKET_V3 receive ring.
type Socket struct {
	fd      int
	wake    int // eventfd that interrupts a blocked ReadBlock
	ring    []byte
	bsize   int
	nblocks int
	cur     int
	pkt     Packet

	mu       sync.Mutex
	total    Stats
	closing  atomic.Bool
	closeErr error
	closed   bool
}

func opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "packet", Err: os.NewSyscallError(op, err)}
}

// Open creates a capture socket in the calling thread's network namespace.
// A missing privilege yields an error for which errors.Is(err,
// fs.ErrPermission) holds.
func Open(cfg Config) (*Socket, error) {
	cfg = cfg.withDefaults()
	if cfg.Promiscuous && cfg.Ifindex == 0 {
		return nil, errors.New("afpacket: promiscuous mode needs a device, not any")
	}
	pg := os.Getpagesize()
	if cfg.BlockSize%pg != 0 {
		return nil, fmt.Errorf("afpacket: block size %d is not a multiple of the page size %d", cfg.BlockSize, pg)
	}
	// Protocol 0: the socket receives nothing until bind, so the ring and the
	// filter are in place before the first frame arrives.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("socket", err)
	}
	s := &Socket{fd: fd, wake: -1, bsize: cfg.BlockSize, nblocks: cfg.NumBlocks}
	if err := s.setup(cfg); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(cfg Config) error {
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return opErr("setsockopt PACKET_VERSION", err)
	}
	const frameSize = 2048
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(cfg.BlockSize / frameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(max(1, cfg.BlockTimeout.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return opErr("setsockopt PACKET_RX_RING", err)
	}
	ring, err := unix.Mmap(s.fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return opErr("mmap", err)
	}
	s.ring = ring
	prog := cfg.Filter
	if prog == nil && cfg.SnapLen < DefaultSnapLen {
		prog = []Instruction{{Op: 0x06, K: uint32(cfg.SnapLen)}} // ret #snaplen
	}
	if prog != nil {
		if err := s.attach(clampReturns(prog, cfg.SnapLen)); err != nil {
			return err
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: cfg.Ifindex}
	if err := unix.Bind(s.fd, sa); err != nil {
		return opErr("bind", err)
	}
	if cfg.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(cfg.Ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(s.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return opErr("setsockopt PACKET_ADD_MEMBERSHIP", err)
		}
	}
	w, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return opErr("eventfd", err)
	}
	s.wake = w
	return nil
}

// clampReturns makes every non-zero "ret #k" of a filter keep at most snaplen
// bytes, so the kernel copies no more than that into the ring.
func clampReturns(prog []Instruction, snaplen int) []Instruction {
	out := make([]Instruction, len(prog))
	copy(out, prog)
	for i, ins := range out {
		if ins.Op == 0x06 && ins.K > uint32(snaplen) { // BPF_RET|BPF_K
			out[i].K = uint32(snaplen)
		}
	}
	return out
}

func (s *Socket) attach(prog []Instruction) error {
	raw := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		raw[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fp := unix.SockFprog{Len: uint16(len(raw)), Filter: &raw[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return opErr("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *Socket) blockStatus(b []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[blockStatusOff]))
}

// ReadBlock waits for the next block of frames, calls fn for each frame in
// it, and hands the block back to the kernel. fn must not retain p or p.Data
// after it returns. It returns the number of frames read. After Wake it still
// returns the blocks the kernel has already handed over, then ErrClosed.
// ReadBlock must not be called concurrently with itself.
func (s *Socket) ReadBlock(fn func(p *Packet)) (int, error) {
	return s.ReadBlockRaw(fn, nil)
}

// ReadBlockRaw is ReadBlock that, after fn has seen every frame, also hands
// raw (when not nil) the block itself: its used bytes, header included,
// which WalkBlock reads again later. Copying a block whole is much cheaper
// than copying its frames one by one, so a reader that must return blocks
// to the kernel fast copies them and leaves the frames for later. raw must
// not retain block after it returns.
func (s *Socket) ReadBlockRaw(fn func(p *Packet), raw func(block []byte)) (int, error) {
	for {
		b := s.ring[s.cur*s.bsize : (s.cur+1)*s.bsize]
		st := s.blockStatus(b)
		if atomic.LoadUint32(st)&StatusUser != 0 {
			n, err := walkBlock(b, &s.pkt, fn)
			if err == nil && raw != nil {
				raw(b[:usedLen(b)])
			}
			atomic.StoreUint32(st, 0) // TP_STATUS_KERNEL
			s.cur = (s.cur + 1) % s.nblocks
			if err != nil {
				return n, fmt.Errorf("read ring block: %w", err)
			}
			return n, nil
		}
		if s.closing.Load() {
			return 0, ErrClosed
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(s.wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return 0, opErr("poll", err)
		}
		if fds[1].Revents != 0 {
			return 0, ErrClosed
		}
	}
}

// Behind reports whether at least half the ring waits for the reader: the
// block half a ring past the next one to read is already handed over (the
// kernel fills blocks in ring order). One atomic load, for a reader that
// must decide how much work it may spend on a block before the ring
// overflows. It must not be called concurrently with ReadBlock.
func (s *Socket) Behind() bool {
	k := (s.cur + s.nblocks/2) % s.nblocks
	return atomic.LoadUint32(s.blockStatus(s.ring[k*s.bsize:]))&StatusUser != 0
}

// Wake makes a blocked ReadBlock return, and ReadBlock return ErrClosed once
// no handed-over block is left. It is safe to call from any goroutine, more
// than once.
func (s *Socket) Wake() {
	if s.closing.Swap(true) {
		return
	}
	var one = [8]byte{1}
	unix.Write(s.wake, one[:])
}

// Stats returns the kernel's counters accumulated since Open. Reading them
// resets the kernel's own counters; this type keeps the running total.
func (s *Socket) Stats() (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.total, nil
	}
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return s.total, opErr("getsockopt PACKET_STATISTICS", err)
	}
	s.total.Packets += uint64(st.Packets)
	s.total.Drops += uint64(st.Drops)
	s.total.Freezes += uint64(st.Freeze_q_cnt)
	return s.total, nil
}

// Close releases the ring and the socket. Stats stays readable. Close must not
// run while ReadBlock does: Wake it first and wait for it to return.
func (s *Socket) Close() error {
	s.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.closing.Store(true)
	s.closeErr = s.release()
	return s.closeErr
}

func (s *Socket) release() error {
	var errs []error
	if s.ring != nil {
		errs = append(errs, unix.Munmap(s.ring))
		s.ring = nil
	}
	if s.wake >= 0 {
		errs = append(errs, unix.Close(s.wake))
	}
	errs = append(errs, unix.Close(s.fd))
	return errors.Join(errs...)
}
