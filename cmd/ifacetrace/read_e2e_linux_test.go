//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ifacetrace/ifacetrace/internal/testtool"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestReadMatchesLive: a `tcpdump -i any` capture of the lab, re-read with
// -r (as nobody would need: no privilege), gives the same traces — count,
// hops, order — as a live ifacetrace run on the same traffic; and so does
// re-reading ifacetrace's own pcapng.
func TestReadMatchesLive(t *testing.T) {
	needE2E(t, "tcpdump")
	l := lab.NewNAT(t)
	warmARP(t, l)
	// A directory nobody may use: -r runs without any privilege.
	dir, err := os.MkdirTemp("", "ifacetrace-read-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	live, own, dump := filepath.Join(dir, "live.jsonl"), filepath.Join(dir, "live.pcapng"), filepath.Join(dir, "any.pcap")
	td := tcpdump(t, l.Lab, lab.Host, dump)
	it := ifacetrace(t, l.Lab, lab.Host, "-o", live, "-o", own)
	ping(t, l.Lab, lab.Container, lab.OutsideIP, 5, "0.05")
	sendUDP(t, l.Lab, lab.Container, lab.OutsideIP, 9999, 5)
	time.Sleep(200 * time.Millisecond)
	if code := it.interrupt(t); code != 0 {
		t.Fatalf("ifacetrace: exit %d\nstderr:\n%s", code, it.stderr.String())
	}
	td.interrupt(t)
	for _, f := range []string{own, dump} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// tcpdump names no device: the reader calls them if<ifindex>.
	byIndex := ifindexes(t, l.Lab, lab.Host)
	rename := func(s string) string {
		for idx, name := range byIndex {
			s = strings.ReplaceAll(s, "if"+idx+" ", name+" ")
		}
		return s
	}
	want := labTraces(t, live, nil)
	if len(want) != 15 {
		t.Fatalf("live: %d traces of the lab's pings and datagrams, want 15:\n%s", len(want), strings.Join(want, "\n"))
	}
	for _, tc := range []struct {
		file   string
		rename func(string) string
	}{{dump, rename}, {own, nil}} {
		out := filepath.Join(dir, filepath.Base(tc.file)+".jsonl")
		cmd := exec.Command(ifacetraceBin, "-r", tc.file, "-o", out)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		p := startProc(t, "ifacetrace -r as nobody", cmd, nil)
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("ifacetrace -r %s: exit %d\n%s", tc.file, code, p.stderr.String())
		}
		if diff := cmp.Diff(want, labTraces(t, out, tc.rename)); diff != "" {
			t.Errorf("-r %s: traces differ from the live run (-live +read):\n%s", filepath.Base(tc.file), diff)
		}
	}

	// A filter applies to -r as to a live capture.
	out := filepath.Join(dir, "icmp.jsonl")
	p := startProc(t, "ifacetrace -r icmp", exec.Command(ifacetraceBin, "-r", own, "-o", out, "icmp[icmptype] == icmp-echo"), nil)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("ifacetrace -r with a filter: exit %d\n%s", code, p.stderr.String())
	}
	got := labTraces(t, out, nil)
	if len(got) != 5 {
		t.Errorf("-r with filter icmp-echo: %d traces, want the 5 echo requests:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, tr := range got {
		if !strings.HasPrefix(tr, "ICMP echo request") {
			t.Errorf("-r with filter icmp-echo kept %s", tr)
		}
	}
}

// labTraces lists the traces of the lab's pings and datagrams in a JSON
// lines file: summary and path, in order.
func labTraces(t *testing.T, file string, rename func(string) string) []string {
	t.Helper()
	traces, _ := readJSONL(t, file)
	var out []string
	for _, tr := range traces {
		if !strings.Contains(tr.Summary, "ICMP echo") && !strings.Contains(tr.Summary, ":9999") {
			continue
		}
		path := tr.Path
		if rename != nil {
			path = strings.TrimSuffix(rename(path+" "), " ")
		}
		out = append(out, tr.Summary+" | "+path+" | "+strings.Join(tr.Changes, ","))
	}
	return out
}

