package pythonexample_test

// These tests start the Python plugin for real: through plugins/host as
// ifacetrace does, and by hand, speaking go-plugin's protocol to it. They
// need python3 with Debian's python3-grpcio, python3-grpc-tools and
// python3-protobuf (the first interpreter that has them among
// $IFACETRACE_PYTHON, python3 on PATH and /usr/bin/python3); without, they
// skip, or fail under CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

const debianPackages = "python3-grpcio python3-grpc-tools python3-protobuf"

// cacheDir is the plugin's XDG_CACHE_HOME during the tests: a fresh one, so
// that the stubs are generated from the protos of this tree, and nothing is
// left in the user's ~/.cache.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ifacetrace-flowlog-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	os.Setenv("XDG_CACHE_HOME", cacheDir)
	code := m.Run()
	// Every plugin a test started must be gone by now.
	var left []int
	waitFor(2*time.Second, func() bool { left = pluginProcs(); return len(left) == 0 })
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: flowlog plugin processes left running: %v\n", left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL) // started by this test binary
		}
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	pyOnce sync.Once
	pyPath string
	pyWhy  string
)

// python returns an interpreter that has the plugin's modules, or skips the
// test (fails it under CI=true).
func python(t *testing.T) string {
	t.Helper()
	pyOnce.Do(func() { pyPath, pyWhy = findPython() })
	if pyPath == "" {
		msg := fmt.Sprintf("needs python3 with the modules grpc, grpc_tools and google.protobuf (Debian: apt-get install %s); %s", debianPackages, pyWhy)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: not skipping)")
		}
		t.Skip(msg)
	}
	return pyPath
}

func findPython() (path, why string) {
	var tried []string
	for _, c := range []string{os.Getenv("IFACETRACE_PYTHON"), "python3", "/usr/bin/python3"} {
		if c == "" {
			continue
		}
		p, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: not found", c))
			continue
		}
		if slices.ContainsFunc(tried, func(s string) bool { return strings.HasPrefix(s, p+":") }) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, p, "-c", "import grpc, grpc_tools.protoc, google.protobuf").CombinedOutput()
		cancel()
		if err == nil {
			return p, ""
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		tried = append(tried, fmt.Sprintf("%s: %s", p, lines[len(lines)-1]))
	}
	return "", "tried " + strings.Join(tried, "; ")
}

// script returns the absolute path of a file of this package.
func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ui records what the plugin says through the host.
type ui struct {
	t     testing.TB
	mu    sync.Mutex
	lines []string
	warns []string
}

func (u *ui) Line(plugin, line string) { u.add(plugin, line, &u.lines) }
func (u *ui) Warn(plugin, msg string)  { u.add(plugin, msg, &u.warns) }

func (u *ui) add(plugin, s string, to *[]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if plugin != "flowlog" {
		u.t.Errorf("UI call for plugin %q, want flowlog: %q", plugin, s)
	}
	*to = append(*to, s)
}

func (u *ui) snapshot() (lines, warns []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.lines), slices.Clone(u.warns)
}

func runInfo() *pb.RunInfo {
	return &pb.RunInfo{IfacetraceVersion: "test", Hostname: "test", Os: "linux", Snaplen: 262144, RecordLayout: sdk.RecordLayout}
}

// t0 is 2026-11-23T12:00:00.123456789Z.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)

