// Package lab builds throw-away networks of namespaces, veth pairs and bridges
// for ifacetrace's integration tests and benchmarks, and tears them down when
// the test ends, even when it fails.
//
// Everything a lab creates lives in namespaces it created itself: it never
// adds, changes or removes an address, route, link or firewall rule of the
// namespace the test runs in, and its traffic is addressed only to addresses it
// assigned inside its own namespaces (10.200.0.0/16, fd00:200::/48).
//
// Privilege: root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ip; NAT
// labs also need iptables. Require skips a test that lacks them, except under
// CI=true, where a missing privilege fails the test.
package lab
