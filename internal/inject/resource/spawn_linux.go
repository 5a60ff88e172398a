package resource

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/proc"
)

// child is a worker this process started, waited for by a goroutine of
// its own so that it never lingers as a zombie.
type child struct {
	proc Process
	done chan struct{}
	// code is the worker's exit code, -1 when a signal ended it; read
	// once done is closed.
	code int
	// how says how the worker ended, for people: its exit code or the
	// signal that killed it, and the error it gave after its answer, if
	// any; ended is when it was seen to end. Both are read once done is
	// closed.
	how   string
	ended time.Time
	// deadline is when the worker ends by itself.
	deadline time.Time
}

// stopTimeout bounds how long a worker may take to release its load after
// SIGTERM before it gets SIGKILL, and then how long it may take to die.
const stopTimeout = 5 * time.Second

// locate finds t's process and cgroups now, and fills in t's pid, start
// time and name.
func (in *Injector) locate(ctx context.Context, t *Target) (*located, error) {
	if t.Container != "" {
		d, err := in.docker(ctx, *t)
		if err != nil {
			return nil, err
		}
		mp, err := d.MainProcess(ctx, t.Container)
		if err != nil {
			return nil, err
		}
		switch {
		case !mp.Exists:
			return nil, errors.New("the container no longer exists")
		case !mp.Running:
			return nil, errors.New("the container is not running")
		case mp.Paused:
			return nil, errors.New("the container is paused, and a worker moved into it would freeze with it: unpause it first")
		}
		t.Container, t.PID = mp.ID, mp.PID
		if t.Name == "" {
			t.Name = mp.Name
		}
	}
	start, err := proc.StartTime(t.PID)
	if err != nil {
		return nil, fmt.Errorf("process %d is not running", t.PID)
	}
	if t.Container == "" && t.Start != 0 && t.Start != start {
		return nil, fmt.Errorf("process %d is not the one planned: it was restarted", t.PID)
	}
	if proc.Gone(t.PID) {
		return nil, fmt.Errorf("process %d has exited", t.PID)
	}
	t.Start = start
	g, err := cgroup.Of(t.PID)
	if err != nil {
		return nil, err
	}
	return &located{pid: t.PID, start: start, group: g}, nil
}

// startWorker starts rec's worker in the target's cgroups and waits for
// its answer.
func (in *Injector) startWorker(ctx context.Context, rec Record) (Record, error) {
	t := rec.Target
	loc, err := in.locate(ctx, &t)
	if err != nil {
		return rec, err
	}
	job := *rec.Job
	if loc.pid != job.Target.PID || loc.start != job.Target.Start {
		return rec, fmt.Errorf("the target's process changed since the fault was planned (pid %d, now %d): plan it again", job.Target.PID, loc.pid)
	}
	if !loc.group.Equal(job.Cgroup) {
		return rec, fmt.Errorf("the target moved to other cgroups since the fault was planned (%s, now %s): plan it again", job.Cgroup, loc.group)
	}
	exe := in.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return rec, fmt.Errorf("find the chaos binary to run the worker: %w", err)
		}
	}
	grace := in.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	job.Parent = os.Getpid()
	job.Deadline = time.Now().Add(job.For + grace)
	rec.Job = &job

	cmd := exec.Command(exe, workerArgs(rec.RunID, rec.Key, rec.Kind)...)
	cmd.Env = []string{}
	// Its own process group keeps a Ctrl-C in the terminal for chaos,
	// which reverts in order. No death signal: the kernel sends it when
	// the thread that started the worker ends, and the runtime ends
	// threads while chaos runs (those the network faults enter
	// namespaces on); the worker watches chaos itself (runJob).
	proc.OwnGroup(cmd)
	// Plain pipes, not exec's: the answer must stay readable after the
	// worker has exited, which Cmd.Wait would prevent by closing its end.
	jobR, stdin, err := os.Pipe()
	if err != nil {
		return rec, err
	}
	stdout, answerW, err := os.Pipe()
	if err != nil {
		jobR.Close()
		stdin.Close()
		return rec, err
	}
	cmd.Stdin, cmd.Stdout = jobR, answerW
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	jobR.Close()
	answerW.Close()
	if err != nil {
		stdin.Close()
		stdout.Close()
		return rec, fmt.Errorf("start the worker: %w", err)
	}
	c := &child{done: make(chan struct{}), deadline: job.Deadline}
	// The worker's answer, then, when its load fails after the answer,
	// the error that ended it: read until the worker closes its end.
	answers := make(chan reply, 1)
	var late string
	lateRead := make(chan struct{})
	c.proc.PID = cmd.Process.Pid
	c.proc.Start, _ = proc.StartTime(cmd.Process.Pid)
	rec.Worker = &c.proc
	in.mu.Lock()
	if in.children == nil {
		in.children = map[string]*child{}
	}
	in.children[rec.Key] = c
	in.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		c.how = fmt.Sprintf("exit code %d", c.code)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.how = "killed by " + unix.SignalName(ws.Signal())
		}
		c.ended = time.Now()
		// Its last words are in the pipe once it has exited.
		select {
		case <-lateRead:
			if late != "" {
				c.how += ": " + late
			}
		case <-time.After(time.Second):
		}
		close(c.done)
	}()

	// The worker waits for its job on stdin: it does nothing before it is
	// in the target's cgroups.
	if err := job.Cgroup.Join(cmd.Process.Pid); err != nil {
		_ = stdin.Close()
		return rec, err
	}
	b, _ := json.Marshal(job)
	_, err = stdin.Write(b)
	if cerr := stdin.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rec, fmt.Errorf("give the worker its job: %w", err)
	}
	go func() {
		br := bufio.NewReader(stdout)
		defer func() {
			var l reply
			if line, err := br.ReadBytes('\n'); err == nil && json.Unmarshal(line, &l) == nil {
				late = l.Error
			}
			stdout.Close()
			close(lateRead)
		}()
		var r reply
		line, err := br.ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &r) != nil {
			if targetEnds(job.Target, 2*time.Second) {
				// The target ended while the load took effect, and
				// its container's end took the worker with it: the
				// fault's effect (an OOM kill), not a failure to
				// apply it.
				answers <- reply{Note: "the target ended while the load was taking effect, and the worker with it"}
				return
			}
			r.Error = "the worker ended without an answer"
			if s := strings.TrimSpace(stderr.String()); s != "" {
				r.Error += ": " + s
			}
		}
		answers <- r
	}()
	select {
	case r := <-answers:
		if r.Error != "" {
			return rec, errors.New(r.Error)
		}
		rec.Result = r.Note
		return rec, nil
	case <-ctx.Done():
		return rec, fmt.Errorf("wait for the worker: %w", ctx.Err())
	}
}

