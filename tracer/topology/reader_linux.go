package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// Reader reads the devices of one namespace.
type Reader struct {
	ns     netns.ID
	nsName string
	path   string // "" for the namespace the Reader was opened in
	handle vnetns.NsHandle
	h      *netlink.Handle

	mu    sync.Mutex
	peers map[int]Ref // nsid → namespace (Name unused)

	watchers sync.WaitGroup
}

// Open returns a Reader for the namespace at path, or for the calling
// thread's namespace when path is "".
func Open(path string) (*Reader, error) {
	r := &Reader{path: path, peers: map[int]Ref{}}
	var err error
	if path == "" {
		r.handle, err = vnetns.Get()
		path = "/proc/thread-self/ns/net"
	} else {
		r.handle, err = vnetns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	if r.ns, err = netns.IDOfPath(path); err != nil {
		r.handle.Close()
		return nil, err
	}
	// In the caller's own namespace no setns is needed (nor CAP_SYS_ADMIN).
	if r.path == "" {
		r.h, err = netlink.NewHandle()
	} else {
		r.h, err = netlink.NewHandleAt(r.handle)
	}
	if err != nil {
		r.handle.Close()
		return nil, fmt.Errorf("netlink in namespace %s: %w", path, err)
	}
	if names, err := netns.Named(); err == nil {
		r.nsName = names[r.ns]
	}
	return r, nil
}

// NetNS returns the namespace's ID and its /run/netns name ("" if none).
func (r *Reader) NetNS() (netns.ID, string) { return r.ns, r.nsName }

// Close releases the netlink sockets. It waits for the goroutines of
// Watch, whose contexts must have ended.
func (r *Reader) Close() error {
	r.watchers.Wait()
	r.h.Close()
	return r.handle.Close()
}

// Devices lists every device of the namespace, ordered by ifindex.
func (r *Reader) Devices() ([]Device, error) {
	links, err := r.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	byIndex := make(map[int]netlink.Link, len(links))
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	out := make([]Device, 0, len(links))
	for _, l := range links {
		out = append(out, r.describe(l, byIndex))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ifindex < out[j].Ifindex })
	return out, nil
}

// ErrNoDevice is returned by Device for an ifindex that does not exist.
var ErrNoDevice = errors.New("no such device")

// Device describes the device with the given index.
func (r *Reader) Device(ifindex int32) (Device, error) {
	l, err := r.h.LinkByIndex(int(ifindex))
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return Device{}, fmt.Errorf("device %d: %w", ifindex, ErrNoDevice)
		}
		return Device{}, fmt.Errorf("device %d: %w", ifindex, err)
	}
	return r.describe(l, nil), nil
}

// DeviceByName describes the device with the given name.
func (r *Reader) DeviceByName(name string) (Device, error) {
	l, err := r.h.LinkByName(name)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", name, ErrNoDevice)
	}
	return r.describe(l, nil), nil
}

