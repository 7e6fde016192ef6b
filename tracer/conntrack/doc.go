// Package conntrack follows a namespace's connection tracking, so that a
// trace's NAT can be confirmed by the kernel's own record of it: the
// entry whose original tuple is the packet as it entered the namespace
// and whose reply tuple, reversed, is the packet as it left says that
// this SNAT or DNAT is the kernel's mapping, not a guess from packet
// contents. Its state (TCP state, status bits such as ASSURED), zone and
// mark go into traces and flows.
//
// A Table is filled from ctnetlink: a dump of the entries present when it
// starts, then the NEW, UPDATE and DESTROY events. The netlink work is
// github.com/ti-mo/conntrack's, which parses ctnetlink's nested attributes
// completely; vishvananda/netlink, used elsewhere, can dump the table but
// not listen to its events. Destroyed entries stay until the table is
// full, because a trace is looked up only when it closes, after the
// correlation window, by which time a short connection (a single ping) may
// be gone from the kernel.
//
// Where ctnetlink is not available (no nf_conntrack in the kernel, no
// CAP_NET_ADMIN), Watch fails and correlation goes on from packet contents
// alone.
package conntrack
