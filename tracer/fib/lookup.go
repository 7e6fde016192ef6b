package fib

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"syscall"
)

// Query is one route lookup, as `ip route get` takes it.
type Query struct {
	Dst   netip.Addr
	Src   netip.Addr // optional for an output lookup; the packet's source for an input lookup
	Iif   int        // non-zero: an input lookup for a packet that arrived on this device
	Oif   int        // the device the sender bound to, 0 for none
	Mark  uint32
	Tos   uint8 // the DS field byte ("tos 0x10")
	Proto uint8
	Sport uint16
	Dport uint16
	UID   *uint32 // the sending user for an output lookup (nil: 0); input lookups use 0
}

// Input reports whether q looks up the route of a received packet.
func (q Query) Input() bool { return q.Iif != 0 }

// Decision is the outcome of a lookup and how it was reached.
type Decision struct {
	Query Query

	// Type is the type of the route the lookup found, NoRoute when it
	// found none.
	Type Type
	// Errno is what the kernel's RTM_GETROUTE answers for this query: 0,
	// or the error (ENETUNREACH, EHOSTUNREACH, EINVAL, EACCES).
	Errno syscall.Errno
	// AltErrno is set when the outcome depends on what a snapshot does
	// not hold: the multipath hash (Nexthops are the paths that work, a
	// flow hashed to another gets this error) or multicast group
	// membership. The kernel may answer this error instead.
	AltErrno syscall.Errno
	// Drop is non-empty when the packet is discarded although, or before,
	// a route was found: a martian address, the reverse-path filter,
	// forwarding disabled.
	Drop string

	Steps []Step // the rules tried, in order
	Rule  *Rule  // the rule whose lookup or action decided; nil if none
	Table uint32 // the table the route came from; 0 if none
	Route *Route // the winning route; nil if none

	// Nexthops are the usable paths of the route: one, or for a multipath
	// route all of them, one of which the kernel picks by flow hash.
	Nexthops []Nexthop
	Dev      int        // the egress device (lo for local delivery); 0 if none
	Gateway  netip.Addr // invalid when the destination is on link
	Prefsrc  netip.Addr // the source address a local sender would get

	Losers []Loser  // routes that cover Dst and did not win, with why
	Notes  []string // hints: a device down, lo down, local delivery over lo
}

// Step is one rule the lookup considered.
type Step struct {
	Rule    Rule
	Matched bool
	Why     string // the selector that did not match, or what the match did
	Jumped  bool   // reached through a goto
}

// Loser is a route that covers the destination and lost, with the reason.
type Loser struct {
	Route Route
	Why   string
}

// flow is the kernel's flowi: what rules and tables match against.
type flow struct {
	v6           bool
	dst, src     netip.Addr
	hasSrc       bool
	iif, oif     int
	mark         uint32
	tos          uint8
	proto        uint8
	sport, dport uint16
	uid          uint32
	oifStrict    bool // IPv6: routes must leave through oif
}

const invalidUID = ^uint32(0)

// result is what one table lookup or a rule walk produced.
type result struct {
	errno syscall.Errno // 0, or EAGAIN for "continue with the next rule"
	typ   Type
	route *Route
	table uint32
	rule  *Rule
	nhs   []Nexthop
}

// Lookup replays the kernel's route lookup for q.
func (s *Snapshot) Lookup(q Query) Decision {
	q.Dst = q.Dst.Unmap()
	q.Src = q.Src.Unmap()
	d := Decision{Query: q, Type: NoRoute}
	if !q.Dst.IsValid() {
		d.Errno = syscall.EINVAL
		d.Drop = "no destination address"
		return d
	}
	if q.Dst.Is4() {
		s.output4(&d)
	} else {
		s.lookup6(&d)
	}
	s.explain(&d)
	return d
}

func (s *Snapshot) loIndex() int {
	for _, l := range s.Links {
		if l.Loopback {
			return l.Index
		}
	}
	return 1
}

