//go:build !linux

package sched

import (
	"errors"
	"runtime"
)

// ErrNoPrivilege reports that threads cannot be moved back to normal
// priority; elsewhere than Linux, Background is not supported at all.
var ErrNoPrivilege = errors.New("running in the background is supported on Linux only")

// Background is supported on Linux only.
func Background(spare int) (restore func(), err error) { return nil, ErrNoPrivilege }

// Spare does nothing here.
func Spare(n int) {}

// Foreground locks the calling goroutine to its thread.
func Foreground() error { runtime.LockOSThread(); return nil }

// Nice is supported on Linux only.
func Nice() error { return ErrNoPrivilege }

// Idle does nothing here.
func Idle() {}

// Policy is unknown here.
func Policy() string { return "unknown" }

// Census is empty here.
func Census() map[string]int { return nil }
