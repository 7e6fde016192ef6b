package topology_test

import (
	"testing"

	"github.com/ifacetrace/ifacetrace/tracer/topology"
)

// openNS opens a Reader on the namespace at path, closed when t ends.
func openNS(t testing.TB, path string) *topology.Reader {
	t.Helper()
	r, err := topology.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
