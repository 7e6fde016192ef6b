// Package correlate groups the sightings of one packet into a trace.
//
// Linux shows a forwarded packet to packet sockets once per device and
// direction: a container's ping is seen leaving the container's eth0,
// entering the host's veth, entering the bridge and, rewritten by NAT,
// leaving the uplink. The sockets of different namespaces deliver these
// copies in separate batches, in no common order. The Correlator
//
//  1. merges the batches of every source by kernel timestamp, waiting for a
//     source until its watermark (the newest time it delivered, or the wall
//     clock minus Config.Lag once it has been idle that long) has passed;
//  2. decodes each sighting (tracer/decode) into a fingerprint of the fields
//     no hop rewrites, and its addresses;
//  3. joins it to the oldest open trace with the same fingerprint that has
//     no sighting on the same device in the same direction, preferring a
//     trace whose last hop had the same addresses and ports; otherwise it
//     starts a trace;
//  4. closes a trace once the watermark is Config.Window past its first
//     sighting (or when the table is full: an eviction, counted), and
//     releases the sightings in time order, each annotated with its trace
//     id and its hop number.
//
// Why this never merges distinct packets that look the same (identical UDP
// datagrams, IPv6 without an IP ID, TCP retransmissions, repeated ICMP
// id/seq): a trace holds one sighting per device and direction, and copies
// are assigned first come first served in time order, which is the order a
// path of queues preserves. A retransmission is sent long after the
// original passed the first device, so it starts a trace of its own.
//
// Why it survives NAT, TTL, checksum, MAC and VLAN changes, and MSS
// clamping: none of those fields are in the fingerprint; the addresses are
// kept per hop, and the differences between consecutive hops become the
// trace's changes ("SNAT 10.200.1.2→10.200.2.1").
//
// Tunnels and offloads: an overlay's outer copy fingerprints as the packet
// it carries (tracer/decode), so it joins the trace like any other copy,
// and its hop keeps the tunnel. A packet that offloads cut into segments
// (TCP TSO/GSO, UDP GSO) or glued from them (TCP GRO) has several copies
// on one device: the pieces are child traces of the whole packet's,
// matched by TCP acknowledgment and sequence range or by UDP payload, and
// leave with it as one trace (segments.go).
//
// The package does no I/O and keeps no clock of its own: callers pass the
// wall time to Advance, so tests drive it with synthetic time. It is not
// safe for concurrent use. Memory is bounded by Config.MaxTraces open traces
// and Config.MaxPending sightings waiting for the merge; what exceeds them is
// counted in Stats. Once its buffers have grown to the traffic, it allocates
// nothing per sighting: only the traces Drain returns, together, a few
// allocations per call (TestSteadyStateAllocs).
package correlate
