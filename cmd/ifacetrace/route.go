package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/tracer/fib"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func routeCommand() *cli.Command {
	return &cli.Command{
		Name:  "route",
		Usage: "explain routing decisions",
		Subcommands: []*cli.Command{{
			Name:      "get",
			Usage:     "explain the route to an address: rules tried, table, winning route and the routes it beat, beside the kernel's own answer",
			ArgsUsage: "DST",
			Description: `Replays the kernel's route lookup on the namespace's rules, tables and
sysctls and prints every step: the policy rules tried and the one that
matched, the table, the winning route and the competitors it beat (longer
prefix, lower metric, local table first, throw), the egress device, gateway
and source address. The kernel's own answer (RTM_GETROUTE, what ip route get
prints) is shown beside it with "agrees" or the difference.

Without --iif the lookup is for a packet this namespace sends; with --iif
(and --from) it is for a packet that arrived on that device, as forwarding
sees it, with its checks (martian addresses, rp_filter, forwarding off).

Examples:
   ifacetrace route get 172.17.0.1                  why a bridge's own address goes over lo
   ifacetrace route get 10.200.2.2 --from 10.200.1.2 --iif br0
   sudo ifacetrace route get 8.8.8.8 --mark 0x7 --netns c1
   ifacetrace route get 192.0.2.1 --proto udp --dport 53 --json`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "from", Usage: "source `ADDRESS` (required with --iif)"},
				&cli.StringFlag{Name: "iif", Usage: "input `DEVICE`: look up as for a packet received on it"},
				&cli.StringFlag{Name: "oif", Usage: "output `DEVICE` the sender is bound to"},
				&cli.StringFlag{Name: "mark", Usage: "firewall `MARK` (fwmark), decimal or 0x hex"},
				&cli.StringFlag{Name: "tos", Usage: "`TOS` (DS field byte), decimal or 0x hex"},
				&cli.StringFlag{Name: "proto", Usage: "IP `PROTOCOL`: tcp, udp, icmp, ipv6-icmp or a number"},
				&cli.UintFlag{Name: "sport", Usage: "source `PORT`"},
				&cli.UintFlag{Name: "dport", Usage: "destination `PORT`"},
				&cli.StringFlag{Name: "uid", Usage: "sending user `UID` (default: yours, for a local sender)"},
				&cli.StringFlag{Name: "netns", Usage: "namespace `SEL`: a name in /run/netns, a path or pid:N"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object: the decision, the kernel's answer and whether they agree"},
			},
			Action: routeGetAction,
		}},
	}
}

func routeGetAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("route get needs one destination address, e.g. ifacetrace route get 10.0.0.1")
	}
	dst, err := netip.ParseAddr(c.Args().First())
	if err != nil {
		return usagef("destination %q is not an IP address", c.Args().First())
	}
	if dst.Zone() != "" {
		return usagef("destination %s: give the device with --oif %s instead of a %%zone", dst, dst.Zone())
	}
	q := fib.Query{Dst: dst.Unmap()}
	if s := c.String("from"); s != "" {
		if q.Src, err = netip.ParseAddr(s); err != nil {
			return usagef("--from %q is not an IP address", s)
		}
		q.Src = q.Src.Unmap()
		if q.Src.Is4() != q.Dst.Is4() {
			return usagef("--from %s and %s are of different families", q.Src, q.Dst)
		}
	}
	if q.Mark, err = parseUint32(c.String("mark"), "--mark"); err != nil {
		return err
	}
	tos, err := parseUint32(c.String("tos"), "--tos")
	if err != nil || tos > 255 {
		return usagef("--tos %q must be a number from 0 to 255", c.String("tos"))
	}
	q.Tos = uint8(tos)
	if q.Proto, err = parseProto(c.String("proto")); err != nil {
		return err
	}
	if c.Uint("sport") > 65535 || c.Uint("dport") > 65535 {
		return usagef("--sport and --dport must be ports (0-65535)")
	}
	q.Sport, q.Dport = uint16(c.Uint("sport")), uint16(c.Uint("dport"))
	if (q.Sport != 0 || q.Dport != 0) && q.Proto == 0 {
		return usagef("--sport and --dport need --proto tcp or udp")
	}
	if s := c.String("uid"); s != "" {
		u, err := parseUint32(s, "--uid")
		if err != nil {
			return err
		}
		q.UID = &u
	} else if c.String("iif") == "" {
		u := uint32(os.Getuid())
		q.UID = &u
	}

	entries, _, err := selectNamespaces(nonEmpty(c.String("netns")))
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return usagef("route get explains one namespace: give --netns a name, path or pid:N")
	}
	ns := entries[0]
	r, err := topology.Open(ns.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	snap, err := r.Routing()
	if err != nil {
		return fmt.Errorf("read the routing state of %s: %w", ns.Label(), err)
	}
	if q.Iif, err = deviceIndex(snap, c.String("iif"), "--iif"); err != nil {
		return err
	}
	if q.Oif, err = deviceIndex(snap, c.String("oif"), "--oif"); err != nil {
		return err
	}
	if q.Iif != 0 && !q.Src.IsValid() && q.Dst.Is4() {
		return usagef("--iif needs --from: the kernel looks up a received packet by its source too")
	}
	d := snap.Lookup(q)
	k, kerr := r.RouteGet(topology.RouteQuery{
		Dst: q.Dst, Src: q.Src, Iif: q.Iif, Oif: q.Oif, Mark: q.Mark, Tos: q.Tos,
		Proto: q.Proto, Sport: q.Sport, Dport: q.Dport, UID: q.UID,
	})
	agrees, diff := compareKernel(snap, d, k)
	if kerr != nil {
		agrees, diff = false, "the kernel could not be asked: "+kerr.Error()
	}
	if c.Bool("json") {
		return routeJSON(c.App.Writer, snap, d, k, kerr, agrees, diff)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "route get %s in %s\n", queryString(snap, q), nsName(ns.Name, ns.Path))
	snap.Write(w, d)
	switch {
	case kerr != nil:
		fmt.Fprintf(w, "kernel: %v\n", kerr)
	case agrees && k.Table == fib.TableMain && d.Table == fib.TableLocal:
		fmt.Fprintf(w, "kernel: %s — agrees (the kernel says table main: until a custom rule exists it keeps the local and main tables in one)\n", kernelSummary(snap, k))
	case agrees:
		fmt.Fprintf(w, "kernel: %s — agrees\n", kernelSummary(snap, k))
	default:
		fmt.Fprintf(w, "kernel: %s — DIFFERS: %s\n", kernelSummary(snap, k), diff)
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func nsName(name, path string) string {
	switch {
	case name != "":
		return "namespace " + name
	case path != "":
		return "namespace " + path
	}
	return "this namespace"
}

func parseUint32(s, flag string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, usagef("%s %q is not a number (decimal or 0x hex)", flag, s)
	}
	return uint32(v), nil
}

func parseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "icmp":
		return 1, nil
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "ipv6-icmp", "icmpv6", "icmp6":
		return 58, nil
	}
	v, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, usagef("--proto %q: use tcp, udp, icmp, ipv6-icmp or a protocol number", s)
	}
	return uint8(v), nil
}

