// Package decode turns one captured frame into what the correlator needs:
// the addresses, ports and header fields that describe the packet, and a
// Fingerprint that is the same on every copy of the packet however many
// bridges, routers and NATs it crossed.
//
// It owns link-layer framing by ARPHRD_* type (Ethernet with 802.1Q and
// 802.1ad tags, loopback, raw IP), the IPv4, IPv6 (hop-by-hop, routing,
// fragment and destination options headers), TCP, UDP, ICMP, ICMPv6 and
// ARP headers, and the fingerprint. It does no I/O, needs no privilege and
// keeps no state: Decode is safe for concurrent use with distinct Packets.
//
// Buffers: Decode reads the frame and does not retain it or any slice of it
// after it returns; the Packet it fills holds copies (addresses are
// netip.Addr values). The caller owns both and may reuse them at once.
//
// # Cost
//
// Decode runs once per sighting, over a million times a second, inside a
// budget of well under 1 µs of CPU per sighting for the whole pipeline. It
// allocates nothing (TestDecodeAllocs pins this) and takes 21–34 ns on
// typical frames, fingerprint included (BenchmarkDecode). The headers are
// parsed by hand: gopacket's DecodingLayerParser, its fastest path, takes
// 2.5–5 times as long on the same frames for decoding alone (45–125 ns,
// BenchmarkDecodingLayerParser), allocates on IPv6 frames with extension
// headers, cannot decode IPv6 destination options headers at all, and
// would still leave the fingerprint to be read from the raw bytes. gopacket is used only by the tests, as an independent encoder
// of test packets.
//
// # Errors and validity
//
// Decode returns nil or one of three sentinel errors, unwrapped, so that
// returning them allocates nothing:
//
//   - nil: Valid; every header up to and including the L4 header (or the
//     ARP message) was captured. A payload cut by the snap length is not
//     an error.
//   - ErrLinkType: Valid; the hardware type has no known framing, and the
//     fingerprint hashes the whole frame (with the hardware type), so exact
//     copies still group.
//   - ErrTruncated: the capture ends inside a header. Not Valid:
//     Fingerprint is 0. A truncated frame never yields a partial
//     fingerprint, because a copy captured whole would not match it anyway.
//   - ErrMalformed: a header contradicts itself or its predecessor (IPv4
//     header length below 20 or above the total length, an IP version
//     that disagrees with the EtherType, a TCP data offset below 5 or past
//     the IP payload, an IPv6 extension header past the payload). Not
//     Valid. Inconsistencies that still let the packet be walked (a UDP
//     length that disagrees with the IP payload, bad checksums, odd TCP
//     options) are not errors: a broken packet is exactly the one worth
//     following to the hop that drops it.
//
// After ErrTruncated and ErrMalformed the fields of the headers decoded
// before the fault stay set, for display only.
//
// # Tunnels
//
// A pod's packet that crosses an overlay (flannel's or Calico's VXLAN,
// Cilium's Geneve, Calico's IPIP, GRE) is shown on the vxlan device as
// itself and on the underlay inside another packet. Decode looks into IP in
// IP (protocols 4 and 41, over IPv4 and IPv6), GRE version 0 carrying IP or
// Ethernet (gretap), and UDP to a VXLAN port (4789 and 8472 by default) or
// a Geneve port (6081), and describes such a packet by what it carries:
// the inner packet's fields and fingerprint, with Encap naming the tunnel,
// TunnelID its VNI or key and Outer its outer header. So the outer copy on
// the underlay and the inner copies on the tunnel device and the pod's veth
// have one fingerprint, and the correlator joins them into one trace.
// Packets that only look like tunnel packets (VXLAN without its I flag, a
// Geneve version other than 0, an inner packet that does not decode) are
// decoded as what they are on the outside.
//
// # Fingerprint
//
// The fingerprint hashes only what no forwarding hop rewrites, so the copy
// of a packet on a container's veth, on the bridge and on the uplink after
// SNAT, DNAT or masquerading have the same one, while packets that differ
// differ:
//
//   - the EtherType class (IPv4, IPv6, ARP, or the EtherType itself);
//   - IPv4: protocol, identification, total length and the flags and
//     fragment offset field (DF, MF, offset); not TTL, checksum, TOS (DSCP
//     and ECN) or addresses;
//   - IPv6: final next header, payload length, and the fragment header's
//     identification and offset if there is one; not hop limit, flow
//     label, traffic class, addresses or the contents of extension headers;
//   - TCP: sequence and acknowledgment numbers, flags, window and payload
//     length; not ports, checksum or options (MSS clamping rewrites them);
//   - UDP: the length field; not ports or checksum;
//   - ICMP and ICMPv6 echo (and the ICMP timestamp, information and
//     address mask queries): type, code, sequence and message length; not
//     the identifier, which masquerading may rewrite, nor the checksum;
//   - ICMP errors (types 3, 4, 5, 11, 12; ICMPv6 1–4): type, code, message
//     length, the 4 bytes after the checksum (MTU, pointer; not a
//     redirect's gateway) and, of the quoted IP header, version, protocol,
//     length, fragment field and identification — NAT rewrites the quoted
//     addresses, ports and checksums, so those are left out;
//   - other ICMP and ICMPv6 (NDP, …): type, code and the body after the
//     checksum;
//   - ARP: the whole ARP message (28 bytes for Ethernet and IPv4);
//   - never MAC addresses, VLAN tags or anything of the link-layer header,
//     nor bytes past the IP total length (Ethernet padding, trailers).
//
// Payload: for TCP, UDP, ICMP and ICMPv6 echo, other ICMP, non-first
// fragments (the bytes after the IP header), other IP protocols and other
// EtherTypes (the bytes after the Ethernet and VLAN headers) the hash
// covers min(captured, declared, 64) payload bytes and, except for other
// EtherTypes which have no length field, the declared length. So a copy
// cut by the snap length still matches when at least 64 payload bytes
// (or the whole payload) were captured.
//
// The hash is the wyhash core on 64-bit words finalized with murmur3's
// fmix64 (see fingerprint.go): one 128-bit multiply per 16 bytes, a few
// nanoseconds per packet. It is fixed rather than seeded per process as
// hash/maphash is, so a fingerprint means
// the same in every process and run (plugins, files, golden tests), at the
// price of not resisting deliberately crafted collisions.
//
// # Limits
//
//   - Packets that are equal in every hashed field have the same
//     fingerprint: two identical IPv6 datagrams (IPv6 has no
//     identification outside fragments), an IPv6 TCP retransmission with
//     an unchanged window, two equal ARP requests. The correlator tells them
//     apart by time and device.
//   - Payload bytes after the first 64 are not hashed.
//   - A hop that rewrites a hashed field breaks matching: NAT helpers
//     that adjust TCP sequence numbers (FTP, with a changed address
//     length) or payload (SIP and other ALGs), SYN proxies, TCP window
//     rewriting middleboxes, routers that clear DF, and a hop that
//     refragments or reassembles (conntrack defragmentation, IPv4
//     fragmentation on a smaller MTU).
//   - GRO and GSO: the aggregate the kernel shows on one side of a
//     device and the segments on the wire on the other are different
//     packets to the fingerprint (tracer/correlate joins them by TCP
//     sequence range and UDP payload); BIG TCP packets (IPv4 total length
//     0, IPv6 payload length 0) are malformed here.
//   - Tunnels are looked through one level deep: an inner packet that
//     is itself a tunnel packet is fingerprinted as such. VXLAN and Geneve
//     are found by UDP port (Tunnels), so VXLAN on a port nobody told
//     Decode about is plain UDP. A tunnel packet whose inner packet is
//     cut by the snap length is fingerprinted by its outer headers and
//     will not match its decapsulated copy: keep -s above the outer
//     headers (50 bytes for VXLAN over IPv4) plus the inner ones. IPsec
//     ESP and AH are opaque IP protocols.
//   - Frames of other EtherTypes are hashed from the captured bytes, so
//     Ethernet padding a hop adds to a short frame changes their
//     fingerprint.
//   - Packet.IPLen saturates at 65535 for IPv6 payloads over 65495 bytes;
//     the fingerprint uses the exact payload length.
package decode
