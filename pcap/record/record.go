package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the size of a record header in bytes.
const HeaderLen = 56

// Layout is the record layout version this package reads and writes.
const Layout = 1

// Direction of a sighting relative to the device it was seen on.
type Direction uint8

const (
	DirUnknown Direction = 0
	DirIn      Direction = 1
	DirOut     Direction = 2
)

func (d Direction) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	}
	return "?"
}

// Header is the metadata of one captured frame.
type Header struct {
	Iface     uint32
	TimeNanos int64
	CapLen    uint32
	OrigLen   uint32
	Dir       Direction
	PktType   uint8
	HAType    uint16
	Status    uint32
	VLANTCI   uint16
	VLANTPID  uint16
	Drops     uint32
	TraceID   uint64
	Hop       uint16
	Hops      uint16
	Proto     uint16
}

// Size returns the encoded size of a record carrying caplen bytes of data.
func Size(caplen int) int { return (HeaderLen + caplen + 7) &^ 7 }

// Put encodes h into the first HeaderLen bytes of b, with the record length
// field set for h.CapLen bytes of data. b must be at least HeaderLen long.
func Put(b []byte, h *Header) {
	_ = b[HeaderLen-1]
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(Size(int(h.CapLen))))
	le.PutUint32(b[4:], h.Iface)
	le.PutUint64(b[8:], uint64(h.TimeNanos))
	le.PutUint32(b[16:], h.CapLen)
	le.PutUint32(b[20:], h.OrigLen)
	b[24] = byte(h.Dir)
	b[25] = h.PktType
	le.PutUint16(b[26:], h.HAType)
	le.PutUint32(b[28:], h.Status)
	le.PutUint16(b[32:], h.VLANTCI)
	le.PutUint16(b[34:], h.VLANTPID)
	le.PutUint32(b[36:], h.Drops)
	le.PutUint64(b[40:], h.TraceID)
	le.PutUint16(b[48:], h.Hop)
	le.PutUint16(b[50:], h.Hops)
	le.PutUint16(b[52:], h.Proto)
	le.PutUint16(b[54:], 0)
}

// Append appends one record (h with data) to dst and returns the extended
// slice. h.CapLen is taken from len(data).
func Append(dst []byte, h Header, data []byte) []byte {
	h.CapLen = uint32(len(data))
	n := Size(len(data))
	off := len(dst)
	if cap(dst)-off < n {
		grown := make([]byte, off, 2*cap(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:off+n]
	Put(dst[off:], &h)
	copy(dst[off+HeaderLen:], data)
	clear(dst[off+HeaderLen+len(data) : off+n])
	return dst
}

// ErrCorrupt reports a batch whose records do not parse.
var ErrCorrupt = errors.New("record: corrupt packet record")

// Reader walks the records of a batch buffer.
type Reader struct {
	buf []byte
	off int
}

// NewReader returns a Reader over buf.
func NewReader(buf []byte) *Reader { return &Reader{buf: buf} }

// Next decodes the next record into h and returns its data, which aliases the
// buffer. It returns ok=false at the end of the buffer, and an error wrapping
// ErrCorrupt when the remaining bytes are not a valid record.
func (r *Reader) Next(h *Header) (data []byte, ok bool, err error) {
	rest := r.buf[r.off:]
	if len(rest) == 0 {
		return nil, false, nil
	}
	if len(rest) < HeaderLen {
		return nil, false, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrCorrupt, len(rest), r.off)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(rest[0:]))
	caplen := le.Uint32(rest[16:])
	if n < HeaderLen || n > len(rest) || uint64(caplen) > uint64(n-HeaderLen) {
		return nil, false, fmt.Errorf("%w: length %d, captured %d, %d bytes left at offset %d", ErrCorrupt, n, caplen, len(rest), r.off)
	}
	h.Iface = le.Uint32(rest[4:])
	h.TimeNanos = int64(le.Uint64(rest[8:]))
	h.CapLen = caplen
	h.OrigLen = le.Uint32(rest[20:])
	h.Dir = Direction(rest[24])
	h.PktType = rest[25]
	h.HAType = le.Uint16(rest[26:])
	h.Status = le.Uint32(rest[28:])
	h.VLANTCI = le.Uint16(rest[32:])
	h.VLANTPID = le.Uint16(rest[34:])
	h.Drops = le.Uint32(rest[36:])
	h.TraceID = le.Uint64(rest[40:])
	h.Hop = le.Uint16(rest[48:])
	h.Hops = le.Uint16(rest[50:])
	h.Proto = le.Uint16(rest[52:])
	r.off += n
	return rest[HeaderLen : HeaderLen+int(caplen)], true, nil
}
