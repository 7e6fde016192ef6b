package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// TraceLayout is the layout of packed traces (Batch.trace_records) this
// package reads and writes.
const TraceLayout = 2

// Packed trace layout 2, little endian, every trace a multiple of 8 bytes:
//
//	0   u32  size of this trace in bytes
//	4   u16  hops (n)
//	6   u8   flags: 1 = the packet was decoded
//	7   u8   changes (c)
//	8   u64  trace id
//	16  i64  time of the first sighting, Unix ns
//	24  i64  transit: last sighting minus first, ns
//	32  u64  flow id (0: none)
//	40  u16  path length in bytes
//	42  u16  summary length in bytes
//	44  u16  hop length in bytes (h): TraceHopLen, or TraceTunnelHopLen
//	         when a hop saw the packet in a tunnel
//	46  u16  segments: how many pieces the packet was cut into (GSO, TSO)
//	         or glued from (GRO) on its way; 0 when neither
//	48  u16  stop note length in bytes
//	50  u16  conntrack note length in bytes
//	52  4B   0
//	56       n hops of h bytes each
//	         the path, the summary, the stop note, the conntrack note, then
//	         c × (u16 length, bytes), zero padding
//
// A hop:
//
//	0   i64  time, Unix ns
//	8   u32  interface id
//	12  u32  original length of the frame
//	16  u8   direction
//	17  u8   IPv4 TTL / IPv6 hop limit (0 when not IP)
//	18  u8   IP protocol
//	19  u8   0
//	20  u16  EtherType (0: not decoded)
//	22  u16  source port (TCP/UDP; ICMP echo id)
//	24  u16  destination port (ICMP echo id)
//	26  u8   source address length (0, 4 or 16)
//	27  u8   destination address length
//	28  u16  segment: the piece of the packet this hop saw, 1… in sequence
//	         order, in a trace with segments; 0 for the whole packet
//	30  u16  0
//	32  16B  source address (ARP: sender)
//	48  16B  destination address (ARP: target)
//
// and, in a trace of TraceTunnelHopLen-byte hops, the tunnel (all zero
// for a hop that saw the packet as itself; the addresses above are always
// the packet's own, inside the tunnel):
//
//	64  u8   encapsulation (Encap; 0: none)
//	65  u8   flags: 1 = the tunnel id is set
//	66  u8   outer source address length (4 or 16)
//	67  u8   outer destination address length
//	68  u32  tunnel id (VNI, GRE key)
//	72  u16  outer EtherType
//	74  u8   outer IP protocol
//	75  u8   outer TTL / hop limit
//	76  u16  outer source port (VXLAN, Geneve)
//	78  u16  outer destination port
//	80  16B  outer source address
//	96  16B  outer destination address
//
// Layout 1 had a 48-byte header without hop length, segments and stop
// note, and TraceHopLen-byte hops only. Readers honour the hop length, so a
// later layout may add fields at the end of a hop without moving these.
const (
	TraceHeaderLen    = 56
	TraceHopLen       = 64
	TraceTunnelHopLen = 112
)

const traceDecoded = 1

// Trace is what a writer packs: one packet's sightings. Text fields are
// copied.
type Trace struct {
	ID           uint64
	TimeNanos    int64
	TransitNanos int64
	FlowID       uint64
	Decoded      bool
	Segments     uint16
	Path         string
	Summary      []byte
	Stopped      string // where a packet that ended inside the host stopped; "" if it did not
	Conntrack    string // what connection tracking said of it; "" if nothing
	Changes      []string
}

// Tuple is a packet's addresses at one hop.
type Tuple struct {
	EtherType        uint16
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// ProtoName names the tuple's protocol as plugins see it: "tcp", "udp",
// "icmp", "icmp6", "igmp", "gre", "esp", "ah", "sctp" or the protocol
// number for IP; "ipv4"/"ipv6" when the addresses were not read; "arp";
// "ethertype 0x…" for other EtherTypes; "" when nothing was decoded.
func (t Tuple) ProtoName() string {
	switch t.EtherType {
	case 0:
		return ""
	case 0x0800, 0x86dd:
		if !t.Src.IsValid() {
			if t.EtherType == 0x0800 {
				return "ipv4"
			}
			return "ipv6"
		}
		if s := IPProtoName(t.Proto); s != "" {
			return s
		}
		return strconv.Itoa(int(t.Proto))
	case 0x0806:
		return "arp"
	}
	return fmt.Sprintf("ethertype 0x%04x", t.EtherType)
}

// IPProtoName names the IP protocols that have a name in ProtoName ("tcp",
// "udp", "icmp", "icmp6", "igmp", "gre", "esp", "ah", "sctp"); "" for the
// others.
func IPProtoName(proto uint8) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmp6"
	case 2:
		return "igmp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 132:
		return "sctp"
	}
	return ""
}

