package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ifacetrace/ifacetrace/plugins/host"
)

// statusInterval is how often the status line is redrawn.
const statusInterval = time.Second

// status draws one live line on stderr while a capture runs — elapsed time,
// sightings, packets, kernel drops, each plugin's backlog and losses — and
// only when stderr is a terminal: logs and pipes get nothing.
type status struct {
	w       io.Writer
	start   time.Time
	pipe    *pipeline
	drops   func() uint64
	plugins []*host.Plugin
	names   []string
	done    chan struct{}
	ended   chan struct{}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startStatus starts the status line if w is a terminal; stop is safe to
// call either way.
func startStatus(w io.Writer, start time.Time, pipe *pipeline, drops func() uint64, out *outputs) *status {
	s := &status{w: w, start: start, pipe: pipe, drops: drops, plugins: out.plugins, done: make(chan struct{}), ended: make(chan struct{})}
	for _, spec := range out.specs {
		s.names = append(s.names, spec.Name)
	}
	if !isTerminal(w) {
		close(s.ended)
		return s
	}
	go func() {
		defer close(s.ended)
		t := time.NewTicker(statusInterval)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				fmt.Fprint(s.w, "\r\033[K") // leave the terminal clean for the summary
				return
			case <-t.C:
				fmt.Fprint(s.w, "\r\033[K"+s.line())
			}
		}
	}()
	return s
}

// line is the status text.
func (s *status) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d sightings  %d packets  %d kernel drops",
		time.Since(s.start).Round(time.Second), s.pipe.sightings.Load(), s.pipe.traces.Load(), s.drops())
	for i, p := range s.plugins {
		fmt.Fprintf(&b, "  %s: %d queued", s.names[i], p.Backlog())
		if d := p.Dropped(); d > 0 {
			fmt.Fprintf(&b, ", %d lost", d)
		}
	}
	return b.String()
}

func (s *status) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.ended
}
