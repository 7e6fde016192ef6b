package lab

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// Roles and addresses of an Overlay lab.
const (
	PodA  = "poda"
	NodeA = "nodea"
	NodeB = "nodeb"
	PodB  = "podb"

	PodAIP      = "10.200.41.2"
	PodBIP      = "10.200.42.2"
	UnderlayAIP = "10.200.40.1"
	UnderlayBIP = "10.200.40.2"

	// OverlayVNI is the VXLAN and Geneve VNI.
	OverlayVNI = 42
)

// Overlay is two "nodes" joined by an underlay veth (under0, 10.200.40.0/24),
// each with a pod behind a routed veth (eth0 in the pod, veth-pod on the
// node: 10.200.41.0/24 and 10.200.42.0/24), and an overlay tunnel between
// the nodes (ov0) that carries the pods' traffic, as flannel, Calico and
// Cilium do between Kubernetes nodes.
//
// A ping from pod A to pod B is seen on poda/eth0 out, nodea/veth-pod in,
// nodea/ov0 out, nodea/under0 out (inside a tunnel packet), nodeb/under0 in
// (likewise), nodeb/ov0 in, nodeb/veth-pod out and podb/eth0 in.
type Overlay struct {
	*Lab
	// Encap is "vxlan", "geneve" or "ipip".
	Encap string
	// Kernel says whether ov0 is the kernel's tunnel device. Where the
	// kernel lacks the device type (no geneve or ipip module), ov0 is a tap
	// (Geneve) or tun (IPIP) device whose packets the lab itself puts in
	// and takes out of real Geneve or IP-in-IP packets on the underlay, as
	// flannel's udp backend does: the wire format is the same.
	Kernel bool
}

// NewOverlay builds an Overlay lab with the given encapsulation.
func NewOverlay(t testing.TB, encap string) *Overlay {
	t.Helper()
	Require(t)
	o := &Overlay{Lab: New(t), Encap: encap}
	for _, r := range []string{PodA, NodeA, NodeB, PodB} {
		o.AddNS(r)
	}
	o.Veth(NodeA, "under0", NodeB, "under0")
	o.Addr(NodeA, "under0", UnderlayAIP+"/24")
	o.Addr(NodeB, "under0", UnderlayBIP+"/24")
	for _, side := range []struct{ pod, node, net, self, peer, local, remote, peerNet string }{
		{PodA, NodeA, "10.200.41", "10.200.43.1", "10.200.43.2", UnderlayAIP, UnderlayBIP, "10.200.42.0/24"},
		{PodB, NodeB, "10.200.42", "10.200.43.2", "10.200.43.1", UnderlayBIP, UnderlayAIP, "10.200.41.0/24"},
	} {
		o.Veth(side.pod, "eth0", side.node, "veth-pod")
		o.Addr(side.pod, "eth0", side.net+".2/24")
		o.Addr(side.node, "veth-pod", side.net+".1/24")
		o.IP("-n", o.NS(side.pod), "route", "add", "default", "via", side.net+".1")
		o.Sysctl(side.node, "net.ipv4.ip_forward", "1")
		o.tunnel(side.node, side.local, side.remote, side.self+"/24")
		via := []string{"via", side.peer}
		if encap == "ipip" {
			via = nil // point to point: no neighbours
		}
		o.IP(append(append([]string{"-n", o.NS(side.node), "route", "add", side.peerNet}, via...), "dev", "ov0")...)
	}
	return o
}

