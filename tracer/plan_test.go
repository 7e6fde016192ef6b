package tracer

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func devs(names ...string) []topology.Device {
	var out []topology.Device
	for i, n := range names {
		out = append(out, topology.Device{Key: topology.Key{Ifindex: int32(i + 1)}, Name: n})
	}
	return out
}

func TestNewPlanAny(t *testing.T) {
	p, err := NewPlan(Options{}, devs("lo", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{Sockets: []SocketPlan{{Device: "any"}}, SnapLen: 262144, BlockSize: 1 << 20, NumBlocks: 32}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if s := p.String(); !strings.Contains(s, "on any") || !strings.Contains(s, "snaplen 262144") {
		t.Errorf("String() = %q", s)
	}
}

func TestNewPlanDevices(t *testing.T) {
	p, err := NewPlan(Options{Interfaces: []string{"veth1", "br0", "veth1"}, Promiscuous: true, SnapLen: 128, Count: 5, BufferSize: 3 << 20}, devs("lo", "br0", "veth1"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		Sockets:   []SocketPlan{{Device: "veth1", Ifindex: 3, Promiscuous: true}, {Device: "br0", Ifindex: 2, Promiscuous: true}},
		SnapLen:   128,
		Count:     5,
		BlockSize: 1 << 20,
		NumBlocks: 3,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
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