func deviceIndex(s *fib.Snapshot, name, flag string) (int, error) {
	if name == "" {
		return 0, nil
	}
	if l, ok := s.LinkByName(name); ok {
		return l.Index, nil
	}
	var names []string
	for _, l := range s.Links {
		names = append(names, l.Name)
	}
	return 0, usagef("%s %s: no such device; this namespace has %s", flag, name, strings.Join(names, ", "))
}

func queryString(s *fib.Snapshot, q fib.Query) string {
	parts := []string{q.Dst.String()}
	if q.Src.IsValid() {
		parts = append(parts, "from "+q.Src.String())
	}
	if q.Iif != 0 {
		parts = append(parts, "iif "+s.LinkName(q.Iif))
	}
	if q.Oif != 0 {
		parts = append(parts, "oif "+s.LinkName(q.Oif))
	}
	if q.Mark != 0 {
		parts = append(parts, fmt.Sprintf("mark %#x", q.Mark))
	}
	if q.Tos != 0 {
		parts = append(parts, fmt.Sprintf("tos %#x", q.Tos))
	}
	if q.Proto != 0 {
		parts = append(parts, fmt.Sprintf("ipproto %d", q.Proto))
	}
	if q.Sport != 0 {
		parts = append(parts, fmt.Sprintf("sport %d", q.Sport))
	}
	if q.Dport != 0 {
		parts = append(parts, fmt.Sprintf("dport %d", q.Dport))
	}
	return strings.Join(parts, " ")
}

// kernelErrno is the errno the kernel answered, 0 for a route.
func kernelErrno(k topology.KernelRoute) syscall.Errno {
	var e syscall.Errno
	if errors.As(k.Err, &e) {
		return e
	}
	return 0
}

// compareKernel says whether the model's decision is the kernel's answer:
// the same error, or the same type, device and gateway (one of the
// nexthops for a multipath route).
func compareKernel(s *fib.Snapshot, d fib.Decision, k topology.KernelRoute) (bool, string) {
	ke := kernelErrno(k)
	if k.Err != nil && ke == 0 {
		return false, "kernel error " + k.Err.Error()
	}
	if ke != 0 && ke == d.AltErrno {
		return true, ""
	}
	if ke != 0 || d.Errno != 0 {
		if ke == d.Errno {
			return true, ""
		}
		return false, fmt.Sprintf("model %s, kernel %s", errnoString(d.Errno), errnoString(ke))
	}
	if fib.Type(k.Type) != d.Type {
		return false, fmt.Sprintf("type: model %s, kernel %s", d.Type, fib.Type(k.Type))
	}
	if len(d.Nexthops) > 1 {
		for _, nh := range d.Nexthops {
			if nh.Ifindex == k.Oif && nh.Gateway == k.Gateway {
				return true, ""
			}
		}
		return false, fmt.Sprintf("the kernel's nexthop %s dev %s is not one of the model's", k.Gateway, s.LinkName(k.Oif))
	}
	if k.Oif != d.Dev {
		return false, fmt.Sprintf("device: model %s, kernel %s", s.LinkName(d.Dev), s.LinkName(k.Oif))
	}
	if k.Gateway != d.Gateway {
		return false, fmt.Sprintf("gateway: model %v, kernel %v", d.Gateway, k.Gateway)
	}
	return true, ""
}

