package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// runLimited starts a test container with the given resources; the Env
// removes it with the rest.
func runLimited(t *testing.T, env *dockertest.Env, name string, res container.Resources) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := env.Client.ContainerCreate(ctx,
		&container.Config{Image: dockertest.ImageRef, Labels: env.Labels(nil)},
		&container.HostConfig{NetworkMode: "none", Resources: res}, nil, nil, env.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return created.ID
}

// cgroupFiles reads the files the limits end up in, for the container's
// main process.
func cgroupFiles(t *testing.T, pid int) map[string]string {
	t.Helper()
	g, err := cgroup.Of(pid)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]string{
		"cpu":    {"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares", "cpu.max", "cpu.weight"},
		"memory": {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.max", "memory.swap.max", "memory.low"},
	}
	out := map[string]string{}
	for ctrl, names := range files {
		dir, err := g.Dir(ctrl)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
				out[n] = strings.TrimSpace(string(b))
			}
		}
	}
	return out
}

// TestRealLimitsRestore lowers the limits of containers made with each
// way Docker has of limiting CPU and memory, and wants the cgroup files
// back exactly as they were after the restore, and the HostConfig as it
// was or its documented equivalent.
func TestRealLimitsRestore(t *testing.T) {
	e, env := real(t)
	const mi = 1 << 20
	for _, tc := range []struct {
		name  string
		res   container.Resources
		lower docker.Lower
	}{
		{"none", container.Resources{}, docker.Lower{CPUs: 0.3, CPUShares: 128}},
		{"cpus-memory", container.Resources{NanoCPUs: 1.5e9, Memory: 128 * mi}, docker.Lower{CPUs: 0.5, Memory: 64 * mi}},
		{"quota-swap-reservation", container.Resources{CPUQuota: 80000, CPUPeriod: 50000, CPUShares: 512, Memory: 128 * mi, MemorySwap: 192 * mi, MemoryReservation: 100 * mi},
			docker.Lower{CPUs: 0.2, CPUShares: 256, Memory: 48 * mi}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := runLimited(t, env, "limits-"+tc.name, tc.res)
			ctx := ctxT(t)
			p, err := e.MainProcess(ctx, id)
			if err != nil || !p.Running || p.PID <= 0 {
				t.Fatalf("MainProcess = %+v, %v; want a running pid", p, err)
			}
			filesBefore := cgroupFiles(t, p.PID)
			prev, err := e.Limits(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			low, err := docker.Lowered(prev, tc.lower)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.SetLimits(ctx, id, low); err != nil {
				t.Fatal(err)
			}
			g, _ := cgroup.Of(p.PID)
			if n, err := g.CPUs(); err != nil || n != tc.lower.CPUs {
				t.Errorf("the container's cgroup allows %v CPUs (%v) after lowering to %v", n, err, tc.lower.CPUs)
			}
			if tc.lower.Memory > 0 {
				if m, err := g.Memory(); err != nil || m.Limit != tc.lower.Memory {
					t.Errorf("the container's cgroup has a memory limit of %d (%v) after lowering to %d", m.Limit, err, tc.lower.Memory)
				}
			}
			if err := e.SetLimits(ctx, id, prev); err != nil {
				t.Fatal(err)
			}
			after, err := e.Limits(ctx, id)
			if err != nil || !after.Equivalent(prev) {
				t.Errorf("after the restore the container has %s (%v); want %s", after, err, prev)
			}
			filesAfter := cgroupFiles(t, p.PID)
			for k, v := range filesBefore {
				if filesAfter[k] != v {
					t.Errorf("after the restore %s = %s; want %s as before", k, filesAfter[k], v)
				}
			}
			// The container still starts with what it has now.
			if err := env.Client.ContainerRestart(ctx, id, container.StopOptions{}); err != nil {
				t.Errorf("restart after the restore: %v", err)
			}
		})
	}
}

func TestRealMainProcess(t *testing.T) {
	e, env := real(t)
	id := env.Run(dockertest.Spec{Name: "main", Network: "none"})
	ctx := ctxT(t)
	p, err := e.MainProcess(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != id || p.Name != env.Name("main") || !p.Exists || !p.Running || p.PID != env.Inspect(id).State.Pid {
		t.Errorf("MainProcess = %+v; want the running container %s with pid %d", p, id, env.Inspect(id).State.Pid)
	}
	if err := env.Client.ContainerStop(ctx, id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := e.MainProcess(ctx, id); err != nil || !p.Exists || p.Running || p.PID != 0 {
		t.Errorf("MainProcess of a stopped container = %+v, %v; want it existing, not running, no pid", p, err)
	}
	if err := env.Client.ContainerRemove(ctx, id, container.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := e.MainProcess(ctx, id); err != nil || p.Exists {
		t.Errorf("MainProcess of a removed container = %+v, %v; want Exists false and no error", p, err)
	}
	if _, err := docker.New(env.Client, "tcp://10.0.0.1:2375").MainProcess(ctx, id); err == nil || !strings.Contains(err.Error(), "not on this host") {
		t.Errorf("MainProcess through a remote daemon = %v; want a not-on-this-host error", err)
	}
}