func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func TestFlowLog(t *testing.T) {
	py := python(t)
	out := filepath.Join(t.TempDir(), "flows.log")
	u := &ui{t: t}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := host.Start(ctx, host.Spec{
		Name:    "flowlog",
		Cmd:     []string{py, script(t, "flowlog.py")},
		Options: map[string]string{"path": out},
	}, runInfo(), u)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	wantInfo := &pb.PluginInfo{
		Name: "flowlog", Version: "0.1.0",
		Description: "writes a flow log for a SIEM: one key=value line per flow",
		Wants:       &pb.Subscriptions{Flows: true, Stats: true},
		Options:     []*pb.OptionSpec{{Name: "path", Type: "path", Help: "file to write", Required: true}},
		Lossless:    true,
	}
	if d := cmp.Diff(wantInfo.String(), p.Info.String()); d != "" {
		t.Errorf("Describe (-want +got):\n%s", d)
	}
	pids := pluginProcs()
	if len(pids) != 1 {
		t.Fatalf("flowlog processes after Start: %v, want one", pids)
	}

	batches := []*pb.Batch{{
		Seq: 1,
		Interfaces: []*pb.Interface{
			{Id: 1, Name: "c1/eth0", Ifname: "eth0", Netns: "c1", Kind: "veth", Up: true, Addresses: []string{"10.200.1.2/24"}},
			{Id: 2, Name: "c2/eth0", Ifname: "eth0", Netns: "c2", Kind: "veth", Up: true, Addresses: []string{"10.200.2.2/24"}},
		},
		// Traces are not subscribed to: the host leaves them out.
		Traces: []*pb.Trace{{Id: 1, Summary: "not for flowlog"}},
		Flows: []*pb.Flow{{
			Id:    7,
			Tuple: &pb.Tuple{Proto: "icmp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 7, Dport: 7},
			// 2026-11-23T12:00:00.123Z to 12:00:04.130Z
			FirstUnixNano: ns(0), LastUnixNano: ns(4007 * time.Millisecond),
			PacketsForward: 5, PacketsReverse: 5, BytesForward: 490, BytesReverse: 490,
			Paths: []*pb.PathCount{{Path: "c1/eth0 out → c2/eth0 in", Count: 5}, {Path: "c2/eth0 out → c1/eth0 in", Count: 5}},
			Nat:   []string{"SNAT 10.200.1.2→10.200.2.1", "DNAT 10.200.2.1→10.200.1.2"},
		}, {
			Id:            8,
			Tuple:         &pb.Tuple{Proto: "tcp", Src: "10.200.1.2", Dst: "10.200.2.2", Sport: 40000, Dport: 80},
			FirstUnixNano: ns(time.Second), LastUnixNano: ns(1500 * time.Millisecond),
			PacketsForward: 3, PacketsReverse: 2, BytesForward: 206, BytesReverse: 140,
			Paths: []*pb.PathCount{{Path: "c1/eth0 out → c2/eth0 in", Count: 5}},
			Final: true,
		}},
	}, {
		Seq: 2,
		Stats: &pb.Stats{
			StartUnixNano: ns(0), EndUnixNano: ns(5 * time.Second), Sightings: 20,
			Interfaces:  []*pb.InterfaceStats{{Id: 1, ReceivedIn: 7, ReceivedOut: 8}, {Id: 2, ReceivedIn: 8, ReceivedOut: 7}},
			Sockets:     []*pb.SocketStats{{Device: "any", Packets: 30, Drops: 2}},
			Correlation: &pb.CorrelationStats{Traces: 15, Flows: 2, EvictedTraces: 1},
		},
	}}
	for _, b := range batches {
		p.Send(host.Subscribed(b, p.Info.GetWants()))
	}

	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	start := time.Now()
	res := p.Close(cctx)
	took := time.Since(start)
	t.Logf("Close took %v", took)
	// go-plugin waits 2s for a plugin that ignores the controller's
	// Shutdown. This does not prove that Shutdown works, though:
	// plugins/host kills the plugin's process group before go-plugin asks
	// for it, so TestProtocol checks Shutdown on its own.
	if took >= 2*time.Second {
		t.Errorf("Close took %v, want < 2s", took)
	}
	if res.Err != nil {
		t.Fatalf("Result.Err = %v", res.Err)
	}
	if res.Dropped != 0 {
		t.Errorf("Dropped = %d", res.Dropped)
	}
	if got := res.Finish.GetFiles(); !slices.Equal(got, []string{out}) {
		t.Errorf("Finish.Files = %q, want [%q]", got, out)
	}
	if d := cmp.Diff(map[string]uint64{"flows": 2}, res.Finish.GetCounters()); d != "" {
		t.Errorf("Finish.Counters (-want +got):\n%s", d)
	}
	lines, warns := u.snapshot()
	if len(lines) != 0 {
		t.Errorf("lines for the terminal: %q, want none", lines)
	}
	wantWarns := []string{"flowlog: the capture lost packets (2 kernel drops, 1 traces evicted): the packet and byte counts in " + out + " are lower bounds"}
	if d := cmp.Diff(wantWarns, warns); d != "" {
		t.Errorf("warnings (-want +got); the plugin's stderr must stay quiet:\n%s", d)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("the file does not end with a newline: %q", text)
	}
	var got [][]kv
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fields, err := parseLine(line)
		if err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		got = append(got, fields)
	}
	want := [][]kv{{
		{"ts", "2026-11-23T12:00:00.123Z"}, {"end", "2026-11-23T12:00:04.130Z"}, {"flow_id", "7"},
		{"proto", "icmp"}, {"src", "10.200.1.2"}, {"dst", "10.200.2.2"}, {"sport", "7"}, {"dport", "7"},
		{"pkts_fwd", "5"}, {"pkts_rev", "5"}, {"bytes_fwd", "490"}, {"bytes_rev", "490"},
		{"nat", "SNAT 10.200.1.2→10.200.2.1; DNAT 10.200.2.1→10.200.1.2"}, {"paths", "2"}, {"final", "false"},
	}, {
		{"ts", "2026-11-23T12:00:01.123Z"}, {"end", "2026-11-23T12:00:01.623Z"}, {"flow_id", "8"},
		{"proto", "tcp"}, {"src", "10.200.1.2"}, {"dst", "10.200.2.2"}, {"sport", "40000"}, {"dport", "80"},
		{"pkts_fwd", "3"}, {"pkts_rev", "2"}, {"bytes_fwd", "206"}, {"bytes_rev", "140"},
		{"nat", ""}, {"paths", "1"}, {"final", "true"},
	}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(kv{})); d != "" {
		t.Errorf("file content (-want +got):\n%s\nfile:\n%s", d, text)
	}
	// The exact bytes of the first line, quoting included.
	const first = `ts=2026-11-23T12:00:00.123Z end=2026-11-23T12:00:04.130Z flow_id=7 proto=icmp src=10.200.1.2 dst=10.200.2.2 sport=7 dport=7 pkts_fwd=5 pkts_rev=5 bytes_fwd=490 bytes_rev=490 nat="SNAT 10.200.1.2→10.200.2.1; DNAT 10.200.2.1→10.200.1.2" paths=2 final=false`
	if l, _, _ := strings.Cut(text, "\n"); l != first {
		t.Errorf("first line:\n%s\nwant:\n%s", l, first)
	}

	if !waitFor(2*time.Second, func() bool { return !running(pids[0]) }) {
		t.Errorf("plugin process %d still running after Close", pids[0])
	}
}

