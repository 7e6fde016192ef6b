package pcap

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ifacetrace/ifacetrace/pcap/record"
)

// ErrTruncated reports a file that ends inside a packet (or another block):
// typically a capture cut off while it was being written. The packets
// before it were read correctly, so a caller may report it as a warning.
// A record whose length field is corrupt and points past the end of the
// file looks the same: no reader can tell the two apart (pcapgo does not
// check pcapng block lengths against their minimum either).
var ErrTruncated = errors.New("file is truncated")

// ErrNotCapture reports a file that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// FileInterface is a capture device found in a file. FileReader.Next
// announces each one together with the first packet seen on it.
type FileInterface struct {
	ID uint32 // record.Header.Iface of its packets: 0, 1, 2… in the order announced
	// Name is the device's name: the pcapng if_name (ifacetrace writes
	// "NETNS/IFNAME", or "IFNAME" for its own namespace), "if<IfIndex>" for
	// a device of a LINKTYPE_LINUX_SLL2 capture of all devices, "any" for
	// a LINKTYPE_LINUX_SLL one, and the file's base name without extension
	// where the file names no device (a pcap file, an IDB without if_name).
	// See OpenFile.
	Name        string
	Description string // pcapng if_description, else a note on where Name came from
	HAType      uint16 // ARPHRD_* hardware type
	IfIndex     int32  // interface index from an SLL2 header; 0: unknown
	NetNS       string // the part of Name before its last "/", else ""
	Ifname      string // the part of Name after its last "/", else Name
}

// FileReader reads the packets of a pcap or pcapng file as ifacetrace's
// live capture would have delivered them: a record.Header and the frame
// starting at the device's own link-layer header. It is not safe for
// concurrent use.
type FileReader struct {
	name  string
	label string // file base name, for devices the file does not name
	pr    *pcapgo.Reader
	ng    *pcapgo.NgReader
	// ngSwap: the first pcapng section is big-endian. pcapgo reads the
	// values of EPB options (epb_flags, epb_dropcount) as little-endian
	// whatever the section's byte order, so they are swapped back. pcapgo
	// does not tell the byte order of later sections: a file that
	// concatenates sections of both byte orders gets the options of those
	// that differ from the first wrong.
	ngSwap bool

	srcs    []source // pcap: the one interface; pcapng: the IDBs of the section
	section int      // pcapng section number, counted by pcapgo's SectionEndCallback
	srcSect int      // section srcs belong to
	devices map[deviceKey]uint32
	ifaces  []FileInterface // all announced
	fresh   []FileInterface // returned by Next, reused

	n   int   // packets returned
	off int64 // pcap: offset of the next packet record
	err error // sticky: io.EOF or the error that ended the file
}

// source is one interface of the file: the single interface of a pcap file
// or one interface description block of a pcapng section.
type source struct {
	linkType layers.LinkType
	name     string // if_name, "" when none
	desc     string
	idx      int    // IDB index in its section
	hatype   uint16 // from the link type; for cooked link types from the first packet
	ok       bool   // the link type maps to a hardware type (or is cooked)
	// split: a cooked capture of all devices ("any"): one FileInterface per
	// device, told apart by (ifindex, hatype) in SLL2 and hatype in SLL.
	split bool
	nAny  int // split SLL: FileInterfaces made so far
	id    uint32
	known bool // id is valid (not split)
}

// deviceKey identifies one device of a split source.
type deviceKey struct {
	// Four words, no padding: a key that hashes as one block of memory,
	// not field by field.
	section, src, ifindex int32
	hatype                uint32
}

const (
	magicPcapUs   = 0xa1b2c3d4
	magicPcapNs   = 0xa1b23c4d
	magicPcapng   = 0x0a0d0d0a
	pcapHeaderLen = 24
	pcapRecordLen = 16
	etherHdrLen   = 14
)

