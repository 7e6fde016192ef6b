package tracer

import (
	"context"
	"testing"
	"time"

	"github.com/ifacetrace/ifacetrace/pcap/record"
	"github.com/ifacetrace/ifacetrace/tracer/lab"
	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// TestSessionInOtherNamespace captures in a lab namespace (not the test's
// own), and checks that every record's device was announced first, with its
// name and veth peer across namespaces, and that -c is exact.
func TestSessionInOtherNamespace(t *testing.T) {
	l := lab.NewPair(t)

	r, err := topology.Open(l.Path("a"))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := r.Devices()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(Options{NetNS: l.Path("a"), Count: 7}, devs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	known := map[uint32]Device{}
	var got []record.Header
	done := make(chan struct{})
	var st Stats
	var runErr error
	go func() {
		defer close(done)
		st, runErr = s.Run(context.Background(), SinkFunc(func(b *Batch) error {
			for _, d := range b.Devices {
				known[d.ID] = d
			}
			rd := record.NewReader(b.Records)
			for {
				var h record.Header
				_, ok, err := rd.Next(&h)
				if err != nil {
					return err
				}
				if !ok {
					return nil
				}
				if _, ok := known[h.Iface]; !ok {
					t.Errorf("record for interface %d before its announcement", h.Iface)
				}
				got = append(got, h)
			}
		}))
	}()
	payloads := make([][]byte, 20)
	for i := range payloads {
		payloads[i] = []byte("ifacetrace")
	}
	l.SendUDP("a", lab.PairB, 9, 0, payloads...)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not stop after -c 7")
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if len(got) != 7 || st.Sightings != 7 {
		t.Fatalf("%d records, %d sightings; want 7", len(got), st.Sightings)
	}
	var va *Device
	for _, d := range known {
		if d.Name == "va" {
			d := d
			va = &d
		}
	}
	if va == nil {
		t.Fatalf("va not announced: %+v", known)
	}
	if va.Kind != "veth" || va.Peer == nil || va.Peer.Name != "vb" || va.Peer.NetNSName != l.NS("b") {
		t.Errorf("va = kind %q peer %+v; want veth, peer %s/vb", va.Kind, va.Peer, l.NS("b"))
	}
	var onVA uint64
	for _, h := range got {
		if h.Iface == va.ID && h.Dir == record.DirOut {
			onVA++
		}
	}
	var statVA uint64
	for _, d := range st.Devices {
		if d.ID == va.ID {
			statVA = d.Out
		}
	}
	if onVA == 0 || statVA != onVA {
		t.Errorf("va out: %d records, stats say %d", onVA, statVA)
	}
}
