//go:build cgo

package filter

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// smallRing keeps the test sockets' rings small.
func smallRing(p *Program) afpacket.Config {
	return afpacket.Config{Filter: p.Instructions(), BlockSize: 1 << 16, NumBlocks: 4}
}

// TestKernelAcceptsPrograms attaches every test program to an AF_PACKET
// socket: the kernel's checker must accept the stitched programs, long
// jumps, VLAN rewrites and all.
func TestKernelAcceptsPrograms(t *testing.T) {
	l := lab.New(t)
	l.AddNS("a")
	var terms []string
	for i := 0; i < 150; i++ {
		terms = append(terms, fmt.Sprintf("host 10.1.0.%d", i+1))
	}
	exprs := append(append(append([]string{}, testExprs...), vlanExprs...), "inbound", strings.Join(terms, " or "))
	err := netns.Do(l.Path("a"), func() error {
		for _, expr := range exprs {
			p, err := Compile(expr, 0)
			if err != nil {
				return err
			}
			s, err := afpacket.Open(smallRing(p))
			if err != nil {
				return fmt.Errorf("%q (%d instructions): %w", expr, len(p.Instructions()), err)
			}
			if err := s.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type seen struct {
	ifindex int32
	pkttype uint8
	hatype  uint16
	status  uint32
	tci     uint16
	data    []byte
}

// capture opens an "any" socket with filter p in role's namespace, runs
// traffic and returns the frames the kernel kept.
func capture(t *testing.T, l *lab.Lab, role string, p *Program, traffic func()) []seen {
	t.Helper()
	var s *afpacket.Socket
	err := netns.Do(l.Path(role), func() (err error) {
		s, err = afpacket.Open(smallRing(p))
		return err
	})
	if err != nil {
		t.Fatalf("open socket in %s: %v", role, err)
	}
	done := make(chan []seen)
	go func() {
		var got []seen
		for {
			_, err := s.ReadBlock(func(pk *afpacket.Packet) {
				got = append(got, seen{pk.Ifindex, pk.PktType, pk.HAType, pk.Status, pk.VLANTCI, append([]byte(nil), pk.Data...)})
			})
			if err != nil {
				done <- got
				return
			}
		}
	}()
	traffic()
	time.Sleep(50 * time.Millisecond) // > BlockTimeout: the last block retires
	s.Wake()
	got := <-done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

// udpDstPort returns the UDP destination port of an IPv4 packet starting at
// off, or -1.
func udpDstPort(b []byte, off int) int {
	if len(b) < off+20 || b[off]>>4 != 4 || b[off+9] != 17 {
		return -1
	}
	udp := off + int(b[off]&0xf)*4
	if len(b) < udp+4 {
		return -1
	}
	return int(binary.BigEndian.Uint16(b[udp+2:]))
}

func ifindexOf(t *testing.T, l *lab.Lab, role, dev string) (int32, net.HardwareAddr) {
	t.Helper()
	var ifc *net.Interface
	err := netns.Do(l.Path(role), func() (err error) {
		ifc, err = net.InterfaceByName(dev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return int32(ifc.Index), ifc.HardwareAddr
}

// TestKernelKeepsOnlyMatches: "udp port 9" on an any socket keeps the port-9
// datagrams on a veth and on lo (Ethernet headers) and drops the rest.
func TestKernelKeepsOnlyMatches(t *testing.T) {
	l := lab.NewPair(t)
	p, err := Compile("udp port 9", 0)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := ifindexOf(t, l, "b", "vb")
	got := capture(t, l, "b", p, func() {
		l.SendUDP("a", lab.PairB, 9, 0, []byte("nine"), []byte("nine"), []byte("nine"))
		l.SendUDP("a", lab.PairB, 10, 0, []byte("ten"), []byte("ten"))
		l.SendUDP("b", "127.0.0.1", 9, 0, []byte("nine"), []byte("nine"))
		l.SendUDP("b", "127.0.0.1", 10, 0, []byte("ten"))
	})
	var vbIn, lo int
	for _, s := range got {
		if s.hatype != 1 && s.hatype != 772 {
			t.Errorf("unexpected hatype %d", s.hatype)
			continue
		}
		if port := udpDstPort(s.data, 14); port != 9 {
			t.Errorf("kept a frame that is not UDP to port 9 (port %d): %x", port, s.data)
		}
		if !p.Match(s.hatype, s.data) {
			t.Errorf("Match disagrees with the kernel on %x", s.data)
		}
		switch {
		case s.ifindex == vb && s.pkttype == afpacket.PacketHost:
			vbIn++
		case s.ifindex == 1:
			lo++
		}
	}
	if vbIn != 3 || lo != 4 { // lo: each datagram out and in
		t.Errorf("kept %d port-9 frames in on vb (want 3) and %d on lo (want 4): %d frames", vbIn, lo, len(got))
	}
}

// openTun creates a tun device (ARPHRD_NONE: frames are bare IP packets) in
// role's namespace and keeps it attached until the test ends.
func openTun(t *testing.T, l *lab.Lab, role, name string) {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		if lab.InCI() {
			t.Fatalf("needs /dev/net/tun (CI=true: not skipping): %v", err)
		}
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	var fd int
	err := netns.Do(l.Path(role), func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create tun %s in %s: %v", name, role, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	l.IP("-n", l.NS(role), "link", "set", name, "up")
}

// TestKernelRawIPFamily: the same socket keeps port-9 datagrams leaving
// through a tun device, whose frames have no link-layer header, and drops the
// others; the raw-IP sub-program runs for them.
func TestKernelRawIPFamily(t *testing.T) {
	l := lab.NewPair(t)
	openTun(t, l, "a", "ift0")
	l.Addr("a", "ift0", "10.200.9.1/24")
	tun, _ := ifindexOf(t, l, "a", "ift0")
	p, err := Compile("udp port 9", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := capture(t, l, "a", p, func() {
		l.SendUDP("a", "10.200.9.2", 9, 0, []byte("nine"), []byte("nine"), []byte("nine"))
		l.SendUDP("a", "10.200.9.2", 10, 0, []byte("ten"), []byte("ten"))
		l.SendUDP("a", lab.PairB, 9, 0, []byte("nine"))
	})
	var onTun, onVeth int
	for _, s := range got {
		off := 14
		if s.hatype == 0xfffe {
			off = 0
		}
		if port := udpDstPort(s.data, off); port != 9 {
			t.Errorf("hatype %d: kept a frame that is not UDP to port 9: %x", s.hatype, s.data)
		}
		if !p.Match(s.hatype, s.data) {
			t.Errorf("Match disagrees with the kernel on hatype %d %x", s.hatype, s.data)
		}
		switch {
		case s.ifindex == tun && s.hatype == 0xfffe:
			onTun++
		case s.hatype == 1:
			onVeth++
		}
	}
	if onTun != 3 || onVeth != 1 {
		t.Errorf("kept %d frames on the tun (want 3) and %d on the veth (want 1): %+v", onTun, onVeth, got)
	}
}

// TestKernelVLAN sends tagged frames from a over the veth. On va (outgoing)
// the tag is in the frame; on vb the kernel moves it into skb metadata before
// the filter runs. "vlan 10 and udp port 9" must keep the same frames on
// both, as tcpdump on a live interface does; "udp port 9" keeps the tagged
// frames on vb (tag stripped) but not on va (tag in the frame), again as
// tcpdump does.
func TestKernelVLAN(t *testing.T) {
	l := lab.NewPair(t)
	va, vaMAC := ifindexOf(t, l, "a", "va")
	vb, _ := ifindexOf(t, l, "b", "vb")
	frame := func(vid uint16, port uint16) []byte {
		ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: vaMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}}
		if vid != 0 {
			ls[0].(*layers.Ethernet).EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: vid, Type: layers.EthernetTypeIPv4})
		}
		ipl := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(lab.PairA).To4(), DstIP: net.ParseIP(lab.PairB).To4()}
		u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
		if err := u.SetNetworkLayerForChecksum(ipl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, ipl, u, gopacket.Payload("vlan test"))
		return serialize(t, ls...)
	}
	frames := [][]byte{frame(10, 9), frame(10, 9), frame(20, 9), frame(10, 10), frame(0, 9)}
	send := func() {
		err := netns.Do(l.Path("a"), func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for _, f := range frames {
				sa := &unix.SockaddrLinklayer{Ifindex: int(va), Halen: 6, Protocol: binary.BigEndian.Uint16([]byte{f[13], f[12]})}
				copy(sa.Addr[:], f[:6])
				if err := unix.Sendto(fd, f, 0, sa); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("send tagged frames from a: %v", err)
		}
	}
	reinsert := func(s seen) []byte {
		if s.status&afpacket.StatusVLANValid == 0 {
			return s.data
		}
		tag := []byte{0x81, 0, byte(s.tci >> 8), byte(s.tci)}
		return append(append(append([]byte(nil), s.data[:12]...), tag...), s.data[12:]...)
	}
	// kept counts the test frames in got by (vid, port); vid 0 is untagged.
	kept := func(got []seen, ifindex int32) map[[2]int]int {
		m := map[[2]int]int{}
		for _, s := range got {
			if s.ifindex != ifindex {
				continue
			}
			b := reinsert(s)
			if len(b) < 18 || udpDstPort(b, 14) < 0 && udpDstPort(b, 18) < 0 {
				continue
			}
			vid, off := 0, 14
			if binary.BigEndian.Uint16(b[12:]) == 0x8100 {
				vid, off = int(binary.BigEndian.Uint16(b[14:])&0xfff), 18
			}
			m[[2]int{vid, udpDstPort(b, off)}]++
		}
		return m
	}
	check := func(where string, got map[[2]int]int, want map[[2]int]int) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: kept (vid, port) → count %v, want %v", where, got, want)
		}
	}

	// Without vlan in the expression, the stripped tag is invisible.
	p, err := Compile("udp port 9", 0)
	if err != nil {
		t.Fatal(err)
	}
	gotB := capture(t, l, "b", p, send)
	stripped := 0
	for _, s := range gotB {
		if s.ifindex == vb && s.status&afpacket.StatusVLANValid != 0 {
			stripped++
		}
	}
	if stripped == 0 {
		t.Fatal("the kernel stripped no tag on vb: the test cannot tell the tagged path from the plain one")
	}
	check("udp port 9, in on vb", kept(gotB, vb), map[[2]int]int{{10, 9}: 2, {20, 9}: 1, {0, 9}: 1})
	check("udp port 9, out on va", kept(capture(t, l, "a", p, send), va), map[[2]int]int{{0, 9}: 1})

	p, err = Compile("vlan 10 and udp port 9", 0)
	if err != nil {
		t.Fatal(err)
	}
	gotB = capture(t, l, "b", p, send)
	for _, s := range gotB {
		if !p.Match(s.hatype, reinsert(s)) {
			t.Errorf("Match disagrees with the kernel on %x (tci %#x)", s.data, s.tci)
		}
	}
	check("vlan 10 and udp port 9, in on vb (tag stripped)", kept(gotB, vb), map[[2]int]int{{10, 9}: 2})
	check("vlan 10 and udp port 9, out on va (tag in frame)", kept(capture(t, l, "a", p, send), va), map[[2]int]int{{10, 9}: 2})
}
