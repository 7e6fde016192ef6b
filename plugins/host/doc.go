// Package host starts plugin processes, feeds them batches and stops them.
//
// Each plugin runs out of process (hashicorp/go-plugin, gRPC only) and has a
// bounded queue of batches in front of it. A lossless plugin (a file writer)
// makes Send wait when its queue is full, so the capture slows down rather
// than lose data, and the time spent waiting is reported; any other plugin
// loses the batch, counted. A plugin that crashes or fails is cut off and
// reported with the tail of its stderr; the capture and the other plugins go
// on.
//
// No plugin outlives ifacetrace: each is started, in a process group of its
// own, from an OS thread locked for as long as the plugin runs, with a
// parent-death signal; its whole group is killed when it stops; and the SDK
// also exits when its parent changes.
package host
