package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// WriterOptions describe the capture in the section header block. Empty
// fields are not written.
type WriterOptions struct {
	Application string // shb_userappl, e.g. "ifacetrace 0.3.0"
	OS          string // shb_os, e.g. "Linux 6.1.0-18-amd64"
	Hardware    string // shb_hardware, e.g. "x86_64"
	Comment     string // opt_comment of the section
}

// Interface describes one capture device; it becomes one interface
// description block.
type Interface struct {
	Name        string // if_name: "netns/ifname", or "ifname" in the tracer's own netns
	Description string // if_description: kind, master, peer, MAC; empty: not written
	// HAType is the device's ARPHRD_* hardware type. It picks the link type:
	// LinkTypeForHAType, or LINKTYPE_LINUX_SLL2 for types it does not know.
	HAType uint16
	// IfIndex is the device's interface index, written into SLL2 headers.
	IfIndex uint32
	// SnapLen is the most bytes captured of a frame, 0 for no limit. The
	// interface block announces SnapLen plus the bytes the writer may add
	// (VLAN tag, SLL/SLL2 header), so readers that cut frames at the
	// snapshot length (libpcap, tcpdump) do not cut ours.
	SnapLen uint32
}

// Packet is one captured frame and its metadata, as WritePacket takes it.
type Packet struct {
	Iface     int   // id returned by AddInterface
	TimeNanos int64 // capture time, nanoseconds since the Unix epoch
	// Data is the frame as captured, starting at the device's link-layer
	// header. WritePacket does not retain it. On devices written with an
	// SLL2 header (hardware types LinkTypeForHAType does not know), readers
	// take the bytes after that header to start at the network layer
	// (Proto): true for devices without a link-layer header of their own;
	// others (such as IPoIB's 4-byte header) should be captured with that
	// header removed (tp_net - tp_mac bytes), as libpcap's cooked mode does.
	Data []byte
	// OrigLen is the frame's length on the wire; less than len(Data) (such
	// as zero) means len(Data).
	OrigLen uint32
	Dir     record.Direction // epb_flags direction: in 01, out 10, unknown 00
	// Status are the capture ring's TP_STATUS_* bits. Three of them go into
	// epb_flags as the pcapng specification defines its bits 9–11:
	// TP_STATUS_CSUMNOTREADY (the checksum is left to the device: "checksum
	// not ready"), TP_STATUS_CSUM_VALID ("checksum valid") and
	// TP_STATUS_GSO_TCP (a TCP super-packet, cut or glued by offloads:
	// "TCP segmentation offloaded").
	Status uint32
	// PktType is sll_pkttype (PacketHost …). It sets the epb_flags reception
	// type of packets not going out: host → unicast, broadcast, multicast,
	// otherhost → promiscuous, others not specified. It is also the packet
	// type of SLL/SLL2 headers.
	PktType uint8
	// Proto is sll_protocol in host byte order (0x0800 for IPv4). SLL/SLL2
	// headers carry it; CAN frames use it to tell CAN XL from CAN CC/FD.
	Proto uint16
	// VLANTCI and VLANTPID (0 means 0x8100) are the tag the kernel stripped,
	// valid iff VLANValid. The tag is put back into Ethernet frames and into
	// SLL2 frames (as libpcap does for SLL), growing both lengths by 4; it is
	// dropped for other link types, which have no place for it.
	VLANTCI   uint16
	VLANTPID  uint16
	VLANValid bool
	// DropCount (epb_dropcount, written iff HasDropCount) is the number of
	// frames lost on this interface since the previous packet.
	DropCount    uint64
	HasDropCount bool
	// PacketID (epb_packetid, written iff HasPacketID; Wireshark's
	// frame.packet_id) is the same on every copy of one packet: the trace id.
	PacketID    uint64
	HasPacketID bool
	// Comment is written as opt_comment when not empty, clipped to 65535
	// bytes.
	Comment string
	// CommentBytes is the comment for callers that build one per packet
	// in a reused buffer; it is used when Comment is empty and is not
	// kept after WritePacket returns.
	CommentBytes []byte
}

