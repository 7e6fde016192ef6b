package pcap

import "github.com/gopacket/gopacket/layers"

// Link types that gopacket/layers does not name. Values are from the tcpdump
// registry (https://www.tcpdump.org/linktypes.html).
const (
	LinkTypeEN3MB           layers.LinkType = 2   // 3 Mb experimental Ethernet
	LinkTypePRONET          layers.LinkType = 4   // Proteon ProNET token ring
	LinkTypeCHAOS           layers.LinkType = 5   // Chaosnet
	LinkTypeAX25KISS        layers.LinkType = 202 // AX.25 with a KISS header
	LinkTypeCANSocketCAN    layers.LinkType = 227 // SocketCAN frame, CAN ID big-endian
	LinkTypeIEEE802154NoFCS layers.LinkType = 230 // IEEE 802.15.4 without FCS
	LinkTypeNetlink         layers.LinkType = 253 // Linux cooked (SLL) header + netlink message
	LinkTypeVSOCK           layers.LinkType = 271 // struct af_vsockmon_hdr + payload
)

// Linux ARPHRD_* hardware types (include/uapi/linux/if_arp.h) that
// LinkTypeForHAType knows about.
const (
	arphrdEther             = 1
	arphrdEEther            = 2
	arphrdAX25              = 3
	arphrdPRONET            = 4
	arphrdCHAOS             = 5
	arphrdIEEE802           = 6
	arphrdARCNET            = 7
	arphrdDLCI              = 15
	arphrdIPOverFC          = 18 // RFC 4338; Linux defines no name for it
	arphrdMetricom          = 23
	arphrdSLIP              = 256
	arphrdCSLIP             = 257
	arphrdSLIP6             = 258
	arphrdCSLIP6            = 259
	arphrdADAPT             = 264
	arphrdCAN               = 280
	arphrdPPP               = 512
	arphrdCisco             = 513
	arphrdRawHDLC           = 518
	arphrdRawIP             = 519
	arphrdTunnel            = 768
	arphrdTunnel6           = 769
	arphrdFRAD              = 770
	arphrdLoopback          = 772
	arphrdLocalTalk         = 773
	arphrdFDDI              = 774
	arphrdSIT               = 776
	arphrdIPGRE             = 778
	arphrdFCPP              = 784
	arphrdFCAL              = 785
	arphrdFCPL              = 786
	arphrdFCFabric          = 787
	arphrdIEEE802TR         = 800
	arphrdIEEE80211         = 801
	arphrdIEEE80211Prism    = 802
	arphrdIEEE80211Radiotap = 803
	arphrdIEEE802154        = 804
	arphrdIP6GRE            = 823
	arphrdNetlink           = 824
	arphrdVSOCKMON          = 826
	arphrdNone              = 0xfffe
)

// LinkTypeForHAType returns the pcap link type of frames read from an
// AF_PACKET SOCK_RAW socket on a device of Linux hardware type hatype
// (ARPHRD_*), that is, frames that start with the device's own link-layer
// header. ok is false for hardware types with no such link type; write those
// with a LINKTYPE_LINUX_SLL2 header (AppendSLL2), as Writer does.
//
// The table follows libpcap's map_arphrd_to_dlt (pcap-linux.c, 1.10) for
// sockets that cannot fall back to cooked mode, with these differences:
//
//   - ARPHRD_TUNNEL6, ARPHRD_IPGRE and ARPHRD_IP6GRE (ip6tnl, vti6, gre,
//     ip6gre) map to raw IP; libpcap has no entry and captures them cooked.
//     Their SOCK_RAW frames are IP packets: the inner packet, or, on GRE
//     devices with header_ops (NBMA or multicast remote), the outer IP
//     header the device built. Raw IP decodes both by the version nibble;
//     an SLL2 protocol field would name the inner protocol and mislabel the
//     second case.
//   - ARPHRD_RAWIP (qmi_wwan/rmnet raw-ip mode) maps to raw IP.
//   - libpcap's device-name special cases (Android cdma_rmnet, DSA tags)
//     need more than the hardware type and are not made.
//
// Raw IP (LINKTYPE_RAW, 101) frames may be IPv4 or IPv6; readers look at the
// version nibble. Two link types need their frames rewritten before they
// match their specification, which Writer does: LINKTYPE_CAN_SOCKETCAN wants
// the CAN ID in network byte order (the kernel gives host order), and
// LINKTYPE_NETLINK wants a Linux cooked (SLL) header in front of the
// netlink message (libpcap captures netlink in cooked mode for this).
func LinkTypeForHAType(hatype uint16) (layers.LinkType, bool) {
	switch hatype {
	case arphrdEther, arphrdLoopback, arphrdMetricom:
		// lo frames carry an all-zero Ethernet header.
		return layers.LinkTypeEthernet, true
	case arphrdEEther:
		return LinkTypeEN3MB, true
	case arphrdAX25:
		return LinkTypeAX25KISS, true
	case arphrdPRONET:
		return LinkTypePRONET, true
	case arphrdCHAOS:
		return LinkTypeCHAOS, true
	case arphrdCAN:
		return LinkTypeCANSocketCAN, true
	case arphrdIEEE802, arphrdIEEE802TR:
		return layers.LinkTypeTokenRing, true
	case arphrdARCNET:
		return layers.LinkTypeARCNetLinux, true
	case arphrdFDDI:
		return layers.LinkTypeFDDI, true
	case arphrdIEEE80211:
		return layers.LinkTypeIEEE802_11, true
	case arphrdIEEE80211Prism:
		return layers.LinkTypePrismHeader, true
	case arphrdIEEE80211Radiotap:
		return layers.LinkTypeIEEE80211Radio, true
	case arphrdCisco:
		return layers.LinkTypeC_HDLC, true
	case arphrdPPP, // libpcap: raw IP when it cannot use cooked mode
		arphrdTunnel, arphrdSIT,
		arphrdSLIP, arphrdCSLIP, arphrdSLIP6, arphrdCSLIP6, arphrdADAPT,
		arphrdRawHDLC, arphrdDLCI,
		arphrdNone,                               // tun, wireguard, xfrm
		arphrdTunnel6, arphrdIPGRE, arphrdIP6GRE, // not in libpcap, see above
		arphrdRawIP:
		return layers.LinkTypeRaw, true
	case arphrdFRAD:
		return layers.LinkTypeFRelay, true
	case arphrdLocalTalk:
		return layers.LinkTypeLTalk, true
	case arphrdIPOverFC:
		return layers.LinkTypeIPOverFC, true
	case arphrdFCPP, arphrdFCAL, arphrdFCPL, arphrdFCFabric:
		return layers.LinkTypeFC2, true
	case arphrdIEEE802154:
		return LinkTypeIEEE802154NoFCS, true
	case arphrdNetlink:
		return LinkTypeNetlink, true
	case arphrdVSOCKMON:
		return LinkTypeVSOCK, true
	}
	return 0, false
}
