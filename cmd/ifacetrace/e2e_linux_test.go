//go:build linux

package main

// End-to-end tests: the real ifacetrace binary, run as a separate process in
// a namespace of a lab the test builds (tracer/lab), checked with the tools a
// user would use on its output: tshark, capinfos and tcpdump.
//
// Privilege: root (the labs need CAP_SYS_ADMIN and CAP_NET_ADMIN, the capture
// CAP_NET_RAW). Without it the tests skip, except under CI=true, where they
// fail. Traffic flows only between the lab's namespaces, to the lab's
// addresses, and every generator is bounded in count and time.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/internal/testtool"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// ifacetraceBin is the binary under test, built once by TestMain; "" when
// the end-to-end tests cannot run (e2eSkip says why).
var (
	ifacetraceBin string
	e2eSkip       string
)

func TestMain(m *testing.M) {
	// Under `sudo go test`, ifacetrace would run its plugins as the sudo
	// user, who cannot write into the tests' directories; TestPluginsAsSudoUser
	// sets these itself.
	for _, v := range []string{"SUDO_UID", "SUDO_GID", "SUDO_USER"} {
		os.Unsetenv(v)
	}
	var dir string
	if os.Geteuid() != 0 { // needE2E skips, or under CI=true fails, each test
		e2eSkip = "end-to-end tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW): run `sudo make test`"
	} else {
		var err error
		dir, err = buildIfacetrace()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			os.Exit(1)
		}
		ifacetraceBin = filepath.Join(dir, "ifacetrace")
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// buildIfacetrace builds this package into a fresh directory that an
// unprivileged user can enter, so TestErrors can run the binary as nobody.
func buildIfacetrace() (string, error) {
	dir, err := os.MkdirTemp("", "ifacetrace-e2e-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "ifacetrace"), ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
}

// needE2E skips (or fails, under CI=true) t unless the binary was built and
// the lab's tools and tshark are there.
func needE2E(t *testing.T, tools ...string) {
	t.Helper()
	if e2eSkip != "" {
		if lab.InCI() {
			t.Fatal(e2eSkip + " (CI=true: not skipping)")
		}
		t.Skip(e2eSkip)
	}
	lab.Require(t, append([]string{"iptables", "sysctl", "ping", "tshark"}, tools...)...)
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a process the test started; it is killed (by its PID) when the
// test ends if it is still running.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // of Wait, valid once done is closed
}

// startProc starts cmd, with start (nil: cmd.Start) doing the starting.
func startProc(t *testing.T, name string, cmd *exec.Cmd, start func() error) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	// A child that keeps our pipes open (a plugin outliving a killed
	// ifacetrace) must not hang Wait.
	cmd.WaitDelay = 2 * time.Second
	if start == nil {
		start = cmd.Start
	}
	if err := start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for p to end and returns its exit code. On timeout
// it kills p and fails the test.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not end within %s; killed it\nstdout:\n%s\nstderr:\n%s", p.name, timeout, p.stdout.String(), p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v\nstderr:\n%s", p.name, p.err, p.stderr.String())
	return -1
}

// interrupt sends SIGINT to p and returns its exit code.
// captureNAT starts ifacetrace in the NAT lab's host namespace capturing
// its three namespaces, with args (outputs, plugins; a filter last).
func captureNAT(t *testing.T, l *lab.NAT, args ...string) *proc {
	t.Helper()
	var all []string
	for _, r := range []string{lab.Container, lab.Host, lab.Outside} {
		all = append(all, "--netns", l.NS(r))
	}
	return ifacetrace(t, l.Lab, lab.Host, append(all, args...)...)
}

// finish interrupts ifacetrace and fails t unless it exits 0.
func (p *proc) finish(t *testing.T) {
	t.Helper()
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\nstderr:\n%s", code, p.stderr.String())
	}
}

func (p *proc) interrupt(t *testing.T) int {
	t.Helper()
	return p.stop(t, os.Interrupt)
}

// stop sends sig to p and returns its exit code.
func (p *proc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to %s: %v\nstderr:\n%s", sig, p.name, err, p.stderr.String())
	}
	return p.wait(t, 15*time.Second)
}

