package vanish

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// OwnNamespace is how alerts name ifacetrace's own namespace when it has no
// name in /run/netns (the usual case: the host's root namespace). The
// option ignore accepts it too.
const OwnNamespace = "host"

// MaxFlows bounds the table of vanished packets per flow and namespace that
// the option min counts in. When it is full, an arbitrary entry is
// forgotten for each new one, counted as "evicted"; a forgotten flow starts
// counting again from one.
const MaxFlows = 1 << 16

// TimeLayout is how the JSON lines write times: RFC 3339 in UTC with nine
// fractional digits, as the json plugin does.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Plugin finds packets that vanished inside a namespace.
type Plugin struct {
	min    uint64          // alert from the min-th vanished packet of a flow in a namespace
	ignore map[string]bool // namespace names not judged

	path string // optional JSON lines file, appended to
	f    *os.File
	bw   *bufio.Writer
	enc  *json.Encoder

	ifaces map[uint32]iface
	spaces map[nsKey]*space
	flows  map[flowKey]uint64 // vanished packets per flow and namespace, at most MaxFlows
	stats  *pb.Stats          // the latest capture statistics
	ends   []end              // scratch for branched, reused

	traces, vanished, alerts, belowMin, ignored, unjudged, evicted uint64
}

// nsKey identifies a namespace: by inode when ifacetrace knows it (two
// names may denote one namespace), else by name.
type nsKey struct {
	ino  uint64
	name string
}

// iface is what the plugin keeps of an announced interface.
type iface struct {
	name     string // display name: IFNAME, or NETNS/IFNAME
	ns       nsKey
	loopback bool
}

// space is a namespace: its addresses, and what vanished in it.
type space struct {
	key   nsKey
	label string              // how alerts name it
	local map[netip.Addr]bool // the addresses of its devices
	bcast map[netip.Addr]bool // the broadcast addresses of its IPv4 subnets
	loop  []netip.Prefix      // loopback prefixes: every address in them is local
	flows map[uint64]bool     // flow ids that vanished here (for the summary), at most MaxFlows
	first string              // the first packet that vanished here: "trace ID, SUMMARY"
	count uint64              // packets that vanished here
	below uint64              // of which below min, not shown
}

// flowKey is a flow in a namespace.
type flowKey struct {
	ns   nsKey
	flow uint64 // Trace.flow_id; 0 for packets of no flow
}

// end is one namespace's last "in" and "out" hop in a trace.
type end struct {
	ns              nsKey
	lastIn, lastOut int // hop indexes, -1 for none
}

// New returns a plugin with the default options (min 1, no file, nothing
// ignored).
func New() *Plugin {
	return &Plugin{
		min:    1,
		ignore: map[string]bool{},
		ifaces: map[uint32]iface{},
		spaces: map[nsKey]*space{},
		flows:  map[flowKey]uint64{},
	}
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe() *pb.PluginInfo {
	return &pb.PluginInfo{
		Name:    "vanish",
		Version: Version,
		Description: "alerts when a packet enters a namespace that it is not for and is never seen leaving it: " +
			"dropped there (firewall, no route, rp_filter)",
		Wants: &pb.Subscriptions{Traces: true, Stats: true},
		Options: []*pb.OptionSpec{
			{Name: "path", Type: "path", Help: "also append each alert as a JSON object to this file"},
			{Name: "min", Type: "int", Default: "1", Help: "alert from the N-th vanished packet of a flow in a namespace on, to cut noise"},
			{Name: "ignore", Type: "string", Help: "namespaces not to judge, separated by ',' ';' or spaces (\"" + OwnNamespace + "\": ifacetrace's own unnamed one)"},
		},
		Lossless: false, // an observer: losing a batch under load only loses alerts
	}
}

// Configure implements sdk.Plugin: it reads the options and opens the file.
func (p *Plugin) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	resp := &pb.ConfigureResponse{}
	for k, v := range req.GetOptions() {
		switch k {
		case "min":
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("vanish: min=%s: want a whole number, 1 or more", v)
			}
			p.min = n
		case "ignore":
			for _, name := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
				p.ignore[name] = true
			}
		case "path":
			p.path = v
		default:
			return nil, fmt.Errorf("vanish: unknown option %q (it has path, min and ignore)", k)
		}
	}
	if p.path != "" {
		f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("vanish: cannot append to %s: %w (choose a file in a writable directory)", p.path, err)
		}
		p.f = f
		p.bw = bufio.NewWriter(f)
		p.enc = json.NewEncoder(p.bw)
		p.enc.SetEscapeHTML(false) // keep "→" and "<dns>" as they are, for grep
	}
	if interfacesOnly(req.GetRun().GetCommandLine()) {
		resp.Warnings = append(resp.Warnings, "vanish: with -i only the captured devices' addresses are known: "+
			"a packet delivered to an address of another device of its namespace is reported as vanished")
	}
	return resp, nil
}

