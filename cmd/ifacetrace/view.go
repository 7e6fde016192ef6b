package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// view prints one line per packet (trace) on the terminal: what it is, the
// path of its copies, what changed on the way, and how long it took:
//
//	10:02:03.123456789 ICMP echo request 10.200.1.2 > 10.200.2.2 id 7 seq 1  c1/eth0 out → host/veth-c in → host/br0 in → host/up0 out [SNAT 10.200.1.2→10.200.2.1]  31µs
type view struct {
	w io.Writer
}

func newView(w io.Writer) *view { return &view{w: w} }

func (v *view) trace(tr record.TraceView) {
	ts := time.Unix(0, tr.TimeNanos()).Format("15:04:05.000000000")
	var changes []string
	tr.Changes(func(c []byte) { changes = append(changes, string(c)) })
	joined := ""
	if len(changes) > 0 {
		joined = " [" + strings.Join(changes, ", ") + "]"
	}
	fmt.Fprintf(v.w, "%s %s  %s%s  %s\n", ts, tr.Summary(), tr.Path(), joined, time.Duration(tr.TransitNanos()))
}
