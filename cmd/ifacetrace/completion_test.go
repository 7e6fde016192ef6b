package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