// ifacetrace runs the binary with args in role's namespace and returns once
// its ready file exists. It fails the test with ifacetrace's stderr if the
// process ends first or is not ready within ten seconds.
func ifacetrace(t *testing.T, l *lab.Lab, role string, args ...string) *proc {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	argv := append([]string{ifacetraceBin, "--ready-file", ready}, args...)
	p := startProc(t, "ifacetrace "+strings.Join(args, " "), l.Command(role, argv...), nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return p
		}
		if p.exited() {
			t.Fatalf("%s ended before it was ready (exit %d)\nstderr:\n%s", p.name, p.wait(t, 0), p.stderr.String())
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("%s: no ready file after 10s\nstderr:\n%s", p.name, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tcpdump runs `tcpdump -i any` in role's namespace writing file, and returns
// once it says it is listening. Immediate mode's ring has slots of snaplen
// bytes: -s 512 -B 4096 make room for thousands of frames instead of eight,
// so bursts (ARP, then the queued packet) are not dropped.
func tcpdump(t *testing.T, l *lab.Lab, role, file string, filter ...string) *proc {
	t.Helper()
	return startTcpdump(t, l, role, append([]string{"-i", "any", "-s", "512", "-B", "4096", "-w", file}, filter...)...)
}

// startTcpdump runs tcpdump with args in role's namespace and returns once
// it says it is listening. -Z root: keep privileges, so tcpdump can write
// into the test's directory. --immediate-mode: without it libpcap's ring
// holds the last frames until its block times out, and tcpdump drops them
// at SIGINT.
func startTcpdump(t *testing.T, l *lab.Lab, role string, args ...string) *proc {
	t.Helper()
	p := startProc(t, "tcpdump "+strings.Join(args, " "), l.Command(role, append([]string{"tcpdump", "-n", "--immediate-mode", "-U", "-Z", "root"}, args...)...), nil)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "listening on") {
		if p.exited() || time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("tcpdump did not start listening\nstderr:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// bounded runs cmd in role's namespace, killing it after timeout, and fails
// the test if it does not succeed.
func bounded(t *testing.T, l *lab.Lab, role string, timeout time.Duration, argv ...string) string {
	t.Helper()
	p := startProc(t, strings.Join(argv, " "), l.Command(role, argv...), nil)
	if code := p.wait(t, timeout); code != 0 {
		t.Fatalf("%s in %s: exit %d\n%s%s", p.name, role, code, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String()
}

// ping sends count echo requests, interval seconds apart, from role to dst.
func ping(t *testing.T, l *lab.Lab, role, dst string, count int, interval string) {
	t.Helper()
	iv, err := strconv.ParseFloat(interval, 64)
	if err != nil {
		t.Fatal(err)
	}
	deadline := int(float64(count)*iv) + 3
	bounded(t, l, role, time.Duration(deadline+5)*time.Second,
		"ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", interval, "-w", strconv.Itoa(deadline), dst)
}

// udpPayload is the payload of the i-th datagram sendUDP sends.
func udpPayload(i int) string { return fmt.Sprintf("ifacetrace-e2e-%d", i) }

// sendUDP sends n datagrams with distinct payloads from role to dst:port.
func sendUDP(t *testing.T, l *lab.Lab, role, dst string, port, n int) {
	t.Helper()
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = []byte(udpPayload(i))
	}
	l.SendUDP(role, dst, port, 20*time.Millisecond, payloads...)
}

// fields returns, for each frame of file matching filter, the values of the
// fields (tab separated, so values may hold commas and spaces).
func fields(t *testing.T, file, filter string, fs ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fs {
		args = append(args, "-e", f)
	}
	var rows [][]string
	for _, line := range strings.Split(testtool.Run(t, "tshark", args...), "\n") {
		if line == "" {
			continue
		}
		row := strings.Split(line, "\t")
		for len(row) < len(fs) {
			row = append(row, "")
		}
		rows = append(rows, row)
	}
	return rows
}

// joinRows formats rows one a line, for logs.
func joinRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, "  "))
		b.WriteByte('\n')
	}
	return b.String()
}

// frameCount is the number of frames tshark reads from file.
func frameCount(t *testing.T, file string) int {
	t.Helper()
	return len(fields(t, file, "", "frame.number"))
}

// direction maps frame.packet_flags_direction to "in"/"out".
func direction(t *testing.T, v string) string {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
	if err != nil {
		t.Fatalf("direction %q: %v", v, err)
	}
	switch n {
	case 1:
		return "in"
	case 2:
		return "out"
	}
	return "dir" + v
}

// capinfos checks that capinfos reads file and returns its report.
func capinfos(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("capinfos", file).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos %s: %v\n%s", file, err, out)
	}
	return string(out)
}

// ifindexes returns the ifindex → name map of role's namespace.
func ifindexes(t *testing.T, l *lab.Lab, role string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := netns.Do(l.Path(role), func() error {
		ifs, err := net.Interfaces()
		for _, ifc := range ifs {
			m[strconv.Itoa(ifc.Index)] = ifc.Name
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pcapngBlocks is what walkPcapng found in a file.
type pcapngBlocks struct {
	sections   int
	interfaces int
	packets    map[uint32]int    // EPBs by interface
	stats      map[uint32]int    // ISBs by interface
	received   map[uint32]uint64 // isb_ifrecv by interface
	trailing   int               // bytes after the last complete block
}

// walkPcapng reads the block structure of a pcapng file independently of
// gopacket and tshark, to see blocks tshark does not show, such as ISBs.
func walkPcapng(t *testing.T, file string) pcapngBlocks {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res := pcapngBlocks{packets: map[uint32]int{}, stats: map[uint32]int{}, received: map[uint32]uint64{}}
	var bo binary.ByteOrder = binary.LittleEndian
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			res.trailing = len(b) - off
			break
		}
		typ := bo.Uint32(b[off:])
		if typ == 0x0A0D0D0A { // SHB: its byte-order magic decides the order
			if binary.BigEndian.Uint32(b[off+8:]) == 0x1A2B3C4D {
				bo = binary.BigEndian
			} else {
				bo = binary.LittleEndian
			}
			res.sections++
		}
		n := int(bo.Uint32(b[off+4:]))
		if n < 12 || n%4 != 0 || off+n > len(b) || bo.Uint32(b[off+n-4:]) != uint32(n) {
			res.trailing = len(b) - off
			break
		}
		body := b[off+8 : off+n-4]
		switch typ {
		case 1:
			res.interfaces++
		case 6:
			res.packets[bo.Uint32(body)]++
		case 5:
			id := bo.Uint32(body)
			res.stats[id]++
			for opts := body[12:]; len(opts) >= 4; {
				code, l := bo.Uint16(opts), int(bo.Uint16(opts[2:]))
				if code == 0 || 4+l > len(opts) {
					break
				}
				if code == 4 && l == 8 { // isb_ifrecv
					res.received[id] = bo.Uint64(opts[4:])
				}
				opts = opts[4+(l+3)&^3:]
			}
		}
		off += n
	}
	return res
}

// checkComplete asserts that file is a complete pcapng file: tshark and
// capinfos read it, its blocks end cleanly, every interface has one ISB, and
// the ISB's received count equals the frames written for it.
func checkComplete(t *testing.T, file string) pcapngBlocks {
	t.Helper()
	testtool.Run(t, "tshark", "-r", file, "-n") // fails on "cut short", "appears to be damaged", …
	capinfos(t, file)
	w := walkPcapng(t, file)
	if w.sections != 1 || w.trailing != 0 {
		t.Errorf("%s: %d sections, %d bytes after the last complete block; want 1 section, 0 bytes", file, w.sections, w.trailing)
	}
	if w.interfaces == 0 {
		t.Errorf("%s: no interface description blocks", file)
	}
	for id := range uint32(w.interfaces) {
		if w.stats[id] != 1 {
			t.Errorf("%s: interface %d has %d interface statistics blocks, want 1", file, id, w.stats[id])
			continue
		}
		if got, want := w.received[id], uint64(w.packets[id]); got != want {
			t.Errorf("%s: interface %d: isb_ifrecv %d, but %d frames written", file, id, got, want)
		}
	}
	return w
}

// warmARP pings outside once from the container, so later captures start
// without ARP exchanges on the path.
func warmARP(t *testing.T, l *lab.NAT) {
	t.Helper()
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 1, "0.2")
}

// sighting is one frame of the lab's traffic as seen at one device.
type sighting struct {
	Dev, Dir, What string
}

// classify names an IPv4 ICMP or UDP frame of the lab: "echo-request",
// "echo-reply", "icmp-3" (port unreachable), "udp".
func classify(icmpType, udpPort string) string {
	switch icmpType {
	case "8":
		return "echo-request"
	case "0":
		return "echo-reply"
	case "":
		if udpPort != "" {
			return "udp"
		}
		return "other"
	}
	return "icmp-" + icmpType
}

// summaryRow is a device's row in the summary on stderr: "  veth-c  15  19".
var summaryRow = regexp.MustCompile(`(?m)^\s+(\S+)\s+(\d+)\s+(\d+)\s*$`)

// labFilter selects the lab's IPv4 ICMP and UDP frames.
const labFilter = "ip.addr == 10.200.0.0/16 && (icmp || udp.port == 9999)"

func TestPcapngMatchesTcpdump(t *testing.T) {
	needE2E(t, "tcpdump", "capinfos")
	l := lab.NewNAT(t)
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "t.pcap")

	td := tcpdump(t, l.Lab, lab.Host, theirs)
	it := ifacetrace(t, l.Lab, lab.Host, "-o", ours)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 5, "0.2")
	sendUDP(t, l.Lab, lab.Container, lab.OutsideIP, 9999, 5)
	time.Sleep(300 * time.Millisecond) // let the last replies arrive
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace exit %d after SIGINT, want 0\nstderr:\n%s", code, it.stderr.String())
	}
	if code := td.interrupt(t); code != 0 {
		t.Fatalf("tcpdump exit %d\n%s", code, td.stderr.String())
	}
	if !regexp.MustCompile(`(?m)^0 packets dropped by kernel$`).MatchString(td.stderr.String()) {
		t.Fatalf("tcpdump, the reference, lost frames:\n%s", td.stderr.String())
	}
	t.Logf("ifacetrace stderr:\n%s", it.stderr.String())
	if !strings.Contains(it.stderr.String(), "wrote "+ours+" (") {
		t.Errorf("summary does not name %s:\n%s", ours, it.stderr.String())
	}
	checkComplete(t, ours)

	// Our file: device, direction and addresses of every lab frame.
	rows := fields(t, ours, labFilter,
		"frame.interface_name", "frame.packet_flags_direction", "ip.src", "ip.dst", "icmp.type", "udp.dstport", "data.data")
	got := map[sighting]int{}
	payloads := map[sighting][]string{}
	for _, r := range rows {
		s := sighting{r[0], direction(t, r[1]), classify(r[4], r[5])}
		got[s]++
		switch {
		case s.What == "echo-request" || (s.What == "udp" && r[5] == "9999"):
			// Requests leave up0 masqueraded as the uplink's address.
			wantSrc := lab.ContainerIP
			if s.Dev == "up0" {
				wantSrc = lab.UplinkIP
			}
			if r[2] != wantSrc || r[3] != lab.OutsideIP {
				t.Errorf("%s %s %s: %s > %s, want %s > %s", s.Dev, s.Dir, s.What, r[2], r[3], wantSrc, lab.OutsideIP)
			}
			if s.What == "udp" {
				p, _ := hex.DecodeString(r[6])
				payloads[s] = append(payloads[s], string(p))
			}
		}
	}
	for _, w := range []sighting{
		{"veth-c", "in", "echo-request"}, {"br0", "in", "echo-request"}, {"up0", "out", "echo-request"},
		{"up0", "in", "echo-reply"}, {"br0", "out", "echo-reply"}, {"veth-c", "out", "echo-reply"},
		{"veth-c", "in", "udp"}, {"br0", "in", "udp"}, {"up0", "out", "udp"},
	} {
		if got[w] != 5 {
			t.Errorf("%d frames %+v, want 5; all: %v", got[w], w, got)
		}
	}
	var wantPayloads []string
	for i := range 5 {
		wantPayloads = append(wantPayloads, udpPayload(i))
	}
	for s, p := range payloads {
		if diff := cmp.Diff(wantPayloads, p); diff != "" {
			t.Errorf("UDP payloads on %s %s (-want +got):\n%s", s.Dev, s.Dir, diff)
		}
	}

	// tcpdump -i any on the same traffic: the same sightings per device.
	names := ifindexes(t, l.Lab, lab.Host)
	want := map[sighting]int{}
	for _, r := range fields(t, theirs, labFilter, "sll.ifindex", "sll.pkttype", "icmp.type", "udp.dstport") {
		dir := "in"
		if r[1] == "4" { // PACKET_OUTGOING
			dir = "out"
		}
		name, ok := names[r[0]]
		if !ok {
			name = "ifindex" + r[0]
		}
		want[sighting{name, dir, classify(r[2], r[3])}]++
	}
	if len(want) == 0 {
		t.Fatal("tcpdump saw no lab traffic")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sightings per device: tcpdump (-) vs ifacetrace (+):\n%s", diff)
		show := []string{"frame.time_epoch", "_ws.col.Protocol", "ip.src", "ip.dst", "icmp.type", "icmp.seq", "udp.dstport"}
		t.Logf("tcpdump stderr:\n%s", td.stderr.String())
		t.Logf("tcpdump (ifindex, pkttype, …):\n%s", joinRows(fields(t, theirs, "", append([]string{"sll.ifindex", "sll.pkttype"}, show...)...)))
		t.Logf("ifacetrace (device, direction, …):\n%s", joinRows(fields(t, ours, "", append([]string{"frame.interface_name", "frame.packet_flags_direction"}, show...)...)))
	}

	// The summary's per-device in/out counts are the file's.
	inFile := map[string][2]int{}
	for _, r := range fields(t, ours, "", "frame.interface_name", "frame.packet_flags_direction") {
		c := inFile[r[0]]
		if direction(t, r[1]) == "in" {
			c[0]++
		} else {
			c[1]++
		}
		inFile[r[0]] = c
	}
	inSummary := map[string][2]int{}
	for _, m := range summaryRow.FindAllStringSubmatch(it.stderr.String(), -1) {
		in, _ := strconv.Atoi(m[2])
		out, _ := strconv.Atoi(m[3])
		inSummary[m[1]] = [2]int{in, out}
	}
	if diff := cmp.Diff(inFile, inSummary); diff != "" {
		t.Errorf("frames per device [in out]: file (-) vs stderr summary (+):\n%s", diff)
	}

	// Interface descriptions: kind, master and veth peer.
	desc := map[string]string{}
	for _, r := range fields(t, ours, "", "frame.interface_name", "frame.interface_description") {
		desc[r[0]] = r[1]
	}
	if d := desc["veth-c"]; !strings.Contains(d, "veth") || !strings.Contains(d, "master br0") ||
		!strings.Contains(d, "peer "+l.NS(lab.Container)+"/eth0") {
		t.Errorf("veth-c description %q: want veth, master br0, peer %s/eth0", d, l.NS(lab.Container))
	}
	if d := desc["up0"]; !strings.Contains(d, "peer "+l.NS(lab.Outside)+"/eth0") || !strings.Contains(d, lab.UplinkIP+"/24") {
		t.Errorf("up0 description %q: want peer %s/eth0 and %s/24", d, l.NS(lab.Outside), lab.UplinkIP)
	}
	if d := desc["br0"]; !strings.HasPrefix(d, "bridge") {
		t.Errorf("br0 description %q: want it to start with bridge", d)
	}
}

