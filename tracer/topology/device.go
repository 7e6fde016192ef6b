package topology

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// Key identifies a device: its namespace and its index there.
type Key struct {
	NetNS   netns.ID
	Ifindex int32
}

// Ref names a device, possibly in another namespace.
type Ref struct {
	Key
	NetNSName string // the namespace's name in /run/netns, "" when it has none
	Name      string // "" when the device could not be looked up
}

// String is NETNS/NAME, or NAME when netnsShown is false.
func (r Ref) String() string {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("if%d", r.Ifindex)
	}
	ns := r.NetNSName
	if ns == "" {
		if r.NetNS.IsZero() {
			return name
		}
		ns = r.NetNS.String()
	}
	return ns + "/" + name
}

// Device is one network device as netlink describes it.
type Device struct {
	Key
	NetNSName string
	Name      string
	Kind      string // veth, bridge, loopback, device, tun, tap, vxlan, dummy, …
	HAType    uint16 // ARPHRD_* (ifi_type)
	MAC       net.HardwareAddr
	MTU       int
	Up        bool // administratively up
	Carrier   bool // operationally up (lower layer up)
	Master    *Ref // bridge or bond this device is a port of
	Peer      *Ref // veth peer, or the parent link of a vlan/macvlan/tunnel
	Addrs     []netip.Prefix
	Tunnel    *Tunnel // a tunnel device's parameters; nil for other devices
}

// Tunnel is what a tunnel device (vxlan, geneve, ipip, sit, ip6tnl, gre,
// gretap) puts around the packets it sends.
type Tunnel struct {
	Encap record.Encap
	// ID is the VNI or GRE key; HasID says whether the device sets one.
	ID    uint32
	HasID bool
	// Port is the UDP destination port of VXLAN and Geneve.
	Port uint16
	// Local is the source address of the tunnel packets, Remote their
	// destination (for VXLAN, the multicast group); unset when not fixed.
	Local, Remote netip.Addr
	// External: the endpoints are chosen per packet (flow-based, "external"
	// or collect-metadata devices, as Cilium and Calico use).
	External bool
}

// String is the tunnel as Description shows it: "VXLAN vni 42 port 4789
// local 10.212.0.1 remote 10.212.0.2".
func (t *Tunnel) String() string {
	s := t.Encap.String()
	if t.HasID {
		s += fmt.Sprintf(" %s %d", t.Encap.IDName(), t.ID)
	}
	if t.Port != 0 {
		s += fmt.Sprintf(" port %d", t.Port)
	}
	if t.Local.IsValid() {
		s += " local " + t.Local.String()
	}
	if t.Remote.IsValid() {
		s += " remote " + t.Remote.String()
	}
	if t.External {
		s += " external"
	}
	return s
}

// Ref returns a reference to d.
func (d Device) Ref() Ref { return Ref{Key: d.Key, NetNSName: d.NetNSName, Name: d.Name} }

// State is "up", "down" or "no-carrier".
func (d Device) State() string {
	switch {
	case !d.Up:
		return "down"
	case !d.Carrier:
		return "no-carrier"
	}
	return "up"
}

// Description is a one-line summary for humans and pcapng if_description:
// "veth, up, master br0, peer container/eth0, mac aa:…, mtu 1500, 10.0.0.1/24";
// a tunnel device's parameters follow its state ("vxlan, up, VXLAN vni 42
// port 4789 local 10.212.0.1, …").
// Peers in the device's own namespace are shown by name alone.
func (d Device) Description() string {
	parts := []string{d.Kind, d.State()}
	if d.Tunnel != nil {
		parts = append(parts, d.Tunnel.String())
	}
	if d.Master != nil {
		parts = append(parts, "master "+d.relative(*d.Master))
	}
	if d.Peer != nil {
		rel := "peer"
		if d.Kind != "veth" {
			rel = "link"
		}
		parts = append(parts, rel+" "+d.relative(*d.Peer))
	}
	if len(d.MAC) > 0 {
		parts = append(parts, "mac "+d.MAC.String())
	}
	if d.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", d.MTU))
	}
	for _, a := range d.Addrs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ", ")
}

func (d Device) relative(r Ref) string {
	if r.NetNS == d.NetNS {
		if r.Name == "" {
			return fmt.Sprintf("if%d", r.Ifindex)
		}
		return r.Name
	}
	return r.String()
}
