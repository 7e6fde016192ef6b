package fib

import (
	"fmt"
	"net/netip"
	"sort"
)

// Type is a route type, numbered as the kernel's RTN_* constants.
type Type uint8

// Route types. NoRoute is not a kernel type: it is the answer when no rule
// and no table yields a route (the kernel's ENETUNREACH).
const (
	Unspec      Type = 0
	Unicast     Type = 1
	Local       Type = 2
	Broadcast   Type = 3
	Anycast     Type = 4
	Multicast   Type = 5
	Blackhole   Type = 6
	Unreachable Type = 7
	Prohibit    Type = 8
	Throw       Type = 9
	NoRoute     Type = 255
)

var typeNames = map[Type]string{
	Unspec: "unspec", Unicast: "unicast", Local: "local", Broadcast: "broadcast",
	Anycast: "anycast", Multicast: "multicast", Blackhole: "blackhole",
	Unreachable: "unreachable", Prohibit: "prohibit", Throw: "throw", NoRoute: "no-route",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, bool) {
	for t, n := range typeNames {
		if n == s {
			return t, true
		}
	}
	return 0, false
}

// Reject reports whether routes of this type discard the packet.
func (t Type) Reject() bool { return t == Blackhole || t == Unreachable || t == Prohibit }

// Well-known table ids.
const (
	TableDefault uint32 = 253
	TableMain    uint32 = 254
	TableLocal   uint32 = 255
)

// TableName is "local", "main", "default" or the number.
func TableName(id uint32) string {
	switch id {
	case TableLocal:
		return "local"
	case TableMain:
		return "main"
	case TableDefault:
		return "default"
	}
	return fmt.Sprint(id)
}

// Link is a network device as routing sees it.
type Link struct {
	Index    int
	Name     string
	Kind     string // veth, bridge, loopback, vrf, …
	Up       bool   // administratively up (IFF_UP)
	Carrier  bool   // lower layer up
	Loopback bool
	Group    uint32
	Master   int    // ifindex of the bridge, bond or VRF it is enslaved to
	VRFTable uint32 // for a VRF device, its table

	// Per-device sysctls that change a lookup's outcome.
	Forwarding4     bool // net.ipv4.conf.DEV.forwarding
	Forwarding6     bool // net.ipv6.conf.DEV.forwarding
	RPFilter        int  // max(conf.all, conf.DEV).rp_filter: 0 off, 1 strict, 2 loose
	AcceptLocal     bool // net.ipv4.conf.DEV.accept_local
	RouteLocalnet   bool // net.ipv4.conf.DEV.route_localnet
	IgnoreLinkdown4 bool // net.ipv4.conf.DEV.ignore_routes_with_linkdown (or all)
	IgnoreLinkdown6 bool
	SendRedirects   bool // net.ipv4.conf.{all,DEV}.send_redirects
	SourceValidMark bool // net.ipv4.conf.{all,DEV}.src_valid_mark
}

// Addr is an address configured on a device.
type Addr struct {
	Ifindex   int
	Prefix    netip.Prefix // the address and its prefix length
	Scope     uint8        // 0 global, 200 site, 253 link, 254 host
	Secondary bool
}

// Nexthop is one path of a route.
type Nexthop struct {
	Ifindex  int
	Gateway  netip.Addr // invalid when the destination is on link
	Weight   int        // 1 for a single path
	Onlink   bool
	Dead     bool // RTNH_F_DEAD
	Linkdown bool // RTNH_F_LINKDOWN: the device has no carrier
}

// Route is one entry of a routing table.
type Route struct {
	Table    uint32
	Type     Type
	Dst      netip.Prefix // 0.0.0.0/0 or ::/0 for default
	Tos      uint8
	Metric   uint32
	Scope    uint8
	Protocol uint8
	Prefsrc  netip.Addr
	Nexthops []Nexthop // empty for reject and throw routes
}

// Action is what a rule does when it matches, numbered as FR_ACT_*.
type Action uint8

// Rule actions.
const (
	ToTable         Action = 1
	Goto            Action = 2
	Nop             Action = 3
	RuleBlackhole   Action = 6
	RuleUnreachable Action = 7
	RuleProhibit    Action = 8
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Start, End uint16 }

// UIDRange is an inclusive range of user ids.
type UIDRange struct{ Start, End uint32 }

// Rule is one routing policy rule (`ip rule`).
type Rule struct {
	IPv6     bool
	Priority uint32
	Action   Action
	Table    uint32       // for ToTable
	Goto     uint32       // target priority for Goto
	Src, Dst netip.Prefix // invalid: any
	Iif, Oif string       // device names, "" for any
	Mark     uint32
	Mask     uint32 // fwmark MARK/MASK matches (mark ^ MARK) & MASK == 0
	Tos      uint8
	IPProto  uint8
	Sport    *PortRange
	Dport    *PortRange
	UID      *UIDRange
	L3mdev   bool
	Invert   bool

	SuppressPrefixlen int // -1: none
	SuppressIfgroup   int // -1: none

	// Unmodelled names selectors of newer kernels the model does not
	// evaluate (dscp, flowlabel, port masks, tun_id). Such a rule is
	// treated as not matching, and a decision that passes it says so.
	Unmodelled []string
}

// Snapshot is everything routing needs to know about one namespace.
type Snapshot struct {
	Links  []Link
	Addrs  []Addr
	Routes []Route
	Rules  []Rule // in the kernel's order (by priority); both families

	// IPv6Forwarding is net.ipv6.conf.all.forwarding. When it is off the
	// kernel prefers IPv6 gateways whose neighbour entry is reachable,
	// which a snapshot does not know.
	IPv6Forwarding bool
}

// Link returns the device with the index, if any.
func (s *Snapshot) Link(index int) (Link, bool) {
	for _, l := range s.Links {
		if l.Index == index {
			return l, true
		}
	}
	return Link{}, false
}

// LinkByName returns the device with the name, if any.
func (s *Snapshot) LinkByName(name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// LinkName is the device's name, or "ifN" when it is unknown.
func (s *Snapshot) LinkName(index int) string {
	if l, ok := s.Link(index); ok {
		return l.Name
	}
	return fmt.Sprintf("if%d", index)
}

// rules returns one family's rules sorted by priority, keeping the order of
// rules that share a priority.
func (s *Snapshot) rules(v6 bool) []Rule {
	var out []Rule
	for _, r := range s.Rules {
		if r.IPv6 == v6 {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// isLocalAddr reports whether a is configured on any device.
func (s *Snapshot) isLocalAddr(a netip.Addr) bool {
	for _, ad := range s.Addrs {
		if ad.Prefix.Addr() == a {
			return true
		}
	}
	return false
}
