package docker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// signalProcess sends sig to pid after checking, from /proc, that pid is
// still a process of the container: a pid taken from an old inspect may
// have been reused by an unrelated process of the host.
func signalProcess(pid int, containerID, sig string) error {
	if err := ownsPID(pid, containerID); err != nil {
		return err
	}
	n, err := signalNumber(sig)
	if err != nil {
		return err
	}
	switch err := syscall.Kill(pid, syscall.Signal(n)); {
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("signal process %d: permission denied: run as root to crash containers, or kill without crash", pid)
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("signal process %d: it no longer runs", pid)
	case err != nil:
		return fmt.Errorf("signal process %d: %w", pid, err)
	}
	return nil
}

// ownsPID checks that pid belongs to the container, by the container ID in
// its cgroup paths (cgroup v1 and v2, cgroupfs and systemd drivers alike).
func ownsPID(pid int, containerID string) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return fmt.Errorf("process %d of the container is not visible from here (%v): run chaos on the Docker host itself, not in a container, or kill without crash", pid, err)
	}
	if !strings.Contains(string(b), containerID) {
		return fmt.Errorf("process %d is not in the container's cgroup: the daemon is not on this host or its pid namespace differs; run chaos on the Docker host, or kill without crash", pid)
	}
	return nil
}

// processAlive reports whether pid is still a live process of the
// container: not gone, not a zombie, and not reused by another process.
func processAlive(pid int, containerID string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// hold anything, including parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	switch b[i+2] {
	case 'Z', 'X', 'x':
		return false
	}
	return ownsPID(pid, containerID) == nil
}
