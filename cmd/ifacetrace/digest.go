package main

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/flow"
)

// digest collects what the end summary tells about the packets: the most
// frequent paths, the NAT seen, where packets stopped (or, when that could
// not be told, the namespaces they entered, not theirs, and were never
// seen leaving), and the transit times between hops. Bounded: beyond
// maxDistinct paths, changes or stops, the rest is counted as "other".
type digest struct {
	paths   map[string]uint64
	nat     map[string]uint64
	stops   map[string]uint64            // stop note → packets
	stuck   map[string]uint64            // namespace label → packets
	hops    map[[2]uint64]*flow.HopTimes // stepKey of from, to
	name    func(uint32) string
	other   uint64
	ifaceNS map[uint32]uint64 // interface id → namespace inode
	nsName  map[uint64]string // namespace inode → label
	addrs   map[uint64]map[netip.Addr]bool
}

const maxDistinct = 4096

func newDigest() *digest {
	return &digest{paths: map[string]uint64{}, nat: map[string]uint64{}, stops: map[string]uint64{}, stuck: map[string]uint64{},
		hops:    map[[2]uint64]*flow.HopTimes{},
		ifaceNS: map[uint32]uint64{}, nsName: map[uint64]string{}, addrs: map[uint64]map[netip.Addr]bool{}}
}

// device learns an interface's namespace and addresses.
func (d *digest) device(ifc *pb.Interface) {
	d.ifaceNS[ifc.Id] = ifc.NetnsInode
	label := ifc.Netns
	if label == "" {
		label = "this namespace"
	}
	d.nsName[ifc.NetnsInode] = label
	set := d.addrs[ifc.NetnsInode]
	if set == nil {
		set = map[netip.Addr]bool{}
		d.addrs[ifc.NetnsInode] = set
	}
	for _, a := range ifc.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			set[p.Addr()] = true
		}
	}
}

// local reports whether the namespace with inode ns has address a.
func (d *digest) local(ns uint64, a netip.Addr) bool { return d.addrs[ns][a] }

// transit accounts the times between the hops of a complete trace.
func (d *digest) transit(tr *correlate.Trace) {
	flow.HopPairs(tr, func(from, to flow.Step, ns int64) {
		key := [2]uint64{stepKey(from), stepKey(to)}
		h := d.hops[key]
		if h == nil {
			if len(d.hops) >= maxDistinct {
				return
			}
			h = &flow.HopTimes{From: from, To: to}
			d.hops[key] = h
		}
		h.Add(ns)
	})
}

// stepKey is a Step as a word: a key that hashes as plain memory, which a
// Step, with its padding, does not.
func stepKey(s flow.Step) uint64 { return uint64(s.Iface)<<8 | uint64(s.Dir) }

// trace accounts one packet; path is its path as text, stopped where it
// stopped ("" if it did not).
func (d *digest) trace(tr *correlate.Trace, path, stopped string) {
	count := func(m map[string]uint64, k string) {
		if len(m) < maxDistinct {
			m[k]++ // one lookup while there is room
		} else if _, ok := m[k]; ok {
			m[k]++
		} else {
			d.other++
		}
	}
	count(d.paths, path)
	for _, c := range tr.Changes {
		count(d.nat, c)
	}
	if stopped != "" {
		count(d.stops, stopped)
		return
	}
	last := &tr.Hops[len(tr.Hops)-1]
	_, dst := addrsAt(last)
	if last.Dir != record.DirIn || !dst.IsValid() || dst.IsMulticast() || dst.IsLinkLocalUnicast() || dst.IsLoopback() ||
		(dst.Is4() && dst.As4()[3] == 255) || last.Tuple.EtherType == 0x0806 {
		return
	}
	ns, ok := d.ifaceNS[last.Iface]
	if !ok || len(d.addrs[ns]) == 0 || d.addrs[ns][dst] {
		return
	}
	count(d.stuck, d.nsName[ns])
}

// print writes the digest's part of the summary.
func (d *digest) print(w io.Writer) {
	top := func(m map[string]uint64, n int) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		return keys[:min(n, len(keys))]
	}
	if len(d.paths) > 0 {
		fmt.Fprintln(w, "ifacetrace: most frequent paths:")
		for _, p := range top(d.paths, 5) {
			fmt.Fprintf(w, "  %8d  %s\n", d.paths[p], p)
		}
	}
	for _, c := range top(d.nat, 8) {
		fmt.Fprintf(w, "ifacetrace: NAT seen: %s (%d packets)\n", c, d.nat[c])
	}
	for _, s := range top(d.stops, 8) {
		hint := ""
		if strings.Contains(s, "expected next") {
			hint = ": dropped there? (firewall, qdisc, rp_filter)"
		}
		fmt.Fprintf(w, "ifacetrace: %s %s%s\n", plural(d.stops[s], "packet"), s, hint)
	}
	for _, ns := range top(d.stuck, 8) {
		fmt.Fprintf(w, "ifacetrace: %d packets entered %s, were not for it, and were never seen leaving: dropped there? (firewall, no route, rp_filter)\n", d.stuck[ns], ns)
	}
	if len(d.hops) > 0 {
		pairs := make([]*flow.HopTimes, 0, len(d.hops))
		for _, h := range d.hops {
			pairs = append(pairs, h)
		}
		sort.Slice(pairs, func(i, j int) bool {
			if pairs[i].Count != pairs[j].Count {
				return pairs[i].Count > pairs[j].Count
			}
			return d.hopName(pairs[i]) < d.hopName(pairs[j])
		})
		fmt.Fprintln(w, "ifacetrace: transit between hops (min / median / max):")
		for _, h := range pairs[:min(8, len(pairs))] {
			fmt.Fprintf(w, "  %8d  %s  %s / %s / %s\n", h.Count, d.hopName(h),
				time.Duration(h.Min), time.Duration(h.Median()), time.Duration(h.Max))
		}
	}
}

func (d *digest) hopName(h *flow.HopTimes) string {
	return d.name(h.From.Iface) + " " + h.From.Dir.String() + " → " + d.name(h.To.Iface) + " " + h.To.Dir.String()
}

// plural is "1 packet", "2 packets".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
