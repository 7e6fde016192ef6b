// Package testtool runs the independent programs that judge ifacetrace's
// output in tests (tshark, capinfos, tcpdump): a missing one skips the test
// with the package to install, or fails it under CI=true, where every
// independent check must run.
package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need returns the path of program name, or skips (under CI=true: fails) t.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := "needs " + name + ": apt-get install " + Package(name)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: not skipping)")
		}
		t.Skip(msg)
	}
	return path
}

// Package is the Debian package that provides program name.
func Package(name string) string {
	switch name {
	case "ip":
		return "iproute2"
	case "ping":
		return "iputils-ping"
	case "tshark", "capinfos":
		return "tshark"
	case "sysctl":
		return "procps"
	}
	return name
}

// Run runs a reader such as tshark or capinfos and returns its stdout. It
// fails t when the program fails or says anything on stderr beyond
// Wireshark's warning about running as root.
func Run(t testing.TB, tool string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tool, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var complaints []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Running as user") {
			complaints = append(complaints, line)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, strings.Join(complaints, "\n"))
	}
	return stdout.String()
}
