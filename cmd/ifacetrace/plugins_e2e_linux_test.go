//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
