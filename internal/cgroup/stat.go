package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPU is what a cgroup may use of the CPUs and what it used.
type CPU struct {
	// Quota is the CPU time the cgroup may use every Period (CFS
	// bandwidth control); 0 means no quota of its own.
	Quota  time.Duration
	Period time.Duration
	// Shares is the v1 relative weight (1024 by default), Weight the v2
	// one (100 by default); only the one of the group's version is set.
	Shares uint64
	Weight uint64
	// Usage is the CPU time the cgroup's processes used, in all.
	Usage time.Duration
	// Periods is the number of enforcement periods with runnable work,
	// Throttled how many of them ran out of quota, ThrottledTime how long
	// the cgroup's processes waited for the next period in all.
	Periods       uint64
	Throttled     uint64
	ThrottledTime time.Duration
}

// CPU reads the group's CPU limits and usage.
func (g Group) CPU() (CPU, error) {
	if g.V2 {
		return g.cpuV2()
	}
	return g.cpuV1()
}

func (g Group) cpuV1() (CPU, error) {
	var c CPU
	cpu, err := g.Dir("cpu")
	if err != nil {
		return c, err
	}
	acct, err := g.Dir("cpuacct")
	if err != nil {
		return c, err
	}
	quota, err := readInt(filepath.Join(cpu, "cpu.cfs_quota_us"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("read the CPU quota: %w", err)
	}
	period, err := readInt(filepath.Join(cpu, "cpu.cfs_period_us"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("read the CPU period: %w", err)
	}
	if quota > 0 {
		c.Quota = time.Duration(quota) * time.Microsecond
	}
	c.Period = time.Duration(period) * time.Microsecond
	if n, err := readInt(filepath.Join(cpu, "cpu.shares")); err == nil && n > 0 {
		c.Shares = uint64(n)
	}
	usage, err := readInt(filepath.Join(acct, "cpuacct.usage"))
	if err != nil {
		return c, fmt.Errorf("read the CPU usage: %w", err)
	}
	c.Usage = time.Duration(usage)
	st, err := readKeyed(filepath.Join(cpu, "cpu.stat"))
	if err != nil {
		return c, fmt.Errorf("read the CPU throttling: %w", err)
	}
	c.Periods, c.Throttled = uint64(st["nr_periods"]), uint64(st["nr_throttled"])
	c.ThrottledTime = time.Duration(st["throttled_time"])
	return c, nil
}

func (g Group) cpuV2() (CPU, error) {
	var c CPU
	dir, err := g.Dir("cpu")
	if err != nil {
		return c, err
	}
	c.Quota, c.Period, err = cpuMax(dir)
	if err != nil {
		return c, err
	}
	if n, err := readInt(filepath.Join(dir, "cpu.weight")); err == nil && n > 0 {
		c.Weight = uint64(n)
	}
	st, err := readKeyed(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return c, fmt.Errorf("read the CPU usage: %w", err)
	}
	c.Usage = time.Duration(st["usage_usec"]) * time.Microsecond
	c.Periods, c.Throttled = uint64(st["nr_periods"]), uint64(st["nr_throttled"])
	c.ThrottledTime = time.Duration(st["throttled_usec"]) * time.Microsecond
	return c, nil
}

// cpuMax reads a v2 cpu.max ("max 100000" or "50000 100000"). The root
// cgroup has none: no quota.
func cpuMax(dir string) (quota, period time.Duration, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, 100 * time.Millisecond, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read the CPU quota: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("read %s: unexpected %q", filepath.Join(dir, "cpu.max"), string(b))
	}
	p, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: unexpected %q", filepath.Join(dir, "cpu.max"), string(b))
	}
	period = time.Duration(p) * time.Microsecond
	if f[0] == "max" {
		return 0, period, nil
	}
	q, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: unexpected %q", filepath.Join(dir, "cpu.max"), string(b))
	}
	return time.Duration(q) * time.Microsecond, period, nil
}

