//go:build cgo

package filter

import (
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

// compileDLT compiles expr with libpcap (pcap_open_dead + pcap_compile,
// optimized, netmask unknown) for link type dlt. Its error is libpcap's own.
func compileDLT(dlt, snaplen int, expr string) ([]afpacket.Instruction, error) {
	prog, err := pcap.CompileBPFFilter(layers.LinkType(dlt), snaplen, expr)
	if err != nil {
		return nil, err
	}
	out := make([]afpacket.Instruction, len(prog))
	for i, ins := range prog {
		out[i] = afpacket.Instruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return out, nil
}