func (s *Snapshot) newFlow(q Query) flow {
	fl := flow{
		v6: q.Dst.Is6(), dst: q.Dst, src: q.Src, hasSrc: q.Src.IsValid(),
		iif: q.Iif, oif: q.Oif, mark: q.Mark, tos: q.Tos,
		proto: q.Proto, sport: q.Sport, dport: q.Dport,
	}
	if !fl.hasSrc {
		if fl.v6 {
			fl.src = netip.IPv6Unspecified()
		} else {
			fl.src = netip.IPv4Unspecified()
		}
	}
	switch {
	case q.Input() && !fl.v6:
		// IPv4 looks a received packet up with the namespace's root uid
		// (sock_net_uid(net, NULL)), whatever RTA_UID says.
	case q.UID != nil:
		fl.uid = *q.UID
	case q.Input():
		fl.uid = invalidUID // IPv6: RTM_GETROUTE with iif and no uid
	}
	if !q.Input() {
		// Locally generated packets are looked up as if they came in on lo.
		fl.iif = s.loIndex()
	}
	return fl
}

// walk runs the policy rules for fl. With steps non-nil it records them.
func (s *Snapshot) walk(fl flow, steps *[]Step) result {
	rules := s.rules(fl.v6)
	jumped := false
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
		ok, why := s.ruleMatches(r, fl)
		step := Step{Rule: *r, Matched: ok, Why: why, Jumped: jumped}
		jumped = false
		if !ok {
			record(steps, step)
			continue
		}
		switch r.Action {
		case Goto:
			j := indexOfPriority(rules, r.Goto)
			if j <= i {
				// The kernel refuses a goto that does not jump forward;
				// a snapshot from elsewhere may still hold one.
				step.Why = fmt.Sprintf("goto %d: no later rule has that priority, continue", r.Goto)
				record(steps, step)
				continue
			}
			step.Why = fmt.Sprintf("goto %d", r.Goto)
			record(steps, step)
			i = j - 1
			jumped = true
			continue
		case Nop:
			step.Why = "nop: continue"
			record(steps, step)
			continue
		case RuleBlackhole, RuleUnreachable, RuleProhibit:
			res := result{rule: r}
			switch r.Action {
			case RuleBlackhole:
				res.typ, res.errno = Blackhole, syscall.EINVAL
			case RuleUnreachable:
				res.typ, res.errno = Unreachable, syscall.ENETUNREACH
			default:
				res.typ, res.errno = Prohibit, syscall.EACCES
			}
			step.Why = "action " + res.typ.String() + ": the packet is discarded"
			record(steps, step)
			return res
		}
		table := r.Table
		if r.L3mdev {
			table = s.l3mdevTable(fl)
		}
		res := s.tableLookup(table, fl)
		res.rule = r
		switch {
		case res.errno == syscall.EAGAIN && res.route != nil:
			step.Why = fmt.Sprintf("table %s: throw %s, continue", TableName(table), res.route.Dst)
		case res.errno == syscall.EAGAIN:
			step.Why = fmt.Sprintf("table %s: no route, continue", TableName(table))
		case res.errno == 0 && r.SuppressPrefixlen >= 0 && res.route.Dst.Bits() <= r.SuppressPrefixlen:
			step.Why = fmt.Sprintf("table %s: %s suppressed (prefix /%d ≤ suppress_prefixlength %d), continue",
				TableName(table), res.route.Dst, res.route.Dst.Bits(), r.SuppressPrefixlen)
			res.errno = syscall.EAGAIN
		case res.errno == 0 && r.SuppressIfgroup >= 0 && s.nhGroup(res) == uint32(r.SuppressIfgroup):
			step.Why = fmt.Sprintf("table %s: %s suppressed (device group %d), continue",
				TableName(table), res.route.Dst, r.SuppressIfgroup)
			res.errno = syscall.EAGAIN
		default:
			step.Why = fmt.Sprintf("table %s: %s %s", TableName(table), res.typ, res.route.Dst)
		}
		record(steps, step)
		if res.errno != syscall.EAGAIN {
			return res
		}
	}
	return result{errno: syscall.ENETUNREACH, typ: NoRoute}
}

