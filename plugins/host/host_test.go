package host_test

// These tests start real plugin processes: testdata/testplugin, built once by
// TestMain, whose behaviour the option "mode" chooses (see its doc comment).
// Tests that need a host process that can be killed re-execute this test
// binary as a helper (TestHelperHost).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

const (
	// helperEnv selects what TestHelperHost does in a helper process.
	helperEnv = "IFACETRACE_HOST_TEST_HELPER"
	// pluginEnv passes the test plugin's path to helper processes.
	pluginEnv = "IFACETRACE_HOST_TEST_PLUGIN"
)

// testPlugin is the path of the built test plugin.
var testPlugin string

func init() {
	if os.Getenv(helperEnv) != "" {
		// Keep the main thread to the main goroutine, so that the helper's
		// other goroutines run on threads Go can end (it never ends the
		// main thread).
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		testPlugin = os.Getenv(pluginEnv)
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ifacetrace-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Others may enter it: TestSafety runs the plugin as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPlugin = filepath.Join(dir, "testplugin")
	if err := buildTestPlugin(testPlugin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	// Every plugin a test started must be gone by now.
	if pids := waitNoChildren(2 * time.Second); len(pids) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: test plugin processes left running: %v\n", pids)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildTestPlugin(out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build test plugin: the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./testdata/testplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test plugin: %v\n%s", err, b)
	}
	return nil
}

// ui records what plugins say. Nothing may arrive once Close has returned.
type ui struct {
	t      testing.TB
	name   string // the plugin's name
	mu     sync.Mutex
	lines  []string
	warns  []string
	closed bool
}

func newUI(t testing.TB) *ui { return &ui{t: t, name: "testplugin"} }

func (u *ui) Line(plugin, line string) { u.add(plugin, line, &u.lines) }
func (u *ui) Warn(plugin, msg string)  { u.add(plugin, msg, &u.warns) }

func (u *ui) add(plugin, s string, to *[]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if plugin != u.name {
		u.t.Errorf("UI call for plugin %q, want %q: %q", plugin, u.name, s)
	}
	if u.closed {
		u.t.Errorf("UI call after Close returned: %q", s)
	}
	*to = append(*to, s)
}

func (u *ui) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
}

func (u *ui) snapshot() (lines, warns []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.lines...), append([]string(nil), u.warns...)
}

// pid returns the plugin's process id, which it warns about in Configure.
func (u *ui) pid(t testing.TB) int {
	t.Helper()
	_, warns := u.snapshot()
	for _, w := range warns {
		if s, ok := strings.CutPrefix(w, "pid "); ok {
			pid, err := strconv.Atoi(s)
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("the plugin did not say its pid; warnings: %q", warns)
	return 0
}

// waitFor polls cond until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func runInfo() *pb.RunInfo {
	return &pb.RunInfo{IfacetraceVersion: "test", RecordLayout: record.Layout, Snaplen: 262144}
}

func spec(opts map[string]string, args ...string) host.Spec {
	return host.Spec{Name: "testplugin", Cmd: append([]string{testPlugin}, args...), Options: opts}
}

// batch returns batch seq with n records of size bytes each.
func batch(seq uint64, n, size int) *pb.Batch {
	var recs []byte
	for i := 0; i < n; i++ {
		recs = record.Append(recs, record.Header{Iface: 1, TimeNanos: int64(seq)*1000 + int64(i), Dir: record.DirIn}, make([]byte, size))
	}
	return &pb.Batch{Seq: seq, Records: recs, RecordCount: uint32(n)}
}

func start(t *testing.T, s host.Spec, u *ui) *host.Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := host.Start(ctx, s, runInfo(), u)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p
}

// closePlugin closes p, failing the test if Close takes more than limit.
func closePlugin(t *testing.T, p *host.Plugin, u *ui, limit time.Duration) host.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	res := p.Close(ctx)
	if took := time.Since(t0); took > limit {
		t.Errorf("Close took %v, want at most %v", took, limit)
	}
	u.close()
	return res
}