// Stats are an interface's counters, written as an interface statistics
// block.
type Stats struct {
	Received uint64 // isb_ifrecv: frames the capture socket received
	// Dropped (isb_ifdrop, written iff HasDropped) counts frames the kernel
	// dropped because the capture could not keep up (tp_drops), as dumpcap
	// writes them.
	Dropped    uint64
	HasDropped bool
	// Start and End (isb_starttime, isb_endtime) bound the counted period;
	// zero values are not written. The block's own timestamp is End, else
	// Start, else the newest packet time written so far.
	Start, End time.Time
}

// maxOption is the longest option value a pcapng option length can hold.
const maxOption = math.MaxUint16

var errClosed = errors.New("pcapng writer is closed")

// Writer writes one pcapng section: interface description blocks, enhanced
// packet blocks and interface statistics blocks. gopacket/pcapgo.NgWriter
// writes the section header, interface description and statistics blocks;
// WritePacket writes enhanced packet blocks itself (see writeEPB), into the
// same buffer. It buffers; Flush or Close writes the buffer out. A Writer is
// not safe for concurrent use.
type Writer struct {
	dst  io.Writer
	opts WriterOptions
	// bw buffers the section: bufio.NewWriter(dst), which is dst itself
	// when dst is a *bufio.Writer of at least 4096 bytes. ng writes into
	// bw itself, not into a buffer of its own: pcapgo wraps the writer it
	// is given in bufio.NewWriter, which returns a *bufio.Writer that large
	// unchanged. So pcapgo's blocks and the EPBs written by hand are
	// buffered in one place, in the order they were written. Both are
	// created by the first AddInterface.
	bw     *bufio.Writer
	ng     *pcapgo.NgWriter
	ifaces []writerIface
	closed bool
	newest int64 // newest packet time written, ns

	// Per-packet state reused so that WritePacket does not allocate: the
	// rewritten frame, and the bytes of an EPB before and after the frame.
	scratch []byte
	epb     [epbMaxFixed]byte
}

type writerIface struct {
	name    string
	hatype  uint16
	ifindex uint32
	framing framing
}

// NewWriter returns a Writer that writes a pcapng section to w. Nothing is
// written before the first AddInterface (pcapgo writes the section header
// together with the first interface) or Close.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	return &Writer{dst: w, opts: opts}
}

// AddInterface writes an interface description block for ifc and returns its
// interface id, to be used as Packet.Iface. Ids count from 0 in the order of
// the calls.
func (w *Writer) AddInterface(ifc Interface) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("add interface %q: %w", ifc.Name, errClosed)
	}
	lt, fr, extra := framingFor(ifc.HAType)
	snap := ifc.SnapLen
	if snap != 0 {
		snap = uint32(min(uint64(snap)+uint64(extra), math.MaxUint32))
	}
	ngi := pcapgo.NgInterface{
		Name:                clip(ifc.Name),
		Description:         clip(ifc.Description),
		LinkType:            lt,
		SnapLength:          snap,
		TimestampResolution: 9, // pcapgo always writes if_tsresol 9: nanoseconds
	}
	id := len(w.ifaces)
	if w.ng == nil {
		bw := bufio.NewWriter(w.dst)
		ng, err := pcapgo.NewNgWriterInterface(bw, ngi, pcapgo.NgWriterOptions{SectionInfo: w.sectionInfo()})
		if err != nil {
			return 0, fmt.Errorf("write pcapng section header and interface %q: %w", ifc.Name, err)
		}
		w.bw, w.ng = bw, ng
	} else {
		got, err := w.ng.AddInterface(ngi)
		if err != nil {
			return 0, fmt.Errorf("write pcapng interface %q: %w", ifc.Name, err)
		}
		if got != id {
			return 0, fmt.Errorf("write pcapng interface %q: pcapgo gave id %d, want %d", ifc.Name, got, id)
		}
	}
	w.ifaces = append(w.ifaces, writerIface{name: ifc.Name, hatype: ifc.HAType, ifindex: ifc.IfIndex, framing: fr})
	return id, nil
}

func (w *Writer) sectionInfo() pcapgo.NgSectionInfo {
	return pcapgo.NgSectionInfo{
		Application: clip(w.opts.Application),
		OS:          clip(w.opts.OS),
		Hardware:    clip(w.opts.Hardware),
		Comment:     clip(w.opts.Comment),
	}
}

