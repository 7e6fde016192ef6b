package host_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// BenchmarkStream measures the plugin stream: batches of packed records
// from ifacetrace to a real plugin process (the test plugin, lossless, which
// decodes every record), for several batch sizes. It reports packets/s and
// CPU per packet of both processes.
func BenchmarkStream(b *testing.B) {
	for _, perBatch := range []int{64, 1024, 8192} {
		b.Run(fmt.Sprintf("batch=%d/size=100", perBatch), func(b *testing.B) {
			u := quiet{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p, err := host.Start(ctx, host.Spec{Name: "bench", Cmd: []string{testPlugin, "-lossless"}, Options: map[string]string{"mode": "count"}}, runInfo(), u)
			if err != nil {
				b.Fatal(err)
			}
			batches := make([]*pb.Batch, 16)
			for i := range batches {
				batches[i] = batch(uint64(i+1), perBatch, 100)
			}
			n := (b.N + perBatch - 1) / perBatch
			selfCPU := cpu()
			b.ResetTimer()
			for i := 0; i < n; i++ {
				p.Send(batches[i%len(batches)])
			}
			res := p.Close(ctx)
			b.StopTimer()
			if res.Err != nil {
				b.Fatal(res.Err)
			}
			packets := float64(n * perBatch)
			b.ReportMetric(packets/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(cpu()-selfCPU)/packets, "host-cpu-ns/packet")
			// The plugin's whole life, start-up included: an upper bound.
			b.ReportMetric(float64(res.Finish.GetCounters()["cpu_ns"])/packets, "plugin-cpu-ns/packet")
		})
	}
}

// quiet is a UI that drops what the plugin says.
type quiet struct{}

func (quiet) Line(string, string) {}
func (quiet) Warn(string, string) {}

// cpu is this process's user and system CPU time in ns.
func cpu() uint64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return uint64(ru.Utime.Nano() + ru.Stime.Nano())
}
