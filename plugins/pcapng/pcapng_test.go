package pcapng_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/internal/testtool"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/plugins/pcapng"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// The plugin is what sdk.Serve serves.
var _ sdk.Plugin = (*pcapng.Plugin)(nil)

const (
	arphrdEther = 1
	arphrdNone  = 0xfffe // tun
	// statusVLANValid is TP_STATUS_VLAN_VALID, the status bit the plugin
	// honours for VLAN tags.
	statusVLANValid = 1 << 4
	packetHost      = 0
	packetOutgoing  = 4
)

func runInfo() *pb.RunInfo {
	return &pb.RunInfo{
		IfacetraceVersion: "test",
		Hostname:          "testhost",
		Os:                "Linux test",
		Hardware:          "amd64",
		Snaplen:           262144,
		RecordLayout:      record.Layout,
	}
}

// configure returns a plugin configured to write a file in a fresh
// temporary directory, and that file's path.
func configure(t testing.TB) (*pcapng.Plugin, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.pcapng")
	p := pcapng.New()
	resp, err := p.Configure(context.Background(), &pb.ConfigureRequest{
		Options: map[string]string{"path": path},
		Run:     runInfo(),
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if len(resp.GetWarnings()) != 0 {
		t.Errorf("Configure warnings: %q", resp.GetWarnings())
	}
	return p, path
}

// serialize builds a frame from layers, with lengths and checksums fixed.
func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if udp, ok := l.(*layers.UDP); ok {
			for _, l2 := range ls {
				if ip, ok := l2.(*layers.IPv4); ok {
					if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func udpFrame(t *testing.T, src, dst string, payload string) []byte {
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	return serialize(t, eth, ipv4(src, dst, layers.IPProtocolUDP), &layers.UDP{SrcPort: 4000, DstPort: 5000}, gopacket.Payload(payload))
}

func icmpPacket(t *testing.T, src, dst string, typ uint8, seq uint16) []byte {
	return serialize(t, ipv4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 7, Seq: seq}, gopacket.Payload("ping"))
}

// sent describes one record the test feeds the plugin and what the file must
// then hold for it.
type sent struct {
	h    record.Header
	data []byte
	// expectations
	ifIndex  int    // pcapng interface index
	wantData []byte // frame as written (VLAN tag reinserted)
	wantDir  pcapgo.NgEpbFlag
	wantDrop uint64 // 0: no epb_dropcount
	wantVLAN string // tshark vlan.id
}

// fixture is a three-batch run over two devices: veth0 (Ethernet, id 7)
// announced in batch 1, ns1/tun0 (ARPHRD_NONE, id 3) announced in batch 2,
// and a final batch with statistics only.
type fixture struct {
	veth, tun *pb.Interface
	packets   []sent
	batches   []*pb.Batch
	stats     *pb.Stats
	start     time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{start: time.Unix(1_700_000_000, 123_456_789)}
	f.veth = &pb.Interface{
		Id: 7, Name: "veth0", Ifname: "veth0", Ifindex: 12, Kind: "veth", Hatype: arphrdEther,
		Mac: "02:00:00:00:00:01", Mtu: 1500, Up: true, Carrier: true, Peer: "ns1/veth1",
		Description: "veth, up, peer ns1/veth1, 02:00:00:00:00:01, mtu 1500",
	}
	// An id past those the plugin keeps in a slice.
	f.tun = &pb.Interface{
		Id: 70003, Name: "ns1/tun0", Ifname: "tun0", Ifindex: 5, Netns: "ns1", Kind: "tun", Hatype: arphrdNone,
		Mtu: 1400, Up: true, Addresses: []string{"10.9.0.1/24"},
		Description: "tun, up, mtu 1400, 10.9.0.1/24",
	}
	ts := func(ms int) int64 { return f.start.Add(time.Duration(ms) * time.Millisecond).UnixNano() }

	in := udpFrame(t, "10.0.0.2", "10.0.0.1", "hello in")
	out := udpFrame(t, "10.0.0.1", "10.0.0.2", "hello out, tagged")
	// The kernel strips the tag; the writer puts it back after the MACs.
	outTagged := append(append(append([]byte(nil), out[:12]...), 0x81, 0x00, 0x00, 0x64), out[12:]...)
	echo := icmpPacket(t, "10.9.0.2", "10.9.0.1", 8, 1)
	reply := icmpPacket(t, "10.9.0.1", "10.9.0.2", 0, 1)

	f.packets = []sent{
		{
			h:       record.Header{Iface: 7, TimeNanos: ts(1), OrigLen: uint32(len(in)), Dir: record.DirIn, PktType: packetHost, HAType: arphrdEther, Proto: 0x0800},
			data:    in,
			ifIndex: 0, wantData: in, wantDir: pcapgo.NgEpbFlagDirectionInbound,
		},
		{
			h: record.Header{Iface: 7, TimeNanos: ts(2), OrigLen: uint32(len(out)), Dir: record.DirOut, PktType: packetOutgoing, HAType: arphrdEther, Proto: 0x0800,
				Status: statusVLANValid, VLANTCI: 100, VLANTPID: 0x8100, Drops: 5},
			data:    out,
			ifIndex: 0, wantData: outTagged, wantDir: pcapgo.NgEpbFlagDirectionOutbound, wantDrop: 5, wantVLAN: "100",
		},
		{
			h:       record.Header{Iface: 70003, TimeNanos: ts(3), OrigLen: uint32(len(echo)), Dir: record.DirIn, PktType: packetHost, HAType: arphrdNone, Proto: 0x0800},
			data:    echo,
			ifIndex: 1, wantData: echo, wantDir: pcapgo.NgEpbFlagDirectionInbound,
		},
		{
			h:       record.Header{Iface: 70003, TimeNanos: ts(4), OrigLen: uint32(len(reply)), Dir: record.DirOut, PktType: packetOutgoing, HAType: arphrdNone, Proto: 0x0800},
			data:    reply,
			ifIndex: 1, wantData: reply, wantDir: pcapgo.NgEpbFlagDirectionOutbound,
		},
		{
			h:       record.Header{Iface: 7, TimeNanos: ts(5), OrigLen: uint32(len(in)), Dir: record.DirIn, PktType: packetHost, HAType: arphrdEther, Proto: 0x0800},
			data:    in,
			ifIndex: 0, wantData: in, wantDir: pcapgo.NgEpbFlagDirectionInbound,
		},
	}
	var recs1, recs2 []byte
	for _, s := range f.packets[:2] {
		recs1 = record.Append(recs1, s.h, s.data)
	}
	for _, s := range f.packets[2:] {
		recs2 = record.Append(recs2, s.h, s.data)
	}
	f.stats = &pb.Stats{
		StartUnixNano: f.start.UnixNano(),
		EndUnixNano:   f.start.Add(time.Second).UnixNano(),
		Sightings:     5,
		Interfaces: []*pb.InterfaceStats{
			{Id: 7, ReceivedIn: 2, ReceivedOut: 1, HasDropped: true, Dropped: 5},
			{Id: 70003, ReceivedIn: 1, ReceivedOut: 1},
			{Id: 99, ReceivedIn: 1}, // never announced: ignored
		},
		Sockets: []*pb.SocketStats{{Device: "any", Packets: 10, Drops: 5}},
	}
	f.batches = []*pb.Batch{
		{Seq: 1, Interfaces: []*pb.Interface{f.veth}, Records: recs1, RecordCount: 2},
		{Seq: 2, Interfaces: []*pb.Interface{f.tun}, Records: recs2, RecordCount: 3},
		{Seq: 3, Stats: f.stats},
	}
	return f
}

// writeFixture runs the fixture through a configured plugin and returns the
// file it wrote.
func writeFixture(t *testing.T, f *fixture) string {
	t.Helper()
	p, path := configure(t)
	ctx := context.Background()
	for _, b := range f.batches {
		var r sdk.Reporter
		if err := p.Consume(ctx, b, &r); err != nil {
			t.Fatalf("Consume batch %d: %v", b.Seq, err)
		}
	}
	resp, err := p.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if diff := cmp.Diff([]string{path}, resp.GetFiles()); diff != "" {
		t.Errorf("Finish files (-want +got):\n%s", diff)
	}
	if got := resp.GetCounters()["frames"]; got != uint64(len(f.packets)) {
		t.Errorf("Finish counters[frames] = %d, want %d", got, len(f.packets))
	}
	return path
}

func TestDescribe(t *testing.T) {
	info := pcapng.New().Describe()
	if info.GetName() != "pcapng" || info.GetVersion() != pcapng.Version {
		t.Errorf("name, version = %q, %q; want pcapng, %s", info.GetName(), info.GetVersion(), pcapng.Version)
	}
	if !info.GetLossless() {
		t.Error("a file writer must be lossless")
	}
	w := info.GetWants()
	if !w.GetPackets() || !w.GetPacketBytes() || !w.GetStats() {
		t.Errorf("wants %v; want packets, packet bytes and stats", w)
	}
	var path *pb.OptionSpec
	for _, o := range info.GetOptions() {
		if o.GetName() == "path" {
			path = o
		}
	}
	if path == nil || !path.GetRequired() || path.GetType() != "path" {
		t.Errorf("options %v; want a required option path of type path", info.GetOptions())
	}
}

// TestWriteRead reads the file back with gopacket's pcapng reader.
func TestWriteRead(t *testing.T) {
	f := newFixture(t)
	path := writeFixture(t, f)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewNgReader(fh, pcapgo.NgReaderOptions{WantMixedLinkType: true, ErrorOnMismatchingLinkType: true})
	if err != nil {
		t.Fatalf("NewNgReader: %v", err)
	}
	if si := r.SectionInfo(); si.Application != "ifacetrace test" || si.OS != "Linux test" || si.Hardware != "amd64" || !strings.Contains(si.Comment, "testhost") {
		t.Errorf("section info %+v; want application, os, hardware and hostname from RunInfo", si)
	}

	var i int
	for ; ; i++ {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i >= len(f.packets) {
			t.Errorf("packet %d: more packets than written", i)
			continue
		}
		want := f.packets[i]
		if ci.InterfaceIndex != want.ifIndex {
			t.Errorf("packet %d: interface %d, want %d", i, ci.InterfaceIndex, want.ifIndex)
		}
		if !ci.Timestamp.Equal(time.Unix(0, want.h.TimeNanos)) {
			t.Errorf("packet %d: time %v, want %v", i, ci.Timestamp, time.Unix(0, want.h.TimeNanos))
		}
		if !bytes.Equal(data, want.wantData) {
			t.Errorf("packet %d: data\n% x\nwant\n% x", i, data, want.wantData)
		}
		if ci.Length != len(want.wantData) {
			t.Errorf("packet %d: original length %d, want %d", i, ci.Length, len(want.wantData))
		}
		if opts.Flags == nil {
			t.Errorf("packet %d: no epb_flags", i)
		} else if opts.Flags.Direction != want.wantDir {
			t.Errorf("packet %d: direction %v, want %v", i, opts.Flags.Direction, want.wantDir)
		}
		switch {
		case want.wantDrop == 0 && opts.DropCount != nil:
			t.Errorf("packet %d: epb_dropcount %d, want none", i, *opts.DropCount)
		case want.wantDrop != 0 && (opts.DropCount == nil || *opts.DropCount != want.wantDrop):
			t.Errorf("packet %d: epb_dropcount %v, want %d", i, opts.DropCount, want.wantDrop)
		}
	}
	if i != len(f.packets) {
		t.Errorf("read %d packets, want %d", i, len(f.packets))
	}

	if n := r.NInterfaces(); n != 2 {
		t.Fatalf("%d interfaces, want 2", n)
	}
	type ifc struct {
		Name, Description string
		LinkType          layers.LinkType
		Received, Dropped uint64
		Start, End        time.Time
	}
	var got []ifc
	for i := 0; i < r.NInterfaces(); i++ {
		ngi, err := r.Interface(i)
		if err != nil {
			t.Fatal(err)
		}
		if ngi.SnapLength < 262144 {
			t.Errorf("interface %d: snap length %d, want at least the run's 262144", i, ngi.SnapLength)
		}
		st := ngi.Statistics
		got = append(got, ifc{ngi.Name, ngi.Description, ngi.LinkType, st.PacketsReceived, st.PacketsDropped, st.StartTime, st.EndTime})
	}
	start, end := f.start, f.start.Add(time.Second)
	want := []ifc{
		{"veth0", f.veth.Description, layers.LinkTypeEthernet, 3, 5, start, end},
		{"ns1/tun0", f.tun.Description, layers.LinkTypeRaw, 2, pcapgo.NgNoValue64, start, end},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interfaces and statistics (-want +got):\n%s", diff)
	}
}

// TestTshark reads the file with Wireshark's reader and dissectors.
func TestTshark(t *testing.T) {
	tshark := testtool.Need(t, "tshark")
	f := newFixture(t)
	path := writeFixture(t, f)

	fields := []string{"frame.interface_name", "frame.interface_description", "frame.packet_flags_direction",
		"frame.drop_count", "vlan.id", "ip.src", "ip.dst", "frame.protocols"}
	args := []string{"-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, fld := range fields {
		args = append(args, "-e", fld)
	}
	out := testtool.Run(t, tshark, args...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(f.packets) {
		t.Fatalf("tshark read %d frames, want %d:\n%s", len(lines), len(f.packets), out)
	}
	for i, line := range lines {
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) {
			t.Fatalf("frame %d: %d fields, want %d: %q", i, len(cols), len(fields), line)
		}
		p := f.packets[i]
		wantIfc := f.veth
		if p.ifIndex == 1 {
			wantIfc = f.tun
		}
		dir := map[pcapgo.NgEpbFlag]string{pcapgo.NgEpbFlagDirectionInbound: "0x00000001", pcapgo.NgEpbFlagDirectionOutbound: "0x00000002"}[p.wantDir]
		drop := ""
		if p.wantDrop != 0 {
			drop = fmt.Sprint(p.wantDrop)
		}
		src, dst := "10.0.0.2", "10.0.0.1"
		switch i {
		case 1:
			src, dst = dst, src
		case 2:
			src, dst = "10.9.0.2", "10.9.0.1"
		case 3:
			src, dst = "10.9.0.1", "10.9.0.2"
		}
		got := map[string]string{}
		for j, fld := range fields {
			got[fld] = cols[j]
		}
		want := map[string]string{
			"frame.interface_name":         wantIfc.Name,
			"frame.interface_description":  wantIfc.Description,
			"frame.packet_flags_direction": dir,
			"frame.drop_count":             drop,
			"vlan.id":                      p.wantVLAN,
			"ip.src":                       src,
			"ip.dst":                       dst,
		}
		protos := got["frame.protocols"]
		delete(got, "frame.protocols")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("frame %d (-want +got):\n%s", i, diff)
		}
		wantProtos := "eth:ethertype:ip:udp"
		switch {
		case p.wantVLAN != "":
			wantProtos = "eth:ethertype:vlan:ethertype:ip:udp"
		case p.ifIndex == 1:
			wantProtos = "raw:ip:icmp"
		}
		if !strings.HasPrefix(protos, wantProtos) {
			t.Errorf("frame %d: protocols %q, want %s…", i, protos, wantProtos)
		}
	}

	// Interface blocks and statistics blocks, as Wireshark's reader sees
	// them (tshark has no view of statistics blocks; capinfos, from the same
	// package, has).
	capinfos := testtool.Need(t, "capinfos")
	info := testtool.Run(t, capinfos, "-M", path)
	for _, want := range []string{
		"Number of interfaces in file: 2",
		`Interface #0 info:\n\s+Name = veth0\n\s+Description = ` + regexp.QuoteMeta(f.veth.Description) + `\n\s+Encapsulation = Ethernet`,
		`Interface #1 info:\n\s+Name = ns1/tun0\n\s+Description = ` + regexp.QuoteMeta(f.tun.Description) + `\n\s+Encapsulation = Raw IP`,
		// One statistics block per interface, read by Wireshark.
		`Interface #0 info:(\n\s+[^\n]*)*?\n\s+Number of stat entries = 1\n\s+Number of packets = 3\n`,
		`Interface #1 info:(\n\s+[^\n]*)*?\n\s+Number of stat entries = 1\n\s+Number of packets = 2\n`,
		"Capture application: ifacetrace test",
	} {
		if !regexp.MustCompile(want).MatchString(info) {
			t.Errorf("capinfos -M does not match %q:\n%s", want, info)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		options map[string]string
		run     *pb.RunInfo
		want    []string // substrings of the error
	}{
		{"no path", nil, runInfo(), []string{"path", "required"}},
		{"empty path", map[string]string{"path": ""}, runInfo(), []string{"path", "required"}},
		{"record layout", map[string]string{"path": filepath.Join(dir, "layout.pcapng")},
			&pb.RunInfo{RecordLayout: record.Layout + 1, Snaplen: 262144}, []string{fmt.Sprintf("record layout %d", record.Layout+1)}},
		{"no run info", map[string]string{"path": filepath.Join(dir, "norun.pcapng")}, nil, []string{"record layout 0"}},
		{"missing directory", map[string]string{"path": filepath.Join(dir, "no", "such", "dir", "out.pcapng")}, runInfo(),
			[]string{filepath.Join(dir, "no", "such", "dir", "out.pcapng")}},
		{"path is a directory", map[string]string{"path": dir}, runInfo(), []string{dir}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pcapng.New()
			_, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: c.options, Run: c.run})
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Finish after a failed Configure has nothing to close.
			if _, err := p.Finish(context.Background()); err != nil {
				t.Errorf("Finish after failed Configure: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "layout.pcapng")); err == nil {
		t.Error("Configure with an unsupported record layout created the file")
	}
}

// TestConfigureUnwritable uses a read-only directory. Root ignores file
// modes, so the path is also tried below a regular file, which fails for
// everyone.
func TestConfigureUnwritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(file, "out.pcapng")}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(ro, "out.pcapng"))
	}
	for _, path := range paths {
		_, err := pcapng.New().Configure(context.Background(), &pb.ConfigureRequest{
			Options: map[string]string{"path": path}, Run: runInfo(),
		})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Configure(%s) = %v; want an error naming the path", path, err)
		}
	}
}

