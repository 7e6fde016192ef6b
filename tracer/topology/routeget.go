package topology

import "net/netip"

// RouteQuery is what `ip route get` accepts. Zero fields are not sent.
type RouteQuery struct {
	Dst      netip.Addr // required; its family chooses the IPv4 or IPv6 FIB
	Src      netip.Addr // optional ("from"); must be of Dst's family
	Iif      int        // ifindex, 0 = none; set for an input lookup (IPv4 needs Src with it)
	Oif      int        // ifindex, 0 = none
	Mark     uint32     // RTA_MARK, 0 = none
	Tos      uint8      // rtm_tos, the DS field byte as ip(8) takes it ("tos 0x10")
	Proto    uint8      // RTA_IP_PROTO, 0 = none (the kernel accepts TCP, UDP, ICMP/ICMPv6 only)
	Sport    uint16     // RTA_SPORT, 0 = none
	Dport    uint16     // RTA_DPORT, 0 = none
	UID      *uint32    // RTA_UID, nil = none
	FIBMatch bool       // RTM_F_FIB_MATCH: return the matching FIB entry rather than the resolved dst
}

// KernelRoute is the kernel's answer to a RouteQuery.
type KernelRoute struct {
	// Err is nil, or the bare syscall.Errno the kernel answered
	// (ENETUNREACH, EHOSTUNREACH, EINVAL, EACCES, EXDEV, ...), so that
	// errors.Is(r.Err, unix.ENETUNREACH) and r.Err == unix.EACCES both work.
	// The other fields are zero when Err is set.
	Err error

	Type      uint8           // rtm_type: unix.RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, ...
	Table     uint32          // RTA_TABLE, else rtm_table; 0 when Oif made the kernel assume the destination on-link
	Dst       netip.Prefix    // with FIBMatch the matched route's prefix, otherwise the /32 or /128
	Oif       int             // RTA_OIF, 0 if absent (multipath); lo for local and input broadcast answers
	Iif       int             // RTA_IIF, 0 if absent (and with FIBMatch)
	Gateway   netip.Addr      // RTA_GATEWAY or RTA_VIA, invalid if absent
	Prefsrc   netip.Addr      // RTA_PREFSRC, invalid if absent
	Src       netip.Addr      // RTA_SRC, invalid if absent; IPv6 answers carry :: when no source was asked
	Priority  uint32          // RTA_PRIORITY (metric): IPv4 reports it with FIBMatch only, IPv6 always
	Scope     uint8           // rtm_scope
	Flags     uint32          // rtm_flags: RTM_F_*, RTNH_F_*, and RTCF_* in the high bits of IPv4 cloned routes
	Multipath []KernelNexthop // RTA_MULTIPATH, reported with FIBMatch
}

// KernelNexthop is one nexthop of an RTA_MULTIPATH route (reported with
// FIBMatch).
type KernelNexthop struct {
	Oif     int
	Gateway netip.Addr // RTA_GATEWAY or RTA_VIA, invalid if absent
	Weight  int        // rtnh_hops+1
	Flags   uint8      // RTNH_F_*
}
