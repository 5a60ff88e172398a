package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/proc"
)

// The watchdog is chaos itself, started by chaos run in a session of its
// own, so that the Ctrl-C or SIGHUP that reaches the run's terminal does
// not reach it. It watches the run through a pidfd and a pipe whose other
// end only the run holds; when the run ends it looks at the run's ledgers,
// and undoes what a run that died (SIGKILL, a crash) left open, with the
// same code as chaos recover. A run that ended normally has closed its
// ledgers: the watchdog then exits without a word.

// watchdog is the run's handle on its watchdog.
type watchdog struct {
	cmd *exec.Cmd
	// alive is the pipe the watchdog reads: closing it (or dying) tells the
	// watchdog the run is over.
	alive *os.File
}

// startWatchdog starts the watchdog of a run and waits until it watches.
func startWatchdog(std *stdio, dir, runID string) (*watchdog, error) {
	self := os.Getpid()
	start, err := proc.StartTime(self)
	if err != nil {
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	aliveR, aliveW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		aliveR.Close()
		aliveW.Close()
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	// Its messages go where the run's go; a file is handed over as is, so
	// that they are seen after the run is gone.
	var errw io.Writer = std.err
	if f, ok := unwrap(std.err).(*os.File); ok {
		errw = f
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"chaos", "watchdog", "--ledger", dir, "--run", runID, "--pid", strconv.Itoa(self), "--start", strconv.FormatUint(start, 10)},
		Stdin:       aliveR,
		Stdout:      readyW,
		Stderr:      errw,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	aliveR.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		aliveW.Close()
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(readyR).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("it said %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("it did not answer within 10s")
	}
	readyR.Close()
	w := &watchdog{cmd: cmd, alive: aliveW}
	if err != nil {
		cmd.Process.Kill()
		w.stop()
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	return w, nil
}

// pid is the watchdog's pid.
func (w *watchdog) pid() int { return w.cmd.Process.Pid }

// stop tells the watchdog that the run is over and waits a little for it
// to go: it has nothing to do after a normal end. Should a ledger be left
// open, it undoes it on its own.
func (w *watchdog) stop() {
	w.alive.Close()
	done := make(chan struct{})
	go func() {
		w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func newWatchdogCmd(io *stdio) *cobra.Command {
	var dir, runID, start string
	var pid int
	cmd := &cobra.Command{
		Use:    "watchdog",
		Short:  "Undo what a run left when it dies (started by chaos run)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return watch(cmd.Context(), io, dir, runID, pid, start)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "ledger", "", "the run's ledger `DIR`")
	f.StringVar(&runID, "run", "", "the run's `ID`")
	f.IntVar(&pid, "pid", 0, "the run's `PID`")
	f.StringVar(&start, "start", "", "the run's start time, in clock ticks since boot")
	for _, name := range []string{"ledger", "run", "pid", "start"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// watch waits for the run to end, then undoes what it left open.
func watch(ctx context.Context, io *stdio, dir, runID string, pid int, start string) error {
	// Signals meant for the run are not for the watchdog: a SIGTERM to the
	// whole service (systemd stop) or a stray Ctrl-C must not take it away
	// while the run may still need it. Notified, not ignored: commands it
	// runs to undo steps must get their signals as usual.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)

	waitForRun(pid, start, io)

	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	ledgers, err := ledger.Load(dir)
	if err != nil {
		fmt.Fprintf(io.err, "chaos watchdog: %v\n", err)
	}
	env := inject.NewEnv(0, func(msg string) { fmt.Fprintf(io.err, "chaos watchdog: warning: %s\n", msg) })
	defer env.Close()
	failed := 0
	for _, l := range ledgers {
		if l.RunID != runID || l.PID != pid || l.PIDStart != start || !l.Closed.IsZero() || len(l.Pending()) == 0 {
			continue
		}
		fmt.Fprintf(io.err, "chaos watchdog: run %s of %s (pid %d) ended without undoing what it changed; undoing it now (ledger %s)\n", l.RunID, l.File, l.PID, l.Path())
		_, f, err := undoLedger(rctx, env, l, io.err, io.err)
		if err != nil {
			fmt.Fprintf(io.err, "chaos watchdog: %v\n", err)
		}
		failed += f
	}
	if failed > 0 {
		return withCode(exitRevertFailed, fmt.Errorf("watchdog: %d change(s) could not be undone; the ledger keeps them: run chaos recover", failed))
	}
	return nil
}

// waitForRun says it is ready, then returns once the run is over: its pipe is
// closed (the run ended, or died and the kernel closed it) or its pidfd
// says it exited.
func waitForRun(pid int, start string, io *stdio) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		pidfd = -1 // an old kernel: the pipe alone tells
	} else {
		defer unix.Close(pidfd)
	}
	// The pidfd may name a process that took the pid of a run already
	// gone: the run is over then.
	gone := false
	if s, err := proc.StartTime(pid); err != nil || strconv.FormatUint(s, 10) != start {
		gone = true
	}
	fmt.Fprintln(io.out, "ready")
	flush(io.out)
	if f, ok := unwrap(io.out).(*os.File); ok {
		f.Close()
	}
	if gone {
		return
	}
	fds := []unix.PollFd{{Fd: int32(os.Stdin.Fd()), Events: unix.POLLIN}}
	if pidfd >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN})
	}
	var buf [64]byte
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		if len(fds) > 1 && fds[1].Revents != 0 {
			return // the run exited
		}
		if fds[0].Revents != 0 {
			if n, err := os.Stdin.Read(buf[:]); n == 0 || err != nil {
				return // end of file: the run is over
			}
		}
	}
}
