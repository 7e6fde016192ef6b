package decode

import (
	"net"
	"net/netip"
	"testing"
)

// fingerprintBases are packets whose copies the invariance and distinctness
// tests compare.
func fingerprintBases() map[string]spec {
	big := make([]byte, 200)
	for i := range big {
		big[i] = byte(i)
	}
	return map[string]spec{
		"tcp4":         base4(tcp).with(func(s *spec) { s.mss = 1460 }),
		"udp4":         base4(udp),
		"udp4 large":   base4(udp).with(func(s *spec) { s.payload = big }),
		"icmp4 echo":   base4(icmpEcho),
		"icmp4 error":  base4(icmpErr),
		"icmp4 query":  base4(ndp),
		"frag4":        base4(fragRest).with(func(s *spec) { s.fragOff, s.df = 185, false }),
		"gre4":         base4(gre),
		"tcp6":         base6(tcp).with(func(s *spec) { s.mss = 1440 }),
		"udp6 options": base6(udp).with(func(s *spec) { s.ext6 = true }),
		"udp6 frag":    base6(udp).with(func(s *spec) { s.frag = true }),
		"frag6":        base6(fragRest).with(func(s *spec) { s.fragOff = 100 }),
		"icmp6 echo":   base6(icmpEcho),
		"icmp6 error":  base6(icmpErr),
		"arp":          base4(arp),
		"lldp":         base4(lldp).with(func(s *spec) { s.payload = big[:64] }), // no padding
	}
}

func isIP(s spec) bool { return s.l4 != arp && s.l4 != lldp }

// TestFingerprintInvariance: what forwarding hops, bridges, NAT and capture
// framing change does not change the fingerprint.
func TestFingerprintInvariance(t *testing.T) {
	snat4, snat6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	dnat4, dnat6 := netip.MustParseAddr("10.99.0.7"), netip.MustParseAddr("fd99::7")
	changes := []struct {
		name    string
		applies func(spec) bool
		change  func(*spec)
	}{
		{"ttl decremented", isIP, func(s *spec) { s.ttl-- }},
		{"checksums not computed", isIP, func(s *spec) { s.noChecksums = true }},
		// The ARP body carries the sender's MAC too, and nothing rewrites it.
		{"macs changed", func(s spec) bool { return s.l4 != arp }, func(s *spec) {
			s.srcMAC = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 9}
			s.dstMAC = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 8}
		}},
		{"802.1Q tag added", nil, func(s *spec) { s.tags = []uint16{42} }},
		{"802.1ad tags added", nil, func(s *spec) { s.tags = []uint16{42, 43} }},
		{"tag stripped by the kernel", nil, func(s *spec) { s.tci = 42 }},
		{"raw ip framing", isIP, func(s *spec) { s.framing = rawIP }},
		{"loopback framing", nil, func(s *spec) { s.framing = loopback }},
		{"ethernet trailer", func(s spec) bool { return s.l4 != lldp }, func(s *spec) { s.padTo = 300 }},
		{"dscp and ecn rewritten", isIP, func(s *spec) { s.tos = 0xb9 }},
		{"flow label changed", isIP, func(s *spec) { s.flowLabel = 0xabcde }},
		{"snat", isIP, func(s *spec) {
			s.src, s.sport, s.icmpID = snat4, 61000, 33333
			if s.v6 {
				s.src = snat6
			}
		}},
		{"dnat", isIP, func(s *spec) {
			s.dst, s.dport = dnat4, 8080
			if s.v6 {
				s.dst = dnat6
			}
		}},
		{"mss clamped", func(s spec) bool { return s.mss != 0 }, func(s *spec) { s.mss = 1200 }},
		{"quoted packet translated", func(s spec) bool { return s.l4 == icmpErr }, func(s *spec) {
			s.innerSrc, s.innerDst, s.innerSport = snat4, dnat4, 1024
			if s.v6 {
				s.innerSrc, s.innerDst = snat6, dnat6
			}
		}},
	}
	for name, base := range fingerprintBases() {
		want := decodeSpec(t, base).Fingerprint
		for _, c := range changes {
			if c.applies != nil && !c.applies(base) {
				continue
			}
			got := decodeSpec(t, base.with(c.change)).Fingerprint
			if got != want {
				t.Errorf("%s, %s: fingerprint %#x, want %#x as unchanged", name, c.name, got, want)
			}
		}
	}
}