// kv is one key=value of a line.
type kv struct{ key, value string }

// parseLine reads key=value fields separated by single spaces; a value is a
// bare word or a double-quoted string with JSON/Go escapes.
func parseLine(line string) ([]kv, error) {
	var out []kv
	for {
		k, rest, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, ` "`) {
			return nil, fmt.Errorf("no key=value at %q", line)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for ; end < len(rest) && rest[end] != '"'; end++ {
				if rest[end] == '\\' {
					end++
				}
			}
			if end >= len(rest) {
				return nil, fmt.Errorf("unterminated quote at %q", rest)
			}
			var err error
			if v, err = strconv.Unquote(rest[:end+1]); err != nil {
				return nil, fmt.Errorf("value %s: %v", rest[:end+1], err)
			}
			rest = rest[end+1:]
		} else {
			i := strings.IndexByte(rest, ' ')
			if i < 0 {
				i = len(rest)
			}
			v, rest = rest[:i], rest[i:]
			if strings.Contains(v, `"`) {
				return nil, fmt.Errorf("quote inside bare value %q", v)
			}
		}
		out = append(out, kv{k, v})
		if rest == "" {
			return out, nil
		}
		if rest[0] != ' ' || len(rest) == 1 || rest[1] == ' ' {
			return nil, fmt.Errorf("want one space between fields at %q", rest)
		}
		line = rest[1:]
	}
}

