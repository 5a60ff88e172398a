package docker

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/gamedayhq/chaos/internal/proc"
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
// its cgroup paths.
func ownsPID(pid int, containerID string) error {
	in, err := proc.InCgroup(pid, containerID)
	if err != nil {
		return fmt.Errorf("process %d of the container is not visible from here (%v): run chaos on the Docker host itself, not in a container, or kill without crash", pid, err)
	}
	if !in {
		return fmt.Errorf("process %d is not in the container's cgroup: the daemon is not on this host or its pid namespace differs; run chaos on the Docker host, or kill without crash", pid)
	}
	return nil
}

// processAlive reports whether pid is still a live process of the
// container: not gone, not a zombie, and not reused by another process.
func processAlive(pid int, containerID string) bool {
	return !proc.Gone(pid) && ownsPID(pid, containerID) == nil
}
