package netns_test

import (
	"os"
	"testing"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestDoEntersAndReturnsWithoutLeaks(t *testing.T) {
	l := lab.New(t)
	l.AddNS("a")
	l.AddNS("b")
	own, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]netns.ID{}
	for _, r := range []string{"a", "b"} {
		id, err := netns.IDOfPath(l.Path(r))
		if err != nil {
			t.Fatal(err)
		}
		if id == own {
			t.Fatalf("lab namespace %s has the test's own ID", r)
		}
		want[r] = id
	}
	// One round first: what the runtime opens once, lazily, is not a leak.
	for r := range want {
		if err := netns.Do(l.Path(r), func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	before := openFDs(t)
	for i := 0; i < 50; i++ {
		for r, id := range want {
			err := netns.Do(l.Path(r), func() error {
				got, err := netns.Current()
				if err == nil && got != id {
					t.Errorf("inside %s: namespace %v, want %v", r, got, id)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("open file descriptors: %d before, %d after 100 Do calls", before, after)
	}
	if cur, _ := netns.Current(); cur != own {
		t.Errorf("test thread ended in namespace %v, want %v", cur, own)
	}
	names, err := netns.Named()
	if err != nil {
		t.Fatal(err)
	}
	if names[want["a"]] != l.NS("a") {
		t.Errorf("Named()[a] = %q, want %q", names[want["a"]], l.NS("a"))
	}
	if err := netns.Do("/nonexistent/ns", func() error { return nil }); err == nil {
		t.Error("Do on a missing path: no error")
	}
}