func TestParseLine(t *testing.T) {
	got, err := parseLine(`a=1 b="x \"y\" \\ z\n" c=→ d=""`)
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a", "1"}, {"b", "x \"y\" \\ z\n"}, {"c", "→"}, {"d", ""}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(kv{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, bad := range []string{`a`, `a="x`, `a=1  b=2`, `a=1 `, `=1`} {
		if _, err := parseLine(bad); err == nil {
			t.Errorf("parseLine(%q) succeeded", bad)
		}
	}
}

// TestConfigureError: a missing or unusable path stops the run before it
// captures, with the plugin's own message.
func TestConfigureError(t *testing.T) {
	py := python(t)
	bad := filepath.Join(t.TempDir(), "no-such-dir", "flows.log")
	for _, c := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"missing", nil, "plugin flowlog: flowlog: option path is required (e.g. --plugin flowlog:path=flows.log)"},
		{"unwritable", map[string]string{"path": bad}, "plugin flowlog: flowlog: cannot create " + bad + ": No such file or directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := &ui{t: t}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := host.Start(ctx, host.Spec{Name: "flowlog", Cmd: []string{py, script(t, "flowlog.py")}, Options: c.opts}, runInfo(), u)
			if err == nil {
				p.Close(ctx)
				t.Fatal("Start succeeded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, c.want) || strings.Contains(msg, "rpc error") {
				t.Errorf("Start: %q\nwant the plugin's message %q, without gRPC's wrapping", msg, c.want)
			}
			if !waitFor(2*time.Second, func() bool { return len(pluginProcs()) == 0 }) {
				t.Errorf("plugin processes left after a failed Start: %v", pluginProcs())
			}
		})
	}
}

// TestProtocol speaks go-plugin's protocol to the plugin by hand: exactly
// one handshake line on stdout, a socket in a directory of its own inside
// PLUGIN_UNIX_SOCKET_DIR, the health service, and the controller's Shutdown,
// after which the plugin exits on its own, promptly, and cleans up.
func TestProtocol(t *testing.T) {
	py := python(t)
	sockDir := t.TempDir()
	cmd := exec.Command(py, script(t, "flowlog.py"))
	cmd.Env = append(os.Environ(), sdk.Handshake.MagicCookieKey+"="+sdk.Handshake.MagicCookieValue,
		"PLUGIN_UNIX_SOCKET_DIR="+sockDir, "PLUGIN_PROTOCOL_VERSIONS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type exit struct {
		rest []byte // stdout after the handshake line
		err  error
	}
	exited := make(chan exit, 1)
	br := bufio.NewReader(stdout)
	handshake := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		handshake <- line
		rest, _ := io.ReadAll(br)
		exited <- exit{rest, cmd.Wait()}
	}()
	done := false
	defer func() {
		if !done {
			cmd.Process.Kill() // started by this test
			<-exited
		}
	}()
	var line string
	select {
	case line = <-handshake:
	case <-time.After(20 * time.Second):
		t.Fatalf("no handshake within 20s; stderr:\n%s", stderr.String())
	}
	parts := strings.Split(strings.TrimSuffix(line, "\n"), "|")
	if len(parts) != 5 || parts[0] != "1" || parts[1] != "1" || parts[2] != "unix" || parts[4] != "grpc" {
		t.Fatalf("handshake %q, want 1|1|unix|PATH|grpc; stderr:\n%s", line, stderr.String())
	}
	sock := parts[3]
	if rel, err := filepath.Rel(sockDir, sock); err != nil || strings.Count(rel, "/") != 1 || strings.HasPrefix(rel, "..") {
		t.Errorf("socket %s is not in a directory of its own inside %s", sock, sockDir)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v %v, want mode 0700", fi, err)
	}

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	health := grpc_health_v1.NewHealthClient(conn)
	hr, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	if err != nil || hr.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health of service plugin: %v %v, want SERVING", hr, err)
	}
	if _, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "other"}); status.Code(err) != codes.NotFound {
		t.Errorf("health of an unknown service: %v, want NotFound", err)
	}
	info, err := pb.NewPluginClient(conn).Describe(ctx, &pb.DescribeRequest{})
	if err != nil || info.GetName() != "flowlog" {
		t.Errorf("Describe: %v %v", info, err)
	}

	// go-plugin's GRPCClient.Close calls this; plugin.Empty and
	// google.protobuf.Empty are the same on the wire.
	shutdown := time.Now()
	if err := conn.Invoke(ctx, "/plugin.GRPCController/Shutdown", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatalf("GRPCController.Shutdown: %v", err)
	}
	select {
	case e := <-exited:
		done = true
		t.Logf("exited %v after Shutdown", time.Since(shutdown).Round(time.Millisecond))
		if e.err != nil {
			t.Errorf("exit after Shutdown: %v, want status 0; stderr:\n%s", e.err, stderr.String())
		}
		if len(e.rest) != 0 {
			t.Errorf("stdout after the handshake: %q, want nothing", e.rest)
		}
	case <-time.After(1500 * time.Millisecond):
		t.Fatalf("the plugin did not exit within 1.5s of Shutdown (go-plugin kills it after 2s); stderr:\n%s", stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %q, want nothing", stderr.String())
	}
	if ents, _ := os.ReadDir(sockDir); len(ents) != 0 {
		t.Errorf("left in the socket directory: %v", ents)
	}
}

