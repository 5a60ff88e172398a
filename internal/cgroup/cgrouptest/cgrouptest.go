// Package cgrouptest makes throwaway CPU cgroups for tests on the real
// host: a cgroup with a CPU quota that a test moves its own child
// processes into, removed when the test ends.
//
// Only tests import it.
package cgrouptest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/cgroup"
)

// CPU makes a cgroup with a CPU quota of cpus CPUs (0 for none) in the
// cpu and cpuacct hierarchies, next to this process's own, and removes it
// when the test ends; it returns the group as cgroup.Of would give it for
// a process inside, with this process's other hierarchies. It skips the
// test where the host cannot do this: not root, or no writable v1 cpu
// hierarchy.
func CPU(tb testing.TB, cpus float64) cgroup.Group {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("making a cgroup needs root")
	}
	self, err := cgroup.Of(os.Getpid())
	if err != nil {
		tb.Skipf("no cgroups here: %v", err)
	}
	if self.V2 {
		tb.Skip("cgrouptest makes v1 cgroups only: this host runs cgroup v2")
	}
	name := "chaostest-" + randomHex(4)
	g := cgroup.Group{}
	var made []string
	tb.Cleanup(func() {
		for _, dir := range made {
			remove(tb, dir)
		}
	})
	for _, h := range self.Hierarchies {
		if !slices.Contains(h.Controllers, "cpu") && !slices.Contains(h.Controllers, "cpuacct") {
			g.Hierarchies = append(g.Hierarchies, h)
			continue
		}
		h.Path = filepath.ToSlash(filepath.Join(h.Path, name))
		if err := os.Mkdir(h.Dir(), 0o755); err != nil {
			tb.Skipf("cannot make a cgroup: %v", err)
		}
		made = append(made, h.Dir())
		g.Hierarchies = append(g.Hierarchies, h)
	}
	dir, err := g.Dir("cpu")
	if err != nil {
		tb.Skipf("no cpu hierarchy: %v", err)
	}
	if cpus > 0 {
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte("100000"), 0); err != nil {
			tb.Fatal(err)
		}
		quota := strconv.Itoa(int(cpus * 100000))
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(quota), 0); err != nil {
			tb.Fatal(err)
		}
	}
	return g
}

// remove moves what is left in a test cgroup to its parent and removes it.
func remove(tb testing.TB, dir string) {
	parent := filepath.Join(filepath.Dir(dir), "cgroup.procs")
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(b)) {
			_ = os.WriteFile(parent, []byte(pid), 0)
		}
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("remove test cgroup %s: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
