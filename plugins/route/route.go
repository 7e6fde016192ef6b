package route

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
	"github.com/ifacetrace/ifacetrace/tracer/fib"
)

// Version of the plugin.
const Version = "0.1.0"

const (
	// cacheSize bounds the decision cache; it is cleared when full.
	cacheSize = 4096
	// maxDecisions is how many distinct decisions one (namespace, input
	// device, direction) of a flow keeps; packets meeting others are
	// counted.
	maxDecisions = 4
	// maxLooseLines bounds the lines written for traces without a flow;
	// further such traces are counted.
	maxLooseLines = 100
)

// Plugin explains routing decisions along traces and flows.
type Plugin struct {
	path string
	f    *os.File
	bw   *bufio.Writer

	ifaces map[uint32]*pb.Interface
	byName map[nsName]*pb.Interface // (namespace, display name) → interface, for masters
	snaps  map[uint64][]timedSnap   // netns inode → the last few routing snapshots, oldest first
	noSnap map[uint64]bool          // namespaces already reported without a snapshot
	cache  map[cacheKey]*decision   // lookups already made
	flows  map[uint64]*flowState    // flows not closed yet
	c      map[string]uint64        // counters for Finish
	looseN int                      // lines written for traces without a flow
	order  int                      // entry sequence, for output order
}

type nsName struct {
	inode uint64
	name  string
}

type cacheKey struct {
	inode uint64
	snap  *fib.Snapshot
	q     fib.Query
}

// New returns an unconfigured plugin; without Configure it reports to the
// terminal.
func New() *Plugin {
	return &Plugin{
		ifaces: map[uint32]*pb.Interface{},
		byName: map[nsName]*pb.Interface{},
		snaps:  map[uint64][]timedSnap{},
		noSnap: map[uint64]bool{},
		cache:  map[cacheKey]*decision{},
		flows:  map[uint64]*flowState{},
		c: map[string]uint64{
			"traces": 0, "flows": 0, "explained": 0, "mismatches": 0, "never_left": 0,
			"delivered_locally": 0, "lookups": 0,
		},
	}
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe() *pb.PluginInfo {
	return &pb.PluginInfo{
		Name:    "route",
		Version: Version,
		Description: "explains routing per flow: in every namespace a packet crossed, the rule, table and route the kernel's lookup chose, " +
			"whether the packet left where routing says (MISMATCH otherwise), and why packets that entered never left",
		Wants: &pb.Subscriptions{Traces: true, Flows: true, Topology: true},
		Options: []*pb.OptionSpec{
			{Name: "path", Type: "path", Help: "write the explanations to this file instead of the terminal"},
		},
		Lossless: true,
	}
}

// Configure implements sdk.Plugin: with option path it creates the file.
func (p *Plugin) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	p.path = req.GetOptions()["path"]
	if p.path == "" {
		return &pb.ConfigureResponse{}, nil
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("route: cannot write %s: %w (choose a file in a writable directory)", p.path, err)
	}
	p.f, p.bw = f, bufio.NewWriterSize(f, 64<<10)
	return &pb.ConfigureResponse{}, nil
}

// emit writes lines to the file, or else to the terminal through r.
func (p *Plugin) emit(r *sdk.Reporter, lines ...string) {
	for _, l := range lines {
		switch {
		case p.bw != nil:
			p.bw.WriteString(l)
			p.bw.WriteByte('\n')
		case r != nil:
			r.Line(l)
		}
	}
}

// Consume implements sdk.Plugin: interfaces and routing snapshots first,
// then the traces, then the flows that closed.
func (p *Plugin) Consume(_ context.Context, b *pb.Batch, r *sdk.Reporter) error {
	for _, ifc := range b.GetInterfaces() {
		p.ifaces[ifc.GetId()] = ifc
		p.byName[nsName{ifc.GetNetnsInode(), ifc.GetName()}] = ifc
	}
	for _, rt := range b.GetRouting() {
		s, err := FromProto(rt)
		if err != nil {
			p.c["bad_snapshots"]++
			r.Warn(fmt.Sprintf("route: routing snapshot of %s is unusable, keeping the previous one: %v", nsDisplay(rt.GetNetns()), err))
			continue
		}
		p.addSnap(rt.GetNetnsInode(), rt.GetTimeUnixNano(), s)
	}
	for _, t := range b.GetTraces() {
		p.trace(t, r)
	}
	for _, f := range b.GetFlows() {
		fs := p.flows[f.GetId()]
		if fs == nil {
			continue // nothing explained for it
		}
		delete(p.flows, f.GetId())
		p.emit(r, p.render(fs, f)...)
		p.c["flows"]++
	}
	if p.bw != nil {
		if err := p.bw.Flush(); err != nil {
			return fmt.Errorf("route: batch %d: write %s: %w", b.GetSeq(), p.path, err)
		}
	}
	return nil
}