// WritePacket writes p as an enhanced packet block. It does not retain p or
// p.Data, and it does not allocate.
func (w *Writer) WritePacket(p *Packet) error {
	if w.closed {
		return fmt.Errorf("write packet: %w", errClosed)
	}
	if p.Iface < 0 || p.Iface >= len(w.ifaces) {
		return fmt.Errorf("write packet: no interface %d (%d added)", p.Iface, len(w.ifaces))
	}
	data, orig := w.frame(p)
	if err := w.writeEPB(p, data, orig); err != nil {
		return fmt.Errorf("write packet on interface %d (%s): %w", p.Iface, w.ifaces[p.Iface].name, err)
	}
	w.newest = max(w.newest, p.TimeNanos)
	return nil
}

// frame returns p's frame as it goes into the file, rewritten for its
// interface's link type (in w.scratch) where it needs to be, and its
// original length. p.Iface must be valid.
func (w *Writer) frame(p *Packet) (data []byte, orig uint32) {
	ifc := &w.ifaces[p.Iface]
	data = p.Data
	orig64 := max(uint64(p.OrigLen), uint64(len(data)))
	switch ifc.framing {
	case framingEthernet:
		if p.VLANValid && len(data) >= 12 {
			w.scratch = InsertVLAN(w.scratch[:0], data, p.VLANTPID, p.VLANTCI)
			data = w.scratch
			orig64 += VLANTagLen
		}
	case framingSLL2:
		if p.VLANValid {
			// As libpcap does for SLL: the header's protocol becomes the
			// TPID, followed by the TCI and the original protocol.
			tpid := p.VLANTPID
			if tpid == 0 {
				tpid = TPID8021Q
			}
			w.scratch = AppendSLL2(w.scratch[:0], tpid, ifc.ifindex, ifc.hatype, p.PktType, nil, nil)
			w.scratch = binary.BigEndian.AppendUint16(w.scratch, p.VLANTCI)
			w.scratch = binary.BigEndian.AppendUint16(w.scratch, p.Proto)
			w.scratch = append(w.scratch, data...)
			orig64 += SLL2HeaderLen + VLANTagLen
		} else {
			w.scratch = AppendSLL2(w.scratch[:0], p.Proto, ifc.ifindex, ifc.hatype, p.PktType, nil, data)
			orig64 += SLL2HeaderLen
		}
		data = w.scratch
	case framingNetlink:
		w.scratch = AppendSLL(w.scratch[:0], p.PktType, ifc.hatype, nil, p.Proto, data)
		data = w.scratch
		orig64 += SLLHeaderLen
	case framingCAN:
		w.scratch = appendCANSocketCAN(w.scratch[:0], data, p.Proto)
		data = w.scratch
	}
	return data, uint32(min(orig64, math.MaxUint32))
}

// Enhanced packet block layout (pcapng, draft-ietf-opsawg-pcapng §4.3;
// all fields in the section's byte order, little-endian as pcapgo writes
// it):
//
//	block type 6, block total length (uint32 each)
//	interface id, timestamp high, timestamp low (uint32 each)
//	captured length, original length (uint32 each)
//	packet data, zero-padded to 32 bits
//	options: code, length (uint16 each), value zero-padded to 32 bits; then
//	opt_endofopt (4 zero bytes), present iff any option is
//	block total length again (uint32)
const (
	blockTypeEPB   = 6
	epbHeaderLen   = 28 // type … original length
	optEndOfOpt    = 0
	optComment     = 1
	optEPBFlags    = 2
	optEPBDropCnt  = 4
	optEPBPacketID = 5
	// epbMaxFixed bounds the bytes of an EPB that writeEPB assembles in
	// Writer.epb: the header, or what follows the frame except the comment
	// text (data padding, comment header, comment padding, epb_flags,
	// epb_dropcount, epb_packetid, opt_endofopt, trailer: 3+4+3+8+12+12+4+4).
	epbMaxFixed = 64
)

// pad4 returns the zero bytes that pad n bytes to a multiple of 4.
func pad4(n int) int { return -n & 3 }

