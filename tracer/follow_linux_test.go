package tracer

import (
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// A namespace created after another was deleted may get the same inode
// (nsfs inode numbers are reused); --netns all must still capture it. The
// test skips when the kernel happens not to reuse the inode.
func TestFollowReusedInode(t *testing.T) {
	l := lab.NewPair(t)
	plan, err := NewPlan(Options{Follow: true}, []Space{labSpace(t, l, "a")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	rc := runCounting(s)
	defer rc.stop()
	waitFor := func(key string, send func()) bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			send()
			time.Sleep(100 * time.Millisecond)
			rc.mu.Lock()
			n := rc.seen[key]
			rc.mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	}
	l.AddNS("c")
	l.Veth("a", "ac", "c", "ca")
	l.Addr("a", "ac", "10.200.8.1/24")
	l.Addr("c", "ca", "10.200.8.2/24")
	old, err := netns.IDOfPath(l.Path("c"))
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(l.NS("c")+"/ca", func() { l.SendUDP("c", "10.200.8.1", 9, 0, []byte("hello")) }) {
		t.Fatal("c not captured")
	}
	l.DelNS("c")
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command("ip", "-n", l.NS("a"), "link", "show", "ac").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatal("c not released")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Create namespaces until one reuses c's inode.
	var role string
	for i := 0; i < 20 && role == ""; i++ {
		r := "d" + strconv.Itoa(i)
		l.AddNS(r)
		id, _ := netns.IDOfPath(l.Path(r))
		if id == old {
			role = r
		}
	}
	if role == "" {
		t.Skip("inode not reused")
	}
	t.Logf("namespace %s reuses inode %d", l.NS(role), old.Ino)
	l.Veth("a", "xd", role, "dx")
	l.Addr("a", "xd", "10.200.9.1/24")
	l.Addr(role, "dx", "10.200.9.2/24")
	if !waitFor(l.NS(role)+"/dx", func() { l.SendUDP(role, "10.200.9.1", 9, 0, []byte("hello")) }) {
		rc.mu.Lock()
		t.Errorf("namespace %s (same inode as a deleted one) never captured; seen %v", l.NS(role), rc.seen)
		rc.mu.Unlock()
	}
	rc.stop()
}

// --netns all -i DEV: a namespace whose DEV arrives after discovery first
// looked at it (container runtimes create the namespace, then move the
// veth in) is captured once the device is there.
func TestFollowDeviceArrivesLater(t *testing.T) {
	l := lab.NewPair(t)
	plan, err := NewPlan(Options{Follow: true, Interfaces: []string{"va"}}, []Space{labSpace(t, l, "a")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	rc := runCounting(s)
	defer rc.stop()
	l.AddNS("c")
	time.Sleep(1200 * time.Millisecond) // discovery sees c with lo only
	l.Veth("a", "xc", "c", "va")
	l.Addr("a", "xc", "10.200.8.1/24")
	l.Addr("c", "va", "10.200.8.2/24")
	key := l.NS("c") + "/va"
	deadline := time.Now().Add(4 * time.Second)
	ok := false
	for time.Now().Before(deadline) && !ok {
		l.SendUDP("c", "10.200.8.1", 9, 0, []byte("hello"))
		time.Sleep(100 * time.Millisecond)
		rc.mu.Lock()
		ok = rc.seen[key] > 0
		rc.mu.Unlock()
	}
	if !ok {
		rc.mu.Lock()
		t.Errorf("%s never captured; seen %v", key, rc.seen)
		rc.mu.Unlock()
	}
	rc.stop()
}
