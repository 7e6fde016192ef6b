package record

// Encap is a tunnel encapsulation in which a packet was seen: the same
// numbers as tracer/decode's Encap, which is this type.
type Encap uint8

// The encapsulations traces name.
const (
	EncapNone   Encap = iota
	EncapVXLAN        // RFC 7348: Ethernet in UDP, 8-byte header with a 24-bit VNI
	EncapGeneve       // RFC 8926: Ethernet (or IP) in UDP, with options
	EncapGRE          // RFC 2784/2890: IP in GRE, with an optional key
	EncapGRETap       // Ethernet in GRE (gretap, ip6gretap)
	EncapIPIP         // IPv4 in IPv4 (ipip)
	Encap6in4         // IPv6 in IPv4 (sit)
	Encap4in6         // IPv4 in IPv6 (ip6tnl)
	Encap6in6         // IPv6 in IPv6 (ip6tnl)
)

// String names the encapsulation as traces and plugins do: "VXLAN",
// "Geneve", "GRE", "GRETAP", "IPIP", "6in4", "4in6", "6in6"; "" for none
// and for numbers this package does not know.
func (e Encap) String() string {
	switch e {
	case EncapVXLAN:
		return "VXLAN"
	case EncapGeneve:
		return "Geneve"
	case EncapGRE:
		return "GRE"
	case EncapGRETap:
		return "GRETAP"
	case EncapIPIP:
		return "IPIP"
	case Encap6in4:
		return "6in4"
	case Encap4in6:
		return "4in6"
	case Encap6in6:
		return "6in6"
	}
	return ""
}

// ParseEncap is the Encap that String names name, EncapNone if none does.
func ParseEncap(name string) Encap {
	for e := EncapVXLAN; e <= Encap6in6; e++ {
		if e.String() == name {
			return e
		}
	}
	return EncapNone
}

// IDName is what the encapsulation calls its tunnel id: "vni" for VXLAN
// and Geneve, "key" for GRE; "" for the others, which have none.
func (e Encap) IDName() string {
	switch e {
	case EncapVXLAN, EncapGeneve:
		return "vni"
	case EncapGRE, EncapGRETap:
		return "key"
	}
	return ""
}

// Tunnel is how one hop saw a packet: inside a tunnel packet, whose
// header it describes. The zero Tunnel means the packet was seen as itself.
type Tunnel struct {
	Encap Encap
	// ID is the VNI or GRE key; HasID says whether the packet had one.
	ID    uint32
	HasID bool
	// Outer is the tunnel packet's addresses: the tunnel's endpoints, and
	// the UDP ports of VXLAN and Geneve. Its Proto is the outer protocol
	// (17, 47, 4 or 41).
	Outer Tuple
	// OuterTTL is the outer TTL or hop limit.
	OuterTTL uint8
}
