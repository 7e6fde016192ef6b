package conntrack_test

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/tracer/conntrack"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
)

// TestWatch: in the NAT lab's host namespace, a ping from the container is
// a conntrack entry whose reply tuple is masqueraded to the uplink's
// address, learnt from the events.
func TestWatch(t *testing.T) {
	l := lab.NewNAT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tb := conntrack.NewTable(0)
	before := sockets(t)
	if err := conntrack.Watch(ctx, l.Path(lab.Host), tb); err != nil {
		if lab.InCI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if out, err := l.Command(lab.Container, "ping", "-n", "-c", "1", "-W", "2", lab.OutsideIP).CombinedOutput(); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	container := netip.MustParseAddr(lab.ContainerIP)
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, e := range tb.Entries() {
			if e.Orig.Proto != 1 || e.Orig.Src != container {
				continue
			}
			if e.Reply.Dst != netip.MustParseAddr(lab.UplinkIP) || e.Status&conntrack.StatusSrcNAT == 0 {
				t.Fatalf("entry %+v: want the reply to the uplink's address, SRC_NAT", e)
			}
			// Found by either tuple.
			if _, reply, ok := tb.Lookup(e.Reply); !ok || !reply {
				t.Fatalf("lookup by the reply tuple %+v: reply %v ok %v", e.Reply, reply, ok)
			}
			// Cancelling lets go of the namespace: the sockets close.
			cancel()
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) && sockets(t) > before {
				time.Sleep(20 * time.Millisecond)
			}
			if n := sockets(t); n > before {
				t.Errorf("%d sockets open 2s after cancel, %d before Watch", n, before)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conntrack entry for the ping after 2s (%d events)", tb.Events())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sockets counts this process's open sockets.
func sockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}