// Finish implements sdk.Plugin: it explains the flows that were never
// closed and closes the file. Without a file, those go out as warnings,
// the only text a FinishResponse carries.
func (p *Plugin) Finish(context.Context) (*pb.FinishResponse, error) {
	ids := make([]uint64, 0, len(p.flows))
	for id := range p.flows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	resp := &pb.FinishResponse{}
	for _, id := range ids {
		block := p.render(p.flows[id], nil)
		if p.bw != nil {
			p.emit(nil, block...)
		} else {
			resp.Warnings = append(resp.Warnings, strings.Join(block, "\n"))
		}
		p.c["flows"]++
	}
	clear(p.flows)
	if n := p.c["not_shown"]; n > 0 {
		msg := fmt.Sprintf("%d more traces without a flow not shown (at most %d lines of them)", n, maxLooseLines)
		if p.bw != nil {
			p.emit(nil, msg)
		} else {
			resp.Warnings = append(resp.Warnings, msg)
		}
	}
	resp.Counters = map[string]uint64{}
	for k, v := range p.c {
		resp.Counters[k] = v
	}
	if p.f != nil {
		err := errors.Join(p.bw.Flush(), p.f.Sync(), p.f.Close())
		p.f, p.bw = nil, nil
		if err != nil {
			return nil, fmt.Errorf("route: finish %s: %w", p.path, err)
		}
		abs, _ := filepath.Abs(p.path)
		resp.Files = []string{abs}
	}
	return resp, nil
}

// hop is a sighting on an announced interface.
type hop struct {
	ifc *pb.Interface
	in  bool
	tu  *pb.Tuple
	at  int64 // kernel time of the sighting
}

// timedSnap is a routing snapshot and when it was read.
type timedSnap struct {
	at int64
	s  *fib.Snapshot
}

// keptSnaps is how many snapshots per namespace are kept. Output lags the
// capture (the correlation window) and snapshots lag a change (the watch
// coalesces bursts), so a trace is judged against the snapshot that was
// current when it was seen, not the newest one.
const keptSnaps = 3

func (p *Plugin) addSnap(inode uint64, at int64, s *fib.Snapshot) {
	l := append(p.snaps[inode], timedSnap{at, s})
	if len(l) > keptSnaps {
		l = l[len(l)-keptSnaps:]
	}
	p.snaps[inode] = l
}

// snapAt is the newest snapshot of the namespace read before t, or the
// oldest kept when t precedes them all.
func (p *Plugin) snapAt(inode uint64, t int64) *fib.Snapshot {
	l := p.snaps[inode]
	if len(l) == 0 {
		return nil
	}
	best := l[0].s
	for _, ts := range l[1:] {
		if ts.at <= t {
			best = ts.s
		}
	}
	return best
}

type kind uint8

const (
	kindSent    kind = iota // routed on output: the trace starts here with "out"
	kindIn                  // routed on input, from an input device
	kindBridged             // a bridge passed it between two ports, no routing
)

type status uint8

const (
	statusOK        status = iota
	statusMismatch         // left through a device routing did not choose
	statusUnchecked        // not compared (input multicast and broadcast)
)

// event is one routing step of a trace in one namespace.
type event struct {
	inode  uint64
	ns     string
	kind   kind
	from   string // "in br0", "sent", "bridged by br0"
	dev    int    // input device (kindIn) or bridge (kindBridged)
	dec    *decision
	left   bool   // an out hop was seen after it
	obs    string // the device it left through ("veth-a to veth-b" when bridged)
	status status
}