// IPProtoNumber is the protocol IPProtoName names name, or the decimal
// number name is; ok is false for anything else.
func IPProtoNumber(name string) (proto uint8, ok bool) {
	for p := range 256 {
		if name != "" && IPProtoName(uint8(p)) == name {
			return uint8(p), true
		}
	}
	n, err := strconv.ParseUint(name, 10, 8)
	return uint8(n), err == nil
}

// TraceHop is one sighting of a traced packet.
type TraceHop struct {
	TimeNanos int64
	Iface     uint32
	OrigLen   uint32
	Dir       Direction
	TTL       uint8
	Tuple     Tuple
	Tunnel    Tunnel
	Segment   uint16
}

// TraceWriter packs traces: Begin, a Hop per sighting, End. The zero value
// is ready; Bytes returns what was packed and Reset empties it, keeping the
// memory.
type TraceWriter struct {
	buf    []byte
	start  int
	hops   int
	hopLen int
	n      int
}

// Begin starts a trace.
func (w *TraceWriter) Begin() {
	w.start = len(w.buf)
	w.hops = 0
	w.hopLen = TraceHopLen
	w.buf = grow(w.buf, TraceHeaderLen)
}

// Hop adds a sighting to the trace begun last.
func (w *TraceWriter) Hop(h *TraceHop) {
	if h.Tunnel.Encap != EncapNone && w.hopLen == TraceHopLen {
		w.widen()
	}
	off := len(w.buf)
	w.buf = grow(w.buf, w.hopLen)
	b := w.buf[off : off+w.hopLen]
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(h.TimeNanos))
	le.PutUint32(b[8:], h.Iface)
	le.PutUint32(b[12:], h.OrigLen)
	b[16], b[17], b[18], b[19] = byte(h.Dir), h.TTL, h.Tuple.Proto, 0
	le.PutUint16(b[20:], h.Tuple.EtherType)
	le.PutUint16(b[22:], h.Tuple.SrcPort)
	le.PutUint16(b[24:], h.Tuple.DstPort)
	b[26], b[27] = putAddr(b[32:48], h.Tuple.Src), putAddr(b[48:64], h.Tuple.Dst)
	le.PutUint16(b[28:], h.Segment)
	le.PutUint16(b[30:], 0)
	if w.hopLen == TraceTunnelHopLen {
		putTunnel(b[64:TraceTunnelHopLen], &h.Tunnel)
	}
	w.hops++
}

// widen makes the hops of the trace begun last TraceTunnelHopLen long,
// with zero tunnels: a hop with a tunnel is coming.
func (w *TraceWriter) widen() {
	first := w.start + TraceHeaderLen
	w.buf = grow(w.buf, w.hops*(TraceTunnelHopLen-TraceHopLen))
	for k := w.hops - 1; k >= 0; k-- {
		to := first + k*TraceTunnelHopLen
		copy(w.buf[to:to+TraceHopLen], w.buf[first+k*TraceHopLen:])
		clear(w.buf[to+TraceHopLen : to+TraceTunnelHopLen])
	}
	w.hopLen = TraceTunnelHopLen
}

func putTunnel(b []byte, t *Tunnel) {
	le := binary.LittleEndian
	b[0], b[1] = byte(t.Encap), 0
	if t.HasID {
		b[1] = 1
	}
	b[2], b[3] = putAddr(b[16:32], t.Outer.Src), putAddr(b[32:48], t.Outer.Dst)
	le.PutUint32(b[4:], t.ID)
	le.PutUint16(b[8:], t.Outer.EtherType)
	b[10], b[11] = t.Outer.Proto, t.OuterTTL
	le.PutUint16(b[12:], t.Outer.SrcPort)
	le.PutUint16(b[14:], t.Outer.DstPort)
}

func getTunnel(b []byte) Tunnel {
	le := binary.LittleEndian
	return Tunnel{
		Encap: Encap(b[0]), HasID: b[1]&1 != 0, ID: le.Uint32(b[4:]), OuterTTL: b[11],
		Outer: Tuple{
			EtherType: le.Uint16(b[8:]), Proto: b[10], SrcPort: le.Uint16(b[12:]), DstPort: le.Uint16(b[14:]),
			Src: getAddr(b[16:32], b[2]), Dst: getAddr(b[32:48], b[3]),
		},
	}
}

