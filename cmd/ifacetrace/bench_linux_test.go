//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// The side-by-side benchmark against tcpdump (make bench). It is a Go
// benchmark so that it never runs with the tests; each run builds the NAT
// lab (container → veth → br0 → MASQUERADE → up0 → outside), sends traffic
// only between the lab's namespaces, bounded in time, and captures in the
// host namespace — the one namespace tcpdump can see — with each tool in
// turn. Environment:
//
//	IFACETRACE_BENCH_RUNS   runs per tool (default 5), tools alternating
//	IFACETRACE_BENCH_SECS   seconds of traffic per run (default 3)
//	IFACETRACE_BENCH_ONLY   run only "udp" or "tcp"
//	IFACETRACE_BENCH_TOOLS  run only these tools (names as in the table,
//	                        comma-separated), e.g. for profiling one
//	IFACETRACE_BENCH_INPUT  BenchmarkOffline's input file: written there when
//	                        missing, reused when present
//	IFACETRACE_BENCH_EXTRA  flags of one more ifacetrace variant to run, e.g.
//	                        "-B 4" adds "ifacetrace -B 4 -o .pcapng";
//	                        VAR=value words set its environment instead;
//	                        IFACETRACE_BENCH_EXTRA_EXT=.jsonl writes JSON
//	IFACETRACE_BENCH_STDERR a directory: each capture's stderr is kept there,
//	                        e.g. to read GODEBUG=gctrace=1 set through
//	                        IFACETRACE_BENCH_EXTRA
//	IFACETRACE_BENCH_PIN    when set, the capture tool runs on CPU 1 and the
//	                        traffic generator on CPU 0 (taskset), to take
//	                        the scheduler's placement out of a comparison
//
// Before each timed run the file system is synced, untimed: a run's
// capture file (a gigabyte for ifacetrace -r) is otherwise written back to
// disk during the next tool's run, on its CPU time.

// benchRole: the test binary re-executed inside a namespace as a traffic
// generator or sink (init runs before TestMain, so nothing else starts).
const benchRole = "IFACETRACE_BENCH_ROLE"

func init() {
	role := os.Getenv(benchRole)
	if role == "" {
		return
	}
	n, err := runBenchRole(role, os.Getenv("BENCH_ADDR"), os.Getenv("BENCH_SECS"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		os.Exit(1)
	}
	fmt.Println(n)
	os.Exit(0)
}

// runBenchRole is one generator or sink. It returns packets sent (udp),
// bytes sent (tcp-send) or bytes received (tcp-sink).
func runBenchRole(role, addr, secs string) (int64, error) {
	s, _ := strconv.ParseFloat(secs, 64)
	dur := time.Duration(s * float64(time.Second))
	switch role {
	case "udp":
		// Small datagrams as fast as sendmmsg goes, 64 per call.
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return 0, err
		}
		pc := ipv4.NewPacketConn(c.(*net.UDPConn))
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 18)} // 64-byte Ethernet frames
		}
		var sent int64
		end := time.Now().Add(dur)
		for seq := uint32(0); time.Now().Before(end); {
			for i := range msgs {
				b := msgs[i].Buffers[0]
				seq++
				b[0], b[1], b[2], b[3] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
			}
			n, err := pc.WriteBatch(msgs, 0)
			if err != nil && n <= 0 {
				continue // ENOBUFS: the qdisc is full; try again
			}
			sent += int64(n)
		}
		return sent, nil
	case "tcp-send":
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var sent int64
		c.SetWriteDeadline(time.Now().Add(dur))
		for {
			n, err := c.Write(buf)
			sent += int64(n)
			if err != nil {
				return sent, nil // the deadline
			}
		}
	case "tcp-sink":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return 0, err
		}
		fmt.Fprintln(os.Stderr, "listening")
		l.(*net.TCPListener).SetDeadline(time.Now().Add(dur + 30*time.Second))
		c, err := l.Accept()
		if err != nil {
			return 0, err
		}
		c.SetReadDeadline(time.Now().Add(dur + 30*time.Second))
		n, _ := io.Copy(io.Discard, c)
		return n, nil
	}
	return 0, fmt.Errorf("unknown role %q", role)
}

