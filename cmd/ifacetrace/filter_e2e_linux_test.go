//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// filterExprs are the expressions TestFiltersMatchTcpdump compares.
var filterExprs = []string{
	"icmp",
	"icmp6",
	"udp",
	"tcp",
	"arp or rarp",
	"ip6",
	"host " + lab.OutsideIP,
	"src host " + lab.ContainerIP,
	"net 10.200.1.0/24",
	"dst net 10.200.2.0/24",
	"udp port 9999",
	"portrange 9000-10000",
	"icmp[icmptype] == icmp-echo",
	"icmp[icmptype] == icmp-echoreply",
	"tcp[tcpflags] & tcp-syn != 0",
	"tcp[tcpflags] & (tcp-rst|tcp-ack) != 0",
	"greater 240",
	"less 70",
	"ip[8] == 64",
	"udp and not port 9999",
	"ip proto 17",
	"host 10.200.9.2",
	"ip6 and (udp or icmp6)",
	"not ip and not ip6",
	"ip6 host " + lab.OutsideIP6,
	"icmp6 and ip6[40] == 128",
	// tcpdump -i any cannot filter on VLAN tags ("no VLAN support for Linux
	// cooked v2"): these two are compared on the device, -i up0.
	"vlan",
	"vlan 10 and icmp",
}

// onDevice: expressions compared with both tools capturing on up0 only.
var onDevice = map[string]bool{"vlan": true, "vlan 10 and icmp": true}

// TestFiltersMatchTcpdump: for each expression, ifacetrace and `tcpdump -i
// any` run side by side in the lab's host namespace on the same traffic —
// IPv4 and IPv6 pings, UDP of two sizes, TCP to a closed port, and raw IP
// through a tun device — and keep the same frames (device, direction,
// addresses, IP id and length).
func TestFiltersMatchTcpdump(t *testing.T) {
	needE2E(t, "tcpdump")
	l := lab.NewNAT(t)
	warmARP(t, l)
	ping(t, l.Lab, lab.Container, lab.OutsideIP6, 1, "0.2")
	tun := l.Tun(lab.Host, "tun0", "10.200.9.1/24")

	names := ifindexes(t, l.Lab, lab.Host)
	dir := t.TempDir()

	const group = 7 // pairs of captures at once
	for start := 0; start < len(filterExprs); start += group {
		exprs := filterExprs[start:min(start+group, len(filterExprs))]
		type pair struct {
			expr       string
			ours, dump string
			it, td     *proc
		}
		var ps []*pair
		for i, e := range exprs {
			p := &pair{expr: e, ours: filepath.Join(dir, fmt.Sprintf("f%d.pcapng", start+i)), dump: filepath.Join(dir, fmt.Sprintf("f%d.pcap", start+i))}
			if onDevice[e] {
				p.td = startTcpdump(t, l.Lab, lab.Host, "-i", "up0", "-s", "512", "-B", "4096", "-w", p.dump, e)
				p.it = ifacetrace(t, l.Lab, lab.Host, "-B", "4", "-i", "up0", "-o", p.ours, e)
			} else {
				p.td = tcpdump(t, l.Lab, lab.Host, p.dump, e)
				p.it = ifacetrace(t, l.Lab, lab.Host, "-B", "4", "-o", p.ours, e)
			}
			ps = append(ps, p)
		}
		filterTraffic(t, l, tun)
		for _, p := range ps {
			if code := p.it.interrupt(t); code != 0 {
				t.Fatalf("ifacetrace %q: exit %d\n%s", p.expr, code, p.it.stderr.String())
			}
			p.td.interrupt(t)
		}
		for _, p := range ps {
			ours := frameKeys(t, p.ours, "frame.interface_name", "frame.packet_flags_direction", nil)
			theirs := frameKeys(t, p.dump, "sll.ifindex", "sll.pkttype", names)
			if onDevice[p.expr] {
				// A device capture has no direction; compare what is in the
				// frames, and the tag tcpdump and ifacetrace put back.
				ours = frameKeys(t, p.ours, "vlan.id", "", nil)
				theirs = frameKeys(t, p.dump, "vlan.id", "", nil)
			}
			if diff := cmp.Diff(theirs, ours); diff != "" {
				t.Errorf("filter %q: frames differ from tcpdump's (-tcpdump +ifacetrace):\n%s", p.expr, diff)
			}
			if len(theirs) == 0 && p.expr != "not ip and not ip6" && p.expr != "arp or rarp" {
				t.Errorf("filter %q: tcpdump kept nothing: the traffic does not exercise it", p.expr)
			}
		}
	}
}