func TestValidAfterSIGINT(t *testing.T) { validAfterSignal(t, syscall.SIGINT) }

func TestValidAfterSIGTERM(t *testing.T) { validAfterSignal(t, syscall.SIGTERM) }

// validAfterSignal stops a capture with sig in the middle of a ping flood
// and checks the file is complete.
func validAfterSignal(t *testing.T, sig syscall.Signal) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	out := filepath.Join(t.TempDir(), "x.pcapng")
	it := ifacetrace(t, l.Lab, lab.Host, "-o", out)

	// A fast, bounded flood; the signal lands in the middle of it.
	pinger := startProc(t, "ping flood", l.Command(lab.Container,
		"ping", "-n", "-q", "-c", "300", "-i", "0.005", "-w", "10", lab.OutsideIP), nil)
	time.Sleep(500 * time.Millisecond)
	if pinger.exited() {
		t.Fatalf("ping ended before %v: %s%s", sig, pinger.stdout.String(), pinger.stderr.String())
	}
	if code := it.stop(t, sig); code != 0 {
		t.Fatalf("ifacetrace exit %d after %v, want 0\nstderr:\n%s", code, sig, it.stderr.String())
	}
	stillRunning := !pinger.exited()
	pinger.wait(t, 15*time.Second)
	if !stillRunning {
		t.Logf("ping had ended before ifacetrace did: %v may not have been mid-traffic", sig)
	}

	w := checkComplete(t, out)
	n := frameCount(t, out)
	if n < 20 {
		t.Errorf("%d frames after 0.5s of 200 pings/s, want at least 20", n)
	}
	var epbs int
	for _, c := range w.packets {
		epbs += c
	}
	if epbs != n {
		t.Errorf("tshark reads %d frames, the file has %d EPBs", n, epbs)
	}
	if !strings.Contains(it.stderr.String(), fmt.Sprintf("wrote %s (%d frames)", out, n)) {
		t.Errorf("summary does not say wrote %s (%d frames):\n%s", out, n, it.stderr.String())
	}
}

