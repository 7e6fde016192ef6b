package pcap

import "encoding/binary"

// VLANTagLen is the size of an 802.1Q tag.
const VLANTagLen = 4

// TPID8021Q is the default VLAN tag protocol identifier (ETH_P_8021Q).
const TPID8021Q = 0x8100

// InsertVLAN appends frame to dst with an 802.1Q tag (tpid, tci) inserted
// after the 12 bytes of destination and source MAC address, and returns the
// extended slice. A tpid of 0 means 0x8100.
//
// The kernel strips the outermost VLAN tag from most Ethernet frames before
// AF_PACKET sees them (VLAN acceleration) and reports it beside the frame
// (tp_vlan_tci, tp_vlan_tpid); libpcap puts it back the same way so the
// file shows the frame as it was on the wire. A frame shorter than 12 bytes
// has no place for the tag and is appended unchanged.
func InsertVLAN(dst, frame []byte, tpid, tci uint16) []byte {
	if len(frame) < 12 {
		return append(dst, frame...)
	}
	if tpid == 0 {
		tpid = TPID8021Q
	}
	var tag [VLANTagLen]byte
	binary.BigEndian.PutUint16(tag[0:], tpid)
	binary.BigEndian.PutUint16(tag[2:], tci)
	dst = append(dst, frame[:12]...)
	dst = append(dst, tag[:]...)
	return append(dst, frame[12:]...)
}
