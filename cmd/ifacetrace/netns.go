package main

import (
	"errors"
	"io/fs"

	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// netnsUsage is the help of every --netns flag.
const netnsUsage = "capture in namespace `SEL` (repeatable): a name in /run/netns, a path such as /proc/PID/ns/net, pid:N, or all (every namespace, including those that appear later)"

// selectNamespaces resolves --netns selectors into namespaces, without
// duplicates, in the order given. None means ifacetrace's own namespace.
// Our own namespace gets the path "", which needs no setns (nor
// CAP_SYS_ADMIN). follow is set by "all".
func selectNamespaces(sels []string) (entries []netns.Entry, follow bool, err error) {
	own, err := netns.Current()
	if err != nil {
		return nil, false, err
	}
	seen := map[netns.ID]bool{}
	addEntry := func(e netns.Entry) {
		if seen[e.ID] {
			return
		}
		seen[e.ID] = true
		if e.ID == own {
			e.Path = ""
		}
		entries = append(entries, e)
	}
	if len(sels) == 0 {
		sels = []string{""}
	}
	for _, sel := range sels {
		switch sel {
		case "":
			addEntry(netns.Entry{ID: own})
		case "all":
			follow = true
			all, err := netns.All()
			if err != nil {
				return nil, false, err
			}
			addEntry(netns.Entry{ID: own})
			for _, e := range all {
				addEntry(e)
			}
		default:
			e, err := netns.Resolve(sel)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, netns.ErrSelector) {
				return nil, false, usageError{err}
			}
			if err != nil {
				return nil, false, err
			}
			addEntry(e)
		}
	}
	if names, err := netns.Named(); err == nil {
		for i := range entries {
			if entries[i].Name == "" {
				entries[i].Name = names[entries[i].ID]
			}
		}
	}
	return entries, follow, nil
}

// spacesOf reads the devices of each namespace.
func spacesOf(entries []netns.Entry) ([]tracer.Space, error) {
	var out []tracer.Space
	for _, e := range entries {
		r, err := topology.Open(e.Path)
		if err != nil {
			return nil, err
		}
		devs, err := r.Devices()
		r.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, tracer.Space{Entry: e, Devices: devs})
	}
	return out, nil
}