// tunnel creates ov0 in node, with addr, up.
func (o *Overlay) tunnel(node, local, remote, addr string) {
	o.t.Helper()
	var args []string
	switch o.Encap {
	case "vxlan":
		args = []string{"type", "vxlan", "id", "42", "local", local, "remote", remote, "dstport", "4789", "dev", "under0"}
	case "geneve":
		args = []string{"type", "geneve", "id", "42", "remote", remote}
	case "ipip":
		args = []string{"type", "ipip", "local", local, "remote", remote}
	default:
		o.t.Fatalf("lab: unknown overlay %q", o.Encap)
	}
	out, err := o.Command(node, append([]string{"ip", "link", "add", "ov0"}, args...)...).CombinedOutput()
	switch {
	case err == nil:
		o.Kernel = true
		o.Addr(node, "ov0", addr)
		o.IP("-n", o.NS(node), "link", "set", "ov0", "up")
	case o.Encap != "vxlan" && strings.Contains(string(out), "Unknown device type"):
		o.userTunnel(node, local, remote, addr)
	default:
		o.t.Fatalf("lab: ip link add ov0 %s in %s: %v\n%s", strings.Join(args, " "), node, err, out)
	}
}

// genevePort is the Geneve UDP port (RFC 8926).
const genevePort = 6081

// userTunnel makes ov0 a tap (Geneve) or tun (IPIP) device and forwards its
// packets in real tunnel packets over the underlay until the test ends.
func (o *Overlay) userTunnel(node, local, remote string, addr string) {
	o.t.Helper()
	dst := net.ParseIP(remote).To4()
	var dev *os.File
	var sock int
	err := netns.Do(o.Path(node), func() error {
		var err error
		if o.Encap == "geneve" {
			sock, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				err = unix.Bind(sock, &unix.SockaddrInet4{Port: genevePort, Addr: [4]byte(net.ParseIP(local).To4())})
			}
		} else {
			sock, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_IPIP)
			if err == nil {
				err = unix.Bind(sock, &unix.SockaddrInet4{Addr: [4]byte(net.ParseIP(local).To4())})
			}
		}
		return err
	})
	if err != nil {
		o.t.Fatalf("lab: %s socket in %s: %v", o.Encap, node, err)
	}
	if o.Encap == "geneve" {
		dev = o.Tap(node, "ov0", addr)
	} else {
		dev = o.Tun(node, "ov0", addr)
	}
	// Closing the socket ends the receiving loop; closing the device
	// (Tun's cleanup) ends the sending one.
	o.t.Cleanup(func() { unix.Shutdown(sock, unix.SHUT_RDWR); unix.Close(sock) })
	to := &unix.SockaddrInet4{Port: genevePort, Addr: [4]byte(dst)}
	if o.Encap != "geneve" {
		to.Port = 0
	}
	go func() { // device → underlay
		buf := make([]byte, 65536)
		var hdr [8]byte
		if o.Encap == "geneve" {
			// Version 0, no options, Ethernet (transparent bridging), the VNI.
			binary.BigEndian.PutUint16(hdr[2:], 0x6558)
			binary.BigEndian.PutUint32(hdr[4:], OverlayVNI<<8)
		}
		for {
			n, err := dev.Read(buf[len(hdr):])
			if err != nil {
				return
			}
			pkt := buf[len(hdr) : len(hdr)+n]
			if o.Encap == "geneve" {
				copy(buf, hdr[:])
				pkt = buf[:len(hdr)+n]
			}
			if err := unix.Sendto(sock, pkt, 0, to); err != nil && errors.Is(err, unix.EBADF) {
				return
			}
		}
	}()
	go func() { // underlay → device
		buf := make([]byte, 65536)
		for {
			n, _, err := unix.Recvfrom(sock, buf, 0)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n <= 0 {
				if err == nil {
					return
				}
				continue
			}
			pkt := buf[:n]
			if o.Encap == "geneve" {
				if n < 8 || binary.BigEndian.Uint16(pkt[2:]) != 0x6558 {
					continue
				}
				pkt = pkt[8+int(pkt[0]&0x3f)*4:]
			} else {
				// A raw socket reads the outer IP header too.
				ihl := int(pkt[0]&0x0f) * 4
				if ihl < 20 || ihl > n {
					continue
				}
				pkt = pkt[ihl:]
			}
			if _, err := dev.Write(pkt); err != nil && errors.Is(err, os.ErrClosed) {
				return
			}
		}
	}()
}