// trace explains t and files its events under its flow, or reports them
// at once when it has none.
func (p *Plugin) trace(t *pb.Trace, r *sdk.Reporter) {
	p.c["traces"]++
	evs := p.events(t, r)
	if len(evs) == 0 {
		return
	}
	first := t.GetHops()[0].GetTuple()
	if t.GetFlowId() == 0 {
		fs := newFlowState(0, first)
		for _, ev := range evs {
			p.record(fs, true, ev)
		}
		block := p.entryLines(fs, true)
		if p.looseN+len(block)+1 > maxLooseLines {
			p.c["not_shown"]++
			return
		}
		what := t.GetSummary()
		if what == "" {
			what = t.GetPath()
		}
		p.looseN += len(block) + 1
		p.emit(r, append([]string{fmt.Sprintf("trace %d: %s", t.GetId(), what)}, block...)...)
		return
	}
	fs := p.flows[t.GetFlowId()]
	if fs == nil {
		fs = newFlowState(t.GetFlowId(), first)
		p.flows[t.GetFlowId()] = fs
	}
	same := first.GetSrc() == fs.first.GetSrc() && first.GetSport() == fs.first.GetSport()
	if same {
		fs.same++
	} else {
		fs.opposite++
	}
	for _, ev := range evs {
		p.record(fs, same, ev)
	}
}

// events walks the hops namespace by namespace.
func (p *Plugin) events(t *pb.Trace, r *sdk.Reporter) []event {
	hops := make([]hop, 0, len(t.GetHops()))
	for _, h := range t.GetHops() {
		ifc := p.ifaces[h.GetInterfaceId()]
		if ifc == nil {
			if p.c["unknown_hops"] == 0 {
				r.Warn(fmt.Sprintf("route: trace %d has a hop on interface %d, which was never announced; such hops are skipped (further ones are only counted)",
					t.GetId(), h.GetInterfaceId()))
			}
			p.c["unknown_hops"]++
			continue
		}
		switch h.GetDirection() {
		case "in":
			hops = append(hops, hop{ifc, true, h.GetTuple(), h.GetTimeUnixNano()})
		case "out":
			hops = append(hops, hop{ifc, false, h.GetTuple(), h.GetTimeUnixNano()})
		}
	}
	var evs []event
	for start := 0; start < len(hops); {
		end := start + 1
		for end < len(hops) && sameNS(hops[end].ifc, hops[start].ifc) {
			end++
		}
		evs = p.segment(evs, hops[start:end], start == 0, end == len(hops), r)
		start = end
	}
	return evs
}

func sameNS(a, b *pb.Interface) bool {
	return a.GetNetnsInode() == b.GetNetnsInode() && a.GetNetns() == b.GetNetns()
}

// segment explains the consecutive hops of a trace in one namespace: an
// output lookup when the trace starts there with "out", an input lookup for
// every run of "in" hops followed by an "out", and for a trace that ends
// there with "in" hops, an input lookup saying why it stayed.
func (p *Plugin) segment(evs []event, seg []hop, first, last bool, r *sdk.Reporter) []event {
	inode, ns := seg[0].ifc.GetNetnsInode(), nsDisplay(seg[0].ifc.GetNetns())
	snap := p.snapAt(inode, seg[0].at)
	if snap == nil {
		if !p.noSnap[inode] {
			p.noSnap[inode] = true
			p.c["no_snapshot"]++
			p.emit(r, fmt.Sprintf("no routing snapshot for %s: explanations need a live capture", ns))
		}
		return evs
	}
	base := event{inode: inode, ns: ns}
	i := 0
	if first && !seg[0].in {
		h := seg[0]
		if q, ok := tupleQuery(h.tu); ok {
			if q.Src.IsValid() && !ownAddr(snap, q.Src) {
				// SNAT in this namespace rewrote the source after the
				// lookup; look up as the sender did, without one.
				q.Src = netip.Addr{}
			}
			idx, name := p.routedDev(h.ifc, snap)
			if q.Dst.IsMulticast() || q.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				// A multicast or broadcast sender names its device
				// (IP_MULTICAST_IF, SO_BINDTODEVICE): look up as it did.
				q.Oif = idx
			}
			dec := p.decide(inode, snap, q)
			ev := base
			ev.kind, ev.from, ev.dec, ev.left, ev.obs, ev.status = kindSent, "sent", dec, true, name, dec.compare(snap, idx)
			evs = append(evs, ev)
		}
	}
	for i < len(seg) && !seg[i].in {
		i++ // out hops with no in hop before them here, or the sender's further copies
	}
	for i < len(seg) {
		j := i
		for j < len(seg) && seg[j].in {
			j++
		}
		ins := seg[i:j]
		in := ins[len(ins)-1] // the device routing saw it arrive on
		if j == len(seg) {
			if last {
				evs = p.input(evs, base, snap, ins, in, nil)
			}
			break
		}
		evs = p.input(evs, base, snap, ins, in, &seg[j])
		for i = j; i < len(seg) && !seg[i].in; i++ {
		}
	}
	return evs
}

