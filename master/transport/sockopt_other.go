//go:build !linux

package transport

import (
	"syscall"
	"time"
)

// userTimeout is a no-op where TCP_USER_TIMEOUT does not exist; keep-alives
// and write timeouts still end dead streams, only later.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
