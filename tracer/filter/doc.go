// Package filter turns a tcpdump filter expression into one classic BPF
// program that is correct on an AF_PACKET socket whose frames mix link types.
//
// Why it exists: libpcap compiles an expression for one link type, because
// the offsets it loads depend on the link-layer header. ifacetrace's "any"
// socket (tracer/afpacket, SOCK_RAW, ifindex 0) receives every device's
// frames with that device's own header: Ethernet on veths, bridges, NICs and
// lo, nothing at all on tun, WireGuard and IP tunnels. libpcap's own "any"
// avoids the problem with a cooked SOCK_DGRAM socket, which replaces every
// link header with a common one; ifacetrace needs the real headers (MAC
// addresses, VLAN tags) and so cannot do that.
//
// How: Compile runs libpcap's compiler (pcap_compile on a pcap_open_dead
// handle, through gopacket/pcap) once per link type family: DLT_EN10MB for
// ARPHRD_ETHER and ARPHRD_LOOPBACK, DLT_RAW for ARPHRD_NONE, ARPHRD_RAWIP,
// ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_SIT and ARPHRD_IPGRE. (DLT_RAW is 12
// on Linux; gopacket's LinkTypeRaw, 101, is the capture-file number, which
// pcap_open_dead rejects.) It then stitches one program: a dispatcher loads
// the device's hardware type with the Linux ancillary load
// ld [SKF_AD_OFF+SKF_AD_HATYPE] and jumps to the sub-program of its family;
// jumps further than the 8-bit jt/jf can reach go through a 32-bit ja. The
// sub-programs are libpcap's, unchanged, each checked not to jump past its
// own end.
//
// What is dropped: frames of a hardware type that belongs to no family
// (802.11 monitor devices, InfiniBand, CAN, …) — there is no libpcap program
// to run on them. An expression that cannot be compiled for one family
// ("ether host" or "vlan" on raw IP) drops that family's frames, as tcpdump
// would refuse the expression on such a device; Program.Unsupported says
// which. If it compiles for no family, Compile returns libpcap's error. An
// empty expression is no filter at all (nil Program), not a program.
// ARPHRD_IPGRE is treated as raw IP, which holds for point-to-point GRE
// tunnels; an NBMA GRE device (no remote address) has the outer IP and GRE
// headers as its link header and would be matched on those.
//
// VLAN: on a live Linux socket the kernel moves the outer 802.1Q/802.1ad tag
// into skb metadata before packet sockets and their filters see the frame
// (always on receive; on transmit when the device offloads tagging), and the
// ring reports it in tp_vlan_tci. libpcap 1.10 knows this only for handles
// it activated itself: pcap_activate sets BPF_SPECIAL_VLAN_HANDLING after
// asking the socket for SO_BPF_EXTENSIONS, and "vlan" then compiles to code
// that first tests the ancillary [vlanp] and [vlan_tci] and falls back to a
// tag in the packet bytes. A pcap_open_dead handle, the only kind that needs
// no device and no privilege, has no public way to set that flag, and its
// "vlan" code looks for the tag at offset 12 only, which never matches a
// stripped frame. So when the expression uses the vlan keyword, the
// Ethernet family gets a second copy of libpcap's program, taken when
// [vlanp] is 1, in which every load is rewritten to read the frame as if the
// tag were back at offset 12 (later bytes 4 earlier, the tag's bytes from
// SKF_AD_VLAN_TPID and SKF_AD_VLAN_TAG, the length 4 more). That is the frame
// a capture file holds, since the pcap writers put the tag back, so the
// kernel keeps exactly what tcpdump -r and Match keep on the written file,
// and what tcpdump on a live interface keeps. Expressions without vlan run
// libpcap's program on the frame as the kernel presents it, tag stripped, as
// tcpdump on a live interface does ("udp port 53" matches tagged traffic on
// a trunk's parent device).
//
// Match runs the same libpcap programs in golang.org/x/net/bpf's VM, for
// frames read from files (every record carries a hardware type, and its VLAN
// tag in the frame). That VM has no Linux ancillary loads: a frame that
// reaches one (inbound, outbound) does not match, though the kernel evaluates
// them.
//
// Privilege and dependencies: none to compile or match, but the package
// needs cgo and libpcap (libpcap-dev to build); without cgo it builds and
// Compile returns an error for any non-empty expression. The program is
// meant for afpacket.Config.Filter, which attaches it with SO_ATTACH_FILTER
// before the socket is bound, so no unfiltered frame reaches the ring.
//
// Buffers: Match neither retains nor modifies the frame, and does not
// allocate. A Program is immutable and safe for concurrent use.
package filter
