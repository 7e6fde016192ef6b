package pcap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// writePacketPcapgo is WritePacket as it was before it wrote enhanced packet
// blocks by hand: the same checks and framing, and the block written by
// pcapgo's NgWriter.WritePacketWithOptions. It is the reference the
// hand-written blocks are compared with, byte for byte.
func (w *Writer) writePacketPcapgo(p *Packet) error {
	if w.closed {
		return fmt.Errorf("write packet: %w", errClosed)
	}
	if p.Iface < 0 || p.Iface >= len(w.ifaces) {
		return fmt.Errorf("write packet: no interface %d (%d added)", p.Iface, len(w.ifaces))
	}
	data, orig := w.frame(p)
	var opts pcapgo.NgPacketOptions
	if flags := epbFlags(p.Dir, p.PktType); flags != (pcapgo.NgEpbFlags{}) {
		opts.Flags = &flags
	}
	if p.HasDropCount {
		opts.DropCount = &p.DropCount
	}
	if p.HasPacketID {
		opts.PacketID = &p.PacketID
	}
	if p.Comment != "" {
		opts.Comments = []string{clip(p.Comment)}
	} else if len(p.CommentBytes) != 0 {
		opts.Comments = []string{string(clip(p.CommentBytes))}
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      time.Unix(0, p.TimeNanos),
		CaptureLength:  len(data),
		Length:         int(orig),
		InterfaceIndex: p.Iface,
	}
	if err := w.ng.WritePacketWithOptions(ci, data, opts); err != nil {
		return fmt.Errorf("write packet on interface %d (%s): %w", p.Iface, w.ifaces[p.Iface].name, err)
	}
	w.newest = max(w.newest, p.TimeNanos)
	return nil
}

// epbOp is one call on a Writer; exactly one field is set.
type epbOp struct {
	iface *Interface
	pkt   *Packet
	stats *fixtureStats
	flush bool
}

