// Package record defines the packed layouts in which captured frames, and the
// traces that correlate them, travel from the tracer to plugins.
//
// Why a packed layout and not one protobuf message per frame: on this project's
// reference machine the whole per-sighting budget is well under a microsecond of
// CPU, and gRPC streaming with one message per packet costs two or more. So a
// batch carries its frames as consecutive records in one bytes field, and the
// tracer writes them straight from the capture ring into that buffer: one copy.
//
// A record is a fixed 56-byte little-endian header followed by the frame bytes,
// padded with zeros to a multiple of 8:
//
//	off size field
//	  0   4  record length in bytes, header + data + padding
//	  4   4  interface id (index into the run's interface table)
//	  8   8  timestamp, nanoseconds since the Unix epoch (kernel time)
//	 16   4  captured length (bytes of data that follow)
//	 20   4  original length on the wire
//	 24   1  direction: 0 unknown, 1 in, 2 out
//	 25   1  packet type (sll_pkttype: 0 host … 4 outgoing)
//	 26   2  hardware type (ARPHRD_*)
//	 28   4  status bits from the capture ring (TP_STATUS_*)
//	 32   2  VLAN TCI (valid when the VLAN-valid status bit is set)
//	 34   2  VLAN TPID (0 when unknown)
//	 36   4  frames the kernel dropped on this socket since the previous record
//	 40   8  trace id (0: not correlated)
//	 48   2  hop index within the trace, 1-based (0: unknown)
//	 50   2  hop count of the trace (0: unknown)
//	 52   2  link-level protocol (sll_protocol, host byte order)
//	 54   2  reserved, zero
//	 56   …  data, then padding
//
// Version: this is layout 1 of contract ifacetrace.plugin.v1. New fields are
// added only by a new layout number announced in the batch, never by moving
// these. Readers skip unknown trailing header bytes by honouring length.
//
// Traces travel packed for the same reason (trace.go documents the layout,
// TraceLayout 2): one protobuf Trace with a Hop and a Tuple message per
// sighting cost the host more CPU in allocation, garbage collection and
// marshalling than correlating the packet, and each plugin as much again to
// unmarshal. TraceWriter packs them with no allocation per trace; a
// TraceView reads one in place.
//
// Buffers: Append copies data into the destination; Reader returns data slices
// that alias the batch buffer and stay valid as long as that buffer does.
package record
