package tracer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func devs(names ...string) []Space {
	return []Space{space1("", names...)}
}

func space1(name string, names ...string) Space {
	sp := Space{Entry: netns.Entry{Name: name, ID: netns.ID{Ino: uint64(len(name))}}}
	if name != "" {
		sp.Path = "/run/netns/" + name
	}
	for i, n := range names {
		sp.Devices = append(sp.Devices, topology.Device{Key: topology.Key{Ifindex: int32(i + 1)}, Name: n})
	}
	return sp
}

func TestNewPlanAny(t *testing.T) {
	p, err := NewPlan(Options{}, devs("lo", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{Namespaces: []NSPlan{{Sockets: []SocketPlan{{Device: "any"}}}}, SnapLen: 262144, BlockSize: 1 << 20, NumBlocks: 32, Spool: DefaultSpool, Idle: true, Hold: DefaultHold}
	if diff := cmp.Diff(want, p, cmp.AllowUnexported(Plan{})); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if s := p.String(); !strings.Contains(s, "on any") || !strings.Contains(s, "snaplen 262144") {
		t.Errorf("String() = %q", s)
	}
}

// Hold: 0 is the default, negative none, and a count turns it off (the
// capture stops once delivery has counted).
func TestNewPlanHold(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want time.Duration
	}{
		{Options{}, DefaultHold},
		{Options{Hold: -1}, 0},
		{Options{Hold: 2 * time.Second}, 2 * time.Second},
		{Options{Hold: 2 * time.Second, Count: 10}, 0},
	} {
		p, err := NewPlan(c.o, devs("lo"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Hold != c.want {
			t.Errorf("Hold %v, Count %d: plan holds %v, want %v", c.o.Hold, c.o.Count, p.Hold, c.want)
		}
	}
}

func TestNewPlanDevices(t *testing.T) {
	p, err := NewPlan(Options{Interfaces: []string{"veth1", "br0", "veth1"}, Promiscuous: true, SnapLen: 128, Count: 5, BufferSize: 3 << 20,
		Spool: -1, SpoolDir: "/var/tmp", NormalPriority: true}, devs("lo", "br0", "veth1"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		Namespaces:  []NSPlan{{Sockets: []SocketPlan{{Device: "veth1", Ifindex: 3, Promiscuous: true}, {Device: "br0", Ifindex: 2, Promiscuous: true}}}},
		Interfaces:  []string{"veth1", "br0", "veth1"},
		Promiscuous: true,
		SnapLen:     128,
		Count:       5,
		BlockSize:   1 << 20,
		NumBlocks:   3,
		SpoolDir:    "/var/tmp",
	}
	if diff := cmp.Diff(want, p, cmp.AllowUnexported(Plan{})); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestNewPlanNamespaces(t *testing.T) {
	spaces := []Space{space1("", "lo", "eth0"), space1("c1", "lo", "eth0"), space1("host", "lo", "br0", "veth1")}
	p, err := NewPlan(Options{Follow: true}, spaces)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Namespaces) != 3 || !p.Follow {
		t.Fatalf("namespaces %d, follow %v; want 3, true", len(p.Namespaces), p.Follow)
	}
	for _, ns := range p.Namespaces {
		if len(ns.Sockets) != 1 || ns.Sockets[0].Device != "any" {
			t.Errorf("%s: sockets %+v, want one on any", ns.Label(), ns.Sockets)
		}
	}
	s := p.String()
	for _, want := range []string{"namespace: c1 (/run/netns/c1)", "namespace: 0 (current namespace)", "namespaces that appear: captured too"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}

	// IFNAME picks that device in every namespace that has it; NETNS/IFNAME
	// in one only; namespaces without a match get no socket.
	p, err = NewPlan(Options{Interfaces: []string{"eth0", "host/veth1"}}, spaces)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ns := range p.Namespaces {
		for _, so := range ns.Sockets {
			got = append(got, ns.Label()+"/"+so.Device)
		}
	}
	if diff := cmp.Diff([]string{"0/eth0", "c1/eth0", "host/veth1"}, got); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
	_, err = NewPlan(Options{Interfaces: []string{"c1/br0"}}, spaces)
	var ud *UnknownDeviceError
	if !errors.As(err, &ud) || !strings.Contains(err.Error(), "host/br0") {
		t.Errorf("c1/br0: err = %v, want an UnknownDeviceError listing host/br0", err)
	}
}

func TestNewPlanErrors(t *testing.T) {
	_, err := NewPlan(Options{Interfaces: []string{"nope"}}, devs("lo", "eth0"))
	var ud *UnknownDeviceError
	if !errors.As(err, &ud) || !strings.Contains(err.Error(), "available: eth0, lo") {
		t.Errorf("unknown device: err = %v", err)
	}
	if _, err := NewPlan(Options{Promiscuous: true}, devs("lo")); err == nil {
		t.Error("promiscuous without devices: no error")
	}
	if _, err := NewPlan(Options{Count: -1}, devs("lo")); err == nil {
		t.Error("negative count: no error")
	}
}

func TestDirectionOf(t *testing.T) {
	for pt, want := range map[uint8]record.Direction{
		afpacket.PacketHost:      record.DirIn,
		afpacket.PacketBroadcast: record.DirIn,
		afpacket.PacketMulticast: record.DirIn,
		afpacket.PacketOtherHost: record.DirIn,
		afpacket.PacketOutgoing:  record.DirOut,
		5:                        record.DirUnknown, // PACKET_LOOPBACK: never delivered to packet sockets
		7:                        record.DirUnknown, // PACKET_KERNEL
	} {
		if got := DirectionOf(pt); got != want {
			t.Errorf("DirectionOf(%d) = %v, want %v", pt, got, want)
		}
	}
}

func TestAccountLimit(t *testing.T) {
	var buf []byte
	for i := 0; i < 5; i++ {
		buf = record.Append(buf, record.Header{Iface: uint32(i % 2), Dir: record.Direction(1 + i%2)}, make([]byte, 10+i))
	}
	b := &Batch{Records: buf, Count: 5}
	counts := account(b, 3, nil)
	if b.Count != 3 {
		t.Fatalf("count %d, want 3", b.Count)
	}
	r := record.NewReader(b.Records)
	n := 0
	for {
		_, ok, err := r.Next(new(record.Header))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d records left, want 3", n)
	}
	// records 0 (iface 0 in), 1 (iface 1 out), 2 (iface 0 in)
	if counts[0] != 2 || counts[3] != 1 || counts[1] != 0 || counts[2] != 0 {
		t.Errorf("counts %v", counts[:4])
	}
}
