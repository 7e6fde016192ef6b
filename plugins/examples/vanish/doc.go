// Package vanish is an example ifacetrace plugin of real use: it alerts when
// a packet enters a network namespace, is not for that namespace, and is
// never seen leaving it — the signature of a drop inside the namespace: a
// firewall rule, a missing route, rp_filter, a full queue, a bridge that
// filters.
//
// It subscribes to traces and statistics only. From the interface
// announcements it keeps, per namespace, the addresses of its devices; for
// every trace it looks at the last hop: a trace that ends with an "in" hop in
// namespace N, whose destination there is none of N's addresses (nor a
// broadcast or multicast address, nor loopback), and that no other namespace
// also ended (a flooded or copied frame), vanished in N. Each such packet is
// one line for the user's terminal ("vanish: … entered N (path) and never
// left …"), optionally one JSON object in a file, and at the end a count per
// namespace.
//
// "Never left" means "not seen leaving through any captured device": capture
// every namespace on the path (--netns), or a packet that leaves through an
// uncaptured device of N is reported too. README.md lists the other limits.
//
// The plugin needs no privilege beyond appending to its optional file. It is
// an observer, not lossless: under load ifacetrace may drop batches for it,
// and it then misses those traces. Batches are not retained after Consume
// returns. cmd/ifacetrace-plugin-vanish is its one-line main.
package vanish
