// Command ifacetrace-plugin-vanish is the vanish example plugin as a binary
// ifacetrace can run: install it on the plugin path and use
// `ifacetrace --plugin vanish`. See plugins/examples/vanish/README.md.
package main

import (
	"github.com/ifacetrace/ifacetrace/plugins/examples/vanish"
	"github.com/ifacetrace/ifacetrace/plugins/sdk"
)

func main() { sdk.Serve(vanish.New()) }
