//go:build !cgo

package filter

import (
	"errors"

	"github.com/ifacetrace/ifacetrace/tracer/afpacket"
)

var errNoLibpcap = errors.New("filter expressions need libpcap, and this program was built without cgo: rebuild with CGO_ENABLED=1 and libpcap-dev installed")

func compileDLT(int, int, string) ([]afpacket.Instruction, error) { return nil, errNoLibpcap }