// End completes the trace begun last with its header and text. Text longer
// than 65535 bytes is cut; more than 255 changes are cut to 255.
func (w *TraceWriter) End(t *Trace) {
	path, summary, stopped, ctNote := clip16(t.Path), clip16(t.Summary), clip16(t.Stopped), clip16(t.Conntrack)
	changes := t.Changes[:min(len(t.Changes), 255)]
	w.buf = append(w.buf, path...)
	w.buf = append(w.buf, summary...)
	w.buf = append(w.buf, stopped...)
	w.buf = append(w.buf, ctNote...)
	for _, c := range changes {
		c = clip16(c)
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(len(c)))
		w.buf = append(w.buf, c...)
	}
	for len(w.buf)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
	b := w.buf[w.start:]
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint16(b[4:], uint16(w.hops))
	b[6] = 0
	if t.Decoded {
		b[6] = traceDecoded
	}
	b[7] = byte(len(changes))
	le.PutUint64(b[8:], t.ID)
	le.PutUint64(b[16:], uint64(t.TimeNanos))
	le.PutUint64(b[24:], uint64(t.TransitNanos))
	le.PutUint64(b[32:], t.FlowID)
	le.PutUint16(b[40:], uint16(len(path)))
	le.PutUint16(b[42:], uint16(len(summary)))
	le.PutUint16(b[44:], uint16(w.hopLen))
	le.PutUint16(b[46:], t.Segments)
	le.PutUint16(b[48:], uint16(len(stopped)))
	le.PutUint16(b[50:], uint16(len(ctNote)))
	clear(b[52:56])
	w.n++
}

// Bytes returns the packed traces; they alias the writer's memory until
// the next Reset.
func (w *TraceWriter) Bytes() []byte { return w.buf }

// Count is how many traces were packed since the last Reset.
func (w *TraceWriter) Count() int { return w.n }

// Reset empties the writer.
func (w *TraceWriter) Reset() { w.buf, w.n = w.buf[:0], 0 }

// ResetTo empties the writer and has it pack into buf's memory from now
// on, leaving what Bytes returned to the caller.
func (w *TraceWriter) ResetTo(buf []byte) { w.buf, w.n = buf[:0], 0 }

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		g := make([]byte, len(b), 2*cap(b)+n)
		copy(g, b)
		b = g
	}
	return b[:len(b)+n]
}

func putAddr(b []byte, a netip.Addr) byte {
	switch {
	case a.Is4():
		v := a.As4()
		copy(b, v[:])
		clear(b[4:])
		return 4
	case a.IsValid():
		v := a.As16()
		copy(b, v[:])
		return 16
	}
	clear(b)
	return 0
}

// clip16 cuts s to what a 16-bit length can say.
func clip16[T string | []byte](s T) T {
	if len(s) > 0xffff {
		return s[:0xffff]
	}
	return s
}

// ErrCorruptTrace reports packed traces that do not parse.
var ErrCorruptTrace = errors.New("record: corrupt packed trace")

// TraceView is one packed trace, read in place: its accessors allocate
// nothing except where they return a string.
type TraceView struct {
	b []byte
}

// TraceReader walks packed traces.
type TraceReader struct {
	buf []byte
	off int
}

// NewTraceReader returns a reader over packed traces.
func NewTraceReader(buf []byte) *TraceReader { return &TraceReader{buf: buf} }

// Next returns the next trace, ok=false at the end, and an error wrapping
// ErrCorruptTrace when the rest does not parse. The view aliases the buffer.
func (r *TraceReader) Next() (v TraceView, ok bool, err error) {
	rest := r.buf[r.off:]
	if len(rest) == 0 {
		return TraceView{}, false, nil
	}
	if len(rest) < TraceHeaderLen {
		return TraceView{}, false, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrCorruptTrace, len(rest), r.off)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(rest))
	if n < TraceHeaderLen || n > len(rest) || n%8 != 0 {
		return TraceView{}, false, fmt.Errorf("%w: size %d with %d bytes left at offset %d", ErrCorruptTrace, n, len(rest), r.off)
	}
	v = TraceView{rest[:n]}
	if hl := v.hopLen(); hl < TraceHopLen || hl%8 != 0 || v.NumHops() > (n-TraceHeaderLen)/hl {
		return TraceView{}, false, fmt.Errorf("%w: %d hops of %d bytes in %d at offset %d", ErrCorruptTrace, v.NumHops(), hl, n, r.off)
	}
	// Everything the accessors read must lie inside the trace.
	text := v.textOff()
	end := text + int(le.Uint16(rest[40:])) + int(le.Uint16(rest[42:])) + int(le.Uint16(rest[48:])) + int(le.Uint16(rest[50:]))
	for range int(rest[7]) {
		if end+2 > n {
			end = n + 1
			break
		}
		end += 2 + int(le.Uint16(rest[end:]))
	}
	if end > n || rest[4] == 0 && rest[5] == 0 {
		return TraceView{}, false, fmt.Errorf("%w: %d hops and text need %d of %d bytes at offset %d", ErrCorruptTrace, v.NumHops(), end, n, r.off)
	}
	r.off += n
	return v, true, nil
}

func (v TraceView) textOff() int { return TraceHeaderLen + v.NumHops()*v.hopLen() }

