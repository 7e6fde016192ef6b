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
// whenever its links, addresses, routes or rules change.
type routing struct {
	ctx  context.Context
	own  netns.ID
	warn func(error)

	mu      sync.Mutex
	readers map[netns.ID]*topology.Reader
	pending []*pb.Routing
}

func newRouting(ctx context.Context, own netns.ID, warn func(error)) *routing {
	return &routing{ctx: ctx, own: own, warn: warn, readers: map[netns.ID]*topology.Reader{}}
}

// ensure starts following the namespace id (named name) unless it already
// is. It reads the first snapshot before it returns.
func (r *routing) ensure(id netns.ID, name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	_, seen := r.readers[id]
	if !seen {
		r.readers[id] = nil // tried once, even if it fails
	}
	r.mu.Unlock()
	if seen {
		return
	}
	path, err := r.pathOf(id)
	if err != nil {
		r.warn(err)
		return
	}
	rd, err := topology.Open(path)
	if err != nil {
		r.warn(fmt.Errorf("routing of namespace %s: %w", nameOr(name, id), err))
		return
	}
	r.mu.Lock()
	r.readers[id] = rd
	r.mu.Unlock()
	r.read(rd, id, name)
	err = rd.WatchRouting(r.ctx, func() { r.read(rd, id, name) }, func(err error) {
		r.warn(fmt.Errorf("following the routing of namespace %s: %w", nameOr(name, id), err))
	})
	if err != nil {
		r.warn(fmt.Errorf("following the routing of namespace %s: %w", nameOr(name, id), err))
	}
}

func nameOr(name string, id netns.ID) string {
	if name != "" {
		return name
	}
	return id.String()
}

func (r *routing) pathOf(id netns.ID) (string, error) {
	if id == r.own {
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
	return "", fmt.Errorf("routing of %s: the namespace is gone", id)
}

func (r *routing) read(rd *topology.Reader, id netns.ID, name string) {
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
	r.pending = append(r.pending, msg)
	r.mu.Unlock()
}

// take returns the snapshots read since the last call.
func (r *routing) take() []*pb.Routing {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pending
	r.pending = nil
	return out
}

// close releases the netlink sockets; the context given to newRouting
// must have ended.
func (r *routing) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rd := range r.readers {
		if rd != nil {
			rd.Close()
		}
	}
}
