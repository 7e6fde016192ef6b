package pcap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ifacetrace/ifacetrace/internal/testtool"

	"github.com/google/go-cmp/cmp"
)

func writeFixtureFile(t *testing.T) (*fixture, string) {
	f := newFixture(t)
	var buf bytes.Buffer
	f.write(t, &buf)
	file := filepath.Join(t.TempDir(), "fixture.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, file
}

// TestTshark reads a written file with Wireshark's own reader and dissectors.
func TestTshark(t *testing.T) {
	tshark := testtool.Need(t, "tshark")
	f, file := writeFixtureFile(t)

	fields := []string{
		"frame.interface_name", "frame.packet_flags_direction", "frame.packet_flags_reception_type",
		"frame.packet_id", "frame.drop_count", "frame.comment",
		"frame.cap_len", "frame.len", "frame.time_epoch", "frame.protocols",
		"vlan.id", "ieee8021ad.id", "can.id", "sll.ifindex",
	}
	args := []string{"-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"}
	for _, fld := range fields {
		args = append(args, "-e", fld)
	}
	lines := strings.Split(strings.TrimSuffix(testtool.Run(t, tshark, args...), "\n"), "\n")
	if len(lines) != len(f.packets) {
		t.Fatalf("tshark printed %d packets, want %d:\n%s", len(lines), len(f.packets), strings.Join(lines, "\n"))
	}
	for i, p := range f.packets {
		got := strings.Split(lines[i], "\t")
		if len(got) != len(fields) {
			t.Fatalf("packet %d: %d fields, want %d: %q", i, len(got), len(fields), lines[i])
		}
		dir := map[uint8]string{0: "0x00000000", 1: "0x00000001", 2: "0x00000002"}[uint8(p.Dir)]
		reception := "0"
		if p.Dir != 2 {
			reception = map[uint8]string{PacketHost: "1", PacketMulticast: "2", PacketBroadcast: "3", PacketOtherHost: "4"}[p.PktType]
		}
		opt := func(has bool, v uint64) string {
			if !has {
				return ""
			}
			return strconv.FormatUint(v, 10)
		}
		vlan, qinq := "", ""
		if p.VLANValid && p.VLANTPID == 0x88a8 {
			qinq = strconv.Itoa(int(p.VLANTCI & 0x0fff))
		} else if p.VLANValid {
			vlan = strconv.Itoa(int(p.VLANTCI & 0x0fff))
		}
		canID, ifindex := "", ""
		switch f.ifaces[p.Iface].HAType {
		case 280:
			canID = "291" // 0x123
		case 65535:
			ifindex = strconv.Itoa(int(f.ifaces[p.Iface].IfIndex))
		}
		want := []string{
			f.ifaces[p.Iface].Name, dir, reception,
			opt(p.HasPacketID, p.PacketID), opt(p.HasDropCount, p.DropCount), p.Comment,
			strconv.Itoa(len(f.wantData[i])), strconv.Itoa(f.wantLen[i]),
			fmt.Sprintf("%d.%09d", p.TimeNanos/1e9, p.TimeNanos%1e9),
			f.wantProtocols[i], // checked as a prefix below
			vlan, qinq, canID, ifindex,
		}
		if strings.HasPrefix(got[9], want[9]) {
			got[9] = want[9]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("packet %d (-want +got):\n%s", i, diff)
		}
	}

	// Nothing malformed, and the truncated frame shows as cut by the snap length.
	if out := testtool.Run(t, tshark, "-r", file, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"); out != "" {
		t.Errorf("tshark finds malformed packets: %s", out)
	}
	if out := testtool.Run(t, tshark, "-r", file, "-Y", "_ws.short", "-T", "fields", "-e", "frame.number"); out != "6\n" {
		t.Errorf("tshark finds short packets %q, want 6", out)
	}
}

// TestCapinfos checks the file-level view: section, interfaces, statistics.
func TestCapinfos(t *testing.T) {
	capinfos := testtool.Need(t, "capinfos")
	f, file := writeFixtureFile(t)
	out := testtool.Run(t, capinfos, file)
	want := []string{
		"File type:           Wireshark/... - pcapng",
		"File timestamp precision:  nanoseconds (9)",
		fmt.Sprintf("Number of packets:   %d", len(f.packets)),
		"Strict time order:   True",
		"Capture hardware:    " + f.opts.Hardware,
		"Capture oper-sys:    " + f.opts.OS,
		"Capture application: " + f.opts.Application,
		"Capture comment:     " + f.opts.Comment,
		fmt.Sprintf("Number of interfaces in file: %d", len(f.ifaces)),
		"Name = host/veth1", "Description = " + f.ifaces[0].Description,
		"Encapsulation = Ethernet (1 - ether)",
		"Capture length = 262148",
		"Encapsulation = Raw IP (7 - rawip)",
		"Encapsulation = Linux cooked-mode capture v2 (210 - linux-sll2)",
		"Encapsulation = SocketCAN (125 - socketcan)",
		"Encapsulation = Linux Netlink (158 - netlink)",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("capinfos output lacks %q", w)
		}
	}
	// One ISB for each of the first three interfaces, none for the others.
	if got := strings.Count(out, "Number of stat entries = 1"); got != len(f.stats) {
		t.Errorf("%d interfaces with statistics, want %d", got, len(f.stats))
	}
	if t.Failed() {
		t.Logf("capinfos output:\n%s", out)
	}
}

// TestTsharkEmpty checks that a file closed before any interface was added
// is a valid, empty capture for Wireshark too.
func TestTsharkEmpty(t *testing.T) {
	tshark := testtool.Need(t, "tshark")
	capinfos := testtool.Need(t, "capinfos")
	var buf bytes.Buffer
	if err := NewWriter(&buf, WriterOptions{Application: "ifacetrace test"}).Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "empty.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := testtool.Run(t, tshark, "-r", file); out != "" {
		t.Errorf("tshark prints packets of an empty file: %q", out)
	}
	out := testtool.Run(t, capinfos, file)
	for _, w := range []string{"File type:           Wireshark/... - pcapng", "Number of packets:   0", "Capture application: ifacetrace test"} {
		if !strings.Contains(out, w) {
			t.Errorf("capinfos output lacks %q:\n%s", w, out)
		}
	}
}
