//go:build linux

package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestConntrackConfirmsNAT: the NAT lab's masquerade is a conntrack entry
// in the host namespace, learnt from ctnetlink. Each echo request's trace
// says the SNAT between its copies is the kernel's mapping, each reply's
// the DNAT back, and the flow carries the entry: original and reply
// tuples, SRC_NAT, and its NAT confirmed by the packets.
func TestConntrackConfirmsNAT(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	warmARP(t, l)
	dir := t.TempDir()
	js := filepath.Join(dir, "x.jsonl")
	it := captureNAT(t, l, "-o", js)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 3, "0.05")
	time.Sleep(200 * time.Millisecond)
	it.finish(t)
	if strings.Contains(it.stderr.String(), "conntrack") {
		t.Errorf("warnings about conntrack:\n%s", it.stderr.String())
	}
	traces, flows := readJSONL(t, js)
	snat := "SNAT " + lab.ContainerIP + "→" + lab.UplinkIP
	dnat := "DNAT " + lab.UplinkIP + "→" + lab.ContainerIP
	n := 0
	for _, tr := range traces {
		var want string
		switch {
		case strings.HasPrefix(tr.Summary, "ICMP echo request") && tr.Hops[0].Src == lab.ContainerIP:
			want = snat + " confirmed"
		case strings.HasPrefix(tr.Summary, "ICMP echo reply") && tr.Hops[0].Src == lab.OutsideIP:
			want = dnat + " confirmed"
		default:
			continue
		}
		n++
		// ifacetrace runs in the lab's host namespace: "this namespace".
		if !strings.HasPrefix(tr.Conntrack, "this namespace: ") || !strings.Contains(tr.Conntrack, want) {
			t.Errorf("trace %d (%s): conntrack %q, want %q in this namespace", tr.ID, tr.Summary, tr.Conntrack, want)
		}
	}
	if n != 6 {
		t.Errorf("%d echo traces, want 6", n)
	}
	for _, f := range flows {
		if f.Proto != "icmp" || f.Src != lab.ContainerIP {
			continue
		}
		if len(f.Conntrack) != 1 {
			t.Fatalf("flow %d: conntrack %+v, want one entry (the host's, ifacetrace's own namespace)", f.ID, f.Conntrack)
		}
		c := f.Conntrack[0]
		if c.Netns != "" || c.Orig.Src != lab.ContainerIP || c.Orig.Dst != lab.OutsideIP || c.Reply.Src != lab.OutsideIP ||
			c.Reply.Dst != lab.UplinkIP || !slices.Contains(c.Status, "SRC_NAT") || !slices.Equal(c.NAT, []string{snat}) || !c.Confirmed {
			t.Errorf("flow %d: conntrack %+v", f.ID, c)
		}
		return
	}
	t.Error("no ICMP flow from the container")
}
