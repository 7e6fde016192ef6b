package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/plugins/host"
	"github.com/ifacetrace/ifacetrace/plugins/sdk/sdktest"
)

func pluginsTestCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "check a plugin binary against contract ifacetrace.plugin.v1 with a synthetic run",
		ArgsUsage: "PATH|NAME[:key=value,...]",
		Description: `Starts the plugin as ifacetrace would, has it describe itself, configures it with
the options given, sends it a short synthetic run (two interfaces, packet records,
a trace, a flow, statistics), closes it and reports each step. Exit 0 when every
step passed.

Example:
   ifacetrace plugins test ./ifacetrace-plugin-vanish:path=/tmp/v.jsonl`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("plugins test needs one plugin: a path or a name, with its options")
			}
			spec, err := parsePluginFlag(c.Args().First())
			if err != nil {
				return err
			}
			spec.Credential = pluginCredential()
			return testPlugin(c.Context, c.App.Writer, spec)
		},
	}
}

// testPlugin runs spec through a synthetic run and reports each step on w.
func testPlugin(ctx context.Context, w io.Writer, spec host.Spec) error {
	failed := 0
	step := func(name string, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL  %s: %v\n", name, err)
			return
		}
		fmt.Fprintf(w, "ok    %s\n", name)
	}
	ui := &collectUI{}
	start := time.Now()
	p, err := host.Start(ctx, spec, runInfo(262144, "", start), ui)
	step("start, handshake (gRPC, protocol 1), Describe, Configure", err)
	if err != nil {
		return fmt.Errorf("%s does not keep the contract", spec.Name)
	}
	info := p.Info
	var derr error
	switch {
	case info.GetName() == "" || info.GetVersion() == "":
		derr = fmt.Errorf("the plugin must describe itself with a name and a version, gave %q %q", info.GetName(), info.GetVersion())
	case info.GetWants() == nil:
		derr = fmt.Errorf("the plugin must say what it wants (Subscriptions) in Describe")
	}
	step(fmt.Sprintf("Describe: %s %s, wants %s, lossless %v", info.GetName(), info.GetVersion(), wants(info.GetWants()), info.GetLossless()), derr)
	for _, b := range sdktest.Synthetic(start) {
		if sb := host.Subscribed(b, info.GetWants()); sb != nil {
			p.Send(sb)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	res := p.Close(cctx)
	step("Consume of 3 batches and Finish", res.Err)
	if res.Finish != nil {
		fmt.Fprintf(w, "      files %v, counters %v\n", res.Finish.Files, res.Finish.Counters)
	}
	var serr error
	if d := time.Since(t0); d > 10*time.Second {
		serr = fmt.Errorf("took %s to finish and exit", d.Round(time.Millisecond))
	}
	step("stops when asked", serr)
	for _, l := range ui.lines {
		fmt.Fprintf(w, "      line: %s\n", l)
	}
	for _, l := range ui.warns {
		fmt.Fprintf(w, "      warning: %s\n", l)
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d step(s) failed", spec.Name, failed)
	}
	return nil
}

type collectUI struct{ lines, warns []string }

func (u *collectUI) Line(_, s string) { u.lines = append(u.lines, s) }
func (u *collectUI) Warn(_, s string) { u.warns = append(u.warns, s) }
