// Package netns names network namespaces and runs code inside them safely.
//
// A namespace is identified by the device and inode of its nsfs file
// (ID{Dev, Ino}): the same value whether it is reached through /run/netns/NAME,
// /proc/PID/ns/net or a bind mount elsewhere, and comparable, so it serves as a
// map key. Interface indexes are only unique within a namespace (lo is 1 in
// every one), so everything above this package identifies a device by
// (namespace ID, ifindex).
//
// Do is the only place in ifacetrace that calls setns. It runs a function on
// a fresh goroutine locked to its OS thread, and if the thread cannot return to
// its original namespace the thread is left locked so that the Go runtime
// destroys it instead of reusing a thread in the wrong namespace. Sockets keep
// the namespace they were created in, so opening a socket inside Do and reading
// it outside is the intended use.
//
// Privilege: entering another namespace needs CAP_SYS_ADMIN; naming them
// needs only read access to /run/netns and /proc.
package netns
