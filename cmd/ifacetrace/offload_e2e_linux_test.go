//go:build linux

package main

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// TestSegmentedOnUplink: the container's veth sends TCP super-packets of up
// to 64 KB (TSO on, the veth default); the host's uplink has TSO and GSO
// off, so the kernel cuts them into MSS-sized segments there. Every
// segment on the uplink and on the outside's eth0 belongs to the trace of
// its super-packet ("segmented into N"), and in each such trace, as
// tshark reads the pcapng file, the TCP payload bytes of the segments on
// both sides add up to the super-packet's. The super-packets carry
// epb_flags bit 11 (TCP segmentation offloaded).
func TestSegmentedOnUplink(t *testing.T) {
	needE2E(t, "ethtool")
	l := lab.NewNAT(t)
	l.Exec(lab.Host, "ethtool", "-K", "up0", "tso", "off", "gso", "off")
	l.Exec(lab.Outside, "ethtool", "-K", "eth0", "gro", "off")
	warmARP(t, l)
	dir := t.TempDir()
	pc, js := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.jsonl")
	it := captureNAT(t, l, "-o", pc, "-o", js)
	tcpStream(t, l, "tcp4", lab.OutsideIP+":8080", 4<<20, 64<<10)
	time.Sleep(200 * time.Millisecond)
	it.finish(t)

	c, o := l.NS(lab.Container)+"/eth0", l.NS(lab.Outside)+"/eth0"
	traces, _ := readJSONL(t, js)
	segmented, orphans := 0, 0
	for _, tr := range traces {
		h := tr.Hops[0]
		if h.Proto != "tcp" || h.Dport != 8080 {
			continue
		}
		switch {
		case h.Device != c:
			orphans++ // a piece of the stream whose trace does not start in the container
			if orphans < 5 {
				t.Errorf("trace %d (%s) starts at %s: %s", tr.ID, tr.Summary, h.Device, tr.Path)
			}
		case len(tr.Changes) > 0 && strings.HasPrefix(tr.Changes[len(tr.Changes)-1], "segmented into "):
			segmented++
			want := c + " out → veth-c in → br0 in → up0 out ×"
			if !strings.HasPrefix(tr.Path, want) || !strings.Contains(tr.Path, o+" in ×") {
				t.Errorf("segmented trace %d: path %q, want %q… %s in ×N", tr.ID, tr.Path, want, o)
			}
		}
	}
	if segmented == 0 || orphans > 0 {
		t.Fatalf("%d segmented traces, %d traces of the stream starting outside the container; want some and none", segmented, orphans)
	}

	// tshark's view: per packet id, the super-packet's TCP payload on the
	// container's eth0 and the sum of its segments' on up0 and beyond.
	type sums struct{ whole, up, out, n, flagged int }
	byID := map[string]*sums{}
	for _, r := range fields(t, pc, "tcp.dstport == 8080 && tcp.len > 0", "frame.packet_id", "frame.interface_name", "tcp.len", "frame.packet_flags") {
		s := byID[r[0]]
		if s == nil {
			s = &sums{}
			byID[r[0]] = s
		}
		n, _ := strconv.Atoi(r[2])
		flags, _ := strconv.ParseUint(r[3], 0, 32)
		switch r[1] {
		case c:
			s.whole += n
			if flags&pcap.EPBTCPSegmentation != 0 {
				s.flagged++
			}
		case "up0":
			s.up += n
			s.n++
		case o:
			s.out += n
		}
	}
	checked := 0
	for id, s := range byID {
		if s.n < 2 {
			continue
		}
		checked++
		if s.up != s.whole || s.out != s.whole || s.flagged != 1 {
			t.Errorf("packet id %s: %d payload bytes in the container, %d in %d segments on up0, %d at the outside; GSO flag on %d super-packets (want 1)",
				id, s.whole, s.up, s.n, s.out, s.flagged)
		}
	}
	t.Logf("%d segmented traces; %d checked byte for byte in tshark", segmented, checked)
	if checked != segmented {
		t.Errorf("tshark sees %d packet ids with several segments on up0, JSON %d segmented traces", checked, segmented)
	}
}

// TestUDPGSOSegmentedOnUplink: the container sends UDP datagrams of 3500
// bytes with UDP_SEGMENT 1000 (one datagram to the stack, four on the
// wire); the uplink has tx-udp-segmentation off, so the kernel cuts them
// there. Each is one trace, "segmented into 4", and in tshark the pieces'
// payload on the uplink and at the outside adds up to the datagram's.
func TestUDPGSOSegmentedOnUplink(t *testing.T) {
	needE2E(t, "ethtool")
	l := lab.NewNAT(t)
	l.Exec(lab.Host, "ethtool", "-K", "up0", "tx-udp-segmentation", "off")
	warmARP(t, l)
	dir := t.TempDir()
	pc, js := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.jsonl")
	it := captureNAT(t, l, "-o", pc, "-o", js)
	const sent = 20
	err := netns.Do(l.Path(lab.Container), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, 1000); err != nil {
			return err
		}
		to := &unix.SockaddrInet4{Port: 4433, Addr: [4]byte(net.ParseIP(lab.OutsideIP).To4())}
		for i := range sent {
			payload := make([]byte, 3500)
			for k := range payload {
				payload[k] = byte(i*7 + k*13)
			}
			if err := unix.Sendto(fd, payload, 0, to); err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send with UDP_SEGMENT: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	it.finish(t)

	c, o := l.NS(lab.Container)+"/eth0", l.NS(lab.Outside)+"/eth0"
	want := c + " out → veth-c in → br0 in → up0 out ×4 → " + o + " in ×4"
	traces, _ := readJSONL(t, js)
	n := 0
	for _, tr := range traces {
		if h := tr.Hops[0]; h.Proto != "udp" || h.Dport != 4433 {
			continue
		}
		n++
		if tr.Path != want || !slices.Contains(tr.Changes, "segmented into 4") {
			t.Errorf("trace %d (%s): path %q changes %q, want %q and segmented into 4", tr.ID, tr.Summary, tr.Path, tr.Changes, want)
		}
	}
	if n != sent {
		t.Errorf("%d traces of the datagrams, want %d", n, sent)
	}
	type sums struct{ whole, up, out int }
	byID := map[string]*sums{}
	for _, r := range fields(t, pc, "udp.dstport == 4433 && !icmp", "frame.packet_id", "frame.interface_name", "udp.length") {
		s := byID[r[0]]
		if s == nil {
			s = &sums{}
			byID[r[0]] = s
		}
		n, _ := strconv.Atoi(r[2])
		switch r[1] {
		case c:
			s.whole += n - 8
		case "up0":
			s.up += n - 8
		case o:
			s.out += n - 8
		}
	}
	if len(byID) != sent {
		t.Errorf("%d packet ids among the datagrams in tshark, want %d", len(byID), sent)
	}
	for id, s := range byID {
		if s.whole != 3500 || s.up != 3500 || s.out != 3500 {
			t.Errorf("packet id %s: payload %d in the container, %d on up0, %d at the outside; want 3500 each", id, s.whole, s.up, s.out)
		}
	}
}
