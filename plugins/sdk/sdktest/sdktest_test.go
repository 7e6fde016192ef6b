package sdktest_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonout "github.com/ifacetrace/ifacetrace/plugins/json"
	"github.com/ifacetrace/ifacetrace/plugins/pcapng"
	"github.com/ifacetrace/ifacetrace/plugins/sdk/sdktest"
)

// The harness drives the built-in plugins as ifacetrace would: the JSON
// plugin on the synthetic run, the pcapng plugin on a tcpdump capture.
func TestRunBuiltins(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.jsonl")
	res, err := sdktest.Run(t, jsonout.New(), map[string]string{"path": out}, nil, sdktest.Synthetic(time.Now())...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.GetName() != "json" || res.Consumed != 3 || res.Finish.GetCounters()["traces"] != 1 || res.Finish.GetCounters()["flows"] != 1 {
		t.Errorf("json: info %v, consumed %d, finish %v", res.Info, res.Consumed, res.Finish)
	}

	batches, err := sdktest.FromFile("../../../pcap/testdata/tcpdump-any-sll2.pcap", 3)
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	for _, b := range batches {
		n += b.RecordCount
	}
	if n == 0 || len(batches[0].Interfaces) == 0 {
		t.Fatalf("FromFile: %d records, first batch %v", n, batches[0])
	}
	out = filepath.Join(t.TempDir(), "x.pcapng")
	res, err = sdktest.Run(t, pcapng.New(), map[string]string{"path": out}, nil, batches...)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Finish.GetCounters()["frames"]; got != uint64(n) {
		t.Errorf("pcapng wrote %d frames, the file has %d", got, n)
	}

	// A plugin's error comes back as the step's error.
	_, err = sdktest.Run(t, pcapng.New(), map[string]string{}, nil)
	if err == nil || !strings.Contains(err.Error(), "path is required") {
		t.Errorf("missing path: err = %v", err)
	}
}
