package lab

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ifacetrace/ifacetrace/tracer/netns"
)

// Tun creates a tun device (raw IP, no link-layer header: ARPHRD_NONE) in
// role's namespace with addr (CIDR), up, and returns its file: what the test
// writes arrives on the device ("in"), what the kernel sends out of it the
// test may read. The device goes away when the file is closed, at the
// latest when the test ends.
func (l *Lab) Tun(role, name, addr string) *os.File {
	l.t.Helper()
	return l.tuntap(role, name, addr, unix.IFF_TUN)
}

// Tap is Tun for a tap device: Ethernet frames, ARPHRD_ETHER.
func (l *Lab) Tap(role, name, addr string) *os.File {
	l.t.Helper()
	return l.tuntap(role, name, addr, unix.IFF_TAP)
}

func (l *Lab) tuntap(role, name, addr string, mode uint16) *os.File {
	l.t.Helper()
	var f *os.File
	err := netns.Do(l.Path(role), func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		var req [unix.IFNAMSIZ + 64]byte
		copy(req[:], name)
		*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = mode | unix.IFF_NO_PI
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, e)
		}
		// Non-blocking, so that the file goes through the runtime's poller
		// and Close ends a Read in progress.
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
		return nil
	})
	if err != nil {
		l.t.Fatalf("lab: tun %s in %s: %v", name, role, err)
	}
	l.t.Cleanup(func() { f.Close() })
	l.Addr(role, name, addr)
	l.IP("-n", l.NS(role), "link", "set", name, "up")
	return f
}
