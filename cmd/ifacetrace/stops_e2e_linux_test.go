//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestWhereItStopped: datagrams the host's firewall drops in FORWARD are
// reported as stopped after br0 in with up0 out expected next (the device
// `ip route get … iif br0` names, the kernel being the judge); datagrams to
// an address the host has no route for as stopped with the kernel's
// reason; pings that went through as not stopped, with the transit time of
// each pair of hops in their flow and in the summary.
func TestWhereItStopped(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	l.Exec(lab.Host, "iptables", "-A", "FORWARD", "-p", "udp", "--dport", "9997", "-j", "DROP")
	warmARP(t, l)
	// The kernel's own answer for the dropped datagrams.
	if got := l.Exec(lab.Host, "ip", "route", "get", lab.OutsideIP, "from", lab.ContainerIP, "iif", "br0"); !strings.Contains(got, "dev up0") {
		t.Fatalf("ip route get: %s; the lab should forward to up0", got)
	}
	dir := t.TempDir()
	js := filepath.Join(dir, "x.jsonl")
	it := captureNAT(t, l, "-o", js)
	payloads := make([][]byte, 5)
	for i := range payloads {
		payloads[i] = []byte(udpPayload(i))
	}
	l.SendUDP(lab.Container, lab.OutsideIP, 9997, 10*time.Millisecond, payloads...)
	l.SendUDP(lab.Container, "10.200.99.9", 9996, 10*time.Millisecond, payloads[:3]...)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 5, "0.05")
	time.Sleep(200 * time.Millisecond)
	it.finish(t)

	traces, flows := readJSONL(t, js)
	const dropped = "stopped after br0 in; expected next: up0 out"
	const noRoute = "stopped after br0 in; the kernel has no route: network unreachable"
	n := map[string]int{}
	for _, tr := range traces {
		h := tr.Hops[0]
		switch {
		case h.Proto == "udp" && h.Dport == 9997:
			n["dropped"]++
			if tr.Stopped != dropped {
				t.Errorf("dropped datagram, trace %d (%s): stopped %q, want %q", tr.ID, tr.Path, tr.Stopped, dropped)
			}
		case h.Proto == "udp" && h.Dport == 9996:
			n["no route"]++
			if !strings.HasPrefix(tr.Stopped, noRoute) {
				t.Errorf("unroutable datagram, trace %d (%s): stopped %q, want %q…", tr.ID, tr.Path, tr.Stopped, noRoute)
			}
		case h.Proto == "icmp" && strings.HasPrefix(tr.Summary, "ICMP echo"):
			n["ping"]++
			if tr.Stopped != "" {
				t.Errorf("ping trace %d (%s): stopped %q, want none", tr.ID, tr.Path, tr.Stopped)
			}
		}
	}
	if n["dropped"] != 5 || n["no route"] != 3 || n["ping"] != 10 {
		t.Errorf("traces: %v, want 5 dropped, 3 without route, 10 pings", n)
	}
	if want := "ifacetrace: 5 packets " + dropped; !strings.Contains(it.stderr.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, it.stderr.String())
	}
	if !strings.Contains(it.stderr.String(), "ifacetrace: transit between hops (min / median / max):") {
		t.Errorf("summary lacks the transit times:\n%s", it.stderr.String())
	}

	// The ping's flow: the time between each pair of consecutive hops of
	// the request's path and of the reply's, 5 each.
	request, reply := natPaths(l)
	for _, f := range flows {
		if f.Proto != "icmp" || f.Src != lab.ContainerIP {
			continue
		}
		want := map[string]bool{}
		for _, p := range [][]string{request, reply} {
			for k := 1; k < len(p); k++ {
				want[p[k-1]+" → "+p[k]] = true
			}
		}
		for _, h := range f.HopTimes {
			key := h.From + " → " + h.To
			if !want[key] {
				t.Errorf("hop pair %s is not on the paths", key)
			}
			delete(want, key)
			if h.Count != 5 || h.MinNS < 0 || h.MinNS > h.MedianNS || h.MedianNS > h.MaxNS {
				t.Errorf("hop pair %s: %d times, %d / %d / %d ns", key, h.Count, h.MinNS, h.MedianNS, h.MaxNS)
			}
		}
		if len(want) > 0 {
			t.Errorf("flow %d lacks the hop pairs %v", f.ID, want)
		}
		return
	}
	t.Error("no ICMP flow from the container")
}
