package main

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestOverloadCut: a burst of 9000 datagrams of 8 KB (72 MB) through an
// 8 MiB ring and an 8 MiB spool, faster than the output: ifacetrace
// cuts frames to 320 bytes instead of losing them (--overload cut, the
// default). Its summary counts them; tshark finds the datagrams in the
// file, that many of them cut, the others whole. With --overload drop the
// same burst loses datagrams: the cut is what saved them.
func TestOverloadCut(t *testing.T) {
	needE2E(t)
	const n, size = 9000, 8000
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(i))[:size]
	}
	run := func(t *testing.T, overload string) (cut, whole, summaryCut int) {
		l := lab.NewPair(t)
		l.Exec("a", "ip", "link", "set", "va", "mtu", "9000")
		l.Exec("b", "ip", "link", "set", "vb", "mtu", "9000")
		// The output is a pipe that the test empties at 16 MB/s: a slow
		// disk, which holds up delivery however fast the machine is.
		dir := t.TempDir()
		fifo, out := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "copy.pcapng")
		if err := syscall.Mkfifo(fifo, 0o666); err != nil {
			t.Fatal(err)
		}
		copied := make(chan error, 1)
		go func() { copied <- slowCopy(out, fifo, 16<<20) }()
		it := ifacetrace(t, l, "a", "-i", "va", "-B", "8", "--spool", "8M", "--overload", overload, "-o", fifo)
		// 400 KB a millisecond at most: a reader keeps up (an unpaced
		// sender fills the ring before a fresh process has faulted in its
		// buffers), the output does not.
		for i := 0; i < n; i += 50 {
			l.SendUDP("a", lab.PairB, 9, 0, payloads[i:i+50]...)
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the last block retires
		it.finish(t)
		if err := <-copied; err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(\d+) frames cut to 320 bytes`).FindStringSubmatch(it.stderr.String()); m != nil {
			summaryCut, _ = strconv.Atoi(m[1])
		}
		for _, r := range fields(t, out, "udp.dstport == 9 && !icmp", "frame.cap_len", "frame.len") {
			switch {
			case r[1] != strconv.Itoa(14+20+8+size):
				t.Fatalf("a datagram's frame of %s bytes, want %d", r[1], 14+20+8+size)
			case r[0] == r[1]:
				whole++
			case r[0] == "320":
				cut++
			default:
				t.Fatalf("a frame with %s of its %s bytes", r[0], r[1])
			}
		}
		t.Logf("--overload %s: %d datagrams whole, %d cut; summary:\n%s", overload, whole, cut, it.stderr.String())
		return cut, whole, summaryCut
	}
	// Drop first: what it loses is the yardstick. A busy machine (CI runs
	// packages in parallel) can keep the reader off its CPU for longer
	// than the ring lasts, which no cutting helps: cut must lose at most a
	// quarter of what drop loses, and drop must lose some.
	cut, whole, said := run(t, "drop")
	lostDrop := n - whole
	if cut != 0 || said != 0 || lostDrop < n/100 {
		t.Errorf("--overload drop: %d datagrams whole and %d cut of %d (summary: %d cut); want none cut, and some lost", whole, cut, n, said)
	}
	cut, whole, said = run(t, "cut")
	if lost := n - whole - cut; 4*lost > lostDrop || cut == 0 || whole == 0 || said != cut {
		t.Errorf("--overload cut: %d datagrams whole and %d cut of %d (%d lost without cutting), the summary says %d cut; want at most a quarter as many lost, some of each, the summary right", whole, cut, n, lostDrop, said)
	}
}

// slowCopy copies the named pipe from to the file to at about rate bytes a
// second, until the writer closes it.
func slowCopy(to, from string, rate int) error {
	in, err := os.Open(from) // waits for the writer
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return werr
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