func record(steps *[]Step, s Step) {
	if steps != nil {
		*steps = append(*steps, s)
	}
}

func indexOfPriority(rules []Rule, prio uint32) int {
	for i, r := range rules {
		if r.Priority == prio {
			return i
		}
	}
	return -1
}

func (s *Snapshot) nhGroup(res result) uint32 {
	if len(res.route.Nexthops) == 0 {
		return 0
	}
	l, _ := s.Link(res.route.Nexthops[0].Ifindex)
	return l.Group
}

// ruleMatches applies a rule's selectors in the kernel's order
// (fib_rule_match, then fib4_rule_match or fib6_rule_match).
func (s *Snapshot) ruleMatches(r *Rule, fl flow) (bool, string) {
	ok, why := s.selectors(r, fl)
	if r.Invert {
		if ok {
			return false, "not: all selectors match"
		}
		return true, "not: " + why
	}
	return ok, why
}

func (s *Snapshot) selectors(r *Rule, fl flow) (bool, string) {
	if len(r.Unmodelled) > 0 {
		return false, "uses " + strings.Join(r.Unmodelled, ", ") + ", which the model does not evaluate: treated as not matching"
	}
	if r.Iif != "" {
		l, ok := s.LinkByName(r.Iif)
		if !ok {
			return false, "iif " + r.Iif + " does not exist"
		}
		if l.Index != fl.iif {
			return false, fmt.Sprintf("iif %s ≠ %s", r.Iif, s.LinkName(fl.iif))
		}
	}
	if r.Oif != "" {
		l, ok := s.LinkByName(r.Oif)
		if !ok {
			return false, "oif " + r.Oif + " does not exist"
		}
		if l.Index != fl.oif {
			if fl.oif == 0 {
				return false, "oif " + r.Oif + ": the packet has no oif"
			}
			return false, fmt.Sprintf("oif %s ≠ %s", r.Oif, s.LinkName(fl.oif))
		}
	}
	if (r.Mark^fl.mark)&r.Mask != 0 {
		return false, fmt.Sprintf("fwmark %#x/%#x ≠ mark %#x", r.Mark, r.Mask, fl.mark)
	}
	if r.L3mdev && s.l3mdevTable(fl) == 0 {
		return false, "l3mdev: neither iif nor oif is in a VRF"
	}
	if r.UID != nil && (fl.uid < r.UID.Start || fl.uid > r.UID.End) {
		return false, fmt.Sprintf("uidrange %d-%d ∌ uid %d", r.UID.Start, r.UID.End, fl.uid)
	}
	if r.Src.IsValid() && r.Src.Bits() > 0 {
		if fl.v6 && !fl.hasSrc {
			return false, "from " + r.Src.String() + ": the lookup has no source address"
		}
		if !r.Src.Contains(fl.src) {
			return false, fmt.Sprintf("from %s ∌ %s", r.Src, fl.src)
		}
	}
	if r.Dst.IsValid() && r.Dst.Bits() > 0 && !r.Dst.Contains(fl.dst) {
		return false, fmt.Sprintf("to %s ∌ %s", r.Dst, fl.dst)
	}
	if r.Tos != 0 {
		if got := tosKey(fl); r.Tos != got {
			return false, fmt.Sprintf("tos %#x ≠ %#x", r.Tos, got)
		}
	}
	if r.IPProto != 0 && r.IPProto != fl.proto {
		return false, fmt.Sprintf("ipproto %s ≠ %s", protoName(r.IPProto), protoName(fl.proto))
	}
	if r.Sport != nil && (fl.sport < r.Sport.Start || fl.sport > r.Sport.End) {
		return false, fmt.Sprintf("sport %s ∌ %d", r.Sport, fl.sport)
	}
	if r.Dport != nil && (fl.dport < r.Dport.Start || fl.dport > r.Dport.End) {
		return false, fmt.Sprintf("dport %s ∌ %d", r.Dport, fl.dport)
	}
	return true, "matches"
}