// TestDurationTwoOutputs: --duration ends the capture by itself, and two -o
// files receive the same frames.
func TestDurationTwoOutputs(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcapng"), filepath.Join(dir, "b.pcapng")
	began := time.Now()
	it := ifacetrace(t, l.Lab, lab.Host, "--duration", "1s", "-o", a, "-o", b)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 3, "0.1")
	if code := it.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("ifacetrace --duration 1s: exit %d, want 0\nstderr:\n%s", code, it.stderr.String())
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("--duration 1s took %s", took)
	}
	checkComplete(t, a)
	checkComplete(t, b)
	cols := []string{"frame.interface_name", "frame.packet_flags_direction", "frame.time_epoch", "frame.len", "frame.cap_len"}
	ra, rb := fields(t, a, "", cols...), fields(t, b, "", cols...)
	if diff := cmp.Diff(ra, rb); diff != "" {
		t.Errorf("the two -o files differ (-a +b):\n%s", diff)
	}
	var requests int
	for _, r := range fields(t, a, "icmp.type == 8 && ip.dst == "+lab.OutsideIP, "frame.interface_name") {
		if r[0] == "up0" {
			requests++
		}
	}
	if requests != 3 {
		t.Errorf("%d echo requests out of up0 within --duration 1s, want 3", requests)
	}
	for _, f := range []string{a, b} {
		if !strings.Contains(it.stderr.String(), "wrote "+f+" (") {
			t.Errorf("summary does not name %s:\n%s", f, it.stderr.String())
		}
	}
}