// procState returns the state letter of process pid (R, S, Z …) and its
// command name, or ok=false when there is no such process.
func procState(pid int) (state byte, comm string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", 0, false
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+4 > len(s) {
		return 0, "", 0, false
	}
	fields := strings.Fields(s[close+2:])
	if len(fields) < 2 {
		return 0, "", 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0][0], s[open+1 : close], ppid, true
}

// running says whether pid is a live (not zombie) process.
func running(pid int) bool {
	st, _, _, ok := procState(pid)
	return ok && st != 'Z' && st != 'X'
}

// children returns the live test plugin processes whose parent is this
// process.
func children() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, comm, ppid, ok := procState(pid)
		if ok && ppid == os.Getpid() && comm == "testplugin" && st != 'Z' && st != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitNoChildren(d time.Duration) []int {
	var pids []int
	waitFor(d, func() bool { pids = children(); return len(pids) == 0 })
	return pids
}

func TestEcho(t *testing.T) {
	u := newUI(t)
	s := spec(map[string]string{"mode": "echo"})
	s.Queue = 32 // room for every batch: this test is not about losing them
	p := start(t, s, u)
	if p.Info.GetName() != "testplugin" || p.Info.GetLossless() {
		t.Errorf("Info = %v; want the plugin's Describe (name testplugin, not lossless)", p.Info)
	}
	pid := u.pid(t)
	if !running(pid) {
		t.Fatalf("plugin process %d is not running", pid)
	}
	const n = 20
	for seq := uint64(1); seq <= n; seq++ {
		p.Send(batch(seq, int(seq%4), 100))
	}
	res := closePlugin(t, p, u, 5*time.Second)
	if res.Err != nil {
		t.Fatalf("Result.Err = %v", res.Err)
	}
	if res.Dropped != 0 {
		t.Errorf("Dropped = %d, want 0", res.Dropped)
	}
	if got := res.Finish.GetCounters()["batches"]; got != n {
		t.Errorf("the plugin consumed %d batches, want %d", got, n)
	}
	lines, warns := u.snapshot()
	var want []string
	for seq := 1; seq <= n; seq++ {
		want = append(want, fmt.Sprintf("batch %d: %d records", seq, seq%4))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(warns) != 1 {
		t.Errorf("warnings %q; want only the plugin's Configure warning", warns)
	}
	if !waitFor(2*time.Second, func() bool { return !running(pid) }) {
		t.Errorf("plugin process %d still running after Close", pid)
	}
}

// TestCrash: a plugin that dies is cut off; its failure is reported with the
// last words it wrote to stderr, and Send never blocks on it.
func TestCrash(t *testing.T) {
	cases := []struct {
		name string
		opts map[string]string
		// lastWords must appear in the failure warning
		lastWords string
	}{
		// What a plugin author writes with fmt.Fprintln(os.Stderr, …) after
		// sdk.Serve has started (go-plugin has then swapped os.Stderr).
		{"exit/os.Stderr", map[string]string{"mode": "crash", "n": "3"}, "testplugin: giving up on batch 3"},
		// The process's own standard error, as the Go runtime, package log
		// and the SDK's logger write it.
		{"exit/fd2", map[string]string{"mode": "crash", "n": "3", "via": "fd2"}, "testplugin: giving up on batch 3"},
		// A panic: the runtime's message comes first, then the stack.
		{"panic", map[string]string{"mode": "panic", "n": "3"}, "testplugin: boom on batch 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := newUI(t)
			s := spec(c.opts, "-lossless") // lossless: Send would wait for a live plugin
			s.Queue = 4
			p := start(t, s, u)
			pid := u.pid(t)
			t0 := time.Now()
			const n = 20000
			for seq := uint64(1); seq <= n; seq++ {
				p.Send(batch(seq, 1, 64))
			}
			if took := time.Since(t0); took > 3*time.Second {
				t.Errorf("%d Sends to a plugin that crashed on the third took %v", n, took)
			}
			if !waitFor(5*time.Second, func() bool { return p.Err() != nil }) {
				t.Fatal("the plugin's failure was not noticed within 5s")
			}
			t0 = time.Now()
			var released atomic.Int64
			for seq := uint64(n + 1); seq <= 2*n; seq++ {
				p.SendThen(batch(seq, 1, 64), func() { released.Add(1) })
			}
			if took := time.Since(t0); took > time.Second {
				t.Errorf("%d Sends to a failed plugin took %v", n, took)
			}
			res := closePlugin(t, p, u, 5*time.Second)
			if r := released.Load(); r != n {
				t.Errorf("%d of %d batches to a failed plugin released", r, n)
			}
			if res.Err == nil {
				t.Fatal("Result.Err is nil for a crashed plugin")
			}
			t.Logf("Result.Err: %v", res.Err)
			if res.Finish != nil {
				t.Errorf("Result.Finish = %v for a crashed plugin, want nil", res.Finish)
			}
			_, warns := u.snapshot()
			var failure string
			for _, w := range warns {
				if strings.Contains(w, "plugin failed") {
					if failure != "" {
						t.Errorf("more than one failure warning: %q", warns)
					}
					failure = w
				}
			}
			if failure == "" {
				t.Fatalf("no failure warning; warnings: %q", warns)
			}
			if !strings.Contains(failure, res.Err.Error()) {
				t.Errorf("failure warning %q does not give Result.Err %q", failure, res.Err)
			}
			if !strings.Contains(failure, c.lastWords) {
				t.Errorf("failure warning does not quote the plugin's last words %q:\n%s\nall warnings:\n%s",
					c.lastWords, failure, strings.Join(warns, "\n"))
			}
			if running(pid) {
				t.Errorf("plugin process %d still running", pid)
			}
		})
	}
}

