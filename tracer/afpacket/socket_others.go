//go:build !linux

package afpacket

import (
	"errors"
	"runtime"
)

// ErrClosed is returned by ReadBlock once the socket was closed.
var ErrClosed = errors.New("afpacket: socket closed")

var errNotSupported = errors.New("afpacket: AF_PACKET capture is not supported on " + runtime.GOOS)

// Socket is unavailable outside Linux.
type Socket struct{}

// Open fails outside Linux.
func Open(Config) (*Socket, error) { return nil, errNotSupported }

// ReadBlock fails outside Linux.
func (*Socket) ReadBlock(func(*Packet)) (int, error) { return 0, errNotSupported }

// Behind is false outside Linux.
func (*Socket) Behind() bool { return false }

// Wake does nothing outside Linux.
func (*Socket) Wake() {}

// Stats fails outside Linux.
func (*Socket) Stats() (Stats, error) { return Stats{}, errNotSupported }

// Close does nothing outside Linux.
func (*Socket) Close() error { return nil }
