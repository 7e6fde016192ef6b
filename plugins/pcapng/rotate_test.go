package pcapng_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/internal/testtool"
	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/pcapng"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// Rotation by size: every file is complete on its own, with the IDBs of
// the interfaces its frames use (announced in an earlier file or not), and
// keep removes the oldest files.
func TestRotateBySize(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.pcapng")
	p := pcapng.New()
	if _, err := p.Configure(context.Background(), &pb.ConfigureRequest{
		Options: map[string]string{"path": path, "rotate_size": "600", "keep": "3"},
		Run:     runInfo(),
	}); err != nil {
		t.Fatal(err)
	}
	// The fixture's interfaces first, then 12 batches of its packets: each
	// batch is larger than 600 bytes, so each starts a new file.
	batches := []*pb.Batch{{Seq: 1, Interfaces: []*pb.Interface{f.veth, f.tun}}}
	for i := 0; i < 12; i++ {
		var recs []byte
		for _, s := range f.packets {
			recs = record.Append(recs, s.h, s.data)
		}
		batches = append(batches, &pb.Batch{Seq: uint64(i + 2), Records: recs, RecordCount: uint32(len(f.packets))})
	}
	batches = append(batches, &pb.Batch{Seq: 99, Stats: f.stats})
	for _, b := range batches {
		if err := p.Consume(context.Background(), b, &sdk.Reporter{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := p.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(resp.Files) != 3 || len(files) != 3 {
		t.Fatalf("Finish lists %v, directory holds %v; want the 3 newest files", resp.Files, files)
	}
	name := regexp.MustCompile(`^run_\d{5}_\d{14}\.pcapng$`)
	for i, file := range resp.Files {
		if !name.MatchString(filepath.Base(file)) {
			t.Errorf("file name %s is not run_NNNNN_YYYYmmddHHMMSS.pcapng", file)
		}
		frames, names := readNg(t, file)
		// The last file holds only what came after the last rotation.
		if i < 2 && frames != len(f.packets) {
			t.Errorf("%s: %d frames, want %d", file, frames, len(f.packets))
		}
		if !strings.Contains(names, "veth0") || !strings.Contains(names, "ns1/tun0") {
			t.Errorf("%s: interfaces %q, want both", file, names)
		}
		testtool.Need(t, "capinfos")
		testtool.Run(t, "capinfos", file)
	}
}

func readNg(t *testing.T, file string) (frames int, names string) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewNgReader(fh, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for {
		_, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", file, frames, err)
		}
		frames++
	}
	for i := 0; i < r.NInterfaces(); i++ {
		ifc, _ := r.Interface(i)
		names += ifc.Name + " "
	}
	return frames, names
}

func TestRotateOptions(t *testing.T) {
	for _, opts := range []map[string]string{
		{"rotate_size": "-1"}, {"rotate_seconds": "x"}, {"keep": "2"},
	} {
		opts["path"] = filepath.Join(t.TempDir(), "x.pcapng")
		if _, err := pcapng.New().Configure(context.Background(), &pb.ConfigureRequest{Options: opts, Run: runInfo()}); err == nil {
			t.Errorf("options %v: no error", opts)
		}
	}
}