// interfacesOnly reports whether ifacetrace's command line selects devices
// with -i/--interface: then only those devices are announced, and the
// namespace's other addresses are unknown.
func interfacesOnly(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, f := range []string{"-i", "--interface"} {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

// Consume implements sdk.Plugin: it learns the batch's interfaces, then
// judges its traces.
func (p *Plugin) Consume(_ context.Context, b *pb.Batch, r *sdk.Reporter) error {
	for _, ifc := range b.GetInterfaces() {
		p.learn(ifc)
	}
	if st := b.GetStats(); st != nil {
		p.stats = st
	}
	wrote := false
	for _, t := range b.GetTraces() {
		p.traces++
		sp, last := p.judge(t)
		if last == nil {
			continue
		}
		if p.ignore[sp.label] {
			p.ignored++
			continue
		}
		n := p.count(sp, t)
		if n < p.min {
			sp.below++
			p.belowMin++
			continue
		}
		p.alerts++
		r.Line(alertLine(t, sp, n))
		if p.enc != nil {
			if err := p.enc.Encode(p.alertJSON(t, last, sp, n)); err != nil {
				return fmt.Errorf("vanish: batch %d: write %s: %w", b.GetSeq(), p.path, err)
			}
			wrote = true
		}
	}
	if wrote { // whoever tails the file sees each batch's alerts at once
		if err := p.bw.Flush(); err != nil {
			return fmt.Errorf("vanish: batch %d: write %s: %w", b.GetSeq(), p.path, err)
		}
	}
	return nil
}

// learn records an announced interface and its addresses.
func (p *Plugin) learn(ifc *pb.Interface) {
	key := nsKey{ino: ifc.GetNetnsInode()}
	if key.ino == 0 {
		key.name = ifc.GetNetns()
	}
	sp, ok := p.spaces[key]
	if !ok {
		sp = &space{key: key, label: label(ifc), local: map[netip.Addr]bool{}, bcast: map[netip.Addr]bool{}, flows: map[uint64]bool{}}
		p.spaces[key] = sp
	}
	lo := ifc.GetKind() == "loopback" || ifc.GetHatype() == 772 // ARPHRD_LOOPBACK
	p.ifaces[ifc.GetId()] = iface{name: ifc.GetName(), ns: key, loopback: lo}
	for _, a := range ifc.GetAddresses() {
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			addr, err := netip.ParseAddr(a) // tolerate a bare address
			if err != nil {
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		addr := pfx.Addr().Unmap().WithZone("")
		sp.local[addr] = true
		switch {
		case lo:
			sp.loop = append(sp.loop, pfx.Masked())
		case addr.Is4() && pfx.Bits() <= 30:
			sp.bcast[broadcast(pfx)] = true
		}
	}
}

// label names a namespace in alerts: its name, else the NETNS part of the
// display name, else OwnNamespace for ifacetrace's own unnamed one.
func label(ifc *pb.Interface) string {
	if ns := ifc.GetNetns(); ns != "" {
		return ns
	}
	if ns, _, ok := strings.Cut(ifc.GetName(), "/"); ok && ns != "" {
		return ns
	}
	return OwnNamespace
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	u := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], u)
	return netip.AddrFrom4(a)
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// judge returns the namespace t vanished in and its last hop, or nil when
// it did not vanish or cannot be judged.
//
// t vanished in N when its last hop is "in" on a device of N that is not a
// loopback, its destination there is a unicast IP address that is none of
// N's, and N is the only namespace the trace ended in: a trace that also
// ends elsewhere is a frame flooded or copied to several places, and a copy
// that was not for a namespace is normal there.
func (p *Plugin) judge(t *pb.Trace) (*space, *pb.Hop) {
	hops := t.GetHops()
	if len(hops) == 0 {
		return nil, nil
	}
	last := hops[len(hops)-1]
	if last.GetDirection() != "in" {
		return nil, nil // it left
	}
	tu := last.GetTuple()
	if tu == nil || tu.GetProto() == "arp" {
		return nil, nil
	}
	dst, err := netip.ParseAddr(tu.GetDst())
	if err != nil {
		return nil, nil // not IP
	}
	dst = dst.Unmap().WithZone("")
	if dst.IsMulticast() || dst.IsUnspecified() || dst.IsLoopback() || dst == limitedBroadcast {
		return nil, nil
	}
	ifc, ok := p.ifaces[last.GetInterfaceId()]
	if !ok {
		p.unjudged++ // never announced: its namespace is unknown
		return nil, nil
	}
	if ifc.loopback {
		return nil, nil // only the namespace's own packets go through lo
	}
	sp := p.spaces[ifc.ns]
	if len(sp.local) == 0 {
		p.unjudged++ // no address known (e.g. a file read with --read)
		return nil, nil
	}
	if sp.isLocal(dst) {
		return nil, nil // delivered
	}
	if p.branched(hops) {
		return nil, nil
	}
	return sp, last
}

func (s *space) isLocal(a netip.Addr) bool {
	if s.local[a] || s.bcast[a] {
		return true
	}
	for _, p := range s.loop {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// branched reports whether more than one namespace ends the trace: has an
// "in" hop after its last "out" hop.
func (p *Plugin) branched(hops []*pb.Hop) bool {
	p.ends = p.ends[:0]
	for i, h := range hops {
		ifc, ok := p.ifaces[h.GetInterfaceId()]
		if !ok {
			ifc.ns = nsKey{name: "if#" + strconv.FormatUint(uint64(h.GetInterfaceId()), 10)}
		}
		j := slices.IndexFunc(p.ends, func(e end) bool { return e.ns == ifc.ns })
		if j < 0 {
			p.ends = append(p.ends, end{ns: ifc.ns, lastIn: -1, lastOut: -1})
			j = len(p.ends) - 1
		}
		if h.GetDirection() == "in" {
			p.ends[j].lastIn = i
		} else {
			p.ends[j].lastOut = i
		}
	}
	n := 0
	for _, e := range p.ends {
		if e.lastIn > e.lastOut {
			n++
		}
	}
	return n > 1
}

// count records a vanished packet of t in sp and returns how many of its
// flow vanished there so far.
func (p *Plugin) count(sp *space, t *pb.Trace) uint64 {
	p.vanished++
	sp.count++
	if sp.first == "" {
		sp.first = fmt.Sprintf("trace %d, %s", t.GetId(), summary(t))
	}
	key := flowKey{ns: sp.key, flow: t.GetFlowId()}
	n, ok := p.flows[key]
	if !ok && len(p.flows) >= MaxFlows {
		for k := range p.flows { // forget an arbitrary flow
			delete(p.flows, k)
			p.evicted++
			break
		}
	}
	n++
	p.flows[key] = n
	if len(sp.flows) < MaxFlows {
		sp.flows[key.flow] = true
	}
	return n
}

// alertLine is the terminal line for a packet of t that vanished in sp, the
// n-th of its flow there.
func alertLine(t *pb.Trace, sp *space, n uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vanish: %s entered %s (%s) and never left: dropped there (firewall, no route, rp_filter) [trace %d",
		summary(t), sp.label, t.GetPath(), t.GetId())
	if n > 1 {
		if f := t.GetFlowId(); f != 0 {
			fmt.Fprintf(&b, ", %d so far in flow %d", n, f)
		} else {
			fmt.Fprintf(&b, ", %d so far", n)
		}
	}
	b.WriteByte(']')
	return b.String()
}

func summary(t *pb.Trace) string {
	if s := t.GetSummary(); s != "" {
		return s
	}
	return "packet"
}

// Alert is one JSON line of the option path. Field order is output order.
type Alert struct {
	Type         string `json:"type"` // "vanish"
	Time         string `json:"time"` // of the last sighting
	TimeUnixNano int64  `json:"time_unix_nano"`
	Netns        string `json:"netns"` // as the terminal line names it
	Device       string `json:"device"`
	TraceID      uint64 `json:"trace_id"`
	FlowID       uint64 `json:"flow_id"`
	Count        uint64 `json:"count"` // vanished packets of this flow in this namespace so far
	Proto        string `json:"proto"` // the addresses at the last sighting
	Src          string `json:"src"`
	Dst          string `json:"dst"`
	Sport        uint32 `json:"sport"`
	Dport        uint32 `json:"dport"`
	Summary      string `json:"summary"`
	Path         string `json:"path"`
}

func (p *Plugin) alertJSON(t *pb.Trace, last *pb.Hop, sp *space, n uint64) Alert {
	tu := last.GetTuple()
	return Alert{
		Type: "vanish", Time: time.Unix(0, last.GetTimeUnixNano()).UTC().Format(TimeLayout), TimeUnixNano: last.GetTimeUnixNano(),
		Netns: sp.label, Device: p.ifaces[last.GetInterfaceId()].name, TraceID: t.GetId(), FlowID: t.GetFlowId(), Count: n,
		Proto: tu.GetProto(), Src: tu.GetSrc(), Dst: tu.GetDst(), Sport: tu.GetSport(), Dport: tu.GetDport(),
		Summary: t.GetSummary(), Path: t.GetPath(),
	}
}

// Finish implements sdk.Plugin: it closes the file and sums up per
// namespace.
func (p *Plugin) Finish(context.Context) (*pb.FinishResponse, error) {
	resp := &pb.FinishResponse{Counters: map[string]uint64{
		"traces": p.traces, "vanished": p.vanished, "alerts": p.alerts,
		"below_min": p.belowMin, "ignored": p.ignored, "unjudged": p.unjudged,
	}}
	if p.evicted > 0 {
		resp.Counters["evicted"] = p.evicted
	}
	if p.f != nil {
		err := errors.Join(p.bw.Flush(), p.f.Close())
		p.f, p.bw, p.enc = nil, nil, nil
		if err != nil {
			return nil, fmt.Errorf("vanish: finish %s: %w", p.path, err)
		}
		abs, _ := filepath.Abs(p.path)
		resp.Files = []string{abs}
	}
	var spaces []*space
	for _, sp := range p.spaces {
		if sp.count > 0 {
			spaces = append(spaces, sp)
		}
	}
	slices.SortFunc(spaces, func(a, b *space) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.label, b.label))
	})
	for _, sp := range spaces {
		w := fmt.Sprintf("vanish: %s entered %s and never left (%s); the first: %s",
			plural(sp.count, "packet"), sp.label, plural(uint64(len(sp.flows)), "flow"), sp.first)
		if sp.below > 0 {
			w += fmt.Sprintf("; %d not shown, below min=%d", sp.below, p.min)
		}
		resp.Warnings = append(resp.Warnings, w)
	}
	if p.vanished > 0 {
		if w := p.lossWarning(); w != "" {
			resp.Warnings = append(resp.Warnings, w)
		}
	}
	if p.unjudged > 0 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("vanish: %s ended on a device whose namespace's addresses are unknown: not judged",
			plural(p.unjudged, "trace")))
	}
	return resp, nil
}

// lossWarning says whether the capture itself lost copies, which can make
// a packet that left look as if it vanished.
func (p *Plugin) lossWarning() string {
	var drops uint64
	for _, s := range p.stats.GetSockets() {
		drops += s.GetDrops()
	}
	c := p.stats.GetCorrelation()
	var why []string
	if drops > 0 {
		why = append(why, fmt.Sprintf("the kernel dropped %s for the capture (raise -B)", plural(drops, "frame")))
	}
	if n := c.GetLateSightings(); n > 0 {
		why = append(why, fmt.Sprintf("%s arrived after the correlation window (raise --window)", plural(n, "copy")))
	}
	if n := c.GetEvictedTraces(); n > 0 {
		why = append(why, fmt.Sprintf("%s closed early, the table full (raise --max-traces)", plural(n, "trace")))
	}
	if len(why) == 0 {
		return ""
	}
	return "vanish: some packets reported may have left unseen: " + strings.Join(why, "; ")
}

func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if what == "copy" {
		return strconv.FormatUint(n, 10) + " copies"
	}
	return strconv.FormatUint(n, 10) + " " + what + "s"
}
