package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
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
	for _, f := range []string{"interface", "promisc", "netns", "buffer-size", "duration", "rotate-seconds", "spool", "spool-dir", "overload", "hold", "normal-priority", "no-conntrack"} {
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
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	// The outputs start while the file is read and correlated: starting is
	// a process per plugin, each opening its file, and truncating a large
	// old one alone takes a few hundred milliseconds. What is emitted
	// before they are ready waits in a queue.
	started := make(chan startedOutputs, 1)
	go func() {
		o, err := startOutputs(c.Context, specs, runInfo(snap, expr, start), ui)
		started <- startedOutputs{o, err}
	}()
	queue := &batchQueue{}
	pipe := newPipeline(ccfg, fcfg, queue, netns.ID{})
	pipe.corr.AddSource(0, 0)

	// Reading and converting the file runs on a goroutine of its own, a
	// chunk ahead of correlation: on its own it takes a fifth of the work.
	chunks := make(chan readChunk, 2)
	free := make(chan []byte, 3)
	var fs fileStats
	go func() {
		defer close(chunks)
		fs = readChunks(ctx, fr, c.Int("count"), match, chunks, free)
	}()
	var (
		out     *outputs
		readErr error
		early   int // record bytes correlated so far: bounds the wait for the outputs
	)
	ready := func(o *outputs) {
		out = o
		queue.replay(out.sink)
		pipe.out = out.sink
	}
	for ch := range chunks {
		for _, fi := range ch.fresh {
			pipe.announce(host.FileInterface(fi))
		}
		// The buffer becomes the correlator's, and one it is done with
		// goes back to the reader.
		spare := ch.recs
		if readErr == nil && ch.n > 0 {
			early += len(ch.recs)
			if err := pipe.corr.AddOwned(0, ch.recs, ch.last); err != nil {
				readErr = err
				cancel() // the rest is read no further
			} else {
				pipe.corr.Advance(ch.last)
			}
			spare = pipe.corr.Spare()
		}
		if out == nil {
			// Going on without them costs the memory of the batches
			// queued meanwhile: at most about a quarter of what the
			// correlator may hold.
			o, ok, err := waitOutputs(started, early < pipe.corr.Config().MaxBytes/4)
			if err != nil {
				cancel()
				for range chunks {
				}
				return err
			}
			if ok {
				ready(o)
			}
		}
		if readErr == nil {
			pipe.emit(ch.last, false)
		}
		recycle(free, spare)
	}
	if out == nil {
		o, _, err := waitOutputs(started, false)
		if err != nil {
			return err
		}
		ready(o)
	}
	if readErr == nil {
		readErr = fs.err
	}
	pipe.fileEnd = fs.last
	fs.stats.Devices = fs.counts
	st := statsToPB(fs.stats, time.Unix(0, fs.first), time.Unix(0, fs.last))
	if errors.Is(readErr, pcap.ErrTruncated) {
		fmt.Fprintf(ui.stderr, "ifacetrace: warning: %v\n", readErr)
		readErr = nil
	}
	if fs.filtered > 0 {
		fmt.Fprintf(ui.stderr, "ifacetrace: the filter left out %d packets\n", fs.filtered)
	}
	return out.finish(pipe, fs.stats, st, start, readErr)
}

// batchQueue keeps the batches emitted before the outputs were ready, so
// that correlation, flow expiry included, goes exactly as it would with
// the outputs there from the start.
type batchQueue struct{ batches []queuedBatch }

type queuedBatch struct {
	b            *pb.Batch
	recs, traces []byte
	ntraces      int
}

func (q *batchQueue) send(b *pb.Batch, recs, traces []byte, ntraces int) ([]byte, []byte) {
	q.batches = append(q.batches, queuedBatch{b, recs, traces, ntraces})
	return nil, nil
}

// replay sends what was queued, in order.
func (q *batchQueue) replay(to sender) {
	for _, qb := range q.batches {
		to.send(qb.b, qb.recs, qb.traces, qb.ntraces)
	}
	q.batches = nil
}

// startedOutputs is what startOutputs returned.
type startedOutputs struct {
	out *outputs
	err error
}

// waitOutputs takes the started outputs, or reports that they are not
// ready yet if it may go on without them.
func waitOutputs(started <-chan startedOutputs, mayGoOn bool) (*outputs, bool, error) {
	if mayGoOn {
		select {
		case r := <-started:
			return r.out, true, r.err
		default:
			return nil, false, nil
		}
	}
	r := <-started
	return r.out, true, r.err
}

// recycle offers a buffer, if any, back to the reader.
func recycle(free chan<- []byte, recs []byte) {
	if recs == nil {
		return
	}
	select {
	case free <- recs[:0]:
	default:
	}
}

// readChunk is a run of a file's packets as records, with the devices
// first seen in it.
type readChunk struct {
	recs  []byte
	n     int
	last  int64 // the latest timestamp so far
	fresh []pcap.FileInterface
}

// fileStats is what reading a file counted.
type fileStats struct {
	stats       tracer.Stats
	counts      []tracer.DeviceStats
	first, last int64
	filtered    uint64
	err         error
}

// readChunks reads fr into chunks of readBatch records until the file, the
// limit (0: none) or ctx ends, leaving out what match refuses. Buffers come
// from free when there are any.
func readChunks(ctx context.Context, fr *pcap.FileReader, limit int, match func(uint16, []byte) bool, chunks chan<- readChunk, free <-chan []byte) fileStats {
	var (
		fs  fileStats
		h   record.Header
		cur readChunk
	)
	send := func() {
		if cur.n > 0 || len(cur.fresh) > 0 {
			cur.last = fs.last
			chunks <- cur
		}
		cur = readChunk{}
		select {
		case cur.recs = <-free:
		default:
		}
	}
	for limit == 0 || int(fs.stats.Sightings) < limit {
		if err := ctx.Err(); err != nil {
			break
		}
		data, fresh, err := fr.Next(&h)
		for _, fi := range fresh {
			cur.fresh = append(cur.fresh, fi)
			d := tracer.DeviceStats{Device: tracer.Device{ID: fi.ID, Device: topology.Device{Name: fi.Name}}}
			for int(fi.ID) >= len(fs.counts) {
				fs.counts = append(fs.counts, tracer.DeviceStats{})
			}
			fs.counts[fi.ID] = d
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fs.err = err
			}
			break
		}
		if match != nil && !match(h.HAType, data) {
			fs.filtered++
			continue
		}
		if fs.first == 0 {
			fs.first = h.TimeNanos
		}
		fs.last = max(fs.last, h.TimeNanos)
		fs.stats.Sightings++
		if h.Dir == record.DirOut {
			fs.counts[h.Iface].Out++
		} else {
			fs.counts[h.Iface].In++
		}
		cur.recs = record.Append(cur.recs, h, data)
		if cur.n++; cur.n == readBatch {
			send()
		}
	}
	send()
	return fs
}
