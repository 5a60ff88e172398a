package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// bytesAcked returns how many bytes the peer of c has acknowledged, as the
// kernel counts them, and whether it could tell.
func bytesAcked(c *net.TCPConn) (int64, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil {
		return 0, false
	}
	return int64(info.Bytes_acked), true
}