// TestReject: an error the plugin returns from Consume ends it, with the
// plugin's own message (not gRPC's wrapping).
func TestReject(t *testing.T) {
	u := newUI(t)
	p := start(t, spec(map[string]string{"mode": "reject", "n": "2"}), u)
	for seq := uint64(1); seq <= 5; seq++ {
		p.Send(batch(seq, 1, 10))
	}
	res := closePlugin(t, p, u, 5*time.Second)
	if res.Err == nil {
		t.Fatal("Result.Err is nil")
	}
	t.Logf("Result.Err: %v", res.Err)
	_, warns := u.snapshot()
	t.Logf("warnings: %q", warns)
	if msg := res.Err.Error(); !strings.Contains(msg, "testplugin: rejecting batch 2") || strings.Contains(msg, "rpc error") {
		t.Errorf("Result.Err = %q; want the plugin's message without gRPC's wrapping", msg)
	}
}

// TestSlow: a plugin that falls behind loses batches, counted, unless it is
// lossless; then nothing is lost and the wait is reported.
func TestSlow(t *testing.T) {
	// Big batches, so that gRPC's flow control, not its buffers, holds the
	// sender back.
	const size = 512 << 10
	mk := func(n int) []*pb.Batch {
		recs := batch(0, 1, size).Records
		var bs []*pb.Batch
		for seq := 1; seq <= n; seq++ {
			bs = append(bs, &pb.Batch{Seq: uint64(seq), Records: recs, RecordCount: 1})
		}
		return bs
	}
	t.Run("dropping", func(t *testing.T) {
		u := newUI(t)
		s := spec(map[string]string{"mode": "slow", "delay": "20ms"})
		s.Queue = 2
		p := start(t, s, u)
		const n = 60
		t0 := time.Now()
		var released atomic.Int64
		for _, b := range mk(n) {
			p.SendThen(b, func() { released.Add(1) })
		}
		if took := time.Since(t0); took > time.Second {
			t.Errorf("Send to a non-lossless plugin waited: %d batches took %v", n, took)
		}
		res := closePlugin(t, p, u, 10*time.Second)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		consumed := res.Finish.GetCounters()["batches"]
		t.Logf("consumed %d, dropped %d, stalled %v", consumed, res.Dropped, res.Stalled)
		if res.Dropped == 0 {
			t.Error("Dropped = 0; want batches lost by a plugin that falls behind")
		}
		if consumed+res.Dropped != n {
			t.Errorf("consumed %d + dropped %d != sent %d", consumed, res.Dropped, n)
		}
		if res.Stalled != 0 {
			t.Errorf("Stalled = %v for a plugin that is not lossless", res.Stalled)
		}
		if r := released.Load(); r != n {
			t.Errorf("%d of %d batches released (sent or dropped)", r, n)
		}
	})
	t.Run("lossless", func(t *testing.T) {
		u := newUI(t)
		s := spec(map[string]string{"mode": "slow", "delay": "10ms"}, "-lossless")
		s.Queue = 2
		p := start(t, s, u)
		const n = 40
		for _, b := range mk(n) {
			p.Send(b)
		}
		res := closePlugin(t, p, u, 10*time.Second)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		consumed := res.Finish.GetCounters()["batches"]
		t.Logf("consumed %d, dropped %d, stalled %v", consumed, res.Dropped, res.Stalled)
		if res.Dropped != 0 || consumed != n {
			t.Errorf("dropped %d, consumed %d; want 0 and %d", res.Dropped, consumed, n)
		}
		if res.Stalled <= 0 {
			t.Errorf("Stalled = %v; want the time Send waited for the plugin", res.Stalled)
		}
	})
}