// hopLen is the length of each hop.
func (v TraceView) hopLen() int { return int(binary.LittleEndian.Uint16(v.b[44:])) }

// ID is the trace id: the records' trace id and pcapng's epb_packetid.
func (v TraceView) ID() uint64 { return binary.LittleEndian.Uint64(v.b[8:]) }

// TimeNanos is the time of the first sighting.
func (v TraceView) TimeNanos() int64 { return int64(binary.LittleEndian.Uint64(v.b[16:])) }

// TransitNanos is the last sighting's time minus the first's.
func (v TraceView) TransitNanos() int64 { return int64(binary.LittleEndian.Uint64(v.b[24:])) }

// FlowID is the flow the trace belongs to; 0 for none.
func (v TraceView) FlowID() uint64 { return binary.LittleEndian.Uint64(v.b[32:]) }

// Decoded reports whether the packet was decoded.
func (v TraceView) Decoded() bool { return v.b[6]&traceDecoded != 0 }

// Segments is how many pieces the packet was cut into or glued from on
// its way (Trace.Segments); 0 when neither.
func (v TraceView) Segments() uint16 { return binary.LittleEndian.Uint16(v.b[46:]) }

// NumHops is the number of sightings.
func (v TraceView) NumHops() int { return int(binary.LittleEndian.Uint16(v.b[4:])) }

// Hop returns sighting i (0 ≤ i < NumHops).
func (v TraceView) Hop(i int) TraceHop {
	hl := v.hopLen()
	b := v.b[TraceHeaderLen+i*hl:][:hl]
	le := binary.LittleEndian
	var tun Tunnel
	if hl >= TraceTunnelHopLen {
		tun = getTunnel(b[64:TraceTunnelHopLen])
	}
	return TraceHop{
		Tunnel:    tun,
		Segment:   le.Uint16(b[28:]),
		TimeNanos: int64(le.Uint64(b[0:])),
		Iface:     le.Uint32(b[8:]),
		OrigLen:   le.Uint32(b[12:]),
		Dir:       Direction(b[16]),
		TTL:       b[17],
		Tuple: Tuple{
			Proto: b[18], EtherType: le.Uint16(b[20:]),
			SrcPort: le.Uint16(b[22:]), DstPort: le.Uint16(b[24:]),
			Src: getAddr(b[32:48], b[26]), Dst: getAddr(b[48:64], b[27]),
		},
	}
}

func getAddr(b []byte, n byte) netip.Addr {
	switch n {
	case 4:
		return netip.AddrFrom4([4]byte(b[:4]))
	case 16:
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	return netip.Addr{}
}

// Path is the hops as "NETNS/IFNAME dir → …"; it aliases the buffer.
func (v TraceView) Path() []byte {
	o := v.textOff()
	return v.b[o : o+int(binary.LittleEndian.Uint16(v.b[40:]))]
}

// Summary is a one-line description of the packet at its first hop; it
// aliases the buffer.
func (v TraceView) Summary() []byte {
	o := v.textOff() + int(binary.LittleEndian.Uint16(v.b[40:]))
	return v.b[o : o+int(binary.LittleEndian.Uint16(v.b[42:]))]
}

// Stopped is where a packet that ended inside the host stopped ("stopped
// after labhost/br0 in; expected next: labhost/up0 out"), empty if it did
// not; it aliases the buffer.
func (v TraceView) Stopped() []byte {
	le := binary.LittleEndian
	o := v.textOff() + int(le.Uint16(v.b[40:])) + int(le.Uint16(v.b[42:]))
	return v.b[o : o+int(le.Uint16(v.b[48:]))]
}

// Conntrack is what connection tracking said of the packet in each
// namespace that tracked it ("labhost: zone 0, mark 0x0, ASSURED SRC_NAT;
// SNAT 10.200.1.2→10.200.2.1 confirmed"), empty if nothing; it aliases
// the buffer.
func (v TraceView) Conntrack() []byte {
	le := binary.LittleEndian
	o := v.textOff() + int(le.Uint16(v.b[40:])) + int(le.Uint16(v.b[42:])) + int(le.Uint16(v.b[48:]))
	return v.b[o : o+int(le.Uint16(v.b[50:]))]
}

// NumChanges is the number of changes between hops.
func (v TraceView) NumChanges() int { return int(v.b[7]) }

// Changes calls f with each change between hops ("SNAT a→b", …), in order;
// the bytes alias the buffer.
func (v TraceView) Changes(f func(c []byte)) {
	le := binary.LittleEndian
	o := v.textOff() + int(le.Uint16(v.b[40:])) + int(le.Uint16(v.b[42:])) + int(le.Uint16(v.b[48:])) + int(le.Uint16(v.b[50:]))
	for range v.NumChanges() {
		n := int(le.Uint16(v.b[o:]))
		f(v.b[o+2 : o+2+n])
		o += 2 + n
	}
}
