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
	return exitCode(stderr, app.RunContext(ctx, args))
}

// completionFlag asks for shell completions (contrib/completion).
const completionFlag = "--generate-bash-completion"