// OpenFile reads the file header of a pcap or pcapng file (either possibly
// gzip-compressed) from r and returns a reader for its packets. name is
// used in errors and to name interfaces the file does not name; "-" or ""
// stand for standard input. The format is detected from the magic number.
//
// What the file cannot say:
//
//   - pcap files name no device: their one interface is named after the
//     file (base name without .pcap/.cap/.gz, "stdin" for standard input),
//     as is a pcapng IDB without if_name (with "#<IDB index>" appended for
//     all but the first IDB).
//   - LINKTYPE_LINUX_SLL2 captures of all devices (tcpdump -i any -y
//     LINUX_SLL2, and pcapng IDBs named "any" or unnamed) become one
//     interface per device, named "if<ifindex>": the header carries the
//     interface index but not the name. LINKTYPE_LINUX_SLL headers carry
//     no interface index at all, so all devices of one hardware type are
//     one interface: "any" for the first type seen, "any-<hatype>" for
//     others (kept apart so that no interface mixes framings). Cooked
//     captures of one named device (libpcap does this for PPP, IPoIB …)
//     stay one interface.
//   - The cooked header replaces the device's link-layer header. For
//     Ethernet and loopback devices the reader rebuilds a 14-byte
//     Ethernet header: source MAC from the cooked header's address,
//     destination MAC zero (the cooked header does not keep it), EtherType
//     the cooked protocol (an 802.3 length for protocols below 0x0600).
//     Frames of other devices start at the network layer, as in the file.
//   - pcap files record no direction: Dir is record.DirUnknown unless a
//     cooked header's packet type or a pcapng epb_flags direction gives
//     it, and PktType of Ethernet frames is then guessed from the
//     destination address (broadcast, multicast, else host).
//   - HAType comes from the link type (HATypeForLinkType), so devices
//     sharing a link type come back as one hardware type (raw IP as
//     ARPHRD_NONE), except that an Ethernet device named "lo" is taken
//     for ARPHRD_LOOPBACK.
//   - VLAN tags are left in the frame as the file has them (Ethernet, or
//     after a cooked header whose protocol is the TPID); Header.VLANTCI is
//     zero.
//
// Interfaces with no packet are not announced. Link types with no Linux
// hardware type (USB, Bluetooth …) end the file with an error at their
// first packet.
func OpenFile(r io.Reader, name string) (*FileReader, error) {
	fr := &FileReader{name: name, label: fileLabel(name), devices: map[deviceKey]uint32{}}
	if name == "" || name == "-" {
		fr.name = "standard input"
	}
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			return nil, fr.openErr("gzip header", gerr)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
		magic, err = br.Peek(4)
	}
	if len(magic) < 4 {
		if err != nil && err != io.EOF {
			return nil, fr.openErr("file header", err)
		}
		return nil, fmt.Errorf("%s is %w (%d bytes long)", fr.name, ErrNotCapture, len(magic))
	}
	switch le, be := binary.LittleEndian.Uint32(magic), binary.BigEndian.Uint32(magic); {
	case le == magicPcapUs || le == magicPcapNs || be == magicPcapUs || be == magicPcapNs:
		fr.pr, err = pcapgo.NewReader(br)
		if err != nil {
			return nil, fr.openErr("pcap file header", err)
		}
		lt := fr.pr.LinkType()
		fr.srcs = []source{fr.newSource(lt, "", "", 0, lt == layers.LinkTypeLinuxSLL || lt == layers.LinkTypeLinuxSLL2)}
		fr.off = pcapHeaderLen
	case le == magicPcapng:
		if b, _ := br.Peek(12); len(b) == 12 {
			fr.ngSwap = binary.BigEndian.Uint32(b[8:]) == 0x1a2b3c4d
		}
		fr.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{
			WantMixedLinkType:  true,
			SkipUnknownVersion: true,
			SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { fr.section++ },
		})
		if err == io.EOF { // every section was of a version pcapgo skips
			return nil, fmt.Errorf("%s: no pcapng section of version 1.0, the only version there is a reader for", fr.name)
		}
		if err != nil {
			return nil, fr.openErr("pcapng section header", err)
		}
	default:
		return nil, fmt.Errorf("%s is %w (magic % x)", fr.name, ErrNotCapture, magic)
	}
	return fr, nil
}