// tosKey is the part of the DS field that IPv4 tos rules and routes compare
// (the three low DSCP bits, IPTOS_RT_MASK), or for IPv6 the whole DSCP.
func tosKey(fl flow) uint8 {
	if fl.v6 {
		return fl.tos & 0xfc
	}
	return fl.tos & 0x1c
}

func (p PortRange) String() string {
	if p.Start == p.End {
		return fmt.Sprint(p.Start)
	}
	return fmt.Sprintf("%d-%d", p.Start, p.End)
}

func protoName(p uint8) string {
	switch p {
	case 0:
		return "none"
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	}
	return fmt.Sprint(p)
}

// l3mdevTable is the table of the VRF the flow's oif or iif belongs to.
func (s *Snapshot) l3mdevTable(fl flow) uint32 {
	for _, idx := range []int{fl.oif, fl.iif} {
		l, ok := s.Link(idx)
		if !ok {
			continue
		}
		if l.Kind == "vrf" {
			return l.VRFTable
		}
		if m, ok := s.Link(l.Master); ok && m.Kind == "vrf" {
			return m.VRFTable
		}
	}
	return 0
}

// candidates returns the routes of one table and family that cover dst,
// in the order the kernel tries them: longest prefix first; within a
// prefix, IPv4 routes with a tos before those without, then by metric.
func (s *Snapshot) candidates(table uint32, fl flow) []*Route {
	var out []*Route
	for i := range s.Routes {
		r := &s.Routes[i]
		if r.Table != table || r.Dst.Addr().Is6() != fl.v6 || !r.Dst.Contains(fl.dst) {
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dst.Bits() != b.Dst.Bits() {
			return a.Dst.Bits() > b.Dst.Bits()
		}
		if a.Tos != b.Tos {
			return a.Tos > b.Tos
		}
		return a.Metric < b.Metric
	})
	return out
}

// tableLookup is fib_table_lookup (IPv4) or fib6_table_lookup (IPv6).
func (s *Snapshot) tableLookup(table uint32, fl flow) result {
	cands := s.candidates(table, fl)
	if fl.v6 {
		return s.tableLookup6(table, cands, fl)
	}
	for _, r := range cands {
		if why := s.unusable(r, fl); why != "" {
			continue
		}
		return s.found(table, r, fl)
	}
	return result{errno: syscall.EAGAIN, table: table}
}

// found is the result of a table lookup that chose r.
func (s *Snapshot) found(table uint32, r *Route, fl flow) result {
	res := result{route: r, typ: r.Type, table: table}
	switch r.Type {
	case Throw:
		res.errno = syscall.EAGAIN
	case Blackhole:
		res.errno = syscall.EINVAL
	case Prohibit:
		res.errno = syscall.EACCES
	case Unreachable:
		res.errno = syscall.EHOSTUNREACH
	default:
		res.nhs = s.usableNexthops(r, fl)
	}
	return res
}

// tableLookup6 follows fib6_table_lookup and rt6_select: for the longest
// prefix, the routes with the lowest metric (counting unusable ones) are
// scored first; only if none of them is usable do the others compete, all
// metrics alike. A route through the scoring device (oif, or for a received
// packet the device it came in on) scores higher than one that is not;
// among equal scores the first wins. Then shorter prefixes.
func (s *Snapshot) tableLookup6(table uint32, cands []*Route, fl flow) result {
	scoreDev := fl.oif
	if fl.iif != s.loIndex() {
		scoreDev = fl.iif
	}
	best := func(rs []*Route) *Route {
		var pick *Route
		mpri := -1
		for _, r := range rs {
			if s.unusable(r, fl) != "" {
				continue
			}
			nhs := r.Nexthops
			if len(nhs) == 0 {
				nhs = []Nexthop{{Ifindex: s.loIndex()}} // reject routes sit on lo
			}
			for _, nh := range nhs {
				if nh.Dead || (nh.Linkdown && s.ignoresLinkdown(nh.Ifindex, true)) {
					continue
				}
				m := 0
				if scoreDev == 0 || nh.Ifindex == scoreDev {
					m = 2
				} else if fl.oifStrict {
					continue
				}
				if m > mpri {
					pick, mpri = r, m
				}
			}
		}
		return pick
	}
	for i := 0; i < len(cands); {
		j := i
		for j < len(cands) && cands[j].Dst.Bits() == cands[i].Dst.Bits() {
			j++
		}
		group := cands[i:j]
		low := group[0].Metric
		k := 0
		for k < len(group) && group[k].Metric == low {
			k++
		}
		r := best(group[:k])
		if r == nil {
			r = best(group[k:])
		}
		if r != nil {
			return s.found(table, r, fl)
		}
		i = j
	}
	return result{errno: syscall.EAGAIN, table: table}
}

