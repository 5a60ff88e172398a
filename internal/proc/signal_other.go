//go:build !linux

package proc

import "syscall"

// Signal sends sig to the process id names, once it has checked that the
// pid still has id's start time.
func (id ID) Signal(sig syscall.Signal) error { return id.signalByPID(sig) }

// Discards cannot tell without /proc: the signal counts as delivered.
func Discards(int, int) string { return "" }
