// Package pcapng is the built-in pcapng plugin: it turns batches into a
// Wireshark-ready pcapng file, one interface block per device (named NETNS/IF
// outside the tracer's own namespace, described with kind, master, peer, MAC,
// MTU and addresses), the direction of every frame in epb_flags, kernel drops
// in epb_dropcount, and interface statistics at the end.
//
// It runs out of process like any plugin; ifacetrace starts it by
// re-executing itself. It needs no privilege beyond writing its file.
package pcapng
