// Package sdk is what a Go plugin for ifacetrace imports: implement Plugin,
// call Serve from main. It speaks the versioned contract
// ifacetrace.plugin.v1 (plugins/proto) over hashicorp/go-plugin's gRPC
// transport, so the plugin runs in its own process and cannot take the
// capture down.
//
// Rules a plugin lives by: never write to stdout (go-plugin's handshake uses
// it; send lines for the user's terminal through the Reporter instead), and
// expect to be stopped when ifacetrace ends — Serve exits the process if its
// parent goes away, even after kill -9.
//
// Buffers: a Batch passed to Consume, and its records, belong to the plugin
// until Consume returns; it is not reused afterwards, unless the plugin is
// served with ReuseBuffers.
package sdk
