package main

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/fib"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// stops tells where a packet that ended inside the host stopped, and which
// device should have shown it next: "stopped after labhost/br0 in;
// expected next: labhost/up0 out". From the topology:
//
//   - sent out of a veth whose peer is captured: the peer, in;
//   - received by a bridge port: the bridge, in (or another port, out);
//   - received by a device that routes, for an address not its
//     namespace's: the device the kernel's route lookup (RTM_GETROUTE,
//     with the packet's source and the device as input interface) sends it
//     out of, or the kernel's reason for having no route.
//
// A packet last seen leaving any other device left the host (or went where
// nothing is captured), and one received for its namespace's own address,
// a broadcast or a multicast group was delivered: neither stopped.
//
// Answers are kept per (device, direction, source, destination), and route
// lookups are rationed, so that a flood of distinct dropped packets costs
// a bounded number of netlink requests.
type stops struct {
	own   netns.ID
	devs  map[uint32]*tracer.Device // by interface id
	byKey map[topology.Key]uint32   // interface id of a device, newest
	name  func(uint32) string
	local func(ns uint64, a netip.Addr) bool // the namespace has the address

	cache   map[stopKey]stopAnswer
	paths   map[netns.ID]string // namespace files, for route lookups
	budget  int                 // route lookups left this second
	refill  time.Time
	lookups int
}

type stopAnswer struct {
	why string
	at  int64 // wall time, ns
}

// stopTTL is how long an answer is kept: a route or a firewall rule
// fixed since is seen within it.
const stopTTL = 10 * time.Second

type stopKey struct {
	iface    uint32
	dir      record.Direction
	src, dst netip.Addr
}

const (
	maxStopCache     = 4096
	lookupsPerSecond = 64
)

func newStops(own netns.ID, name func(uint32) string, local func(uint64, netip.Addr) bool) *stops {
	return &stops{own: own, devs: map[uint32]*tracer.Device{}, byKey: map[topology.Key]uint32{},
		name: name, local: local, cache: map[stopKey]stopAnswer{}, paths: map[netns.ID]string{}}
}

// device learns a device of the run.
func (s *stops) device(d tracer.Device) {
	s.devs[d.ID] = &d
	s.byKey[d.Key] = d.ID
}

// nsOf is the namespace of interface id.
func (s *stops) nsOf(id uint32) (netns.ID, bool) {
	if d := s.devs[id]; d != nil {
		return d.NetNS, true
	}
	return netns.ID{}, false
}

// explain returns "stopped after DEV dir; expected next: DEV dir" (or the
// kernel's reason) for a trace that ended inside the host, "" for one that
// did not; known is false when that could not be told now (route lookups
// rationed).
// now is the delivery's wall time, ns, for the age of cached answers.
func (s *stops) explain(tr *correlate.Trace, now int64) (why string, known bool) {
	if !tr.Decoded || len(tr.Hops) == 0 {
		return "", true
	}
	last := &tr.Hops[len(tr.Hops)-1]
	src, dst := addrsAt(last)
	if !dst.IsValid() || !src.IsValid() {
		return "", true
	}
	d := s.devs[last.Iface]
	if d == nil {
		return "", true
	}
	k := stopKey{iface: last.Iface, dir: last.Dir, src: src, dst: dst}
	if a, ok := s.cache[k]; ok && now-a.at < int64(stopTTL) {
		return a.why, true
	}
	why, final := s.next(d, last, src, dst)
	if why != "" {
		why = "stopped after " + s.name(last.Iface) + " " + last.Dir.String() + "; " + why
	}
	if !final {
		return "", false
	}
	if len(s.cache) >= maxStopCache {
		clear(s.cache)
	}
	s.cache[k] = stopAnswer{why: why, at: now}
	return why, true
}

// addrsAt are the addresses the device of hop h routed by: the tunnel
// packet's where h saw the packet inside one (an overlay's underlay),
// else the packet's own; invalid when not IP.
func addrsAt(h *correlate.Hop) (src, dst netip.Addr) {
	if h.Tunnel.Encap != record.EncapNone {
		return h.Tunnel.Outer.Src, h.Tunnel.Outer.Dst
	}
	if h.Tuple.EtherType != 0x0800 && h.Tuple.EtherType != 0x86dd {
		return netip.Addr{}, netip.Addr{}
	}
	return h.Tuple.Src, h.Tuple.Dst
}

// next is "expected next: …" (or the reason there is no next hop) for a
// packet last seen at h on d, "" when it did not stop; final is false when
// the answer could not be had now and should be asked again.
func (s *stops) next(d *tracer.Device, h *correlate.Hop, src, dst netip.Addr) (why string, final bool) {
	switch h.Dir {
	case record.DirOut:
		if d.Kind != "veth" || d.Peer == nil {
			return "", true
		}
		if id, ok := s.byKey[d.Peer.Key]; ok {
			return "expected next: " + s.name(id) + " in", true
		}
		return "", true // the peer is not captured
	case record.DirIn:
	default:
		return "", true
	}
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() || dst.IsLoopback() || dst.Is4() && dst.As4()[3] == 255 {
		return "", true
	}
	if d.Master != nil {
		if id, ok := s.byKey[d.Master.Key]; ok {
			m := s.name(id)
			return "expected next: " + m + " in, or another port of " + m + " out", true
		}
		return "", true
	}
	if s.local(d.NetNS.Ino, dst) {
		return "", true // delivered to its namespace
	}
	if !s.ration() {
		return "", false
	}
	r, err := s.routeGet(d, src, dst)
	switch {
	case err != nil:
		return "", true
	case r.Err != nil:
		return "the kernel has no route: " + errText(r.Err), true
	case fib.Type(r.Type) == fib.Local:
		return "", true
	case fib.Type(r.Type) == fib.Blackhole:
		return "the kernel's route is a blackhole", true
	}
	id, ok := s.byKey[topology.Key{NetNS: d.NetNS, Ifindex: int32(r.Oif)}]
	if !ok {
		return fmt.Sprintf("expected next: if%d out (not captured)", r.Oif), true
	}
	return "expected next: " + s.name(id) + " out", true
}

// ration spends one route lookup of this second's budget.
func (s *stops) ration() bool {
	if now := time.Now(); now.Sub(s.refill) >= time.Second {
		s.refill, s.budget = now, lookupsPerSecond
	}
	if s.budget == 0 {
		return false
	}
	s.budget--
	return true
}

// routeGet asks the kernel of d's namespace where it forwards a packet that
// came in on d.
func (s *stops) routeGet(d *tracer.Device, src, dst netip.Addr) (topology.KernelRoute, error) {
	path, ok := s.paths[d.NetNS]
	if !ok {
		var err error
		if path, err = namespacePath(s.own, d.NetNS); err != nil {
			return topology.KernelRoute{}, err
		}
		s.paths[d.NetNS] = path
	}
	rd, err := topology.Open(path)
	if err != nil {
		delete(s.paths, d.NetNS) // a process's namespace file goes with it
		return topology.KernelRoute{}, err
	}
	defer rd.Close()
	s.lookups++
	return rd.RouteGet(topology.RouteQuery{Dst: dst, Src: src, Iif: int(d.Ifindex)})
}

// errText names a route lookup's errno as ip(8) does.
func errText(err error) string {
	switch {
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable (no route, or an unreachable route)"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.EACCES):
		return "prohibited (a prohibit route or rule)"
	case errors.Is(err, syscall.EINVAL):
		return "invalid source for this input interface (reverse-path filter, martian)"
	}
	return err.Error()
}
