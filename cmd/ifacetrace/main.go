// Command ifacetrace shows where a packet goes inside a Linux host: it
// captures every device with AF_PACKET, names each device and direction, and
// hands the sightings to plugins that write pcapng for Wireshark and more.
//
//	sudo ifacetrace                      # one line per packet: its path, NAT, transit
//	sudo ifacetrace -o out.pcapng        # a Wireshark file, every device by name
//	ifacetrace interfaces                # the devices and how they connect
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
)

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT says
// otherwise: the garbage collector works harder as the heap nears it, so
// a capture that runs for days under overload stays bounded. The
// correlator's own bounds (held bytes, pending sightings, open traces)
// keep what is live well below it (about 100 MB at most under bulk TCP).
// The process's peak RSS is about this plus the capture rings (32 MiB
// each by default), which are outside the Go heap: measured under bulk
// TCP with JSON output, 229 MB at a 180 MiB limit, 212 MB at 160, for the
// same fraction of copies captured (docs/benchmarks.md).
const memoryLimit = 160 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	stopProfile := func() {}
	if len(os.Args) < 2 || os.Args[1] != pluginServeName { // plugins profile themselves
		stopProfile = startProfile("")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	app := newApp(stdout, stderr)
	if slices.Contains(args, completionFlag) {
		// urfave/cli panics on some incomplete command lines while it
		// completes (a flag still waiting for its value): offer nothing.
		defer func() {
			if recover() != nil {
				code = exitOK
			}
		}()
	}
	args, err := flagsFirst(args)
	if err != nil {
		return exitCode(stderr, err)
	}
	return exitCode(stderr, app.RunContext(ctx, args))
}

// flagsFirst lets `route get DST --from X` be written as ip(8) users
// write it: urfave/cli stops reading flags at the first argument, so the
// destination moves behind the flags. With -h the arguments are dropped,
// so that help is shown.
func flagsFirst(args []string) ([]string, error) {
	if len(args) < 3 || args[1] != "route" || args[2] != "get" {
		return args, nil
	}
	var flags, rest []string
	help := false
	for j := 3; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			rest = append(rest, args[j+1:]...)
			j = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if name == "h" || name == "help" {
				help = true
			}
			if strings.Contains(name, "=") || routeBoolFlags[name] {
				continue
			}
			if j+1 == len(args) {
				return nil, usagef("%s needs a value", a)
			}
			j++
			flags = append(flags, args[j])
		default:
			rest = append(rest, a)
		}
	}
	out := append(slices.Clone(args[:3]), flags...)
	if help {
		return out, nil
	}
	return append(out, rest...), nil
}

// routeBoolFlags are the flags of route get that take no value.
var routeBoolFlags = map[string]bool{"json": true, "help": true, "h": true, completionFlag[2:]: true}

// completionFlag asks for shell completions (contrib/completion).
const completionFlag = "--generate-bash-completion"
