package fib

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// explain fills in the losers and the notes once the decision is made.
func (s *Snapshot) explain(d *Decision) {
	fl := s.newFlow(d.Query)
	consulted := map[uint32]string{} // table → why it gave nothing
	for _, st := range d.Steps {
		if st.Matched && st.Rule.Action == ToTable {
			if _, seen := consulted[st.Rule.Table]; !seen {
				consulted[st.Rule.Table] = fmt.Sprintf("rule %d: %s", st.Rule.Priority, st.Why)
			}
		}
	}
	for i := range s.Routes {
		r := &s.Routes[i]
		if r == d.Route || r.Dst.Addr().Is6() != fl.v6 || !r.Dst.Contains(fl.dst) {
			continue
		}
		d.Losers = append(d.Losers, Loser{Route: *r, Why: s.lostBecause(d, r, fl, consulted)})
	}
	sort.SliceStable(d.Losers, func(i, j int) bool {
		a, b := d.Losers[i].Route, d.Losers[j].Route
		if (a.Table == d.Table) != (b.Table == d.Table) {
			return a.Table == d.Table
		}
		return a.Dst.Bits() > b.Dst.Bits()
	})
	s.notes(d)
}

func (s *Snapshot) lostBecause(d *Decision, r *Route, fl flow, consulted map[uint32]string) string {
	if d.Route != nil && r.Table == d.Table {
		w := d.Route
		if why := s.unusable(r, fl); why != "" {
			return why
		}
		switch {
		case r.Dst.Bits() < w.Dst.Bits():
			return fmt.Sprintf("longer prefix wins: /%d beats /%d", w.Dst.Bits(), r.Dst.Bits())
		case r.Dst.Bits() > w.Dst.Bits():
			return "passed over"
		case !fl.v6 && w.Tos != 0 && r.Tos == 0:
			return fmt.Sprintf("a route with the packet's tos %#x is tried first", w.Tos)
		case r.Metric > w.Metric:
			return fmt.Sprintf("lower metric wins: %d beats %d", w.Metric, r.Metric)
		}
		return "listed after the winner with the same metric"
	}
	if why, ok := consulted[r.Table]; ok {
		if u := s.unusable(r, fl); u != "" {
			return fmt.Sprintf("table %s consulted (%s) but this route is unusable: %s", TableName(r.Table), why, u)
		}
		return fmt.Sprintf("table %s consulted: %s", TableName(r.Table), why)
	}
	for _, st := range d.Steps {
		if st.Rule.Action == ToTable && st.Rule.Table == r.Table && !st.Matched {
			return fmt.Sprintf("table %s not consulted: rule %d did not match (%s)", TableName(r.Table), st.Rule.Priority, st.Why)
		}
	}
	if d.Rule != nil {
		first := ""
		if r.Table == TableMain && d.Table == TableLocal {
			first = " (the local table is consulted first)"
		}
		return fmt.Sprintf("table %s not consulted: rule %d decided first%s", TableName(r.Table), d.Rule.Priority, first)
	}
	return fmt.Sprintf("no rule looks up table %s", TableName(r.Table))
}

