package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/plugins/json"
	"github.com/ifacetrace/ifacetrace/plugins/pcapng"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
	"github.com/ifacetrace/ifacetrace/plugins/route"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

// builtins are the plugins shipped inside the ifacetrace binary. The host
// starts them by re-executing ifacetrace with the hidden command below, so
// one installed binary is enough and they still run out of process.
var builtins = map[string]func() sdk.Plugin{
	"pcapng": func() sdk.Plugin { return pcapng.New() },
	"json":   func() sdk.Plugin { return json.New() },
	"route":  func() sdk.Plugin { return route.New() },
}

const pluginServeName = "__plugin"

func pluginServeCommand() *cli.Command {
	return &cli.Command{
		Name:      pluginServeName,
		Hidden:    true,
		ArgsUsage: "NAME",
		Usage:     "serve a built-in plugin (started by ifacetrace itself)",
		Action: func(c *cli.Context) error {
			mk, ok := builtins[c.Args().First()]
			if !ok {
				return usagef("no built-in plugin %q", c.Args().First())
			}
			// A plugin consumes one batch at a time: its only parallelism is
			// gRPC's reading beside Consume, which one P serves as well. A
			// second P spins looking for work and wakes threads on every
			// frame, CPU the capture needs (-r to pcapng took 7 % longer).
			if os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(1)
			}
			// The built-in plugins keep nothing of a batch once consumed.
			sdk.Serve(profiled{mk(), startProfile("." + c.Args().First())}, sdk.ReuseBuffers()) // does not return
			return fmt.Errorf("plugin server returned")
		},
	}
}

// profiled stops the profiles startProfile began when the plugin finishes:
// sdk.Serve ends the process without returning.
type profiled struct {
	sdk.Plugin
	stop func()
}

func (p profiled) Finish(ctx context.Context) (*pb.FinishResponse, error) {
	defer p.stop()
	return p.Plugin.Finish(ctx)
}