// revertWorker stops rec's worker and removes the files it made. early
// says why the load was gone before the revert came, when it was.
func (in *Injector) revertWorker(ctx context.Context, rec Record) (warnings []string, early string, err error) {
	early = in.endedEarly(rec)
	if early == "" && rec.Job != nil && rec.Job.Target.PID > 0 && !alive(rec.Job.Target) {
		// The fault's effect, as an OOM kill may be, or another step's,
		// or a crash or restart of its own; either way the load ended
		// with it, and a container that its restart policy ran again, a
		// process that its supervisor started again, ran on without it:
		// what was seen since was not under the fault.
		early = fmt.Sprintf("the target of the %s fault, %s (process %d), ended before its revert%s, and the fault's load with it: what ran after (a container its restart policy ran again, a process its supervisor started again) was not under the fault",
			rec.Kind, rec.Target, rec.Job.Target.PID, in.workerEnded(rec))
	}
	w, err := in.stopWorkers(ctx, rec.RunID, rec.Key)
	warnings = append(warnings, w...)
	if err != nil {
		return warnings, early, err
	}
	defer in.release(rec.Key)
	if len(rec.Files) == 0 {
		return warnings, early, nil
	}
	w, err = in.removeFiles(ctx, rec, in.cleaned(rec.Key))
	return append(warnings, w...), early, err
}

// workerEnded says when the worker of rec, started here, was seen to
// end, as " (its worker ended with it 1.2s before the revert)", or
// nothing when it was not started here or still runs.
func (in *Injector) workerEnded(rec Record) string {
	in.mu.Lock()
	c := in.children[rec.Key]
	in.mu.Unlock()
	if c == nil {
		return ""
	}
	select {
	case <-c.done:
		return fmt.Sprintf(" (its worker ended with it at %s, %s before the revert)", c.ended.UTC().Format("15:04:05.000"), time.Since(c.ended).Round(time.Millisecond))
	default:
		return ""
	}
}

// endedEarly says why the worker of rec, started here, ended before its
// revert while its target still runs: killed (by the OOM killer, by
// someone), or failed at its load (a writer out of space). Its load was
// gone from then on. A worker that ended with its target, or at its
// deadline, or that another process started, says nothing.
func (in *Injector) endedEarly(rec Record) string {
	in.mu.Lock()
	c := in.children[rec.Key]
	in.mu.Unlock()
	if c == nil || rec.Job == nil {
		return ""
	}
	select {
	case <-c.done:
	default:
		if rec.Worker == nil || alive(*rec.Worker) {
			return ""
		}
		// Dead but not yet waited for: the wait is at hand.
		select {
		case <-c.done:
		case <-time.After(time.Second):
			return ""
		}
	}
	if !alive(rec.Job.Target) || (c.code == 0 && !c.ended.Before(c.deadline)) {
		return ""
	}
	return fmt.Sprintf("the %s fault's worker (process %d) ended %s before its revert, while %s still ran (%s): its load was gone from then on",
		rec.Kind, c.proc.PID, time.Since(c.ended).Round(time.Millisecond), rec.Target, c.how)
}

