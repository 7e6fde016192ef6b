package lab

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/internal/testtool"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// InCI reports whether the tests run under CI (CI=true), where missing
// privileges or tools are failures, not skips.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips (or, in CI, fails) t unless it runs as root with the named
// commands on PATH ("ip" is always required).
func Require(t testing.TB, cmds ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW) to build network namespaces: run `sudo make test`")
	}
	for _, c := range append([]string{"ip"}, cmds...) {
		if _, err := exec.LookPath(c); err != nil {
			skipOrFail(t, "needs "+c+" on PATH: apt-get install "+testtool.Package(c))
		}
	}
}

// RequireTool skips (or, in CI, fails) t unless cmd is on PATH.
func RequireTool(t testing.TB, cmd string) {
	t.Helper()
	testtool.Need(t, cmd)
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg + " (CI=true: not skipping)")
	}
	t.Skip(msg)
}

// Lab is a set of namespaces owned by one test.
type Lab struct {
	t      testing.TB
	prefix string
	names  map[string]string // role → namespace name
}

// New returns an empty lab whose namespaces are removed when t ends.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	var b [3]byte
	rand.Read(b[:])
	l := &Lab{t: t, prefix: "ift" + hex.EncodeToString(b[:]) + "-", names: map[string]string{}}
	t.Cleanup(l.destroy)
	return l
}

// AddNS creates a namespace for role and returns its name. lo is brought up.
func (l *Lab) AddNS(role string) string {
	l.t.Helper()
	name := l.prefix + role
	l.IP("netns", "add", name)
	l.names[role] = name
	l.IP("-n", name, "link", "set", "lo", "up")
	return name
}

// DelNS removes role's namespace now, as a container runtime would.
func (l *Lab) DelNS(role string) {
	l.t.Helper()
	l.IP("netns", "del", l.NS(role))
	delete(l.names, role)
}

// NS returns the namespace name of role.
func (l *Lab) NS(role string) string {
	n, ok := l.names[role]
	if !ok {
		l.t.Fatalf("lab: no namespace %q", role)
	}
	return n
}

// Path returns the namespace file of role, for netns.Do.
func (l *Lab) Path(role string) string { return filepath.Join("/run/netns", l.NS(role)) }

// IP runs `ip ARGS…` and fails the test if it fails.
func (l *Lab) IP(args ...string) string {
	l.t.Helper()
	return l.run("ip", args...)
}

// Exec runs cmd inside role's namespace (ip netns exec) and fails the test if
// it fails. It returns the combined output.
func (l *Lab) Exec(role string, cmd ...string) string {
	l.t.Helper()
	return l.run("ip", append([]string{"netns", "exec", l.NS(role)}, cmd...)...)
}

// Command returns an unstarted command that runs inside role's namespace.
func (l *Lab) Command(role string, cmd ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS(role)}, cmd...)...)
}

func (l *Lab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("lab: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Veth creates a veth pair with one end aName in role a and the other bName
// in role b, both up.
func (l *Lab) Veth(a, aName, b, bName string) {
	l.t.Helper()
	l.IP("-n", l.NS(a), "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", l.NS(b))
	l.IP("-n", l.NS(a), "link", "set", aName, "up")
	l.IP("-n", l.NS(b), "link", "set", bName, "up")
}

// Addr assigns addr (CIDR) to dev in role; IPv6 addresses skip DAD so they
// are usable at once.
func (l *Lab) Addr(role, dev, addr string) {
	l.t.Helper()
	args := []string{"-n", l.NS(role), "addr", "add", addr, "dev", dev}
	if strings.Contains(addr, ":") {
		args = append(args, "nodad")
	}
	l.IP(args...)
}

// Sysctl sets a sysctl inside role's namespace.
func (l *Lab) Sysctl(role, key, value string) {
	l.t.Helper()
	l.Exec(role, "sysctl", "-qw", key+"="+value)
}

func (l *Lab) destroy() {
	for _, n := range l.names {
		if out, err := exec.Command("ip", "netns", "del", n).CombinedOutput(); err != nil {
			l.t.Logf("lab: remove namespace %s: %v %s", n, err, out)
		}
	}
}

// SendUDP sends one datagram per payload from role's namespace to dst:port,
// gap apart. The socket is unconnected, so port-unreachable answers do not
// fail later writes.
func (l *Lab) SendUDP(role, dst string, port int, gap time.Duration, payloads ...[]byte) {
	l.t.Helper()
	err := netns.Do(l.Path(role), func() error {
		network := "udp4"
		if strings.Contains(dst, ":") {
			network = "udp6"
		}
		c, err := net.ListenPacket(network, ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.UDPAddr{IP: net.ParseIP(dst), Port: port}
		for i, p := range payloads {
			if i > 0 && gap > 0 {
				time.Sleep(gap)
			}
			if _, err := c.WriteTo(p, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("lab: send UDP from %s to %s: %v", role, dst, err)
	}
}
