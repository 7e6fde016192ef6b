package afpacket

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

type seen struct {
	ifindex int32
	pkttype uint8
	hatype  uint16
	proto   uint16
	caplen  int
	origLen uint32
	time    int64
	sum     uint32 // of the data
}

func seenOf(p *Packet) seen {
	return seen{p.Ifindex, p.PktType, p.HAType, p.Proto, len(p.Data), p.OrigLen, p.TimeNanos, crc32.ChecksumIEEE(p.Data)}
}

// capture opens a socket inside the lab namespace role, runs traffic, and
// returns what the ring delivered. Every block is also taken raw, copied
// and walked again (ReadBlockRaw, WalkBlock), which must give the same
// frames.
func capture(t *testing.T, l *lab.Lab, role string, cfg Config, traffic func()) ([]seen, Stats) {
	t.Helper()
	var s *Socket
	err := netns.Do(l.Path(role), func() (err error) {
		s, err = Open(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("open socket in %s: %v", role, err)
	}
	done := make(chan []seen)
	var rawErr error
	go func() {
		var got, block []seen
		for {
			_, err := s.ReadBlockRaw(func(p *Packet) {
				got = append(got, seenOf(p))
				block = append(block, seenOf(p))
			}, func(raw []byte) {
				var again []seen
				_, werr := WalkBlock(bytes.Clone(raw), func(p *Packet) { again = append(again, seenOf(p)) })
				if werr != nil || !slices.Equal(again, block) {
					rawErr = fmt.Errorf("the block taken raw (%d bytes) walks to %d frames (%v), not the %d read", len(raw), len(again), werr, len(block))
				}
				block = block[:0]
			})
			if err != nil {
				done <- got
				return
			}
		}
	}()
	traffic()
	time.Sleep(50 * time.Millisecond) // > BlockTimeout: the last block retires
	s.Wake()
	got := <-done
	if rawErr != nil {
		t.Error(rawErr)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return got, st
}

func ifindex(t *testing.T, l *lab.Lab, role, dev string) int32 {
	t.Helper()
	var idx int
	err := netns.Do(l.Path(role), func() error {
		ifc, err := net.InterfaceByName(dev)
		if err == nil {
			idx = ifc.Index
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return int32(idx)
}

// udp sends n datagrams of size bytes from role's namespace to dst:9.
func udp(t *testing.T, l *lab.Lab, role, dst string, n, size int) {
	t.Helper()
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = make([]byte, size)
	}
	l.SendUDP(role, dst, 9, 0, payloads...)
}

func TestSocketAnyDirectionAndDevice(t *testing.T) {
	l := lab.NewPair(t)
	l.Addr("a", "lo", "10.200.8.1/32")
	va := ifindex(t, l, "a", "va")

	got, st := capture(t, l, "a", Config{}, func() {
		udp(t, l, "a", lab.PairB, 5, 100)   // out on va (after ARP)
		udp(t, l, "a", "10.200.8.1", 3, 50) // over lo: out and in
	})
	var vaOut, loOut, loIn int
	for _, p := range got {
		if p.proto != 0x0800 {
			continue
		}
		switch {
		case p.ifindex == va && p.pkttype == PacketOutgoing && p.origLen == 14+20+8+100:
			vaOut++
			if p.hatype != 1 || p.caplen != int(p.origLen) {
				t.Errorf("va frame: hatype %d caplen %d origlen %d", p.hatype, p.caplen, p.origLen)
			}
		case p.ifindex == 1 && p.origLen == 14+20+8+50:
			if p.hatype != 772 {
				t.Errorf("lo frame hatype %d, want 772", p.hatype)
			}
			if p.pkttype == PacketOutgoing {
				loOut++
			} else if p.pkttype == PacketHost {
				loIn++
			}
		}
		if p.time < time.Now().Add(-time.Minute).UnixNano() || p.time > time.Now().UnixNano() {
			t.Errorf("timestamp %d not within the last minute", p.time)
		}
	}
	if vaOut != 5 || loOut != 3 || loIn != 3 {
		t.Errorf("va out %d (want 5), lo out %d (want 3), lo in %d (want 3); all: %+v", vaOut, loOut, loIn, got)
	}
	if st.Packets < uint64(len(got)) || st.Drops != 0 {
		t.Errorf("stats %+v after %d frames", st, len(got))
	}
}

func TestSocketDeviceSnapLen(t *testing.T) {
	l := lab.NewPair(t)
	l.Addr("a", "lo", "10.200.8.1/32")
	vb := ifindex(t, l, "b", "vb")

	got, _ := capture(t, l, "b", Config{Ifindex: int(vb), SnapLen: 64, Promiscuous: true}, func() {
		udp(t, l, "a", lab.PairB, 4, 500)
		udp(t, l, "b", "127.0.0.1", 2, 500) // on lo: must not be seen by a socket bound to vb
	})
	var in int
	for _, p := range got {
		if p.ifindex != vb {
			t.Errorf("socket bound to vb saw ifindex %d", p.ifindex)
		}
		if p.caplen > 64 {
			t.Errorf("caplen %d > snaplen 64", p.caplen)
		}
		if p.proto == 0x0800 && p.origLen == 14+20+8+500 && p.pkttype == PacketHost {
			in++
		}
	}
	if in != 4 {
		t.Errorf("saw %d inbound UDP frames on vb, want 4: %+v", in, got)
	}
}

func TestOpenPromiscuousNeedsDevice(t *testing.T) {
	if _, err := Open(Config{Promiscuous: true}); err == nil {
		t.Fatal("promiscuous on any: no error")
	}
}

// Behind: false while the ring is empty or less than half full, true once
// the kernel has handed over half the ring, false again once the reader
// has taken the blocks. Four 64 KiB blocks hold 7 frames of 8 KB each, so
// 24 datagrams fill three blocks and part of the fourth.
func TestSocketBehind(t *testing.T) {
	l := lab.NewPair(t)
	l.Exec("a", "ip", "link", "set", "va", "mtu", "9000")
	l.Exec("b", "ip", "link", "set", "vb", "mtu", "9000")
	va := ifindex(t, l, "a", "va")
	var s *Socket
	err := netns.Do(l.Path("a"), func() (err error) {
		s, err = Open(Config{Ifindex: int(va), BlockSize: 64 << 10, NumBlocks: 4, BlockTimeout: time.Second})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Behind() {
		t.Fatal("Behind with an empty ring")
	}
	udp(t, l, "a", lab.PairB, 4, 8000) // half a block: not handed over yet
	if s.Behind() {
		t.Fatal("Behind with half a block filled")
	}
	udp(t, l, "a", lab.PairB, 20, 8000)
	if !s.Behind() {
		t.Fatal("not Behind with three of four blocks filled")
	}
	for range 2 {
		if _, err := s.ReadBlock(func(*Packet) {}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Behind() {
		t.Fatal("still Behind after the two full blocks were read")
	}
}
