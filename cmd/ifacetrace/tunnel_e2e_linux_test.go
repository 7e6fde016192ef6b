//go:build linux

package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// overlayPath is an echo request's path from pod A to pod B across the
// overlay, as ifacetrace in node A names the devices.
func overlayPath(o *lab.Overlay) []string {
	return []string{
		o.NS(lab.PodA) + "/eth0 out", "veth-pod in", "ov0 out", "under0 out",
		o.NS(lab.NodeB) + "/under0 in", o.NS(lab.NodeB) + "/ov0 in", o.NS(lab.NodeB) + "/veth-pod out", o.NS(lab.PodB) + "/eth0 in",
	}
}

// TestOverlay: two nodes joined by an underlay with a VXLAN, Geneve or IPIP
// overlay and a pod each. Every echo request from pod to pod is one trace
// of all eight copies, inner and outer, with the encapsulation and the
// decapsulation named and the outer copies' tunnel in JSON; in the pcapng
// file all copies of an echo share frame.packet_id, and tshark decodes the
// outer ones as the tunnel packets they are.
func TestOverlay(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		encap, name, tshark, proto string // tshark: the layers of an outer frame
		id                         bool
	}{
		{"vxlan", "VXLAN", ":vxlan:eth:", "udp", true},
		{"geneve", "Geneve", ":geneve:eth:", "udp", true},
		{"ipip", "IPIP", ":ip:ip:", "4", false},
	} {
		t.Run(tc.encap, func(t *testing.T) {
			o := lab.NewOverlay(t, tc.encap)
			t.Logf("%s overlay, kernel device: %v", tc.encap, o.Kernel)
			ping(t, o.Lab, lab.PodA, lab.PodBIP, 1, "0.2") // neighbours resolved
			dir := t.TempDir()
			pc, js := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.jsonl")
			// A 1 s window: where the kernel lacks the tunnel, the lab's
			// user-space tunnel runs in this test process, and under load
			// it may hand a packet on only tens of milliseconds later.
			args := []string{"-o", pc, "-o", js, "--window", "1s"}
			for _, r := range []string{lab.PodA, lab.NodeA, lab.NodeB, lab.PodB} {
				args = append(args, "--netns", o.NS(r))
			}
			it := ifacetrace(t, o.Lab, lab.NodeA, args...)
			ping(t, o.Lab, lab.PodA, lab.PodBIP, 4, "0.1")
			if code := it.interrupt(t); code != 0 {
				t.Fatalf("ifacetrace: exit %d\nstderr:\n%s", code, it.stderr.String())
			}

			want := overlayPath(o)
			id := ""
			if tc.id {
				id = " vni 42"
			}
			encap := "encap " + tc.name + id + " " + lab.UnderlayAIP + "→" + lab.UnderlayBIP
			decap := "decap " + tc.name + id + " " + lab.UnderlayAIP + "→" + lab.UnderlayBIP
			n := 0
			traces, _ := readJSONL(t, js)
			for _, tr := range traces {
				if !strings.Contains(tr.Summary, "echo request") || tr.Hops[0].Src != lab.PodAIP {
					continue
				}
				n++
				if diff := cmp.Diff(want, steps(tr)); diff != "" {
					t.Errorf("trace %d (%s): path (-want +got):\n%s", tr.ID, tr.Summary, diff)
					continue
				}
				if !slices.Equal(tr.Changes, []string{encap, decap}) {
					t.Errorf("trace %d: changes %q, want %q", tr.ID, tr.Changes, []string{encap, decap})
				}
				for k, h := range tr.Hops {
					outer := k == 3 || k == 4
					if (h.Tunnel != nil) != outer {
						t.Errorf("trace %d hop %d (%s): tunnel %+v", tr.ID, k, want[k], h.Tunnel)
						continue
					}
					if !outer {
						continue
					}
					if h.Tunnel.Encap != tc.name || h.Tunnel.OuterSrc != lab.UnderlayAIP || h.Tunnel.OuterDst != lab.UnderlayBIP ||
						h.Tunnel.OuterProto != tc.proto || (h.Tunnel.ID != nil) != tc.id || tc.id && *h.Tunnel.ID != lab.OverlayVNI {
						t.Errorf("trace %d hop %d: tunnel %+v", tr.ID, k, *h.Tunnel)
					}
					if tr.Hops[k].Src != lab.PodAIP || tr.Hops[k].Dst != lab.PodBIP || tr.Hops[k].Proto != "icmp" {
						t.Errorf("trace %d hop %d: %+v, want the pod's ping", tr.ID, k, tr.Hops[k])
					}
				}
			}
			if n != 4 {
				t.Errorf("%d echo request traces from pod A, want 4", n)
			}

			// Wireshark: the copies of each request, inner and outer, share
			// a packet id; the outer ones are decoded as the tunnel.
			groups := map[string][]string{}
			for _, r := range fields(t, pc, "icmp.type == 8 && ip.src == "+lab.PodAIP, "frame.packet_id", "frame.interface_name", "frame.packet_flags_direction", "frame.protocols") {
				groups[r[0]] = append(groups[r[0]], r[1]+" "+direction(t, r[2]))
				outer := strings.HasPrefix(r[1], "under0") || strings.HasSuffix(r[1], "/under0")
				if tunneled := strings.Contains(r[3], tc.tshark); outer != tunneled {
					t.Errorf("%s: protocols %s", r[1], r[3])
				}
			}
			if len(groups) != 4 {
				t.Errorf("%d packet ids among the echo requests, want 4: %v", len(groups), groups)
			}
			for id, g := range groups {
				if len(g) != len(want) {
					t.Errorf("packet id %s groups %v, want all of %v", id, g, want)
				}
			}
			// The tunnel device's parameters, from netlink, describe it in
			// the interface view and in the pcapng file.
			if o.Kernel {
				p := startProc(t, "ifacetrace interfaces", o.Command(lab.NodeA, ifacetraceBin, "interfaces"), nil)
				if code := p.wait(t, 10*time.Second); code != 0 {
					t.Fatalf("interfaces: exit %d\n%s", code, p.stderr.String())
				}
				want := tc.name + " vni 42 port 4789 local " + lab.UnderlayAIP + " remote " + lab.UnderlayBIP
				if tc.encap != "vxlan" {
					want = tc.name
				}
				if !strings.Contains(p.stdout.String(), want) {
					t.Errorf("interfaces lacks %q:\n%s", want, p.stdout.String())
				}
				descr := fields(t, pc, "frame.interface_name == \"ov0\"", "frame.interface_description")
				if len(descr) == 0 || !strings.Contains(descr[0][0], tc.name) {
					t.Errorf("ov0 description %v lacks the tunnel", descr)
				}
			}
		})
	}
}