func TestCount(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	warmARP(t, l)
	dir := t.TempDir()
	// A relative -o, resolved against ifacetrace's working directory.
	ready := filepath.Join(dir, "ready")
	cmd := l.Command(lab.Host, ifacetraceBin, "--ready-file", ready, "-c", "7", "-o", "x.pcapng")
	cmd.Dir = dir
	it := startProc(t, "ifacetrace -c 7", cmd, nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if it.exited() || time.Now().After(deadline) {
			t.Fatalf("ifacetrace not ready\nstderr:\n%s", it.stderr.String())
		}
	}
	pinger := startProc(t, "ping", l.Command(lab.Container,
		"ping", "-n", "-q", "-c", "40", "-i", "0.05", "-w", "10", lab.OutsideIP), nil)
	if code := it.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("ifacetrace -c 7: exit %d, want 0\nstderr:\n%s", code, it.stderr.String())
	}
	pinger.wait(t, 15*time.Second)

	out := filepath.Join(dir, "x.pcapng")
	checkComplete(t, out)
	if n := frameCount(t, out); n != 7 {
		t.Errorf("-c 7 wrote %d frames, want 7", n)
	}
	if want := "wrote " + out + " (7 frames)"; !strings.Contains(it.stderr.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, it.stderr.String())
	}
	if !strings.Contains(it.stderr.String(), "7 sightings") {
		t.Errorf("summary does not count 7 sightings:\n%s", it.stderr.String())
	}
}