// benchTool is one way of capturing (or not).
type benchTool struct {
	name string
	argv func(file string) []string // nil: no capture
	ext  string
	env  []string // added to the tool's environment
}

var benchTools = []benchTool{
	{name: "no capture"},
	{name: "tcpdump -i any -w", argv: func(f string) []string { return []string{"tcpdump", "-n", "-i", "any", "-w", f} }, ext: ".pcap"},
	{name: "tcpdump -i any -s 128 -w", argv: func(f string) []string { return []string{"tcpdump", "-n", "-i", "any", "-s", "128", "-w", f} }, ext: ".pcap"},
	{name: "ifacetrace -o .pcapng", argv: func(f string) []string { return []string{ifacetraceBin, "-o", f} }, ext: ".pcapng"},
	{name: "ifacetrace -s 128 -o .pcapng", argv: func(f string) []string { return []string{ifacetraceBin, "-s", "128", "-o", f} }, ext: ".pcapng"},
	{name: "ifacetrace --dedup first -o .pcapng", argv: func(f string) []string { return []string{ifacetraceBin, "--dedup", "first", "-o", f} }, ext: ".pcapng"},
	{name: "ifacetrace -o .jsonl", argv: func(f string) []string { return []string{ifacetraceBin, "-o", f} }, ext: ".jsonl"},
}

// benchResult is one run of one tool.
type benchResult struct {
	forwarded float64 // packets per second arriving at the outside namespace (UDP), or Mbit/s received (TCP)
	expected  int64   // copies the host's devices saw (their rx+tx counters)
	captured  int64   // copies the tool read
	cut       int64   // of them, cut to 320 bytes under load (--overload cut)
	drops     int64   // kernel drops the tool reported
	lost      int64   // plugin batches lost
	cpu       float64 // seconds of the tool (and its plugins)
	rssMB     float64 // peak RSS of the largest process
}