func TestConfigureError(t *testing.T) {
	u := newUI(t)
	t0 := time.Now()
	p, err := host.Start(context.Background(), spec(map[string]string{"mode": "fail"}), runInfo(), u)
	took := time.Since(t0)
	if err == nil {
		p.Close(context.Background())
		t.Fatal("Start succeeded")
	}
	const want = "testplugin: cannot open /nonexistent/out.test: permission denied"
	if msg := err.Error(); !strings.Contains(msg, want) || !strings.HasPrefix(msg, "plugin testplugin") || strings.Contains(msg, "rpc error") {
		t.Errorf("Start error %q; want it to name the plugin and give its message %q", msg, want)
	}
	if took > 5*time.Second {
		t.Errorf("Start took %v", took)
	}
	if pids := waitNoChildren(2 * time.Second); len(pids) > 0 {
		t.Errorf("plugin processes left running after a failed Start: %v", pids)
	}
}

// TestNotAPlugin: programs that do not speak the handshake fail Start with
// an error that says what happened, promptly.
func TestNotAPlugin(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	notExec := filepath.Join(dir, "notexec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cmd  []string
		want []string // substrings of the error
	}{
		{"true", []string{"/bin/true"}, []string{"start plugin bad (/bin/true)", "Failed to read any lines from plugin's stdout"}},
		{"chatty", []string{script("chatty", "echo 'hello, I am not a plugin'")}, []string{"start plugin bad", "hello, I am not a plugin"}},
		{"chatty and hanging", []string{script("hang", "echo 'hello, I am not a plugin'; exec sleep 60")}, []string{"start plugin bad", "hello, I am not a plugin"}},
		// The most common shell script: its child keeps the script's stdout
		// and stderr open after the script itself is killed.
		{"chatty with a child", []string{script("child", "sleep 4 & echo 'hello, I am not a plugin'; wait")}, []string{"start plugin bad", "hello, I am not a plugin"}},
		{"usage on stderr", []string{script("usage", "echo 'usage: bad [-x]' >&2; exit 64")}, []string{"start plugin bad", "usage: bad [-x]"}},
		{"other protocol version", []string{script("v2", "echo '1|2|unix|/nonexistent|grpc|'; exec sleep 60")}, []string{"start plugin bad", "version"}},
		{"missing", []string{filepath.Join(dir, "nosuch")}, []string{"start plugin bad", filepath.Join(dir, "nosuch")}},
		{"not executable", []string{notExec}, []string{"start plugin bad", notExec}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := newUI(t)
			u.name = "bad"
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t0 := time.Now()
			p, err := host.Start(ctx, host.Spec{Name: "bad", Cmd: c.cmd}, runInfo(), u)
			took := time.Since(t0)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			t.Logf("%v (%v)", err, took.Round(time.Millisecond))
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if took > 3*time.Second {
				t.Errorf("Start took %v to fail", took)
			}
		})
	}
}

