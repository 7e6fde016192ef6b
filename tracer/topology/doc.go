// Package topology describes the devices of network namespaces from netlink:
// name, kind, state, MAC, MTU, hardware type, addresses, bridge master and the
// veth peer with the namespace it lives in. It is what turns an ifindex seen
// on a capture socket into "host/veth-c, veth, master br0, peer
// container/eth0".
//
// Devices are keyed by (namespace, ifindex), never by ifindex alone. A Reader
// holds netlink sockets opened inside one namespace (netlink.NewHandleAt), so
// it can be used from any thread. Watch follows link changes (a container
// starting, a device renamed or deleted) so that the tracer can describe
// devices that appear during a capture.
//
// Privilege: listing devices needs none in the caller's own namespace;
// reading another namespace needs CAP_SYS_ADMIN to enter it.
package topology
