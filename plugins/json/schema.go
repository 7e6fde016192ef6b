package json

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks one line of the plugin's output against the schema that
// docs/json.md documents: a single JSON object whose first member is "type",
// one of "interface", "trace", "flow" or "stats", with every field of that
// type present and of its JSON type (integers as integers, times as
// TimeLayout strings in UTC, arrays never null). Members the schema does not
// name are accepted, as later versions may add fields. A trailing newline is
// allowed.
//
// It is for tests, here and end to end; it is not on the writing path.
func Validate(line []byte) error {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if bytes.ContainsAny(line, "\r\n") {
		return errors.New("json schema: not one line")
	}

	// The first member must be "type".
	dec := stdjson.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != stdjson.Delim('{') {
		return fmt.Errorf("json schema: not a JSON object: %s", abbrev(line))
	}
	if tok, err := dec.Token(); err != nil || tok != "type" {
		return fmt.Errorf("json schema: the first member is not \"type\": %s", abbrev(line))
	}

	dec = stdjson.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("json schema: %w: %s", err, abbrev(line))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("json schema: data after the object: %s", abbrev(line))
	}
	typ, ok := obj["type"].(string)
	if !ok {
		return errors.New("json schema: type is not a string")
	}
	fields, ok := schema[typ]
	if !ok {
		return fmt.Errorf("json schema: unknown type %q (want interface, trace, flow or stats)", typ)
	}
	if err := checkObject(obj, fields, ""); err != nil {
		return fmt.Errorf("json schema: %s line: %w", typ, err)
	}
	return nil
}

// kind is a field's JSON type.
type kind uint8

const (
	kString  kind = iota
	kInt          // integer
	kUint         // integer ≥ 0
	kBool         // true or false
	kTime         // string in TimeLayout, UTC
	kStrings      // array of strings
	kObject       // object of the field's sub-schema
	kObjects      // array of objects of the field's sub-schema
)

var kindNames = [...]string{
	kString: "a string", kInt: "an integer", kUint: "a non-negative integer", kBool: "a boolean",
	kTime: "a time string (2006-01-02T15:04:05.000000000Z)", kStrings: "an array of strings",
	kObject: "an object", kObjects: "an array of objects",
}

// field is one member of a line's object.
type field struct {
	name     string
	kind     kind
	optional bool     // may be absent
	enum     []string // for strings: the values allowed
	sub      []field  // for kObject and kObjects
}

func req(name string, k kind) field           { return field{name: name, kind: k} }
func oneOf(name string, vals ...string) field { return field{name: name, kind: kString, enum: vals} }
func obj(name string, sub ...field) field     { return field{name: name, kind: kObject, sub: sub} }
func objs(name string, sub ...field) field    { return field{name: name, kind: kObjects, sub: sub} }
func optional(f field) field                  { f.optional = true; return f }

