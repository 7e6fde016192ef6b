package conntrack_test

import (
	"context"
	"net/netip"
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
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conntrack entry for the ping after 2s (%d events)", tb.Events())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
