// Package pcap writes what ifacetrace captures as pcapng files that
// Wireshark, tshark and tcpdump read as they are, reads pcap and pcapng
// files back as a live capture would have delivered them (for -r), and
// maps Linux hardware types to pcap link types and back.
//
// It owns the Linux AF_PACKET semantics of the file, not its encoding:
// gopacket/pcapgo encodes the blocks (section header, interface
// description, interface statistics), and this package decides what goes
// into them. The exception is the enhanced packet block, which Writer
// encodes itself, into the buffer pcapgo writes to: WritePacket is the
// per-packet hot path (40 % of the pcapng plugin's CPU when pcapgo wrote
// the block), and pcapgo allocates for every packet with options (option
// list, padding, boxed values). The blocks are byte for byte the ones
// pcapgo writes; a test compares them. What goes into the blocks:
//
//   - one interface per capture device, with the link type its frames
//     really have: LinkTypeForHAType maps the device's ARPHRD_* type as
//     libpcap does for SOCK_RAW sockets (Ethernet, raw IP for tun and
//     wireguard, …); devices whose type has no link type get
//     LINKTYPE_LINUX_SLL2 and an SLL2 header built from the sighting's
//     metadata (AppendSLL2), because one file mixes devices and a cooked
//     capture of everything would throw the real link-layer headers away;
//   - the packet's direction and reception type (sll_pkttype) in
//     epb_flags, the trace id as epb_packetid (Wireshark's
//     frame.packet_id, the same on every copy of a packet), kernel drops
//     as epb_dropcount, a comment, and per-interface counters at the end;
//   - frames put back the way libpcap puts them back: the VLAN tag the
//     kernel stripped reinserted (InsertVLAN), CAN IDs in network byte
//     order, netlink messages behind a cooked header;
//   - a section that exists even when nothing was captured: pcapgo writes
//     the section header only with a first interface, so Writer creates
//     its pcapgo writer at the first AddInterface and writes a lone section
//     header itself at Close otherwise.
//
// Reading (FileReader) is the inverse, for captures made by tcpdump -i any
// (LINUX_SLL2: the interface index and direction come from the cooked
// header, the device's Ethernet header is rebuilt with the destination MAC
// lost; LINUX_SLL has no interface index at all), dumpcap, ifacetrace
// itself, and plain Ethernet or raw-IP pcaps. pcapgo parses the formats;
// FileReader only turns what it finds into pcap/record headers and
// frames, and announces each device with its first packet. A file cut off
// mid-packet yields its whole packets, then ErrTruncated.
//
// The package is pure Go and needs no privilege: it only writes to an
// io.Writer and reads from an io.Reader.
//
// Buffers: Writer.WritePacket does not retain Packet.Data or anything else
// of the Packet after it returns; it copies frames it must rewrite into a
// scratch buffer it reuses, and allocates nothing per packet. Append*
// functions and InsertVLAN append to the caller's slice and keep nothing. The frame and interfaces
// FileReader.Next returns are valid until its next call. Neither a Writer
// nor a FileReader is safe for concurrent use.
package pcap
