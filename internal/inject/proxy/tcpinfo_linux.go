package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// bytesWritten returns how many bytes have been written to c so far, as
// the kernel counts them: those the peer acknowledged and those still in
// the send queue. It reports false when it cannot tell. An acknowledgement
// arriving between the two counts makes it low for a moment, never high.
func bytesWritten(c *net.TCPConn) (int64, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var queued int
	cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			queued, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		}
	})
	if cerr != nil || err != nil {
		return 0, false
	}
	return int64(info.Bytes_acked) + int64(queued), true
}
