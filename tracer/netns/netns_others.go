//go:build !linux

package netns

import (
	"errors"
	"runtime"
)

var errNotSupported = errors.New("netns: network namespaces are not supported on " + runtime.GOOS)

// IDOfPath fails outside Linux.
func IDOfPath(string) (ID, error) { return ID{}, errNotSupported }

// Current fails outside Linux.
func Current() (ID, error) { return ID{}, errNotSupported }

// Do fails outside Linux.
func Do(string, func() error) error { return errNotSupported }
