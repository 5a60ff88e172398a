package proc

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrGone is wrapped by the error of Signal when the process it is for
// has exited, or its pid names another process now.
var ErrGone = errors.New("it is gone")

var (
	errExited = fmt.Errorf("%w: it has exited", ErrGone)
	errReused = fmt.Errorf("%w: its pid names another process now", ErrGone)
)

// same reports, as an error, whether id's pid names id's process now.
func (id ID) same() error {
	start, err := StartTime(id.PID)
	switch {
	case err != nil:
		return errExited
	case start != id.Start:
		return errReused
	}
	return nil
}

// signalByPID checks id's start time, then signals its pid.
func (id ID) signalByPID(sig syscall.Signal) error {
	if err := id.same(); err != nil {
		return err
	}
	if err := syscall.Kill(id.PID, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return errExited
		}
		return err
	}
	return nil
}