// TestNotByHand: without the magic cookie the plugin says what it is, on
// stderr, and exits 1.
func TestNotByHand(t *testing.T) {
	py := python(t)
	cmd := exec.Command(py, script(t, "flowlog.py"))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, sdk.Handshake.MagicCookieKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q, want nothing", stdout.String())
	}
	if !strings.Contains(stderr.String(), "flowlog is an ifacetrace plugin") {
		t.Errorf("stderr: %q, want it to say it is an ifacetrace plugin", stderr.String())
	}
}

// TestInstalled: the plugin installed as ifacetrace-plugin-flowlog with its
// protos beside it (plugin.proto copied in) runs through the wrapper; stubs
// go to the cache, never beside the script, and a changed proto gets stubs
// of its own.
func TestInstalled(t *testing.T) {
	py := python(t)
	t.Setenv("IFACETRACE_PYTHON", py)
	dir := t.TempDir()
	files := map[string]string{
		"ifacetrace-plugin-flowlog": "ifacetrace-plugin-flowlog",
		"flowlog.py":                "flowlog.py",
		"health.proto":              "health.proto",
		"grpc_controller.proto":     "grpc_controller.proto",
		"plugin.proto":              "../../proto/plugin.proto",
	}
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	describe := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		info, err := host.Describe(ctx, host.Spec{Name: "flowlog", Cmd: []string{filepath.Join(dir, "ifacetrace-plugin-flowlog")}}, &ui{t: t})
		if err != nil {
			t.Fatalf("Describe through the wrapper: %v", err)
		}
		if info.GetName() != "flowlog" || info.GetVersion() != "0.1.0" {
			t.Errorf("Describe: %v", info)
		}
	}
	stubDirs := func() []string {
		ents, _ := os.ReadDir(filepath.Join(cacheDir, "ifacetrace-flowlog"))
		var names []string
		for _, e := range ents {
			if _, err := os.Stat(filepath.Join(cacheDir, "ifacetrace-flowlog", e.Name(), "plugin_pb2_grpc.py")); err == nil {
				names = append(names, e.Name())
			}
		}
		return names
	}
	describe()
	before := stubDirs()
	if len(before) == 0 {
		t.Fatalf("no stubs in %s", cacheDir)
	}
	f, err := os.OpenFile(filepath.Join(dir, "plugin.proto"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "// changed")
	f.Close()
	describe()
	if after := stubDirs(); len(after) != len(before)+1 {
		t.Errorf("stub directories %v after plugin.proto changed, before %v: want one more", after, before)
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != len(files) {
		t.Errorf("files beside the installed plugin: %q, want only the %d installed", names, len(files))
	}
}

// waitFor polls cond until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// pluginProcs returns the live flowlog.py processes whose parent is this
// process.
func pluginProcs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte("flowlog.py")) {
			continue
		}
		if st, ppid, ok := procState(pid); ok && ppid == os.Getpid() && st != 'Z' && st != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// running says whether pid is a live (not zombie) process.
func running(pid int) bool {
	st, _, ok := procState(pid)
	return ok && st != 'Z' && st != 'X'
}

func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0][0], ppid, true
}