// TestSilentPlugin: a program that never answers the handshake is given up
// on when the caller's context ends (a user's ^C during start-up), not only
// after go-plugin's own start timeout; and it does not hold up other
// plugins starting meanwhile.
func TestSilentPlugin(t *testing.T) {
	t.Parallel()
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		err  error
		took time.Duration
	}
	silentc := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		u := newUI(t)
		u.name = "silent"
		t0 := time.Now()
		p, err := host.Start(ctx, host.Spec{Name: "silent", Cmd: []string{silent}}, runInfo(), u)
		if err == nil {
			p.Close(context.Background())
		}
		silentc <- result{err, time.Since(t0)}
	}()
	time.Sleep(200 * time.Millisecond)

	t.Run("others start meanwhile", func(t *testing.T) {
		u := newUI(t)
		t0 := time.Now()
		p := start(t, spec(map[string]string{"mode": "echo"}), u)
		took := time.Since(t0)
		closePlugin(t, p, u, 5*time.Second)
		if took > 3*time.Second {
			t.Errorf("Start of a working plugin took %v while a silent one was starting", took.Round(time.Millisecond))
		}
	})
	t.Run("start honours context", func(t *testing.T) {
		r := <-silentc
		if r.err == nil {
			t.Fatal("Start succeeded")
		}
		t.Logf("%v (%v)", r.err, r.took.Round(time.Millisecond))
		if r.took > 3*time.Second {
			t.Errorf("Start returned %v after its context ended (deadline 1s)", (r.took - time.Second).Round(time.Millisecond))
		}
	})
}

