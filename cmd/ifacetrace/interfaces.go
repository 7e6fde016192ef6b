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
   sudo ifacetrace interfaces --netns c1 devices of the namespace named c1`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "netns", Usage: "namespace `NS`: a name in /run/netns or a path"},
		},
		Action: func(c *cli.Context) error {
			path := ""
			if ns := c.String("netns"); ns != "" {
				path = netns.PathOf(ns)
			}
			r, err := topology.Open(path)
			if err != nil {
				return err
			}
			defer r.Close()
			devs, err := r.Devices()
			if err != nil {
				return err
			}
			own, _ := netns.Current()
			tw := tabwriter.NewWriter(c.App.Writer, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tNAME\tKIND\tSTATE\tMASTER\tPEER\tADDRESSES")
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
