//go:build linux

package vanish_test

// The plugin as ifacetrace runs it: both binaries built from this module,
// the contract checked with `ifacetrace plugins test`, and a real drop in a
// lab's host namespace reported by a real capture.
//
// Privilege: the lab test needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN,
// CAP_NET_RAW) and ip, iptables, sysctl and ping; without them it skips,
// except under CI=true, where it fails (lab.Require). Its traffic stays
// between the lab's namespaces and is bounded (three pings).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/plugins/examples/vanish"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

var (
	buildOnce sync.Once
	binDir    string // holds ifacetrace and ifacetrace-plugin-vanish
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds ifacetrace and the plugin, once per test run, into a
// directory of their own: owned by the user running the tests and writable
// by no one else, as ifacetrace wants a plugin's directory to be when it
// runs as root.
func binaries(t *testing.T) (ifacetrace, plugin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds ifacetrace and the plugin: not with -short")
	}
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if binDir, buildErr = os.MkdirTemp("", "vanish-test-"); buildErr != nil {
			return
		}
		for _, b := range []struct{ name, pkg string }{
			{"ifacetrace", "./cmd/ifacetrace"},
			{"ifacetrace-plugin-vanish", "./plugins/examples/vanish/cmd/ifacetrace-plugin-vanish"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.name), b.pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "ifacetrace"), filepath.Join(binDir, "ifacetrace-plugin-vanish")
}

// environ is the test's environment without sudo's variables: under
// `sudo go test` ifacetrace would run the plugin as the sudo user, who can
// enter neither the binaries' directory nor the test's.
func environ() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SUDO_UID=") || strings.HasPrefix(kv, "SUDO_GID=") || strings.HasPrefix(kv, "SUDO_USER=")
	})
}

// TestContract: the plugin binary passes `ifacetrace plugins test`, which
// starts it as ifacetrace would and sends it a synthetic run.
func TestContract(t *testing.T) {
	it, pl := binaries(t)
	cmd := exec.Command(it, "plugins", "test", pl+":path="+filepath.Join(t.TempDir(), "v.jsonl"))
	cmd.Env = environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ifacetrace plugins test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Describe: vanish 0.1.0") {
		t.Errorf("plugins test did not see vanish 0.1.0:\n%s", out)
	}
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

// proc is a started process, killed when the test ends if still running.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // of Wait, once done is closed
}

func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.Env = environ()
	cmd.WaitDelay = 2 * time.Second // a child keeping the pipes open must not hang Wait
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Args, err)
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

// wait waits up to timeout for p and returns its exit code; on timeout it
// kills p and fails the test.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not end within %s; killed it\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, timeout, p.stdout.String(), p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v\nstderr:\n%s", p.cmd.Args, p.err, p.stderr.String())
	return -1
}

// TestDropInHostNamespace: the lab's host forwards the container's pings
// to the outside, but its firewall drops them. Each echo request is one
// alert naming the host namespace and the path into it; nothing vanishes
// anywhere else, and pings the host answers itself or forwards are not
// alerts.
func TestDropInHostNamespace(t *testing.T) {
	lab.Require(t, "iptables", "sysctl", "ping")
	it, pl := binaries(t)
	l := lab.NewNAT(t)
	ping := func(count int, dst string) int {
		t.Helper()
		p := startProc(t, l.Command(lab.Container, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", dst))
		return p.wait(t, 15*time.Second)
	}
	if code := ping(1, lab.OutsideIP); code != 0 { // the path works, and ARP is resolved
		t.Fatalf("ping through the lab before the drop rule: exit %d", code)
	}
	l.Exec(lab.Host, "iptables", "-A", "FORWARD", "-p", "icmp", "-d", lab.OutsideIP, "-j", "DROP")

	dir := t.TempDir()
	ready, file := filepath.Join(dir, "ready"), filepath.Join(dir, "vanish.jsonl")
	tracer := startProc(t, l.Command(lab.Host, it, "--ready-file", ready, "--plugin", pl+":path="+file,
		"--netns", l.NS(lab.Container), "--netns", l.NS(lab.Host), "--netns", l.NS(lab.Outside)))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case <-tracer.done:
			t.Fatalf("ifacetrace ended before it was ready (exit %d)\nstderr:\n%s", tracer.wait(t, 0), tracer.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ifacetrace: no ready file after 10s\nstderr:\n%s", tracer.stderr.String())
		}
	}
	if code := ping(3, lab.OutsideIP); code != 1 { // 1: no reply, as the rule wants
		t.Fatalf("ping through the drop rule: exit %d, want 1 (no reply)", code)
	}
	// Not vanished: delivered to the host, at the bridge's address and at
	// another device's (up0), and IPv6 forwarded to the outside.
	for _, dst := range []string{lab.BridgeIP, lab.UplinkIP} {
		if code := ping(2, dst); code != 0 {
			t.Fatalf("ping %s: exit %d", dst, code)
		}
	}
	ping(2, lab.OutsideIP6) // answered only where ip6tables masquerades
	// Past the correlation window: the last traces close.
	time.Sleep(500 * time.Millisecond)
	if err := tracer.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := tracer.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("ifacetrace: exit %d\nstdout:\n%s\nstderr:\n%s", code, tracer.stdout.String(), tracer.stderr.String())
	}
	t.Logf("ifacetrace's stdout:\n%s\nstderr:\n%s", tracer.stdout.String(), tracer.stderr.String())

	// ifacetrace runs in the host namespace: its devices are named without
	// a NETNS/ prefix, and the namespace by its name in /run/netns.
	host, container := l.NS(lab.Host), l.NS(lab.Container)
	want := fmt.Sprintf(" entered %s (%s/eth0 out → veth-c in → br0 in) and never left: ", host, container)
	var alerts []string
	for _, line := range strings.Split(tracer.stdout.String(), "\n") {
		if strings.HasPrefix(line, "vanish: ") {
			alerts = append(alerts, line)
		}
	}
	if len(alerts) != 3 {
		t.Errorf("%d vanish lines; want 3, one per echo request:\n%s", len(alerts), strings.Join(alerts, "\n"))
	}
	for _, a := range alerts {
		if !strings.HasPrefix(a, "vanish: ICMP echo request "+lab.ContainerIP+" > "+lab.OutsideIP+" ") || !strings.Contains(a, want) {
			t.Errorf("alert %q; want an echo request %s > %s that%s…", a, lab.ContainerIP, lab.OutsideIP, want)
		}
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []vanish.Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a vanish.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, sc.Bytes())
		}
		got = append(got, a)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("%s: %d alerts; want 3", file, len(got))
	}
	for _, a := range got {
		if a.Netns != host || a.Device != "br0" || a.Proto != "icmp" || a.Src != lab.ContainerIP || a.Dst != lab.OutsideIP || a.Count == 0 {
			t.Errorf("%s: alert %+v; want an ICMP packet %s → %s gone at br0 in %s", file, a, lab.ContainerIP, lab.OutsideIP, host)
		}
	}
	if !strings.Contains(tracer.stderr.String(), file) {
		t.Errorf("ifacetrace's summary does not name %s:\n%s", file, tracer.stderr.String())
	}
}
