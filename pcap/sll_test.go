package pcap

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendSLL2(t *testing.T) {
	prefix := []byte{0xee, 0xee}
	payload := []byte{0x45, 0x00, 0x00, 0x14}
	tests := []struct {
		name string
		addr []byte
		want []byte
	}{
		{
			name: "ethernet address",
			addr: []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
			want: []byte{
				0xee, 0xee, // prefix kept
				0x08, 0x00, // protocol
				0x00, 0x00, // reserved
				0x00, 0x01, 0x02, 0x03, // ifindex
				0x03, 0x38, // ARPHRD 824
				0x03,                               // packet type: otherhost
				0x06,                               // address length
				0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // address
				0x00, 0x00, // address padding
				0x45, 0x00, 0x00, 0x14, // payload
			},
		},
		{
			name: "no address",
			want: []byte{
				0xee, 0xee,
				0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x03, 0x38, 0x03,
				0x00,
				0, 0, 0, 0, 0, 0, 0, 0,
				0x45, 0x00, 0x00, 0x14,
			},
		},
		{
			name: "address longer than 8 bytes (InfiniBand)",
			addr: bytes.Repeat([]byte{0xab}, 20),
			want: []byte{
				0xee, 0xee,
				0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x03, 0x38, 0x03,
				20, // real length, as libpcap writes it
				0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
				0x45, 0x00, 0x00, 0x14,
			},
		},
	}
	for _, tt := range tests {
		got := AppendSLL2(bytes.Clone(prefix), 0x0800, 0x010203, 824, PacketOtherHost, tt.addr, payload)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: AppendSLL2 (-want +got):\n%s", tt.name, diff)
		}
		if len(got)-len(prefix)-len(payload) != SLL2HeaderLen {
			t.Errorf("%s: header is %d bytes, want %d", tt.name, len(got)-len(prefix)-len(payload), SLL2HeaderLen)
		}
	}
}

func TestAppendSLL(t *testing.T) {
	nlmsg := []byte{0x14, 0, 0, 0, 0x12, 0}
	got := AppendSLL(nil, PacketOutgoing, 824, nil, 0 /* NETLINK_ROUTE */, nlmsg)
	want := []byte{
		0x00, 0x04, // packet type: outgoing
		0x03, 0x38, // ARPHRD_NETLINK
		0x00, 0x00, // address length
		0, 0, 0, 0, 0, 0, 0, 0, // address
		0x00, 0x00, // protocol: netlink family
		0x14, 0, 0, 0, 0x12, 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendSLL (-want +got):\n%s", diff)
	}

	got = AppendSLL([]byte{9}, PacketHost, 1, []byte{1, 2, 3, 4, 5, 6}, 0x86dd, nil)
	want = []byte{9, 0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendSLL with address (-want +got):\n%s", diff)
	}
}

func TestAppendCANSocketCAN(t *testing.T) {
	ne := binary.NativeEndian
	// struct can_frame as the kernel hands it over: can_id in host order.
	cc := make([]byte, 16)
	ne.PutUint32(cc[0:], 0x80000123) // CAN_EFF_FLAG | 0x123
	cc[4] = 2                        // len
	cc[8], cc[9] = 0xaa, 0xbb
	in := bytes.Clone(cc)
	got := appendCANSocketCAN([]byte{7}, cc, 0x000c)
	want := append([]byte{7, 0x80, 0x00, 0x01, 0x23, 2, 0, 0, 0, 0xaa, 0xbb}, make([]byte, 6)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CAN CC frame (-want +got):\n%s", diff)
	}
	if !bytes.Equal(in, cc) {
		t.Errorf("appendCANSocketCAN modified its input")
	}

	// A stray CANXL_XLF bit in a CAN FD frame is cleared.
	fd := make([]byte, 72)
	ne.PutUint32(fd[0:], 0x7ff)
	fd[4] = 0x80 | 12
	fd[5] = 0x04 // CANFD_FDF
	got = appendCANSocketCAN(nil, fd, 0x000d)
	if want := []byte{0, 0, 0x07, 0xff, 12, 0x04}; !bytes.Equal(got[:6], want) {
		t.Errorf("CAN FD header = % x, want % x", got[:6], want)
	}

	// struct canxl_frame: prio, flags, sdt, len (host order), af (host order).
	xl := make([]byte, 12+3)
	ne.PutUint32(xl[0:], 0x0000_0242)
	xl[4] = 0x01 // CANXL_SEC, XLF missing
	xl[5] = 0x03 // SDT
	ne.PutUint16(xl[6:], 3)
	ne.PutUint32(xl[8:], 0x11223344)
	copy(xl[12:], "xyz")
	got = appendCANSocketCAN(nil, xl, 0x000e)
	want = []byte{
		0x00, 0x00, 0x02, 0x42, // priority, big-endian
		0x81,       // flags with CANXL_XLF
		0x03,       // SDT
		0x03, 0x00, // length, little-endian
		0x44, 0x33, 0x22, 0x11, // acceptance field, little-endian
		'x', 'y', 'z',
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CAN XL frame (-want +got):\n%s", diff)
	}

	// Too short to hold a CAN ID: copied unchanged.
	if got := appendCANSocketCAN(nil, []byte{1, 2}, 0x000c); !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("short frame = % x", got)
	}
}
