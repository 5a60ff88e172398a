package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/cgroup"
)

// reply is the one line a worker writes on its stdout: its job is in
// effect, or why it is not.
type reply struct {
	Error string `json:"error,omitempty"`
	Note  string `json:"note,omitempty"`
}

// WorkerMain runs a worker, the process behind the hidden `chaos
// stress-worker` command, and returns its exit code. It reads its Job
// from stdin, checks that it was moved into the target's cgroups, makes
// the load happen, answers one line on stdout, and keeps the load up until
// its deadline, SIGTERM, or the end of the process that started it or of
// its target. Then it releases what it holds (the files it made are
// removed) and exits 0.
//
// After its answer its stdout and stderr go to /dev/null, so that it
// cannot die of a broken pipe once chaos is gone; the error that ends a
// load after the answer (a writer out of space) goes, as a second line,
// to a copy of the answer's pipe, where a broken pipe is an error only.
func WorkerMain(stdin io.Reader, stdout *os.File) int {
	var job Job
	var late *os.File
	answered := false
	answer := func(r reply) {
		if answered {
			if late != nil && r.Error != "" {
				b, _ := json.Marshal(r)
				_, _ = late.Write(append(b, '\n'))
			}
			return
		}
		answered = true
		b, _ := json.Marshal(r)
		_, _ = stdout.Write(append(b, '\n'))
		if fd, err := unix.FcntlInt(stdout.Fd(), unix.F_DUPFD_CLOEXEC, 3); err == nil {
			late = os.NewFile(uintptr(fd), "answer")
		}
		quiet(stdout)
	}
	if err := json.NewDecoder(stdin).Decode(&job); err != nil {
		answer(reply{Error: "read the job: " + err.Error()})
		return 2
	}
	err := runJob(&job, func(note string) { answer(reply{Note: note}) })
	if err != nil {
		answer(reply{Error: err.Error()})
		return 1
	}
	return 0
}

// quiet points stdout and stderr at /dev/null.
func quiet(stdout *os.File) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer null.Close()
	_ = unix.Dup3(int(null.Fd()), int(stdout.Fd()), 0)
	_ = unix.Dup3(int(null.Fd()), 2, 0)
}

// runJob checks where the worker is and runs the job until the worker's
// life ends.
func runJob(j *Job, ready func(string)) error {
	wk := j.work()
	if wk == nil {
		return errors.New("the job says no work")
	}
	if j.Parent <= 0 || os.Getppid() != j.Parent {
		return errors.New("the process that started the worker is gone")
	}
	in, err := cgroup.FS{}.Holds(j.Cgroup, os.Getpid())
	if err != nil {
		return fmt.Errorf("check the worker's cgroups: %w", err)
	}
	if !in {
		return fmt.Errorf("the worker is not in the target's cgroups (%s)", j.Cgroup)
	}
	ctx, cancelDeadline := context.WithDeadline(context.Background(), j.Deadline)
	defer cancelDeadline()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	// The parent's end: a pidfd, opened before checking that the parent
	// is still ours, so that its pid cannot be reused in between; on a
	// kernel without pidfds, the worker's parent changes when it ends.
	if fd, err := unix.PidfdOpen(j.Parent, 0); err == nil {
		if os.Getppid() != j.Parent {
			return errors.New("the process that started the worker is gone")
		}
		go func() { waitFD(fd); cancel(errParentEnded) }()
	} else {
		go watchParent(ctx, j.Parent, func() { cancel(errParentEnded) })
	}
	fd, err := pidfd(j.Target)
	if err != nil {
		return fmt.Errorf("the target's process %d is gone", j.Target.PID)
	}
	go func() { waitFD(fd); cancel(errTargetEnded) }()
	if err := wk.run(ctx, &worker{job: j}, ready); err != nil {
		return err
	}
	// A load stopped before it was in full effect still answers, so that
	// the fault counts as applied: a target that ended meanwhile (the OOM
	// killer, as a memory fault may ask) is the fault's effect, not a
	// failure to apply it. After an answer this does nothing.
	why := "it was stopped"
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTargetEnded), errors.Is(cause, errParentEnded):
		why = cause.Error()
	case errors.Is(cause, context.DeadlineExceeded):
		why = "its deadline passed"
	}
	ready("the load ended before it was in full effect: " + why)
	return nil
}

// watchParent calls ended once the worker's parent is no longer parent,
// its pid: it ended, and the worker was given another one.
func watchParent(ctx context.Context, parent int, ended func()) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				ended()
				return
			}
		}
	}
}

var (
	errTargetEnded = errors.New("the target ended")
	errParentEnded = errors.New("the process that started the worker ended")
)

// worker is what a job's work may use of the worker process.
type worker struct {
	job *Job
}

// dir opens directory d of the target's file system.
func (w *worker) dir(d string) (*os.File, error) {
	root, err := openRoot(w.job.Target.PID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if !alive(w.job.Target) {
		return nil, fmt.Errorf("the target's process %d is gone", w.job.Target.PID)
	}
	f, err := openDirIn(root, d)
	if err != nil {
		return nil, fmt.Errorf("open directory %s in the target: %w", d, err)
	}
	return f, nil
}