// TestCloseHonoursContext: Close gives up on a plugin that never finishes
// consuming when its context ends, rather than waiting forever.
func TestCloseHonoursContext(t *testing.T) {
	u := newUI(t)
	p := start(t, spec(map[string]string{"mode": "hang", "n": "2"}), u)
	pid := u.pid(t)
	for seq := uint64(1); seq <= 3; seq++ {
		p.Send(batch(seq, 1, 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan host.Result, 1)
	t0 := time.Now()
	go func() { done <- p.Close(ctx) }()
	select {
	case res := <-done:
		u.close()
		t.Logf("Close returned after %v: %v", time.Since(t0).Round(time.Millisecond), res.Err)
		if res.Err == nil {
			t.Error("Result.Err is nil for a plugin that never finished")
		}
	case <-time.After(3 * time.Second):
		// Unblock Close: kill the plugin this test started.
		syscall.Kill(pid, syscall.SIGKILL)
		res := <-done
		u.close()
		t.Errorf("Close(ctx with a 1s deadline) was still waiting for a hung plugin after 3s (returned once the plugin was killed: %v)", res.Err)
	}
}

// TestStdout: a plugin that writes to its stdout after the handshake does
// not disturb the protocol.
func TestStdout(t *testing.T) {
	u := newUI(t)
	p := start(t, spec(map[string]string{"mode": "stdout"}), u)
	for seq := uint64(1); seq <= 5; seq++ {
		p.Send(batch(seq, 2, 10))
	}
	res := closePlugin(t, p, u, 5*time.Second)
	if res.Err != nil {
		t.Fatalf("Result.Err = %v", res.Err)
	}
	lines, warns := u.snapshot()
	if len(lines) != 5 || lines[4] != "batch 5: 2 records" {
		t.Errorf("lines %q; want one per batch", lines)
	}
	for _, s := range append(lines, warns...) {
		if strings.Contains(s, "NOISE") {
			t.Errorf("the plugin's stdout reached the UI: %q", s)
		}
	}
}

// TestStdoutNotForwarded: what a plugin writes to its stdout does not reach
// the host's stdout (ifacetrace's output), checked in a helper process whose
// stdout the test reads.
func TestStdoutNotForwarded(t *testing.T) {
	out, errOut, err := runHelper(t, "stdout", 20*time.Second)
	if err != nil {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "helper: lines 3, err <nil>") {
		t.Errorf("helper did not run the plugin:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if strings.Contains(out, "NOISE") {
		t.Errorf("the plugin's stdout reached the host's stdout:\n%s", out)
	}
}

func runHelper(t *testing.T, mode string, limit time.Duration) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperHost$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, pluginEnv+"="+testPlugin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestLifeline: when the host process is killed (SIGKILL: no cleanup runs),
// its plugin goes with it.
func TestLifeline(t *testing.T) {
	t.Run("sdk", func(t *testing.T) { testLifeline(t, "lifeline") })
	// Without the SDK's watch on its parent, only the host's parent-death
	// signal ends the plugin.
	t.Run("raw", func(t *testing.T) { testLifeline(t, "lifeline-raw") })
}

func testLifeline(t *testing.T, mode string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHost$", "-test.count=1")
	// The killed host cannot remove its plugin's socket directory: it
	// makes it in a temporary directory of the test's, which goes.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, pluginEnv+"="+testPlugin, "TMPDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	helper := cmd.Process.Pid
	exited := false
	defer func() {
		if !exited {
			syscall.Kill(helper, syscall.SIGKILL)
			cmd.Wait()
		}
	}()

	pidc := make(chan int, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if s, ok := strings.CutPrefix(sc.Text(), "plugin pid "); ok {
				if pid, err := strconv.Atoi(s); err == nil {
					pidc <- pid
				}
			}
		}
		close(pidc)
	}()
	var pid int
	select {
	case p, ok := <-pidc:
		if !ok {
			cmd.Wait()
			exited = true
			t.Fatalf("helper ended without starting the plugin:\n%s\n%s", out.String(), stderr.String())
		}
		pid = p
	case <-time.After(15 * time.Second):
		t.Fatalf("helper did not start the plugin within 15s:\n%s", stderr.String())
	}
	st, comm, ppid, ok := procState(pid)
	if !ok || st == 'Z' || comm != "testplugin" || ppid != helper {
		t.Fatalf("process %d: state %c, command %q, parent %d; want the running test plugin, child of the helper %d", pid, st, comm, ppid, helper)
	}

	if err := syscall.Kill(helper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	exited = true
	killed := time.Now()
	if !waitFor(2*time.Second, func() bool { return !running(pid) }) {
		syscall.Kill(pid, syscall.SIGKILL) // started by this test, through its helper
		t.Fatalf("plugin %d still running 2s after its host was killed", pid)
	}
	t.Logf("plugin gone %v after its host was killed", time.Since(killed).Round(time.Millisecond))
}

// TestHelperHost is not a test: it is the host process of TestLifeline and
// TestStdoutNotForwarded, run by re-executing the test binary.
func TestHelperHost(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process of TestLifeline and TestStdoutNotForwarded")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("helper: "+format+"\n", args...)
		os.Exit(1)
	}
	u := newUI(t)
	switch mode {
	case "lifeline", "lifeline-raw":
		s := spec(map[string]string{"mode": "echo"})
		if mode == "lifeline-raw" {
			s.Cmd = append(s.Cmd, "-raw")
		}
		// Start from a goroutine whose OS thread ends right after: a
		// parent-death signal tied to that thread would kill the plugin.
		var p *host.Plugin
		var err error
		var tid int
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			tid = syscall.Gettid()
			p, err = host.Start(context.Background(), s, runInfo(), u)
			close(done)
		}()
		<-done
		if err != nil {
			fail("start: %v", err)
		}
		if tid == os.Getpid() {
			fail("host.Start ran on the main thread, which Go never ends")
		}
		// Let the thread go, and any signal arrive.
		if !waitFor(2*time.Second, func() bool {
			_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid))
			return os.IsNotExist(err)
		}) {
			fail("the thread that called host.Start (%d) did not end", tid)
		}
		time.Sleep(200 * time.Millisecond)
		p.Send(batch(1, 1, 10))
		if !waitFor(5*time.Second, func() bool { l, _ := u.snapshot(); return len(l) == 1 }) {
			fail("the plugin did not answer after its starting thread ended")
		}
		fmt.Printf("plugin pid %d\n", u.pid(t))
		time.Sleep(time.Minute) // killed by the test
		fail("not killed")
	case "stdout":
		p, err := host.Start(context.Background(), spec(map[string]string{"mode": "stdout"}), runInfo(), u)
		if err != nil {
			fail("start: %v", err)
		}
		for seq := uint64(1); seq <= 3; seq++ {
			p.Send(batch(seq, 1, 10))
		}
		res := p.Close(context.Background())
		lines, _ := u.snapshot()
		fmt.Printf("helper: lines %d, err %v\n", len(lines), res.Err)
	default:
		fail("unknown mode %q", mode)
	}
}