func errnoString(e syscall.Errno) string {
	if e == 0 {
		return "a route"
	}
	return e.Error()
}

func kernelSummary(s *fib.Snapshot, k topology.KernelRoute) string {
	if k.Err != nil {
		return "error: " + k.Err.Error()
	}
	var b strings.Builder
	b.WriteString(fib.Type(k.Type).String())
	if k.Gateway.IsValid() {
		b.WriteString(" via " + k.Gateway.String())
	}
	if k.Oif != 0 {
		b.WriteString(" dev " + s.LinkName(k.Oif))
	}
	if k.Table != 0 {
		b.WriteString(" table " + fib.TableName(k.Table))
	}
	if k.Prefsrc.IsValid() {
		b.WriteString(" src " + k.Prefsrc.String())
	}
	return b.String()
}

// routeDecisionJSON is `route get --json`: the model's decision at the top
// level, the kernel's answer under "kernel".
type routeDecisionJSON struct {
	Type        string           `json:"type"`
	Dev         string           `json:"dev"`
	Gateway     string           `json:"gateway"`
	Table       uint32           `json:"table"`
	TableName   string           `json:"table_name"`
	Prefsrc     string           `json:"prefsrc"`
	Rule        *uint32          `json:"rule"`
	Error       string           `json:"error,omitempty"`
	Drop        string           `json:"drop,omitempty"`
	Route       string           `json:"route,omitempty"`
	Nexthops    []nexthopJSON    `json:"nexthops,omitempty"`
	Rules       []ruleStepJSON   `json:"rules"`
	Competitors []competitorJSON `json:"competitors"`
	Notes       []string         `json:"notes"`
	Kernel      kernelJSON       `json:"kernel"`
	Agrees      bool             `json:"agrees"`
	Difference  string           `json:"difference,omitempty"`
}

type nexthopJSON struct {
	Dev     string `json:"dev"`
	Gateway string `json:"gateway"`
	Weight  int    `json:"weight"`
}

type ruleStepJSON struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

type competitorJSON struct {
	Route string `json:"route"`
	Why   string `json:"why"`
}

type kernelJSON struct {
	Type    string `json:"type"`
	Dev     string `json:"dev"`
	Gateway string `json:"gateway"`
	Table   uint32 `json:"table"`
	Prefsrc string `json:"prefsrc"`
	Error   string `json:"error,omitempty"`
}

func routeJSON(w io.Writer, s *fib.Snapshot, d fib.Decision, k topology.KernelRoute, kerr error, agrees bool, diff string) error {
	out := routeDecisionJSON{
		Type: d.Type.String(), Gateway: addrOrEmpty(d.Gateway), Table: d.Table,
		Prefsrc: addrOrEmpty(d.Prefsrc), Drop: d.Drop, Agrees: agrees, Difference: diff,
		Rules: []ruleStepJSON{}, Competitors: []competitorJSON{}, Notes: append([]string{}, d.Notes...),
	}
	if d.Table != 0 {
		out.TableName = fib.TableName(d.Table)
	}
	if d.Dev != 0 {
		out.Dev = s.LinkName(d.Dev)
	}
	if d.Errno != 0 {
		out.Error = d.Errno.Error()
	}
	if d.Rule != nil {
		p := d.Rule.Priority
		out.Rule = &p
	}
	if d.Route != nil {
		out.Route = s.RouteString(*d.Route)
	}
	for _, nh := range d.Nexthops {
		out.Nexthops = append(out.Nexthops, nexthopJSON{Dev: s.LinkName(nh.Ifindex), Gateway: addrOrEmpty(nh.Gateway), Weight: nh.Weight})
	}
	for _, st := range d.Steps {
		out.Rules = append(out.Rules, ruleStepJSON{Rule: fib.RuleString(st.Rule), Matched: st.Matched, Why: st.Why})
	}
	for _, l := range d.Losers {
		out.Competitors = append(out.Competitors, competitorJSON{Route: s.RouteString(l.Route), Why: l.Why})
	}
	switch {
	case kerr != nil:
		out.Kernel.Error = kerr.Error()
	case k.Err != nil:
		out.Kernel.Error = k.Err.Error() // the kernel gives an errno, not a type
	default:
		out.Kernel = kernelJSON{Type: fib.Type(k.Type).String(), Gateway: addrOrEmpty(k.Gateway), Table: k.Table, Prefsrc: addrOrEmpty(k.Prefsrc)}
		if k.Oif != 0 {
			out.Kernel.Dev = s.LinkName(k.Oif)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	return a.String()
}