// writeEPB writes an enhanced packet block for p, with frame data and
// original length orig, into w.bw: the bytes pcapgo's
// NgWriter.WritePacketWithOptions writes for the same packet, with the
// same options (pcapgo's order: opt_comment, epb_flags, epb_dropcount,
// epb_packetid), without its per-packet allocations (see the package
// documentation). The timestamp is in nanoseconds: every interface
// declares if_tsresol 9 (pcapgo writes no other).
func (w *Writer) writeEPB(p *Packet, data []byte, orig uint32) error {
	flags := epbFlags(p.Dir, p.PktType)
	flagBits := flags.ToUint32() | OffloadFlags(p.Status)
	comment, commentBytes := clip(p.Comment), []byte(nil)
	if comment == "" {
		commentBytes = clip(p.CommentBytes)
	}
	commentLen := len(comment) + len(commentBytes)

	optLen := 0
	if commentLen != 0 {
		optLen += 4 + commentLen + pad4(commentLen)
	}
	if flagBits != 0 {
		optLen += 4 + 4
	}
	if p.HasDropCount {
		optLen += 4 + 8
	}
	if p.HasPacketID {
		optLen += 4 + 8
	}
	if optLen != 0 {
		optLen += 4 // opt_endofopt
	}
	total := uint64(epbHeaderLen) + uint64(len(data)) + uint64(pad4(len(data))) + uint64(optLen) + 4
	if total > math.MaxUint32 {
		return fmt.Errorf("%d-byte frame does not fit in a pcapng block", len(data))
	}

	// bufio.Writer errors are sticky: once a write fails, every later one
	// (and Flush) returns the error, so checking the last write suffices.
	le := binary.LittleEndian
	ts := uint64(p.TimeNanos)
	b := w.epb[:0]
	b = le.AppendUint32(b, blockTypeEPB)
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, uint32(p.Iface))
	b = le.AppendUint32(b, uint32(ts>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, orig)
	w.bw.Write(b)
	w.bw.Write(data)

	var zero [3]byte
	b = append(w.epb[:0], zero[:pad4(len(data))]...)
	if commentLen != 0 {
		b = le.AppendUint16(b, optComment)
		b = le.AppendUint16(b, uint16(commentLen))
		w.bw.Write(b)
		w.bw.WriteString(comment)
		w.bw.Write(commentBytes)
		b = append(w.epb[:0], zero[:pad4(commentLen)]...)
	}
	if flagBits != 0 {
		b = le.AppendUint16(b, optEPBFlags)
		b = le.AppendUint16(b, 4)
		b = le.AppendUint32(b, flagBits)
	}
	if p.HasDropCount {
		b = le.AppendUint16(b, optEPBDropCnt)
		b = le.AppendUint16(b, 8)
		b = le.AppendUint64(b, p.DropCount)
	}
	if p.HasPacketID {
		b = le.AppendUint16(b, optEPBPacketID)
		b = le.AppendUint16(b, 8)
		b = le.AppendUint64(b, p.PacketID)
	}
	if optLen != 0 {
		b = le.AppendUint32(b, optEndOfOpt) // code and length 0
	}
	b = le.AppendUint32(b, uint32(total))
	_, err := w.bw.Write(b)
	return err
}

// Capture ring status bits (linux/if_packet.h) that epb_flags carries.
const (
	StatusCsumNotReady = 1 << 3 // TP_STATUS_CSUMNOTREADY
	StatusCsumValid    = 1 << 7 // TP_STATUS_CSUM_VALID
	StatusGSOTCP       = 1 << 8 // TP_STATUS_GSO_TCP
)

// epb_flags bits 9–11 (pcapng specification, "Enhanced Packet Block Flags
// Word").
const (
	EPBChecksumNotReady = 1 << 9
	EPBChecksumValid    = 1 << 10
	EPBTCPSegmentation  = 1 << 11
)

// OffloadFlags are the epb_flags bits 9–11 for ring status bits status.
func OffloadFlags(status uint32) uint32 {
	var f uint32
	if status&StatusCsumNotReady != 0 {
		f |= EPBChecksumNotReady
	}
	if status&StatusCsumValid != 0 {
		f |= EPBChecksumValid
	}
	if status&StatusGSOTCP != 0 {
		f |= EPBTCPSegmentation
	}
	return f
}

