package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/resource"
)

// engine connects to the Docker daemon for a test, or skips it (fails it
// with CHAOS_REQUIRE_DOCKER=1) when there is none.
func engine(t *testing.T) (*docker.Engine, *dockertest.Env) {
	t.Helper()
	env := dockertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, env
}

// box is a test container.
type box struct {
	Name string
	Res  container.Resources
	// Tmpfs mounts a tmpfs of this size at /data.
	Tmpfs string
	// Spin runs the CPU-bound spin service (bound in from the host)
	// instead of the test image's server.
	Spin bool
}

// run starts a container from the test image, built FROM scratch; the Env
// removes it. It returns its ID and its address on the default bridge.
func run(t *testing.T, env *dockertest.Env, b box) (id, ip string) {
	t.Helper()
	ctx := ctxT(t)
	cfg := &container.Config{Image: dockertest.ImageRef, Labels: env.Labels(nil)}
	host := &container.HostConfig{Resources: b.Res}
	if b.Tmpfs != "" {
		host.Tmpfs = map[string]string{"/data": "size=" + b.Tmpfs}
	}
	if b.Spin {
		cfg.Entrypoint = []string{"/spin", "-listen", ":8080"}
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: spinBinary(t), Target: "/spin", ReadOnly: true}}
	}
	created, err := env.Client.ContainerCreate(ctx, cfg, host, nil, nil, env.Name(b.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	info := env.Inspect(created.ID)
	for _, n := range info.NetworkSettings.Networks {
		ip = n.IPAddress
	}
	return created.ID, ip
}

func mainPID(t *testing.T, env *dockertest.Env, id string) int {
	t.Helper()
	return env.Inspect(id).State.Pid
}

// TestDockerCPU is TestLocalCPU against a container limited to a fifth
// of a CPU with docker run --cpus.
func TestDockerCPU(t *testing.T) {
	e, env := engine(t)
	id, ip := run(t, env, box{Name: "cpu", Res: container.Resources{NanoCPUs: 0.2e9}, Spin: true})
	addr := ip + ":8080"
	if !waitFor(10*time.Second, func() bool { return rate(t, addr, 100*time.Millisecond) > 0 }) {
		t.Fatalf("the spin service in the container does not answer at %s", addr)
	}
	g, err := cgroup.Of(mainPID(t, env, id))
	if err != nil {
		t.Fatal(err)
	}
	throttled := func(d time.Duration) time.Duration {
		a, _ := g.CPU()
		time.Sleep(d)
		b, _ := g.CPU()
		return b.ThrottledTime - a.ThrottledTime
	}
	in := newInjector(t)
	in.Docker = e
	idle := throttled(2 * time.Second)
	before := rate(t, addr, 2*time.Second)
	rec, err := in.Plan(ctxT(t), &resource.CPU{Workers: 2}, resource.Target{Container: id}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	if ok, _ := (cgroup.FS{}).Holds(g, rec.Worker.PID); !ok {
		t.Errorf("the worker is not in the container's cgroups")
	}
	stressed := throttled(2 * time.Second)
	during := rate(t, addr, 2*time.Second)
	revert(t, in, rec)
	// The best of a few looks after the revert: a machine busy with other
	// work can slow one look, while a worker left running slows them all.
	var after float64
	for i := 0; i < 5 && after < 0.6*before; i++ {
		after = max(after, rate(t, addr, 2*time.Second))
	}
	t.Logf("throttled in 2s: idle %v, with the fault %v; rate: before %.1f/s, during %.1f/s, after %.1f/s", idle, stressed, before, during, after)
	// Workers outside the cgroup would not throttle it at all.
	if stressed <= idle {
		t.Errorf("the container was throttled %v in 2s with the fault and %v idle; want the fault to throttle it", stressed, idle)
	}
	if during > 0.7*before {
		t.Errorf("the service served %.1f/s with the fault and %.1f/s before; want it slowed", during, before)
	}
	if after < 0.6*before {
		t.Errorf("the service served %.1f/s after the revert and %.1f/s before; want it back", after, before)
	}
}

// TestDockerMemory takes 128MiB in a container limited to 512MiB and wants
// the container's usage up by that much, give or take 10%, and down again
// after the revert.
func TestDockerMemory(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "memory", Res: container.Resources{Memory: 512 << 20}})
	g, err := cgroup.Of(mainPID(t, env, id))
	if err != nil {
		t.Fatal(err)
	}
	in := newInjector(t)
	in.Docker = e
	target := resource.Target{Container: id}
	const size = 128 << 20
	usage := func() int64 {
		m, err := g.Memory()
		if err != nil {
			t.Fatal(err)
		}
		return m.Usage
	}
	base := usage()
	rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: size}}, target, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	held := usage() - base
	revert(t, in, rec)
	freed := base + held - usage()
	t.Logf("usage %d, +%d with the fault, -%d after the revert; %s", base, held, freed, rec.Summary)
	if held < size*9/10 || held > size*11/10 {
		t.Errorf("the container's usage grew by %d with a %d memory fault; want within 10%%", held, size)
	}
	if freed < size*9/10 {
		t.Errorf("the revert freed %d of the container's memory; want the %d taken", freed, size)
	}

	// A share of the limit, and what does not fit under it.
	half, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{Share: 0.5}}, target, resource.Options{RunID: runID(t)})
	if err != nil || half.Job.Memory.Bytes != 256<<20 {
		t.Errorf("Plan(50%% of 512MiB) = %+v, %v; want 256MiB", half.Job, err)
	}
	if _, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: 500 << 20}}, target, resource.Options{RunID: runID(t)}); err == nil || !strings.Contains(err.Error(), "allow_oom") {
		t.Errorf("Plan(500MiB of 512MiB) = %v; want a refusal that names allow_oom", err)
	}
	if _, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: 500 << 20}, AllowOOM: true}, target, resource.Options{RunID: runID(t)}); err != nil {
		t.Errorf("Plan(500MiB of 512MiB, allow_oom) = %v; want it planned", err)
	}
}

