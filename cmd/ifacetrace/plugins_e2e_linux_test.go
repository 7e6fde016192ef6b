//go:build linux

package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// buildTestPlugin builds plugins/host/testdata/testplugin as
// DIR/ifacetrace-plugin-NAME.
func buildTestPlugin(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, pluginPrefix+name)
	if b, err := exec.Command("go", "build", "-o", out, "../../plugins/host/testdata/testplugin").CombinedOutput(); err != nil {
		t.Fatalf("build test plugin: %v\n%s", err, b)
	}
	return out
}

// TestPluginDiscovery: --plugin NAME finds ifacetrace-plugin-NAME on
// IFACETRACE_PLUGIN_PATH and passes it its options; `plugins list` shows it
// beside the built-ins; a plugin others may replace is refused (ifacetrace
// runs as root here); a pinned digest that does not match is refused.
func TestPluginDiscovery(t *testing.T) {
	needE2E(t)
	l := lab.NewPair(t)
	dir, err := os.MkdirTemp("", "ifacetrace-plugins-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	buildTestPlugin(t, dir, "probe")
	env := append(os.Environ(), "IFACETRACE_PLUGIN_PATH="+dir)

	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		cmd := l.Command("a", append([]string{ifacetraceBin}, args...)...)
		cmd.Env = env
		p := startProc(t, "ifacetrace "+strings.Join(args, " "), cmd, nil)
		code := p.wait(t, 20*time.Second)
		return code, p.stdout.String(), p.stderr.String()
	}

	code, out, errs := run(t, "plugins", "list")
	if code != 0 {
		t.Fatalf("plugins list: exit %d\n%s", code, errs)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^pcapng\s+\S+\s+packets,bytes,traces,stats\s+\(built in\)$`),
		regexp.MustCompile(`(?m)^json\s+\S+\s+traces,flows,stats\s+\(built in\)$`),
		regexp.MustCompile(`(?m)^probe\s+0\.0\.1\s+packets,bytes,stats\s+` + regexp.QuoteMeta(filepath.Join(dir, "ifacetrace-plugin-probe")) + `$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("plugins list lacks %s:\n%s", want, out)
		}
	}

	// plugins test: the probe keeps the contract; a plugin that fails in
	// Configure does not.
	code, out, errs = run(t, "plugins", "test", "probe")
	if code != 0 || strings.Count(out, "ok    ") != 4 {
		t.Errorf("plugins test probe: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, "plugins", "test", "probe:mode=fail")
	if code == 0 || !strings.Contains(out, "FAIL  start") {
		t.Errorf("plugins test of a plugin failing Configure: exit %d\n%s", code, out)
	}

	// The probe (host's test plugin) prints "batch SEQ: N records" per batch.
	go l.SendUDP("a", lab.PairB, 9, 100*time.Millisecond, []byte("1"), []byte("2"), []byte("3"))
	code, out, errs = run(t, "--plugin", "probe:mode=echo", "--duration", "2s")
	if code != 0 || !regexp.MustCompile(`(?m)^batch \d+: \d+ records$`).MatchString(out) {
		t.Errorf("--plugin probe: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	code, _, errs = run(t, "--plugin", "nosuch", "-c", "1")
	if code != 2 || !strings.Contains(errs, "ifacetrace-plugin-nosuch") || !strings.Contains(errs, dir) {
		t.Errorf("--plugin nosuch: exit %d, want 2 and the search path:\n%s", code, errs)
	}
	code, _, errs = run(t, "--plugin", "probe:sha256="+strings.Repeat("ab", 32), "-c", "1")
	if code == 0 || !strings.Contains(errs, "not the pinned") {
		t.Errorf("wrong pin: exit %d:\n%s", code, errs)
	}
	os.Chmod(filepath.Join(dir, "ifacetrace-plugin-probe"), 0o777)
	code, _, errs = run(t, "--plugin", "probe", "-c", "1")
	if code == 0 || !strings.Contains(errs, "writable by others") {
		t.Errorf("world-writable plugin: exit %d:\n%s", code, errs)
	}
}

// TestPluginsAsSudoUser: under sudo (SUDO_UID/SUDO_GID), plugins run as the
// invoking user, so the file the pcapng plugin writes is that user's, while
// the capture itself keeps its privileges.
func TestPluginsAsSudoUser(t *testing.T) {
	needE2E(t)
	l := lab.NewPair(t)
	dir, err := os.MkdirTemp("", "ifacetrace-sudo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	out := filepath.Join(dir, "x.pcapng")
	cmd := l.Command("a", ifacetraceBin, "-o", out, "--duration", "1s")
	cmd.Env = append(os.Environ(), "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_USER=nobody")
	p := startProc(t, "ifacetrace under sudo", cmd, nil)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("%s belongs to %d:%d, want the sudo user 65534:65534", out, st.Uid, st.Gid)
	}
	capinfos(t, out)
}

// TestPluginKilledMidCapture: a plugin killed (SIGKILL) in the middle of a
// capture does not take the capture or the other outputs down: the pcapng
// file is complete and valid, holding frames from after the kill; the user
// is told which plugin died; the exit status is 4.
func TestPluginKilledMidCapture(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewPair(t)
	dir, err := os.MkdirTemp("", "ifacetrace-kill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	probe := buildTestPlugin(t, dir, "probe")
	out := filepath.Join(dir, "x.pcapng")
	it := ifacetrace(t, l, "a", "-o", out, "--plugin", probe)

	// The probe is a child of ifacetrace.
	var pid int
	for _, c := range childrenOf(it.cmd.Process.Pid) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(comm)) == "ifacetrace-plug" {
			pid = c
		}
	}
	if pid == 0 {
		t.Fatalf("no ifacetrace-plugin-probe process under ifacetrace (pid %d)", it.cmd.Process.Pid)
	}
	l.SendUDP("a", lab.PairB, 9, 10*time.Millisecond, []byte("before 1"), []byte("before 2"))
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	l.SendUDP("a", lab.PairB, 9, 10*time.Millisecond, []byte("after 1"), []byte("after 2"))
	time.Sleep(200 * time.Millisecond)
	code := it.interrupt(t)
	if code != 4 {
		t.Errorf("exit %d, want 4 (a plugin failed)\n%s", code, it.stderr.String())
	}
	if !strings.Contains(it.stderr.String(), "probe") {
		t.Errorf("stderr does not name the plugin that died:\n%s", it.stderr.String())
	}
	capinfos(t, out)
	var payloads []string
	for _, r := range fields(t, out, "udp.dstport == 9", "data.data") {
		payloads = append(payloads, r[0])
	}
	after := hex.EncodeToString([]byte("after 2"))
	if !slices.Contains(payloads, after) {
		t.Errorf("the pcapng lacks the datagram sent after the plugin died; payloads %v", payloads)
	}
}

// childrenOf lists the processes whose parent is pid, and theirs (ip netns
// exec may sit in between).
func childrenOf(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, _, ppid, ok := procStat(c); ok && ppid == pid {
			out = append(out, c)
			out = append(out, childrenOf(c)...)
		}
	}
	return out
}

func procStat(pid int) (state byte, comm string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 > len(s) {
		return 0, "", 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], s[strings.IndexByte(s, '(')+1 : i], ppid, err == nil
}
