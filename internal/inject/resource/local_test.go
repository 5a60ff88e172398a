package resource_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/cgroup/cgrouptest"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/resource"
	"github.com/gamedayhq/chaos/internal/proc"
)

// TestLocalCPU puts two busy workers into the cgroup of a CPU-bound
// service limited to a fifth of a CPU: the cgroup is throttled where it was not,
// the service serves fewer requests, and serves as many again once the
// fault is reverted.
func TestLocalCPU(t *testing.T) {
	g := cgrouptest.CPU(t, 0.2)
	svc, addr := localSpin(t)
	if err := g.Join(svc.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in := newInjector(t)
	throttled := func(d time.Duration) time.Duration {
		a, err := g.CPU()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		b, err := g.CPU()
		if err != nil {
			t.Fatal(err)
		}
		return b.ThrottledTime - a.ThrottledTime
	}
	idle := throttled(2 * time.Second)
	before := rate(t, addr, 2*time.Second)

	rec, err := in.Plan(ctxT(t), &resource.CPU{Workers: 2}, resource.Target{PID: svc.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Summary, "2 busy workers") || !strings.Contains(rec.Summary, "0.2 CPUs") {
		t.Errorf("Summary = %q; want it to say 2 workers and the 0.2 CPU quota", rec.Summary)
	}
	rec, err = in.Apply(ctxT(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Worker == nil {
		t.Fatal("Apply recorded no worker")
	}
	if ok, err := (cgroup.FS{}).Holds(g, rec.Worker.PID); !ok || err != nil {
		t.Errorf("the worker is not in the target's cgroup (%v)", err)
	}
	stressed := throttled(2 * time.Second)
	during := rate(t, addr, 2*time.Second)
	revert(t, in, rec)
	if pids := workersOf(rec.RunID); len(pids) != 0 {
		t.Errorf("workers %v still run after the revert", pids)
	}
	after := rate(t, addr, 2*time.Second)

	t.Logf("throttled in 2s: idle %v, with the fault %v; rate: before %.1f/s, during %.1f/s, after %.1f/s", idle, stressed, before, during, after)
	// Workers outside the cgroup would not throttle it at all.
	if stressed <= idle {
		t.Errorf("the cgroup was throttled %v in 2s with the fault and %v idle; want the fault to throttle it", stressed, idle)
	}
	if during > 0.7*before {
		t.Errorf("the service served %.1f/s with the fault and %.1f/s before; want it slowed by the workers", during, before)
	}
	if after < 0.6*before {
		t.Errorf("the service served %.1f/s after the revert and %.1f/s before; want it back", after, before)
	}
}

// TestLocalCPULoad turns a load into workers from the quota: 75% of a
// 2-CPU quota is 1.5 CPUs, two workers busy 75% of the time.
func TestLocalCPULoad(t *testing.T) {
	g := cgrouptest.CPU(t, 2)
	target := sleeper(t)
	if err := g.Join(target.Process.Pid); err != nil {
		t.Fatal(err)
	}
	rec, err := newInjector(t).Plan(ctxT(t), &resource.CPU{Load: 0.75}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t)})
	if err != nil {
		t.Fatal(err)
	}
	if w := rec.Job.CPU; w.Workers != 2 || w.Duty != 0.75 {
		t.Errorf("load 75%% of 2 CPUs planned %d workers busy %v; want 2 busy 0.75", w.Workers, w.Duty)
	}
}

// TestLocalMemory takes memory in a worker and wants it resident in the
// worker's memory file, and not mapped (the OOM killer weighs what a
// process maps: it must pick the target, not the worker).
func TestLocalMemory(t *testing.T) {
	target := sleeper(t)
	in := newInjector(t)
	const size = 48 << 20
	rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: size}}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rec, err = in.Apply(ctxT(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	if held := memoryFileBytes(t, rec.Worker.PID); held != size {
		t.Errorf("the worker's memory file holds %d bytes; want %d", held, size)
	}
	if rss := vmRSS(t, rec.Worker.PID); rss >= size {
		t.Errorf("the worker maps %d bytes; want only its own few, not the %d it holds", rss, size)
	}
	revert(t, in, rec)
	revert(t, in, rec)
}

// memoryFileBytes is what the memory files a process holds open have
// allocated.
func memoryFileBytes(t *testing.T, pid int) int64 {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil || !strings.HasPrefix(link, "/memfd:") {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir+"/"+e.Name(), &st); err != nil {
			t.Fatal(err)
		}
		n += st.Blocks * 512
	}
	return n
}

func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestLocalFiles makes the io and disk_fill files in a directory of a
// local process and wants them gone after the revert.
func TestLocalFiles(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	in := newInjector(t)
	id := runID(t)
	fill, err := in.Plan(ctxT(t), &resource.DiskFill{Path: dir, Size: 8 << 20}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: id, For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	load, err := in.Plan(ctxT(t), &resource.IO{Path: dir, FileSize: 4 << 20, BlockSize: 64 << 10}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: id, For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !fill.HostRoot || len(fill.Files) != 1 || filepath.Dir(fill.Files[0]) != dir {
		t.Fatalf("disk_fill record: host root %v, files %q; want one file in %s on this host's root", fill.HostRoot, fill.Files, dir)
	}
	if fill, err = in.Apply(ctxT(t), fill); err != nil {
		t.Fatal(err)
	}
	if load, err = in.Apply(ctxT(t), load); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fill.Files[0]); err != nil || fi.Size() != 8<<20 {
		t.Errorf("the fill file is %v (%v); want 8MiB", fi, err)
	}
	if !strings.Contains(fill.Result, "8MiB") {
		t.Errorf("Result = %q; want it to say the file takes 8MiB", fill.Result)
	}
	if !waitFor(5*time.Second, func() bool {
		fi, err := os.Stat(load.Files[0])
		return err == nil && fi.Size() >= 1<<20
	}) {
		t.Errorf("the io worker did not write 1MiB to %s within 5s", load.Files[0])
	}
	if applied, err := in.Applied(id); err != nil || len(applied) != 2 {
		t.Errorf("Applied(%s) = %d records, %v; want 2", id, len(applied), err)
	}
	revert(t, in, fill)
	revert(t, in, load)
	for _, f := range append(fill.Files, load.Files...) {
		if exists(f) {
			t.Errorf("%s is left after the revert", f)
		}
	}
	if applied, _ := in.Applied(id); len(applied) != 0 {
		t.Errorf("Applied(%s) after the reverts = %d records; want none", id, len(applied))
	}
	// Reverting again, as chaos recover would, finds nothing to do.
	revert(t, in, fill)
}

// TestLocalDeadline leaves a worker alone past its fault's end: it ends by
// itself and removes its file.
func TestLocalDeadline(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	in := newInjector(t)
	in.Grace = 200 * time.Millisecond
	rec, err := in.Plan(ctxT(t), &resource.DiskFill{Path: dir, Size: 1 << 20}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Fatalf("the worker still runs 10s after its deadline of 0.7s")
	}
	took := time.Since(start)
	if took < 600*time.Millisecond {
		t.Errorf("the worker ended after %v; want no earlier than its deadline, 0.7s", took)
	}
	if exists(rec.Files[0]) {
		t.Errorf("the worker left %s at its deadline", rec.Files[0])
	}
	revert(t, in, rec)
}

// TestLocalTargetEnds ends the target: its worker ends with it.
func TestLocalTargetEnds(t *testing.T) {
	target := sleeper(t)
	in := newInjector(t)
	rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: 4 << 20}}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	_ = target.Process.Kill()
	_ = target.Wait()
	if !waitFor(10*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Errorf("the worker still runs 10s after its target ended")
	}
	if _, err := in.Revert(ctxT(t), rec); !errors.As(err, new(*inject.EndedEarly)) {
		t.Errorf("Revert = %v; want it to say the fault ended early", err)
	}
}