// statfsIn returns the free space of dir in the container, as df in it
// would show it.
func statfsIn(t *testing.T, pid int, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join("/proc", strconv.Itoa(pid), "root", dir), &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestDockerDiskFill fills a tmpfs of a container until 16MiB are left,
// reverts, then fills it again from a process killed with SIGKILL together
// with its worker, and removes the file with RemoveRun.
func TestDockerDiskFill(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "fill", Tmpfs: "64m"})
	pid := mainPID(t, env, id)
	state := t.TempDir()
	in := injector(t, e, state)
	leave := experiment.Size(16 << 20)
	fault := &resource.DiskFill{Path: "/data", LeaveFree: &leave}
	target := resource.Target{Container: id}

	rec, err := in.Plan(ctxT(t), fault, target, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec.HostRoot {
		t.Fatalf("the container's file system counts as the host's")
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("/proc", strconv.Itoa(pid), "root", rec.Files[0])
	free := statfsIn(t, pid, "/data")
	t.Logf("%s; %s", rec.Summary, rec.Result)
	if d := free - int64(leave); d < -1<<20 || d > 1<<20 {
		t.Errorf("with the fault /data has %d free; want %d, give or take 1MiB", free, leave)
	}
	if !exists(file) {
		t.Errorf("the fill file %s is not in the container", rec.Files[0])
	}
	revert(t, in, rec)
	if exists(file) {
		t.Errorf("the fill file is left after the revert")
	}
	if free := statfsIn(t, pid, "/data"); free < 60<<20 {
		t.Errorf("after the revert /data has %d free; want the 64MiB back", free)
	}

	// SIGKILL for chaos and its worker, then a RemoveRun, as chaos
	// recover would run it.
	rec, err = in.Plan(ctxT(t), fault, target, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	chaos := startApplier(t, state, rec)
	for _, w := range workersOf(rec.RunID) {
		_ = syscallKill(w)
	}
	killGroup(chaos)
	_ = chaos.Wait()
	file = filepath.Join("/proc", strconv.Itoa(pid), "root", rec.Files[0])
	if !exists(file) {
		t.Fatalf("the fill file is gone after SIGKILL: this test expects it left")
	}
	fresh := injector(t, e, state)
	if done, _, err := fresh.RemoveRun(ctxT(t), rec.RunID); err != nil || len(done) != 1 {
		t.Fatalf("RemoveRun = %d records, %v; want one reverted", len(done), err)
	}
	if exists(file) {
		t.Errorf("the fill file is left after RemoveRun")
	}
}

// TestDockerLimits lowers a container's limits through a record that goes
// through JSON, as through the ledger, and restores them from another
// injector.
func TestDockerLimits(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "limits", Res: container.Resources{NanoCPUs: 1e9, Memory: 128 << 20}})
	in := injector(t, e, t.TempDir())
	before, err := e.Limits(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := in.Plan(ctxT(t), &resource.Limits{CPUs: resource.CPUs{Share: 0.5}, CPUShares: 256, Memory: resource.Bytes{N: 64 << 20}}, resource.Target{Container: id}, resource.Options{RunID: runID(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rec.Summary)
	b, _ := json.Marshal(rec)
	var stored resource.Record
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Apply(ctxT(t), stored); err != nil {
		t.Fatal(err)
	}
	g, _ := cgroup.Of(mainPID(t, env, id))
	cpus, _ := g.CPUs()
	mem, _ := g.Memory()
	cpu, _ := g.CPU()
	if cpus != 0.5 || mem.Limit != 64<<20 || cpu.Shares != 256 {
		t.Errorf("with the fault the container may use %v CPUs, %d shares, %d bytes; want 0.5, 256, 64MiB", cpus, cpu.Shares, mem.Limit)
	}
	other := injector(t, e, in.StateDir)
	if w, err := other.Revert(ctxT(t), stored); err != nil || len(w) != 0 {
		t.Fatalf("Revert = %v, %v", w, err)
	}
	after, _ := e.Limits(ctxT(t), id)
	if !after.Equivalent(before) || after.NanoCPUs != before.NanoCPUs || after.Memory != before.Memory || after.MemorySwap != before.MemorySwap {
		t.Errorf("after the revert the container has %s; want %s", after, before)
	}
	cpus, _ = g.CPUs()
	mem, _ = g.Memory()
	cpu, _ = g.CPU()
	if cpus != 1 || mem.Limit != 128<<20 || cpu.Shares != 1024 {
		t.Errorf("after the revert the container may use %v CPUs, %d shares, %d bytes; want 1, 1024, 128MiB", cpus, cpu.Shares, mem.Limit)
	}
	// Limits found back where they were before the revert came: someone
	// restored them (a docker update), and the fault did not last.
	if _, err := in.Apply(ctxT(t), stored); err != nil {
		t.Fatal(err)
	}
	if err := e.SetLimits(ctxT(t), id, before); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revert(ctxT(t), stored); !errors.As(err, new(*inject.EndedEarly)) || !strings.Contains(err.Error(), "someone restored them") {
		t.Errorf("Revert of limits someone restored = %v; want it to say the fault ended early", err)
	}

	if _, err := in.Plan(ctxT(t), &resource.Limits{Memory: resource.Bytes{N: 7 << 20}}, resource.Target{Container: id}, resource.Options{RunID: runID(t)}); err == nil || !strings.Contains(err.Error(), "too low") {
		t.Errorf("Plan(memory 7MiB) = %v; want a refusal below the usage and its margin", err)
	}
	nolimit, _ := run(t, env, box{Name: "nolimit"})
	if _, err := in.Plan(ctxT(t), &resource.Limits{Memory: resource.Bytes{N: 64 << 20}}, resource.Target{Container: nolimit}, resource.Options{RunID: runID(t)}); err == nil || !strings.Contains(err.Error(), "cannot remove one") {
		t.Errorf("Plan(memory on a container without a limit) = %v; want a refusal", err)
	}
	if err := env.Client.ContainerRemove(ctxT(t), id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	// Removed (and, with Compose or Swarm, made again in its place with
	// its own limits): the lowered limits went with it.
	if _, err := other.Revert(ctxT(t), stored); !errors.As(err, new(*inject.EndedEarly)) || !strings.Contains(err.Error(), "was removed before the revert") {
		t.Errorf("Revert on a removed container = %v; want it to say the fault ended early", err)
	}
}

// TestDockerLimitsTwice plans a second limits fault on a container whose
// limits the run has lowered already. Its record would take the lowered
// limits for the container's own: should the first fault end first (a
// background step with a shorter for), the second's revert would put the
// first one's limits back for good.
func TestDockerLimitsTwice(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "twice", Res: container.Resources{NanoCPUs: 1e9, Memory: 128 << 20}})
	in := injector(t, e, t.TempDir())
	before, err := e.Limits(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	target := resource.Target{Container: id}
	o := resource.Options{RunID: runID(t)}
	first, err := in.Plan(ctxT(t), &resource.Limits{CPUs: resource.CPUs{N: 0.5}}, target, o)
	if err != nil {
		t.Fatal(err)
	}
	if first, err = in.Apply(ctxT(t), first); err != nil {
		t.Fatal(err)
	}
	defer in.Revert(context.Background(), first)
	second, err := in.Plan(ctxT(t), &resource.Limits{Memory: resource.Bytes{N: 64 << 20}}, target, o)
	if err == nil {
		if second, err = in.Apply(ctxT(t), second); err != nil {
			t.Fatal(err)
		}
		defer in.Revert(context.Background(), second)
		for _, rec := range []resource.Record{first, second} {
			if _, err := in.Revert(ctxT(t), rec); err != nil {
				t.Fatal(err)
			}
		}
		after, _ := e.Limits(ctxT(t), id)
		t.Fatalf("a second limits fault was planned; with the first reverted first, the container is left with %s; want %s", after, before)
	}
	if !strings.Contains(err.Error(), "lowered already") {
		t.Errorf("Plan of a second limits fault = %v; want a refusal saying its limits are lowered already", err)
	}
	if _, err := in.Revert(ctxT(t), first); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Plan(ctxT(t), &resource.Limits{Memory: resource.Bytes{N: 64 << 20}}, target, o); err != nil {
		t.Errorf("Plan once the first fault is reverted = %v; want it planned", err)
	}
	if after, _ := e.Limits(ctxT(t), id); !after.Equivalent(before) {
		t.Errorf("after the revert the container has %s; want %s", after, before)
	}
}

// TestDockerLimitsRevertOnAnotherEngine reverts a limits fault on the
// default engine from a process whose default engine is another one, as
// chaos recover run from a shell with another DOCKER_HOST does: the
// container is not there, which must not pass for its removal, and the
// limits come back once the revert reaches the engine the fault was made
// on.
func TestDockerLimitsRevertOnAnotherEngine(t *testing.T) {
	e, env := engine(t)
	second := dockertest.NewSecond(t)
	id, _ := run(t, env, box{Name: "limits", Res: container.Resources{NanoCPUs: 1e9, Memory: 128 << 20}})
	before, err := e.Limits(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	tg := inject.Target{Kind: "docker", ID: id, Name: env.Name("limits")}
	f := &resource.Limits{CPUs: resource.CPUs{N: 0.5}}
	runEnv := inject.NewEnv(1, nil)
	runEnv.RunID = runID(t)
	defer runEnv.Close()
	u, err := f.Plan(ctxT(t), runEnv, tg)
	if err != nil {
		t.Fatal(err)
	}
	if u, err = f.Inject(ctxT(t), runEnv, tg, u); err != nil {
		t.Fatal(err)
	}
	defer inject.Revert(context.Background(), runEnv, u)

	t.Setenv("DOCKER_HOST", second.Host)
	var warned []string
	there := inject.NewEnv(1, func(m string) { warned = append(warned, m) })
	defer there.Close()
	if err := inject.Revert(ctxT(t), there, u); err == nil || !strings.Contains(err.Error(), env.Host) {
		t.Errorf("revert through the engine at %s = %v (warnings %q); want an error naming %s, where the fault was made", second.Host, err, warned, env.Host)
	}
	if l, _ := e.Limits(ctxT(t), id); l.CPUs() != 0.5 {
		t.Fatalf("after the revert through another engine the container has %s; want its lowered limits still", l)
	}

	t.Setenv("DOCKER_HOST", env.Host)
	here := inject.NewEnv(1, nil)
	defer here.Close()
	if err := inject.Revert(ctxT(t), here, u); err != nil {
		t.Fatalf("revert through the engine at %s = %v", env.Host, err)
	}
	if after, _ := e.Limits(ctxT(t), id); !after.Equivalent(before) {
		t.Errorf("after the revert the container has %s; want %s", after, before)
	}
}

// TestDockerStop stops a container under a memory fault: the worker leaves
// with it, the stop is not held up, and the revert has nothing left to do
// but say that the fault ended before it came.
func TestDockerStop(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "stop"})
	in := newInjector(t)
	in.Docker = e
	rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: 4 << 20}}, resource.Target{Container: id}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := env.Client.ContainerStop(ctxT(t), id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("docker stop took %v with a worker in the container", took)
	}
	if !waitFor(10*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Errorf("the worker still runs 10s after its container stopped")
	}
	if _, err := in.Revert(ctxT(t), rec); !errors.As(err, new(*inject.EndedEarly)) {
		t.Errorf("Revert = %v; want it to say the fault ended early", err)
	}
	if _, err := os.Stat(filepath.Join(in.StateDir, rec.RunID)); err == nil {
		t.Errorf("the state directory still holds the run after the revert")
	}
}

