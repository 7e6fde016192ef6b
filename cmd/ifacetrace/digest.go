package main

import (
	"fmt"
	"io"
	"net/netip"
	"sort"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
)

// digest collects what the end summary tells about the packets: the most
// frequent paths, the NAT seen, and packets that entered a namespace not
// theirs and were never seen leaving it. Bounded: beyond maxDistinct paths
// or changes, the rest is counted as "other".
type digest struct {
	paths   map[string]uint64
	nat     map[string]uint64
	stuck   map[string]uint64 // namespace label → packets
	other   uint64
	ifaceNS map[uint32]uint64 // interface id → namespace inode
	nsName  map[uint64]string // namespace inode → label
	addrs   map[uint64]map[netip.Addr]bool
}

const maxDistinct = 4096

func newDigest() *digest {
	return &digest{paths: map[string]uint64{}, nat: map[string]uint64{}, stuck: map[string]uint64{},
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

// trace accounts one packet; path is its path as text.
func (d *digest) trace(tr *correlate.Trace, path string) {
	count := func(m map[string]uint64, k string) {
		if _, ok := m[k]; ok || len(m) < maxDistinct {
			m[k]++
		} else {
			d.other++
		}
	}
	count(d.paths, path)
	for _, c := range tr.Changes {
		count(d.nat, c)
	}
	last := tr.Hops[len(tr.Hops)-1]
	dst := last.Tuple.Dst
	if last.Dir.String() != "in" || !dst.IsValid() || dst.IsMulticast() || dst.IsLinkLocalUnicast() || dst.IsLoopback() ||
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
	for _, ns := range top(d.stuck, 8) {
		fmt.Fprintf(w, "ifacetrace: %d packets entered %s, were not for it, and were never seen leaving: dropped there? (firewall, no route, rp_filter)\n", d.stuck[ns], ns)
	}
}
