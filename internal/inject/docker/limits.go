package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// Limits are the CPU and memory limits of a container as the daemon keeps
// them in its HostConfig. Zero means not set.
type Limits struct {
	// NanoCPUs is the limit set as a number of CPUs (docker run --cpus),
	// in billionths of a CPU.
	NanoCPUs int64 `json:"nano_cpus,omitempty"`
	// CPUQuota is the CPU time, in µs, the container may use every
	// CPUPeriod (--cpu-quota); -1 means none. CPUPeriod 0 is the default,
	// 100 ms.
	CPUQuota  int64 `json:"cpu_quota,omitempty"`
	CPUPeriod int64 `json:"cpu_period,omitempty"`
	// CPUShares is the relative CPU weight; 0 is the default, 1024.
	CPUShares int64 `json:"cpu_shares,omitempty"`
	// Memory is the memory limit in bytes; MemorySwap the limit on memory
	// and swap together, -1 for unlimited swap.
	Memory     int64 `json:"memory,omitempty"`
	MemorySwap int64 `json:"memory_swap,omitempty"`
	// MemoryReservation is the soft memory limit.
	MemoryReservation int64 `json:"memory_reservation,omitempty"`
}

// defaultPeriod is the CFS period, in µs, when a container sets none.
const defaultPeriod = 100000

// defaultShares is the CPU weight of a container that sets none.
const defaultShares = 1024

// MinMemory is the lowest memory limit the daemon accepts.
const MinMemory = 6 << 20

// MinCPUs is the lowest CPU limit the daemon accepts.
const MinCPUs = 0.01

// CPUs returns the CPU limit in CPUs; 0 when there is none.
func (l Limits) CPUs() float64 {
	switch {
	case l.NanoCPUs > 0:
		return float64(l.NanoCPUs) / 1e9
	case l.CPUQuota > 0:
		return float64(l.CPUQuota) / float64(l.period())
	}
	return 0
}

func (l Limits) period() int64 {
	if l.CPUPeriod > 0 {
		return l.CPUPeriod
	}
	return defaultPeriod
}

// Shares returns the CPU weight, 1024 when not set.
func (l Limits) Shares() int64 {
	if l.CPUShares > 0 {
		return l.CPUShares
	}
	return defaultShares
}

// String writes the limits as docker update's flags that set them; a
// limit that is not set is written as what the daemon takes for none.
func (l Limits) String() string {
	var parts []string
	add := func(flag string, v int64) { parts = append(parts, fmt.Sprintf("--%s %d", flag, v)) }
	switch {
	case l.NanoCPUs > 0:
		parts = append(parts, "--cpus "+strconv.FormatFloat(l.CPUs(), 'f', -1, 64))
	case l.CPUQuota > 0:
		add("cpu-quota", l.CPUQuota)
		if l.CPUPeriod > 0 {
			add("cpu-period", l.CPUPeriod)
		}
	default:
		add("cpu-quota", -1)
	}
	add("cpu-shares", l.Shares())
	if l.Memory > 0 {
		add("memory", l.Memory)
		add("memory-swap", l.MemorySwap)
	}
	if l.MemoryReservation > 0 {
		add("memory-reservation", l.MemoryReservation)
	}
	return strings.Join(parts, " ")
}

// Equivalent reports whether l and o limit a container the same way. The
// daemon's API cannot set a limit back to "not set": a CPU quota chaos
// removes reads -1 afterwards, default shares read 1024 and unset swap -1,
// which is what the unset values mean.
func (l Limits) Equivalent(o Limits) bool { return l.normal() == o.normal() }

func (l Limits) normal() Limits {
	if l.CPUQuota < 0 {
		l.CPUQuota = 0
	}
	if l.CPUQuota == 0 && l.NanoCPUs == 0 {
		l.CPUPeriod = 0
	}
	l.CPUShares = l.Shares()
	if l.MemorySwap == 0 && l.Memory > 0 {
		l.MemorySwap = -1
	}
	return l
}

// Lower says how far to lower a container's limits; zero fields leave a
// limit as it is.
type Lower struct {
	// CPUs is the new CPU limit, in CPUs.
	CPUs float64
	// CPUShares is the new CPU weight.
	CPUShares int64
	// Memory is the new memory limit, in bytes.
	Memory int64
}

