package json

import (
	"strconv"
	"unicode/utf8"
)

// Trace lines are most of what the plugin writes: a capture of 5.1 million
// sightings gave 1.7 million of them, about 1 KB each. When encoding/json
// wrote them, its reflection (walking the struct, its fields and their tags
// for every line) was most of the plugin's CPU time. The functions in this
// file write the same bytes for traceLine, hopLine and tunnelLine by hand
// instead, in about a third of the time and without allocating.
//
// "The same bytes" means exactly what the plugin's encoding/json Encoder
// (newEncoder: HTML escaping off) writes for these types: members in field
// order, the omitempty fields left out when zero, nil slices as null,
// integers in decimal, strings escaped by encoding/json's rules, and a
// newline at the end. The equivalence and fuzz tests in append_test.go pin
// this to encoding/json's output, so a field added to these types, a
// changed tag or a change of the encoder's settings fails them until this
// file follows.

// appendTraceLine appends l as the plugin's encoding/json Encoder would
// write it: one JSON object and a newline.
func appendTraceLine(dst []byte, l *traceLine) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, l.Type)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendUint(dst, l.ID, 10)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, l.Time)
	dst = append(dst, `,"time_unix_nano":`...)
	dst = strconv.AppendInt(dst, l.TimeUnixNano, 10)
	dst = append(dst, `,"transit_ns":`...)
	dst = strconv.AppendInt(dst, l.TransitNS, 10)
	dst = append(dst, `,"summary":`...)
	dst = appendString(dst, l.Summary)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, l.Path)
	dst = append(dst, `,"flow_id":`...)
	dst = strconv.AppendUint(dst, l.FlowID, 10)
	dst = append(dst, `,"changes":`...)
	if l.Changes == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, c := range l.Changes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, c)
		}
		dst = append(dst, ']')
	}
	if l.Segments != 0 {
		dst = append(dst, `,"segments":`...)
		dst = strconv.AppendUint(dst, uint64(l.Segments), 10)
	}
	if l.Stopped != "" {
		dst = append(dst, `,"stopped":`...)
		dst = appendString(dst, l.Stopped)
	}
	if l.Conntrack != "" {
		dst = append(dst, `,"conntrack":`...)
		dst = appendString(dst, l.Conntrack)
	}
	dst = append(dst, `,"hops":`...)
	if l.Hops == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range l.Hops {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendHopLine(dst, &l.Hops[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, "}\n"...)
}

// appendHopLine appends h as encoding/json would.
func appendHopLine(dst []byte, h *hopLine) []byte {
	dst = append(dst, `{"netns":`...)
	dst = appendString(dst, h.Netns)
	dst = append(dst, `,"ifname":`...)
	dst = appendString(dst, h.Ifname)
	dst = append(dst, `,"device":`...)
	dst = appendString(dst, h.Device)
	dst = append(dst, `,"interface_id":`...)
	dst = strconv.AppendUint(dst, uint64(h.InterfaceID), 10)
	dst = append(dst, `,"direction":`...)
	dst = appendString(dst, h.Direction)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, h.Time)
	dst = append(dst, `,"time_unix_nano":`...)
	dst = strconv.AppendInt(dst, h.TimeUnixNano, 10)
	dst = append(dst, `,"offset_ns":`...)
	dst = strconv.AppendInt(dst, h.OffsetNS, 10)
	dst = append(dst, `,"length":`...)
	dst = strconv.AppendUint(dst, uint64(h.Length), 10)
	dst = append(dst, `,"ttl":`...)
	dst = strconv.AppendUint(dst, uint64(h.TTL), 10)
	dst = append(dst, `,"proto":`...)
	dst = appendString(dst, h.Proto)
	dst = append(dst, `,"src":`...)
	dst = appendString(dst, h.Src)
	dst = append(dst, `,"dst":`...)
	dst = appendString(dst, h.Dst)
	dst = append(dst, `,"sport":`...)
	dst = strconv.AppendUint(dst, uint64(h.Sport), 10)
	dst = append(dst, `,"dport":`...)
	dst = strconv.AppendUint(dst, uint64(h.Dport), 10)
	if h.Tunnel != nil {
		dst = append(dst, `,"tunnel":`...)
		dst = appendTunnelLine(dst, h.Tunnel)
	}
	if h.Segment != 0 {
		dst = append(dst, `,"segment":`...)
		dst = strconv.AppendUint(dst, uint64(h.Segment), 10)
	}
	return append(dst, '}')
}