// unusable says why the lookup passes over a route that covers the
// destination, or "" when the route can be used.
func (s *Snapshot) unusable(r *Route, fl flow) string {
	if !fl.v6 && r.Tos != 0 && r.Tos != tosKey(fl) {
		return fmt.Sprintf("tos %#x ≠ the packet's %#x", r.Tos, tosKey(fl))
	}
	if len(r.Nexthops) == 0 {
		if fl.v6 && fl.oifStrict && fl.oif != s.loIndex() {
			// IPv6 reject routes sit on lo; with a strict oif they do not match.
			return "not via " + s.LinkName(fl.oif)
		}
		return ""
	}
	if len(s.usableNexthops(r, fl)) == 0 {
		nh := r.Nexthops[0]
		switch {
		case nh.Dead:
			return "nexthop " + s.LinkName(nh.Ifindex) + " is dead"
		case nh.Linkdown && s.ignoresLinkdown(nh.Ifindex, fl.v6):
			return s.LinkName(nh.Ifindex) + " has no carrier (linkdown) and ignore_routes_with_linkdown is set"
		case fl.oif != 0:
			return "not via " + s.LinkName(fl.oif)
		}
		return "no usable nexthop"
	}
	return ""
}

func (s *Snapshot) usableNexthops(r *Route, fl flow) []Nexthop {
	var out []Nexthop
	for _, nh := range r.Nexthops {
		if nh.Dead || (nh.Linkdown && s.ignoresLinkdown(nh.Ifindex, fl.v6)) {
			continue
		}
		if fl.oif != 0 && nh.Ifindex != fl.oif && (!fl.v6 || fl.oifStrict) {
			continue
		}
		out = append(out, nh)
	}
	return out
}

func (s *Snapshot) ignoresLinkdown(ifindex int, v6 bool) bool {
	l, _ := s.Link(ifindex)
	if v6 {
		return l.IgnoreLinkdown6
	}
	return l.IgnoreLinkdown4
}

// customRules reports whether the namespace has rules beyond the defaults
// (which makes the kernel's source validation take its full path).
func (s *Snapshot) customRules() bool {
	n := 0
	for _, r := range s.Rules {
		if r.IPv6 {
			continue
		}
		n++
		switch {
		case r.Priority == 0 && r.Table == TableLocal,
			r.Priority == 32766 && r.Table == TableMain,
			r.Priority == 32767 && r.Table == TableDefault:
			continue
		}
		return true
	}
	return n != 3
}

func (s *Snapshot) customLocalRoutes() bool {
	for _, r := range s.Routes {
		if r.Type == Local && r.Dst.Addr().Is4() && r.Protocol != 2 { // not RTPROT_KERNEL
			return true
		}
	}
	return false
}

func (s *Snapshot) rulesDissectPorts() bool {
	for _, r := range s.Rules {
		if !r.IPv6 && (r.IPProto != 0 || r.Sport != nil || r.Dport != nil) {
			return true
		}
	}
	return false
}

func (s *Snapshot) hasAddr4(ifindex int) bool {
	for _, a := range s.Addrs {
		if a.Ifindex == ifindex && a.Prefix.Addr().Is4() {
			return true
		}
	}
	return false
}
