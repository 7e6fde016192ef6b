package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Completion: commands, subcommands and flags come from the app itself;
// an incomplete command line offers nothing instead of crashing.
func TestCompletion(t *testing.T) {
	complete := func(args ...string) string {
		var out, errs bytes.Buffer
		argv := append(append([]string{"ifacetrace"}, args...), completionFlag)
		// urfave/cli reads the flag being completed from os.Args.
		saved := os.Args
		os.Args = argv
		defer func() { os.Args = saved }()
		code := run(context.Background(), argv, &out, &errs)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, errs.String())
		}
		return out.String()
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"interfaces", "plugins"}},
		{[]string{"plugins"}, []string{"list", "test"}},
		{[]string{"-"}, []string{"--netns", "--output", "--dedup", "--read"}},
		{[]string{"interfaces", "-"}, []string{"--netns", "--json"}},
	} {
		got := complete(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(got, w+"\n") {
				t.Errorf("completions of %v lack %s:\n%s", tc.args, w, got)
			}
		}
	}
	complete("--netns") // a flag waiting for its value: no crash

	// The shell script is valid bash.
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", filepath.Join("..", "..", "contrib", "completion", "ifacetrace.bash")).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
	}
}

// The status line is drawn only on a terminal: a pipe or a buffer gets
// nothing, and its text names what it counts.
func TestStatusLine(t *testing.T) {
	var buf bytes.Buffer
	if isTerminal(&buf) {
		t.Error("a buffer is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	pipe := &pipeline{}
	pipe.sightings.Store(12)
	pipe.traces.Store(4)
	s := startStatus(&buf, time.Now(), pipe, func() uint64 { return 3 }, &outputs{})
	s.stop()
	if buf.Len() != 0 {
		t.Errorf("status written to a non-terminal: %q", buf.String())
	}
	if line := s.line(); !strings.Contains(line, "12 sightings  4 packets  3 kernel drops") {
		t.Errorf("status line %q", line)
	}
}
