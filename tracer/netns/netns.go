package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ID identifies a network namespace.
type ID struct {
	Dev uint64
	Ino uint64
}

// IsZero reports whether id is the zero ID (unknown namespace).
func (id ID) IsZero() bool { return id == ID{} }

// String returns the inode, as `ip netns identify` and lsns show it.
func (id ID) String() string { return "netns:" + strconv.FormatUint(id.Ino, 10) }

// ErrSelector reports a --netns selector that is not well formed.
var ErrSelector = errors.New("bad namespace selector")

// RunDir is where iproute2 keeps named namespaces.
const RunDir = "/run/netns"

// Named returns the namespaces named in RunDir. A missing RunDir is no error.
func Named() (map[ID]string, error) {
	ents, err := os.ReadDir(RunDir)
	if os.IsNotExist(err) {
		return map[ID]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list named namespaces: %w", err)
	}
	out := make(map[ID]string, len(ents))
	for _, e := range ents {
		id, err := IDOfPath(filepath.Join(RunDir, e.Name()))
		if err != nil {
			continue // a stale name whose namespace is gone is not an error here
		}
		if _, dup := out[id]; !dup {
			out[id] = e.Name()
		}
	}
	return out, nil
}

// Entry is a namespace found on the host: its identity, its /run/netns name
// (if any) and a path that opens it.
type Entry struct {
	ID   ID
	Name string // "" when it has no /run/netns name
	Path string // /run/netns/NAME, or /proc/PID/ns/net of one of its processes
}

// Label is the namespace's name, or its inode when it has none.
func (e Entry) Label() string {
	if e.Name != "" {
		return e.Name
	}
	return strconv.FormatUint(e.ID.Ino, 10)
}
