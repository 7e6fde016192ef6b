package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ifacetrace/ifacetrace/plugins/host"
	pb "github.com/ifacetrace/ifacetrace/plugins/proto/pluginv1"
)

// pluginPrefix is how plugin executables are named on the search path.
const pluginPrefix = "ifacetrace-plugin-"

// pluginDirs is the plugin search path: $IFACETRACE_PLUGIN_PATH, then the
// user's directory (the sudo user's under sudo), then the system's.
func pluginDirs() []string {
	var dirs []string
	if v := os.Getenv("IFACETRACE_PLUGIN_PATH"); v != "" {
		dirs = append(dirs, filepath.SplitList(v)...)
	}
	if home := invokingHome(); home != "" {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "ifacetrace", "plugins"))
	}
	return append(dirs, "/usr/local/lib/ifacetrace/plugins", "/usr/lib/ifacetrace/plugins")
}

// invokingHome is the home directory of the user who started ifacetrace
// (through sudo or not).
func invokingHome() string {
	if name := os.Getenv("SUDO_USER"); name != "" && os.Geteuid() == 0 {
		if u, err := user.Lookup(name); err == nil {
			return u.HomeDir
		}
	}
	home, _ := os.UserHomeDir()
	return home
}

// pluginCredential is who plugins run as: under sudo, the invoking user, so
// that they get none of the capture's privileges and the files they write
// are the user's; otherwise nil (as ifacetrace).
func pluginCredential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, err1 := strconv.ParseUint(os.Getenv("SUDO_UID"), 10, 32)
	gid, err2 := strconv.ParseUint(os.Getenv("SUDO_GID"), 10, 32)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// findPlugin resolves a plugin name: a built-in, a path, or
// ifacetrace-plugin-NAME on the search path.
func findPlugin(name string) ([]string, error) {
	if _, ok := builtins[name]; ok {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable to start built-in plugins: %w", err)
		}
		return []string{self, pluginServeName, name}, nil
	}
	if strings.ContainsRune(name, '/') {
		return []string{name}, nil
	}
	for _, d := range pluginDirs() {
		p := filepath.Join(d, pluginPrefix+name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return []string{p}, nil
		}
	}
	return nil, usagef("no plugin %q: not built in (%s), and no %s%s in %s (set IFACETRACE_PLUGIN_PATH, or give a path)",
		name, strings.Join(builtinNames(), ", "), pluginPrefix, name, strings.Join(pluginDirs(), ":"))
}

// parsePluginFlag reads --plugin NAME[:key=value,...]. The key sha256 pins
// the plugin binary's digest; the others are the plugin's options.
func parsePluginFlag(v string) (host.Spec, error) {
	name, opts, _ := strings.Cut(v, ":")
	spec := host.Spec{Name: filepath.Base(strings.TrimPrefix(filepath.Base(name), pluginPrefix)), Options: map[string]string{}}
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return spec, usagef("--plugin %s: %q is not key=value", v, kv)
			}
			if k == "sha256" {
				spec.SHA256 = val
				continue
			}
			spec.Options[k] = val
		}
	}
	cmd, err := findPlugin(name)
	if err != nil {
		return spec, err
	}
	spec.Cmd = cmd
	return spec, nil
}

func builtinNames() []string {
	var names []string
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func pluginsCommand() *cli.Command {
	return &cli.Command{
		Name:  "plugins",
		Usage: "list the plugins ifacetrace can run, or check one against the contract",
		Description: `Examples:
   ifacetrace plugins list                      built-in and installed plugins
   IFACETRACE_PLUGIN_PATH=./bin ifacetrace plugins list
   ifacetrace plugins test ./ifacetrace-plugin-vanish`,
		Subcommands: []*cli.Command{pluginsTestCommand(), {
			Name:  "list",
			Usage: "name, version, subscriptions and path of every plugin: built-in and on the search path",
			Description: `Searches $IFACETRACE_PLUGIN_PATH, ~/.local/lib/ifacetrace/plugins,
/usr/local/lib/ifacetrace/plugins and /usr/lib/ifacetrace/plugins for
ifacetrace-plugin-NAME and asks each to describe itself.

Example:
   ifacetrace plugins list`,
			Action: func(c *cli.Context) error {
				tw := tabwriter.NewWriter(c.App.Writer, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tWANTS\tPATH")
				for _, n := range builtinNames() {
					info := builtins[n]().Describe()
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", info.GetName(), info.GetVersion(), wants(info.GetWants()), "(built in)")
				}
				seen := map[string]bool{}
				for _, d := range pluginDirs() {
					ents, _ := os.ReadDir(d)
					for _, e := range ents {
						name, ok := strings.CutPrefix(e.Name(), pluginPrefix)
						if !ok || seen[name] {
							continue
						}
						seen[name] = true
						path := filepath.Join(d, e.Name())
						ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
						info, err := host.Describe(ctx, host.Spec{Name: name, Cmd: []string{path}, Credential: pluginCredential()}, quietUI{})
						cancel()
						if err != nil {
							fmt.Fprintf(tw, "%s\t?\t(does not start: %v)\t%s\n", name, err, path)
							continue
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, info.GetVersion(), wants(info.GetWants()), path)
					}
				}
				return tw.Flush()
			},
		}},
	}
}

func wants(w *pb.Subscriptions) string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{w.GetPackets(), "packets"}, {w.GetPacketBytes(), "bytes"}, {w.GetTraces(), "traces"}, {w.GetFlows(), "flows"}, {w.GetTopology(), "topology"}, {w.GetStats(), "stats"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// quietUI drops what a plugin says while it is only asked to describe
// itself.
type quietUI struct{}

func (quietUI) Line(string, string) {}
func (quietUI) Warn(string, string) {}
