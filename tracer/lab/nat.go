package lab

import (
	"os/exec"
	"testing"
)

// Addresses of the NAT lab.
const (
	ContainerIP  = "10.200.1.2"
	BridgeIP     = "10.200.1.1"
	UplinkIP     = "10.200.2.1"
	OutsideIP    = "10.200.2.2"
	ContainerIP6 = "fd00:200:1::2"
	BridgeIP6    = "fd00:200:1::1"
	UplinkIP6    = "fd00:200:2::1"
	OutsideIP6   = "fd00:200:2::2"
)

// NAT is the lab of the seed puzzle, a container behind a bridge and a
// masquerading host:
//
//	container: eth0 10.200.1.2 ─veth─ host: veth-c ─ br0 10.200.1.1
//	host: up0 10.200.2.1 (MASQUERADE for 10.200.1.0/24) ─veth─ outside: eth0 10.200.2.2
//
// IPv6 mirrors it with fd00:200:1::/64 and fd00:200:2::/64. The outside has no
// route back to the container's network, so replies reach it only through NAT.
type NAT struct {
	*Lab
}

// Roles of the NAT lab's namespaces.
const (
	Container = "container"
	Host      = "host"
	Outside   = "outside"
)

// NewNAT builds the NAT lab; it needs ip, iptables and sysctl.
func NewNAT(t testing.TB) *NAT {
	t.Helper()
	Require(t, "iptables", "sysctl")
	l := New(t)
	for _, r := range []string{Container, Host, Outside} {
		l.AddNS(r)
	}
	l.IP("-n", l.NS(Host), "link", "add", "br0", "type", "bridge")
	l.IP("-n", l.NS(Host), "link", "set", "br0", "up")
	l.Veth(Host, "veth-c", Container, "eth0")
	l.IP("-n", l.NS(Host), "link", "set", "veth-c", "master", "br0")
	l.Veth(Host, "up0", Outside, "eth0")

	l.Addr(Container, "eth0", ContainerIP+"/24")
	l.Addr(Host, "br0", BridgeIP+"/24")
	l.Addr(Host, "up0", UplinkIP+"/24")
	l.Addr(Outside, "eth0", OutsideIP+"/24")
	l.Addr(Container, "eth0", ContainerIP6+"/64")
	l.Addr(Host, "br0", BridgeIP6+"/64")
	l.Addr(Host, "up0", UplinkIP6+"/64")
	l.Addr(Outside, "eth0", OutsideIP6+"/64")
	l.IP("-n", l.NS(Container), "route", "add", "default", "via", BridgeIP)
	l.IP("-n", l.NS(Container), "-6", "route", "add", "default", "via", BridgeIP6)

	l.Sysctl(Host, "net.ipv4.ip_forward", "1")
	l.Sysctl(Host, "net.ipv6.conf.all.forwarding", "1")
	l.Exec(Host, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.200.1.0/24", "-o", "up0", "-j", "MASQUERADE")
	if _, err := exec.LookPath("ip6tables"); err == nil {
		l.Exec(Host, "ip6tables", "-t", "nat", "-A", "POSTROUTING", "-s", "fd00:200:1::/64", "-o", "up0", "-j", "MASQUERADE")
	}
	return &NAT{l}
}
