package main

import (
	"io"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "ifacetrace",
		Usage:   "show where a packet goes inside a Linux host",
		Version: version,
		Description: `Captures every sighting of every packet — one copy at one device in one
direction — with AF_PACKET, on all devices of a network namespace ("any") or on
the devices you name, and shows them on the terminal or hands them to output
plugins.

Examples:
   sudo ifacetrace                          one line per sighting
   sudo ifacetrace -o out.pcapng            a Wireshark file: every device by name, direction per frame
   sudo ifacetrace -i veth1 -i br0 -c 100   only these devices, stop after 100 sightings
   sudo ifacetrace --netns c1 -o c1.pcapng  inside the namespace named c1 (/run/netns/c1)
   ifacetrace interfaces                    the devices, their kind, master and veth peer

Exit codes: 0 success, 1 failure, 2 bad usage, 3 missing privilege, 4 a plugin failed.`,
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags:                  captureFlags(),
		Action:                 captureAction,
		Commands: []*cli.Command{
			interfacesCommand(),
			pluginServeCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are ours (exit.go)
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
}
