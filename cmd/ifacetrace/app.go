package main

import (
	"io"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "ifacetrace",
		Usage:     "show where a packet goes inside a Linux host",
		Version:   version,
		ArgsUsage: "[FILTER EXPRESSION]",
		Description: `Captures every sighting of every packet — one copy at one device in one
direction — with AF_PACKET, on all devices of one or more network namespaces
("any") or on the devices you name; correlates the copies of each packet into
one trace (path, NAT changes, transit time); shows them on the terminal or hands
them to output plugins. Trailing arguments are a filter in tcpdump's language.

Examples:
   sudo ifacetrace                          one line per packet: its path and what changed
   sudo ifacetrace -o out.pcapng            a Wireshark file: every device by name, direction, packet id
   sudo ifacetrace --netns all icmp         every namespace, ICMP only
   sudo ifacetrace -i veth1 -i br0 -c 100   only these devices, stop after 100 sightings
   ifacetrace -r any.pcap -o t.jsonl        correlate a tcpdump -i any capture, no root needed
   ifacetrace interfaces --netns all        the devices, their kind, master and veth peer

Exit codes: 0 success, 1 failure, 2 bad usage, 3 missing privilege, 4 a plugin failed.`,
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideHelpCommand:        true,
		EnableBashCompletion:   true, // contrib/completion/ifacetrace.bash
		UseShortOptionHandling: true,
		Flags:                  captureFlags(),
		Action:                 captureAction,
		Commands: []*cli.Command{
			interfacesCommand(),
			routeCommand(),
			pluginsCommand(),
			pluginServeCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are ours (exit.go)
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
}