// TestFingerprintDistinct: packets that differ in what no hop rewrites have
// different fingerprints.
func TestFingerprintDistinct(t *testing.T) {
	bases := fingerprintBases()
	for _, tc := range []struct {
		base, name string
		change     func(*spec)
	}{
		{"tcp4", "ip id", func(s *spec) { s.id++ }},
		{"tcp4", "seq", func(s *spec) { s.seq++ }},
		{"tcp4", "ack", func(s *spec) { s.ack++ }},
		{"tcp4", "flags", func(s *spec) { s.flags |= TCPFin }},
		{"tcp4", "window", func(s *spec) { s.win++ }},
		{"tcp4", "df", func(s *spec) { s.df = false }},
		{"tcp4", "payload byte", func(s *spec) { s.payload[0]++ }},
		{"tcp4", "protocol", func(s *spec) { s.l4 = udp }},
		{"udp4", "ip id", func(s *spec) { s.id++ }},
		{"udp4", "payload byte", func(s *spec) { s.payload[11]++ }},
		{"udp4", "payload length", func(s *spec) { s.payload = s.payload[:11] }},
		{"udp4", "protocol", func(s *spec) { s.l4 = gre }},
		{"udp4 large", "payload byte 63", func(s *spec) { s.payload[63]++ }},
		{"udp4 large", "length beyond 64 bytes", func(s *spec) { s.payload = s.payload[:199] }},
		{"icmp4 echo", "seq", func(s *spec) { s.icmpSeq++ }},
		{"icmp4 echo", "payload byte", func(s *spec) { s.payload[5]++ }},
		{"icmp4 echo", "protocol", func(s *spec) { s.l4 = udp }},
		{"icmp4 error", "quoted ip id", func(s *spec) { s.innerID++ }},
		{"icmp4 query", "seq", func(s *spec) { s.icmpSeq++ }},
		{"frag4", "offset", func(s *spec) { s.fragOff++ }},
		{"frag4", "ip id", func(s *spec) { s.id++ }},
		{"frag4", "payload byte", func(s *spec) { s.payload[0]++ }},
		{"gre4", "payload byte", func(s *spec) { s.payload[0]++ }},
		{"tcp6", "seq", func(s *spec) { s.seq++ }},
		{"tcp6", "payload byte", func(s *spec) { s.payload[3]++ }},
		{"udp6 options", "payload byte", func(s *spec) { s.payload[3]++ }},
		{"udp6 frag", "fragment id", func(s *spec) { s.fragID++ }},
		{"frag6", "fragment id", func(s *spec) { s.fragID++ }},
		{"frag6", "offset", func(s *spec) { s.fragOff++ }},
		{"icmp6 echo", "seq", func(s *spec) { s.icmpSeq++ }},
		{"icmp6 echo", "ip version", func(s *spec) { s.v6, s.src, s.dst = false, v4a, v4b }},
		{"arp", "op", func(s *spec) { s.arpOp = 2 }},
		{"arp", "target", func(s *spec) { s.dst = netip.MustParseAddr("10.200.2.3") }},
		{"lldp", "payload byte", func(s *spec) { s.payload[0]++ }},
	} {
		base, ok := bases[tc.base]
		if !ok {
			t.Fatalf("no base %q", tc.base)
		}
		a := decodeSpec(t, base).Fingerprint
		b := decodeSpec(t, base.with(tc.change)).Fingerprint
		if a == b {
			t.Errorf("%s, %s changed: same fingerprint %#x", tc.base, tc.name, a)
		}
	}
}

