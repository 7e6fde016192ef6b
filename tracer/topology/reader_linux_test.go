package topology_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func TestDevicesAndWatch(t *testing.T) {
	l := lab.New(t)
	l.AddNS("h")
	l.AddNS("c")
	l.IP("-n", l.NS("h"), "link", "add", "br0", "type", "bridge")
	l.IP("-n", l.NS("h"), "link", "set", "br0", "up")
	l.Veth("h", "veth-c", "c", "eth0")
	l.IP("-n", l.NS("h"), "link", "set", "veth-c", "master", "br0")
	l.Addr("h", "br0", "10.200.1.1/24")

	r := openNS(t, l.Path("h"))
	devs, err := r.Devices()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]topology.Device{}
	for _, d := range devs {
		by[d.Name] = d
	}
	if lo := by["lo"]; lo.Kind != "loopback" || lo.Ifindex != 1 || lo.HAType != 772 {
		t.Errorf("lo = %+v", lo)
	}
	br := by["br0"]
	if br.Kind != "bridge" || br.HAType != 1 || len(br.Addrs) == 0 || br.Addrs[0] != netip.MustParsePrefix("10.200.1.1/24") {
		t.Errorf("br0 = %+v", br)
	}
	v := by["veth-c"]
	if v.Kind != "veth" || v.Master == nil || v.Master.Name != "br0" || v.Master.Ifindex != br.Ifindex {
		t.Errorf("veth-c master = %+v", v.Master)
	}
	if v.Peer == nil || v.Peer.Name != "eth0" || v.Peer.NetNSName != l.NS("c") {
		t.Fatalf("veth-c peer = %+v, want %s/eth0", v.Peer, l.NS("c"))
	}
	if d := v.Description(); d == "" || !strings.Contains(d, "master br0") || !strings.Contains(d, "peer "+l.NS("c")+"/eth0") {
		t.Errorf("description %q", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan topology.Change, 16)
	if err := r.Watch(ctx, func(c topology.Change) { changes <- c }, nil); err != nil {
		t.Fatal(err)
	}
	l.IP("-n", l.NS("h"), "link", "add", "vnew", "type", "veth", "peer", "name", "vnew-p")
	deadline := time.After(3 * time.Second)
	for {
		select {
		case c := <-changes:
			if c.Device.Name == "vnew" && !c.Removed {
				if c.Device.Kind != "veth" || c.Device.Peer == nil || c.Device.Peer.Name != "vnew-p" {
					t.Errorf("vnew = kind %q peer %+v", c.Device.Kind, c.Device.Peer)
				}
				return
			}
		case <-deadline:
			t.Fatal("no change reported for vnew within 3s")
		}
	}
}