// schema is the documented output (docs/json.md), type by type. Every field
// the plugin writes is here; the tests hold the writer to it.
var schema = map[string][]field{
	"interface": {
		req("type", kString),
		req("id", kUint),
		req("name", kString),
		req("netns", kString),
		req("netns_inode", kUint),
		req("ifname", kString),
		req("ifindex", kInt),
		req("kind", kString),
		req("hatype", kUint),
		req("mac", kString),
		req("mtu", kUint),
		req("up", kBool),
		req("carrier", kBool),
		req("master", kString),
		req("peer", kString),
		req("addresses", kStrings),
		req("description", kString),
		req("snaplen", kUint),
	},
	"trace": {
		req("type", kString),
		req("id", kUint),
		req("time", kTime),
		req("time_unix_nano", kInt),
		req("transit_ns", kInt),
		req("summary", kString),
		req("path", kString),
		req("flow_id", kUint),
		req("changes", kStrings),
		optional(req("segments", kUint)),    // only for a segmented or coalesced packet
		optional(req("stopped", kString)),   // only for a packet that stopped inside the host
		optional(req("conntrack", kString)), // only where conntrack had the packet's connection
		objs("hops",
			req("netns", kString),
			req("ifname", kString),
			req("device", kString),
			req("interface_id", kUint),
			oneOf("direction", "in", "out"),
			req("time", kTime),
			req("time_unix_nano", kInt),
			req("offset_ns", kInt),
			req("length", kUint),
			req("ttl", kUint),
			req("proto", kString),
			req("src", kString),
			req("dst", kString),
			req("sport", kUint),
			req("dport", kUint),
			optional(obj("tunnel", // only where the device saw the packet inside a tunnel packet
				oneOf("encap", "VXLAN", "Geneve", "GRE", "GRETAP", "IPIP", "6in4", "4in6", "6in6"),
				optional(req("id", kUint)), // VNI or GRE key, when the tunnel has one
				req("outer_proto", kString),
				req("outer_src", kString),
				req("outer_dst", kString),
				req("outer_sport", kUint),
				req("outer_dport", kUint),
				req("outer_ttl", kUint),
			)),
			optional(req("segment", kUint)), // only where the hop saw one piece of a segmented or coalesced packet
		),
	},
	"flow": {
		req("type", kString),
		req("id", kUint),
		req("proto", kString),
		req("src", kString),
		req("dst", kString),
		req("sport", kUint),
		req("dport", kUint),
		req("first", kTime),
		req("first_unix_nano", kInt),
		req("last", kTime),
		req("last_unix_nano", kInt),
		obj("packets", req("forward", kUint), req("reverse", kUint)),
		obj("bytes", req("forward", kUint), req("reverse", kUint)),
		objs("paths", req("path", kString), req("count", kUint)),
		req("nat", kStrings),
		req("final", kBool),
		objs("hop_times",
			req("from", kString),
			req("to", kString),
			req("count", kUint),
			req("min_ns", kInt),
			req("median_ns", kInt),
			req("max_ns", kInt),
		),
		objs("conntrack",
			req("netns", kString),
			obj("orig", req("proto", kString), req("src", kString), req("dst", kString), req("sport", kUint), req("dport", kUint)),
			obj("reply", req("proto", kString), req("src", kString), req("dst", kString), req("sport", kUint), req("dport", kUint)),
			req("zone", kUint),
			req("mark", kUint),
			req("state", kString),
			req("status", kStrings),
			req("nat", kStrings),
			req("confirmed", kBool),
			req("destroyed", kBool),
		),
	},
	"stats": {
		req("type", kString),
		req("start", kTime),
		req("start_unix_nano", kInt),
		req("end", kTime),
		req("end_unix_nano", kInt),
		req("sightings", kUint),
		objs("interfaces",
			req("id", kUint),
			req("device", kString),
			req("in", kUint),
			req("out", kUint),
			optional(req("dropped", kUint)), // only when the device had a socket of its own
		),
		objs("sockets", req("device", kString), req("packets", kUint), req("drops", kUint)),
		optional(obj("correlation",
			req("traces", kUint),
			req("multi_hop_traces", kUint),
			req("flows", kUint),
			req("evicted_traces", kUint),
			req("late_sightings", kUint),
			req("undecoded", kUint),
			req("window_ns", kInt),
			req("max_traces", kUint),
		)),
	},
}

// checkObject checks the members of o that fields name; where is the path
// of o in the line ("" at the top, "hops[2]." below).
func checkObject(o map[string]any, fields []field, where string) error {
	for _, f := range fields {
		name := where + f.name
		v, ok := o[f.name]
		if !ok {
			if f.optional {
				continue
			}
			return fmt.Errorf("%s is missing", name)
		}
		if err := checkValue(v, f, name); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(v any, f field, name string) error {
	bad := func() error { return fmt.Errorf("%s is %s, want %s", name, describe(v), kindNames[f.kind]) }
	switch f.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if f.enum != nil && !slices.Contains(f.enum, s) {
			return fmt.Errorf("%s is %q, want one of %q", name, s, f.enum)
		}
	case kInt:
		n, ok := v.(stdjson.Number)
		if !ok {
			return bad()
		}
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			return bad()
		}
	case kUint:
		n, ok := v.(stdjson.Number)
		if !ok {
			return bad()
		}
		if _, err := strconv.ParseUint(string(n), 10, 64); err != nil {
			return bad()
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case kTime:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := time.Parse(TimeLayout, s); err != nil || !strings.HasSuffix(s, "Z") {
			return bad()
		}
	case kStrings:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range a {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("%s[%d] is %s, want a string", name, i, describe(e))
			}
		}
	case kObject:
		o, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		return checkObject(o, f.sub, name+".")
	case kObjects:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range a {
			o, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%s[%d] is %s, want an object", name, i, describe(e))
			}
			if err := checkObject(o, f.sub, fmt.Sprintf("%s[%d].", name, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// describe names a decoded value for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(abbrevString(v))
	case stdjson.Number:
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func abbrev(line []byte) string { return abbrevString(string(line)) }

func abbrevString(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