// runEPBOps makes ops on a Writer writing to dst, with packets written by
// pcapgo (viaPcapgo) or by WritePacket, and closes it.
func runEPBOps(t testing.TB, dst io.Writer, opts WriterOptions, ops []epbOp, viaPcapgo bool) {
	t.Helper()
	w := NewWriter(dst, opts)
	for i, op := range ops {
		var err error
		switch {
		case op.iface != nil:
			_, err = w.AddInterface(*op.iface)
		case op.pkt != nil:
			p := *op.pkt
			if viaPcapgo {
				err = w.writePacketPcapgo(&p)
			} else {
				err = w.WritePacket(&p)
			}
		case op.stats != nil:
			err = w.WriteStats(op.stats.iface, op.stats.stats)
		case op.flush:
			err = w.Flush()
		}
		if err != nil {
			t.Fatalf("op %d (pcapgo %v): %v", i, viaPcapgo, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// epbInterfaces are devices of every framing Writer has.
var epbInterfaces = []Interface{
	{Name: "host/eth0", Description: "veth", HAType: arphrdEther, IfIndex: 2, SnapLen: 262144},
	{Name: "c1/wg0", HAType: arphrdNone, IfIndex: 3},
	{Name: "host/void0", Description: "unknown hardware type", HAType: 0xffff, IfIndex: 0x0102},
	{Name: "host/vcan0", HAType: arphrdCAN, IfIndex: 9},
	{Name: "host/nlmon0", HAType: arphrdNetlink, IfIndex: 10},
	{Name: "host/lo", HAType: arphrdLoopback, IfIndex: 1, SnapLen: 30},
	{Name: "host/wlan0mon", HAType: arphrdIEEE80211Radiotap, IfIndex: 11},
	{Name: "host/ppp0", Description: "ppp", HAType: arphrdPPP, IfIndex: 12},
}

// epbOps returns a varied capture: every framing, with and without VLAN
// tags, each option present and absent, comments of 0 to 9 bytes and long
// ones, frames of every length modulo 4 including empty, large and with
// odd original lengths, extreme timestamps, interfaces added and
// statistics and flushes between packets.
func epbOps(t testing.TB) []epbOp {
	rng := rand.New(rand.NewPCG(1, 2))
	eth, ip4, ip6 := testFrames(t)
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var ops []epbOp
	nIfaces := 0
	addIface := func() {
		ops = append(ops, epbOp{iface: &epbInterfaces[nIfaces]})
		nIfaces++
	}
	addPkt := func(p Packet) { ops = append(ops, epbOp{pkt: &p}) }

	// The first three interfaces; the others are added between packets.
	addIface()
	addIface()
	addIface()

	// Every interface so far × comment lengths 0…9 × frame lengths mod 4,
	// options in turn.
	const letters = "abcdefghi"
	tick := int64(0)
	systematic := func() {
		for iface := range nIfaces {
			for clen := 0; clen <= len(letters); clen++ {
				for _, dlen := range []int{0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17} {
					k := len(ops)
					tick++
					addPkt(Packet{
						Iface:        iface,
						TimeNanos:    t0 + tick*1001,
						Data:         randBytes(dlen),
						OrigLen:      uint32(dlen + k%3),
						Dir:          record.Direction(k % 3),
						PktType:      uint8(k/3) % 6,
						Proto:        []uint16{0x0800, 0x86dd, 0x000c, 0x000e, 0}[k%5],
						VLANValid:    k%4 == 1,
						VLANTPID:     []uint16{0, 0x88a8}[k%2],
						VLANTCI:      uint16(k),
						HasDropCount: k%5 < 2,
						DropCount:    uint64(k % 4),
						HasPacketID:  k%7 < 3,
						PacketID:     uint64(k) << 20,
						Comment:      letters[:clen],
					})
					if k%6 == 5 { // the same comment, as bytes
						last := ops[len(ops)-1].pkt
						last.Comment, last.CommentBytes = "", []byte(letters[:clen])
					}
				}
			}
		}
	}
	systematic()
	ops = append(ops, epbOp{stats: &fixtureStats{0, Stats{Received: 7}}})
	addIface()
	addIface()
	ops = append(ops, epbOp{flush: true})
	systematic()
	addIface()
	addIface()
	addIface()
	ops = append(ops, epbOp{stats: &fixtureStats{2, Stats{Received: 9, Dropped: 1, HasDropped: true,
		Start: time.Unix(0, t0), End: time.Unix(0, t0+1)}}})
	systematic()

	// Real frames, every option, multi-byte comments.
	for iface := range nIfaces {
		for _, data := range [][]byte{eth, ip4, ip6} {
			addPkt(Packet{Iface: iface, TimeNanos: t0, Data: data, Dir: record.DirIn, PktType: PacketHost,
				Proto: 0x0800, VLANValid: true, VLANTCI: 42, HasDropCount: true, DropCount: 3,
				HasPacketID: true, PacketID: 1, Comment: "trace 1 hop 1/2 host/veth1 in → c1/wg0 out"})
		}
	}

	// Edges: large frames (past bufio's 4096 bytes, past 64 KiB), long
	// comments (one clipped), original lengths up to and past 2^32-1 with
	// the framing's header, extreme timestamps and option values.
	long := strings.Repeat("é", 40000)
	edges := []Packet{
		{Iface: 0, Data: randBytes(5000), Comment: strings.Repeat("x", 5001), Dir: record.DirIn},
		{Iface: 1, Data: randBytes(70001), HasPacketID: true, PacketID: math.MaxUint64},
		{Iface: 2, Data: randBytes(4093), VLANValid: true, Comment: long},
		{Iface: 0, Data: eth, OrigLen: math.MaxUint32, VLANValid: true, VLANTCI: 1},
		{Iface: 2, Data: ip4, OrigLen: math.MaxUint32 - 10},
		{Iface: 4, Data: randBytes(3), OrigLen: math.MaxUint32 - 16},
		{Iface: 3, Data: randBytes(16), OrigLen: math.MaxUint32},
		{Iface: 1, TimeNanos: 0, Data: ip4},
		{Iface: 1, TimeNanos: -1, Data: ip4},
		{Iface: 1, TimeNanos: math.MinInt64, Data: ip4, HasDropCount: true, DropCount: math.MaxUint64},
		{Iface: 1, TimeNanos: math.MaxInt64, Data: ip4},
		{Iface: 1, TimeNanos: 1<<32 - 1, Data: ip4},
		{Iface: 1, TimeNanos: 1 << 32, Data: ip4},
		{Iface: 1, TimeNanos: -1 << 32, Data: ip4},
		{Iface: 0, Data: eth, Dir: 3, PktType: 255},
		{Iface: 5, Data: nil, Comment: "\x00"},
	}
	for _, p := range edges {
		addPkt(p)
	}
	ops = append(ops, epbOp{flush: true})

	// Random packets over every field.
	for range 3000 {
		var comment string
		switch rng.IntN(4) {
		case 1:
			comment = letters[:rng.IntN(len(letters)+1)]
		case 2:
			comment = string(randBytes(rng.IntN(300)))
		}
		dlen := rng.IntN(100)
		if rng.IntN(50) == 0 {
			dlen = rng.IntN(20000)
		}
		addPkt(Packet{
			Iface:        rng.IntN(nIfaces),
			TimeNanos:    t0 + rng.Int64N(1e15) - 5e14,
			Data:         randBytes(dlen),
			OrigLen:      uint32(rng.IntN(200)),
			Dir:          record.Direction(rng.IntN(4)),
			PktType:      uint8(rng.IntN(8)),
			Proto:        uint16(rng.Uint32()),
			VLANValid:    rng.IntN(3) == 0,
			VLANTPID:     []uint16{0, 0x8100, 0x88a8}[rng.IntN(3)],
			VLANTCI:      uint16(rng.Uint32()),
			HasDropCount: rng.IntN(2) == 0,
			DropCount:    rng.Uint64() >> rng.IntN(64),
			HasPacketID:  rng.IntN(2) == 0,
			PacketID:     rng.Uint64() >> rng.IntN(64),
			Comment:      comment,
		})
		if rng.IntN(500) == 0 {
			ops = append(ops, epbOp{flush: true})
		}
		if rng.IntN(700) == 0 {
			ops = append(ops, epbOp{stats: &fixtureStats{rng.IntN(nIfaces), Stats{Received: rng.Uint64()}}})
		}
	}
	for i := range nIfaces {
		ops = append(ops, epbOp{stats: &fixtureStats{i, Stats{Received: uint64(i), End: time.Unix(0, t0+int64(i))}}})
	}

	// Check the coverage the comments above promise.
	framings := map[framing]bool{}
	for _, ifc := range epbInterfaces {
		_, fr, _ := framingFor(ifc.HAType)
		framings[fr] = true
	}
	if nIfaces != len(epbInterfaces) || len(framings) != int(framingCAN)+1 {
		t.Fatalf("%d of %d interfaces added, %d of %d framings", nIfaces, len(epbInterfaces), len(framings), framingCAN+1)
	}
	return ops
}

// TestEPBMatchesPcapgo writes the same calls with packets written by hand
// and by pcapgo and wants the same file, to whatever the Writer writes:
// a plain io.Writer (Writer's own buffer, shared with pcapgo), a large
// bufio.Writer (used as the buffer itself, as the pcapng plugin's is) and
// a small one (wrapped).
func TestEPBMatchesPcapgo(t *testing.T) {
	ops := epbOps(t)
	opts := WriterOptions{Application: "ifacetrace test", OS: "Linux", Hardware: "x86_64", Comment: "epb"}
	dsts := []struct {
		name string
		new  func(*bytes.Buffer) (io.Writer, func() error)
	}{
		{"bytes.Buffer", func(b *bytes.Buffer) (io.Writer, func() error) { return b, func() error { return nil } }},
		{"bufio 1MiB", func(b *bytes.Buffer) (io.Writer, func() error) {
			bw := bufio.NewWriterSize(b, 1<<20)
			return bw, bw.Flush
		}},
		{"bufio 64B", func(b *bytes.Buffer) (io.Writer, func() error) {
			bw := bufio.NewWriterSize(b, 64)
			return bw, bw.Flush
		}},
	}
	var files [][]byte
	for _, d := range dsts {
		var want, got bytes.Buffer
		for _, c := range []struct {
			buf       *bytes.Buffer
			viaPcapgo bool
		}{{&want, true}, {&got, false}} {
			dst, flush := d.new(c.buf)
			runEPBOps(t, dst, opts, ops, c.viaPcapgo)
			if err := flush(); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			n := 0
			for n < min(want.Len(), got.Len()) && want.Bytes()[n] == got.Bytes()[n] {
				n++
			}
			t.Fatalf("%s: files differ from byte %d (pcapgo %d bytes, by hand %d)", d.name, n, want.Len(), got.Len())
		}
		files = append(files, got.Bytes())
	}
	for i := 1; i < len(files); i++ {
		if !bytes.Equal(files[0], files[i]) {
			t.Errorf("%s: file differs from the one written to %s", dsts[i].name, dsts[0].name)
		}
	}

	// The file is not only the same, it is valid: pcapgo reads every
	// packet back.
	r, err := pcapgo.NewNgReader(bytes.NewReader(files[0]), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, _, err := r.ReadPacketData(); err != nil {
			if err != io.EOF {
				t.Fatalf("read packet %d: %v", n, err)
			}
			break
		}
	}
	want := 0
	for _, op := range ops {
		if op.pkt != nil {
			want++
		}
	}
	if n != want {
		t.Errorf("read %d packets, wrote %d", n, want)
	}
	t.Logf("%d packets, %d bytes", n, len(files[0]))
}

// pcapgo must write into Writer's buffer, not a buffer of its own, for its
// blocks and the hand-written EPBs to come out in the order written.
// TestEPBMatchesPcapgo would see them out of order; this names the cause.
func TestPcapgoSharesBuffer(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{})
	if _, err := w.AddInterface(Interface{Name: "eth0", HAType: arphrdEther}); err != nil {
		t.Fatal(err)
	}
	if w.bw.Buffered() == 0 || buf.Len() != 0 {
		t.Fatalf("after the first interface: %d bytes in Writer's buffer, %d written out; want the section header and interface block buffered",
			w.bw.Buffered(), buf.Len())
	}
	before := w.bw.Buffered()
	if err := w.WriteStats(0, Stats{Received: 1}); err != nil {
		t.Fatal(err)
	}
	if w.bw.Buffered() <= before {
		t.Fatalf("pcapgo's statistics block is not in Writer's buffer")
	}
}

// FuzzWritePacket writes one packet, after one of another interface, by
// hand and by pcapgo, and wants the same bytes.
func FuzzWritePacket(f *testing.F) {
	eth, ip4, _ := testFrames(f)
	f.Add(uint16(arphrdEther), t0, eth, uint32(0), uint8(1), uint8(0), uint16(0x0800), true, uint16(0), uint16(42), true, uint64(3), true, uint64(1), "trace 1")
	f.Add(uint16(0xffff), int64(-1), ip4, uint32(100), uint8(0), uint8(3), uint16(0x0800), true, uint16(0x88a8), uint16(7), false, uint64(0), false, uint64(0), "")
	f.Add(uint16(arphrdCAN), int64(0), []byte{1, 2, 3, 4, 5}, uint32(0), uint8(2), uint8(4), uint16(0x000e), false, uint16(0), uint16(0), true, uint64(0), false, uint64(0), "abc")
	f.Add(uint16(arphrdNetlink), int64(math.MaxInt64), []byte{}, uint32(math.MaxUint32), uint8(3), uint8(255), uint16(0), false, uint16(0), uint16(0), false, uint64(0), true, uint64(math.MaxUint64), "é")
	f.Fuzz(func(t *testing.T, hatype uint16, ts int64, data []byte, origLen uint32, dir, pkttype uint8, proto uint16,
		vlanValid bool, tpid, tci uint16, hasDrop bool, drop uint64, hasID bool, id uint64, comment string) {
		ops := []epbOp{
			{iface: &Interface{Name: "a", HAType: arphrdEther}},
			{iface: &Interface{Name: "b", HAType: hatype, IfIndex: uint32(id)}},
			{pkt: &Packet{Iface: 0, TimeNanos: t0, Data: data, Comment: comment}},
			{pkt: &Packet{Iface: 0, TimeNanos: t0, Data: data, CommentBytes: []byte(comment)}},
			{pkt: &Packet{Iface: 1, TimeNanos: ts, Data: data, OrigLen: origLen, Dir: record.Direction(dir), PktType: pkttype,
				Proto: proto, VLANValid: vlanValid, VLANTPID: tpid, VLANTCI: tci, HasDropCount: hasDrop, DropCount: drop,
				HasPacketID: hasID, PacketID: id, Comment: comment}},
		}
		var want, got bytes.Buffer
		runEPBOps(t, &want, WriterOptions{}, ops, true)
		runEPBOps(t, &got, WriterOptions{}, ops, false)
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("files differ:\npcapgo  %x\nby hand %x", want.Bytes(), got.Bytes())
		}
	})
}

// TestOffloadFlags: the ring's checksum and GSO status bits are written as
// epb_flags bits 9–11, beside the direction.
func TestOffloadFlags(t *testing.T) {
	eth, _, _ := testFrames(t)
	for _, tc := range []struct{ status, want uint32 }{
		{0, 0},
		{StatusGSOTCP, EPBTCPSegmentation},
		{StatusCsumValid, EPBChecksumValid},
		{StatusCsumNotReady | StatusGSOTCP | 1<<4, EPBChecksumNotReady | EPBTCPSegmentation},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, WriterOptions{})
		if _, err := w.AddInterface(Interface{Name: "eth0", HAType: arphrdEther}); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(&Packet{Data: eth, Dir: record.DirOut, Status: tc.status}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// The EPB's options follow its padded data: epb_flags is option 2
		// of length 4.
		b := buf.Bytes()
		at := bytes.Index(b, eth) + len(eth) + pad4(len(eth))
		if at < len(eth) || len(b) < at+8 || binary.LittleEndian.Uint32(b[at:]) != 2|4<<16 {
			t.Fatalf("status %#x: no epb_flags option after the data", tc.status)
		}
		if got, want := binary.LittleEndian.Uint32(b[at+4:]), tc.want|uint32(pcapgo.NgEpbFlagDirectionOutbound); got != want {
			t.Errorf("status %#x: epb_flags %#x, want %#x", tc.status, got, want)
		}
	}
}
