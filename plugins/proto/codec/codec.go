// Package codec is the gRPC codec of the plugin stream. On the wire it is
// gRPC's proto codec, byte for byte: any plugin, in any language, reads what
// it sends, and it reads what any host sends. What it changes is memory.
//
// A Batch is mostly two byte fields, the packet records and the packed
// traces, megabytes at full rate. gRPC's proto codec copies them into a
// fresh message buffer to send them, and on the other side copies the
// received frames into one buffer and then, in proto.Unmarshal, into fresh
// slices again. Each copy of fresh memory costs page faults besides the
// copy (on the benchmark's virtual machine a fault costs ~10 µs, and the
// faults of these copies were a tenth of the CPU time of `ifacetrace -r`).
//
//   - Sender (the host) sends the two fields from the caller's own buffers,
//     without a copy, and tells the caller when gRPC has written them, so
//     that the buffers can be filled again (Sender.Send).
//   - Receiver (a plugin) copies the received frames once, into a buffer
//     that the next batch reuses when the plugin keeps nothing of a batch
//     after consuming it (Receiver.Release), and the two fields point into
//     that buffer. The rest of the batch is unmarshalled as usual.
//
// Messages other than Batch, and batches too small for the difference to
// matter, go through gRPC's proto codec unchanged.
package codec

import (
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers "proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// Name is the codec's name, gRPC's for proto: the content-type stays
// application/grpc+proto, so the other side uses whatever proto codec it
// has.
const Name = "proto"

// lendMin is the size of a byte field below which it is copied as gRPC
// would: the copy is cheap, and buffers this small are not reference
// counted by gRPC (mem.NewBuffer returns them as plain slices).
const lendMin = 16 << 10

var (
	protoCodec = encoding.GetCodecV2(Name)

	batchFields     = (&pb.Batch{}).ProtoReflect().Descriptor().Fields()
	recordsNum      = batchFields.ByName("records").Number()
	traceRecordsNum = batchFields.ByName("trace_records").Number()
)

// Sender is the codec of one stream of batches from the host, used by one
// goroutine at a time (the stream's sender).
type Sender struct {
	loan *loan // of the batch being sent
}

// NewSender returns a Sender; pass CallOption() when opening the stream.
func NewSender() *Sender { return &Sender{} }

// CallOption makes s the stream's codec.
func (s *Sender) CallOption() grpc.CallOption { return grpc.ForceCodecV2(s) }

// Name implements encoding.CodecV2.
func (s *Sender) Name() string { return Name }

// Send sends b on stream, opened with s.CallOption(), and calls done (when
// not nil) once b's records and trace records are no longer needed: right
// away when they were copied, otherwise when gRPC has written them to the
// connection or given up on them, which may be after Send returns and on
// another goroutine. b must not change until then.
func (s *Sender) Send(stream grpc.ClientStream, b *pb.Batch, done func()) error {
	l := &loan{done: done}
	l.refs.Store(1) // Send's own, until SendMsg returns
	s.loan = l
	err := stream.SendMsg(b)
	s.loan = nil
	l.release()
	return err
}

// Marshal implements encoding.CodecV2: a Batch's large byte fields are
// referenced, not copied.
func (s *Sender) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*pb.Batch)
	l := s.loan
	if !ok || l == nil || len(b.Records) < lendMin && len(b.TraceRecords) < lendMin {
		return protoCodec.Marshal(v)
	}
	s.loan = nil // one message per Send
	head, err := proto.Marshal(withoutBytes(b))
	if err != nil {
		return nil, err
	}
	var out mem.BufferSlice
	for _, f := range []struct {
		num  protowire.Number
		data []byte
	}{{recordsNum, b.Records}, {traceRecordsNum, b.TraceRecords}} {
		if len(f.data) == 0 {
			continue
		}
		head = protowire.AppendTag(head, f.num, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(len(f.data)))
		if len(f.data) < lendMin {
			head = append(head, f.data...)
			continue
		}
		out = append(out, mem.SliceBuffer(head))
		head = nil
		l.refs.Add(1)
		data := f.data
		out = append(out, mem.NewBuffer(&data, l))
	}
	if len(head) > 0 {
		out = append(out, mem.SliceBuffer(head))
	}
	return out, nil
}

// Unmarshal implements encoding.CodecV2 for the reports coming back.
func (s *Sender) Unmarshal(data mem.BufferSlice, v any) error {
	return protoCodec.Unmarshal(data, v)
}

