package pcap

import "encoding/binary"

// SLL2HeaderLen is the size of a LINKTYPE_LINUX_SLL2 header.
const SLL2HeaderLen = 20

// SLLHeaderLen is the size of a LINKTYPE_LINUX_SLL (version 1) header.
const SLLHeaderLen = 16

// Linux sll_pkttype values (PACKET_* in linux/if_packet.h). The SLL and SLL2
// headers carry them unchanged.
const (
	PacketHost      = 0 // to us
	PacketBroadcast = 1 // to all
	PacketMulticast = 2 // to a group
	PacketOtherHost = 3 // to someone else, seen in promiscuous mode
	PacketOutgoing  = 4 // from us
)

// AppendSLL2 appends a LINKTYPE_LINUX_SLL2 header followed by data to dst and
// returns the extended slice. The header is, big-endian:
//
//	off size field
//	  0   2  protocol (ETH_P_*, e.g. 0x0800 for IPv4)
//	  2   2  reserved, zero
//	  4   4  interface index
//	  8   2  ARPHRD_* hardware type
//	 10   1  packet type (PACKET_*)
//	 11   1  link-layer address length
//	 12   8  link-layer address, zero-padded
//
// As libpcap does, the address length field holds len(addr) (up to 255) even
// when only its first 8 bytes fit in the address field.
func AppendSLL2(dst []byte, proto uint16, ifindex uint32, hatype uint16, pkttype uint8, addr []byte, data []byte) []byte {
	var h [SLL2HeaderLen]byte
	be := binary.BigEndian
	be.PutUint16(h[0:], proto)
	be.PutUint32(h[4:], ifindex)
	be.PutUint16(h[8:], hatype)
	h[10] = pkttype
	h[11] = uint8(min(len(addr), 255))
	copy(h[12:20], addr)
	dst = append(dst, h[:]...)
	return append(dst, data...)
}

// AppendSLL appends a LINKTYPE_LINUX_SLL (version 1) header followed by data
// to dst and returns the extended slice. The header is, big-endian:
//
//	off size field
//	  0   2  packet type (PACKET_*)
//	  2   2  ARPHRD_* hardware type
//	  4   2  link-layer address length
//	  6   8  link-layer address, zero-padded
//	 14   2  protocol (ETH_P_*; for ARPHRD_NETLINK the netlink family)
//
// LINKTYPE_NETLINK frames are a netlink message behind this header.
func AppendSLL(dst []byte, pkttype uint8, hatype uint16, addr []byte, proto uint16, data []byte) []byte {
	var h [SLLHeaderLen]byte
	be := binary.BigEndian
	be.PutUint16(h[0:], uint16(pkttype))
	be.PutUint16(h[2:], hatype)
	be.PutUint16(h[4:], uint16(min(len(addr), 0xffff)))
	copy(h[6:14], addr)
	be.PutUint16(h[14:], proto)
	dst = append(dst, h[:]...)
	return append(dst, data...)
}