// TestLocalApplyingThreadEnds applies a fault from a goroutine locked to
// its thread, which the runtime ends with the goroutine, as it ends the
// threads chaos's network faults enter namespaces on: the worker keeps its
// load, since chaos itself still runs.
func TestLocalApplyingThreadEnds(t *testing.T) {
	target := sleeper(t)
	in := newInjector(t)
	rec, err := in.Plan(ctxT(t), &resource.Memory{Size: resource.Bytes{N: 4 << 20}}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		rec, err = in.Apply(ctxT(t), rec)
		applied <- err
	}()
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if waitFor(2*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Errorf("the worker ended when the thread that started it did; want it to run until the revert")
	}
	revert(t, in, rec)
}

// TestLocalParentKilled applies a fault from a process standing in for
// chaos and kills it with SIGKILL: the worker ends and removes its file by
// itself, and RemoveRun finds the record and has nothing left to do.
func TestLocalParentKilled(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	state := t.TempDir()
	in := injector(t, nil, state)
	rec, err := in.Plan(ctxT(t), &resource.DiskFill{Path: dir, Size: 1 << 20}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	chaos := startApplier(t, state, rec)
	if !exists(rec.Files[0]) || len(workersOf(rec.RunID)) != 1 {
		t.Fatalf("after the apply: file there %v, workers %v; want the file and one worker", exists(rec.Files[0]), workersOf(rec.RunID))
	}
	killGroup(chaos)
	_ = chaos.Wait()
	if !waitFor(10*time.Second, func() bool { return len(workersOf(rec.RunID)) == 0 }) {
		t.Fatalf("the worker still runs 10s after chaos was killed")
	}
	if exists(rec.Files[0]) {
		t.Errorf("the worker left %s when chaos was killed", rec.Files[0])
	}
	done, warnings, err := in.RemoveRun(ctxT(t), rec.RunID)
	if err != nil || len(done) != 1 {
		t.Errorf("RemoveRun = %d records, %v, %v; want the one record reverted", len(done), warnings, err)
	}
	if left, _ := os.ReadDir(state); len(left) != 0 {
		t.Errorf("the state directory holds %d entries after RemoveRun; want none", len(left))
	}
}

// TestLocalWorkerKilled kills the worker with SIGKILL, so that its file
// stays; RemoveRun from another injector, as chaos recover would run it,
// removes it.
func TestLocalWorkerKilled(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	state := t.TempDir()
	rec, err := (injector(t, nil, state)).Plan(ctxT(t), &resource.DiskFill{Path: dir, Size: 1 << 20}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	chaos := startApplier(t, state, rec)
	pids := workersOf(rec.RunID)
	if len(pids) != 1 {
		t.Fatalf("workers of the run: %v; want one", pids)
	}
	if err := syscallKill(pids[0]); err != nil {
		t.Fatal(err)
	}
	killGroup(chaos)
	_ = chaos.Wait()
	if !exists(rec.Files[0]) {
		t.Fatalf("%s is gone after the worker was killed with SIGKILL: this test expects it left", rec.Files[0])
	}
	done, _, err := (injector(t, nil, state)).RemoveRun(ctxT(t), rec.RunID)
	if err != nil || len(done) != 1 {
		t.Fatalf("RemoveRun = %d records, %v; want one reverted", len(done), err)
	}
	if exists(rec.Files[0]) {
		t.Errorf("%s is left after RemoveRun", rec.Files[0])
	}
}

// startApplier starts a process that applies rec as chaos would and
// waits; the test kills it.
func startApplier(t *testing.T, state string, rec resource.Record) *exec.Cmd {
	t.Helper()
	cmd, line := applier(t, state, rec, 0)
	if line != "applied" {
		t.Fatalf("the applying process said %q", line)
	}
	return cmd
}

// applier starts a process that applies rec under a file size limit
// (none when 0) and returns it and what it said.
func applier(t *testing.T, state string, rec resource.Record, fsize uint64) (*exec.Cmd, string) {
	t.Helper()
	b, _ := json.Marshal(struct {
		StateDir, Exe string
		Record        resource.Record
		FileSizeLimit uint64
	}{state, chaosBinary(t), rec, fsize})
	file := filepath.Join(t.TempDir(), "record.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "apply-and-wait", file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(cmd); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	return cmd, strings.TrimSpace(line)
}

// TestLocalFileSizeLimit fills past the file size limit chaos runs under:
// the fault fails, says why, and leaves nothing.
func TestLocalFileSizeLimit(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	state := t.TempDir()
	rec, err := injector(t, nil, state).Plan(ctxT(t), &resource.DiskFill{Path: dir, Size: 8 << 20}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, line := applier(t, state, rec, 1<<20)
	if !strings.Contains(line, "ulimit -f") {
		t.Errorf("a fill past the file size limit said %q; want it to name ulimit -f", line)
	}
	if exists(rec.Files[0]) || len(workersOf(rec.RunID)) != 0 {
		t.Errorf("after the failed fill: file left %v, workers %v; want neither", exists(rec.Files[0]), workersOf(rec.RunID))
	}
	if left, _ := os.ReadDir(state); len(left) != 0 {
		t.Errorf("the state directory holds %d entries after the failed apply; want none", len(left))
	}
}

// TestWorkerOutsideCgroup hands a worker a job for cgroups it was not
// moved into: it refuses to work.
func TestWorkerOutsideCgroup(t *testing.T) {
	g := cgrouptest.CPU(t, 0)
	target := sleeper(t)
	start, err := proc.StartTime(target.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	job := resource.Job{Kind: "cpu", RunID: runID(t), Key: "00000000", Parent: os.Getpid(),
		Deadline: time.Now().Add(time.Minute), Target: resource.Process{PID: target.Process.Pid, Start: start},
		Cgroup: g, CPU: &resource.CPUWork{Workers: 1, Duty: 1}}
	b, _ := json.Marshal(job)
	self, _ := os.Executable()
	cmd := exec.Command(self, resource.WorkerCommand)
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "not in the target's cgroups") {
		t.Errorf("a worker outside the target's cgroups answered %q and exited %d (%v); want a refusal and exit 1", out, code, err)
	}
}

func TestPlanRefusals(t *testing.T) {
	target := sleeper(t)
	dir := t.TempDir()
	in := newInjector(t)
	local := resource.Target{PID: target.Process.Pid}
	leave := experiment.Size(1 << 50)
	for _, tc := range []struct {
		name  string
		fault resource.Fault
		want  string
	}{
		{"cpu without settings", &resource.CPU{}, "set workers"},
		{"cpu with both", &resource.CPU{Workers: 1, Load: 0.5}, "not both"},
		{"memory share without a limit", &resource.Memory{Size: resource.Bytes{Share: 0.5}}, "has none: give a size"},
		{"memory beyond the host", &resource.Memory{Size: resource.Bytes{N: 1 << 50}}, "does not fit"},
		{"disk_fill beyond the free space", &resource.DiskFill{Path: dir, Size: 1 << 60}, "more than the"},
		{"disk_fill leaving more than is free", &resource.DiskFill{Path: dir, LeaveFree: &leave}, "no more than the"},
		{"disk_fill in a missing directory", &resource.DiskFill{Path: filepath.Join(dir, "nope"), Size: 1}, "no such file"},
		{"disk_fill relative", &resource.DiskFill{Path: "data", Size: 1}, "absolute path"},
		{"io too large", &resource.IO{Path: dir, FileSize: 1 << 60}, "too little"},
		{"io sync", &resource.IO{Path: dir, Sync: "always"}, "want fsync or none"},
		{"io on a tmpfs", &resource.IO{Path: "/dev/shm", FileSize: 1 << 20}, "tmpfs, held in memory"},
		{"limits on a process", &resource.Limits{CPUShares: 100}, "Docker containers only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := in.Plan(ctxT(t), tc.fault, local, resource.Options{RunID: runID(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Plan = %v; want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := in.Plan(ctxT(t), &resource.CPU{Workers: 1}, local, resource.Options{RunID: "../x"}); err == nil {
		t.Errorf("Plan with run ID ../x = nil error; want a refusal")
	}
	if _, err := in.Plan(ctxT(t), &resource.CPU{Workers: 1}, resource.Target{PID: 1 << 30}, resource.Options{RunID: "r"}); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Plan on a missing process = %v; want a not-running error", err)
	}
}

// TestLocalWorkerEndsBeforeRevert kills each kind's worker while its
// target runs on: the revert still removes what the fault made, and says
// that the fault ended before it came, so that nothing observed under it
// counts as the target coping with it.
func TestLocalWorkerEndsBeforeRevert(t *testing.T) {
	for _, f := range []resource.Fault{
		&resource.CPU{Workers: 1},
		&resource.Memory{Size: resource.Bytes{N: 4 << 20}},
		&resource.IO{FileSize: 1 << 20, BlockSize: 64 << 10},
		&resource.DiskFill{Size: 1 << 20},
	} {
		t.Run(f.Kind(), func(t *testing.T) {
			t.Parallel()
			target := sleeper(t)
			dir := t.TempDir()
			switch f := f.(type) {
			case *resource.IO:
				f.Path = dir
			case *resource.DiskFill:
				f.Path = dir
			}
			in := newInjector(t)
			rec, err := in.Plan(ctxT(t), f, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if rec, err = in.Apply(ctxT(t), rec); err != nil {
				t.Fatal(err)
			}
			if err := syscallKill(rec.Worker.PID); err != nil {
				t.Fatal(err)
			}
			if !waitFor(5*time.Second, func() bool { return proc.Gone(rec.Worker.PID) }) {
				t.Fatal("the worker still runs 5s after SIGKILL")
			}
			_, err = in.Revert(ctxT(t), rec)
			ee, ok := errors.AsType[*inject.EndedEarly](err)
			if !ok || !strings.Contains(ee.Reason, "SIGKILL") {
				t.Fatalf("Revert after the worker was killed = %v; want an *inject.EndedEarly that says it was killed", err)
			}
			for _, f := range rec.Files {
				if exists(f) {
					t.Errorf("%s is left after the revert", f)
				}
			}
			if applied, _ := in.Applied(rec.RunID); len(applied) != 0 {
				t.Errorf("Applied after the revert = %d records; want none", len(applied))
			}
			// Once reverted, the fault has nothing more to say.
			revert(t, in, rec)
		})
	}
}

// An io fault whose writers fail once it is on (here the file size limit
// the worker is given after its answer, as a disk out of space would)
// ends, and its revert says why: the error the writers met, not an exit
// code alone.
func TestLocalIOWritersFailAfterApply(t *testing.T) {
	target := sleeper(t)
	in := newInjector(t)
	rec, err := in.Plan(ctxT(t), &resource.IO{Path: t.TempDir(), Workers: 2, FileSize: 4 << 20, BlockSize: 64 << 10}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	limit := unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := unix.Prlimit(rec.Worker.PID, unix.RLIMIT_FSIZE, &limit, nil); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return proc.Gone(rec.Worker.PID) }) {
		t.Fatal("the io worker still runs 10s after its writers were held to 1MiB files of 4MiB")
	}
	_, err = in.Revert(ctxT(t), rec)
	ee, ok := errors.AsType[*inject.EndedEarly](err)
	if !ok || !strings.Contains(ee.Reason, "file too large") {
		t.Fatalf("Revert after the writers failed = %v; want an *inject.EndedEarly that gives their error (file too large)", err)
	}
	for _, f := range rec.Files {
		if exists(f) {
			t.Errorf("%s is left after the revert", f)
		}
	}
}

// A target that ends while its fault is on (as one the OOM killer takes,
// and a container's restart policy runs again, or a process that its
// supervisor starts again) takes the load with it: the revert says the
// fault ended early, and when, since what ran after was not under the
// fault and must not count as the system coping with it.
func TestLocalTargetEndsBeforeRevert(t *testing.T) {
	target := sleeper(t)
	in := newInjector(t)
	rec, err := in.Plan(ctxT(t), &resource.CPU{Workers: 1}, resource.Target{PID: target.Process.Pid}, resource.Options{RunID: runID(t), For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = in.Apply(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	_ = target.Process.Kill()
	_ = target.Wait()
	if !waitFor(5*time.Second, func() bool { return proc.Gone(rec.Worker.PID) }) {
		t.Fatal("the worker still runs 5s after its target ended")
	}
	_, err = in.Revert(ctxT(t), rec)
	if ee, ok := errors.AsType[*inject.EndedEarly](err); !ok || !strings.Contains(ee.Reason, "ended before its revert (its worker ended with it at") {
		t.Errorf("Revert = %v; want it to say the fault ended early, when the target's process ended", err)
	}
}