// input explains an input lookup for a packet that arrived on in (the last
// of the in hops ins) and left through out, or never left (out nil).
func (p *Plugin) input(evs []event, ev event, snap *fib.Snapshot, ins []hop, in hop, out *hop) []event {
	if p.loopback(in.ifc, snap) {
		return evs // looped back: the output lookup decided already
	}
	q, ok := tupleQuery(in.tu)
	if !ok {
		return evs
	}
	iif, iifName := int(in.ifc.GetIfindex()), ifname(in.ifc)
	if m := in.ifc.GetMaster(); m != "" {
		mIdx, mName := p.routedDev(in.ifc, snap)
		if out != nil && out.ifc.GetMaster() == m && mIdx != iif && !onDevice(ins, m) {
			ev.kind, ev.dev, ev.from = kindBridged, mIdx, "bridged by "+mName
			ev.left, ev.obs = true, iifName+" to "+ifname(out.ifc)
			return append(evs, ev)
		}
		iif, iifName = mIdx, mName
	}
	ev.kind, ev.dev, ev.from = kindIn, iif, "in "+iifName
	if out != nil {
		// DNAT (prerouting) rewrote the destination before the lookup and
		// SNAT (postrouting) the source after it: the lookup saw the
		// source of the in hop and the destination of the out hop.
		if oq, ok := tupleQuery(out.tu); ok && oq.Dst.Is4() == q.Dst.Is4() && oq.Proto == q.Proto {
			q.Dst, q.Dport = oq.Dst, oq.Dport
		}
	}
	q.Iif = iif
	ev.dec = p.decide(ev.inode, snap, q)
	if out != nil {
		idx, name := p.routedDev(out.ifc, snap)
		ev.left, ev.obs, ev.status = true, name, ev.dec.compare(snap, idx)
	}
	return append(evs, ev)
}

// onDevice reports whether one of hops is on the device with display name.
func onDevice(hops []hop, name string) bool {
	for _, h := range hops {
		if h.ifc.GetName() == name {
			return true
		}
	}
	return false
}

// routedDev is the device routing sees for ifc: its master when it is a
// bridge (or bond) port, else itself. A VRF slave stays itself.
func (p *Plugin) routedDev(ifc *pb.Interface, snap *fib.Snapshot) (int, string) {
	self, selfName := int(ifc.GetIfindex()), ifname(ifc)
	m := ifc.GetMaster()
	if m == "" {
		return self, selfName
	}
	if l, ok := snap.LinkByName(lastPart(m)); ok {
		if l.Kind == "vrf" {
			return self, selfName
		}
		return l.Index, l.Name
	}
	if mi := p.byName[nsName{ifc.GetNetnsInode(), m}]; mi != nil {
		if mi.GetKind() == "vrf" {
			return self, selfName
		}
		return int(mi.GetIfindex()), ifname(mi)
	}
	if l, ok := snap.Link(self); ok && l.Master != 0 {
		if ml, ok := snap.Link(l.Master); ok && ml.Kind != "vrf" {
			return ml.Index, ml.Name
		}
	}
	return self, selfName
}

func (p *Plugin) loopback(ifc *pb.Interface, snap *fib.Snapshot) bool {
	if ifc.GetKind() == "loopback" {
		return true
	}
	l, ok := snap.Link(int(ifc.GetIfindex()))
	return ok && l.Loopback
}

func ifname(ifc *pb.Interface) string {
	if n := ifc.GetIfname(); n != "" {
		return n
	}
	return lastPart(ifc.GetName())
}

