package fib_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ifacetrace/ifacetrace/tracer/fib"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// TestKernelOracle builds random routing tables and policy rules in
// namespaces of its own, then asks the model and the kernel (RTM_GETROUTE)
// the same random questions: every answer's type, device and gateway, or
// error, must be the kernel's.
func TestKernelOracle(t *testing.T) {
	l := lab.New(t)
	seed := uint64(os.Getpid())
	if s := os.Getenv("FIB_ORACLE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (FIB_ORACLE_SEED=%d reproduces it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x1fb))
	const rounds, perRound = 6, 120
	checked := map[string]int{}
	for round := range rounds {
		o := newOracleLab(t, l, round, rng)
		for range perRound {
			for _, v6 := range []bool{false, true} {
				q := o.query(v6)
				o.check(t, q, checked)
			}
		}
		l.DelNS(o.peer)
		l.DelNS(o.role)
	}
	total := 0
	for _, n := range checked {
		total += n
	}
	t.Logf("the model agreed with the kernel on %d lookups: %v", total, checked)
	if total < 1000 {
		t.Fatalf("only %d lookups checked", total)
	}
}

type oracleLab struct {
	l          *lab.Lab
	role, peer string
	rng        *rand.Rand
	reader     *topology.Reader
	snap       *fib.Snapshot
	devs       []string
	local4     []netip.Addr
	local6     []netip.Addr
	config     string
}

func newOracleLab(t *testing.T, l *lab.Lab, round int, rng *rand.Rand) *oracleLab {
	t.Helper()
	o := &oracleLab{l: l, role: fmt.Sprintf("fib%d", round), peer: fmt.Sprintf("fibp%d", round), rng: rng}
	l.AddNS(o.role)
	l.AddNS(o.peer)
	l.Sysctl(o.role, "net.ipv4.ip_forward", "1")
	l.Sysctl(o.role, "net.ipv6.conf.all.forwarding", "1")
	for i := 1; i <= 4; i++ {
		dev := fmt.Sprintf("v%d", i)
		o.devs = append(o.devs, dev)
		l.Veth(o.role, dev, o.peer, fmt.Sprintf("p%d", i))
		l.Addr(o.role, dev, fmt.Sprintf("10.200.%d.1/24", i))
		l.Addr(o.role, dev, fmt.Sprintf("fd00:200::%d:1/112", i))
		o.local4 = append(o.local4, netip.MustParseAddr(fmt.Sprintf("10.200.%d.1", i)))
		o.local6 = append(o.local6, netip.MustParseAddr(fmt.Sprintf("fd00:200::%d:1", i)))
		if rng.IntN(3) == 0 {
			l.Sysctl(o.role, fmt.Sprintf("net.ipv4.conf.%s.rp_filter", dev), strconv.Itoa(rng.IntN(3)))
		}
	}
	// One device without carrier: its peer is down, so its routes are
	// linkdown; sometimes the kernel is told to ignore them.
	l.IP("-n", l.NS(o.peer), "link", "set", "p4", "down")
	if rng.IntN(2) == 0 {
		l.Sysctl(o.role, "net.ipv4.conf.v4.ignore_routes_with_linkdown", "1")
		l.Sysctl(o.role, "net.ipv6.conf.v4.ignore_routes_with_linkdown", "1")
	}
	cmds := map[string][]string{}
	for range 40 {
		cmds["-4"] = append(cmds["-4"], o.randomRoute(false))
		cmds["-6"] = append(cmds["-6"], o.randomRoute(true))
	}
	for range 3 + rng.IntN(8) {
		cmds["-4"] = append(cmds["-4"], o.randomRule(false))
		cmds["-6"] = append(cmds["-6"], o.randomRule(true))
	}
	for fam, lines := range cmds {
		batch := filepath.Join(t.TempDir(), "batch")
		if err := os.WriteFile(batch, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// -force: a random command the kernel refuses (a duplicate) is
		// skipped; the snapshot reads what the kernel really has.
		out, _ := exec.Command("ip", "-n", l.NS(o.role), fam, "-force", "-batch", batch).CombinedOutput()
		if os.Getenv("FIB_ORACLE_SHOW") != "" {
			t.Logf("%s batch:\n%s\n%s", fam, strings.Join(lines, "\n"), out)
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		rules, _ := exec.Command("ip", "-n", l.NS(o.role), fam, "rule").CombinedOutput()
		routes, _ := exec.Command("ip", "-n", l.NS(o.role), fam, "route", "show", "table", "all").CombinedOutput()
		o.config += string(rules) + string(routes)
	}
	if os.Getenv("FIB_ORACLE_SHOW") != "" {
		t.Log(o.config)
	}
	r, err := topology.Open(l.Path(o.role))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	o.reader = r
	if o.snap, err = r.Routing(); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *oracleLab) pick(xs []string) string { return xs[o.rng.IntN(len(xs))] }

// prefix is a random prefix inside 10.200.0.0/16 or fd00:200::/64, or
// the default route.
func (o *oracleLab) prefix(v6 bool) string {
	p := o.rawPrefix(v6)
	if p == "default" {
		return p
	}
	return netip.MustParsePrefix(p).Masked().String()
}

func (o *oracleLab) rawPrefix(v6 bool) string {
	r := o.rng
	if v6 {
		switch r.IntN(6) {
		case 0:
			return "default"
		case 1:
			return "fd00:200::/64"
		case 2:
			return fmt.Sprintf("fd00:200::%x:0/112", 1+r.IntN(6))
		case 3:
			return fmt.Sprintf("fd00:200::%x:%x/128", 1+r.IntN(6), r.IntN(4))
		default:
			return fmt.Sprintf("fd00:200::%x:%x/%d", 1+r.IntN(6), r.IntN(0x10000)&0xff00, 104+r.IntN(3)*4)
		}
	}
	switch r.IntN(6) {
	case 0:
		return "default"
	case 1:
		return fmt.Sprintf("10.200.0.0/%d", 16+r.IntN(2))
	case 2:
		return fmt.Sprintf("10.200.%d.0/24", 1+r.IntN(8))
	case 3:
		return fmt.Sprintf("10.200.%d.%d/32", 1+r.IntN(8), r.IntN(4))
	default:
		return fmt.Sprintf("10.200.%d.0/%d", (1+r.IntN(8))&^1, 23-r.IntN(3))
	}
}

func (o *oracleLab) randomRoute(v6 bool) string {
	r := o.rng
	table := o.pick([]string{"main", "main", "100", "101", "102"})
	dst := o.prefix(v6)
	dev := 1 + r.IntN(4)
	gw := fmt.Sprintf("10.200.%d.2", dev)
	if v6 {
		gw = fmt.Sprintf("fd00:200::%d:2", dev)
	}
	metric := fmt.Sprint([]int{10, 50, 100, 200, 1024}[r.IntN(5)])
	var spec string
	switch k := r.IntN(12); {
	case k < 4:
		spec = fmt.Sprintf("%s via %s dev v%d", dst, gw, dev)
	case k < 6:
		spec = fmt.Sprintf("%s dev v%d", dst, dev)
	case k == 6:
		spec = "blackhole " + dst
	case k == 7:
		spec = "unreachable " + dst
	case k == 8:
		spec = "prohibit " + dst
	case k == 9:
		spec = "throw " + dst
	case k == 10 && !v6:
		spec = fmt.Sprintf("%s tos 0x10 via %s dev v%d", dst, gw, dev)
	default:
		other := 1 + (dev % 4)
		gw2 := fmt.Sprintf("10.200.%d.2", other)
		if v6 {
			gw2 = fmt.Sprintf("fd00:200::%d:2", other)
		}
		return fmt.Sprintf("route add %s table %s metric %s nexthop via %s dev v%d nexthop via %s dev v%d weight 2",
			dst, table, metric, gw, dev, gw2, other)
	}
	return fmt.Sprintf("route add %s table %s metric %s", spec, table, metric)
}

func (o *oracleLab) randomRule(v6 bool) string {
	r := o.rng
	prio := 100 + r.IntN(300)*10
	var sel []string
	if r.IntN(6) == 0 {
		sel = append(sel, "not")
	}
	if r.IntN(3) == 0 {
		sel = append(sel, "from", o.prefix(v6))
	}
	if r.IntN(3) == 0 {
		sel = append(sel, "to", o.prefix(v6))
	}
	if r.IntN(3) == 0 {
		if r.IntN(2) == 0 {
			sel = append(sel, "fwmark", fmt.Sprint(1+r.IntN(3)))
		} else {
			sel = append(sel, "fwmark", fmt.Sprintf("%#x/0xff", 1+r.IntN(3)))
		}
	}
	if r.IntN(4) == 0 {
		sel = append(sel, "iif", o.pick([]string{"v1", "v2", "v3", "lo"}))
	}
	if r.IntN(5) == 0 {
		sel = append(sel, "tos", o.pick([]string{"0x10", "0x08"}))
	}
	if r.IntN(5) == 0 {
		sel = append(sel, "ipproto", o.pick([]string{"udp", "tcp"}), "dport", o.pick([]string{"53", "80", "1000-2000"}))
	}
	if r.IntN(8) == 0 {
		sel = append(sel, "sport", o.pick([]string{"40000", "1-1024"}))
	}
	if r.IntN(8) == 0 {
		sel = append(sel, "uidrange", o.pick([]string{"1000-2000", "0-0"}))
	}
	var act []string
	switch k := r.IntN(14); {
	case k < 8:
		act = []string{"lookup", o.pick([]string{"100", "101", "102", "main"})}
		if r.IntN(3) == 0 {
			act = append(act, "suppress_prefixlength", o.pick([]string{"0", "16", "24"}))
		}
	case k < 10:
		act = []string{"goto", fmt.Sprint(prio + 10*(1+r.IntN(100)))}
	case k == 10:
		act = []string{"blackhole"}
	case k == 11:
		act = []string{"unreachable"}
	case k == 12:
		act = []string{"prohibit"}
	default:
		act = []string{"nop"}
	}
	return fmt.Sprintf("rule add priority %d %s %s", prio, strings.Join(sel, " "), strings.Join(act, " "))
}

// addr is a random address that routes, rules or devices cover.
func (o *oracleLab) addr(v6 bool) netip.Addr {
	r := o.rng
	if v6 {
		if r.IntN(5) == 0 {
			return o.local6[r.IntN(len(o.local6))]
		}
		return netip.MustParseAddr(fmt.Sprintf("fd00:200::%x:%x", 1+r.IntN(7), r.IntN(6)))
	}
	switch r.IntN(8) {
	case 0:
		return o.local4[r.IntN(len(o.local4))]
	case 1:
		return netip.MustParseAddr(fmt.Sprintf("10.200.%d.255", 1+r.IntN(4)))
	}
	return netip.MustParseAddr(fmt.Sprintf("10.200.%d.%d", 1+r.IntN(9), r.IntN(5)))
}

func (o *oracleLab) query(v6 bool) fib.Query {
	r := o.rng
	q := fib.Query{Dst: o.addr(v6)}
	if r.IntN(3) == 0 {
		q.Mark = []uint32{1, 2, 3, 0x102}[r.IntN(4)]
	}
	if r.IntN(5) == 0 {
		q.Tos = []uint8{0x10, 0x08, 0x14, 0x50, 0x12, 0x11}[r.IntN(6)]
	}
	if r.IntN(4) == 0 {
		q.Proto = []uint8{6, 17}[r.IntN(2)]
		q.Dport = []uint16{53, 80, 1500, 9}[r.IntN(4)]
		q.Sport = 40000
	}
	if r.IntN(2) == 0 {
		// Input: a packet from a neighbour (or a martian) arriving on a device.
		q.Iif = o.index(o.pick([]string{"v1", "v2", "v3", "v4"}))
		q.Src = o.addr(v6)
		return q
	}
	if r.IntN(4) == 0 {
		if v6 {
			q.Src = o.local6[r.IntN(len(o.local6))]
		} else {
			q.Src = o.local4[r.IntN(len(o.local4))]
		}
	}
	if r.IntN(6) == 0 {
		q.Oif = o.index(o.pick([]string{"v1", "v2", "v3", "v4"}))
	}
	uid := []uint32{0, 1500}[r.IntN(2)]
	q.UID = &uid
	return q
}

func (o *oracleLab) index(dev string) int {
	l, _ := o.snap.LinkByName(dev)
	return l.Index
}

func (o *oracleLab) check(t *testing.T, q fib.Query, checked map[string]int) {
	t.Helper()
	k, err := o.reader.RouteGet(topology.RouteQuery{
		Dst: q.Dst, Src: q.Src, Iif: q.Iif, Oif: q.Oif, Mark: q.Mark, Tos: q.Tos,
		Proto: q.Proto, Sport: q.Sport, Dport: q.Dport, UID: q.UID,
	})
	if err != nil {
		t.Fatalf("RTM_GETROUTE %+v: %v", q, err)
	}
	d := o.snap.Lookup(q)
	var kerr syscall.Errno
	if k.Err != nil && !errors.As(k.Err, &kerr) {
		t.Fatalf("kernel error %v is not an errno", k.Err)
	}
	ok := true
	switch {
	case kerr != 0 && kerr == d.AltErrno:
		ok = true
	case kerr != 0 || d.Errno != 0:
		ok = kerr == d.Errno
	case fib.Type(k.Type) != d.Type:
		ok = false
	case len(d.Nexthops) > 1:
		ok = false
		for _, nh := range d.Nexthops {
			if nh.Ifindex == k.Oif && nh.Gateway == k.Gateway {
				ok = true
			}
		}
	default:
		ok = k.Oif == d.Dev && k.Gateway == d.Gateway
	}
	if !ok {
		var b strings.Builder
		o.snap.Write(&b, d)
		t.Fatalf("model and kernel differ for %+v\nmodel: %s\nkernel: %+v\n%s\nconfiguration:\n%s", q, o.snap.Summary(d), k, b.String(), o.config)
	}
	kind := "output"
	if q.Iif != 0 {
		kind = "input"
	}
	if q.Dst.Is6() {
		kind += "/v6"
	} else {
		kind += "/v4"
	}
	if kerr != 0 {
		kind += " " + d.Type.String()
	} else {
		kind += " " + fib.Type(k.Type).String()
	}
	checked[kind]++
}