func (r *FileReader) openErr(what string, err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("%s: %w: it ends inside the %s", r.name, ErrTruncated, what)
	}
	return fmt.Errorf("%s: %s: %w", r.name, what, err)
}

// fileLabel is the name of a file's interface when the file has none.
func fileLabel(name string) string {
	if name == "" || name == "-" {
		return "stdin"
	}
	base := strings.TrimSuffix(filepath.Base(name), ".gz")
	switch ext := filepath.Ext(base); ext {
	case ".pcap", ".pcapng", ".cap":
		base = strings.TrimSuffix(base, ext)
	}
	if base == "" || base == "." || base == string(filepath.Separator) {
		return "if0"
	}
	return base
}

func (r *FileReader) newSource(lt layers.LinkType, name, desc string, idx int, split bool) source {
	s := source{linkType: lt, name: name, desc: desc, idx: idx, split: split}
	switch lt {
	case layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
		s.ok = true // hardware type per packet
	default:
		s.hatype, s.ok = HATypeForLinkType(lt)
		if s.hatype == arphrdEther && ifnameOf(name) == "lo" {
			s.hatype = arphrdLoopback
		}
	}
	return s
}

func ifnameOf(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// Next reads the next packet into h and returns its frame and the
// interfaces first seen with it (h.Iface may be one of them). Both slices
// belong to the reader and are valid until the next call; do not retain
// them. At the end of the file Next returns io.EOF; a file cut short ends
// with an error wrapping ErrTruncated after its last whole packet. Any
// error ends the file: later calls return it again.
//
// h.TraceID, Hop, Hops, Status, VLANTCI and VLANTPID are zero (epb_packetid
// is not read: the correlator recomputes traces; pcapgo drops epb_flags
// bits 9–11), h.Drops is epb_dropcount.
func (r *FileReader) Next(h *record.Header) (data []byte, newIfaces []FileInterface, err error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	r.fresh = r.fresh[:0]
	if r.pr != nil {
		data, err = r.nextPcap(h)
	} else {
		data, err = r.nextPcapng(h)
	}
	if err != nil {
		r.err = err
		return nil, nil, err
	}
	r.n++
	if len(r.fresh) > 0 {
		newIfaces = r.fresh
	}
	return data, newIfaces, nil
}

func (r *FileReader) nextPcap(h *record.Header) ([]byte, error) {
	data, ci, err := r.pr.ZeroCopyReadPacketData()
	if err != nil {
		// io.ReadFull reports io.EOF when not one byte was read: at a
		// record boundary that is the end of the file, after a record
		// header (its length is set) the file is cut short.
		if err == io.EOF && ci.CaptureLength == 0 {
			return nil, io.EOF
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%s: %w: it ends inside packet %d (offset %d), after %s", r.name, ErrTruncated, r.n+1, r.off, wholePackets(r.n))
		}
		return nil, fmt.Errorf("%s: packet %d at offset %d: %w", r.name, r.n+1, r.off, err)
	}
	off := r.off
	r.off += pcapRecordLen + int64(ci.CaptureLength)
	*h = record.Header{}
	data, err = r.convert(&r.srcs[0], data, ci, nil, h)
	if err != nil {
		return nil, fmt.Errorf("%s: packet %d at offset %d: %w", r.name, r.n+1, off, err)
	}
	return data, nil
}

func (r *FileReader) nextPcapng(h *record.Header) ([]byte, error) {
	data, ci, opts, err := r.ng.ZeroCopyReadPacketDataWithOptions()
	if err != nil {
		switch err {
		case io.EOF:
			return nil, io.EOF
		case io.ErrUnexpectedEOF:
			return nil, fmt.Errorf("%s: %w: it ends inside a block, after %s", r.name, ErrTruncated, wholePackets(r.n))
		}
		return nil, fmt.Errorf("%s: packet %d: %w", r.name, r.n+1, err)
	}
	if r.srcSect != r.section {
		r.srcs, r.srcSect = r.srcs[:0], r.section
	}
	for i := len(r.srcs); i <= ci.InterfaceIndex; i++ {
		ifc, err := r.ng.Interface(i)
		if err != nil {
			return nil, fmt.Errorf("%s: packet %d: %w", r.name, r.n+1, err)
		}
		split := (ifc.LinkType == layers.LinkTypeLinuxSLL || ifc.LinkType == layers.LinkTypeLinuxSLL2) &&
			(ifc.Name == "" || ifc.Name == "any")
		r.srcs = append(r.srcs, r.newSource(ifc.LinkType, ifc.Name, ifc.Description, i, split))
	}
	*h = record.Header{}
	if opts.DropCount != nil {
		d := *opts.DropCount
		if r.ngSwap {
			d = bits.ReverseBytes64(d)
		}
		h.Drops = uint32(min(d, math.MaxUint32))
	}
	var flags uint32
	if opts.Flags != nil {
		flags = opts.Flags.ToUint32()
		if r.ngSwap {
			flags = bits.ReverseBytes32(flags)
		}
	}
	data, err = r.convert(&r.srcs[ci.InterfaceIndex], data, ci, &flags, h)
	if err != nil {
		return nil, fmt.Errorf("%s: packet %d: %w", r.name, r.n+1, err)
	}
	return data, nil
}

func wholePackets(n int) string {
	if n == 1 {
		return "1 whole packet"
	}
	return strconv.Itoa(n) + " whole packets"
}

// cookedHeader is what an SLL or SLL2 header says.
type cookedHeader struct {
	hdrLen  int
	proto   uint16
	ifindex int32
	hatype  uint16
	pkttype uint8
	addrLen int
	addr    [8]byte
}

// parseCooked parses the SLL (v1) or SLL2 header at the start of data.
func parseCooked(lt layers.LinkType, data []byte) (cookedHeader, error) {
	var c cookedHeader
	be := binary.BigEndian
	if lt == layers.LinkTypeLinuxSLL2 {
		if len(data) < SLL2HeaderLen {
			return c, fmt.Errorf("%d bytes are too short for a LINKTYPE_LINUX_SLL2 header", len(data))
		}
		c.hdrLen = SLL2HeaderLen
		c.proto = be.Uint16(data[0:])
		c.ifindex = int32(be.Uint32(data[4:]))
		c.hatype = be.Uint16(data[8:])
		c.pkttype = data[10]
		c.addrLen = int(data[11])
		copy(c.addr[:], data[12:20])
		return c, nil
	}
	if len(data) < SLLHeaderLen {
		return c, fmt.Errorf("%d bytes are too short for a %s header", len(data), linkTypeName(lt))
	}
	c.hdrLen = SLLHeaderLen
	c.pkttype = uint8(be.Uint16(data[0:]))
	c.hatype = be.Uint16(data[2:])
	c.addrLen = int(be.Uint16(data[4:]))
	copy(c.addr[:], data[6:14])
	c.proto = be.Uint16(data[14:])
	return c, nil
}

func linkTypeName(lt layers.LinkType) string {
	switch lt {
	case layers.LinkTypeLinuxSLL:
		return "LINKTYPE_LINUX_SLL"
	case layers.LinkTypeLinuxSLL2:
		return "LINKTYPE_LINUX_SLL2"
	case LinkTypeNetlink:
		return "LINKTYPE_NETLINK"
	}
	return "link type " + strconv.Itoa(int(lt))
}

// ETH_P_* values in sll_protocol.
const (
	ethP8023 = 0x0001 // Novell raw 802.3
	ethP8022 = 0x0004 // 802.2 LLC
	ethPCAN  = 0x000c
	ethPCANF = 0x000d
	ethPIPv4 = 0x0800
	ethPIPv6 = 0x86dd
	canFDMTU = 72 // sizeof(struct canfd_frame)
)

// convert turns the frame data of file interface src into the frame and
// header a live capture would have given, and looks up (or announces) its
// FileInterface. flags is the epb_flags word, nil for pcap files. It may
// rewrite data in place: data is the pcapgo reader's buffer, reused anyway.
func (r *FileReader) convert(src *source, data []byte, ci gopacket.CaptureInfo, flags *uint32, h *record.Header) ([]byte, error) {
	if !src.ok {
		return nil, fmt.Errorf("interface %s has link type %s (%d), which no Linux device has", r.srcName(src), src.linkType, uint16(src.linkType))
	}
	if !ci.Timestamp.IsZero() { // pcapng simple packet blocks have no time
		h.TimeNanos = ci.Timestamp.UnixNano()
	}
	orig := max(ci.Length, len(data))
	h.HAType = src.hatype
	pktKnown := false // h.PktType comes from the file
	var c cookedHeader
	cooked := false
	switch src.linkType {
	case layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, LinkTypeNetlink:
		var err error
		if c, err = parseCooked(src.linkType, data); err != nil {
			return nil, err
		}
		cooked = true
		h.HAType, h.PktType, h.Proto, pktKnown = c.hatype, c.pkttype, c.proto, true
		orig -= c.hdrLen
		if lt, _ := LinkTypeForHAType(c.hatype); lt == layers.LinkTypeEthernet && src.linkType != LinkTypeNetlink {
			data = rebuildEthernet(data, &c, orig)
			orig += etherHdrLen
		} else {
			data = data[c.hdrLen:]
		}
	case layers.LinkTypeEthernet:
		h.Proto = etherProto(data)
	case layers.LinkTypeRaw:
		if len(data) > 0 {
			switch data[0] >> 4 {
			case 4:
				h.Proto = ethPIPv4
			case 6:
				h.Proto = ethPIPv6
			}
		}
	case layers.LinkTypeIPv4:
		h.Proto = ethPIPv4
	case layers.LinkTypeIPv6:
		h.Proto = ethPIPv6
	case LinkTypeCANSocketCAN:
		h.Proto = canToHost(data, orig)
	}

	// Direction and packet type: epb_flags first, then the cooked header's
	// packet type (tracer.DirectionOf), then a guess from the address.
	switch {
	case flags != nil && pcapgo.NgEpbFlag(*flags)&pcapgo.NgEpbFlagDirectionMask == pcapgo.NgEpbFlagDirectionInbound:
		h.Dir = record.DirIn
	case flags != nil && pcapgo.NgEpbFlag(*flags)&pcapgo.NgEpbFlagDirectionMask == pcapgo.NgEpbFlagDirectionOutbound:
		h.Dir = record.DirOut
		if !pktKnown {
			h.PktType, pktKnown = PacketOutgoing, true
		}
	case pktKnown:
		h.Dir = directionOf(h.PktType)
	}
	if !pktKnown && flags != nil {
		switch pcapgo.NgEpbFlag(*flags) & pcapgo.NgEpbFlagReceptionTypeMask {
		case pcapgo.NgEpbFlagReceptionTypeUnicast:
			h.PktType, pktKnown = PacketHost, true
		case pcapgo.NgEpbFlagReceptionTypeBroadcast:
			h.PktType, pktKnown = PacketBroadcast, true
		case pcapgo.NgEpbFlagReceptionTypeMulticast:
			h.PktType, pktKnown = PacketMulticast, true
		case pcapgo.NgEpbFlagReceptionTypePromiscuous:
			h.PktType, pktKnown = PacketOtherHost, true
		}
	}
	if !pktKnown && (h.HAType == arphrdEther || h.HAType == arphrdLoopback) && len(data) >= 6 && data[0]&1 != 0 {
		h.PktType = PacketMulticast
		if string(data[:6]) == "\xff\xff\xff\xff\xff\xff" {
			h.PktType = PacketBroadcast
		}
	}

	h.CapLen = uint32(len(data))
	h.OrigLen = uint32(min(max(orig, len(data)), math.MaxUint32))
	h.Iface = r.iface(src, cooked, &c)
	return data, nil
}

// directionOf is tracer.DirectionOf: the packet types the kernel gives
// frames that arrived are "in", PACKET_OUTGOING is "out".
func directionOf(pkttype uint8) record.Direction {
	switch pkttype {
	case PacketOutgoing:
		return record.DirOut
	case PacketHost, PacketBroadcast, PacketMulticast, PacketOtherHost:
		return record.DirIn
	}
	return record.DirUnknown
}

// rebuildEthernet replaces the cooked header at the start of data with the
// Ethernet header it stands for, in place (a cooked header is longer), and
// returns the frame. orig is the frame's length on the wire after the
// cooked header.
func rebuildEthernet(data []byte, c *cookedHeader, orig int) []byte {
	eth := data[c.hdrLen-etherHdrLen:]
	clear(eth[0:12]) // destination: not in the cooked header
	if c.addrLen == 6 {
		copy(eth[6:12], c.addr[:6])
	}
	typ := c.proto
	if typ < 0x0600 { // ETH_P_802_3, ETH_P_802_2: an 802.3 frame, with a length
		typ = uint16(min(orig, 1500))
	}
	binary.BigEndian.PutUint16(eth[12:], typ)
	return eth
}

// etherProto is the sll_protocol the kernel gives an Ethernet frame
// (eth_type_trans): the EtherType, or for 802.3 frames ETH_P_802_3 (Novell
// raw, payload starting 0xffff) or ETH_P_802_2.
func etherProto(data []byte) uint16 {
	if len(data) < etherHdrLen {
		return 0
	}
	if t := binary.BigEndian.Uint16(data[12:]); t >= 0x0600 {
		return t
	}
	if len(data) >= etherHdrLen+2 && data[14] == 0xff && data[15] == 0xff {
		return ethP8023
	}
	return ethP8022
}

// canToHost converts a LINKTYPE_CAN_SOCKETCAN frame back to the kernel's
// struct can_frame / canfd_frame / canxl_frame, in place (the inverse of
// appendCANSocketCAN), and returns its sll_protocol: CAN XL if the frame
// says so, CAN FD if it has the size of a canfd_frame, else CAN CC.
func canToHost(b []byte, orig int) uint16 {
	if len(b) < 4 {
		return ethPCAN
	}
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], binary.BigEndian.Uint32(b[0:4]))
	if len(b) >= 5 && b[4]&canXLXLF != 0 {
		if len(b) >= 8 {
			ne.PutUint16(b[6:8], binary.LittleEndian.Uint16(b[6:8]))
		}
		if len(b) >= 12 {
			ne.PutUint32(b[8:12], binary.LittleEndian.Uint32(b[8:12]))
		}
		return ethPCANXL
	}
	if orig == canFDMTU {
		return ethPCANF
	}
	return ethPCAN
}