func (r *Reader) describe(l netlink.Link, byIndex map[int]netlink.Link) Device {
	a := l.Attrs()
	d := Device{
		Key:       Key{NetNS: r.ns, Ifindex: int32(a.Index)},
		NetNSName: r.nsName,
		Name:      a.Name,
		Kind:      kindOf(l),
		HAType:    haType(a.EncapType),
		MAC:       a.HardwareAddr,
		MTU:       a.MTU,
		Up:        a.Flags&net.FlagUp != 0,
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
	if len(d.MAC) == 0 || d.Kind == "loopback" {
		d.MAC = nil
	}
	d.Tunnel = tunnelOf(l)
	lookup := func(idx int) string {
		if m, ok := byIndex[idx]; ok {
			return m.Attrs().Name
		}
		if m, err := r.h.LinkByIndex(idx); err == nil {
			return m.Attrs().Name
		}
		return ""
	}
	if a.MasterIndex > 0 {
		d.Master = &Ref{Key: Key{r.ns, int32(a.MasterIndex)}, NetNSName: r.nsName, Name: lookup(a.MasterIndex)}
	}
	if a.ParentIndex > 0 {
		if a.NetNsID < 0 {
			d.Peer = &Ref{Key: Key{r.ns, int32(a.ParentIndex)}, NetNSName: r.nsName, Name: lookup(a.ParentIndex)}
		} else {
			p := r.peerNS(a.NetNsID)
			p.Ifindex = int32(a.ParentIndex)
			p.Name = nameIn(p, a.ParentIndex)
			d.Peer = &p
		}
	}
	if addrs, err := r.h.AddrList(l, netlink.FAMILY_ALL); err == nil {
		for _, ad := range addrs {
			if ad.IPNet == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok {
				continue
			}
			ones, _ := ad.Mask.Size()
			d.Addrs = append(d.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return d
}

// peerNS finds the namespace that this namespace calls nsid, among the
// namespaces named in /run/netns and those of running processes.
func (r *Reader) peerNS(nsid int) Ref {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.peers[nsid]; ok {
		return p
	}
	names, _ := netns.Named()
	try := func(path, name string) bool {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		id, err := r.h.GetNetNsIdByFd(fd)
		if err != nil || id != nsid {
			return false
		}
		nid, err := netns.IDOfPath(path)
		if err != nil {
			return false
		}
		if name == "" {
			name = names[nid]
		}
		r.peers[nsid] = Ref{Key: Key{NetNS: nid}, NetNSName: name}
		return true
	}
	for _, name := range names {
		if try(filepath.Join(netns.RunDir, name), name) {
			return r.peers[nsid]
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		if try(p, "") {
			return r.peers[nsid]
		}
	}
	return Ref{NetNSName: fmt.Sprintf("nsid%d", nsid)}
}

// nameIn looks up the name of ifindex in the namespace p refers to.
func nameIn(p Ref, ifindex int) string {
	if p.NetNS.IsZero() {
		return ""
	}
	path := ""
	if p.NetNSName != "" {
		path = filepath.Join(netns.RunDir, p.NetNSName)
	} else if procs, _ := filepath.Glob("/proc/[0-9]*/ns/net"); len(procs) > 0 {
		for _, pp := range procs {
			if id, err := netns.IDOfPath(pp); err == nil && id == p.NetNS {
				path = pp
				break
			}
		}
	}
	if path == "" {
		return ""
	}
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return ""
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		return ""
	}
	defer nh.Close()
	l, err := nh.LinkByIndex(ifindex)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

// tunnelOf reads a tunnel device's parameters; nil for other devices.
func tunnelOf(l netlink.Link) *Tunnel {
	addr := func(ip net.IP) netip.Addr {
		a, _ := netip.AddrFromSlice(ip)
		if a.IsUnspecified() {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	switch v := l.(type) {
	case *netlink.Vxlan:
		return &Tunnel{Encap: record.EncapVXLAN, ID: uint32(v.VxlanId), HasID: !v.FlowBased, Port: uint16(v.Port),
			Local: addr(v.SrcAddr), Remote: addr(v.Group), External: v.FlowBased}
	case *netlink.Geneve:
		return &Tunnel{Encap: record.EncapGeneve, ID: v.ID, HasID: !v.FlowBased, Port: v.Dport, Remote: addr(v.Remote), External: v.FlowBased}
	case *netlink.Iptun:
		e := record.EncapIPIP
		if v.Proto == unix.IPPROTO_IPV6 {
			e = record.Encap6in4
		}
		return &Tunnel{Encap: e, Local: addr(v.Local), Remote: addr(v.Remote), External: v.FlowBased}
	case *netlink.Sittun:
		e := record.Encap6in4
		if v.Proto == unix.IPPROTO_IPIP {
			e = record.EncapIPIP
		}
		return &Tunnel{Encap: e, Local: addr(v.Local), Remote: addr(v.Remote)}
	case *netlink.Ip6tnl:
		e := record.Encap6in6
		if v.Proto == unix.IPPROTO_IPIP {
			e = record.Encap4in6
		}
		return &Tunnel{Encap: e, Local: addr(v.Local), Remote: addr(v.Remote), External: v.FlowBased}
	case *netlink.Gretun:
		return &Tunnel{Encap: record.EncapGRE, ID: v.OKey, HasID: v.OKey != 0 || v.IKey != 0, Local: addr(v.Local), Remote: addr(v.Remote), External: v.FlowBased}
	case *netlink.Gretap:
		return &Tunnel{Encap: record.EncapGRETap, ID: v.OKey, HasID: v.OKey != 0 || v.IKey != 0, Local: addr(v.Local), Remote: addr(v.Remote), External: v.FlowBased}
	}
	return nil
}

func kindOf(l netlink.Link) string {
	switch t := l.(type) {
	case *netlink.Tuntap:
		if t.Mode == netlink.TUNTAP_MODE_TAP {
			return "tap"
		}
		return "tun"
	case *netlink.Device:
		switch l.Attrs().EncapType {
		case "loopback":
			return "loopback"
		case "none":
			return "tun"
		}
		return "device"
	}
	return l.Type()
}

var (
	encapOnce sync.Once
	encapMap  map[string]uint16
)

// haType turns netlink's name for a hardware type back into its ARPHRD
// number, using the library's own table so the two cannot disagree.
func haType(name string) uint16 {
	encapOnce.Do(func() {
		encapMap = map[string]uint16{}
		for t := 0xffff; t >= 0; t-- {
			m := nl.IfInfomsg{IfInfomsg: unix.IfInfomsg{Type: uint16(t)}}
			if s := m.EncapType(); s != "unknown" {
				encapMap[s] = uint16(t)
			}
		}
	})
	return encapMap[name]
}

// Change is a device that appeared, changed or disappeared.
type Change struct {
	Device  Device
	Removed bool
}

// Watch calls fn for every link change in the namespace until ctx ends, on
// a goroutine of its own. If the subscription breaks, onErr (when not nil)
// is told once. Watch returns after subscribing, or with the subscription
// error.
func (r *Reader) Watch(ctx context.Context, fn func(Change), onErr func(error)) error {
	ch := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	var werr error
	var once sync.Once
	var ns *vnetns.NsHandle
	if r.path != "" {
		ns = &r.handle
	}
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		Namespace:     ns,
		ErrorCallback: func(err error) { once.Do(func() { werr = err }) },
	})
	if err != nil {
		return fmt.Errorf("watch devices: %w", err)
	}
	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					if werr != nil && onErr != nil {
						onErr(fmt.Errorf("watch devices: %w", werr))
					}
					return
				}
				c := Change{Device: r.describe(u.Link, nil), Removed: u.Header.Type == unix.RTM_DELLINK}
				fn(c)
			}
		}
	}()
	return nil
}