// appendTunnelLine appends t as encoding/json would.
func appendTunnelLine(dst []byte, t *tunnelLine) []byte {
	dst = append(dst, `{"encap":`...)
	dst = appendString(dst, t.Encap)
	if t.ID != nil {
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendUint(dst, uint64(*t.ID), 10)
	}
	dst = append(dst, `,"outer_proto":`...)
	dst = appendString(dst, t.OuterProto)
	dst = append(dst, `,"outer_src":`...)
	dst = appendString(dst, t.OuterSrc)
	dst = append(dst, `,"outer_dst":`...)
	dst = appendString(dst, t.OuterDst)
	dst = append(dst, `,"outer_sport":`...)
	dst = strconv.AppendUint(dst, uint64(t.OuterSport), 10)
	dst = append(dst, `,"outer_dport":`...)
	dst = strconv.AppendUint(dst, uint64(t.OuterDport), 10)
	dst = append(dst, `,"outer_ttl":`...)
	dst = strconv.AppendUint(dst, uint64(t.OuterTTL), 10)
	return append(dst, '}')
}

// appendString appends s as a quoted JSON string the way encoding/json
// does with HTML escaping off (its appendString, escapeHTML false): ASCII
// control characters as \b, \f, \n, \r, \t or \u00XX (lower-case hex),
// '"' and '\\' after a backslash, each byte that is not part of valid
// UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029, and everything
// else (<, > and & included) as it is.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is still to be copied as it is
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// timeLen is the length of every time appendTime writes: a time in int64
// nanoseconds since the epoch lies in the years 1677 to 2262, so the year
// always has four digits.
const timeLen = len("2006-01-02T15:04:05.000000000Z")

// appendTime appends ns, a time in nanoseconds since the Unix epoch, in
// TimeLayout in UTC: what time.Unix(0, ns).UTC().Format(TimeLayout)
// returns, without Format's parsing of the layout for every time. It
// always appends timeLen bytes.
func appendTime(dst []byte, ns int64) []byte {
	// Split into whole seconds and nanoseconds ≥ 0, then days and seconds
	// of the day ≥ 0, rounding towards minus infinity as time.Unix does:
	// 1 ns before the epoch is 1969-12-31T23:59:59.999999999Z.
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec--
		frac += 1e9
	}
	days, sod := sec/86400, sec%86400
	if sod < 0 {
		days--
		sod += 86400
	}
	year, month, day := civilDate(days)

	var b [timeLen]byte
	put4(b[0:], year)
	b[4] = '-'
	put2(b[5:], month)
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
	put2(b[11:], sod/3600)
	b[13] = ':'
	put2(b[14:], sod/60%60)
	b[16] = ':'
	put2(b[17:], sod%60)
	b[19] = '.'
	put3(b[20:], frac/1e6)
	put3(b[23:], frac/1e3%1e3)
	put3(b[26:], frac%1e3)
	b[29] = 'Z'
	return append(dst, b[:]...)
}

// civilDate returns the proleptic Gregorian date of the day days after
// 1970-01-01, as time.Time.Date would: Howard Hinnant's civil_from_days,
// for days > -719468, which every int64 of nanoseconds is (more than
// -106752 days).
func civilDate(days int64) (year, month, day int64) {
	z := days + 719468                                     // days since 0000-03-01
	era := z / 146097                                      // 400-year eras
	doe := z - era*146097                                  // day of the era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from 1 March, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	year = yoe + era*400
	if month > 12 {
		month -= 12
		year++
	}
	return year, month, day
}

// twoDigits is 00 to 99, for put2.
const twoDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// put2 writes v, 0 ≤ v < 100, as two digits.
func put2(b []byte, v int64) {
	b[0], b[1] = twoDigits[2*v], twoDigits[2*v+1]
}

// put3 writes v, 0 ≤ v < 1000, as three digits.
func put3(b []byte, v int64) {
	b[0] = byte('0' + v/100)
	put2(b[1:], v%100)
}

// put4 writes v, 0 ≤ v < 10000, as four digits.
func put4(b []byte, v int64) {
	put2(b, v/100)
	put2(b[2:], v%100)
}