// iface returns the FileInterface id of a packet of src with cooked header
// c (if cooked), announcing a new one on first sight.
func (r *FileReader) iface(src *source, cooked bool, c *cookedHeader) uint32 {
	if !src.split {
		if !src.known {
			fi := FileInterface{Name: src.name, Description: src.desc, HAType: src.hatype}
			if fi.Name == "" {
				fi.Name = r.label
				if src.idx > 0 {
					fi.Name += "#" + strconv.Itoa(src.idx)
				}
				if fi.Description == "" {
					fi.Description = "device not named in the file"
				}
			}
			if cooked {
				fi.HAType = c.hatype
				if src.linkType == layers.LinkTypeLinuxSLL2 {
					fi.IfIndex = c.ifindex
				}
			}
			src.id, src.known = r.announce(fi), true
		}
		return src.id
	}
	k := deviceKey{section: int32(r.srcSect), src: int32(src.idx), hatype: uint32(c.hatype)}
	if src.linkType == layers.LinkTypeLinuxSLL2 {
		k.ifindex = c.ifindex
	}
	if id, ok := r.devices[k]; ok {
		return id
	}
	fi := FileInterface{HAType: c.hatype}
	if src.linkType == layers.LinkTypeLinuxSLL2 {
		fi.Name = "if" + strconv.FormatInt(int64(c.ifindex), 10)
		fi.IfIndex = c.ifindex
		fi.Description = "device " + strconv.FormatInt(int64(c.ifindex), 10) + " of a capture of all devices; LINKTYPE_LINUX_SLL2 records its index, not its name"
	} else {
		fi.Name = "any"
		if src.nAny > 0 {
			fi.Name += "-" + strconv.Itoa(int(c.hatype))
		}
		src.nAny++
		fi.Description = "devices of hardware type " + strconv.Itoa(int(c.hatype)) + " of a capture of all devices; LINKTYPE_LINUX_SLL records neither index nor name"
	}
	id := r.announce(fi)
	r.devices[k] = id
	return id
}

