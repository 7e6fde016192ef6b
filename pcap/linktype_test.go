package pcap

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestLinkTypeForHAType(t *testing.T) {
	tests := []struct {
		name   string
		hatype uint16
		want   layers.LinkType
		ok     bool
	}{
		{"ETHER", 1, 1, true},
		{"LOOPBACK", 772, 1, true},
		{"METRICOM", 23, 1, true},
		{"NONE (tun, wireguard)", 65534, 101, true},
		{"TUNNEL (ipip)", 768, 101, true},
		{"TUNNEL6 (ip6tnl)", 769, 101, true},
		{"SIT", 776, 101, true},
		{"IPGRE", 778, 101, true},
		{"IP6GRE", 823, 101, true},
		{"PPP", 512, 101, true},
		{"RAWIP", 519, 101, true},
		{"SLIP", 256, 101, true},
		{"RAWHDLC", 518, 101, true},
		{"IEEE80211", 801, 105, true},
		{"IEEE80211_PRISM", 802, 119, true},
		{"IEEE80211_RADIOTAP", 803, 127, true},
		{"CAN", 280, 227, true},
		{"NETLINK", 824, 253, true},
		{"VSOCKMON", 826, 271, true},
		{"IEEE802154", 804, 230, true},
		{"IEEE802", 6, 6, true},
		{"IEEE802_TR", 800, 6, true},
		{"FDDI", 774, 10, true},
		{"CISCO", 513, 104, true},
		{"FCFABRIC", 787, 224, true},
		{"EETHER", 2, 2, true},
		{"AX25", 3, 202, true},
		{"ARCNET", 7, 129, true},
		{"FRAD", 770, 107, true},
		{"LOCALTLK", 773, 114, true},
		{"IP over FC (RFC 4338)", 18, 122, true},
		// libpcap captures these in cooked mode; so does Writer, with SLL2.
		{"NETROM", 0, 0, false},
		{"ATM", 19, 0, false},
		{"IRDA", 783, 0, false},
		{"IEEE802154_MONITOR", 805, 0, false},
		{"6LOWPAN", 825, 0, false},
		{"PIMREG", 779, 0, false},
		{"VOID", 65535, 0, false},
	}
	for _, tt := range tests {
		got, ok := LinkTypeForHAType(tt.hatype)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LinkTypeForHAType(%d) [%s] = %d, %v; want %d, %v", tt.hatype, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFramingFor(t *testing.T) {
	tests := []struct {
		hatype uint16
		lt     layers.LinkType
		fr     framing
		extra  uint32
	}{
		{1, layers.LinkTypeEthernet, framingEthernet, 4},
		{772, layers.LinkTypeEthernet, framingEthernet, 4},
		{65534, layers.LinkTypeRaw, framingAsIs, 0},
		{65535, layers.LinkTypeLinuxSLL2, framingSLL2, 24},
		{824, LinkTypeNetlink, framingNetlink, 16},
		{280, LinkTypeCANSocketCAN, framingCAN, 0},
		{803, layers.LinkTypeIEEE80211Radio, framingAsIs, 0},
	}
	for _, tt := range tests {
		lt, fr, extra := framingFor(tt.hatype)
		if lt != tt.lt || fr != tt.fr || extra != tt.extra {
			t.Errorf("framingFor(%d) = %d, %d, %d; want %d, %d, %d", tt.hatype, lt, fr, extra, tt.lt, tt.fr, tt.extra)
		}
	}
}
