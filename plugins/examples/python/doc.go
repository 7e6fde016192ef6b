// Package pythonexample holds flowlog, an example ifacetrace plugin written
// in Python (flowlog.py, started as ifacetrace-plugin-flowlog): a flow log
// for a SIEM, one key=value line per flow. It shows that contract
// ifacetrace.plugin.v1 and go-plugin's handshake can be served without Go:
// the magic cookie, a gRPC server on a unix socket, the health service, the
// controller's Shutdown, and the one handshake line on stdout. README.md
// documents the output and how the gRPC stubs are generated (at run time,
// into a cache; none are checked in).
//
// There is no Go code here but the test, which starts the plugin through
// plugins/host as ifacetrace does, and speaks go-plugin's protocol to it
// directly. It needs python3 with Debian's python3-grpcio,
// python3-grpc-tools and python3-protobuf; without them it skips, or fails
// when CI=true. The plugin needs no privilege beyond writing its file.
package pythonexample
