// Package afpacket is a thin TPACKET_V3 ring reader for Linux AF_PACKET
// sockets that returns, for every frame, what the kernel knows about it: the
// nanosecond timestamp, the interface index, the packet type (and so the
// direction), the hardware type, the link-level protocol, the VLAN tag the
// kernel stripped, and the ring's status bits.
//
// Why it exists: gopacket/afpacket and mdlayher/packet read the same rings but
// drop the per-frame sockaddr_ll that follows each tpacket3_hdr, so a capture on
// the "any" device cannot tell which device a frame was on or whether it was
// going in or out — the two facts ifacetrace is about. This package keeps to
// that missing piece: it opens, maps, filters and reads the ring, and leaves
// decoding to others.
//
// Privilege: Open needs CAP_NET_RAW (promiscuous mode also CAP_NET_ADMIN). The
// socket belongs to the network namespace of the calling thread at Open; the
// caller enters another namespace first (see tracer/netns) to capture there.
//
// Buffers: Packet.Data aliases the ring. It is valid only until the callback
// given to ReadBlock returns; copy what you keep.
package afpacket