func TestNewVethDuringCapture(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	out := filepath.Join(t.TempDir(), "x.pcapng")
	it := ifacetrace(t, l.Lab, lab.Host, "-o", out)

	l.AddNS("late")
	l.Veth(lab.Host, "vlate0", "late", "eth0")
	l.Addr(lab.Host, "vlate0", "10.200.50.1/24")
	l.Addr("late", "eth0", "10.200.50.2/24")
	ping(t, l.Lab, "late", "10.200.50.1", 3, "0.2")
	time.Sleep(200 * time.Millisecond)
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace exit %d after SIGINT, want 0\nstderr:\n%s", code, it.stderr.String())
	}
	checkComplete(t, out)

	frames := map[string]int{}
	ids := map[string]bool{} // pcapng interface ids of vlate0's frames
	for _, r := range fields(t, out, "", "frame.interface_name", "frame.interface_id") {
		frames[r[0]]++
		if r[0] == "vlate0" {
			ids[r[1]] = true
		}
	}
	if frames["vlate0"] == 0 {
		t.Fatalf("no frames on an interface named vlate0; frames per interface: %v\nstderr:\n%s", frames, it.stderr.String())
	}
	if len(ids) != 1 {
		t.Errorf("vlate0's frames are on %d interfaces (%v), want one IDB", len(ids), ids)
	}
	got := map[sighting]int{}
	for _, r := range fields(t, out, "ip.addr == 10.200.50.0/24 && icmp",
		"frame.interface_name", "frame.packet_flags_direction", "icmp.type", "frame.interface_description") {
		got[sighting{r[0], direction(t, r[1]), classify(r[2], "")}]++
		if r[0] == "vlate0" && !strings.Contains(r[3], "peer "+l.NS("late")+"/eth0") {
			t.Errorf("vlate0 description %q lacks peer %s/eth0", r[3], l.NS("late"))
		}
	}
	want := map[sighting]int{
		{"vlate0", "in", "echo-request"}: 3,
		{"vlate0", "out", "echo-reply"}:  3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pings on the new veth (-want +got):\n%s", diff)
	}
}

