//go:build linux

package cgroup_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/cgroup/cgrouptest"
)

func TestRealSelf(t *testing.T) {
	g, err := cgroup.Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CPU(); err != nil {
		t.Errorf("CPU() of this process: %v", err)
	}
	if m, err := g.Memory(); err != nil || m.Usage <= 0 {
		t.Errorf("Memory() of this process = %+v, %v; want a usage", m, err)
	}
	if n, err := g.CPUs(); err != nil || n <= 0 {
		t.Errorf("CPUs() of this process = %v, %v; want > 0", n, err)
	}
	if ok, err := (cgroup.FS{}).Holds(g, os.Getpid()); !ok || err != nil {
		t.Errorf("Holds(own group, self) = %v, %v; want true", ok, err)
	}
}

// TestRealJoinQuota moves a busy process into a cgroup with a quota of
// 0.2 CPU and reads back its usage and throttling.
func TestRealJoinQuota(t *testing.T) {
	g := cgrouptest.CPU(t, 0.2)
	if n, err := g.CPUs(); err != nil || n != 0.2 {
		t.Fatalf("CPUs() of a 0.2 CPU cgroup = %v, %v", n, err)
	}
	spin := exec.Command("sh", "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })
	if err := g.Join(spin.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if ok, err := (cgroup.FS{}).Holds(g, spin.Process.Pid); !ok || err != nil {
		t.Fatalf("Holds after Join = %v, %v; want true", ok, err)
	}
	before, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	after, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	share := float64(after.Usage-before.Usage) / float64(wall)
	// The quota caps the share at 0.2; load on the host can only lower it.
	if share <= 0.02 || share > 0.25 {
		t.Errorf("a busy loop under a 0.2 CPU quota used %.3f CPU; want at most 0.25 and more than none", share)
	}
	if after.Throttled <= before.Throttled || after.ThrottledTime <= before.ThrottledTime {
		t.Errorf("throttling went from %d periods (%v) to %d (%v); want it to grow under a quota", before.Throttled, before.ThrottledTime, after.Throttled, after.ThrottledTime)
	}
	if after.Quota != 20*time.Millisecond || after.Period != 100*time.Millisecond {
		t.Errorf("CPU() quota/period = %v/%v; want 20ms/100ms", after.Quota, after.Period)
	}
}
