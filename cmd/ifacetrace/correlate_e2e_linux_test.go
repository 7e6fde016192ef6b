//go:build linux

package main

// End-to-end tests of correlation: several namespaces captured at once,
// every copy of a packet in one trace, checked in the JSON lines output
// (against its documented schema) and in the pcapng file through tshark's
// frame.packet_id.

import (
	"bufio"
	stdjson "encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	jsonout "github.com/ifacetrace/ifacetrace/plugins/json"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

type jsonHop struct {
	Device    string `json:"device"`
	Direction string `json:"direction"`
	Proto     string `json:"proto"`
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Sport     int    `json:"sport"`
	Dport     int    `json:"dport"`
	Tunnel    *struct {
		Encap      string  `json:"encap"`
		ID         *uint32 `json:"id"`
		OuterProto string  `json:"outer_proto"`
		OuterSrc   string  `json:"outer_src"`
		OuterDst   string  `json:"outer_dst"`
		OuterDport uint32  `json:"outer_dport"`
	} `json:"tunnel"`
}

type jsonTrace struct {
	ID        uint64    `json:"id"`
	Summary   string    `json:"summary"`
	Path      string    `json:"path"`
	Changes   []string  `json:"changes"`
	Hops      []jsonHop `json:"hops"`
	FlowID    uint64    `json:"flow_id"`
	Stopped   string    `json:"stopped"`
	Conntrack string    `json:"conntrack"`
}

type jsonFlow struct {
	ID      uint64 `json:"id"`
	Proto   string `json:"proto"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Packets struct {
		Forward uint64 `json:"forward"`
		Reverse uint64 `json:"reverse"`
	} `json:"packets"`
	NAT      []string `json:"nat"`
	HopTimes []struct {
		From     string `json:"from"`
		To       string `json:"to"`
		Count    uint64 `json:"count"`
		MinNS    int64  `json:"min_ns"`
		MedianNS int64  `json:"median_ns"`
		MaxNS    int64  `json:"max_ns"`
	} `json:"hop_times"`
	Conntrack []struct {
		Netns string `json:"netns"`
		Orig  struct {
			Src string `json:"src"`
			Dst string `json:"dst"`
		} `json:"orig"`
		Reply struct {
			Src string `json:"src"`
			Dst string `json:"dst"`
		} `json:"reply"`
		Status    []string `json:"status"`
		NAT       []string `json:"nat"`
		Confirmed bool     `json:"confirmed"`
	} `json:"conntrack"`
}

// readJSONL checks every line of file against the documented schema and
// returns its traces and flows.
func readJSONL(t *testing.T, file string) (traces []jsonTrace, flows []jsonFlow) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	types := map[string]int{}
	for sc.Scan() {
		line := sc.Bytes()
		if err := jsonout.Validate(line); err != nil {
			t.Fatalf("%s: line does not match docs/json.md: %v\n%s", file, err, line)
		}
		var head struct{ Type string }
		if err := stdjson.Unmarshal(line, &head); err != nil {
			t.Fatal(err)
		}
		types[head.Type]++
		switch head.Type {
		case "trace":
			var tr jsonTrace
			if err := stdjson.Unmarshal(line, &tr); err != nil {
				t.Fatal(err)
			}
			traces = append(traces, tr)
		case "flow":
			var fl jsonFlow
			if err := stdjson.Unmarshal(line, &fl); err != nil {
				t.Fatal(err)
			}
			flows = append(flows, fl)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"interface", "trace", "flow", "stats"} {
		if types[typ] == 0 {
			t.Errorf("%s: no %s line (lines per type: %v)", file, typ, types)
		}
	}
	return traces, flows
}

func steps(tr jsonTrace) []string {
	var out []string
	for _, h := range tr.Hops {
		out = append(out, h.Device+" "+h.Direction)
	}
	return out
}

// natPaths are the lab's paths as seen from ifacetrace in the host
// namespace capturing all three namespaces.
func natPaths(l *lab.NAT) (request, reply []string) {
	c, o := l.NS(lab.Container)+"/eth0", l.NS(lab.Outside)+"/eth0"
	request = []string{c + " out", "veth-c in", "br0 in", "up0 out", o + " in"}
	reply = []string{o + " out", "up0 in", "br0 out", "veth-c out", c + " in"}
	return
}

// TestTracesAcrossNamespaces: with --netns three times, every echo request
// is one trace of five copies in path order with the SNAT named, every
// reply likewise reversed; IPv6 too; a flooded ARP broadcast is one trace
// with one ingress and the other bridge ports as egresses; in tshark
// frame.packet_id groups exactly a trace's frames.
func TestTracesAcrossNamespaces(t *testing.T) {
	needE2E(t, "ip6tables")
	l := lab.NewNAT(t)
	// Two more ports on the bridge, so a broadcast is flooded to several.
	for _, p := range []string{"p2", "p3"} {
		l.AddNS(p)
		l.Veth(lab.Host, "veth-"+p, p, "eth0")
		l.IP("-n", l.NS(lab.Host), "link", "set", "veth-"+p, "master", "br0")
	}
	warmARP(t, l)
	ping(t, l.Lab, lab.Container, lab.OutsideIP6, 1, "0.2")
	dir := t.TempDir()
	pc, js := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.jsonl")
	args := []string{"-o", pc, "-o", js}
	for _, r := range []string{lab.Container, lab.Host, lab.Outside, "p2", "p3"} {
		args = append(args, "--netns", l.NS(r))
	}
	it := ifacetrace(t, l.Lab, lab.Host, args...)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 5, "0.05")
	ping(t, l.Lab, lab.Container, lab.OutsideIP6, 3, "0.05")
	// An address nobody has: the container broadcasts ARP requests for it,
	// one a second, until the neighbour entry fails after three.
	startProc(t, "ping 10.200.1.99", l.Command(lab.Container, "ping", "-n", "-c", "1", "-w", "4", "10.200.1.99"), nil).wait(t, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	it.finish(t)

	traces, flows := readJSONL(t, js)
	request, reply := natPaths(l)
	count := map[string]int{}
	for _, tr := range traces {
		var kind string
		switch {
		case strings.HasPrefix(tr.Summary, "ICMP echo request") && tr.Hops[0].Src == lab.ContainerIP:
			kind = "request"
			checkTrace(t, tr, request, "SNAT "+lab.ContainerIP+"→"+lab.UplinkIP)
		case strings.HasPrefix(tr.Summary, "ICMP echo reply") && tr.Hops[0].Src == lab.OutsideIP:
			kind = "reply"
			checkTrace(t, tr, reply, "DNAT "+lab.UplinkIP+"→"+lab.ContainerIP)
		case strings.Contains(tr.Summary, "echo request") && tr.Hops[0].Src == lab.ContainerIP6:
			kind = "request6"
			checkTrace(t, tr, request, "SNAT "+lab.ContainerIP6+"→"+lab.UplinkIP6)
		case strings.Contains(tr.Summary, "echo reply") && tr.Hops[0].Src == lab.OutsideIP6:
			kind = "reply6"
			checkTrace(t, tr, reply, "DNAT "+lab.UplinkIP6+"→"+lab.ContainerIP6)
		case strings.HasPrefix(tr.Summary, "ARP who-has 10.200.1.99"):
			kind = "arp"
			got := steps(tr)
			want := []string{l.NS(lab.Container) + "/eth0 out", "veth-c in", "br0 in", "veth-p2 out", "veth-p3 out", l.NS("p2") + "/eth0 in", l.NS("p3") + "/eth0 in"}
			// After the bridge port, any order: the bridge floods the other
			// ports before it passes the frame up to itself (br0 in), and a
			// veth delivers to its peer at once, so branches interleave.
			if len(got) != len(want) || !slices.Equal(got[:2], want[:2]) || !sameSet(got[2:], want[2:]) {
				t.Errorf("ARP broadcast trace %d: path %v, want %v", tr.ID, got, want)
				for _, x := range traces {
					if strings.HasPrefix(x.Summary, "ARP") {
						t.Logf("%d %s: %s", x.ID, x.Summary, x.Path)
					}
				}
			}
		}
		if kind != "" {
			count[kind]++
		}
	}
	if diff := cmp.Diff(map[string]int{"request": 5, "reply": 5, "request6": 3, "reply6": 3, "arp": count["arp"]}, count); diff != "" || count["arp"] == 0 {
		t.Errorf("traces per kind (-want +got):\n%s(want at least one ARP broadcast)", diff)
	}

	// The summary: the most frequent paths, the NAT seen.
	for _, want := range []string{"ifacetrace: most frequent paths:", "ifacetrace: NAT seen: SNAT " + lab.ContainerIP + "→" + lab.UplinkIP + " (5 packets)"} {
		if !strings.Contains(it.stderr.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, it.stderr.String())
		}
	}

	// One ICMP flow for the five pings: both directions, NAT named.
	var icmp []jsonFlow
	for _, f := range flows {
		if f.Proto == "icmp" && f.Src == lab.ContainerIP && f.Dst == lab.OutsideIP {
			icmp = append(icmp, f)
		}
	}
	if len(icmp) != 1 || icmp[0].Packets.Forward != 5 || icmp[0].Packets.Reverse != 5 || !slices.Contains(icmp[0].NAT, "SNAT "+lab.ContainerIP+"→"+lab.UplinkIP) {
		t.Errorf("ICMP flows %+v, want one with 5 packets each way and its SNAT", icmp)
	}

	// In Wireshark's eyes: frame.packet_id groups a trace's copies, and
	// the comment says where each copy is on the path.
	groups := map[string][]string{}
	for _, r := range fields(t, pc, "(icmp.type == 0 || icmp.type == 8) && !(icmp.type == 3) && ip.addr == 10.200.0.0/16", "frame.packet_id", "frame.interface_name", "frame.packet_flags_direction", "frame.comment") {
		if r[0] == "" {
			t.Errorf("frame on %s without packet id", r[1])
			continue
		}
		groups[r[0]] = append(groups[r[0]], r[1]+" "+direction(t, r[2]))
		if !strings.HasPrefix(r[3], "trace "+r[0]+" hop ") {
			t.Errorf("comment %q does not name trace %s", r[3], r[0])
		}
	}
	if len(groups) != 10 {
		t.Errorf("%d packet ids among the IPv4 ICMP frames, want 10 (5 requests, 5 replies)", len(groups))
	}
	for id, g := range groups {
		if !slices.Equal(g, request) && !slices.Equal(g, reply) {
			t.Errorf("packet id %s groups %v, want a whole request or reply path", id, g)
		}
	}
}

func checkTrace(t *testing.T, tr jsonTrace, path []string, change string) {
	t.Helper()
	if diff := cmp.Diff(path, steps(tr)); diff != "" {
		t.Errorf("trace %d (%s): path (-want +got):\n%s", tr.ID, tr.Summary, diff)
	}
	if !slices.Contains(tr.Changes, change) {
		t.Errorf("trace %d (%s): changes %q lack %q", tr.ID, tr.Summary, tr.Changes, change)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestNeverMerges: copies of different packets that look the same are
// never one trace. 120 identical IPv6 UDP datagrams sent back to back are
// 120 traces, each with its full path. A TCP transfer over IPv6 with 10%
// of the container's segments dropped by the host (ip6tables statistic, in
// the lab's host namespace), whose retransmissions repeat the lost
// segments byte for byte, has exactly one trace per segment the container
// sent (tcpdump counts them there): the dropped ones end at the bridge, as
// many as the firewall counted, and the others have the full path.
func TestNeverMerges(t *testing.T) {
	needE2E(t, "ip6tables", "tcpdump")
	l := lab.NewNAT(t)
	warmARP(t, l)
	ping(t, l.Lab, lab.Container, lab.OutsideIP6, 1, "0.2")
	// Only segments with data are dropped: their retransmissions are over
	// once the server has every byte, so no segment is sent after tcpdump
	// stopped counting.
	l.Exec(lab.Host, "ip6tables", "-A", "FORWARD", "-p", "tcp", "-s", lab.ContainerIP6, "-m", "length", "--length", "200:65535",
		"-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP")
	// A route back for the UDP burst below, in the lab's outside namespace.
	l.IP("-n", l.NS(lab.Outside), "-6", "route", "add", "fd00:200:1::/64", "via", lab.UplinkIP6)
	dir := t.TempDir()
	js := filepath.Join(dir, "x.jsonl")
	it := captureNAT(t, l, "-o", js)

	payloads := make([][]byte, 120)
	for i := range payloads {
		payloads[i] = []byte("the very same datagram")
	}
	// From the outside, routed by the host, to the container.
	l.SendUDP(lab.Outside, lab.ContainerIP6, 9999, 0, payloads...)
	sent := tcpTransfer(t, l, 400_000)
	time.Sleep(200 * time.Millisecond)
	it.finish(t)
	dropped := 0
	for _, line := range strings.Split(l.Exec(lab.Host, "ip6tables", "-L", "FORWARD", "-v", "-n", "-x"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "DROP" {
			dropped, _ = strconv.Atoi(f[0])
		}
	}

	traces, _ := readJSONL(t, js)
	o := l.NS(lab.Outside) + "/eth0"
	c := l.NS(lab.Container) + "/eth0"
	request, _ := natPaths(l)
	udp, segs, lost, retrans := 0, 0, 0, 0
	seen := map[string]int{}
	for _, tr := range traces {
		h := tr.Hops[0]
		switch {
		case h.Proto == "udp" && h.Dport == 9999 && h.Src == lab.OutsideIP6:
			udp++
			if diff := cmp.Diff([]string{o + " out", "up0 in", "br0 out", "veth-c out", c + " in"}, steps(tr)); diff != "" {
				t.Errorf("UDP trace %d: path (-want +got):\n%s", tr.ID, diff)
			}
		case h.Proto == "tcp" && h.Src == lab.ContainerIP6 && h.Device == c:
			segs++
			if got := steps(tr); slices.Equal(got, request[:3]) {
				lost++
			} else if diff := cmp.Diff(request, got); diff != "" {
				t.Errorf("TCP trace %d (%s): path (-want +got):\n%s", tr.ID, tr.Summary, diff)
			}
			if seen[tr.Summary]++; seen[tr.Summary] == 2 {
				retrans++
			}
		}
	}
	t.Logf("TCP: %d segments sent, %d dropped by the host, %d retransmitted; %d identical UDP datagrams", segs, lost, retrans, udp)
	if udp != len(payloads) {
		t.Errorf("%d traces of the identical UDP datagram, want %d", udp, len(payloads))
	}
	if dropped == 0 || retrans == 0 {
		t.Errorf("%d segments dropped, %d retransmitted: the loss did not happen, the test proves nothing", dropped, retrans)
	}
	// The summary names where the dropped segments stopped, and where they
	// should have gone next.
	if want := fmt.Sprintf("ifacetrace: %s stopped after br0 in; expected next: up0 out", plural(uint64(dropped), "packet")); !strings.Contains(it.stderr.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, it.stderr.String())
	}
	if segs != sent || lost != dropped {
		t.Errorf("TCP traces from the container: %d, %d of them ending at the bridge; want %d (tcpdump's count there) and %d (the firewall's drops)", segs, lost, sent, dropped)
	}
}

// tcpTransfer sends n bytes over TCP/IPv6 from the container to a server in
// the outside namespace, while tcpdump in the container counts the segments
// that left eth0, and returns that count.
func tcpTransfer(t *testing.T, l *lab.NAT, n int) int {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "c.pcap")
	td := startTcpdump(t, l.Lab, lab.Container, "-i", "eth0", "-Q", "out", "-s", "128", "-w", pcap, "tcp")
	tcpStream(t, l, "tcp6", "["+lab.OutsideIP6+"]:8080", n, 1000)
	time.Sleep(300 * time.Millisecond)
	td.interrupt(t)
	out := fields(t, pcap, "", "frame.number")
	if len(out) == 0 {
		t.Fatal("tcpdump saw no segment")
	}
	return len(out)
}

// tcpStream sends n bytes over TCP (network "tcp4" or "tcp6") from the
// container to a server it starts at addr in the outside namespace, in
// writes of chunk bytes, and fails t unless the server received them all.
func tcpStream(t *testing.T, l *lab.NAT, network, addr string, n, chunk int) {
	t.Helper()
	var ln net.Listener
	if err := netns.Do(l.Path(lab.Outside), func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		total := 0
		buf := make([]byte, 256<<10)
		for {
			k, err := conn.Read(buf)
			total += k
			if err != nil {
				break
			}
		}
		got <- total
	}()
	err := netns.Do(l.Path(lab.Container), func() error {
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return err
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, chunk)
		for sent := 0; sent < n; sent += len(buf) {
			for i := range buf {
				buf[i] = byte(sent/chunk + i)
			}
			if _, err := conn.Write(buf); err != nil {
				return err
			}
		}
		return conn.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if total := <-got; total != n {
		t.Fatalf("server received %d bytes, want %d", total, n)
	}
}

// TestDedupAndSelectors: namespaces chosen by pid:N, by path and by name
// are captured together; --dedup first writes one frame per packet, its
// first copy, whole (the readers trim the later copies, which are not
// written, and correlation still finds all five); --netns all finds the
// lab's namespaces by itself.
func TestDedupAndSelectors(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	warmARP(t, l)
	sleeper := startProc(t, "sleep in container", l.Command(lab.Container, "sleep", "60"), nil)
	dir := t.TempDir()
	pc, js := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.jsonl")
	it := ifacetrace(t, l.Lab, lab.Host, "--dedup", "first", "-o", pc, "-o", js,
		"--netns", "pid:"+strconv.Itoa(sleeper.cmd.Process.Pid), "--netns", l.Path(lab.Host), "--netns", l.NS(lab.Outside))
	// 1000-byte echoes: longer than what a trimmed copy keeps.
	bounded(t, l.Lab, lab.Container, 15*time.Second, "ping", "-n", "-q", "-c", "3", "-i", "0.05", "-s", "1000", "-w", "5", lab.OutsideIP)
	it.finish(t)
	rows := fields(t, pc, "(icmp.type == 0 || icmp.type == 8) && !(icmp.type == 3)", "frame.interface_name", "icmp.type", "frame.comment", "frame.packet_id", "frame.cap_len", "frame.len")
	c, o := l.NS(lab.Container)+"/eth0", l.NS(lab.Outside)+"/eth0"
	if len(rows) != 6 {
		t.Errorf("%d ICMP echo frames with --dedup first, want 6 (one per packet):\n%s", len(rows), joinRows(rows))
	}
	for _, r := range rows {
		want := c
		if r[1] == "0" {
			want = o
		}
		if r[0] != want || !strings.HasPrefix(r[2], "trace "+r[3]+" hop 1/5: ") {
			t.Errorf("frame on %s (%s), want the first copy, on %s, hop 1/5", r[0], r[2], want)
		}
		if n, _ := strconv.Atoi(r[5]); r[4] != r[5] || n < 1000 {
			t.Errorf("first copy on %s: %s of %s bytes captured, want all of them (over 1000)", r[0], r[4], r[5])
		}
	}
	traces, _ := readJSONL(t, js)
	full := 0
	for _, tr := range traces {
		if strings.Contains(tr.Summary, "ICMP echo") && len(tr.Hops) == 5 {
			full++
		}
	}
	if full != 6 {
		t.Errorf("%d five-hop echo traces in the JSON output, want 6 (dedup applies to pcapng only)", full)
	}

	// --netns all: every namespace, the lab's among them, without naming them.
	js2 := filepath.Join(dir, "all.jsonl")
	it = ifacetrace(t, l.Lab, lab.Host, "--netns", "all", "-o", js2)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 2, "0.05")
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace --netns all: exit %d\nstderr:\n%s", code, it.stderr.String())
	}
	traces, _ = readJSONL(t, js2)
	request, _ := natPaths(l)
	found := 0
	for _, tr := range traces {
		if strings.HasPrefix(tr.Summary, "ICMP echo request "+lab.ContainerIP) && slices.Equal(steps(tr), request) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("--netns all: %d echo requests with the full path, want 2", found)
	}
}