// stopWorkers stops the workers of a run (of one fault when key is set):
// SIGTERM, so that each releases what it holds, then SIGKILL for those
// that do not end in time.
func (in *Injector) stopWorkers(ctx context.Context, runID, key string) ([]string, error) {
	procs := findWorkers(runID, key)
	in.mu.Lock()
	for k, c := range in.children {
		if (key == "" || k == key) && alive(c.proc) && !containsProc(procs, c.proc) {
			procs = append(procs, c.proc)
		}
	}
	in.mu.Unlock()
	var warnings []string
	var errs []error
	for _, p := range procs {
		if err := sendSignal(p, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
	}
	left := in.waitGone(ctx, procs, stopTimeout)
	for _, p := range left {
		warnings = append(warnings, fmt.Sprintf("worker %d did not end within %s of SIGTERM: killed; files it made are removed by the revert", p.PID, stopTimeout))
		if err := sendSignal(p, syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range in.waitGone(ctx, left, stopTimeout) {
		errs = append(errs, fmt.Errorf("worker %d is still running after SIGKILL: kill it by hand (kill -9 %d)", p.PID, p.PID))
	}
	return warnings, errors.Join(errs...)
}

// cleaned reports whether the worker of key was started here and exited
// 0, which it does only once it removed its files.
func (in *Injector) cleaned(key string) bool {
	in.mu.Lock()
	c := in.children[key]
	in.mu.Unlock()
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return c.code == 0
	default:
		return false
	}
}

// release forgets the worker of key once it has been waited for.
func (in *Injector) release(key string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if c := in.children[key]; c != nil {
		select {
		case <-c.done:
			delete(in.children, key)
		default:
		}
	}
}

func containsProc(ps []Process, p Process) bool {
	for _, q := range ps {
		if q.PID == p.PID {
			return true
		}
	}
	return false
}

// waitGone waits until the processes have ended, for at most d, and
// returns those still running.
func (in *Injector) waitGone(ctx context.Context, procs []Process, d time.Duration) []Process {
	deadline := time.Now().Add(d)
	for {
		var left []Process
		for _, p := range procs {
			if in.running(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		time.Sleep(10 * time.Millisecond)
		procs = left
	}
}

// running reports whether p still runs; a worker of this process counts
// until it has been waited for, so that a revert returns only once the
// worker's memory and files are released.
func (in *Injector) running(p Process) bool {
	in.mu.Lock()
	var c *child
	for _, ch := range in.children {
		if ch.proc == p {
			c = ch
		}
	}
	in.mu.Unlock()
	if c != nil {
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	}
	return alive(p)
}

// removeFiles removes the files of rec from the target's file system.
// cleaned says that the worker removed them itself, which is enough when
// they cannot be reached any more.
func (in *Injector) removeFiles(ctx context.Context, rec Record, cleaned bool) ([]string, error) {
	rootPID := 0
	if !rec.HostRoot {
		switch t := rec.Target; {
		case t.Container != "":
			d, err := in.docker(ctx, t)
			if err != nil {
				return nil, err
			}
			mp, err := d.MainProcess(ctx, t.Container)
			if err != nil {
				return nil, err
			}
			if !mp.Exists {
				return []string{fmt.Sprintf("%s no longer exists: the files the fault made went with it", t)}, nil
			}
			if !mp.Running {
				if cleaned {
					return nil, nil
				}
				return nil, fmt.Errorf("%s is stopped, so its files cannot be reached: %s stay in it until it runs again; start it and revert again (chaos recover)", t, strings.Join(rec.Files, ", "))
			}
			rootPID = mp.PID
		default:
			if !alive(Process{PID: t.PID, Start: t.Start}) {
				if cleaned {
					return nil, nil
				}
				return []string{fmt.Sprintf("%s has ended: the files the fault made in its file system (%s) cannot be reached from here", t, strings.Join(rec.Files, ", "))}, nil
			}
			rootPID = t.PID
		}
	}
	root, err := openRoot(rootPID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var errs []error
	for _, f := range rec.Files {
		d, err := openDirIn(root, path.Dir(f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeIn(d, path.Base(f)))
		d.Close()
	}
	return nil, errors.Join(errs...)
}

// lockedBuffer is a bytes.Buffer safe for the copying goroutine of
// exec.Cmd and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// targetEnds says whether the target is gone, or goes within d: a
// container whose process the OOM killer ended is torn down with
// everything in its cgroups, and the worker's end may be seen before the
// target's.
func targetEnds(t Process, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(t) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
