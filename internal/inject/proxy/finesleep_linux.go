package proxy

import (
	"syscall"
	"time"
)

const haveNanosleep = true

func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
