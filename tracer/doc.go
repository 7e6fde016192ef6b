// Package tracer captures every sighting of every packet in a network
// namespace: one copy of a frame at one device in one direction, with the
// kernel's timestamp.
//
// Work is split as cilium/ebpf splits spec and object. A Plan is pure: from
// the options and the namespace's device list it decides which sockets to
// open (one on "any", or one per -i device), with which snap length and
// limits; it can be printed and tested without privileges. Open turns a Plan
// into a live Session; only Open and Run touch the kernel.
//
// A Session reads each socket's TPACKET_V3 ring on a goroutine of its own and
// copies frames straight from the ring into batches in the packed layout of
// pcap/record, which is also what plugins receive: one copy per sighting. Each
// record names its device by an interface id that the session assigns on
// first sight of a (namespace, ifindex, name) and announces in the batch
// before the first record that uses it, so devices that appear during a
// capture (a container starting) are described without restarting.
//
// Kernel drops are never silent: they are counted per socket (PACKET_STATISTICS)
// and the count since the previous frame rides on the next frame's record.
//
// Privilege: Open needs CAP_NET_RAW (CAP_NET_ADMIN for promiscuous mode,
// CAP_SYS_ADMIN for another namespace). Sink.Deliver must not retain a
// Batch or its Records after it returns.
package tracer
