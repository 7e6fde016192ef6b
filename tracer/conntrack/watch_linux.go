package conntrack

import (
	"context"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Watch fills table t with the connections of the network namespace at
// path ("" for the caller's own) until ctx ends: the entries present now,
// then every NEW, UPDATE and DESTROY event. It returns once listening, or
// with an error saying why conntrack cannot be followed there.
func Watch(ctx context.Context, path string, t *Table) error {
	cfg := &netlink.Config{}
	if path != "" {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("conntrack: open namespace %s: %w", path, err)
		}
		defer unix.Close(fd) // the sockets keep the namespace, not this fd
		cfg.NetNS = fd
	}
	events, err := ct.Dial(cfg)
	if err != nil {
		return dialError(err)
	}
	// A burst of connections overruns any buffer: events are then lost
	// (the entries are looked up by later packets' tuples anyway), but
	// the socket must not fail with ENOBUFS and end the watch.
	_ = events.SetReadBuffer(4 << 20)
	_ = events.SetOption(netlink.NoENOBUFS, true)
	ch := make(chan ct.Event, 1024)
	errc, err := events.Listen(ch, 1, netfilter.GroupsCT)
	if err != nil {
		events.Close()
		return dialError(err)
	}
	// The dump after listening, so that no entry falls between the two,
	// while the events are taken.
	dump, err := ct.Dial(cfg)
	if err != nil {
		events.Close()
		return dialError(err)
	}
	go t.follow(ctx, events, ch, errc)
	flows, err := dump.Dump(nil)
	dump.Close()
	if err != nil {
		return dialError(err) // the caller's cancel ends follow
	}
	for i := range flows {
		t.Put(entryOf(&flows[i]))
	}
	return nil
}

// follow puts the events into t until ctx ends or the socket fails (the
// failure is kept: Err).
func (t *Table) follow(ctx context.Context, events *ct.Conn, ch chan ct.Event, errc chan error) {
	defer func() {
		// The library's worker may be blocked handing over an event or an
		// error: keep taking them until Close has waited for it.
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-ch:
				case <-errc:
				case <-stop:
					return
				}
			}
		}()
		events.Close()
		close(stop)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errc:
			// The table keeps what it has; traces fall back to packet
			// contents.
			t.setErr(err)
			return
		case ev := <-ch:
			if ev.Flow == nil {
				continue
			}
			e := entryOf(ev.Flow)
			t.Put(e)
			if ev.Type == ct.EventDestroy {
				t.Destroy(e.Orig)
			}
		}
	}
}

func dialError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("conntrack: %w: following connection tracking needs CAP_NET_ADMIN", err)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("conntrack: %w: the kernel has no ctnetlink (nf_conntrack_netlink)", err)
	}
	return fmt.Errorf("conntrack: %w", err)
}

func entryOf(f *ct.Flow) Entry {
	e := Entry{Orig: tupleOf(f.TupleOrig), Reply: tupleOf(f.TupleReply), Zone: f.Zone, Mark: f.Mark, Status: uint32(f.Status)}
	if f.ProtoInfo.TCP != nil {
		e.TCPState = f.ProtoInfo.TCP.State
	}
	return e
}

func tupleOf(t ct.Tuple) Tuple {
	out := Tuple{Proto: t.Proto.Protocol, Src: t.IP.SourceAddress.Unmap(), Dst: t.IP.DestinationAddress.Unmap(),
		SrcPort: t.Proto.SourcePort, DstPort: t.Proto.DestinationPort}
	if t.Proto.Protocol == unix.IPPROTO_ICMP || t.Proto.Protocol == unix.IPPROTO_ICMPV6 {
		out.SrcPort, out.DstPort = t.Proto.ICMPID, t.Proto.ICMPID
	}
	return out
}