// withoutBytes is a shallow copy of b without its two byte fields. b is
// shared by the senders of several plugins, so it is not changed.
func withoutBytes(b *pb.Batch) *pb.Batch {
	h := &pb.Batch{}
	hm := h.ProtoReflect()
	bm := b.ProtoReflect()
	bm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if n := fd.Number(); n != recordsNum && n != traceRecordsNum {
			hm.Set(fd, v)
		}
		return true
	})
	if u := bm.GetUnknown(); len(u) > 0 {
		hm.SetUnknown(u)
	}
	return h
}

// loan counts the references to one batch's buffers: Send's, and one per
// buffer handed to gRPC, which gRPC drops by "returning it to its pool".
type loan struct {
	refs atomic.Int32
	done func()
}

func (l *loan) release() {
	if l.refs.Add(-1) == 0 && l.done != nil {
		l.done()
	}
}

// Get implements mem.BufferPool; gRPC only puts a loan's buffers back.
func (l *loan) Get(int) *[]byte { panic("codec: Get from a loan") }

// Put implements mem.BufferPool: gRPC is done with one of the buffers.
func (l *loan) Put(*[]byte) { l.release() }

// Receiver is the codec of a plugin's server.
type Receiver struct {
	reuse bool

	mu   sync.Mutex
	free [][]byte
	held map[*pb.Batch][]byte
	rest []byte
}

// maxFree bounds the buffers a Receiver keeps for reuse.
const maxFree = 2

// NewReceiver returns a Receiver; pass ServerOption() to grpc.NewServer.
// With reuse, every batch is received into memory that the batch after it
// reuses once Release(batch) was called: the plugin must keep no part of
// a batch's records or trace records after Release.
func NewReceiver(reuse bool) *Receiver {
	return &Receiver{reuse: reuse, held: map[*pb.Batch][]byte{}}
}

// ServerOption makes r the server's codec, for all its services.
func (r *Receiver) ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(r) }

// Name implements encoding.CodecV2.
func (r *Receiver) Name() string { return Name }

// Marshal implements encoding.CodecV2.
func (r *Receiver) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

// Unmarshal implements encoding.CodecV2: a Batch's records and trace
// records point into one copy of the message.
func (r *Receiver) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*pb.Batch)
	n := data.Len()
	if !ok || n < lendMin {
		return protoCodec.Unmarshal(data, v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := r.get(n)
	data.CopyTo(buf)
	rest := r.rest[:0]
	var recs, traces []byte
	for p := buf; len(p) > 0; {
		num, typ, tn := protowire.ConsumeTag(p)
		if tn < 0 {
			return fmt.Errorf("codec: batch: %w", protowire.ParseError(tn))
		}
		vn := protowire.ConsumeFieldValue(num, typ, p[tn:])
		if vn < 0 {
			return fmt.Errorf("codec: batch: %w", protowire.ParseError(vn))
		}
		if typ == protowire.BytesType && (num == recordsNum || num == traceRecordsNum) {
			v, _ := protowire.ConsumeBytes(p[tn:])
			v = v[:len(v):len(v)] // an append must not write over what follows
			if num == recordsNum {
				recs = v
			} else {
				traces = v
			}
		} else {
			rest = append(rest, p[:tn+vn]...)
		}
		p = p[tn+vn:]
	}
	r.rest = rest
	if err := proto.Unmarshal(rest, b); err != nil {
		return err
	}
	b.Records, b.TraceRecords = recs, traces
	if r.reuse {
		r.held[b] = buf
	}
	return nil
}

// get returns a buffer of n bytes, reused when one is free.
func (r *Receiver) get(n int) []byte {
	for i, f := range r.free {
		if cap(f) >= n {
			r.free[i] = r.free[len(r.free)-1]
			r.free = r.free[:len(r.free)-1]
			return f[:n]
		}
	}
	return make([]byte, n, n+n/4)
}

// Release returns b's memory for the next batch, when the Receiver reuses
// memory; b's records and trace records must not be used afterwards, and
// are set to nil.
func (r *Receiver) Release(b *pb.Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf, ok := r.held[b]
	if !ok {
		return
	}
	delete(r.held, b)
	b.Records, b.TraceRecords = nil, nil
	if len(r.free) < maxFree {
		r.free = append(r.free, buf)
	} else if i := smallest(r.free); cap(r.free[i]) < cap(buf) {
		r.free[i] = buf
	}
}

func smallest(bufs [][]byte) int {
	k := 0
	for i := range bufs {
		if cap(bufs[i]) < cap(bufs[k]) {
			k = i
		}
	}
	return k
}
