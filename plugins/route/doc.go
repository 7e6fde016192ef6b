// Package route is the built-in routing plugin: for every flow it says what
// the kernel's route lookup decided in each namespace the packets crossed —
// the policy rule, the table, the route — and whether the packets did what
// routing says. A trace shows where a packet went; this says why, and
// flags where the two disagree.
//
// It subscribes to traces, flows and topology: the routing snapshots of
// the captured namespaces (Batch.routing, converted with FromProto) are
// replayed with tracer/fib, the same pure model `ifacetrace route get`
// uses, out of process and without privilege. A newer snapshot of a
// namespace replaces the older one; one that does not parse is reported
// as a warning and the older one kept.
//
// # What it explains
//
// The hops of a trace are grouped by namespace. In each:
//
//   - a trace that starts there with "out" was sent by a local process:
//     an output lookup with the first hop's addresses (without the source
//     when it is not an address of the namespace: SNAT rewrote it after the
//     lookup);
//   - a run of "in" hops followed by an "out" was routed: an input lookup
//     on the last in-hop's device (a bridge port's bridge, when the bridge
//     itself was not seen), with the in-hop's source and the out-hop's
//     destination (DNAT rewrites the destination before the lookup, SNAT
//     the source after it). A frame that came in on one port of a bridge
//     and left through another was bridged, not routed;
//   - a trace that ends there with "in" hops was delivered locally, or
//     never left: the decision says why (no route, a blackhole,
//     unreachable or prohibit route or rule, the reverse-path filter, a
//     martian address, forwarding off) or, when routing would forward it,
//     that something else dropped it, e.g. netfilter.
//
// The device a packet left through — a bridge port counts as its bridge —
// is compared by ifindex with the decision's device (any nexthop of a
// multipath route): a difference is a MISMATCH, and so is a packet routing
// delivers locally leaving through anything but lo.
//
// Decisions are cached per namespace, snapshot and query (4096 entries,
// cleared when full), so a flow costs a few lookups, not one per packet.
//
// # Output
//
// One block per flow, when the flow closes (expiry, or the end of the run);
// the forward direction (from the flow's originator) first, namespaces in
// the order the packets met them; counts are packets:
//
//	flow 1 icmp 10.200.1.2 → 10.200.2.2 (3 packets →, 3 ←)
//	  → c1: sent via eth0: unicast default via 10.200.1.1 dev eth0 table main src 10.200.1.2 (rule 32766 from all lookup main); observed eth0 ✓ (3)
//	  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (3)
//	  → out: in eth0: local 10.200.2.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (3)
//	  ← out: sent via eth0: unicast 10.200.1.0/24 via 10.200.2.1 dev eth0 table main src 10.200.2.2 (rule 32766 from all lookup main); observed eth0 ✓ (3)
//	  ← host: in up0, routed to br0: unicast 10.200.1.0/24 dev br0 table main (rule 32766 from all lookup main); observed br0 ✓ (3)
//	  ← c1: in eth0: local 10.200.1.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (3)
//
// and where something is wrong (lines from several flows):
//
//	flow 2 icmp 10.200.1.2 → 10.200.2.2 (6 packets →, 0 ←)
//	  → host: in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up1 ✗ (2), up0 ✓ (1)
//	  → host: in br0: MISMATCH: routing says dev up0, the packet left via up1 (2)
//	  → host: in br0: 2 packets never left: routing allows it (unicast 10.200.2.0/24 dev up0 table main): dropped elsewhere, e.g. by netfilter
//	  → host: in br0: 1 packet never left: blackhole route 10.200.9.0/24 in table 100 (rule 100 from all to 10.200.9.0/24 lookup 100)
//	  → host: bridged by br0 (veth-c to veth-d), not routed (1)
//	    note: …
//
// The namespace is Interface.netns, "host" for the tracer's own. The
// decision text is fib's one-line summary and the rule as `ip rule` shows
// it. Notes of the model (a device down, no carrier, …) follow problem
// lines only. A namespace without a snapshot (a capture read from a file)
// is named once: "no routing snapshot for NS: explanations need a live
// capture". Traces without a flow are explained one by one ("trace ID:
// SUMMARY" and the same lines), at most 100 lines of them; the rest are
// counted. Finish reports the counters flows, traces, explained, lookups,
// mismatches, never_left, delivered_locally and, when they occur, bridged,
// no_snapshot, not_shown, unknown_hops and bad_snapshots.
//
// # Options
//
// path: write the explanations to this file (created or truncated, mode
// 0644) instead of the terminal. Without it, lines go to the terminal as
// the capture runs, and flows still open at Finish (normally none: the
// host closes every flow at the end) come back as warnings.
//
// # Limits
//
// The lookup is replayed from what a trace shows, which is not all the
// kernel knows: a packet's fwmark and the sending socket's uid and bound
// device are not in the packet, so rules selecting on them are evaluated
// for mark 0, uid 0 and no oif (a multicast or broadcast sender is taken
// to have bound the device it sent through). The tos byte is in the
// packet but Trace tuples do not carry it yet, so it is 0 too. Each
// trace is judged against the snapshot current when it was seen (the last
// three per namespace are kept); a change shows after the watch's 100 ms
// coalescing, so packets in that moment may be judged on the old one. The
// multipath hash, IPv6 neighbour reachability and netfilter are not
// modelled; a forwarded multicast or broadcast is not compared. NAT other
// than the usual DNAT-before, SNAT-after (e.g. IPVS, or a REDIRECT to a
// local address) can make the model's destination differ from the
// kernel's.
package route