func TestConsumeErrors(t *testing.T) {
	ether := &pb.Interface{Id: 1, Name: "eth0", Hatype: arphrdEther}
	frame := make([]byte, 60)
	good := record.Append(nil, record.Header{Iface: 1, Dir: record.DirIn}, frame)
	corrupt := func(mod func([]byte) []byte) []byte { return mod(append([]byte(nil), good...)) }
	cases := []struct {
		name  string
		batch *pb.Batch
		want  string
	}{
		{"unannounced interface", &pb.Batch{Seq: 4, Records: record.Append(nil, record.Header{Iface: 2}, frame)}, "unannounced interface 2"},
		{"truncated header", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: good[:record.HeaderLen-1]}, "corrupt"},
		{"truncated data", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: good[:len(good)-8]}, "corrupt"},
		{"trailing bytes", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: append(append([]byte(nil), good...), 1, 2, 3)}, "corrupt"},
		{"length zero", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: corrupt(func(b []byte) []byte { b[0], b[1], b[2], b[3] = 0, 0, 0, 0; return b })}, "corrupt"},
		{"length huge", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: corrupt(func(b []byte) []byte { b[0], b[1], b[2], b[3] = 0xff, 0xff, 0xff, 0xff; return b })}, "corrupt"},
		{"caplen beyond record", &pb.Batch{Seq: 4, Interfaces: []*pb.Interface{ether}, Records: corrupt(func(b []byte) []byte { b[16], b[17] = 0xff, 0x7f; return b })}, "corrupt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := configure(t)
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Consume panicked: %v", r)
					}
				}()
				err = p.Consume(context.Background(), c.batch, &sdk.Reporter{})
			}()
			if err == nil {
				t.Fatal("Consume succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "batch 4") {
				t.Errorf("error %q; want it to name batch 4 and say %q", err, c.want)
			}
			if _, err := p.Finish(context.Background()); err != nil {
				t.Errorf("Finish after a failed batch: %v", err)
			}
		})
	}
}