// viewLine is a line of the terminal view, one per packet:
// "15:04:05.000000000 SUMMARY  PATH [CHANGES]  TRANSIT".
var viewLine = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{9} (\S.*?)  (\S.*?)( \[(.*)\])?  (\S+)$`)

func TestTerminalView(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	warmARP(t, l)
	it := ifacetrace(t, l.Lab, lab.Host)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 5, "0.05")
	time.Sleep(300 * time.Millisecond) // the view prints a packet once its window has passed
	stdoutBefore := it.stdout.String()
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\nstderr:\n%s", code, it.stderr.String())
	}
	if !strings.Contains(stdoutBefore, "seq 5") {
		t.Errorf("the last ping was not on the terminal 300ms after it was sent:\n%s", stdoutBefore)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimRight(it.stdout.String(), "\n"), "\n") {
		m := viewLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q is not TIME SUMMARY  PATH [CHANGES]  TRANSIT", line)
			continue
		}
		if _, err := time.ParseDuration(m[5]); err != nil {
			t.Errorf("line %q: transit %q: %v", line, m[5], err)
		}
		switch {
		case strings.HasPrefix(m[1], "ICMP echo request "+lab.ContainerIP+" > "+lab.OutsideIP):
			kinds["request"]++
			if m[2] != "veth-c in → br0 in → up0 out" || m[4] != "SNAT "+lab.ContainerIP+"→"+lab.UplinkIP {
				t.Errorf("request line %q: path %q, changes %q", line, m[2], m[4])
			}
		case strings.HasPrefix(m[1], "ICMP echo reply "+lab.OutsideIP+" > "+lab.UplinkIP):
			kinds["reply"]++
			if m[2] != "up0 in → br0 out → veth-c out" || m[4] != "DNAT "+lab.UplinkIP+"→"+lab.ContainerIP {
				t.Errorf("reply line %q: path %q, changes %q", line, m[2], m[4])
			}
		}
	}
	if kinds["request"] != 5 || kinds["reply"] != 5 {
		t.Errorf("%v lines, want one per packet: 5 requests, 5 replies\n%s", kinds, it.stdout.String())
	}
	if strings.Contains(it.stdout.String(), "ifacetrace:") {
		t.Errorf("status on stdout:\n%s", it.stdout.String())
	}
	// stderr is not a terminal here: no live status line.
	if strings.ContainsAny(it.stderr.String(), "\r\x1b") {
		t.Errorf("a status line on a stderr that is no terminal:\n%q", it.stderr.String())
	}
}

func TestErrors(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	dir := t.TempDir()

	// run runs ifacetrace in the lab's host namespace and returns its exit
	// code and stderr.
	run := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		p := startProc(t, "ifacetrace "+strings.Join(args, " "), l.Command(lab.Host, append([]string{ifacetraceBin}, args...)...), nil)
		code := p.wait(t, 10*time.Second)
		return code, p.stderr.String()
	}

	t.Run("unknown device", func(t *testing.T) {
		code, stderr := run(t, "-i", "nosuchdev", "-c", "1")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		for _, s := range []string{"nosuchdev", "veth-c", "br0", "up0"} {
			if !strings.Contains(stderr, s) {
				t.Errorf("stderr lacks %q:\n%s", s, stderr)
			}
		}
	})

	// asNobody runs argv as uid/gid 65534 in the lab's host namespace and
	// returns its exit code, stdout and stderr.
	asNobody := func(t *testing.T, argv ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		// Forked from a thread inside the lab's host namespace, the process
		// starts there: ip netns exec would need the privilege we drop.
		p := startProc(t, strings.Join(argv, " ")+" as nobody", cmd, func() error {
			return netns.Do(l.Path(lab.Host), cmd.Start)
		})
		code := p.wait(t, 10*time.Second)
		return code, p.stdout.String(), p.stderr.String()
	}
	// The trick above must really start the process in the lab.
	if code, stdout, stderr := asNobody(t, "ip", "-o", "link"); code != 0 || !strings.Contains(stdout, "veth-c") {
		t.Fatalf("ip link as nobody in the lab's host namespace: exit %d, no veth-c:\n%s%s", code, stdout, stderr)
	}

	t.Run("unprivileged", func(t *testing.T) {
		code, _, stderr := asNobody(t, ifacetraceBin, "-c", "1")
		if code != 3 {
			t.Errorf("exit %d, want 3\nstderr:\n%s", code, stderr)
		}
		for _, s := range []string{"CAP_NET_RAW", "setcap", "sudo"} {
			if !strings.Contains(stderr, s) {
				t.Errorf("stderr lacks %q:\n%s", s, stderr)
			}
		}
	})

	t.Run("interfaces unprivileged", func(t *testing.T) {
		// app.go shows `ifacetrace interfaces` without sudo: netlink dumps
		// need no privilege.
		code, stdout, stderr := asNobody(t, ifacetraceBin, "interfaces")
		if code != 0 || !strings.Contains(stdout, "veth-c") || !strings.Contains(stdout, "br0") {
			t.Errorf("ifacetrace interfaces as nobody: exit %d, want 0 and a list with veth-c and br0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("setcap as advised", func(t *testing.T) {
		// Follow the advice of the privilege error: a copy of the binary
		// with file capabilities, run by an ordinary user, captures.
		lab.RequireTool(t, "setcap")
		capDir, err := os.MkdirTemp("", "ifacetrace-e2e-cap-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(capDir) })
		bin := filepath.Join(capDir, "ifacetrace")
		b, err := os.ReadFile(ifacetraceBin)
		if err == nil {
			err = os.WriteFile(bin, b, 0o755)
		}
		if err == nil {
			err = os.Chmod(capDir, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("setcap", "cap_net_raw,cap_net_admin+ep", bin).CombinedOutput(); err != nil {
			t.Fatalf("setcap: %v\n%s", err, out)
		}
		code, _, stderr := asNobody(t, bin, "--duration", "500ms")
		if code != 0 {
			t.Errorf("ifacetrace with cap_net_raw,cap_net_admin+ep as nobody: exit %d, want 0\nstderr:\n%s", code, stderr)
		}
	})

	t.Run("output extension", func(t *testing.T) {
		out := filepath.Join(dir, "x.txt")
		code, stderr := run(t, "-c", "1", "-o", out)
		if code != 2 {
			t.Errorf("exit %d, want 2\nstderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, ".pcapng") {
			t.Errorf("stderr does not say which extensions work:\n%s", stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s was created", out)
		}
	})

	t.Run("output directory missing", func(t *testing.T) {
		out := "/nonexistent-ifacetrace-dir/x.pcapng"
		code, stderr := run(t, "-c", "1", "-o", out)
		if code == 0 {
			t.Errorf("exit 0, want non-zero")
		}
		if !strings.Contains(stderr, out) {
			t.Errorf("stderr does not name %s:\n%s", out, stderr)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--no-such-flag"},
			{"-c", "-1"},
			{"--netns", "ifacetrace-no-such-namespace"},
			{"tcp", "portt", "80"}, // a filter libpcap rejects
		} {
			if code, stderr := run(t, args...); code != 2 {
				t.Errorf("ifacetrace %s: exit %d, want 2\nstderr:\n%s", strings.Join(args, " "), code, stderr)
			}
		}
	})
}

func TestLoopbackDirection(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	out := filepath.Join(t.TempDir(), "x.pcapng")
	it := ifacetrace(t, l.Lab, lab.Host, "-o", out)
	// The bridge's own address, pinged from its own namespace: the kernel
	// routes it over lo, where each frame is seen leaving and arriving.
	ping(t, l.Lab, lab.Host, lab.BridgeIP, 3, "0.1")
	time.Sleep(200 * time.Millisecond)
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace exit %d after SIGINT, want 0\nstderr:\n%s", code, it.stderr.String())
	}
	checkComplete(t, out)
	got := map[sighting]int{}
	for _, r := range fields(t, out, "icmp && ip.addr == "+lab.BridgeIP,
		"frame.interface_name", "frame.packet_flags_direction", "icmp.type") {
		got[sighting{r[0], direction(t, r[1]), classify(r[2], "")}]++
	}
	want := map[sighting]int{
		{"lo", "out", "echo-request"}: 3, {"lo", "in", "echo-request"}: 3,
		{"lo", "out", "echo-reply"}: 3, {"lo", "in", "echo-reply"}: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pings to %s (-want +got):\n%s", lab.BridgeIP, diff)
	}
	// lo's link type is Ethernet with zero addresses (ARPHRD_LOOPBACK).
	for _, r := range fields(t, out, "icmp", "frame.interface_name", "eth.src") {
		if r[0] == "lo" && r[1] != "00:00:00:00:00:00" {
			t.Errorf("lo frame with eth.src %q, want 00:00:00:00:00:00", r[1])
		}
	}
}
