// Command resourcebench measures the resource faults against containers
// of the local Docker engine, with the chaos binary it is given as the
// worker: the CPU share the cpu fault takes against the share it asks for
// (1 and 2 workers, and loads, in a container with a CPU quota and in one
// without), the memory a memory fault adds to a container's usage, the
// free space a disk fill leaves, and the time each fault takes to apply
// and to revert, next to two baselines measured in the same run: starting
// the chaos binary, and one inspect through the engine's API. It prints
// Markdown. bench/resource/run.sh builds what it needs and runs it.
//
//	resourcebench -chaos BIN -image IMAGE [-runs N] [-secs S] [-iters N]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/resource"
)

var (
	chaosBin = flag.String("chaos", "", "the chaos binary, run as the worker")
	image    = flag.String("image", "", "a FROM-scratch image whose entrypoint keeps running")
	runs     = flag.Int("runs", 3, "CPU share: runs per case (the median is shown)")
	secs     = flag.Float64("secs", 5, "CPU share: seconds measured per run")
	iters    = flag.Int("iters", 10, "apply and revert: iterations per fault")
	only     = flag.String("only", "", "run one section: cpu, memory, disk or timings")
)

func main() {
	flag.Parse()
	if *chaosBin == "" || *image == "" {
		fmt.Fprintln(os.Stderr, "usage: resourcebench -chaos BIN -image IMAGE")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "resourcebench:", err)
		os.Exit(1)
	}
	err = b.run(ctx)
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "resourcebench:", err)
		os.Exit(1)
	}
}

type bench struct {
	cli    *client.Client
	engine *docker.Engine
	in     *resource.Injector
	label  string
	state  string
	seq    int
}

func newBench(ctx context.Context) (*bench, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	e, err := docker.Connect(ctx)
	if err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp("", "chaos-bench-state-")
	if err != nil {
		return nil, err
	}
	label := fmt.Sprintf("chaos-bench-%d", os.Getpid())
	return &bench{
		cli: cli, engine: e, label: label, state: state,
		in: &resource.Injector{Docker: e, Exe: *chaosBin, StateDir: state},
	}, nil
}

func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, _ := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "chaos.bench="+b.label))})
	for _, c := range list {
		_ = b.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
	_ = os.RemoveAll(b.state)
	b.engine.Close()
	b.cli.Close()
}

// start runs a container of the bench image with the given resources.
func (b *bench) start(ctx context.Context, name string, res container.Resources, tmpfs string) (string, error) {
	host := &container.HostConfig{Resources: res, NetworkMode: "none"}
	if tmpfs != "" {
		host.Tmpfs = map[string]string{"/data": "size=" + tmpfs}
	}
	c, err := b.cli.ContainerCreate(ctx, &container.Config{Image: *image, Labels: map[string]string{"chaos.bench": b.label}},
		host, nil, nil, b.label+"-"+name)
	if err != nil {
		return "", err
	}
	return c.ID, b.cli.ContainerStart(ctx, c.ID, container.StartOptions{})
}

func (b *bench) opts(d time.Duration) resource.Options {
	b.seq++
	return resource.Options{RunID: fmt.Sprintf("%s-%d", b.label, b.seq), For: d}
}