// TestConsumeBeforeConfigure: a host that breaks the call order gets an
// error, not a crashed plugin process.
func TestConsumeBeforeConfigure(t *testing.T) {
	p := pcapng.New()
	b := &pb.Batch{Seq: 1, Interfaces: []*pb.Interface{{Id: 1, Name: "eth0", Hatype: arphrdEther}},
		Records: record.Append(nil, record.Header{Iface: 1}, make([]byte, 60))}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Consume before Configure panicked: %v", r)
		}
	}()
	if err := p.Consume(context.Background(), b, &sdk.Reporter{}); err == nil {
		t.Error("Consume before Configure succeeded")
	}
}

// TestEmptyRun: a run without a single packet still leaves a valid file.
func TestEmptyRun(t *testing.T) {
	p, path := configure(t)
	if err := p.Consume(context.Background(), &pb.Batch{Seq: 1, Stats: &pb.Stats{}}, &sdk.Reporter{}); err != nil {
		t.Fatal(err)
	}
	resp, err := p.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetCounters()["frames"]; got != 0 {
		t.Errorf("frames = %d, want 0", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 28 || !bytes.Equal(b[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Errorf("file is not a pcapng section: % x", b)
	}
}

// FuzzConsume feeds arbitrary record buffers, on an interface of arbitrary
// hardware type, to a configured plugin: errors are fine, panics are not.
func FuzzConsume(f *testing.F) {
	frame := make([]byte, 60)
	for i := range frame {
		frame[i] = byte(i)
	}
	var seed []byte
	seed = record.Append(seed, record.Header{Iface: 0, Dir: record.DirIn, Status: statusVLANValid, VLANTCI: 5, Drops: 1, TraceID: 9}, frame)
	seed = record.Append(seed, record.Header{Iface: 1, Dir: record.DirOut, PktType: packetOutgoing, Proto: 0x0800}, frame[:20])
	seed = record.Append(seed, record.Header{Iface: 0}, nil)
	seed = record.Append(seed, record.Header{Iface: 0, Status: statusVLANValid}, frame[:3])
	for _, hatype := range []uint16{arphrdEther, arphrdNone, 280 /* CAN */, 824 /* netlink */, 772 /* loopback */, 803 /* radiotap */, 0x1234 /* unknown: SLL2 */} {
		f.Add(seed, hatype)
	}
	f.Add([]byte{}, uint16(arphrdEther))
	f.Add(seed[:record.HeaderLen], uint16(arphrdEther))
	f.Add(seed[:len(seed)-1], uint16(arphrdNone))
	f.Add(make([]byte, record.HeaderLen), uint16(280))
	f.Fuzz(func(t *testing.T, records []byte, hatype uint16) {
		p := pcapng.New()
		path := filepath.Join(t.TempDir(), "fuzz.pcapng")
		if _, err := p.Configure(context.Background(), &pb.ConfigureRequest{Options: map[string]string{"path": path}, Run: runInfo()}); err != nil {
			t.Fatal(err)
		}
		b := &pb.Batch{Seq: 1, Records: records, Interfaces: []*pb.Interface{
			{Id: 0, Name: "fuzz0", Hatype: uint32(hatype)},
			{Id: 1, Name: "fuzz1", Hatype: arphrdNone},
		}}
		_ = p.Consume(context.Background(), b, &sdk.Reporter{})
		_ = p.Consume(context.Background(), &pb.Batch{Seq: 2, Stats: &pb.Stats{Interfaces: []*pb.InterfaceStats{{Id: 0, ReceivedIn: 1}}}}, &sdk.Reporter{})
		if _, err := p.Finish(context.Background()); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		// Whatever was accepted must read back.
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		r, err := pcapgo.NewNgReader(fh, pcapgo.NgReaderOptions{WantMixedLinkType: true, ErrorOnMismatchingLinkType: true})
		if err != nil {
			t.Fatalf("NewNgReader: %v", err)
		}
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("reading back: %v", err)
				}
				break
			}
		}
	})
}