// Lowered returns cur lowered as l says, following the daemon's rules: a
// CPU limit set in CPUs stays in CPUs, one set as a quota stays a quota of
// the same period, and a container without one gets a quota; swap is
// lowered by as much as memory, so that the container keeps the swap it
// had and cannot swap out what it lost; a memory reservation above the new
// limit comes down to it. It refuses what would not lower a limit, what
// the daemon refuses, and a memory limit on a container that has none,
// because the daemon cannot remove it afterwards.
func Lowered(cur Limits, l Lower) (Limits, error) {
	out := cur
	if l.CPUs != 0 {
		switch {
		case l.CPUs < MinCPUs:
			return Limits{}, fmt.Errorf("cpus %v is below %v, the least Docker accepts", l.CPUs, MinCPUs)
		case cur.CPUs() > 0 && l.CPUs >= cur.CPUs():
			return Limits{}, fmt.Errorf("cpus %v does not lower the container's limit of %v CPUs", l.CPUs, cur.CPUs())
		case cur.NanoCPUs > 0:
			out.NanoCPUs = int64(l.CPUs * 1e9)
		default:
			out.CPUQuota = int64(l.CPUs * float64(cur.period()))
			if out.CPUQuota < 1000 {
				return Limits{}, fmt.Errorf("cpus %v is a quota of %d µs per %d µs period, below the 1000 µs Docker accepts", l.CPUs, out.CPUQuota, cur.period())
			}
		}
	}
	if l.CPUShares != 0 {
		if l.CPUShares < 2 {
			return Limits{}, fmt.Errorf("cpu_shares %d is below 2, the least the kernel accepts", l.CPUShares)
		}
		if l.CPUShares >= cur.Shares() {
			return Limits{}, fmt.Errorf("cpu_shares %d does not lower the container's weight of %d", l.CPUShares, cur.Shares())
		}
		out.CPUShares = l.CPUShares
	}
	if l.Memory != 0 {
		switch {
		case cur.Memory <= 0:
			return Limits{}, errors.New("the container has no memory limit, and Docker cannot remove one once it is set, so chaos could not restore it: start the container with a memory limit (docker run -m) to let chaos lower it, or use the memory fault, which takes memory from inside the container")
		case l.Memory < MinMemory:
			return Limits{}, fmt.Errorf("memory %d is below 6MiB, the least Docker accepts", l.Memory)
		case l.Memory >= cur.Memory:
			return Limits{}, fmt.Errorf("memory %d does not lower the container's limit of %d", l.Memory, cur.Memory)
		}
		out.Memory = l.Memory
		if cur.MemorySwap > 0 {
			out.MemorySwap = cur.MemorySwap - (cur.Memory - l.Memory)
		} else {
			out.MemorySwap = -1
		}
		if cur.MemoryReservation > l.Memory {
			out.MemoryReservation = l.Memory
		}
	}
	return out, nil
}

// limitsAPI is what limits need of the engine beyond API; *client.Client
// has it.
type limitsAPI interface {
	ContainerUpdate(ctx context.Context, containerID string, updateConfig container.UpdateConfig) (container.UpdateResponse, error)
	ContainerStatsOneShot(ctx context.Context, containerID string) (container.StatsResponseReader, error)
}

func (e *Engine) limitsAPI() (limitsAPI, error) {
	l, ok := e.api.(limitsAPI)
	if !ok {
		return nil, errors.New("this Docker client cannot update containers")
	}
	return l, nil
}

// ErrGone is returned by Limits when the container no longer exists.
var ErrGone = errors.New("the container no longer exists")

// Limits returns the container's limits.
func (e *Engine) Limits(ctx context.Context, id string) (Limits, error) {
	info, err := e.api.ContainerInspect(ctx, id)
	if err != nil {
		if gone(err) {
			return Limits{}, fmt.Errorf("container %s: %w", shortID(id), ErrGone)
		}
		return Limits{}, fmt.Errorf("inspect container %s: %w", shortID(id), e.unreachable(err))
	}
	if info.HostConfig == nil {
		return Limits{}, fmt.Errorf("inspect container %s: the daemon gave no host config", shortID(id))
	}
	r := info.HostConfig.Resources
	return Limits{
		NanoCPUs: r.NanoCPUs, CPUQuota: r.CPUQuota, CPUPeriod: r.CPUPeriod, CPUShares: r.CPUShares,
		Memory: r.Memory, MemorySwap: r.MemorySwap, MemoryReservation: r.MemoryReservation,
	}, nil
}