// notes adds what a user most likely needs to hear.
func (s *Snapshot) notes(d *Decision) {
	for _, st := range d.Steps {
		if len(st.Rule.Unmodelled) > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("rule %d selects on %s, which the model does not evaluate: if it matches, the kernel's answer may differ",
				st.Rule.Priority, strings.Join(st.Rule.Unmodelled, ", ")))
		}
	}
	anyUp, lo := false, Link{}
	for _, l := range s.Links {
		if l.Up {
			anyUp = true
		}
		if l.Loopback {
			lo = l
		}
	}
	switch {
	case !anyUp:
		d.Notes = append(d.Notes, "no interface is up (lo is down), so nothing can be sent or received in this namespace: run `ip link set lo up`")
	case lo.Name != "" && !lo.Up:
		d.Notes = append(d.Notes, "lo is down: this namespace cannot deliver packets to its own addresses: run `ip link set lo up`")
	}
	if (d.Type == Local || d.Type == Anycast) && d.Errno == 0 && len(d.Nexthops) > 0 {
		if l, ok := s.Link(d.Nexthops[0].Ifindex); ok && !l.Loopback {
			d.Notes = append(d.Notes, fmt.Sprintf("%s is an address of %s: the %s route in table %s delivers it over %s, not over %s",
				d.Query.Dst, l.Name, d.Type, TableName(d.Table), s.LinkName(d.Dev), l.Name))
		}
	}
	if d.Type == Unicast && d.Errno == 0 && d.Dev != 0 {
		if l, ok := s.Link(d.Dev); ok && l.Up && !l.Carrier {
			d.Notes = append(d.Notes, l.Name+" has no carrier (nothing is plugged in, or its veth peer or bridge ports are down): packets routed there go nowhere")
		}
	}
	if d.Type == NoRoute {
		for _, a := range s.Addrs {
			l, _ := s.Link(a.Ifindex)
			if !l.Up && a.Prefix.Masked().Contains(d.Query.Dst) {
				d.Notes = append(d.Notes, fmt.Sprintf("%s has %s but is down, so its routes are gone: run `ip link set %s up`", l.Name, a.Prefix, l.Name))
			}
		}
	}
}

// RuleString renders a rule as `ip rule` does.
func RuleString(r Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: ", r.Priority)
	if r.Invert {
		b.WriteString("not ")
	}
	from := "all"
	if r.Src.IsValid() && r.Src.Bits() > 0 {
		from = r.Src.String()
	}
	b.WriteString("from " + from)
	if r.Dst.IsValid() && r.Dst.Bits() > 0 {
		b.WriteString(" to " + r.Dst.String())
	}
	if r.Tos != 0 {
		fmt.Fprintf(&b, " tos %#x", r.Tos)
	}
	if r.Mask != 0 {
		if r.Mask == ^uint32(0) {
			fmt.Fprintf(&b, " fwmark %#x", r.Mark)
		} else {
			fmt.Fprintf(&b, " fwmark %#x/%#x", r.Mark, r.Mask)
		}
	}
	if r.Iif != "" {
		b.WriteString(" iif " + r.Iif)
	}
	if r.Oif != "" {
		b.WriteString(" oif " + r.Oif)
	}
	if r.UID != nil {
		fmt.Fprintf(&b, " uidrange %d-%d", r.UID.Start, r.UID.End)
	}
	if r.IPProto != 0 {
		b.WriteString(" ipproto " + protoName(r.IPProto))
	}
	if r.Sport != nil {
		b.WriteString(" sport " + r.Sport.String())
	}
	if r.Dport != nil {
		b.WriteString(" dport " + r.Dport.String())
	}
	switch r.Action {
	case Goto:
		fmt.Fprintf(&b, " goto %d", r.Goto)
	case Nop:
		b.WriteString(" nop")
	case RuleBlackhole:
		b.WriteString(" blackhole")
	case RuleUnreachable:
		b.WriteString(" unreachable")
	case RuleProhibit:
		b.WriteString(" prohibit")
	default:
		if r.L3mdev {
			b.WriteString(" lookup [l3mdev-table]")
		} else {
			b.WriteString(" lookup " + TableName(r.Table))
		}
	}
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	if r.SuppressIfgroup >= 0 {
		fmt.Fprintf(&b, " suppress_ifgroup %d", r.SuppressIfgroup)
	}
	return b.String()
}

