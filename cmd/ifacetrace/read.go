package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/correlate"
	"github.com/ifacetrace/ifacetrace/tracer/flow"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// readBatch is how many packets of a file go through the pipeline at once.
const readBatch = 4096

// readAction correlates the packets of a capture file (-r) exactly as a
// live capture's: same pipeline, same outputs, no privilege. The file's
// timestamps drive the correlation windows, so nothing is late or dropped.
func readAction(c *cli.Context, file string, specs []host.Spec, ccfg correlate.Config, fcfg flow.Config, expr string, match func(uint16, []byte) bool) error {
	for _, f := range []string{"interface", "promisc", "netns", "buffer-size", "duration", "rotate-seconds", "spool", "spool-dir", "normal-priority", "no-conntrack"} {
		if c.IsSet(f) {
			return usagef("--%s does not apply to -r (reading a file)", f)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	defer f.Close()
	fr, err := pcap.OpenFile(bufio.NewReaderSize(f, 1<<20), file)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		fmt.Fprintf(c.App.Writer, "read: %s\n", file)
		for _, o := range specs {
			fmt.Fprintf(c.App.Writer, "output: plugin %s %v\n", o.Name, o.Options)
		}
		return nil
	}
	start := time.Now()
	ui := &terminal{stdout: bufio.NewWriter(c.App.Writer), stderr: c.App.ErrWriter}
	snap := c.Int("snaplen")
	if snap == 0 {
		snap = 262144
	}
	out, err := startOutputs(c.Context, specs, runInfo(snap, expr, start), ui)
	if err != nil {
		return err
	}
	pipe := newPipeline(ccfg, fcfg, out.sink, netns.ID{})
	pipe.corr.AddSource(0, 0)

	var (
		stats    tracer.Stats
		counts   []tracer.DeviceStats
		buf      []byte
		n        int
		first    int64
		last     int64
		h        record.Header
		readErr  error
		limit    = c.Int("count")
		filtered uint64
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := pipe.corr.Add(0, buf, last); err != nil {
			return err
		}
		pipe.corr.Advance(last)
		pipe.emit(last, false)
		buf, n = buf[:0], 0
		return nil
	}
	for limit == 0 || int(stats.Sightings) < limit {
		if err := c.Context.Err(); err != nil {
			break
		}
		data, fresh, err := fr.Next(&h)
		for _, fi := range fresh {
			pipe.announce(host.FileInterface(fi))
			d := tracer.DeviceStats{Device: tracer.Device{ID: fi.ID, Device: topology.Device{Name: fi.Name}}}
			for int(fi.ID) >= len(counts) {
				counts = append(counts, tracer.DeviceStats{})
			}
			counts[fi.ID] = d
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if match != nil && !match(h.HAType, data) {
			filtered++
			continue
		}
		if first == 0 {
			first = h.TimeNanos
		}
		last = max(last, h.TimeNanos)
		stats.Sightings++
		if h.Dir == record.DirOut {
			counts[h.Iface].Out++
		} else {
			counts[h.Iface].In++
		}
		buf = record.Append(buf, h, data)
		if n++; n == readBatch {
			if err := flush(); err != nil {
				readErr = err
				break
			}
		}
	}
	if err := flush(); err != nil && readErr == nil {
		readErr = err
	}
	stats.Devices = counts
	st := statsToPB(stats, time.Unix(0, first), time.Unix(0, last))
	if errors.Is(readErr, pcap.ErrTruncated) {
		fmt.Fprintf(ui.stderr, "ifacetrace: warning: %v\n", readErr)
		readErr = nil
	}
	if filtered > 0 {
		fmt.Fprintf(ui.stderr, "ifacetrace: the filter left out %d packets\n", filtered)
	}
	return out.finish(pipe, stats, st, start, readErr)
}
