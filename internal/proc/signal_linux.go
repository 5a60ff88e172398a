package proc

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signal sends sig to the process id names, and to no other: it opens a
// pidfd on the pid, checks that the process it holds has id's start time,
// and signals through the pidfd, so that a pid reused at any point is not
// hit. Where pidfds are not available (Linux before 5.3, a seccomp filter
// that refuses them) it checks the start time and signals by pid, which
// leaves only the moment between the two.
func (id ID) Signal(sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(id.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return errExited
	case err != nil:
		return id.signalByPID(sig)
	}
	defer unix.Close(fd)
	// The pidfd holds the process that had the pid when it was opened:
	// if that process is id's, it is the one signalled, even if it exits
	// and its pid is handed out again meanwhile.
	if err := id.same(); err != nil {
		return err
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errExited
		}
		return err
	}
	return nil
}
