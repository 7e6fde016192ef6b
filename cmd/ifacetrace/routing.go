package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/route"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// routing keeps plugins that want topology supplied with the routing state
// of every namespace the capture sees: a snapshot when a namespace's first
// device is announced (so before any trace through it), and a new one
// whenever its links, addresses, routes or rules change. A namespace that
// vanishes is let go: its netlink sockets would otherwise keep it (and a
// container's veth pair) alive.
type routing struct {
	ctx  context.Context
	own  netns.ID
	warn func(error)

	mu      sync.Mutex
	spaces  map[netns.ID]*followed
	pending map[uint64]*pb.Routing // newest unsent snapshot per namespace inode
	order   []uint64               // inodes of pending, in arrival order
	done    chan struct{}
}

// followed is one namespace's reader and its watch.
type followed struct {
	reader *topology.Reader
	cancel context.CancelFunc
	misses int // discovery rounds that did not find the namespace
}

// vanishCheck is how often followed namespaces are looked for; one missed
// twice is released.
const vanishCheck = time.Second

func newRouting(ctx context.Context, own netns.ID, warn func(error)) *routing {
	r := &routing{ctx: ctx, own: own, warn: warn, spaces: map[netns.ID]*followed{},
		pending: map[uint64]*pb.Routing{}, done: make(chan struct{})}
	go r.releaseVanished()
	return r
}

// ensure starts following the namespace id (named name) unless it already
// is, or was tried. It reads the first snapshot before it returns.
func (r *routing) ensure(id netns.ID, name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	_, seen := r.spaces[id]
	if !seen {
		r.spaces[id] = nil // tried once, even if it fails
	}
	r.mu.Unlock()
	if seen {
		return
	}
	what := nameOr(name, id)
	path, err := namespacePath(r.own, id)
	if err != nil {
		r.warn(fmt.Errorf("routing of %s: %w", what, err))
		return
	}
	rd, err := topology.Open(path)
	if err != nil {
		r.warn(fmt.Errorf("routing of namespace %s: %w", what, err))
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.mu.Lock()
	r.spaces[id] = &followed{reader: rd, cancel: cancel}
	r.mu.Unlock()
	r.read(ctx, rd, id, name)
	err = rd.WatchRouting(ctx, func() { r.read(ctx, rd, id, name) }, func(err error) {
		r.warn(fmt.Errorf("following the routing of namespace %s (its later changes are not seen): %w", what, err))
	})
	if err != nil {
		r.warn(fmt.Errorf("following the routing of namespace %s (its later changes are not seen): %w", what, err))
	}
}

func nameOr(name string, id netns.ID) string {
	if name != "" {
		return name
	}
	return id.String()
}

// namespacePath is the file of namespace id for topology.Open and
// conntrack.Watch: "" for own, the caller's, else a /run/netns or /proc
// path that names it now.
func namespacePath(own, id netns.ID) (string, error) {
	if id == own {
		return "", nil
	}
	all, err := netns.All()
	if err != nil {
		return "", err
	}
	for _, e := range all {
		if e.ID == id {
			return e.Path, nil
		}
	}
	return "", fmt.Errorf("namespace %s is gone", id)
}

func (r *routing) read(ctx context.Context, rd *topology.Reader, id netns.ID, name string) {
	if ctx.Err() != nil {
		return
	}
	snap, err := rd.Routing()
	if err != nil {
		r.warn(fmt.Errorf("routing of namespace %s: %w", nameOr(name, id), err))
		return
	}
	if id == r.own {
		name = ""
	}
	msg := route.ToProto(snap, name, id.Ino, time.Now().UnixNano())
	r.mu.Lock()
	if _, ok := r.pending[id.Ino]; !ok {
		r.order = append(r.order, id.Ino)
	}
	r.pending[id.Ino] = msg // a newer snapshot replaces an unsent older one
	r.mu.Unlock()
}

// take returns the snapshots read since the last call.
func (r *routing) take() []*pb.Routing {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) == 0 {
		return nil
	}
	out := make([]*pb.Routing, 0, len(r.order))
	for _, ino := range r.order {
		out = append(out, r.pending[ino])
	}
	clear(r.pending)
	r.order = r.order[:0]
	return out
}

// releaseVanished lets go of namespaces no longer on the host.
func (r *routing) releaseVanished() {
	everyRound(r.ctx, r.done, r.own, func(present map[netns.ID]bool) {
		var gone []*followed
		r.mu.Lock()
		for id, f := range r.spaces {
			if f == nil || present[id] {
				if f != nil {
					f.misses = 0
				}
				continue
			}
			if f.misses++; f.misses >= 2 {
				gone = append(gone, f)
				r.spaces[id] = nil // not followed again
			}
		}
		r.mu.Unlock()
		for _, f := range gone {
			f.cancel()
			f.reader.Close()
		}
	})
}

// everyRound calls f every vanishCheck with the namespaces present (named
// or used by a process; own always), until ctx ends or done closes. A
// namespace that only ifacetrace's own sockets hold is not present: those
// sockets are what must let it go.
func everyRound(ctx context.Context, done <-chan struct{}, own netns.ID, f func(present map[netns.ID]bool)) {
	t := time.NewTicker(vanishCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		all, err := netns.All()
		if err != nil {
			continue
		}
		present := map[netns.ID]bool{own: true}
		for _, e := range all {
			present[e.ID] = true
		}
		f(present)
	}
}

// close stops every watch and releases the netlink sockets.
func (r *routing) close() {
	if r == nil {
		return
	}
	close(r.done)
	r.mu.Lock()
	var all []*followed
	for id, f := range r.spaces {
		if f != nil {
			all = append(all, f)
			r.spaces[id] = nil
		}
	}
	r.mu.Unlock()
	// Outside the lock: Close waits for the watch, whose callback may be
	// waiting for the lock in read.
	for _, f := range all {
		f.cancel()
		f.reader.Close()
	}
}
