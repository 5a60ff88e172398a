// Package swarmtest makes the test engine a single-node Docker Swarm for
// the tests that need one, deploys services of the dockertest image on it,
// and cleans up: the services when their test ends, the swarm when the
// last test (of any test binary on the machine) that joined it is done.
//
// Only tests import it.
package swarmtest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// The swarm a test makes listens and advertises on loopback only, and
// takes its overlay subnets from a pool the other tests do not use.
const (
	ListenAddr = "127.0.0.1:2377"
	AddrPool   = "10.251.0.0/16"
)

// gwbridge is the bridge docker swarm init makes for the containers of
// services to reach the host.
const gwbridge = "docker_gwbridge"

// Join makes the engine of env a single-node swarm manager for the test,
// unless it is a manager already. When the test ends, the engine leaves
// the swarm if this package made it and no other test, in this binary or
// another, still uses it: users hold a shared lock on a file for as long
// as they need the swarm, and whoever can turn it into an exclusive lock
// is the last. A swarm this package did not make is never left.
func Join(tb testing.TB, env *dockertest.Env) { join(tb, env, syscall.LOCK_SH) }

// JoinAlone is Join for a test that disturbs every service of the node
// (one that drains it): it waits until no other test uses the swarm, and
// makes the others wait until it is done.
func JoinAlone(tb testing.TB, env *dockertest.Env) { join(tb, env, syscall.LOCK_EX) }

func join(tb testing.TB, env *dockertest.Env, node int) {
	tb.Helper()
	mutex, users, marker := lockFiles(env.Host)
	// Taken first and held until the test ends: shared by the tests that
	// leave the node alone, exclusive for one that does not.
	tb.Cleanup(lock(tb, strings.TrimSuffix(mutex, ".lock")+".node", node))
	unlock := lock(tb, mutex, syscall.LOCK_EX)
	defer unlock()
	u, err := os.OpenFile(users, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		tb.Fatalf("open %s: %v", users, err)
	}
	if err := syscall.Flock(int(u.Fd()), syscall.LOCK_SH); err != nil {
		u.Close()
		tb.Fatalf("lock %s: %v", users, err)
	}
	tb.Cleanup(func() { leave(tb, env, u, mutex, marker) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := env.Client.Info(ctx)
	if err != nil {
		tb.Fatalf("ask the engine about its swarm: %v", err)
	}
	switch {
	case info.Swarm.LocalNodeState == swarm.LocalNodeStateActive && info.Swarm.ControlAvailable:
		return
	case info.Swarm.LocalNodeState == swarm.LocalNodeStateActive:
		tb.Fatalf("the engine at %s is a swarm worker; the swarm tests need a manager, or an engine in no swarm", env.Host)
	case info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive:
		tb.Fatalf("the engine at %s is in swarm state %q; the swarm tests need a manager, or an engine in no swarm", env.Host, info.Swarm.LocalNodeState)
	}
	// The marker is written first: a test killed half way through the
	// init still gets the swarm left by the next last user. It says
	// whether the init makes the bridge that swarm containers use to
	// reach the host, which leaving the swarm keeps.
	mark := env.Host + "\n"
	if _, err := env.Client.NetworkInspect(ctx, gwbridge, network.InspectOptions{}); cerrdefs.IsNotFound(err) {
		mark += gwbridge + "\n"
	}
	if err := os.WriteFile(marker, []byte(mark), 0o600); err != nil {
		tb.Fatalf("write %s: %v", marker, err)
	}
	_, err = env.Client.SwarmInit(ctx, swarm.InitRequest{
		ListenAddr:      ListenAddr,
		AdvertiseAddr:   "127.0.0.1",
		DefaultAddrPool: []string{AddrPool},
		SubnetSize:      24,
	})
	if err != nil {
		tb.Fatalf("docker swarm init --advertise-addr 127.0.0.1: %v", err)
	}
	tb.Logf("initialised a single-node swarm on %s", env.Host)
}

// leave drops the test's share of the swarm, and leaves the swarm when it
// was the last and this package made it.
func leave(tb testing.TB, env *dockertest.Env, users *os.File, mutex, marker string) {
	unlock := lock(tb, mutex, syscall.LOCK_EX)
	defer unlock()
	defer users.Close()
	if err := syscall.Flock(int(users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return // another test still uses the swarm
	}
	mark, err := os.ReadFile(marker)
	if err != nil {
		return // not ours
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Client.SwarmLeave(ctx, true); err != nil && !errors.Is(err, context.Canceled) {
		info, ierr := env.Client.Info(ctx)
		if ierr != nil || info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
			tb.Errorf("docker swarm leave --force: %v", err)
			return
		}
	}
	if strings.Contains(string(mark), "\n"+gwbridge+"\n") {
		if err := env.Client.NetworkRemove(ctx, gwbridge); err != nil && !cerrdefs.IsNotFound(err) {
			tb.Errorf("remove the network %s that docker swarm init made: %v", gwbridge, err)
		}
	}
	os.Remove(marker)
	tb.Logf("left the swarm on %s", env.Host)
}

// lockFiles names the files that coordinate the tests of one engine.
func lockFiles(host string) (mutex, users, marker string) {
	sum := sha256.Sum256([]byte(host))
	base := filepath.Join(os.TempDir(), "chaos-swarmtest-"+hex.EncodeToString(sum[:6]))
	return base + ".lock", base + ".users", base + ".ours"
}

// lock takes a flock on path and returns its release.
func lock(tb testing.TB, path string, how int) func() {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		tb.Fatalf("lock %s: %v", path, err)
	}
	return func() { f.Close() }
}

// Spec describes a test service.
type Spec struct {
	// Name is suffixed to the Env's RunID to form the service name.
	Name     string
	Replicas uint64
	Labels   map[string]string
	// Restart is the condition on which Swarm replaces a task; empty means
	// any (Swarm's default), "none" never.
	Restart swarm.RestartPolicyCondition
	// IgnoreTerm makes the server ignore SIGTERM once it serves; its
	// tasks are stopped with SIGKILL a second after SIGTERM.
	IgnoreTerm bool
}

// Service deploys a replicated service of the dockertest image named
// env.Name(s.Name), with its port 8080 published in host mode on a port
// the engine chooses (the ingress routing mesh is not relied on), and
// removes it when the test ends. Its tasks are replaced 500 ms after they
// fail.
func Service(tb testing.TB, env *dockertest.Env, s Spec) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	delay := 500 * time.Millisecond
	replicas := s.Replicas
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: env.Name(s.Name), Labels: env.Labels(s.Labels)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: dockertest.ImageRef, Labels: env.Labels(nil)},
			RestartPolicy: &swarm.RestartPolicy{Condition: cmp.Or(s.Restart, swarm.RestartPolicyConditionAny), Delay: &delay},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{
			{Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost},
		}},
	}
	if s.IgnoreTerm {
		// Removed with the service after a grace of a second, not ten.
		grace := time.Second
		spec.TaskTemplate.ContainerSpec.Args = []string{"-ignore-term"}
		spec.TaskTemplate.ContainerSpec.StopGracePeriod = &grace
	}
	resp, err := env.Client.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		tb.Fatalf("create service %s: %v", spec.Name, err)
	}
	tb.Cleanup(func() { remove(tb, env, resp.ID, spec.Name) })
	return resp.ID
}

