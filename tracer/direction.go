package tracer

import (
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// DirectionOf maps a frame's packet type to its direction at the device:
// frames this host sent out of the device are "out"; frames that arrived on
// it, addressed to us, to a group, to all or (promiscuous) to others, "in".
func DirectionOf(pkttype uint8) record.Direction {
	switch pkttype {
	case afpacket.PacketOutgoing:
		return record.DirOut
	case afpacket.PacketHost, afpacket.PacketBroadcast, afpacket.PacketMulticast, afpacket.PacketOtherHost:
		return record.DirIn
	}
	return record.DirUnknown
}
