package wireshark_test

// Tests of the Wireshark post-dissector ifacetrace.lua: a pcapng file
// written by the repository's own writer, read by tshark with the script
// loaded, one pass and two (-2).

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ifacetrace/ifacetrace/internal/testtool"
	"github.com/ifacetrace/ifacetrace/pcap"
	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// t0 is the time of the first packet of the test captures.
const t0 = int64(1700000000_123456789)

// needLuaTshark returns the path of tshark, or skips (under CI=true: fails)
// t when tshark is missing or built without Lua.
func needLuaTshark(t *testing.T) string {
	t.Helper()
	tshark := testtool.Need(t, "tshark")
	out, err := exec.Command(tshark, "-v").Output()
	if err != nil {
		t.Fatalf("tshark -v: %v", err)
	}
	if !strings.Contains(string(out), "with Lua") {
		msg := "needs tshark built with Lua (tshark -v does not say \"with Lua\"): apt-get install tshark (Debian's is)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: not skipping)")
		}
		t.Skip(msg)
	}
	return tshark
}

// script is the absolute path of the dissector under test.
func script(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("ifacetrace.lua")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// echo returns an Ethernet frame carrying an ICMP echo request with sequence
// number seq.
func echo(t *testing.T, seq uint16) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 9)},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: seq},
		gopacket.Payload("ifacetrace"))
	if err != nil {
		t.Fatalf("serialize test frame: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

// frame is one packet of a test capture.
type frame struct {
	iface   int
	dir     record.Direction
	at      time.Duration // after t0
	trace   uint64        // 0: no packet id
	comment string
	seq     uint16 // of the ICMP echo
}

// writeCapture writes frames, on interfaces named ifaces, to a pcapng file
// as ifacetrace's pcapng plugin does, and returns its path.
func writeCapture(t *testing.T, ifaces []string, frames []frame) string {
	t.Helper()
	var buf bytes.Buffer
	w := pcap.NewWriter(&buf, pcap.WriterOptions{Application: "ifacetrace test", Comment: "contrib/wireshark test"})
	for _, name := range ifaces {
		if _, err := w.AddInterface(pcap.Interface{Name: name, HAType: 1 /* ARPHRD_ETHER */}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range frames {
		p := pcap.Packet{
			Iface: f.iface, TimeNanos: t0 + int64(f.at), Data: echo(t, f.seq), Dir: f.dir, Proto: 0x0800,
			PacketID: f.trace, HasPacketID: f.trace != 0, Comment: f.comment,
		}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "trace.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// fields runs tshark with the script on file and returns the values of
// fields for each frame, one row a frame; several values of one field are
// separated by "|".
func fields(t *testing.T, tshark, file string, extra []string, fs ...string) [][]string {
	t.Helper()
	args := append([]string{"-r", file, "-n", "-X", "lua_script:" + script(t), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"}, extra...)
	for _, f := range fs {
		args = append(args, "-e", f)
	}
	var rows [][]string
	for _, line := range strings.Split(testtool.Run(t, tshark, args...), "\n") {
		if line == "" {
			continue
		}
		row := strings.Split(line, "\t")
		for len(row) < len(fs) {
			row = append(row, "")
		}
		rows = append(rows, row)
	}
	return rows
}

// normalize rewrites the values whose printing differs between Wireshark
// versions: booleans (1 or True) and relative times (seconds, printed with
// 9 decimals or fewer) become "true" and Go durations.
func normalize(t *testing.T, rows [][]string, boolCols, timeCols []int) {
	t.Helper()
	for _, r := range rows {
		for _, c := range boolCols {
			switch r[c] {
			case "1", "True":
				r[c] = "true"
			case "0", "False":
				r[c] = "false"
			}
		}
		for _, c := range timeCols {
			if r[c] == "" {
				continue
			}
			d, err := time.ParseDuration(r[c] + "s")
			if err != nil {
				t.Fatalf("relative time %q: %v", r[c], err)
			}
			r[c] = d.String()
		}
	}
}

const (
	snat   = "SNAT 10.0.0.1→10.0.0.2"
	path7  = "a/eth0 out → veth-a in → br0 in"
	path8  = "a/eth0 out"
	ifaceA = 0
	ifaceV = 1
	ifaceB = 2
)

// TestDissector reads a capture of two traces, one of three hops with a
// change and one of a single hop, interleaved, and checks every field the
// script adds, in one pass and in two.
func TestDissector(t *testing.T) {
	tshark := needLuaTshark(t)
	file := writeCapture(t, []string{"a/eth0", "veth-a", "br0"}, []frame{
		{ifaceA, record.DirOut, 0, 7, "trace 7 hop 1/3: " + path7 + " [" + snat + "]", 1},
		{ifaceV, record.DirIn, 10 * time.Microsecond, 7, "trace 7 hop 2/3: " + path7 + " [" + snat + "]", 1},
		{ifaceA, record.DirOut, 20 * time.Microsecond, 8, "trace 8 hop 1/1: " + path8, 2},
		{ifaceB, record.DirIn, 25 * time.Microsecond, 7, "trace 7 hop 3/3: " + path7 + " [" + snat + "]", 1},
	})
	noLuaErrors(t, tshark, file)
	fs := []string{"ifacetrace.trace", "ifacetrace.hop", "ifacetrace.hops", "ifacetrace.first", "ifacetrace.copy",
		"ifacetrace.since_first", "ifacetrace.changes", "ifacetrace.path", "frame.interface_name"}
	want := [][]string{
		{"7", "1", "3", "true", "", "0s", snat, path7, "a/eth0"},
		{"7", "2", "3", "", "true", "10µs", snat, path7, "veth-a"},
		{"8", "1", "1", "true", "", "0s", "", path8, "a/eth0"},
		{"7", "3", "3", "", "true", "25µs", snat, path7, "br0"},
	}
	for _, pass := range []struct {
		name string
		args []string
	}{{"one pass", nil}, {"two passes", []string{"-2"}}} {
		t.Run(pass.name, func(t *testing.T) {
			got := fields(t, tshark, file, pass.args, fs...)
			normalize(t, got, []int{3, 4}, []int{5})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fields %v per frame (-want +got):\n%s", fs, diff)
			}
			// !ifacetrace.copy keeps exactly the first copies.
			got = fields(t, tshark, file, append(pass.args, "-Y", "!ifacetrace.copy"), "frame.number", "ifacetrace.trace")
			if diff := cmp.Diff([][]string{{"1", "7"}, {"3", "8"}}, got); diff != "" {
				t.Errorf("-Y '!ifacetrace.copy' (-want +got):\n%s", diff)
			}
		})
	}

	// Later copies carry the expert note.
	got := fields(t, tshark, file, []string{"-Y", "ifacetrace.copy.expert"}, "frame.number", "_ws.expert.message")
	wantNotes := [][]string{
		{"2", "later copy of the same packet (trace 7, hop 2/3)"},
		{"4", "later copy of the same packet (trace 7, hop 3/3)"},
	}
	if diff := cmp.Diff(wantNotes, ours(got)); diff != "" {
		t.Errorf("expert notes of later copies (-want +got):\n%s", diff)
	}

	// The filters of the README, and some more.
	for filter, frames := range map[string]string{
		"ifacetrace.trace == 7":                       "1,2,4",
		`ifacetrace.changes contains "SNAT"`:          "1,2,4",
		`ifacetrace.changes == ""`:                    "3",
		"ifacetrace.first":                            "1,3",
		"ifacetrace.hop == ifacetrace.hops":           "3,4",
		"ifacetrace.since_first > 0.000020":           "4",
		`ifacetrace.path contains "veth-a in"`:        "1,2,4",
		`ifacetrace && frame.interface_name == "br0"`: "4",
	} {
		if got := frameNumbers(t, tshark, file, nil, filter); got != frames {
			t.Errorf("-Y '%s': frames %q, want %q", filter, got, frames)
		}
	}
}

// TestDissectorEdges covers frames that are not a plain in-order trace: a
// later hop before the first one, a packet id without comment, a comment
// without packet id, the two disagreeing, and a comment of someone else.
func TestDissectorEdges(t *testing.T) {
	tshark := needLuaTshark(t)
	file := writeCapture(t, []string{"a/eth0", "veth-a", "br0"}, []frame{
		{ifaceV, record.DirIn, 10 * time.Microsecond, 9, "trace 9 hop 2/2: a/eth0 out → veth-a in", 1},
		{ifaceA, record.DirOut, 0, 9, "trace 9 hop 1/2: a/eth0 out → veth-a in", 1},
		{ifaceA, record.DirOut, 30 * time.Microsecond, 10, "", 2},
		{ifaceB, record.DirIn, 42 * time.Microsecond, 10, "", 2},
		{ifaceA, record.DirOut, 50 * time.Microsecond, 0, "trace 11 hop 1/1: a/eth0 out", 3},
		{ifaceA, record.DirOut, 60 * time.Microsecond, 12, "trace 13 hop 1/1: a/eth0 out", 4},
		{ifaceA, record.DirOut, 70 * time.Microsecond, 0, "trace of a thought", 5},
		{ifaceA, record.DirOut, 80 * time.Microsecond, 18446744073709551615, "trace 18446744073709551615 hop 1/1: a/eth0 out", 6},
		{ifaceA, record.DirOut, 90 * time.Microsecond, 0, "trace 18446744073709551616 hop 1/1: too big", 7},
	})
	noLuaErrors(t, tshark, file)
	fs := []string{"ifacetrace.trace", "ifacetrace.hop", "ifacetrace.first", "ifacetrace.copy", "ifacetrace.since_first", "ifacetrace.path"}
	// In one pass, the second hop of trace 9, dissected before the first,
	// is the earliest copy seen so far.
	want := [][]string{
		{"9", "2", "", "true", "0s", "a/eth0 out → veth-a in"},
		{"9", "1", "true", "", "0s", "a/eth0 out → veth-a in"},
		{"10", "", "", "", "0s", ""},
		{"10", "", "", "", "12µs", ""},
		{"11", "1", "true", "", "0s", "a/eth0 out"},
		{"12", "1", "true", "", "0s", "a/eth0 out"},
		{"", "", "", "", "", ""},
		{"18446744073709551615", "1", "true", "", "0s", "a/eth0 out"},
		{"", "", "", "", "", ""},
	}
	got := fields(t, tshark, file, nil, fs...)
	normalize(t, got, []int{2, 3}, []int{4})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("one pass: fields %v per frame (-want +got):\n%s", fs, diff)
	}
	// In two passes with a read filter, tshark builds protocol trees in the
	// first pass too, so the second knows the earliest copy of every trace.
	want[0][4] = "10µs"
	got = fields(t, tshark, file, []string{"-2", "-R", "frame"}, fs...)
	normalize(t, got, []int{2, 3}, []int{4})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("two passes: fields %v per frame (-want +got):\n%s", fs, diff)
	}

	got = fields(t, tshark, file, []string{"-Y", "ifacetrace.mismatch"}, "frame.number", "_ws.expert.message")
	if diff := cmp.Diff([][]string{{"6", "packet id 12, but the comment names trace 13"}}, ours(got)); diff != "" {
		t.Errorf("expert warning of a packet id and comment that disagree (-want +got):\n%s", diff)
	}
	if got, want := frameNumbers(t, tshark, file, nil, "!ifacetrace.copy"), "2,3,4,5,6,7,8,9"; got != want {
		t.Errorf("-Y '!ifacetrace.copy': frames %q, want %q", got, want)
	}
}

// noLuaErrors fails t if the script throws an error on any frame of file:
// Wireshark shows those as expert items, not on stderr.
func noLuaErrors(t *testing.T, tshark, file string) {
	t.Helper()
	for _, r := range fields(t, tshark, file, []string{"-Y", "_ws.lua.error"}, "frame.number", "_ws.expert.message") {
		t.Errorf("frame %s: %s", r[0], r[1])
	}
}

// frameNumbers returns the numbers of the frames of file that filter
// keeps, comma-separated.
func frameNumbers(t *testing.T, tshark, file string, args []string, filter string) string {
	t.Helper()
	var nums []string
	for _, r := range fields(t, tshark, file, append(args, "-Y", filter), "frame.number") {
		nums = append(nums, r[0])
	}
	return strings.Join(nums, ",")
}

// ours keeps, of each row's expert messages, those the script adds: not
// the packet comment's own expert item, nor the ICMP dissector's.
func ours(rows [][]string) [][]string {
	var out [][]string
	for _, r := range rows {
		for _, m := range strings.Split(r[1], "|") {
			if strings.HasPrefix(m, "later copy") || strings.HasPrefix(m, "packet id") {
				out = append(out, []string{r[0], m})
			}
		}
	}
	return out
}