// remove removes a service and waits for its containers to go.
func remove(tb testing.TB, env *dockertest.Env, id, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Client.ServiceRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		tb.Errorf("remove service %s: %v", name, err)
		return
	}
	f := filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+id))
	for {
		left, err := env.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			tb.Errorf("list the containers of service %s: %v", name, err)
			return
		}
		if len(left) == 0 {
			return
		}
		if ctx.Err() != nil {
			tb.Errorf("service %s removed, but %d of its containers are left", name, len(left))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ports returns the host port of each of the service's running tasks.
func Ports(ctx context.Context, env *dockertest.Env, id string) ([]int, error) {
	f := filters.NewArgs(filters.Arg("service", id), filters.Arg("desired-state", "running"))
	tasks, err := env.Client.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range tasks {
		if t.Status.State != swarm.TaskStateRunning {
			continue
		}
		// The port is listed once per address family, at times with a
		// host port of each: the first is the task's.
		for _, p := range t.Status.PortStatus.Ports {
			if p.PublishedPort != 0 {
				out = append(out, int(p.PublishedPort))
				break
			}
		}
	}
	return out, nil
}

// WaitRunning waits until n of the service's tasks run and answer on their
// port.
func WaitRunning(tb testing.TB, env *dockertest.Env, id string, n int, within time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last string
	for {
		ports, err := Ports(ctx, env, id)
		if err == nil && len(ports) == n {
			up := 0
			for _, p := range ports {
				if Answers(ctx, p) {
					up++
				}
			}
			if up == n {
				return
			}
			last = fmt.Sprintf("%d of %d tasks answer", up, n)
		} else if err != nil && ctx.Err() == nil {
			last = err.Error()
		} else if err == nil {
			last = fmt.Sprintf("%d tasks run", len(ports))
		}
		if ctx.Err() != nil {
			tb.Fatalf("service %s: %d tasks did not run and answer within %s: %s%s", id, n, within, last, states(env, id))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// states describes the service's tasks, for a failure message.
func states(env *dockertest.Env, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tasks, err := env.Client.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, t := range tasks {
		fmt.Fprintf(&b, "\n\ttask %s slot %d: %s (desired %s) %s", t.ID, t.Slot, t.Status.State, t.DesiredState, t.Status.Err)
	}
	return b.String()
}