// MemoryInUse returns the memory the container holds now, as docker stats
// shows it: its usage less the page cache the kernel reclaims first.
func (e *Engine) MemoryInUse(ctx context.Context, id string) (int64, error) {
	api, err := e.limitsAPI()
	if err != nil {
		return 0, err
	}
	resp, err := api.ContainerStatsOneShot(ctx, id)
	if err != nil {
		if gone(err) {
			return 0, fmt.Errorf("container %s: %w", shortID(id), ErrGone)
		}
		return 0, fmt.Errorf("read the memory of container %s: %w", shortID(id), e.unreachable(err))
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("read the memory of container %s: %w", shortID(id), err)
	}
	m := st.MemoryStats
	inactive, ok := m.Stats["total_inactive_file"] // cgroup v1
	if !ok {
		inactive = m.Stats["inactive_file"] // cgroup v2
	}
	if inactive > m.Usage {
		return 0, nil
	}
	return int64(m.Usage - inactive), nil
}

// SetLimits changes the container's limits to want and checks that the
// daemon applied them. Only the limits that differ are sent; a limit to
// remove is sent as what the daemon takes for none (a quota of -1, 1024
// shares). The daemon's own rules hold: a quota cannot replace a limit set
// in CPUs, nor a memory limit be removed.
func (e *Engine) SetLimits(ctx context.Context, id string, want Limits) error {
	api, err := e.limitsAPI()
	if err != nil {
		return err
	}
	cur, err := e.Limits(ctx, id)
	if err != nil {
		return err
	}
	if cur.Equivalent(want) {
		return nil
	}
	r, err := update(cur, want)
	if err != nil {
		return fmt.Errorf("set the limits of container %s to %s: %w", shortID(id), want, err)
	}
	if _, err := api.ContainerUpdate(ctx, id, container.UpdateConfig{Resources: r}); err != nil {
		if gone(err) {
			return fmt.Errorf("container %s: %w", shortID(id), ErrGone)
		}
		return fmt.Errorf("set the limits of container %s to %s: %w", shortID(id), want, e.unreachable(err))
	}
	got, err := e.Limits(ctx, id)
	if err != nil {
		return err
	}
	if !got.Equivalent(want) {
		return fmt.Errorf("set the limits of container %s to %s: the daemon shows %s", shortID(id), want, got)
	}
	return nil
}

// update is the request that takes a container from cur to want. The API
// reads 0 as "leave as it is", so every value sent is non-zero.
func update(cur, want Limits) (container.Resources, error) {
	var r container.Resources
	c, w := cur.normal(), want.normal()
	switch {
	case c.NanoCPUs != w.NanoCPUs:
		if w.NanoCPUs == 0 {
			return r, errors.New("the daemon cannot remove a limit set in CPUs (--cpus)")
		}
		if c.CPUQuota > 0 {
			return r, errors.New("the daemon cannot set a limit in CPUs on a container limited by a CPU quota")
		}
		r.NanoCPUs = w.NanoCPUs
	case c.CPUQuota != w.CPUQuota || c.CPUPeriod != w.CPUPeriod:
		if w.NanoCPUs > 0 {
			return r, errors.New("the daemon cannot set a CPU quota on a container limited in CPUs (--cpus)")
		}
		r.CPUQuota = w.CPUQuota
		if r.CPUQuota == 0 {
			r.CPUQuota = -1
		}
		if c.CPUPeriod != w.CPUPeriod {
			if w.CPUPeriod == 0 {
				return r, errors.New("the daemon cannot remove a CPU period once set")
			}
			r.CPUPeriod = w.CPUPeriod
		}
	}
	if c.CPUShares != w.CPUShares {
		r.CPUShares = w.CPUShares
	}
	if c.Memory != w.Memory || c.MemorySwap != w.MemorySwap {
		if w.Memory == 0 {
			return r, errors.New("the daemon cannot remove a memory limit once set")
		}
		// Both go together: the daemon refuses a memory limit above the
		// current memory+swap limit unless the request sets that too.
		r.Memory, r.MemorySwap = w.Memory, w.MemorySwap
	}
	if c.MemoryReservation != w.MemoryReservation {
		if w.MemoryReservation == 0 {
			return r, errors.New("the daemon cannot remove a memory reservation once set")
		}
		r.MemoryReservation = w.MemoryReservation
	}
	return r, nil
}
