//go:build linux

package main

import (
	stdjson "encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestInterfacesView: the tree shows bridge ports under their bridge and
// veth peers across namespaces, and warns about a namespace whose lo is
// down, one with nothing but lo, and a bridge without ports; --json says
// the same for scripts.
func TestInterfacesView(t *testing.T) {
	needE2E(t)
	l := lab.NewNAT(t)
	l.AddNS("bare")
	l.IP("-n", l.NS("bare"), "link", "set", "lo", "down")
	l.IP("-n", l.NS(lab.Host), "link", "add", "br9", "type", "bridge")
	args := []string{ifacetraceBin, "interfaces"}
	for _, r := range []string{lab.Container, lab.Host, "bare"} {
		args = append(args, "--netns", l.NS(r))
	}
	p := startProc(t, "ifacetrace interfaces", l.Command(lab.Host, args...), nil)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
	out, errs := p.stdout.String(), p.stderr.String()
	for _, want := range []string{
		`(?m)^` + regexp.QuoteMeta(l.NS(lab.Host)) + ` \(this namespace\)$`,
		`(?m)^  br0\s+bridge\s+up\s`,
		`(?m)^  └─ veth-c\s+veth\s+up\s+peer ` + regexp.QuoteMeta(l.NS(lab.Container)) + `/eth0\s`,
		`(?m)^  eth0\s+veth\s+up\s+peer veth-c\s.*10\.200\.1\.2/24`,
		`(?m)^  lo\s+loopback\s+down\s`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("tree lacks %s:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"namespace " + l.NS("bare") + ": lo is down and no interface is up, so nothing can be sent or received",
		"namespace " + l.NS("bare") + ": no device but lo",
		"bridge br9 has no ports",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("warnings lack %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, l.NS(lab.Container)+": lo is down") {
		t.Errorf("a warning for the container, whose lo is up:\n%s", errs)
	}

	p = startProc(t, "ifacetrace interfaces --json", l.Command(lab.Host, append(args, "--json")...), nil)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, p.stderr.String())
	}
	type dev struct{ Name, Kind, State, Master, Peer string }
	var spaces []struct {
		Netns    string
		Own      bool
		Devices  []dev
		Warnings []string
	}
	dec := stdjson.NewDecoder(strings.NewReader(p.stdout.String()))
	for dec.More() {
		var sp struct {
			Netns    string
			Own      bool
			Devices  []dev
			Warnings []string
		}
		if err := dec.Decode(&sp); err != nil {
			t.Fatalf("--json: %v\n%s", err, p.stdout.String())
		}
		spaces = append(spaces, sp)
	}
	if len(spaces) != 3 || !spaces[1].Own || len(spaces[2].Warnings) != 2 {
		t.Fatalf("--json: %+v", spaces)
	}
	found := false
	for _, d := range spaces[1].Devices {
		if d.Name == "veth-c" && d.Master == "br0" && d.Peer == l.NS(lab.Container)+"/eth0" {
			found = true
		}
	}
	if !found {
		t.Errorf("--json: no veth-c with master br0 and its peer: %+v", spaces[1].Devices)
	}
}
