package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func interfacesCommand() *cli.Command {
	return &cli.Command{
		Name:  "interfaces",
		Usage: "list the devices of a namespace: kind, state, master, veth peer, addresses",
		Description: `Examples:
   ifacetrace interfaces                 devices of this namespace
   sudo ifacetrace interfaces --netns c1 devices of the namespace named c1
   sudo ifacetrace interfaces --netns all every namespace's devices, veth peers across them`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "netns", Usage: "namespace `SEL` (repeatable): a name in /run/netns, a path, pid:N, or all"},
		},
		Action: func(c *cli.Context) error {
			entries, _, err := selectNamespaces(c.StringSlice("netns"))
			if err != nil {
				return err
			}
			spaces, err := spacesOf(entries)
			if err != nil {
				return err
			}
			own, _ := netns.Current()
			tw := tabwriter.NewWriter(c.App.Writer, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tNAME\tKIND\tSTATE\tMASTER\tPEER\tADDRESSES")
			var devs []topology.Device
			for _, sp := range spaces {
				devs = append(devs, sp.Devices...)
			}
			for _, d := range devs {
				master, peer := "-", "-"
				if d.Master != nil {
					master = displayName(*d.Master, own)
				}
				if d.Peer != nil {
					peer = displayName(*d.Peer, own)
				}
				addrs := "-"
				if len(d.Addrs) > 0 {
					addrs = fmt.Sprint(d.Addrs)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Ifindex, displayName(d.Ref(), own), d.Kind, d.State(), master, peer, addrs)
			}
			return tw.Flush()
		},
	}
}
