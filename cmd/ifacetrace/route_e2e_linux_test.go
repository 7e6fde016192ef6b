//go:build linux

package main

import (
	stdjson "encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// routeGet runs `ifacetrace route get ARGS --netns NS` (text and --json)
// and returns the text and the decoded JSON.
func routeGet(t *testing.T, ns string, args ...string) (string, map[string]any) {
	t.Helper()
	full := append([]string{ifacetraceBin, "route", "get"}, args...)
	full = append(full, "--netns", ns)
	p := startProc(t, "ifacetrace route get", exec.Command(full[0], full[1:]...), nil)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("%s: exit %d\n%s", strings.Join(full, " "), code, p.stderr.String())
	}
	text := p.stdout.String()
	p = startProc(t, "ifacetrace route get --json", exec.Command(full[0], append(full[1:], "--json")...), nil)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, p.stderr.String())
	}
	var obj map[string]any
	if err := stdjson.Unmarshal([]byte(p.stdout.String()), &obj); err != nil {
		t.Fatalf("--json: %v\n%s", err, p.stdout.String())
	}
	return text, obj
}

func wantAll(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestRouteBridgeOwnAddress is the puzzle a packet to docker0's own address
// poses: it is delivered over lo, not the bridge, because a local route in
// table local wins. True with the bridge up without ports (no carrier,
// "state DOWN" in ip link), with a port, and administratively down; the
// kernel agrees each time.
func TestRouteBridgeOwnAddress(t *testing.T) {
	needE2E(t)
	l := lab.New(t)
	ns := l.AddNS("docker")
	l.AddNS("ctr")
	l.IP("-n", ns, "link", "add", "docker0", "type", "bridge")
	l.Addr("docker", "docker0", "10.200.17.1/16")
	l.IP("-n", ns, "link", "set", "docker0", "up")

	check := func(state string, wants ...string) {
		t.Helper()
		text, obj := routeGet(t, ns, "10.200.17.1")
		wantAll(t, state+": route get", text, append(wants,
			"decision: local 10.200.17.1/32 dev lo table local",
			"10.200.17.1 is an address of docker0: the local route in table local delivers it over lo, not over docker0",
			"— agrees")...)
		if obj["type"] != "local" || obj["dev"] != "lo" || obj["table"] != float64(255) || obj["rule"] != float64(0) || obj["agrees"] != true {
			t.Errorf("%s: --json: %v", state, obj)
		}
		if k, _ := obj["kernel"].(map[string]any); k["type"] != "local" || k["dev"] != "lo" {
			t.Errorf("%s: kernel: %v", state, obj["kernel"])
		}
	}
	competitor := []string{"10.200.0.0/16 dev docker0", "table main not consulted: rule 0 decided first"}
	check("no ports", competitor...)
	l.Veth("docker", "veth1", "ctr", "eth0")
	l.IP("-n", ns, "link", "set", "veth1", "master", "docker0")
	check("with a port", competitor...)

	// From a container: the packet arrives on the bridge and is delivered
	// locally, again over lo.
	l.Addr("ctr", "eth0", "10.200.17.2/16")
	text, obj := routeGet(t, ns, "10.200.17.1", "--from", "10.200.17.2", "--iif", "docker0")
	wantAll(t, "input", text, "decision: local 10.200.17.1/32 dev lo table local", "— agrees")
	if obj["type"] != "local" || obj["agrees"] != true {
		t.Errorf("input --json: %v", obj)
	}

	// Admin down too: IPv4 keeps the local route of a down device's
	// address, so the answer stays local over lo.
	l.IP("-n", ns, "link", "set", "docker0", "down")
	check("bridge down")
}

// TestRouteFreshNamespace: in a namespace whose lo is down and which has
// nothing else, route get and interfaces both say nothing can be sent or
// received, and how to fix it.
func TestRouteFreshNamespace(t *testing.T) {
	needE2E(t)
	l := lab.New(t)
	ns := l.AddNS("fresh")
	l.IP("-n", ns, "link", "set", "lo", "down")
	l.IP("-n", ns, "addr", "flush", "dev", "lo") // as a new namespace: lo without 127.0.0.1
	text, obj := routeGet(t, ns, "127.0.0.1")
	wantAll(t, "route get", text,
		"decision: no-route (network is unreachable)",
		"no interface is up (lo is down), so nothing can be sent or received in this namespace: run `ip link set lo up`",
		"kernel: error: network is unreachable — agrees")
	if obj["type"] != "no-route" || obj["dev"] != "" || obj["agrees"] != true {
		t.Errorf("--json: %v", obj)
	}
	p := startProc(t, "ifacetrace interfaces", exec.Command(ifacetraceBin, "interfaces", "--netns", ns), nil)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("interfaces: exit %d\n%s", code, p.stderr.String())
	}
	wantAll(t, "interfaces", p.stderr.String(), "lo is down and no interface is up, so nothing can be sent or received", "ip link set lo up")

	// Once lo is up, 127.0.0.1 is local again.
	l.IP("-n", ns, "link", "set", "lo", "up")
	text, obj = routeGet(t, ns, "127.0.0.1")
	if obj["type"] != "local" || obj["agrees"] != true || strings.Contains(text, "lo is down") {
		t.Errorf("lo up:\n%s", text)
	}
}

