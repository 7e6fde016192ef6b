package ifacetrace_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBoundaries keeps the package boundaries of docs/architecture.md: no
// package of the module under each pattern imports the listed ones (a
// trailing $ bans one package but not those below it).
func TestBoundaries(t *testing.T) {
	const mod = "github.com/ifacetrace/ifacetrace/"
	rules := map[string][]string{
		"tracer/...":           {mod + "plugins", "github.com/hashicorp/go-plugin", "google.golang.org/grpc", "github.com/urfave/cli"},
		"tracer/afpacket":      {"github.com/gopacket/gopacket", "github.com/vishvananda/netlink", mod + "plugins"},
		"tracer/netns":         {mod + "tracer/afpacket", mod + "tracer/topology", mod + "plugins", "github.com/vishvananda/netlink"},
		"pcap/...":             {mod + "tracer", "google.golang.org/grpc", mod + "plugins"},
		"plugins/proto/...":    {mod + "tracer", mod + "pcap", mod + "cmd"},
		"plugins/sdk":          {mod + "tracer", "golang.org/x/sys/unix"},
		"plugins/sdk/sdktest":  {mod + "tracer"},
		"plugins/pcapng":       {mod + "tracer"},
		"plugins/examples/...": {mod + "tracer", mod + "cmd"},
		"contrib/...":          {mod + "tracer", mod + "cmd"},
		"plugins/json":         {mod + "tracer", mod + "pcap$", "github.com/gopacket"},
		"tracer/decode":        {mod + "tracer/afpacket", mod + "tracer/netns", mod + "tracer/topology", "os", "net/http", "github.com/vishvananda/netlink"},
		"tracer/correlate":     {mod + "tracer/afpacket", mod + "tracer/netns", mod + "tracer/topology", "os", "github.com/vishvananda/netlink"},
		"tracer/filter":        {mod + "tracer/netns", mod + "tracer/topology", mod + "plugins", "github.com/vishvananda/netlink"},
		"tracer/fib":           {mod + "tracer/afpacket", mod + "tracer/netns", mod + "tracer/topology", "os", "github.com/vishvananda/netlink"},
		"plugins/route":        {mod + "tracer/afpacket", mod + "tracer/netns", mod + "tracer/topology", mod + "tracer/correlate", "github.com/vishvananda/netlink", "golang.org/x/sys/unix"},
		"tracer/flow":          {mod + "tracer/afpacket", mod + "tracer/netns", mod + "tracer/topology", "os", "github.com/vishvananda/netlink"},
		"plugins/host":         {mod + "tracer"},
		"cmd/ifacetrace":       {mod + "tracer/afpacket", "golang.org/x/sys/unix"},
	}
	for pkg, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || !strings.HasPrefix(fields[0], mod+strings.TrimSuffix(pkg, "/...")) {
				continue
			}
			// Every module package under pkg is checked for its direct
			// imports, so a banned import is caught where it enters.
			for _, imp := range fields[1:] {
				for _, b := range banned {
					// "path$" bans that package alone, "path" it and all below.
					exact, ok := strings.CutSuffix(b, "$")
					if ok && imp == exact || !ok && strings.HasPrefix(imp, b) {
						t.Errorf("%s imports %s (forbidden for %s)", fields[0], imp, pkg)
					}
				}
			}
		}
	}
}
