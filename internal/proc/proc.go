// Package proc knows the local processes as /proc shows them: who a pid is
// (its start time, so that a reused pid is never mistaken for the process
// that had it), whether it still runs (a zombie, exited but not yet reaped,
// does not), its parent, command line and cgroups, and how to stop a
// process group: SIGTERM, a grace period, SIGKILL. Process targets,
// services, commands, the ledger, the watchdog and Docker's crash all ask
// it, so that they follow the same rules.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ID pins a pid to one process: pids are reused, start times are not.
type ID struct {
	PID int `json:"pid"`
	// Start is the process's start time in clock ticks since boot.
	Start uint64 `json:"start"`
}

// Identify returns the ID of the process that has pid now.
func Identify(pid int) (ID, error) {
	start, err := StartTime(pid)
	if err != nil {
		return ID{}, err
	}
	return ID{PID: pid, Start: start}, nil
}

// Alive reports whether the process id names still runs: its pid has the
// same start time and it has not exited. A zombie is not alive: it will
// never act again.
func (id ID) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	f, err := statFields(id.PID)
	if err != nil || exited(f) || len(f) < 20 {
		return false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && start == id.Start
}

// Reused reports whether id's pid now names another process: the one id
// named is gone, and so is any process group it led.
func (id ID) Reused() bool {
	start, err := StartTime(id.PID)
	return err == nil && start != id.Start
}

// Gone reports whether pid names no running process: there is none, or it
// has exited and waits to be reaped by its parent (a zombie).
func Gone(pid int) bool {
	f, err := statFields(pid)
	return err != nil || exited(f)
}

// exited reports whether stat fields say the process has exited: Z for a
// zombie, X (or x on old kernels) for one being removed.
func exited(f []string) bool {
	if len(f) == 0 {
		return true
	}
	switch f[0] {
	case "Z", "X", "x":
		return true
	}
	return false
}

// StartTime returns the start time of process pid in clock ticks since
// boot.
func StartTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	// starttime is field 22 of stat, the 20th after the command name.
	if len(f) < 20 {
		return 0, fmt.Errorf("process %d: short /proc stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// State returns the state letter of process pid from /proc: R running, S
// sleeping, T stopped, Z zombie, and so on.
func State(pid int) (string, error) {
	f, err := statFields(pid)
	if err != nil {
		return "", err
	}
	if len(f) == 0 {
		return "", fmt.Errorf("read /proc/%d/stat: no state", pid)
	}
	return f[0], nil
}

// Parent returns the parent of process pid, or 0 when it cannot be read.
func Parent(pid int) int {
	f, err := statFields(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// Cmdline returns the command line of process pid, its arguments joined
// by spaces; ok is false for a process gone or one without a command line
// (a kernel thread, a zombie).
func Cmdline(pid int) (cmd string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})), true
}

// PIDs lists the pids of the processes this process can see.
func PIDs() []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which may itself hold spaces and parentheses: field 0 is the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("read /proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// AllStopped reports whether every thread of process pid is stopped (T, or t
// when traced), and else the state of one that is not. A SIGSTOP takes
// effect once each thread has been scheduled to see it: until then, on a
// busy machine, the process's other threads run on.
func AllStopped(pid int) (bool, string) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*", pid))
	if len(tasks) == 0 {
		st, err := State(pid)
		return err == nil && (st == "T" || st == "t"), st
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(filepath.Base(task))
		if err != nil {
			continue
		}
		f, err := statFields(tid)
		if err != nil || exited(f) {
			continue // a thread that has exited meanwhile
		}
		if f[0] != "T" && f[0] != "t" {
			return false, f[0]
		}
	}
	return true, "T"
}
