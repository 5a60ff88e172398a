package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/cgroup"
)

// fakeHost is a /proc and a /sys/fs/cgroup made of plain files.
type fakeHost struct {
	t    *testing.T
	root string
	fs   cgroup.FS
}

func newFakeHost(t *testing.T, mountinfo string) *fakeHost {
	t.Helper()
	root := t.TempDir()
	h := &fakeHost{t: t, root: root, fs: cgroup.FS{Proc: filepath.Join(root, "proc")}}
	h.write("proc/self/mountinfo", strings.ReplaceAll(mountinfo, "$ROOT", root))
	return h
}

func (h *fakeHost) write(rel, content string) {
	h.t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) path(rel string) string { return filepath.Join(h.root, rel) }

// The layout of this development host: cpu and cpuacct in hierarchies of
// their own, a named systemd hierarchy and an empty unified one.
const hybridMounts = `30 22 0:27 / $ROOT/sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / $ROOT/sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / $ROOT/sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / $ROOT/sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / $ROOT/sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 30 0:34 / $ROOT/sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / $ROOT/sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / $ROOT/sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / $ROOT/sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 22 8:1 / $ROOT/data rw,relatime - ext4 /dev/sda1 rw
`

const dockerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestOfV1Hybrid(t *testing.T) {
	h := newFakeHost(t, hybridMounts)
	h.write("proc/42/cgroup", strings.ReplaceAll(`9:name=systemd:/docker/ID
8:pids:/docker/ID
7:blkio:/docker/ID
6:freezer:/docker/ID
4:memory:/docker/ID
3:cpuset:/docker/ID
2:cpuacct:/docker/ID
1:cpu:/docker/ID
0::/docker/ID
`, "ID", dockerID))
	g, err := h.fs.Of(42)
	if err != nil {
		t.Fatal(err)
	}
	if g.V2 {
		t.Errorf("Of(hybrid).V2 = true; want v1: the controllers are in v1 hierarchies")
	}
	// freezer is not mounted in this fake: it is left out, not an error.
	want := map[string]string{
		"cpu":     "sys/fs/cgroup/cpu/docker/" + dockerID,
		"cpuacct": "sys/fs/cgroup/cpuacct/docker/" + dockerID,
		"memory":  "sys/fs/cgroup/memory/docker/" + dockerID,
		"pids":    "sys/fs/cgroup/pids/docker/" + dockerID,
		"blkio":   "sys/fs/cgroup/blkio/docker/" + dockerID,
		"cpuset":  "sys/fs/cgroup/cpuset/docker/" + dockerID,
	}
	for c, rel := range want {
		if got, err := g.Dir(c); err != nil || got != h.path(rel) {
			t.Errorf("Dir(%q) = %q, %v; want %q", c, got, err, h.path(rel))
		}
	}
	if _, err := g.Dir("freezer"); err == nil {
		t.Errorf("Dir(freezer) of an unmounted hierarchy = nil error; want ErrNotMounted")
	}
	if n := len(g.Hierarchies); n != 8 {
		t.Errorf("Of(hybrid) found %d hierarchies; want 8 (6 controllers, systemd, unified): %+v", n, g.Hierarchies)
	}
}

func TestOfV1Combined(t *testing.T) {
	// The usual v1 layout: cpu and cpuacct share a hierarchy, mounted
	// with both names.
	h := newFakeHost(t, `31 30 0:28 / $ROOT/cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / $ROOT/cg/memory rw - cgroup cgroup rw,memory
`)
	h.write("proc/7/cgroup", "3:memory:/a\n2:cpu,cpuacct:/a/b\n")
	g, err := h.fs.Of(7)
	if err != nil {
		t.Fatal(err)
	}
	cpu, _ := g.Dir("cpu")
	acct, _ := g.Dir("cpuacct")
	if cpu != h.path("cg/cpu,cpuacct/a/b") || acct != cpu {
		t.Errorf("Dir(cpu), Dir(cpuacct) = %q, %q; want both %q", cpu, acct, h.path("cg/cpu,cpuacct/a/b"))
	}
}