// TestReadWhileOutputsStart: -r correlates the file while its plugins
// start, queues what it emits meanwhile, and its results do not depend on
// when they are ready. A pcapng output that is a FIFO no one reads for a
// second holds the run back (the plugin's writes block; os.Create opens a
// FIFO read-write, so its start does not wait, and no test here forces a
// slow start: that path runs whenever the plugins start slower than the
// file is read). Everything arrives, each of 120 000 datagrams (24 MB of
// records) one trace of three hops, as tshark and the JSON lines count
// them; and the flows are those of a run with one output: the datagrams
// 40 s apart in the middle of the file are two flows, the first expiring
// (30 s) in between, and none expires at the end for the time since the
// file was written. An output that cannot start fails the run.
func TestReadWhileOutputsStart(t *testing.T) {
	needE2E(t, "capinfos")
	dir := t.TempDir()
	in := filepath.Join(dir, "any.pcap")
	const packets = 120_000
	writeSyntheticAnyGap(t, in, packets, packets/4, 40*time.Second)

	ref := filepath.Join(dir, "ref.jsonl")
	p := startProc(t, "ifacetrace -r", exec.Command(ifacetraceBin, "-r", in, "-o", ref), nil)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("ifacetrace -r: exit %d\n%s", code, p.stderr.String())
	}
	_, wantFlows := readJSONL(t, ref)
	if len(wantFlows) != 2 {
		t.Fatalf("%d flows without waiting for an output, want 2 (the gap expires the first): %+v", len(wantFlows), wantFlows)
	}

	jl, fifo, png := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "fifo.pcapng"), filepath.Join(dir, "out.pcapng")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	p = startProc(t, "ifacetrace -r into a FIFO", exec.Command(ifacetraceBin, "-r", in, "-o", jl, "-o", fifo), nil)
	time.Sleep(time.Second)
	select {
	case <-p.done:
		t.Fatalf("ifacetrace -r ended before its FIFO output was opened:\n%s", p.stderr.String())
	default:
	}
	copied := make(chan error, 1)
	go func() {
		r, err := os.Open(fifo)
		if err == nil {
			var w *os.File
			if w, err = os.Create(png); err == nil {
				_, err = io.Copy(w, r)
				w.Close()
			}
			r.Close()
		}
		copied <- err
	}()
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("ifacetrace -r: exit %d\n%s", code, p.stderr.String())
	}
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	traces, flows := readJSONL(t, jl)
	threeHops := 0
	for _, tr := range traces {
		if len(tr.Hops) == 3 {
			threeHops++
		}
	}
	if len(traces) != packets || threeHops != packets {
		t.Errorf("JSON lines: %d traces, %d of three hops; want %d of three hops", len(traces), threeHops, packets)
	}
	if diff := cmp.Diff(wantFlows, flows); diff != "" {
		t.Errorf("flows differ from the run without a wait (-without +with):\n%s", diff)
	}
	if got := testtool.Run(t, "capinfos", "-M", "-c", "-T", "-r", png); !strings.Contains(got, fmt.Sprintf("\t%d", 3*packets)) {
		t.Errorf("capinfos of the pcapng: %q, want %d packets", got, 3*packets)
	}

	bad := filepath.Join(dir, "no such directory", "out.pcapng")
	p = startProc(t, "ifacetrace -r into nowhere", exec.Command(ifacetraceBin, "-r", in, "-o", bad), nil)
	if code := p.wait(t, 30*time.Second); code == 0 || !strings.Contains(p.stderr.String(), "no such directory") {
		t.Errorf("-o %s: exit %d, want a failure naming the file:\n%s", bad, code, p.stderr.String())
	}
}
