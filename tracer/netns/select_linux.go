package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Resolve turns a --netns selector into a namespace: a name in RunDir, a
// path (/run/netns/x, /proc/PID/ns/net) or pid:N. "all" is not a single
// namespace; the caller handles it with All.
func Resolve(sel string) (Entry, error) {
	var path string
	switch {
	case sel == "":
		return Entry{}, fmt.Errorf("%w: empty; use a name from %s, a path, pid:N or all", ErrSelector, RunDir)
	case strings.HasPrefix(sel, "pid:"):
		pid, err := strconv.Atoi(strings.TrimPrefix(sel, "pid:"))
		if err != nil || pid <= 0 {
			return Entry{}, fmt.Errorf("%w %q: pid:N needs a process id, e.g. pid:1234", ErrSelector, sel)
		}
		path = fmt.Sprintf("/proc/%d/ns/net", pid)
	case filepath.IsAbs(sel):
		path = sel
	default:
		path = filepath.Join(RunDir, sel)
	}
	id, err := IDOfPath(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Entry{}, fmt.Errorf("no namespace %q (%s does not exist; named namespaces are in %s, `ip netns list` shows them): %w", sel, path, RunDir, fs.ErrNotExist)
		}
		return Entry{}, fmt.Errorf("namespace %q: %w", sel, err)
	}
	e := Entry{ID: id, Path: path}
	if names, err := Named(); err == nil {
		e.Name = names[id]
	}
	return e, nil
}

// All lists every distinct namespace on the host: the named ones in RunDir
// and those of running processes (/proc/*/ns/net), in a stable order (named
// first by name, then by inode). Processes that vanish while walking /proc
// are skipped.
func All() ([]Entry, error) {
	names, err := Named()
	if err != nil {
		return nil, err
	}
	seen := map[ID]*Entry{}
	var out []*Entry
	for id, name := range names {
		e := &Entry{ID: id, Name: name, Path: filepath.Join(RunDir, name)}
		seen[id] = e
		out = append(out, e)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		path := "/proc/" + p.Name() + "/ns/net"
		id, err := IDOfPath(path)
		if err != nil {
			continue
		}
		if _, ok := seen[id]; ok {
			continue
		}
		e := &Entry{ID: id, Path: path}
		seen[id] = e
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Name == "") != (b.Name == "") {
			return a.Name != ""
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID.Ino < b.ID.Ino
	})
	res := make([]Entry, len(out))
	for i, e := range out {
		res[i] = *e
	}
	return res, nil
}