// filterTraffic sends the test's traffic: through the NAT lab, and raw IP
// into the host's tun device (answered by the kernel out of it).
func filterTraffic(t *testing.T, l *lab.NAT, tun interface{ Write([]byte) (int, error) }) {
	t.Helper()
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 2, "0.05")
	ping(t, l.Lab, lab.Container, lab.OutsideIP6, 2, "0.05")
	sendTagged(t, l)
	sendUDP(t, l.Lab, lab.Container, lab.OutsideIP, 9999, 2)
	l.SendUDP(lab.Container, lab.OutsideIP, 9000, 0, []byte(strings.Repeat("x", 200)))
	l.SendUDP(lab.Container, lab.OutsideIP6, 5353, 0, []byte("six"))
	// TCP to a closed port: SYN out, RST back.
	err := netns.Do(l.Path(lab.Container), func() error {
		c, err := net.DialTimeout("tcp", lab.OutsideIP+":81", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Raw IP in through tun0: UDP from 10.200.9.2 to a closed port, which
	// the kernel answers with an ICMP error out of tun0.
	for i := 0; i < 2; i++ {
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(700 + i), Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("10.200.9.2"), DstIP: net.ParseIP("10.200.9.1")}
		u := &layers.UDP{SrcPort: 4000, DstPort: 9998}
		u.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload("through tun")); err != nil {
			t.Fatal(err)
		}
		if _, err := tun.Write(buf.Bytes()); err != nil {
			t.Fatalf("write to tun0: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// sendTagged sends two 802.1Q frames (VLAN 10, ICMP echo 10.200.10.2 >
// 10.200.10.1) from the outside's eth0 with a packet socket; the host's
// up0 receives them, the tag moved to the frame's metadata by the kernel
// as on any receive.
func sendTagged(t *testing.T, l *lab.NAT) {
	t.Helper()
	err := netns.Do(l.Path(lab.Outside), func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for i := 0; i < 2; i++ {
			buf := gopacket.NewSerializeBuffer()
			ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(900 + i), Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP("10.200.10.2"), DstIP: net.ParseIP("10.200.10.1")}
			err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				&layers.Ethernet{SrcMAC: ifc.HardwareAddr, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, ip,
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: uint16(i)},
				gopacket.Payload("tagged"))
			if err != nil {
				return err
			}
			if err := unix.Sendto(fd, buf.Bytes(), 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send tagged frames: %v", err)
	}
}

// frameKeys lists a file's frames as "DEVICE DIR addresses…", sorted. dev
// and dir name the tshark fields of device and direction; names maps
// ifindexes to device names for cooked captures.
func frameKeys(t *testing.T, file, devField, dirField string, names map[string]string) []string {
	t.Helper()
	var keys []string
	if dirField == "" {
		dirField = devField
	}
	for _, r := range fields(t, file, "", devField, dirField, "ip.src", "ip.dst", "ip.id", "ip.len", "ipv6.src", "ipv6.dst", "ipv6.plen", "arp.src.proto_ipv4", "arp.dst.proto_ipv4") {
		// Only the test's traffic: spontaneous frames (IPv6 router and
		// listener reports) may fall between the two tools' start or stop.
		if !strings.HasPrefix(r[2], "10.200.") && !strings.HasPrefix(r[6], "fd00:200:") && !strings.HasPrefix(r[9], "10.200.") {
			continue
		}
		d := r[0]
		if names != nil {
			d = names[r[0]]
		}
		dir := "in"
		switch {
		case dirField == "":
		case names == nil:
			dir = direction(t, r[1])
		case r[1] == "4": // PACKET_OUTGOING
			dir = "out"
		}
		keys = append(keys, d+" "+dir+" "+strings.Join(r[2:], " "))
	}
	sort.Strings(keys)
	return keys
}

// TestBadFilter: a bad expression gives libpcap's own message and exit 2,
// before anything is captured or written.
func TestBadFilter(t *testing.T) {
	needE2E(t)
	l := lab.NewPair(t)
	out := filepath.Join(t.TempDir(), "x.pcapng")
	p := startProc(t, "ifacetrace bad filter", l.Command("a", ifacetraceBin, "-o", out, "tcp", "portt", "80"), nil)
	if code := p.wait(t, 10*time.Second); code != 2 {
		t.Errorf("exit %d, want 2\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `filter "tcp portt 80"`) || !strings.Contains(p.stderr.String(), "syntax error") {
		t.Errorf("stderr does not give libpcap's message:\n%s", p.stderr.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written", out)
	}
}
