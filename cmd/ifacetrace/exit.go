package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ifacetrace/ifacetrace/tracer"
)

// Exit codes, documented in README.md.
const (
	exitOK         = 0
	exitError      = 1 // capture or output failed
	exitUsage      = 2 // bad flags or arguments, unknown device
	exitPermission = 3 // missing privilege
	exitPlugin     = 4 // the capture ran but a plugin failed: its output is incomplete
)

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

type pluginError struct{ error }

// exitCode prints err, if any, and maps it to an exit code. This is the one
// place where errors become exit codes.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "ifacetrace: %v\n", err)
	var ue usageError
	var ud *tracer.UnknownDeviceError
	var pe pluginError
	switch {
	case errors.As(err, &ue), errors.As(err, &ud):
		return exitUsage
	case errors.Is(err, fs.ErrPermission):
		return exitPermission
	case errors.As(err, &pe):
		return exitPlugin
	}
	return exitError
}