func BenchmarkVersusTcpdump(b *testing.B) {
	if ifacetraceBin == "" || os.Geteuid() != 0 {
		b.Skip("needs root and the ifacetrace binary (run: sudo make bench)")
	}
	for _, tool := range []string{"tcpdump", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s", tool)
		}
	}
	runs := envInt("IFACETRACE_BENCH_RUNS", 5)
	secs := envInt("IFACETRACE_BENCH_SECS", 3)
	l := lab.NewNAT(b)
	// No port unreachables back from outside: its firewall drops the
	// datagrams after they are counted on its eth0.
	l.Exec(lab.Outside, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport", "9", "-j", "DROP")
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for _, traffic := range []string{"udp", "tcp"} {
		if only := os.Getenv("IFACETRACE_BENCH_ONLY"); only != "" && only != traffic {
			continue
		}
		results := map[string][]benchResult{}
		tools := benchTools
		if words := strings.Fields(os.Getenv("IFACETRACE_BENCH_EXTRA")); len(words) > 0 {
			var env, flags []string
			for _, w := range words {
				if strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
					env = append(env, w)
				} else {
					flags = append(flags, w)
				}
			}
			ext := ".pcapng"
			if e := os.Getenv("IFACETRACE_BENCH_EXTRA_EXT"); e != "" {
				ext = e
			}
			tools = append(slices.Clip(tools), benchTool{
				name: strings.TrimSpace(strings.Join(env, " ") + " ifacetrace " + strings.Join(append(flags, "-o"), " ") + " " + ext),
				argv: func(f string) []string { return append(append([]string{ifacetraceBin}, flags...), "-o", f) },
				ext:  ext,
				env:  env,
			})
		}
		if only := os.Getenv("IFACETRACE_BENCH_TOOLS"); only != "" {
			all := tools
			tools = nil
			for _, t := range all {
				for name := range strings.SplitSeq(only, ",") {
					if t.name == name {
						tools = append(tools, t)
					}
				}
			}
		}
		for run := range runs {
			for i := range tools {
				// Alternate the order, so no tool always runs first.
				tool := tools[(i+run)%len(tools)]
				r := benchRun(b, l, self, dir, traffic, tool, secs)
				results[tool.name] = append(results[tool.name], r)
			}
		}
		reportBench(b, traffic, secs, runs, tools, results)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchRun runs one tool over one burst of traffic.
func benchRun(b *testing.B, l *lab.NAT, self, dir, traffic string, tool benchTool, secs int) benchResult {
	b.Helper()
	var r benchResult
	file := filepath.Join(dir, "capture"+tool.ext)
	defer os.Remove(file)
	var capture *exec.Cmd
	var stderr strings.Builder
	if tool.argv != nil {
		argv := tool.argv(file)
		ready := filepath.Join(dir, "ready")
		os.Remove(ready)
		isIT := argv[0] == ifacetraceBin
		if isIT {
			argv = append(argv[:1], append([]string{"--ready-file", ready}, argv[1:]...)...)
		}
		if os.Getenv("IFACETRACE_BENCH_PIN") != "" {
			argv = append([]string{"taskset", "-c", "1"}, argv...)
		}
		capture = l.Command(lab.Host, argv...)
		capture.Env = append(os.Environ(), tool.env...)
		pr, pw := io.Pipe()
		capture.Stderr = pw
		if err := capture.Start(); err != nil {
			b.Fatal(err)
		}
		lines := make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				stderr.WriteString(sc.Text() + "\n")
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}()
		waitReady(b, isIT, ready, lines)
		defer pw.Close()
	}
	syscall.Sync()
	hostBefore := devCounters(b, l, lab.Host)
	outBefore := devCounters(b, l, lab.Outside)["eth0/rx"]
	start := time.Now()
	var moved int64
	switch traffic {
	case "udp":
		moved = benchExec(b, l, lab.Container, self, "udp", lab.OutsideIP+":9", secs)
	case "tcp":
		sink := exec.Command("ip", "netns", "exec", l.NS(lab.Outside), self)
		sink.Env = append(os.Environ(), benchRole+"=tcp-sink", "BENCH_ADDR=:5001", fmt.Sprintf("BENCH_SECS=%d", secs))
		var out strings.Builder
		sink.Stdout = &out
		sp, _ := sink.StderrPipe()
		if err := sink.Start(); err != nil {
			b.Fatal(err)
		}
		bufio.NewReader(sp).ReadString('\n') // "listening"
		benchExec(b, l, lab.Container, self, "tcp-send", lab.OutsideIP+":5001", secs)
		if err := sink.Wait(); err != nil {
			b.Fatalf("tcp sink: %v", err)
		}
		moved, _ = strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	}
	took := time.Since(start).Seconds()
	time.Sleep(300 * time.Millisecond) // the last frames reach the rings
	hostAfter := devCounters(b, l, lab.Host)
	outAfter := devCounters(b, l, lab.Outside)["eth0/rx"]
	for dev, after := range hostAfter {
		if dev != "lo" && !strings.HasSuffix(dev, "/rx") {
			r.expected += after - hostBefore[dev]
		}
	}
	if traffic == "udp" {
		r.forwarded = float64(outAfter-outBefore) / took
	} else {
		r.forwarded = float64(moved) * 8 / took / 1e6
	}
	if capture == nil {
		return r
	}
	capture.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		capture.Process.Kill()
		<-done
		b.Fatalf("%s did not end within 60s of SIGINT", tool.name)
	}
	if ru, ok := capture.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = tv(ru.Utime) + tv(ru.Stime)
		r.rssMB = float64(ru.Maxrss) / 1024
	}
	time.Sleep(50 * time.Millisecond) // the stderr reader
	parseCaptureOutput(&r, stderr.String())
	if d := os.Getenv("IFACETRACE_BENCH_STDERR"); d != "" {
		name := strings.NewReplacer(" ", "_", "/", "_").Replace(fmt.Sprintf("%s-%s-%d.txt", traffic, tool.name, time.Now().UnixNano()))
		os.WriteFile(filepath.Join(d, name), []byte(stderr.String()), 0o644)
	}
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func waitReady(b *testing.B, ifacetrace bool, ready string, lines <-chan string) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ifacetrace {
			if _, err := os.Stat(ready); err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case line := <-lines:
			if strings.Contains(line, "listening on") {
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.Fatal("the capture did not get ready within 15s")
}

// benchExec runs the test binary as a generator in role's namespace.
func benchExec(b *testing.B, l *lab.NAT, role, self, what, addr string, secs int) int64 {
	cmd := exec.Command("ip", "netns", "exec", l.NS(role), self)
	if os.Getenv("IFACETRACE_BENCH_PIN") != "" {
		cmd = exec.Command("taskset", "-c", "0", "ip", "netns", "exec", l.NS(role), self)
	}
	cmd.Env = append(os.Environ(), benchRole+"="+what, "BENCH_ADDR="+addr, fmt.Sprintf("BENCH_SECS=%d", secs))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s generator: %v", what, err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return n
}

// devCounters returns rx+tx packets per device of role's namespace, and
// rx alone under "DEV/rx".
func devCounters(b *testing.B, l *lab.NAT, role string) map[string]int64 {
	out, err := exec.Command("ip", "-n", l.NS(role), "-j", "-s", "link", "show").Output()
	if err != nil {
		b.Fatal(err)
	}
	var links []struct {
		Ifname string `json:"ifname"`
		Stats  struct {
			RX struct {
				Packets int64 `json:"packets"`
			} `json:"rx"`
			TX struct {
				Packets int64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		b.Fatal(err)
	}
	m := map[string]int64{}
	for _, ln := range links {
		m[ln.Ifname] = ln.Stats.RX.Packets + ln.Stats.TX.Packets
		m[ln.Ifname+"/rx"] = ln.Stats.RX.Packets
	}
	return m
}

var (
	tcpdumpCaptured = regexp.MustCompile(`(?m)^(\d+) packets captured`)
	tcpdumpDropped  = regexp.MustCompile(`(?m)^(\d+) packets dropped by kernel`)
	itSightings     = regexp.MustCompile(`ifacetrace: (\d+) sightings in`)
	itDropped       = regexp.MustCompile(`(\d+) DROPPED by the kernel`)
	itLost          = regexp.MustCompile(`lost (\d+) batches`)
	itCut           = regexp.MustCompile(`ifacetrace: (\d+) frames cut to`)
)

func parseCaptureOutput(r *benchResult, s string) {
	num := func(re *regexp.Regexp) int64 {
		var t int64
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			t += n
		}
		return t
	}
	if m := num(tcpdumpCaptured); m > 0 {
		r.captured, r.drops = m, num(tcpdumpDropped)
		return
	}
	r.captured, r.drops, r.lost, r.cut = num(itSightings), num(itDropped), num(itLost), num(itCut)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func reportBench(b *testing.B, traffic string, secs, runs int, tools []benchTool, results map[string][]benchResult) {
	med := func(name string, f func(benchResult) float64) float64 {
		var xs []float64
		for _, r := range results[name] {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	unit := "forwarded pkt/s"
	if traffic == "tcp" {
		unit = "TCP Mbit/s"
	}
	var w strings.Builder
	fmt.Fprintf(&w, "\n%s traffic, %d s per run, median of %d runs, tools alternating\n\n", strings.ToUpper(traffic), secs, runs)
	fmt.Fprintf(&w, "| tool | %s | × tcpdump | copies captured / expected | × tcpdump | of them cut | kernel drops | plugin batches lost | CPU s | peak RSS MB (most) |\n|---|---|---|---|---|---|---|---|---|---|\n", unit)
	for _, t := range tools {
		fwd := med(t.name, func(r benchResult) float64 { return r.forwarded })
		frac := med(t.name, func(r benchResult) float64 {
			if r.expected == 0 {
				return 0
			}
			return float64(r.captured) / float64(r.expected)
		})
		ref := "tcpdump -i any -w"
		if strings.Contains(t.name, "-s 128") {
			ref = "tcpdump -i any -s 128 -w"
		}
		refFwd := med(ref, func(r benchResult) float64 { return r.forwarded })
		refFrac := med(ref, func(r benchResult) float64 {
			if r.expected == 0 {
				return 0
			}
			return float64(r.captured) / float64(r.expected)
		})
		ratio := func(a, b float64) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.3f", a/b)
		}
		if t.argv == nil {
			fmt.Fprintf(&w, "| %s | %.0f | %s | – | – | – | – | – | – | – |\n", t.name, fwd, ratio(fwd, refFwd))
			continue
		}
		most := 0.0
		for _, r := range results[t.name] {
			most = max(most, r.rssMB)
		}
		fmt.Fprintf(&w, "| %s | %.0f | %s | %.4f | %s | %.4f | %.0f | %.0f | %.2f | %.0f (%.0f) |\n", t.name, fwd, ratio(fwd, refFwd),
			frac, ratio(frac, refFrac),
			med(t.name, func(r benchResult) float64 {
				if r.captured == 0 {
					return 0
				}
				return float64(r.cut) / float64(r.captured)
			}),
			med(t.name, func(r benchResult) float64 { return float64(r.drops) }),
			med(t.name, func(r benchResult) float64 { return float64(r.lost) }),
			med(t.name, func(r benchResult) float64 { return r.cpu }),
			med(t.name, func(r benchResult) float64 { return r.rssMB }), most)
		b.ReportMetric(frac, strings.ReplaceAll(t.name, " ", "_")+"_"+traffic+"_captured_fraction")
	}
	fmt.Print(w.String())
}

// BenchmarkOffline reads a tcpdump -i any style capture of ≥ 5 million
// sightings (SLL2: 1.7 million UDP datagrams, each seen on veth-c in, br0
// in and, SNATed, on up0 out) with -r into pcapng and into JSON lines,
// beside `tcpdump -r IN -w OUT` on the same file.
func BenchmarkOffline(b *testing.B) {
	if ifacetraceBin == "" {
		b.Skip("needs the ifacetrace binary")
	}
	if _, err := exec.LookPath("tcpdump"); err != nil {
		b.Skip("needs tcpdump")
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "any.pcap")
	const packets = 1_700_000
	if keep := os.Getenv("IFACETRACE_BENCH_INPUT"); keep != "" {
		// Reuse (or leave behind) the input, e.g. for profiling -r by hand.
		in = keep
	}
	if _, err := os.Stat(in); err != nil {
		writeSyntheticAny(b, in, packets)
	}
	runs := envInt("IFACETRACE_BENCH_RUNS", 5)
	type row struct {
		name string
		argv []string
	}
	rows := []row{
		{"tcpdump -r IN -w OUT", []string{"tcpdump", "-r", in, "-w", filepath.Join(dir, "out.pcap")}},
		{"ifacetrace -r IN -o OUT.pcapng", []string{ifacetraceBin, "-r", in, "-o", filepath.Join(dir, "out.pcapng")}},
		{"ifacetrace -r IN -o OUT.jsonl", []string{ifacetraceBin, "-r", in, "-o", filepath.Join(dir, "out.jsonl")}},
	}
	wall := map[string][]float64{}
	cpu := map[string][]float64{}
	rss := map[string][]float64{}
	for run := range runs {
		for i := range rows {
			r := rows[(i+run)%len(rows)]
			cmd := exec.Command(r.argv[0], r.argv[1:]...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			syscall.Sync()
			start := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatalf("%s: %v\n%s", r.name, err, stderr.String())
			}
			wall[r.name] = append(wall[r.name], time.Since(start).Seconds())
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu[r.name] = append(cpu[r.name], tv(ru.Utime)+tv(ru.Stime))
			rss[r.name] = append(rss[r.name], float64(ru.Maxrss)/1024)
			if strings.HasPrefix(r.name, "ifacetrace") && !strings.Contains(stderr.String(), fmt.Sprintf("%d sightings", 3*packets)) {
				b.Fatalf("%s did not read %d sightings:\n%s", r.name, 3*packets, stderr.String())
			}
		}
	}
	ref := median(wall[rows[0].name])
	var w strings.Builder
	fmt.Fprintf(&w, "\nOffline: %d sightings (%d packets × 3 copies), median of %d runs\n\n", 3*packets, packets, runs)
	fmt.Fprintln(&w, "| tool | wall s | sightings/s | × tcpdump's time | CPU s | peak RSS MB |\n|---|---|---|---|---|---|")
	for _, r := range rows {
		t := median(wall[r.name])
		fmt.Fprintf(&w, "| %s | %.2f | %.0f | %.2f | %.2f | %.0f |\n", r.name, t, 3*packets/t, t/ref, median(cpu[r.name]), median(rss[r.name]))
		b.ReportMetric(3*packets/t, strings.ReplaceAll(r.name, " ", "_")+"_sightings/s")
	}
	fmt.Print(w.String())
}

// writeSyntheticAny writes a pcap with LINKTYPE_LINUX_SLL2, as tcpdump -i
// any does, of n UDP datagrams from a container through a NAT host.
func writeSyntheticAny(b testing.TB, path string, n int) { writeSyntheticAnyGap(b, path, n, n, 0) }

// writeSyntheticAnyGap is writeSyntheticAny with the datagrams from the
// gapAt-th on sent gap later.
func writeSyntheticAnyGap(b testing.TB, path string, n, gapAt int, gap time.Duration) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	w.Write([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}) // microsecond pcap, v2.4
	w.Write(le(0))
	w.Write(le(0))
	w.Write(le(262144))
	w.Write(le(276)) // LINKTYPE_LINUX_SLL2
	frame := make([]byte, 20+28+18)
	t0 := uint64(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMicro())
	for i := range n {
		src := [4]byte{10, 200, 1, 2}
		for hop, h := range []struct {
			ifindex uint32
			pkttype byte
			snat    bool
		}{{4, 0, false}, {3, 0, false}, {5, 4, true}} {
			ts := t0 + uint64(i)*2 + uint64(hop)
			if i >= gapAt {
				ts += uint64(gap.Microseconds())
			}
			s := frame[:20]
			s[0], s[1] = 0x08, 0x00 // ETH_P_IP
			s[2], s[3] = 0, 0
			copy(s[4:8], []byte{byte(h.ifindex >> 24), byte(h.ifindex >> 16), byte(h.ifindex >> 8), byte(h.ifindex)})
			s[8], s[9] = 0, 1 // ARPHRD_ETHER
			s[10], s[11] = h.pkttype, 6
			copy(s[12:20], []byte{0x02, 0, 0, 0, byte(hop), 1, 0, 0})
			ip := frame[20:48]
			ip[0], ip[1] = 0x45, 0
			ip[2], ip[3] = 0, 46
			ip[4], ip[5] = byte(i>>8), byte(i)
			ip[6], ip[7] = 0x40, 0
			ip[8], ip[9] = byte(64-hop), 17
			if h.snat {
				src = [4]byte{10, 200, 2, 1}
			}
			copy(ip[12:16], src[:])
			copy(ip[16:20], []byte{10, 200, 2, 2})
			ip[20], ip[21], ip[22], ip[23] = 0x9c, 0x40, 0, 9 // 40000 → 9
			ip[24], ip[25] = 0, 26
			p := frame[48:]
			for k := range p {
				p[k] = 0
			}
			p[0], p[1], p[2], p[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			w.Write(le(uint32(ts / 1e6)))
			w.Write(le(uint32(ts % 1e6)))
			w.Write(le(uint32(len(frame))))
			w.Write(le(uint32(len(frame))))
			w.Write(frame)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}