func TestOfV2(t *testing.T) {
	h := newFakeHost(t, `25 22 0:23 / $ROOT/sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`)
	h.write("proc/9/cgroup", "0::/system.slice/docker-"+dockerID+".scope\n")
	g, err := h.fs.Of(9)
	if err != nil {
		t.Fatal(err)
	}
	if !g.V2 {
		t.Fatalf("Of(v2).V2 = false; want true")
	}
	want := h.path("sys/fs/cgroup/system.slice/docker-" + dockerID + ".scope")
	for _, c := range []string{"cpu", "memory", "io", "pids"} {
		if got, err := g.Dir(c); err != nil || got != want {
			t.Errorf("Dir(%q) = %q, %v; want %q", c, got, err, want)
		}
	}
}

func TestOfNamespacedMount(t *testing.T) {
	// Inside a cgroup namespace the mount's root is the namespace's root,
	// and /proc/PID/cgroup paths start with it.
	h := newFakeHost(t, `25 22 0:23 /kubepods/pod1 $ROOT/cg rw - cgroup2 cgroup2 rw
`)
	h.write("proc/9/cgroup", "0::/kubepods/pod1/ctr\n")
	g, err := h.fs.Of(9)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := g.Dir("cpu"); got != h.path("cg/ctr") {
		t.Errorf("Dir(cpu) = %q; want %q", got, h.path("cg/ctr"))
	}
}

func TestOfErrors(t *testing.T) {
	h := newFakeHost(t, `41 22 8:1 / $ROOT/data rw,relatime - ext4 /dev/sda1 rw
`)
	h.write("proc/9/cgroup", "0::/x\n")
	if _, err := h.fs.Of(9); err == nil || !strings.Contains(err.Error(), "mount") {
		t.Errorf("Of with no cgroup mount = %v; want an error telling to mount the cgroup file systems", err)
	}
	if _, err := h.fs.Of(10); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Of(missing pid) = %v; want a does-not-exist error", err)
	}
}

func TestOfEscapedMountPoint(t *testing.T) {
	h := newFakeHost(t, `25 22 0:23 / $ROOT/my\040cgroups rw - cgroup2 cgroup2 rw
`)
	h.write("proc/9/cgroup", "0::/x\n")
	g, err := h.fs.Of(9)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := g.Dir("memory"); got != h.path("my cgroups/x") {
		t.Errorf("Dir(memory) = %q; want %q (\\040 is a space)", got, h.path("my cgroups/x"))
	}
}

func TestCPUV1(t *testing.T) {
	h := newFakeHost(t, hybridMounts)
	h.write("proc/42/cgroup", "2:cpuacct:/docker/x\n1:cpu:/docker/x\n3:cpuset:/docker/x\n")
	cpu := "sys/fs/cgroup/cpu/"
	h.write(cpu+"cpu.cfs_quota_us", "-1\n")
	h.write(cpu+"cpu.cfs_period_us", "100000\n")
	h.write(cpu+"docker/cpu.cfs_quota_us", "150000\n")
	h.write(cpu+"docker/cpu.cfs_period_us", "100000\n")
	h.write(cpu+"docker/x/cpu.cfs_quota_us", "50000\n")
	h.write(cpu+"docker/x/cpu.cfs_period_us", "100000\n")
	h.write(cpu+"docker/x/cpu.shares", "512\n")
	h.write(cpu+"docker/x/cpu.stat", "nr_periods 120\nnr_throttled 30\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n")
	h.write("sys/fs/cgroup/cpuacct/docker/x/cpuacct.usage", "7000000000\n")
	h.write("sys/fs/cgroup/cpuset/docker/x/cpuset.effective_cpus", "0-3\n")
	g, err := h.fs.Of(42)
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	want := cgroup.CPU{Quota: 50 * time.Millisecond, Period: 100 * time.Millisecond, Shares: 512,
		Usage: 7 * time.Second, Periods: 120, Throttled: 30, ThrottledTime: 2500 * time.Millisecond}
	if c != want {
		t.Errorf("CPU() = %+v; want %+v", c, want)
	}
	if n, err := g.CPUs(); err != nil || n != 0.5 {
		t.Errorf("CPUs() = %v, %v; want 0.5 (the group's own quota, under its parent's 1.5)", n, err)
	}
	// Without a quota of its own, the parent's 1.5 CPUs bound it.
	h.write(cpu+"docker/x/cpu.cfs_quota_us", "-1\n")
	if n, err := g.CPUs(); err != nil || n != 1.5 {
		t.Errorf("CPUs() with the parent's quota = %v, %v; want 1.5", n, err)
	}
	c, _ = g.CPU()
	if c.Quota != 0 {
		t.Errorf("CPU().Quota with -1 = %v; want 0 (no quota)", c.Quota)
	}
	// Without any quota, the cpuset bounds it.
	h.write(cpu+"docker/cpu.cfs_quota_us", "-1\n")
	if n, err := g.CPUs(); err != nil || n != 4 {
		t.Errorf("CPUs() with a cpuset 0-3 = %v, %v; want 4", n, err)
	}
}

