package pcap

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInsertVLAN(t *testing.T) {
	macs := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}
	frame := append(bytes.Clone(macs), 0x08, 0x00, 0x45, 0x00)
	tests := []struct {
		name       string
		dst, frame []byte
		tpid, tci  uint16
		want       []byte
	}{
		{
			name:  "default TPID",
			frame: frame, tci: 0x2064, // PCP 1, VID 100
			want: append(bytes.Clone(macs), 0x81, 0x00, 0x20, 0x64, 0x08, 0x00, 0x45, 0x00),
		},
		{
			name:  "802.1ad TPID, appended to dst",
			dst:   []byte{0xff},
			frame: frame, tpid: 0x88a8, tci: 7,
			want: append(append([]byte{0xff}, macs...), 0x88, 0xa8, 0x00, 0x07, 0x08, 0x00, 0x45, 0x00),
		},
		{
			name:  "MAC addresses only",
			frame: macs, tci: 1,
			want: append(bytes.Clone(macs), 0x81, 0x00, 0x00, 0x01),
		},
		{
			name:  "shorter than the MAC addresses",
			dst:   []byte{0xff},
			frame: macs[:11], tci: 1,
			want: append([]byte{0xff}, macs[:11]...),
		},
		{name: "empty", frame: nil, want: nil},
	}
	for _, tt := range tests {
		in := bytes.Clone(tt.frame)
		got := InsertVLAN(tt.dst, tt.frame, tt.tpid, tt.tci)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: InsertVLAN (-want +got):\n%s", tt.name, diff)
		}
		if !bytes.Equal(in, tt.frame) {
			t.Errorf("%s: InsertVLAN modified its input", tt.name)
		}
	}
}