// TestFingerprintLimits pins what the fingerprint does not see.
func TestFingerprintLimits(t *testing.T) {
	bases := fingerprintBases()
	// Two identical IPv6 datagrams (no identification): the correlator
	// tells them apart by time and device, not by fingerprint.
	a := decodeSpec(t, bases["udp6 options"])
	b := decodeSpec(t, bases["udp6 options"])
	if a.Fingerprint != b.Fingerprint {
		t.Error("identical IPv6 datagrams have different fingerprints")
	}
	// Payload bytes after the first 64 are not hashed.
	large := bases["udp4 large"]
	c := decodeSpec(t, large.with(func(s *spec) { s.payload[64]++ }))
	if c.Fingerprint != decodeSpec(t, large).Fingerprint {
		t.Error("a payload byte after the first 64 changed the fingerprint")
	}
}

// TestFingerprintSnaplen: a copy cut by the snap length matches the whole
// packet iff at least 64 payload bytes (or the whole payload) were captured.
func TestFingerprintSnaplen(t *testing.T) {
	big := make([]byte, 300)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		spec spec
		hdr  int
	}{
		{"tcp4", base4(tcp).with(func(s *spec) { s.payload = big }), 14 + 20 + 20},
		{"udp4 vlan", base4(udp).with(func(s *spec) { s.payload, s.tags = big, []uint16{7} }), 18 + 20 + 8},
		{"icmp4 echo", base4(icmpEcho).with(func(s *spec) { s.payload = big }), 14 + 20 + 8},
		{"tcp6", base6(tcp).with(func(s *spec) { s.payload = big }), 14 + 40 + 20},
		{"icmp6 echo", base6(icmpEcho).with(func(s *spec) { s.payload = big }), 14 + 40 + 8},
		{"frag4", base4(fragRest).with(func(s *spec) { s.payload, s.fragOff = big, 3 }), 14 + 20},
	} {
		hatype, tci, frame := tc.spec.frame(t)
		var whole, cut Packet
		if err := Decode(hatype, tci, frame, &whole); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := Decode(hatype, tci, frame[:tc.hdr+64], &cut); err != nil {
			t.Fatalf("%s cut: %v", tc.name, err)
		}
		if cut.Fingerprint != whole.Fingerprint || cut.PayloadLen != whole.PayloadLen {
			t.Errorf("%s: cut after 64 payload bytes: fingerprint %#x length %d, want %#x %d",
				tc.name, cut.Fingerprint, cut.PayloadLen, whole.Fingerprint, whole.PayloadLen)
		}
		if err := Decode(hatype, tci, frame[:tc.hdr+63], &cut); err != nil {
			t.Fatalf("%s cut: %v", tc.name, err)
		}
		if cut.Fingerprint == whole.Fingerprint {
			t.Errorf("%s: cut after 63 payload bytes matches the whole packet", tc.name)
		}
	}
}

// TestFingerprintStable pins the hash: fingerprints are the same in every
// process and every run, so a change here changes what stored fingerprints
// mean. Update the constants only on purpose.
func TestFingerprintStable(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec spec
		want uint64
	}{
		{"udp4", base4(udp), 0x161a454cef34d63a},
		{"tcp6", base6(tcp), 0x085475cf12435d22},
	} {
		if got := decodeSpec(t, tc.spec).Fingerprint; got != tc.want {
			t.Errorf("%s: fingerprint %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// TestFingerprintSpread: all 65536 IPv4 identifications and 65536 TCP
// sequence numbers give as many different fingerprints.
func TestFingerprintSpread(t *testing.T) {
	hatype, tci, frame := base4(tcp).frame(t)
	seen := make(map[uint64]bool)
	var p Packet
	for i := range 1 << 16 {
		frame[14+4], frame[14+5] = byte(i>>8), byte(i)
		_ = Decode(hatype, tci, frame, &p)
		seen[p.Fingerprint] = true
	}
	frame[14+4], frame[14+5] = 0, 0
	seq := frame[14+20+4 : 14+20+8]
	for i := range 1 << 16 {
		seq[0], seq[1], seq[2], seq[3] = 0x80, 0, byte(i>>8), byte(i)
		_ = Decode(hatype, tci, frame, &p)
		seen[p.Fingerprint] = true
	}
	if want := 2 << 16; len(seen) != want {
		t.Errorf("%d distinct fingerprints, want %d", len(seen), want)
	}
}
