package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// Discards says why the kernel discards signal sig sent to process pid,
// so that sending it does nothing: the process ignores the signal, or it
// is the first process of its PID namespace (as a container's main
// process is) and has no handler for it, and the kernel delivers such a
// process only SIGKILL and SIGSTOP by default. It is empty when the
// signal is delivered, or when /proc does not tell.
func Discards(pid, sig int) string {
	if sig < 1 || sig > 64 || sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	var ign, cgt uint64
	var nspid []string
	masks := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "SigIgn":
			if ign, err = strconv.ParseUint(v, 16, 64); err == nil {
				masks++
			}
		case "SigCgt":
			if cgt, err = strconv.ParseUint(v, 16, 64); err == nil {
				masks++
			}
		case "NSpid":
			nspid = strings.Fields(v)
		}
	}
	bit := uint64(1) << (sig - 1)
	switch {
	case masks < 2:
		return ""
	case ign&bit != 0:
		return "it ignores the signal"
	case cgt&bit != 0:
		return ""
	case len(nspid) > 1 && nspid[len(nspid)-1] == "1":
		return "it is the first process of its PID namespace and has no handler for the signal, and the kernel discards it"
	}
	return ""
}