// epbFlags maps a sighting's direction and sll_pkttype to epb_flags.
func epbFlags(dir record.Direction, pkttype uint8) pcapgo.NgEpbFlags {
	var f pcapgo.NgEpbFlags
	switch dir {
	case record.DirIn:
		f.Direction = pcapgo.NgEpbFlagDirectionInbound
	case record.DirOut:
		f.Direction = pcapgo.NgEpbFlagDirectionOutbound
		return f // no reception type for what we send
	}
	switch pkttype {
	case PacketHost:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeUnicast
	case PacketBroadcast:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeBroadcast
	case PacketMulticast:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeMulticast
	case PacketOtherHost:
		f.Reception = pcapgo.NgEpbFlagReceptionTypePromiscuous
	}
	return f
}

// WriteStats writes s as an interface statistics block for interface iface.
// Write one per interface before Close; more are allowed, readers take the
// last.
func (w *Writer) WriteStats(iface int, s Stats) error {
	if w.closed {
		return fmt.Errorf("write interface statistics: %w", errClosed)
	}
	if iface < 0 || iface >= len(w.ifaces) {
		return fmt.Errorf("write interface statistics: no interface %d (%d added)", iface, len(w.ifaces))
	}
	st := pcapgo.NgInterfaceStatistics{
		LastUpdate:      s.End,
		StartTime:       s.Start,
		EndTime:         s.End,
		PacketsReceived: s.Received,
		PacketsDropped:  pcapgo.NgNoValue64,
	}
	if st.LastUpdate.IsZero() {
		st.LastUpdate = s.Start
	}
	if st.LastUpdate.IsZero() {
		st.LastUpdate = time.Unix(0, w.newest)
	}
	if s.HasDropped {
		st.PacketsDropped = s.Dropped
	}
	if err := w.ng.WriteInterfaceStats(iface, st); err != nil {
		return fmt.Errorf("write interface statistics for interface %d (%s): %w", iface, w.ifaces[iface].name, err)
	}
	return nil
}

// Flush writes buffered blocks to the underlying writer. Before the first
// AddInterface there is nothing to write.
func (w *Writer) Flush() error {
	if w.bw == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush pcapng: %w", err)
	}
	return nil
}

// Close flushes the writer and ends it; later calls fail, except Close,
// which does nothing. If no interface was added, Close writes a section
// header block alone, so the output is still a valid (empty) pcapng file.
// Close does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.ng == nil {
		// pcapgo writes a section header only together with a first
		// interface, so write it here.
		if _, err := w.dst.Write(appendSectionHeader(nil, w.sectionInfo())); err != nil {
			return fmt.Errorf("write pcapng section header: %w", err)
		}
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush pcapng: %w", err)
	}
	return nil
}

// appendSectionHeader appends a little-endian pcapng section header block
// with info's options (empty ones left out, in pcapgo's order) to dst.
func appendSectionHeader(dst []byte, info pcapgo.NgSectionInfo) []byte {
	le := binary.LittleEndian
	start := len(dst)
	dst = le.AppendUint32(dst, 0x0a0d0d0a) // block type
	dst = le.AppendUint32(dst, 0)          // block total length, set below
	dst = le.AppendUint32(dst, 0x1a2b3c4d) // byte-order magic
	dst = le.AppendUint16(dst, 1)          // major version
	dst = le.AppendUint16(dst, 0)          // minor version
	dst = le.AppendUint64(dst, math.MaxUint64)
	opts := [...]struct {
		code uint16
		val  string
	}{
		{4, info.Application}, // shb_userappl
		{1, info.Comment},     // opt_comment
		{2, info.Hardware},    // shb_hardware
		{3, info.OS},          // shb_os
	}
	hasOpts := false
	for _, o := range opts {
		if o.val == "" {
			continue
		}
		hasOpts = true
		dst = le.AppendUint16(dst, o.code)
		dst = le.AppendUint16(dst, uint16(len(o.val)))
		dst = append(dst, o.val...)
		dst = append(dst, make([]byte, (4-len(o.val)%4)%4)...)
	}
	if hasOpts {
		dst = le.AppendUint32(dst, 0) // opt_endofopt
	}
	total := uint32(len(dst) - start + 4)
	le.PutUint32(dst[start+4:], total)
	return le.AppendUint32(dst, total)
}

// clip shortens s to the longest prefix of whole UTF-8 characters that fits
// in a pcapng option. pcapgo writes longer values with a wrapped 16-bit
// length and so corrupts the file.
func clip[T string | []byte](s T) T {
	if len(s) <= maxOption {
		return s
	}
	n := maxOption
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
