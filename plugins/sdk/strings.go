package sdk

import "net/netip"

// Strings keeps one string per distinct text or address seen: a capture
// has few distinct paths, changes and addresses and many packets, so
// turning bytes into strings once each saves an allocation per packet.
// The zero value is ready; it forgets everything when it holds too many.
type Strings struct {
	texts map[string]string
	addrs map[netip.Addr]string
}

// stringsMax bounds what a Strings keeps.
const stringsMax = 4096

// Text returns b as a string, the same string for the same bytes.
func (s *Strings) Text(b []byte) string {
	if t, ok := s.texts[string(b)]; ok {
		return t
	}
	if s.texts == nil || len(s.texts) >= stringsMax {
		s.texts = make(map[string]string)
	}
	t := string(b)
	s.texts[t] = t
	return t
}

// Addr returns a.String(), "" for no address.
func (s *Strings) Addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if t, ok := s.addrs[a]; ok {
		return t
	}
	if s.addrs == nil || len(s.addrs) >= stringsMax {
		s.addrs = make(map[netip.Addr]string)
	}
	t := a.String()
	s.addrs[a] = t
	return t
}
