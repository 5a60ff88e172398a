//go:build !linux

package proc

import "syscall"

// Signal sends sig to the process id names, once it has checked that the
// pid still has id's start time.
func (id ID) Signal(sig syscall.Signal) error { return id.signalByPID(sig) }
