package pcap

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// framing is what Writer does to a captured frame before it is written.
type framing uint8

const (
	framingAsIs     framing = iota // write the frame unchanged
	framingEthernet                // reinsert a stripped VLAN tag
	framingSLL2                    // prepend an SLL2 header (no link type for the hardware type)
	framingNetlink                 // prepend an SLL header (LINKTYPE_NETLINK)
	framingCAN                     // CAN ID to network byte order (LINKTYPE_CAN_SOCKETCAN)
)

// framingFor returns the link type and framing Writer uses for hatype, and
// the most bytes the framing adds to a frame.
func framingFor(hatype uint16) (layers.LinkType, framing, uint32) {
	lt, ok := LinkTypeForHAType(hatype)
	switch {
	case !ok:
		return layers.LinkTypeLinuxSLL2, framingSLL2, SLL2HeaderLen + VLANTagLen
	case lt == layers.LinkTypeEthernet:
		return lt, framingEthernet, VLANTagLen
	case lt == LinkTypeNetlink:
		return lt, framingNetlink, SLLHeaderLen
	case lt == LinkTypeCANSocketCAN:
		return lt, framingCAN, 0
	}
	return lt, framingAsIs, 0
}

const (
	ethPCANXL = 0x000e // sll_protocol of CAN XL frames (CAN CC: 0x000c, CAN FD: 0x000d)
	canXLXLF  = 0x80   // CANXL_XLF, in the byte after the CAN ID / priority field
)

// appendCANSocketCAN appends frame to dst converted from the kernel's
// struct can_frame / canfd_frame / canxl_frame, whose first field is in host
// byte order, to the LINKTYPE_CAN_SOCKETCAN layout, as libpcap does: the CAN
// ID (CAN CC/FD) or priority/VCID field (CAN XL) big-endian, the CAN XL
// payload length and acceptance field little-endian, and the CANXL_XLF flag
// set exactly on CAN XL frames so readers can tell the layouts apart.
func appendCANSocketCAN(dst, frame []byte, proto uint16) []byte {
	off := len(dst)
	dst = append(dst, frame...)
	b := dst[off:]
	if len(b) < 4 {
		return dst
	}
	ne := binary.NativeEndian
	binary.BigEndian.PutUint32(b[0:4], ne.Uint32(b[0:4]))
	if len(b) < 5 {
		return dst
	}
	if proto != ethPCANXL {
		b[4] &^= canXLXLF
		return dst
	}
	b[4] |= canXLXLF
	if len(b) >= 8 {
		binary.LittleEndian.PutUint16(b[6:8], ne.Uint16(b[6:8]))
	}
	if len(b) >= 12 {
		binary.LittleEndian.PutUint32(b[8:12], ne.Uint32(b[8:12]))
	}
	return dst
}
