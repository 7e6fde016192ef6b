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
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
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
	return exitCode(stderr, app.RunContext(ctx, flagsFirst(args)))
}

// flagsFirst lets `route get DST --from X` be written as ip(8) users
// write it: urfave/cli stops reading flags at the first argument, so the
// destination moves behind the flags.
func flagsFirst(args []string) []string {
	i := slices.Index(args, "get")
	if i < 2 || args[i-1] != "route" {
		return args
	}
	var flags, rest []string
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			rest = append(rest, args[j+1:]...)
			j = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !routeBoolFlags[name] && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
		default:
			rest = append(rest, a)
		}
	}
	out := append(slices.Clone(args[:i+1]), flags...)
	return append(out, rest...)
}

// routeBoolFlags are the flags of route get that take no value.
var routeBoolFlags = map[string]bool{"json": true, "help": true, "h": true, completionFlag[2:]: true}

// completionFlag asks for shell completions (contrib/completion).
const completionFlag = "--generate-bash-completion"
