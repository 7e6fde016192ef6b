// Package json is the built-in JSON lines plugin: it writes one JSON object
// per line for jq and scripts — every interface when it is announced, every
// trace (all the sightings of one packet, hop by hop, with the device, time,
// offset, TTL and addresses at each hop and what NAT changed), every flow
// (a conversation with its counts, paths and NAT) and the capture
// statistics. docs/json.md documents each field; the names are stable within
// plugin contract v1, and fields may be added.
//
// It subscribes to traces, flows and statistics, not to packets: packet
// records in a batch are ignored. It keeps only the names of the announced
// interfaces, to name the device of each hop; a hop on an interface never
// announced is written as device "if#ID" and reported once as a warning.
//
// Validate checks one output line against the documented schema; it is for
// tests (this package's and end-to-end ones), not the writing path.
//
// The package name shadows encoding/json, which it imports as stdjson.
// It runs out of process like any plugin; ifacetrace starts it by
// re-executing itself. It needs no privilege beyond writing its file.
// Batches are not retained after Consume returns.
package json
