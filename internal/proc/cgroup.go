package proc

import (
	"strings"

	"github.com/gamedayhq/chaos/internal/cgroup"
)

// InCgroup reports whether process pid is in a cgroup whose path holds
// name, in any hierarchy: cgroup v1 and v2, the cgroupfs and systemd
// drivers alike. A container's cgroups carry its full ID, which tells a
// pid of the container from a pid the host has since handed to another
// process. An empty name is in no cgroup. The error says that pid's cgroups cannot be read from here: no
// such process, or a pid namespace that does not show it.
func InCgroup(pid int, name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	paths, err := cgroup.Paths(pid)
	if err != nil {
		return false, err
	}
	for _, p := range paths {
		if strings.Contains(p, name) {
			return true, nil
		}
	}
	return false, nil
}