// TestDockerRestartMidFault restarts a container under a CPU fault, as a
// restart policy, a healthcheck's supervisor or a person may: the worker
// leaves with the old process, and the container runs again without the
// load. The revert says the fault ended before it came, and when, so that
// the run does not count what the restarted container answered as the
// system coping with the fault.
func TestDockerRestartMidFault(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "restart"})
	in := newInjector(t)
	in.Docker = e
	rec, err := in.Plan(ctxT(t), &resource.CPU{Workers: 1}, resource.Target{Container: id}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	timeout := 1
	if err := env.Client.ContainerRestart(ctxT(t), id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	if st := env.Inspect(id).State; !st.Running {
		t.Fatalf("the container is %s after its restart; want it running", st.Status)
	}
	if !waitFor(10*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Errorf("the worker still runs 10s after its container restarted")
	}
	_, err = in.Revert(ctxT(t), rec)
	if ee, ok := errors.AsType[*inject.EndedEarly](err); !ok || !strings.Contains(ee.Reason, "ended before its revert (its worker ended with it at") {
		t.Errorf("Revert = %v; want it to say the fault ended early, and when", err)
	}
}

// TestDockerSymlinkStaysInside fills a directory of a container reached
// through an absolute symbolic link: the link resolves in the container's
// file system, as it does for the container, never on the host's.
func TestDockerSymlinkStaysInside(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "symlink", Tmpfs: "16m"})
	pid := mainPID(t, env, id)
	root := filepath.Join("/proc", strconv.Itoa(pid), "root")
	if err := os.Mkdir(filepath.Join(root, "data", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// In the container /data/link is /data/etc; on the host it would be
	// the host's /data/etc, which must stay untouched.
	if err := os.Symlink("/data/etc", filepath.Join(root, "data", "link")); err != nil {
		t.Fatal(err)
	}
	in := injector(t, e, t.TempDir())
	rec, err := in.Plan(ctxT(t), &resource.DiskFill{Path: "/data/link", Size: 1 << 20}, resource.Target{Container: id}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(rec.Files[0])
	if !exists(filepath.Join(root, "data", "etc", name)) {
		t.Errorf("the fill file is not in the container's /data/etc")
	}
	if exists(filepath.Join("/data/etc", name)) {
		t.Errorf("the fill file is in the host's /data/etc")
	}
	revert(t, in, rec)
	if exists(filepath.Join(root, "data", "etc", name)) {
		t.Errorf("the fill file is left after the revert")
	}
}

// TestDockerMemoryThatTookNothing plans two memory faults that each fit
// under the container's limit, and applies both: the second finds the
// room taken by the first (a target that grew between plan and apply), takes nothing, and fails, saying why, rather
// than count as applied.
func TestDockerMemoryThatTookNothing(t *testing.T) {
	e, env := engine(t)
	id, _ := run(t, env, box{Name: "memory-none", Res: container.Resources{Memory: 128 << 20}})
	in := newInjector(t)
	in.Docker = e
	target := resource.Target{Container: id}
	rid := runID(t)
	var recs []resource.Record
	// 116MiB comes up to the margin of 8MiB under the limit, with what
	// the container and the worker hold; no room is left for the 16MiB.
	for _, n := range []int64{116 << 20, 16 << 20} {
		rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: n}}, target, resource.Options{RunID: rid, For: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	first, err := in.Apply(ctxT(t), recs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer revert(t, in, first)
	second, err := in.Apply(ctxT(t), recs[1])
	if err == nil {
		revert(t, in, second)
		t.Fatalf("the second fault applied (result %q); want it refused, having taken nothing", second.Result)
	}
	if !strings.Contains(err.Error(), "took none of the 16MiB asked") {
		t.Errorf("Apply = %v; want it to say it took none of the 16MiB", err)
	}
	if applied, _ := in.Applied(recs[1].RunID); len(applied) != 1 {
		t.Errorf("Applied = %d records; want the first fault's only", len(applied))
	}
}