// CPUs returns how many CPUs' worth of time the group may use: the
// smallest quota over period of the group and its parents, else the number
// of CPUs of its cpuset, else the number of CPUs this process may run on.
func (g Group) CPUs() (float64, error) {
	h, err := g.hierarchy("cpu")
	if err != nil {
		return 0, err
	}
	best := 0.0
	for _, dir := range h.ancestors() {
		var q, p time.Duration
		if g.V2 {
			if q, p, err = cpuMax(dir); err != nil {
				return 0, err
			}
		} else {
			qi, qerr := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
			pi, perr := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
			if qerr != nil || perr != nil || qi <= 0 || pi <= 0 {
				continue
			}
			q, p = time.Duration(qi)*time.Microsecond, time.Duration(pi)*time.Microsecond
		}
		if q > 0 && p > 0 {
			if n := float64(q) / float64(p); best == 0 || n < best {
				best = n
			}
		}
	}
	if n := g.cpusetCount(); n > 0 && (best == 0 || float64(n) < best) {
		best = float64(n)
	}
	if best == 0 {
		best = float64(runtime.NumCPU())
	}
	return best, nil
}

// cpusetCount returns the number of CPUs in the group's cpuset, or 0 when
// it cannot be read.
func (g Group) cpusetCount() int {
	dir, err := g.Dir("cpuset")
	if err != nil {
		return 0
	}
	for _, name := range []string{"cpuset.cpus.effective", "cpuset.effective_cpus", "cpuset.cpus"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if n, ok := countCPUs(strings.TrimSpace(string(b))); ok && n > 0 {
			return n
		}
	}
	return 0
}

// countCPUs counts the CPUs of a list such as "0-3,6,8-9".
func countCPUs(list string) (int, bool) {
	if list == "" {
		return 0, false
	}
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, false
			}
		}
		n += b - a + 1
	}
	return n, true
}

// Memory is what a cgroup may use of memory and what it uses.
type Memory struct {
	// Limit is the smallest hard limit of the group and its parents, in
	// bytes; 0 means none.
	Limit int64
	// Usage is the memory charged to the group, page cache included.
	Usage int64
	// InactiveFile is the part of Usage the kernel reclaims first, when
	// the group nears its limit.
	InactiveFile int64
	// OOMKills counts the processes the OOM killer ended in the group.
	OOMKills uint64
}

// WorkingSet is the memory the group holds that is not easily reclaimed:
// Usage less the inactive page cache, as docker stats shows it.
func (m Memory) WorkingSet() int64 { return max(0, m.Usage-m.InactiveFile) }

// Headroom is how much more the group can take before its limit: Limit
// less the working set; -1 when there is no limit.
func (m Memory) Headroom() int64 {
	if m.Limit == 0 {
		return -1
	}
	return max(0, m.Limit-m.WorkingSet())
}

// unlimited is the value from which a v1 limit means none: the kernel
// shows "no limit" as the largest page-aligned int64.
const unlimited = 1 << 62

// Memory reads the group's memory limit and usage.
func (g Group) Memory() (Memory, error) {
	var m Memory
	h, err := g.hierarchy("memory")
	if err != nil {
		return m, err
	}
	dir := h.Dir()
	limitFile, usageFile, inactive := "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
	if g.V2 {
		limitFile, usageFile, inactive = "memory.max", "memory.current", "inactive_file"
	}
	for _, d := range h.ancestors() {
		n, err := readInt(filepath.Join(d, limitFile))
		if err != nil || n <= 0 || n >= unlimited {
			continue
		}
		if m.Limit == 0 || n < m.Limit {
			m.Limit = n
		}
	}
	if m.Usage, err = readInt(filepath.Join(dir, usageFile)); err != nil {
		return m, fmt.Errorf("read the memory usage: %w", err)
	}
	st, err := readKeyed(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return m, fmt.Errorf("read the memory usage: %w", err)
	}
	m.InactiveFile = st[inactive]
	events := "memory.oom_control"
	if g.V2 {
		events = "memory.events"
	}
	if ev, err := readKeyed(filepath.Join(dir, events)); err == nil {
		m.OOMKills = uint64(ev["oom_kill"])
	}
	return m, nil
}
