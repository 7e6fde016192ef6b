package codec

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// batch is a Batch with every kind of field set, its byte fields n bytes.
func batch(n int) *pb.Batch {
	recs := make([]byte, n)
	traces := make([]byte, n/2+1)
	for i := range recs {
		recs[i] = byte(i * 7)
	}
	for i := range traces {
		traces[i] = byte(i * 13)
	}
	return &pb.Batch{
		Seq:          42,
		Interfaces:   []*pb.Interface{{Id: 3, Name: "br0"}, {Id: 4, Name: "veth-c"}},
		Records:      recs,
		RecordCount:  9,
		Stats:        &pb.Stats{},
		Traces:       []*pb.Trace{{Id: 1}},
		Flows:        []*pb.Flow{{Id: 7}},
		TraceRecords: traces,
		TraceCount:   3,
	}
}

// sent is what a Sender marshals b to, and what it does with done.
func sent(t *testing.T, b *pb.Batch, done func()) mem.BufferSlice {
	t.Helper()
	s := NewSender()
	st := &holdStream{codec: s}
	if err := s.Send(st, b, done); err != nil {
		t.Fatal(err)
	}
	return st.held
}

// holdStream is the part of a gRPC client stream a Sender uses: SendMsg
// encodes with the stream's codec and, as gRPC's transport does, keeps a
// reference to the encoded buffers until they are written, here until the
// test frees them.
type holdStream struct {
	grpc.ClientStream
	codec *Sender
	held  mem.BufferSlice
}

func (h *holdStream) SendMsg(m any) error {
	data, err := h.codec.Marshal(m)
	if err != nil {
		return err
	}
	data.Ref()  // the transport's reference
	data.Free() // SendMsg's own, dropped when it returns
	h.held = data
	return nil
}

func (h *holdStream) Context() context.Context { return context.Background() }

func TestSenderWireIsProto(t *testing.T) {
	for _, n := range []int{0, 100, lendMin - 1, lendMin, 1 << 20} {
		b := batch(n)
		data := sent(t, b, nil)
		wire := data.Materialize()
		data.Free()
		got := &pb.Batch{}
		if err := proto.Unmarshal(wire, got); err != nil {
			t.Fatalf("n=%d: proto cannot read what Sender sent: %v", n, err)
		}
		if !proto.Equal(got, b) {
			t.Errorf("n=%d: proto read back\n%v\nwant\n%v", n, got, b)
		}
	}
}

func TestSenderLendsUntilWritten(t *testing.T) {
	b := batch(1 << 20)
	recs := b.Records
	var calls int
	data := sent(t, b, func() { calls++ })
	if calls != 0 {
		t.Fatalf("done called %d times while gRPC still holds the batch's buffers", calls)
	}
	// The records went out without a copy: the slice sent is the batch's.
	var lent bool
	for _, buf := range data {
		if d := buf.ReadOnlyData(); len(d) == len(recs) && &d[0] == &recs[0] {
			lent = true
		}
	}
	if !lent {
		t.Error("the records were copied, not lent")
	}
	data.Free()
	if calls != 1 {
		t.Errorf("done called %d times once gRPC freed the buffers; want 1", calls)
	}
}

func TestSenderSmallIsCopied(t *testing.T) {
	var calls int
	data := sent(t, batch(100), func() { calls++ })
	if calls != 1 {
		t.Errorf("done called %d times after sending a small batch (copied); want 1 right away", calls)
	}
	data.Free()
	if calls != 1 {
		t.Errorf("done called again when the copy was freed (%d calls)", calls)
	}
}

func TestSenderOtherMessages(t *testing.T) {
	s := NewSender()
	r := &pb.Report{Lines: []string{"hello"}, ConsumedSeq: 3}
	data, err := s.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := &pb.Report{}
	if err := s.Unmarshal(data, got); err != nil || !proto.Equal(got, r) {
		t.Errorf("Report round trip: %v, %v", got, err)
	}
}

// receive unmarshals wire with r, as gRPC's server hands it over: in
// frames of 16 KB.
func receive(t *testing.T, r *Receiver, wire []byte) *pb.Batch {
	t.Helper()
	var data mem.BufferSlice
	for len(wire) > 0 {
		n := min(len(wire), 16<<10)
		data = append(data, mem.SliceBuffer(bytes.Clone(wire[:n])))
		wire = wire[n:]
	}
	b := &pb.Batch{}
	if err := r.Unmarshal(data, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiverReadsProto(t *testing.T) {
	for _, n := range []int{0, 100, lendMin, 1 << 20} {
		want := batch(n)
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		for _, reuse := range []bool{false, true} {
			got := receive(t, NewReceiver(reuse), wire)
			if !proto.Equal(got, want) {
				t.Errorf("n=%d reuse=%v: read\n%v\nwant\n%v", n, reuse, got, want)
			}
		}
	}
}

func TestReceiverReadsSender(t *testing.T) {
	want := batch(1 << 20)
	data := sent(t, want, nil)
	wire := data.Materialize()
	data.Free()
	if got := receive(t, NewReceiver(true), wire); !proto.Equal(got, want) {
		t.Error("a Receiver did not read back what a Sender sent")
	}
}

func TestReceiverReuse(t *testing.T) {
	wire, _ := proto.Marshal(batch(1 << 20))
	for _, reuse := range []bool{false, true} {
		r := NewReceiver(reuse)
		first := receive(t, r, wire)
		p := &first.Records[0]
		kept := bytes.Clone(first.Records)
		r.Release(first)
		second := receive(t, r, wire)
		if same := &second.Records[0] == p; same != reuse {
			t.Errorf("reuse=%v: the second batch's records in the first's memory: %v", reuse, same)
		}
		if !reuse && !bytes.Equal(first.Records, kept) {
			t.Error("without reuse, a released batch's records changed")
		}
		if reuse && first.Records != nil {
			t.Error("with reuse, Release left the batch's records in place")
		}
	}
}

// FuzzReceiver reads what proto reads, and never panics, whatever comes.
// The fuzzed bytes are the head of a message that a large records field
// ends, so that the Receiver's own path is taken and inputs stay small.
func FuzzReceiver(f *testing.F) {
	head, _ := proto.Marshal(batch(100))
	f.Add(head)
	f.Add(head[:len(head)/2])
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0x0f}) // a field longer than the message
	f.Add([]byte{0x4a, 0x03, 1, 2})             // trace records running into the next field
	tail := protowire.AppendBytes(protowire.AppendTag(nil, recordsNum, protowire.BytesType), make([]byte, lendMin))
	f.Fuzz(func(t *testing.T, head []byte) {
		wire := append(head[:len(head):len(head)], tail...)
		r := NewReceiver(true)
		b := &pb.Batch{}
		err := r.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, b)
		want := &pb.Batch{}
		werr := proto.Unmarshal(wire, want)
		if err != nil {
			return // proto may accept what the split rejects: a records field in a group
		}
		if werr != nil {
			t.Fatalf("Receiver read a batch proto rejects (%v)", werr)
		}
		if !proto.Equal(b, want) {
			t.Fatalf("Receiver read\n%v\nproto read\n%v", b, want)
		}
		r.Release(b)
	})
}