// TestRouteForwarded: in the NAT lab, the container's packet arriving on
// br0 is routed to up0 (the uplink), as the kernel says; an fwmark rule to
// a table with a blackhole is followed, and its rule named.
func TestRouteForwarded(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	host := l.NS(lab.Host)
	text, obj := routeGet(t, host, lab.OutsideIP, "--from", lab.ContainerIP, "--iif", "br0", "--proto", "udp", "--dport", "53")
	wantAll(t, "forwarded", text, "decision: unicast 10.200.2.0/24 dev up0 table main", "32766: from all lookup main", "— agrees")
	if obj["type"] != "unicast" || obj["dev"] != "up0" || obj["gateway"] != "" || obj["rule"] != float64(32766) || obj["agrees"] != true {
		t.Errorf("--json: %v", obj)
	}
	l.IP("-n", host, "route", "add", "blackhole", "10.200.2.0/24", "table", "100")
	l.IP("-n", host, "rule", "add", "fwmark", "0x7", "lookup", "100", "priority", "100")
	text, obj = routeGet(t, host, lab.OutsideIP, "--from", lab.ContainerIP, "--iif", "br0", "--mark", "0x7")
	wantAll(t, "marked", text, "100: from all fwmark 0x7 lookup 100", "decision: blackhole 10.200.2.0/24 table 100", "— agrees")
	if obj["type"] != "blackhole" || obj["rule"] != float64(100) || obj["table"] != float64(100) || obj["agrees"] != true {
		t.Errorf("marked --json: %v", obj)
	}
	// IPv6 output from the container.
	text, obj = routeGet(t, l.NS(lab.Container), lab.OutsideIP6)
	if obj["type"] != "unicast" || obj["dev"] != "eth0" || obj["gateway"] != lab.BridgeIP6 || obj["agrees"] != true {
		t.Errorf("IPv6:\n%s", text)
	}
}

// TestRoutePlugin runs the route plugin on a live capture of the NAT lab:
// the container's pings are explained namespace by namespace (the host's
// br0 → up0 decision by name), UDP that the host's firewall drops is
// "allowed by routing, dropped elsewhere", UDP to an address the host
// blackholes is explained by its blackhole route, and a prohibit route
// added during the capture explains the packets sent after it.
func TestRoutePlugin(t *testing.T) {
	needE2E(t, "iptables")
	l := lab.NewNAT(t)
	host := l.NS(lab.Host)
	l.IP("-n", host, "route", "add", "blackhole", "10.200.3.0/24")
	l.Exec(lab.Host, "iptables", "-A", "FORWARD", "-p", "udp", "--dport", "5999", "-j", "DROP")
	warmARP(t, l)
	out := filepath.Join(t.TempDir(), "routes.txt")
	// The filter: not the lab's IPv6 neighbour discovery.
	it := captureNAT(t, l, "--plugin", "route:path="+out, "--flow-timeout", "1h", "icmp or udp")
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 3, "0.05")
	l.SendUDP(lab.Container, lab.OutsideIP, 5999, 10*time.Millisecond, []byte("a"), []byte("b"))
	l.SendUDP(lab.Container, "10.200.3.7", 6000, 10*time.Millisecond, []byte("c"))
	// A route added while capturing reaches the plugin in a new snapshot.
	l.IP("-n", host, "route", "add", "prohibit", "10.200.4.0/24")
	time.Sleep(500 * time.Millisecond)
	l.SendUDP(lab.Container, "10.200.4.7", 6001, 10*time.Millisecond, []byte("d"))
	time.Sleep(300 * time.Millisecond)
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\n%s", code, it.stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	c := l.NS(lab.Container)
	wantAll(t, "route plugin", text,
		" icmp 10.200.1.2 → 10.200.2.2 (3 packets →, 3 ←)",
		"  → "+c+": sent via eth0: unicast default via 10.200.1.1 dev eth0 table main",
		"  → "+host+": in br0, routed to up0: unicast 10.200.2.0/24 dev up0 table main (rule 32766 from all lookup main); observed up0 ✓ (3)",
		"  ← "+host+": in up0, routed to br0: unicast 10.200.1.0/24 dev br0 table main (rule 32766 from all lookup main); observed br0 ✓ (3)",
		"  ← "+c+": in eth0: local 10.200.1.2/32 dev lo table local (rule 0 from all lookup local): delivered locally (3)",
		"  → "+host+": in br0: 2 packets never left: routing allows it (unicast 10.200.2.0/24 dev up0 table main): dropped elsewhere, e.g. by netfilter",
		"  → "+host+": in br0: 1 packet never left: blackhole route 10.200.3.0/24 in table main",
		"  → "+host+": in br0: 1 packet never left: prohibit route 10.200.4.0/24 in table main",
	)
	if strings.Contains(text, "MISMATCH") || strings.Contains(text, "no routing snapshot") {
		t.Errorf("unexpected:\n%s", text)
	}
}

// TestRoutingLetsGoOfVanishedNamespaces: with --netns all and a topology
// plugin, ifacetrace follows each namespace's routing over netlink; when a
// container's namespace goes away those sockets must not keep it (and its
// veth pair) alive.
func TestRoutingLetsGoOfVanishedNamespaces(t *testing.T) {
	needE2E(t)
	l := lab.New(t)
	l.AddNS("host")
	l.AddNS("ctr")
	l.Veth("host", "vgone", "ctr", "eth0")
	out := filepath.Join(t.TempDir(), "routes.txt")
	it := ifacetrace(t, l, "host", "--netns", "all", "--plugin", "route:path="+out, "icmp")
	// A packet in the namespace announces its devices, so its routing is
	// followed.
	ping(t, l, "ctr", "127.0.0.1", 1, "0.2")
	time.Sleep(500 * time.Millisecond)
	l.DelNS("ctr")
	deadline := time.Now().Add(8 * time.Second)
	for {
		err := exec.Command("ip", "-n", l.NS("host"), "link", "show", "vgone").Run()
		if err != nil {
			break // the peer went with its namespace
		}
		if time.Now().After(deadline) {
			t.Fatalf("vgone still exists 8s after its peer's namespace was deleted: something holds the namespace\n%s", it.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\n%s", code, it.stderr.String())
	}
}
