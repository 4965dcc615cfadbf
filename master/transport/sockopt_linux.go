//go:build linux

package transport

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeout makes the kernel abort a peer connection whose sent data stays
// unacknowledged for d (TCP_USER_TIMEOUT; it also bounds keep-alive probing).
// Without it a stream to a partitioned master keeps "working" into socket
// buffers, and after the partition heals the old connection recovers only
// at TCP's retransmission back-off, which can take minutes; with it the
// write fails, the sender redials, and a healed peer is reached at once.
func userTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	ms := int(d / time.Millisecond)
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
