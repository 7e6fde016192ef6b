//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ifacetrace/ifacetrace/internal/testtool"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestRotation: --rotate-seconds starts a new file every second, each
// complete on its own (tshark and capinfos read it, with the IDBs of the
// devices whose frames it holds); --keep leaves only the newest.
func TestRotation(t *testing.T) {
	needE2E(t, "capinfos")
	l := lab.NewNAT(t)
	warmARP(t, l)
	dir := t.TempDir()
	it := ifacetrace(t, l.Lab, lab.Host, "--rotate-seconds", "1", "--keep", "3", "-o", filepath.Join(dir, "r.pcapng"))
	// About 4.5 s of pings: 5 files are started, the 2 oldest removed.
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 45, "0.1")
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\nstderr:\n%s", code, it.stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "r_*.pcapng"))
	if len(files) != 3 {
		t.Fatalf("files %v, want the 3 newest (--keep 3)\nstderr:\n%s", files, it.stderr.String())
	}
	if !strings.Contains(it.stderr.String(), "wrote 3 files") {
		t.Errorf("summary does not list the 3 files:\n%s", it.stderr.String())
	}
	total := 0
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
			continue
		}
		testtool.Run(t, "capinfos", f)
		n := 0
		for _, r := range fields(t, f, "icmp", "frame.interface_name") {
			if r[0] == "" {
				t.Errorf("%s: a frame without its interface's name", f)
			}
			n++
		}
		total += n
	}
	// 3 of about 4.5 seconds of 10 pings a second, 3 devices, both ways.
	if total < 3*10*6*2/3 {
		t.Errorf("%d ICMP frames in the 3 files kept, want at least %d", total, 3*10*6*2/3)
	}
}