func TestCPUV2(t *testing.T) {
	h := newFakeHost(t, `25 22 0:23 / $ROOT/cg rw - cgroup2 cgroup2 rw
`)
	h.write("proc/9/cgroup", "0::/a/b\n")
	h.write("cg/cpu.stat", "usage_usec 1\n")
	h.write("cg/a/cpu.max", "max 100000\n")
	h.write("cg/a/b/cpu.max", "25000 50000\n")
	h.write("cg/a/b/cpu.weight", "100\n")
	h.write("cg/a/b/cpu.stat", "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 800000\n")
	h.write("cg/a/b/cpuset.cpus.effective", "0,2,4-5\n")
	g, err := h.fs.Of(9)
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	want := cgroup.CPU{Quota: 25 * time.Millisecond, Period: 50 * time.Millisecond, Weight: 100,
		Usage: 3 * time.Second, Periods: 10, Throttled: 4, ThrottledTime: 800 * time.Millisecond}
	if c != want {
		t.Errorf("CPU() = %+v; want %+v", c, want)
	}
	if n, _ := g.CPUs(); n != 0.5 {
		t.Errorf("CPUs() = %v; want 0.5", n)
	}
	h.write("cg/a/b/cpu.max", "max 100000\n")
	if n, _ := g.CPUs(); n != 4 {
		t.Errorf("CPUs() without quota = %v; want 4 (cpuset 0,2,4-5)", n)
	}
}