// lastPart is IFNAME of a display name NETNS/IFNAME (device names have no
// slash).
func lastPart(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

func nsDisplay(ns string) string {
	if ns == "" {
		return "host"
	}
	return ns
}

func ownAddr(s *fib.Snapshot, a netip.Addr) bool {
	for _, ad := range s.Addrs {
		if ad.Prefix.Addr() == a {
			return true
		}
	}
	return false
}

// tupleQuery is the lookup for a packet with the tuple, ok false when its
// addresses are not IP addresses (ARP).
func tupleQuery(tu *pb.Tuple) (fib.Query, bool) {
	var q fib.Query
	if tu == nil || tu.GetProto() == "arp" {
		return q, false
	}
	src, err1 := netip.ParseAddr(tu.GetSrc())
	dst, err2 := netip.ParseAddr(tu.GetDst())
	if err1 != nil || err2 != nil {
		return q, false
	}
	src, dst = src.WithZone("").Unmap(), dst.WithZone("").Unmap()
	if src.Is4() != dst.Is4() {
		return q, false
	}
	q.Src, q.Dst = src, dst
	if tu.GetProto() == "ipv6-icmp" {
		q.Proto = 58
	} else {
		q.Proto, _ = record.IPProtoNumber(tu.GetProto())
	}
	if q.Proto == 6 || q.Proto == 17 {
		q.Sport, q.Dport = uint16(tu.GetSport()), uint16(tu.GetDport())
	}
	return q, true
}

// decision is a lookup's outcome with the text the plugin prints for it.
type decision struct {
	d       fib.Decision
	input   bool
	text    string // summary (rule …)
	summary string
	ok      bool   // no error, nothing dropped
	local   bool   // ok and delivered to this namespace
	devs    []int  // where it leaves: the device, or the multipath nexthops'
	to      string // their names: "up0", "one of up0, up1"
	expect  string // what a mismatch line says routing wanted
	reason  string // why a packet that entered here never left
	notes   []string
}

// decide looks q up in snap, or finds the answer in the cache.
func (p *Plugin) decide(inode uint64, snap *fib.Snapshot, q fib.Query) *decision {
	k := cacheKey{inode, snap, q}
	if d, ok := p.cache[k]; ok {
		return d
	}
	if len(p.cache) >= cacheSize {
		clear(p.cache)
	}
	p.c["lookups"]++
	d := newDecision(snap, snap.Lookup(q))
	p.cache[k] = d
	return d
}

// ruleText is "rule 32766 from all lookup main".
func ruleText(r fib.Rule) string {
	return fmt.Sprintf("rule %d %s", r.Priority, strings.TrimPrefix(fib.RuleString(r), fmt.Sprintf("%d: ", r.Priority)))
}

// v6ForwardingOff is the start of fib's note for a forwarded IPv6 packet
// arriving where forwarding is off (fib says so only in a note).
const v6ForwardingOff = "IPv6 forwarding is off: a packet arriving"

func newDecision(snap *fib.Snapshot, d fib.Decision) *decision {
	dec := &decision{d: d, input: d.Query.Input(), summary: snap.Summary(d)}
	dec.text = dec.summary
	rule := ""
	if d.Rule != nil {
		rule = ruleText(*d.Rule)
		dec.text += " (" + rule + ")"
	}
	dec.ok = d.Errno == 0 && d.Drop == ""
	dec.local = dec.ok && (d.Type == fib.Local || d.Type == fib.Anycast ||
		(dec.input && (d.Type == fib.Broadcast || d.Type == fib.Multicast)))
	if len(d.Nexthops) > 1 {
		for _, nh := range d.Nexthops {
			if !slices.Contains(dec.devs, nh.Ifindex) {
				dec.devs = append(dec.devs, nh.Ifindex)
			}
		}
	} else if d.Dev != 0 {
		dec.devs = []int{d.Dev}
	}
	var names []string
	for _, idx := range dec.devs {
		names = append(names, snap.LinkName(idx))
	}
	switch len(names) {
	case 0:
	case 1:
		dec.to = names[0]
	default:
		dec.to = "one of " + strings.Join(names, ", ")
	}
	var fwdNote string
	for _, n := range d.Notes {
		if dec.input && strings.HasPrefix(n, v6ForwardingOff) {
			fwdNote = n
			continue
		}
		dec.notes = append(dec.notes, n)
	}
	switch {
	case d.Drop != "":
		dec.reason = "dropped by routing: " + d.Drop
	case d.Type.Reject() && d.Route != nil:
		dec.reason = fmt.Sprintf("%s route %s in table %s", d.Type, d.Route.Dst, fib.TableName(d.Table))
		if rule != "" {
			dec.reason += " (" + rule + ")"
		}
	case d.Type.Reject() && rule != "":
		dec.reason = fmt.Sprintf("%s by %s", d.Type, rule)
	case d.Type == fib.NoRoute:
		dec.reason = "no route to " + d.Query.Dst.String()
		if d.Errno != 0 {
			dec.reason += " (" + d.Errno.Error() + ")"
		}
	case d.Errno != 0:
		dec.reason = "routing fails: " + dec.summary
	case fwdNote != "":
		dec.reason = "forwarding disabled: " + fwdNote
		dec.ok = false
	default:
		dec.reason = "routing allows it (" + dec.summary + "): dropped elsewhere, e.g. by netfilter"
	}
	switch {
	case !dec.ok:
		dec.expect = "drop: " + dec.reason
	case dec.local:
		dec.expect = "local delivery over " + snap.LinkName(d.Dev)
	default:
		dec.expect = "dev " + strings.Join(names, " or ")
	}
	return dec
}

// compare judges the device a packet left through (its ifindex in the
// namespace) against the decision.
func (dec *decision) compare(snap *fib.Snapshot, obs int) status {
	t := dec.d.Type
	switch {
	case dec.input && dec.ok && (t == fib.Broadcast || t == fib.Multicast):
		return statusUnchecked
	case !dec.ok:
		return statusMismatch
	case dec.local:
		if l, ok := snap.Link(obs); ok && l.Loopback {
			return statusOK
		}
		return statusMismatch
	case slices.Contains(dec.devs, obs):
		return statusOK
	}
	return statusMismatch
}

// flowState is what the plugin holds for a flow until it closes.
type flowState struct {
	id             uint64
	first          *pb.Tuple // first hop of the first trace explained
	same, opposite uint64    // traces in the first one's direction, and back
	entries        map[entryKey]*entry
}

type entryKey struct {
	same  bool // the direction of the flow's first trace
	inode uint64
	kind  kind
	dev   int
}

// entry is one (namespace, input device or local sender, direction) of a flow.
type entry struct {
	key     entryKey
	seq     int
	ns      string
	from    string
	decs    []*outcomes
	other   uint64            // packets whose decision did not fit in decs
	bridged map[string]uint64 // "veth-a to veth-b" → packets
	pairs   []string          // bridged's keys in first-seen order
}

// outcomes counts what became of the packets one decision was made for.
type outcomes struct {
	dec                  *decision
	left                 []observed
	delivered, neverLeft uint64
}

type observed struct {
	name   string
	status status
	n      uint64
}

func newFlowState(id uint64, first *pb.Tuple) *flowState {
	return &flowState{id: id, first: first, entries: map[entryKey]*entry{}}
}

func (p *Plugin) record(fs *flowState, same bool, ev event) {
	k := entryKey{same, ev.inode, ev.kind, ev.dev}
	e := fs.entries[k]
	if e == nil {
		p.order++
		e = &entry{key: k, seq: p.order, ns: ev.ns, from: ev.from}
		fs.entries[k] = e
	}
	p.c["explained"]++
	if ev.kind == kindBridged {
		p.c["bridged"]++
		if e.bridged == nil {
			e.bridged = map[string]uint64{}
		}
		if e.bridged[ev.obs] == 0 {
			e.pairs = append(e.pairs, ev.obs)
		}
		e.bridged[ev.obs]++
		return
	}
	var o *outcomes
	for _, c := range e.decs {
		if c.dec == ev.dec || c.dec.text == ev.dec.text {
			o = c
			break
		}
	}
	if o == nil {
		if len(e.decs) == maxDecisions {
			e.other++
			return
		}
		o = &outcomes{dec: ev.dec}
		e.decs = append(e.decs, o)
	}
	switch {
	case ev.left:
		if ev.status == statusMismatch {
			p.c["mismatches"]++
		}
		for i := range o.left {
			if o.left[i].name == ev.obs && o.left[i].status == ev.status {
				o.left[i].n++
				return
			}
		}
		o.left = append(o.left, observed{ev.obs, ev.status, 1})
	case ev.dec.local:
		p.c["delivered_locally"]++
		o.delivered++
	default:
		p.c["never_left"]++
		o.neverLeft++
	}
}

// render is a flow's block: its header and entry lines. f is nil for a
// flow that never closed.
func (p *Plugin) render(fs *flowState, f *pb.Flow) []string {
	firstForward := true
	tu := fs.first
	var head string
	if f != nil {
		tu = f.GetTuple()
		firstForward = fs.first.GetSrc() == tu.GetSrc() && fs.first.GetSport() == tu.GetSport()
		head = fmt.Sprintf("flow %d %s %s → %s (%s →, %d ←)", fs.id, tu.GetProto(),
			endpoint(tu.GetProto(), tu.GetSrc(), tu.GetSport()), endpoint(tu.GetProto(), tu.GetDst(), tu.GetDport()),
			packets(f.GetPacketsForward()), f.GetPacketsReverse())
	} else {
		head = fmt.Sprintf("flow %d %s %s → %s (%s →, %d ←; never closed)", fs.id, tu.GetProto(),
			endpoint(tu.GetProto(), tu.GetSrc(), tu.GetSport()), endpoint(tu.GetProto(), tu.GetDst(), tu.GetDport()),
			packets(fs.same), fs.opposite)
	}
	return append([]string{head}, p.entryLines(fs, firstForward)...)
}

func packets(n uint64) string {
	if n == 1 {
		return "1 packet"
	}
	return fmt.Sprintf("%d packets", n)
}

func endpoint(proto, addr string, port uint32) string {
	if proto != "tcp" && proto != "udp" {
		return addr
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a, uint16(port)).String()
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// entryLines renders the entries: the flow's forward direction first, each
// direction in the order its namespaces were first seen.
func (p *Plugin) entryLines(fs *flowState, firstForward bool) []string {
	es := make([]*entry, 0, len(fs.entries))
	for _, e := range fs.entries {
		es = append(es, e)
	}
	fwd := func(e *entry) bool { return e.key.same == firstForward }
	slices.SortFunc(es, func(a, b *entry) int {
		if fwd(a) != fwd(b) {
			if fwd(a) {
				return -1
			}
			return 1
		}
		return a.seq - b.seq
	})
	var out []string
	for _, e := range es {
		arrow := "←"
		if fwd(e) {
			arrow = "→"
		}
		out = append(out, e.lines(arrow)...)
	}
	return out
}

func (e *entry) lines(arrow string) []string {
	head := fmt.Sprintf("  %s %s: ", arrow, e.ns)
	var out []string
	for _, pair := range e.pairs {
		out = append(out, fmt.Sprintf("%s%s (%s), not routed (%d)", head, e.from, pair, e.bridged[pair]))
	}
	for _, o := range e.decs {
		dec := o.dec
		unchecked, problem := false, o.neverLeft > 0
		if len(o.left) > 0 {
			lead := e.from
			switch {
			case dec.to == "" || !dec.ok:
				lead += ", not routed"
			case e.key.kind == kindSent:
				lead += " via " + dec.to
			default:
				lead += ", routed to " + dec.to
			}
			var obs []string
			for _, l := range o.left {
				mark := "✓"
				switch l.status {
				case statusMismatch:
					mark = "✗"
				case statusUnchecked:
					mark, unchecked = "?", true
				}
				obs = append(obs, fmt.Sprintf("%s %s (%d)", l.name, mark, l.n))
			}
			out = append(out, fmt.Sprintf("%s%s: %s; observed %s", head, lead, dec.text, strings.Join(obs, ", ")))
			for _, l := range o.left {
				if l.status == statusMismatch {
					problem = true
					out = append(out, fmt.Sprintf("%s%s: MISMATCH: routing says %s, the packet left via %s (%d)", head, e.from, dec.expect, l.name, l.n))
				}
			}
		}
		if o.delivered > 0 {
			out = append(out, fmt.Sprintf("%s%s: %s: delivered locally (%d)", head, e.from, dec.text, o.delivered))
		}
		if o.neverLeft > 0 {
			out = append(out, fmt.Sprintf("%s%s: %s never left: %s", head, e.from, packets(o.neverLeft), dec.reason))
		}
		if unchecked {
			out = append(out, "    note: forwarding of multicast and broadcast is not modelled: not compared")
		}
		if problem {
			// Notes explain problems; beside a packet that went where
			// routing says they are noise (every local delivery has one).
			for _, n := range dec.notes {
				out = append(out, "    note: "+n)
			}
		}
	}
	if e.other > 0 {
		out = append(out, fmt.Sprintf("%s%s: %s met other routing decisions (not shown)", head, e.from, packets(e.other)))
	}
	return out
}
