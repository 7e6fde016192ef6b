package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	in := []struct {
		h    Header
		data []byte
	}{
		{Header{Iface: 3, TimeNanos: 1700000000123456789, OrigLen: 98, Dir: DirIn, PktType: 0, HAType: 1, Status: 0x11, VLANTCI: 42, VLANTPID: 0x8100, Drops: 7, TraceID: 9, Hop: 1, Hops: 3, Proto: 0x0800}, bytes.Repeat([]byte{0xab}, 61)},
		{Header{Iface: 0, TimeNanos: -1, OrigLen: 0, Dir: DirOut, PktType: 4, HAType: 772}, nil},
		{Header{Iface: 1, OrigLen: 1500, Dir: DirUnknown}, bytes.Repeat([]byte{1}, 64)},
	}
	var buf []byte
	for _, r := range in {
		buf = Append(buf, r.h, r.data)
	}
	if len(buf)%8 != 0 {
		t.Fatalf("batch length %d not 8-aligned", len(buf))
	}
	rd := NewReader(buf)
	for i, want := range in {
		var h Header
		data, ok, err := rd.Next(&h)
		if err != nil || !ok {
			t.Fatalf("record %d: ok=%v err=%v", i, ok, err)
		}
		want.h.CapLen = uint32(len(want.data))
		if diff := cmp.Diff(want.h, h); diff != "" {
			t.Errorf("record %d header (-want +got):\n%s", i, diff)
		}
		if !bytes.Equal(data, want.data) {
			t.Errorf("record %d data = %x, want %x", i, data, want.data)
		}
	}
	if _, ok, err := rd.Next(new(Header)); ok || err != nil {
		t.Fatalf("after last record: ok=%v err=%v", ok, err)
	}
}

func TestCorrupt(t *testing.T) {
	good := Append(nil, Header{Iface: 1}, []byte("hello"))
	cases := map[string][]byte{
		"short":        good[:10],
		"length zero":  append([]byte{0, 0, 0, 0}, good[4:]...),
		"length large": append([]byte{0xff, 0, 0, 0}, good[4:]...),
	}
	over := bytes.Clone(good)
	over[16] = 200 // captured length beyond the record
	cases["caplen beyond record"] = over
	for name, b := range cases {
		_, _, err := NewReader(b).Next(new(Header))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(Append(nil, Header{Iface: 1, Dir: DirIn}, []byte("abc")))
	f.Add([]byte{})
	f.Add(make([]byte, 57))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		var h Header
		for i := 0; i < len(b); i++ {
			data, ok, err := r.Next(&h)
			if err != nil || !ok {
				return
			}
			if len(data) != int(h.CapLen) {
				t.Fatalf("data %d bytes, caplen %d", len(data), h.CapLen)
			}
		}
	})
}

func BenchmarkAppendRead(b *testing.B) {
	data := make([]byte, 64)
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = Append(buf[:0], Header{Iface: 1, Dir: DirIn, OrigLen: 64}, data)
		var h Header
		NewReader(buf).Next(&h)
	}
}

func TestAppendAllocs(t *testing.T) {
	data := make([]byte, 64)
	buf := make([]byte, 0, 1<<16)
	n := testing.AllocsPerRun(1000, func() {
		buf = Append(buf[:0], Header{Iface: 1, Dir: DirIn}, data)
	})
	if n != 0 {
		t.Errorf("Append allocates %v times per record into a buffer with room", n)
	}
}