func TestMemory(t *testing.T) {
	for _, tc := range []struct {
		name, mounts, procLine string
		files                  map[string]string
		want                   cgroup.Memory
	}{{
		name:     "v1",
		mounts:   hybridMounts,
		procLine: "4:memory:/docker/x\n",
		files: map[string]string{
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                "9223372036854771712\n",
			"sys/fs/cgroup/memory/docker/memory.limit_in_bytes":         "9223372036854771712\n",
			"sys/fs/cgroup/memory/docker/x/memory.limit_in_bytes":       "268435456\n",
			"sys/fs/cgroup/memory/docker/x/memory.usage_in_bytes":       "104857600\n",
			"sys/fs/cgroup/memory/docker/x/memory.stat":                 "cache 4096\ntotal_inactive_file 4194304\ninactive_file 1\n",
			"sys/fs/cgroup/memory/docker/x/memory.oom_control":          "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
			"sys/fs/cgroup/memory/docker/x/memory.memsw.limit_in_bytes": "536870912\n",
		},
		want: cgroup.Memory{Limit: 256 << 20, Usage: 100 << 20, InactiveFile: 4 << 20, OOMKills: 2},
	}, {
		name:     "v1 unlimited under a limited parent",
		mounts:   hybridMounts,
		procLine: "4:memory:/p/x\n",
		files: map[string]string{
			"sys/fs/cgroup/memory/p/memory.limit_in_bytes":   "1073741824\n",
			"sys/fs/cgroup/memory/p/x/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/p/x/memory.usage_in_bytes": "1048576\n",
			"sys/fs/cgroup/memory/p/x/memory.stat":           "total_inactive_file 0\n",
		},
		want: cgroup.Memory{Limit: 1 << 30, Usage: 1 << 20},
	}, {
		name:     "v2",
		mounts:   "25 22 0:23 / $ROOT/cg rw - cgroup2 cgroup2 rw\n",
		procLine: "0::/a\n",
		files: map[string]string{
			"cg/a/memory.max":     "max\n",
			"cg/a/memory.current": "52428800\n",
			"cg/a/memory.stat":    "anon 1\nfile 2\ninactive_file 1048576\n",
			"cg/a/memory.events":  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		},
		want: cgroup.Memory{Usage: 50 << 20, InactiveFile: 1 << 20, OOMKills: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t, tc.mounts)
			h.write("proc/5/cgroup", tc.procLine)
			for p, c := range tc.files {
				h.write(p, c)
			}
			g, err := h.fs.Of(5)
			if err != nil {
				t.Fatal(err)
			}
			m, err := g.Memory()
			if err != nil || m != tc.want {
				t.Errorf("Memory() = %+v, %v; want %+v", m, err, tc.want)
			}
		})
	}
	m := cgroup.Memory{Limit: 100, Usage: 60, InactiveFile: 20}
	if m.WorkingSet() != 40 || m.Headroom() != 60 {
		t.Errorf("WorkingSet, Headroom of %+v = %d, %d; want 40, 60", m, m.WorkingSet(), m.Headroom())
	}
	if h := (cgroup.Memory{Usage: 5}).Headroom(); h != -1 {
		t.Errorf("Headroom without a limit = %d; want -1", h)
	}
}

func TestJoinFake(t *testing.T) {
	h := newFakeHost(t, `25 22 0:23 / $ROOT/cg rw - cgroup2 cgroup2 rw
`)
	h.write("proc/9/cgroup", "0::/a\n")
	h.write("cg/a/cgroup.procs", "")
	g, err := h.fs.Of(9)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Join(1234); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(h.path("cg/a/cgroup.procs")); string(b) != "1234" {
		t.Errorf("Join(1234) wrote %q to cgroup.procs; want %q", b, "1234")
	}
	h.write("proc/1234/cgroup", "0::/a\n")
	if ok, err := h.fs.Holds(g, 1234); !ok || err != nil {
		t.Errorf("Holds after join = %v, %v; want true", ok, err)
	}
	h.write("proc/1234/cgroup", "0::/b\n")
	if ok, _ := h.fs.Holds(g, 1234); ok {
		t.Errorf("Holds of a process in another cgroup = true; want false")
	}
	if err := os.Remove(h.path("cg/a/cgroup.procs")); err != nil {
		t.Fatal(err)
	}
	if err := g.Join(1234); err == nil || !strings.Contains(err.Error(), fmt.Sprint(1234)) {
		t.Errorf("Join into a missing cgroup = %v; want an error naming the process", err)
	}
}

// Paths lists the paths of every line of /proc/PID/cgroup, mounted here or
// not, on v1 and v2 alike.
func TestPaths(t *testing.T) {
	h := newFakeHost(t, "")
	h.write("proc/42/cgroup", "4:memory:/docker/"+dockerID+"\n1:cpu,cpuacct:/docker/"+dockerID+"\n0::/\n")
	h.write("proc/43/cgroup", "0::/system.slice/docker-"+dockerID+".scope\n")
	for pid, want := range map[int][]string{
		42: {"/docker/" + dockerID, "/docker/" + dockerID, "/"},
		43: {"/system.slice/docker-" + dockerID + ".scope"},
	} {
		got, err := h.fs.Paths(pid)
		if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Paths(%d) = %q, %v; want %q", pid, got, err, want)
		}
	}
	if _, err := h.fs.Paths(44); err == nil || !strings.Contains(err.Error(), "read the cgroups of process 44") {
		t.Errorf("Paths(no such process) = %v; want an error naming it", err)
	}
}
