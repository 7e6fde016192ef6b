package afpacket

import (
	"encoding/binary"
	"errors"
)

// Status bits of tp_status (linux/if_packet.h). They are repeated here, not
// taken from x/sys/unix, so that block parsing builds and tests on any OS.
const (
	StatusUser          = 1 << 0 // TP_STATUS_USER: block or frame belongs to user space
	StatusCopy          = 1 << 1 // TP_STATUS_COPY: frame was truncated to fit
	StatusLosing        = 1 << 2 // TP_STATUS_LOSING: the socket dropped frames recently
	StatusCsumNotReady  = 1 << 3 // TP_STATUS_CSUMNOTREADY: checksum left to hardware
	StatusVLANValid     = 1 << 4 // TP_STATUS_VLAN_VALID: VLANTCI is meaningful
	StatusBlockTimeout  = 1 << 5 // TP_STATUS_BLK_TMO: block retired by timeout
	StatusVLANTPIDValid = 1 << 6 // TP_STATUS_VLAN_TPID_VALID
	StatusCsumValid     = 1 << 7 // TP_STATUS_CSUM_VALID
	StatusGSOTCP        = 1 << 8 // TP_STATUS_GSO_TCP
)

// Packet types (sll_pkttype, linux/if_packet.h).
const (
	PacketHost      = 0 // to us
	PacketBroadcast = 1 // to all
	PacketMulticast = 2 // to a group
	PacketOtherHost = 3 // to someone else (seen in promiscuous mode)
	PacketOutgoing  = 4 // sent by this host on this device
)

// Packet is one frame as the kernel put it in the ring.
type Packet struct {
	TimeNanos int64  // kernel receive/transmit time, ns since the Unix epoch
	Ifindex   int32  // device the frame was seen on, in the socket's namespace
	PktType   uint8  // sll_pkttype: PacketHost … PacketOutgoing
	HAType    uint16 // ARPHRD_* of the device
	Proto     uint16 // sll_protocol (ETH_P_*), host byte order
	Status    uint32 // tp_status bits
	OrigLen   uint32 // length on the wire
	VLANTCI   uint16 // valid iff Status&StatusVLANValid
	VLANTPID  uint16 // valid iff Status&StatusVLANTPIDValid
	Data      []byte // captured bytes, starting at the link-layer header; aliases the ring
}

// Layout of the structures in a TPACKET_V3 block (linux/if_packet.h).
const (
	blockHdrOff       = 8 // struct tpacket_block_desc: version, offset_to_priv, then hdr
	blockStatusOff    = blockHdrOff + 0
	blockNumPktsOff   = blockHdrOff + 4
	blockFirstPktOff  = blockHdrOff + 8
	blockLenOff       = blockHdrOff + 12
	tpacket3HdrLen    = 48 // sizeof(struct tpacket3_hdr), already TPACKET_ALIGNed
	sockaddrLLLen     = 20 // sizeof(struct sockaddr_ll)
	minFrameHeaderLen = tpacket3HdrLen + sockaddrLLLen
)

var errBadBlock = errors.New("afpacket: malformed ring block")

// WalkBlock calls fn for every frame of a TPACKET_V3 block, e.g. one that
// ReadBlockRaw handed over and the caller copied. The Packet passed to fn
// is reused between calls; its Data aliases block. A malformed block
// yields an error after the frames before the fault.
func WalkBlock(block []byte, fn func(p *Packet)) (int, error) {
	var p Packet
	return walkBlock(block, &p, fn)
}

// usedLen is how much of a walked block its frames use: the block's
// blk_len, bounded by the block.
func usedLen(block []byte) int {
	n := int(binary.LittleEndian.Uint32(block[blockLenOff:]))
	if n < blockLenOff+4 || n > len(block) {
		return len(block)
	}
	return n
}

// walkBlock calls fn for every frame of a TPACKET_V3 block. It checks every
// offset against the block, so a corrupt block yields errBadBlock and never a
// fault. The Packet passed to fn is reused between calls. The block's
// StatusLosing is reported on its first frame.
func walkBlock(block []byte, p *Packet, fn func(*Packet)) (int, error) {
	if len(block) < blockLenOff+4 {
		return 0, errBadBlock
	}
	le := binary.LittleEndian
	n := int(le.Uint32(block[blockNumPktsOff:]))
	off := int(le.Uint32(block[blockFirstPktOff:]))
	// TPACKET_V3 says it lost frames on the block, not on its frames
	// (prb_close_block): the block's first frame carries it.
	losing := le.Uint32(block[blockStatusOff:]) & StatusLosing
	for i := 0; i < n; i++ {
		if off < 0 || off > len(block)-minFrameHeaderLen {
			return i, errBadBlock
		}
		h := block[off:]
		next := int(le.Uint32(h[0:]))
		sec := le.Uint32(h[4:])
		nsec := le.Uint32(h[8:])
		snap := int(le.Uint32(h[12:]))
		p.OrigLen = le.Uint32(h[16:])
		p.Status = le.Uint32(h[20:])
		if i == 0 {
			p.Status |= losing
		}
		mac := int(le.Uint16(h[24:]))
		p.VLANTCI = uint16(le.Uint32(h[32:]))
		p.VLANTPID = le.Uint16(h[36:])
		sll := h[tpacket3HdrLen:]
		p.Proto = binary.BigEndian.Uint16(sll[2:])
		p.Ifindex = int32(le.Uint32(sll[4:]))
		p.HAType = le.Uint16(sll[8:])
		p.PktType = sll[10]
		if mac > len(h) || snap > len(h)-mac {
			return i, errBadBlock
		}
		p.TimeNanos = int64(sec)*1e9 + int64(nsec)
		p.Data = h[mac : mac+snap : mac+snap]
		fn(p)
		if i+1 < n {
			if next <= 0 {
				return i + 1, errBadBlock
			}
			off += next
		}
	}
	return n, nil
}