// TestSafety: running as root, a plugin binary others can replace is
// refused, and so is one whose digest is not the pinned one; a plugin runs
// as the Credential given (the sudo user), its socket in a directory of its
// own.
func TestSafety(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (CI=true: not skipping)")
		}
		t.Skip("needs root: run `sudo go test`")
	}
	dir := t.TempDir()
	copyPlugin := func(name string, mode os.FileMode) string {
		b, err := os.ReadFile(testPlugin)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	u := newUI(t)
	for _, tc := range []struct {
		name string
		s    host.Spec
		want string
	}{
		{"world-writable", host.Spec{Name: "w", Cmd: []string{copyPlugin("w", 0o777)}}, "writable by others"},
		{"wrong pin", host.Spec{Name: "p", Cmd: []string{testPlugin}, SHA256: strings.Repeat("0", 64)}, "not the pinned"},
	} {
		if _, err := host.Start(context.Background(), tc.s, runInfo(), u); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	b, _ := os.ReadFile(testPlugin)
	sum := sha256.Sum256(b)
	s := spec(nil)
	s.SHA256 = hex.EncodeToString(sum[:])
	s.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	p := start(t, s, u)
	pid := u.pid(t)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+65534\s`).Match(status) {
		t.Errorf("plugin does not run as uid 65534:\n%s", status)
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	var sockDir string
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "PLUGIN_UNIX_SOCKET_DIR="); ok {
			sockDir = v
		}
	}
	fi, err := os.Stat(sockDir)
	if err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("socket directory %q: %v %v, want mode 0700 owned by 65534", sockDir, fi, err)
	}
	closePlugin(t, p, u, 10*time.Second)
	if _, err := os.Stat(sockDir); err == nil {
		t.Errorf("socket directory %s left behind", sockDir)
	}
}

// TestCredits: with credit flow control the host sends a slow plugin no
// more batches than it granted, so the capture feels its pace at once (the
// wait is counted); without it, gRPC's buffers absorb small batches first.
func TestCredits(t *testing.T) {
	stall := func(args ...string) time.Duration {
		u := newUI(t)
		s := host.Spec{Name: "testplugin", Cmd: append([]string{testPlugin, "-lossless"}, args...),
			Options: map[string]string{"mode": "slow", "delay": "30ms"}, Queue: 1}
		p := start(t, s, u)
		for i := 1; i <= 10; i++ {
			p.Send(batch(uint64(i), 1, 10))
		}
		res := closePlugin(t, p, u, 10*time.Second)
		if res.Err != nil || res.Finish.GetCounters()["batches"] != 10 {
			t.Fatalf("%v: err %v, finish %v", args, res.Err, res.Finish)
		}
		return res.Stalled
	}
	if d := stall("-credits", "1"); d < 150*time.Millisecond {
		t.Errorf("with 1 credit, 10 batches of 30ms each: the capture waited %v, want ≥ 150ms", d)
	}
	if d := stall(); d > 100*time.Millisecond {
		t.Errorf("without credits: the capture waited %v, want next to nothing", d)
	}
}
