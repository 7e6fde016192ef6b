// Package fib models the Linux kernel's route lookup so that ifacetrace can
// say not only where a packet goes but why: which policy rule matched, which
// table was consulted, which route won and which competitors it beat.
//
// `ip route get` (RTM_GETROUTE) gives the kernel's answer but none of the
// reasoning. This package replays the lookup on a Snapshot of one network
// namespace — devices, addresses, routes of every table, policy rules and the
// few sysctls that change the outcome — and records every step:
//
//   - rules by priority with their selectors (from, to, iif, oif,
//     fwmark/mask, tos, ipproto, sport, dport, uidrange, l3mdev), inverted
//     with `not`, and their actions (lookup, goto, nop, blackhole,
//     unreachable, prohibit), with suppress_prefixlength and
//     suppress_ifgroup applied after a successful lookup;
//   - within a table: longest prefix first, then routes with a matching tos
//     before tos-less ones, then the lowest metric; nexthops that are dead,
//     or linkdown where ignore_routes_with_linkdown is set, are skipped; a
//     throw route or an empty table continues with the next rule;
//   - route types unicast, local, broadcast, anycast, multicast, blackhole,
//     unreachable, prohibit and throw; multipath routes are "one of" their
//     nexthops (the kernel picks by hash);
//   - output lookups (locally generated, iif lo) and input lookups (a packet
//     arriving on iif from a source), with the input path's checks: martian
//     addresses, forwarding disabled, the reverse-path filter.
//
// The model is pure: it never talks to the kernel. Snapshots come from
// netlink (tracer/topology) or from the plugin stream, so the route plugin
// runs the same code out of process. Where the kernel consults state a
// snapshot does not hold (neighbour reachability for IPv6 gateways when
// forwarding is off, the multipath hash, VRF devices' strict mode), the
// Decision says so instead of guessing. Its correctness is judged by the
// kernel itself: the oracle test builds random tables and rules in a
// namespace and compares every answer with RTM_GETROUTE.
package fib