func (b *bench) run(ctx context.Context) error {
	fmt.Printf("load average at the start: %s\n\n", loadavg())
	want := func(section string) bool { return *only == "" || *only == section }
	free, err := b.start(ctx, "free", container.Resources{}, "")
	if err != nil {
		return err
	}
	if want("cpu") {
		quota, err := b.start(ctx, "quota", container.Resources{NanoCPUs: 1e9}, "")
		if err != nil {
			return err
		}
		if err := b.cpuShares(ctx, free, quota); err != nil {
			return err
		}
	}
	mem, err := b.start(ctx, "memory", container.Resources{Memory: 512 << 20}, "")
	if err != nil {
		return err
	}
	if want("memory") {
		if err := b.memory(ctx, mem); err != nil {
			return err
		}
	}
	disk, err := b.start(ctx, "disk", container.Resources{}, "256m")
	if err != nil {
		return err
	}
	if want("disk") {
		if err := b.diskFill(ctx, disk); err != nil {
			return err
		}
	}
	if want("timings") {
		limited, err := b.start(ctx, "limits", container.Resources{NanoCPUs: 1e9, Memory: 256 << 20}, "")
		if err != nil {
			return err
		}
		if err := b.timings(ctx, free, mem, disk, limited); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average at the end: %s\n", loadavg())
	return nil
}

// cpuShares measures the CPU the cpu fault's workers get against what
// they ask, in two windows per run. Alone: the container cgroup's CPU time
// over wall time (its own process idles), the figure to read on an idle
// host. With loops: as many plain busy loops (sh) as the fault has
// workers run in the same cgroup at the same time, and the workers' CPU
// time is divided by the loops': on a loaded host no thread gets a whole
// CPU, but a worker busy all the time gets what a busy loop gets (ratio 1)
// and one busy half the time takes half a CPU where a busy loop gets at
// least that much: its expected ratio is its duty over the loops' share,
// at most 1.
func (b *bench) cpuShares(ctx context.Context, free, quota string) error {
	fmt.Println("## CPU share: asked against measured")
	fmt.Println()
	fmt.Printf("Median of %d runs, each a window of %gs with the fault alone and one with as many plain busy loops in the same cgroup. Host idle: CPUs of the host's 2 left idle in the first window.\n\n", *runs, *secs)
	fmt.Println("| container | fault | workers x duty | asked CPUs | measured alone | measured/asked | host idle | loop's CPUs | workers/loops | expected |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
	cases := []struct {
		ctr, what string
		fault     *resource.CPU
		asked     float64
	}{
		{free, "no CPU limit", &resource.CPU{Workers: 1}, 1},
		{free, "no CPU limit", &resource.CPU{Workers: 2}, 2},
		{free, "no CPU limit", &resource.CPU{Load: 0.25}, 0.5},
		{quota, "--cpus 1", &resource.CPU{Workers: 1}, 1},
		{quota, "--cpus 1", &resource.CPU{Workers: 2}, 1},
		{quota, "--cpus 1", &resource.CPU{Load: 0.5}, 0.5},
	}
	for _, c := range cases {
		var shares, idles, ratios, loopShares, expected []float64
		var work *resource.CPUWork
		for range *runs {
			r, err := b.cpuShare(ctx, c.ctr, c.fault)
			if err != nil {
				return err
			}
			work = r.work
			shares, idles, ratios = append(shares, r.share), append(idles, r.idle), append(ratios, r.ratio)
			loopShares = append(loopShares, r.loop)
			expected = append(expected, min(1, r.work.Duty/r.loop))
		}
		s := median(shares)
		what := fmt.Sprintf("workers: %d", c.fault.Workers)
		if c.fault.Load > 0 {
			what = "load: " + c.fault.Load.String()
		}
		fmt.Printf("| %s | %s | %d x %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			c.what, what, work.Workers, work.Duty, c.asked, s, s/c.asked, median(idles), median(loopShares), median(ratios), median(expected))
	}
	fmt.Println()
	return nil
}

type shareRun struct {
	share, idle, ratio float64
	// loop is the CPUs' worth one plain loop got.
	loop float64
	work *resource.CPUWork
}

func (b *bench) cpuShare(ctx context.Context, id string, f *resource.CPU) (shareRun, error) {
	var r shareRun
	rec, err := b.in.Plan(ctx, f, resource.Target{Container: id}, b.opts(time.Minute))
	if err != nil {
		return r, err
	}
	if rec, err = b.in.Apply(ctx, rec); err != nil {
		return r, err
	}
	defer b.in.Revert(context.WithoutCancel(ctx), rec)
	r.work = rec.Job.CPU
	g := rec.Job.Cgroup
	window := time.Duration(*secs * float64(time.Second))

	time.Sleep(500 * time.Millisecond)
	c0, err := g.CPU()
	if err != nil {
		return r, err
	}
	idle0, total0 := hostCPU()
	t0 := time.Now()
	time.Sleep(window)
	c1, err := g.CPU()
	if err != nil {
		return r, err
	}
	idle1, total1 := hostCPU()
	r.share = float64(c1.Usage-c0.Usage) / float64(time.Since(t0))
	r.idle = float64(cpuCount()) * float64(idle1-idle0) / float64(total1-total0)

	var loops []*exec.Cmd
	defer func() {
		for _, c := range loops {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	for range r.work.Workers {
		c := exec.Command("sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			return r, err
		}
		loops = append(loops, c)
		if err := g.Join(c.Process.Pid); err != nil {
			return r, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	w0, l0 := procCPU(rec.Worker.PID), 0.0
	for _, c := range loops {
		l0 += procCPU(c.Process.Pid)
	}
	t1 := time.Now()
	time.Sleep(window)
	w1, l1 := procCPU(rec.Worker.PID), 0.0
	for _, c := range loops {
		l1 += procCPU(c.Process.Pid)
	}
	r.ratio = (w1 - w0) / (l1 - l0)
	r.loop = (l1 - l0) / float64(len(loops)) / time.Since(t1).Seconds()
	return r, nil
}

// procCPU returns the CPU seconds process pid has used, all threads.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// memory measures the usage a memory fault adds to a container.
func (b *bench) memory(ctx context.Context, id string) error {
	fmt.Println("## Memory: asked against the container's usage")
	fmt.Println()
	fmt.Println("4KiB shows what the worker itself adds to the container's cgroup (its runtime after it joined).")
	fmt.Println()
	fmt.Println("| asked | usage before | usage with the fault | added | added/asked |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, size := range []int64{4 << 10, 64 << 20, 256 << 20} {
		rec, err := b.in.Plan(ctx, &resource.Memory{Size: resource.Bytes{N: size}}, resource.Target{Container: id}, b.opts(time.Minute))
		if err != nil {
			return err
		}
		g := rec.Job.Cgroup
		m0, err := g.Memory()
		if err != nil {
			return err
		}
		if rec, err = b.in.Apply(ctx, rec); err != nil {
			return err
		}
		m1, err := g.Memory()
		if _, rerr := b.in.Revert(context.WithoutCancel(ctx), rec); rerr != nil {
			return rerr
		}
		if err != nil {
			return err
		}
		added := m1.Usage - m0.Usage
		fmt.Printf("| %s | %s | %s | %s | %.3f |\n", formatSize(size), mib(m0.Usage), mib(m1.Usage), mib(added), float64(added)/float64(size))
	}
	fmt.Println()
	return nil
}

// diskFill measures the free space a disk fill leaves on a 256MiB tmpfs.
func (b *bench) diskFill(ctx context.Context, id string) error {
	fmt.Println("## Disk fill: free space asked against left (256MiB tmpfs in the container)")
	fmt.Println()
	fmt.Println("| leave_free | free before | free with the fault | left - asked |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, leave := range []int64{0, 16 << 20, 64 << 20} {
		l := experiment.Size(leave)
		rec, err := b.in.Plan(ctx, &resource.DiskFill{Path: "/data", LeaveFree: &l}, resource.Target{Container: id}, b.opts(time.Minute))
		if err != nil {
			return err
		}
		before := statfs(rec.Target.PID, "/data")
		if rec, err = b.in.Apply(ctx, rec); err != nil {
			return err
		}
		after := statfs(rec.Target.PID, "/data")
		if _, err := b.in.Revert(context.WithoutCancel(ctx), rec); err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s | %+d KiB |\n", mib(leave), mib(before), mib(after), (after-leave)>>10)
	}
	fmt.Println()
	return nil
}

// timings measures the time to apply and to revert each fault.
func (b *bench) timings(ctx context.Context, free, mem, disk, limited string) error {
	fmt.Println("## Time to apply and to revert")
	fmt.Println()
	fmt.Printf("%d iterations each; median and slowest. Baselines: `chaos version` started and waited for; one ContainerInspect.\n\n", *iters)
	fmt.Println("| | apply median | apply max | revert median | revert max |")
	fmt.Println("|---|---:|---:|---:|---:|")
	var execT, inspT []time.Duration
	for range *iters {
		t := time.Now()
		if err := exec.Command(*chaosBin, "version").Run(); err != nil {
			return err
		}
		execT = append(execT, time.Since(t))
		t = time.Now()
		if _, err := b.cli.ContainerInspect(ctx, free); err != nil {
			return err
		}
		inspT = append(inspT, time.Since(t))
	}
	fmt.Printf("| baseline: start chaos version | %s | %s | | |\n", ms(medianD(execT)), ms(slices.Max(execT)))
	fmt.Printf("| baseline: one ContainerInspect | %s | %s | | |\n", ms(medianD(inspT)), ms(slices.Max(inspT)))
	leave := experiment.Size(64 << 20)
	for _, c := range []struct {
		name  string
		id    string
		fault resource.Fault
	}{
		{"cpu, 1 worker", free, &resource.CPU{Workers: 1}},
		{"memory, 64MiB", mem, &resource.Memory{Size: resource.Bytes{N: 64 << 20}}},
		{"memory, 256MiB", mem, &resource.Memory{Size: resource.Bytes{N: 256 << 20}}},
		{"io, 1 writer, tmpfs", disk, &resource.IO{Path: "/data", FileSize: 16 << 20}},
		{"disk_fill, leave 64MiB of 256MiB tmpfs", disk, &resource.DiskFill{Path: "/data", LeaveFree: &leave}},
		{"limits, cpus and memory", limited, &resource.Limits{CPUs: resource.CPUs{N: 0.5}, Memory: resource.Bytes{N: 128 << 20}}},
	} {
		var apply, revert []time.Duration
		for range *iters {
			rec, err := b.in.Plan(ctx, c.fault, resource.Target{Container: c.id}, b.opts(time.Minute))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			t := time.Now()
			if rec, err = b.in.Apply(ctx, rec); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			apply = append(apply, time.Since(t))
			t = time.Now()
			if _, err := b.in.Revert(ctx, rec); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			revert = append(revert, time.Since(t))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", c.name, ms(medianD(apply)), ms(slices.Max(apply)), ms(medianD(revert)), ms(slices.Max(revert)))
	}
	return nil
}

func statfs(pid int, dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join("/proc", strconv.Itoa(pid), "root", dir), &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

// hostCPU returns the host's idle and total CPU time from /proc/stat, in
// clock ticks.
func hostCPU() (idle, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total
}

func cpuCount() int {
	g, err := cgroup.Of(os.Getpid())
	if err == nil {
		if n, err := g.CPUs(); err == nil && n > 0 {
			return int(n)
		}
	}
	return 2
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianD(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func formatSize(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return mib(n)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