// srcName names src in errors.
func (r *FileReader) srcName(src *source) string {
	if src.name != "" {
		return strconv.Quote(src.name)
	}
	return strconv.Itoa(src.idx)
}

func (r *FileReader) announce(fi FileInterface) uint32 {
	fi.ID = uint32(len(r.ifaces))
	if i := strings.LastIndexByte(fi.Name, '/'); i >= 0 {
		fi.NetNS, fi.Ifname = fi.Name[:i], fi.Name[i+1:]
	} else {
		fi.Ifname = fi.Name
	}
	r.ifaces = append(r.ifaces, fi)
	r.fresh = append(r.fresh, fi)
	return fi.ID
}

// HATypeForLinkType returns the ARPHRD_* hardware type of a Linux device
// whose SOCK_RAW frames have link type lt: the inverse of LinkTypeForHAType.
// Where several hardware types share a link type it picks one: Ethernet →
// ARPHRD_ETHER (also for loopback), raw IP, LINKTYPE_IPV4 and
// LINKTYPE_IPV6 → ARPHRD_NONE (tun, wireguard), token ring →
// ARPHRD_IEEE802_TR, Fibre Channel → ARPHRD_FCPP. ok is false for link
// types no Linux device has, and for LINKTYPE_LINUX_SLL and
// LINKTYPE_LINUX_SLL2, whose headers carry the hardware type per packet.
func HATypeForLinkType(lt layers.LinkType) (hatype uint16, ok bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return arphrdEther, true
	case LinkTypeEN3MB:
		return arphrdEEther, true
	case LinkTypeAX25KISS:
		return arphrdAX25, true
	case LinkTypePRONET:
		return arphrdPRONET, true
	case LinkTypeCHAOS:
		return arphrdCHAOS, true
	case LinkTypeCANSocketCAN:
		return arphrdCAN, true
	case layers.LinkTypeTokenRing:
		return arphrdIEEE802TR, true
	case layers.LinkTypeARCNetLinux:
		return arphrdARCNET, true
	case layers.LinkTypeFDDI:
		return arphrdFDDI, true
	case layers.LinkTypeIEEE802_11:
		return arphrdIEEE80211, true
	case layers.LinkTypePrismHeader:
		return arphrdIEEE80211Prism, true
	case layers.LinkTypeIEEE80211Radio:
		return arphrdIEEE80211Radiotap, true
	case layers.LinkTypeC_HDLC:
		return arphrdCisco, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return arphrdNone, true
	case layers.LinkTypeFRelay:
		return arphrdFRAD, true
	case layers.LinkTypeLTalk:
		return arphrdLocalTalk, true
	case layers.LinkTypeIPOverFC:
		return arphrdIPOverFC, true
	case layers.LinkTypeFC2:
		return arphrdFCPP, true
	case LinkTypeIEEE802154NoFCS:
		return arphrdIEEE802154, true
	case LinkTypeNetlink:
		return arphrdNetlink, true
	case LinkTypeVSOCK:
		return arphrdVSOCKMON, true
	}
	return 0, false
}
