package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/tracer"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

func interfacesCommand() *cli.Command {
	return &cli.Command{
		Name:  "interfaces",
		Usage: "the devices of one or more namespaces as a tree: kind, state, bridge ports, veth peers, addresses",
		Description: `Each namespace's devices, bridge ports under their bridge, each veth with its
peer (NETNS/IFNAME across namespaces), so the path container → veth → bridge →
uplink can be read off. Warns about what breaks networking: lo down, a namespace
with nothing but lo, a bridge without ports, a device down.

Examples:
   ifacetrace interfaces                    devices of this namespace
   sudo ifacetrace interfaces --netns all   every namespace, veth peers across them
   ifacetrace interfaces --netns c1 --json  as JSON, for scripts`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "netns", Usage: "namespace `SEL` (repeatable): a name in /run/netns, a path, pid:N, or all"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON: one object per namespace with its devices and warnings"},
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
			if c.Bool("json") {
				return interfacesJSON(c.App.Writer, spaces, own)
			}
			return interfacesTree(c.App.Writer, c.App.ErrWriter, spaces, own)
		},
	}
}

// nsLabel names a namespace for humans: its name, its inode, and whether
// it is ifacetrace's own.
func nsLabel(sp tracer.Space, own netns.ID) string {
	l := sp.Label()
	if sp.ID == own {
		l += " (this namespace)"
	}
	return l
}

func interfacesTree(w, errw io.Writer, spaces []tracer.Space, own netns.ID) error {
	for i, sp := range spaces {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", nsLabel(sp, own))
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		ports := map[int32][]topology.Device{}
		var top []topology.Device
		for _, d := range sp.Devices {
			if d.Master != nil && d.Master.NetNS == d.NetNS {
				ports[d.Master.Ifindex] = append(ports[d.Master.Ifindex], d)
				continue
			}
			top = append(top, d)
		}
		for _, d := range top {
			fmt.Fprintln(tw, treeRow("  ", d, own))
			kids := ports[d.Ifindex]
			for k, p := range kids {
				branch := "  ├─ "
				if k == len(kids)-1 {
					branch = "  └─ "
				}
				fmt.Fprintln(tw, treeRow(branch, p, own))
			}
		}
		tw.Flush()
		for _, warn := range interfaceWarnings(sp, own) {
			fmt.Fprintf(errw, "ifacetrace: warning: %s\n", warn)
		}
	}
	return nil
}

func treeRow(indent string, d topology.Device, own netns.ID) string {
	peer := ""
	if d.Peer != nil {
		rel := "peer "
		if d.Kind != "veth" {
			rel = "link "
		}
		peer = rel + displayName(*d.Peer, own)
	}
	var addrs []string
	for _, a := range d.Addrs {
		addrs = append(addrs, a.String())
	}
	mac := ""
	if len(d.MAC) > 0 {
		mac = d.MAC.String()
	}
	if d.Tunnel != nil {
		addrs = append(addrs, d.Tunnel.String())
	}
	return fmt.Sprintf("%s%s\t%s\t%s\t%s\t%s\tmtu %d\t%s", indent, d.Name, d.Kind, d.State(), peer, mac, d.MTU, strings.Join(addrs, " "))
}

// interfaceWarnings are the things in a namespace that break networking.
func interfaceWarnings(sp tracer.Space, own netns.ID) []string {
	var out []string
	ns := "namespace " + nsLabel(sp, own)
	ports := map[int32]int{}
	for _, d := range sp.Devices {
		if d.Master != nil {
			ports[d.Master.Ifindex]++
		}
	}
	others, up := 0, 0
	for _, d := range sp.Devices {
		if d.Up {
			up++
		}
	}
	for _, d := range sp.Devices {
		switch {
		case d.Kind == "loopback" && !d.Up && up == 0:
			out = append(out, ns+": lo is down and no interface is up, so nothing can be sent or received in it, not even to 127.0.0.1 (ip link set lo up)")
		case d.Kind == "loopback" && !d.Up:
			out = append(out, ns+": lo is down: nothing in it reaches 127.0.0.1 or its own addresses (ip link set lo up)")
		case d.Kind == "bridge" && ports[d.Ifindex] == 0:
			out = append(out, fmt.Sprintf("%s: bridge %s has no ports: nothing reaches it from outside the namespace", ns, d.Name))
		case d.Kind != "loopback" && !d.Up:
			out = append(out, fmt.Sprintf("%s: %s is down", ns, d.Name))
		}
		if d.Kind != "loopback" {
			others++
		}
	}
	if others == 0 {
		out = append(out, ns+": no device but lo: it is cut off from every other namespace")
	}
	sort.Strings(out)
	return out
}

// interfacesJSON prints one object per namespace.
func interfacesJSON(w io.Writer, spaces []tracer.Space, own netns.ID) error {
	type dev struct {
		Name      string   `json:"name"`
		Ifindex   int32    `json:"ifindex"`
		Kind      string   `json:"kind"`
		State     string   `json:"state"`
		Master    string   `json:"master,omitempty"`
		Peer      string   `json:"peer,omitempty"`
		MAC       string   `json:"mac,omitempty"`
		MTU       int      `json:"mtu"`
		Addresses []string `json:"addresses"`
		Tunnel    string   `json:"tunnel,omitempty"` // a tunnel device's parameters: "VXLAN vni 42 port 4789 local …"
	}
	type space struct {
		Netns      string   `json:"netns"`
		NetnsInode uint64   `json:"netns_inode"`
		Own        bool     `json:"own"`
		Devices    []dev    `json:"devices"`
		Warnings   []string `json:"warnings"`
	}
	enc := json.NewEncoder(w)
	for _, sp := range spaces {
		out := space{Netns: sp.Name, NetnsInode: sp.ID.Ino, Own: sp.ID == own, Warnings: interfaceWarnings(sp, own)}
		if out.Warnings == nil {
			out.Warnings = []string{}
		}
		for _, d := range sp.Devices {
			j := dev{Name: d.Name, Ifindex: d.Ifindex, Kind: d.Kind, State: d.State(), MTU: d.MTU, Addresses: []string{}}
			if d.Master != nil {
				j.Master = displayName(*d.Master, own)
			}
			if d.Peer != nil {
				j.Peer = displayName(*d.Peer, own)
			}
			if len(d.MAC) > 0 {
				j.MAC = d.MAC.String()
			}
			for _, a := range d.Addrs {
				j.Addresses = append(j.Addresses, a.String())
			}
			if d.Tunnel != nil {
				j.Tunnel = d.Tunnel.String()
			}
			out.Devices = append(out.Devices, j)
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
