package decode

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestTruncated cuts every table frame at every length. The contract: no
// panic; ErrTruncated (Valid false, Fingerprint 0) while the cut is inside
// a header, nil (Valid) from the end of the last header on; and from the
// point where all hashed payload bytes are in, the fingerprint of the whole
// frame.
func TestTruncated(t *testing.T) {
	for _, tc := range decodeCases() {
		hatype, tci, frame := tc.spec.frame(t)
		var whole Packet
		if err := Decode(hatype, tci, frame, &whole); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for n := 0; n <= len(frame); n++ {
			var p Packet
			err := Decode(hatype, tci, frame[:n:n], &p)
			switch {
			case n < tc.hdr:
				if err != ErrTruncated || p.Valid || p.Fingerprint != 0 {
					t.Errorf("%s cut at %d: %v Valid %v Fingerprint %#x, want ErrTruncated, invalid, 0",
						tc.name, n, err, p.Valid, p.Fingerprint)
				}
			case err != nil || !p.Valid:
				t.Errorf("%s cut at %d (headers end at %d): %v Valid %v, want nil, valid", tc.name, n, tc.hdr, err, p.Valid)
			case n >= tc.hdr+min(whole.PayloadLen, payloadHashLen) && p.Fingerprint != whole.Fingerprint:
				t.Errorf("%s cut at %d: fingerprint %#x, want %#x of the whole frame", tc.name, n, p.Fingerprint, whole.Fingerprint)
			}
			checkString(t, &p)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	for _, tc := range decodeCases() {
		hatype, tci, frame := tc.spec.frame(t)
		var p Packet
		named := tc.spec.l4 != lldp // ProtoName formats "ethertype 0x88cc"
		allocs := testing.AllocsPerRun(100, func() {
			_ = Decode(hatype, tci, frame, &p)
			if named {
				_ = p.ProtoName()
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Decode and ProtoName, want 0", tc.name, allocs)
		}
	}
	frame := make([]byte, 1500)
	var p Packet
	for _, hatype := range []uint16{824, 1, 0xfffe} { // whole frame hashed, junk Ethernet, junk raw IP
		if allocs := testing.AllocsPerRun(100, func() { _ = Decode(hatype, 0, frame, &p) }); allocs != 0 {
			t.Errorf("hatype %d: %v allocations per Decode, want 0", hatype, allocs)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		hatype, tci, frame := tc.spec.frame(f)
		f.Add(hatype, tci, frame)
	}
	for _, ts := range tunnelSpecs() {
		_, _, outer := ts.frames(f)
		f.Add(uint16(arphrdEther), uint16(0), outer)
	}
	f.Fuzz(func(t *testing.T, hatype, tci uint16, data []byte) {
		var p, q Packet
		err := Decode(hatype, tci, data, &p)
		if err2 := Decode(hatype, tci, data, &q); err2 != err || p != q {
			t.Fatalf("not deterministic: %v %+v, then %v %+v", err, p, err2, q)
		}
		switch err {
		case nil, ErrLinkType:
			if !p.Valid {
				t.Fatalf("%v but not Valid", err)
			}
		case ErrTruncated, ErrMalformed:
			if p.Valid || p.Fingerprint != 0 {
				t.Fatalf("%v but Valid %v Fingerprint %#x", err, p.Valid, p.Fingerprint)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if p.PayloadLen < 0 {
			t.Fatalf("PayloadLen %d", p.PayloadLen)
		}
		// String and AppendString print what String did before
		// AppendString, within the bound its buffer is sized for.
		checkString(t, &p)
		if s := p.String(); len(s) > maxStringLen {
			t.Fatalf("String() is %d bytes, more than maxStringLen %d: %q", len(s), maxStringLen, s)
		}

		// An untagged IP frame decodes to the same fingerprint without its
		// Ethernet header, that is on a raw IP device.
		if hatype == arphrdEther && err == nil && len(data) >= ethHeaderLen &&
			(p.EtherType == EtherTypeIPv4 || p.EtherType == EtherTypeIPv6) &&
			be16(data[12:]) == p.EtherType {
			var r Packet
			if err := Decode(arphrdRawIP, 0, data[ethHeaderLen:], &r); err != nil || r.Fingerprint != p.Fingerprint {
				t.Fatalf("raw IP: %v fingerprint %#x, Ethernet: %#x", err, r.Fingerprint, p.Fingerprint)
			}
		}
	})
}

type benchFrame struct {
	name        string
	hatype, tci uint16
	frame       []byte
}

func benchFrames(b *testing.B) []benchFrame {
	var out []benchFrame
	add := func(name string, s spec) {
		hatype, tci, frame := s.frame(b)
		out = append(out, benchFrame{name, hatype, tci, frame})
	}
	payload := make([]byte, 512)
	add("udp4-ether", base4(udp).with(func(s *spec) { s.payload = payload }))
	add("tcp6-ether", base6(tcp).with(func(s *spec) { s.payload, s.mss = payload, 1440 }))
	add("icmp4-raw", base4(icmpEcho).with(func(s *spec) { s.framing, s.payload = rawIP, payload[:56] }))
	add("udp6-ext-vlan", base6(udp).with(func(s *spec) { s.ext6, s.frag, s.tags, s.payload = true, true, []uint16{10}, payload }))
	add("arp", base4(arp))
	return out
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(f.frame)))
			for b.Loop() {
				_ = Decode(f.hatype, f.tci, f.frame, &p)
			}
		})
	}
}

// BenchmarkDecodingLayerParser measures gopacket's fastest decoding path on
// the same frames, decoding only (no fingerprint), for the choice recorded
// in doc.go. IPv6 destination options are not a DecodingLayer in gopacket,
// so on udp6-ext-vlan the parser stops there, short of the UDP header.
func BenchmarkDecodingLayerParser(b *testing.B) {
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		frag    layers.IPv6Fragment
		tcpL    layers.TCP
		udpL    layers.UDP
		icmp4   layers.ICMPv4
		arpL    layers.ARP
		payload gopacket.Payload
	)
	for _, f := range benchFrames(b) {
		b.Run(f.name, func(b *testing.B) {
			first := layers.LayerTypeEthernet
			if f.hatype != arphrdEther {
				first = layers.LayerTypeIPv4
			}
			parser := gopacket.NewDecodingLayerParser(first,
				&eth, &dot1q, &ip4, &ip6, &frag, &tcpL, &udpL, &icmp4, &arpL, &payload)
			parser.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 16)
			b.ReportAllocs()
			b.SetBytes(int64(len(f.frame)))
			for b.Loop() {
				_ = parser.DecodeLayers(f.frame, &decoded)
			}
		})
	}
}