// RouteString renders a route as `ip route show table all` does.
func (s *Snapshot) RouteString(r Route) string {
	var b strings.Builder
	if r.Type != Unicast {
		b.WriteString(r.Type.String() + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else if (r.Dst.Addr().Is4() && r.Dst.Bits() == 32) || r.Dst.Bits() == 128 {
		b.WriteString(r.Dst.Addr().String())
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Tos != 0 {
		fmt.Fprintf(&b, " tos %#x", r.Tos)
	}
	if len(r.Nexthops) == 1 {
		s.nexthopString(&b, r.Nexthops[0])
	}
	if r.Table != TableMain {
		b.WriteString(" table " + TableName(r.Table))
	}
	switch r.Protocol {
	case 2:
		b.WriteString(" proto kernel")
	case 3:
		b.WriteString(" proto boot")
	case 4:
		b.WriteString(" proto static")
	}
	switch r.Scope {
	case 253:
		b.WriteString(" scope link")
	case 254:
		b.WriteString(" scope host")
	}
	if r.Prefsrc.IsValid() {
		b.WriteString(" src " + r.Prefsrc.String())
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if len(r.Nexthops) > 1 {
		for _, nh := range r.Nexthops {
			b.WriteString(" nexthop")
			s.nexthopString(&b, nh)
			fmt.Fprintf(&b, " weight %d", nh.Weight)
		}
	}
	return b.String()
}

func (s *Snapshot) nexthopString(b *strings.Builder, nh Nexthop) {
	if nh.Gateway.IsValid() {
		b.WriteString(" via " + nh.Gateway.String())
	}
	b.WriteString(" dev " + s.LinkName(nh.Ifindex))
	if nh.Onlink {
		b.WriteString(" onlink")
	}
	if nh.Dead {
		b.WriteString(" dead")
	}
	if nh.Linkdown {
		b.WriteString(" linkdown")
	}
}

// Summary is the decision in one line: "unicast via 10.0.0.1 dev eth0
// table main src 10.0.0.2", "local dev lo table local", "no-route
// (Network is unreachable)".
func (s *Snapshot) Summary(d Decision) string {
	var b strings.Builder
	b.WriteString(d.Type.String())
	if d.Route != nil && d.Route.Type != Throw {
		if d.Route.Dst.Bits() == 0 {
			b.WriteString(" default")
		} else {
			b.WriteString(" " + d.Route.Dst.String())
		}
	}
	if d.Gateway.IsValid() {
		b.WriteString(" via " + d.Gateway.String())
	}
	if d.Dev != 0 {
		b.WriteString(" dev " + s.LinkName(d.Dev))
	}
	if len(d.Nexthops) > 1 {
		var alt []string
		for _, nh := range d.Nexthops {
			p := s.LinkName(nh.Ifindex)
			if nh.Gateway.IsValid() {
				p = nh.Gateway.String() + " dev " + p
			}
			alt = append(alt, p)
		}
		b.WriteString(" (one of: " + strings.Join(alt, ", ") + ")")
	}
	if d.Table != 0 {
		b.WriteString(" table " + TableName(d.Table))
	}
	if d.Prefsrc.IsValid() && d.Errno == 0 {
		b.WriteString(" src " + d.Prefsrc.String())
	}
	if d.Errno != 0 {
		fmt.Fprintf(&b, " (%s)", d.Errno.Error())
	}
	if d.Drop != "" {
		b.WriteString(": " + d.Drop)
	}
	return b.String()
}

// Write prints the decision chain for a human: the rules tried, the
// winner, the competitors and the notes.
func (s *Snapshot) Write(w io.Writer, d Decision) {
	if len(d.Steps) > 0 {
		fmt.Fprintln(w, "rules:")
		for _, st := range d.Steps {
			mark := "✗"
			if st.Matched {
				mark = "→"
			}
			jump := ""
			if st.Jumped {
				jump = "(goto) "
			}
			fmt.Fprintf(w, "  %-40s %s %s%s\n", RuleString(st.Rule), mark, jump, st.Why)
		}
	}
	fmt.Fprintf(w, "decision: %s\n", s.Summary(d))
	if d.Rule != nil {
		fmt.Fprintf(w, "  rule:   %s\n", RuleString(*d.Rule))
	}
	if d.Route != nil {
		fmt.Fprintf(w, "  route:  %s\n", s.RouteString(*d.Route))
	}
	if len(d.Losers) > 0 {
		fmt.Fprintln(w, "competitors:")
		for _, l := range d.Losers {
			fmt.Fprintf(w, "  %s\n      %s\n", s.RouteString(l.Route), l.Why)
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
