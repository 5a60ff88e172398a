// Package command runs the commands an experiment names (exec probes, exec
// steps and their undo, exec load streams) to completion, and tells a
// command that could not start from one that ran and failed.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/proc"
)

// MaxOutput is how much of each of stdout and stderr is kept; the rest is
// read and dropped.
const MaxOutput = 1 << 20

// Result is what a finished command left.
type Result struct {
	// ExitCode is -1 for a command killed by a signal: it has none.
	ExitCode int
	// Signal names the signal that killed the command, such as SIGKILL,
	// or is empty for one that exited.
	Signal         string
	Stdout, Stderr []byte
	Elapsed        time.Duration
}

// StartError is a command that could not be started: not found, not
// executable, a working directory that does not exist. A shell that says
// it could not find or run the command it was given (exit codes 127 and
// 126) counts too. The experiment is at fault, not the system it observes.
type StartError struct {
	Command string
	Err     error
}

func (e *StartError) Error() string { return fmt.Sprintf("could not start %s: %v", e.Command, e.Err) }

func (e *StartError) Unwrap() error { return e.Err }

// NotStarted reports whether err says the command never started.
func NotStarted(err error) bool {
	var se *StartError
	return errors.As(err, &se)
}

// Exit codes with which POSIX shells report a command they could not run.
const (
	shellNotExecutable = 126
	shellNotFound      = 127
)

// Run runs a command to completion with its timeout. A command that
// cannot start is a *StartError; one killed at its timeout is an error
// too. A command that ran and exited with any code is a result.
func Run(ctx context.Context, e *experiment.Exec) (Result, error) {
	return run(ctx, e, true)
}

// Quiet is Run for a command whose output is not looked at: its stdout and
// stderr go to /dev/null, which spares two pipes and the goroutines that
// read them. Result has no output; a shell's message for a command it
// could not run is lost, but its exit code still makes a *StartError.
func Quiet(ctx context.Context, e *experiment.Exec) (Result, error) {
	return run(ctx, e, false)
}

func run(ctx context.Context, e *experiment.Exec, capture bool) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.Timeout.D())
	defer cancel()
	argv := e.Run
	if e.Shell {
		argv = []string{"/bin/sh", "-c", e.Run[0]}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = string(e.Dir)
	if len(e.Env) > 0 {
		cmd.Env = os.Environ()
		for k, v := range e.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	// Kill the whole group at the timeout: a shell's children would
	// otherwise keep the pipes open.
	proc.OwnGroup(cmd)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	if capture {
		cmd.Stdout, cmd.Stderr = &limitWriter{w: &stdout}, &limitWriter{w: &stderr}
	}
	if e.Dir != "" {
		// The child changes into it after the fork, where a missing
		// directory would read as a missing command.
		if fi, err := os.Stat(string(e.Dir)); err != nil || !fi.IsDir() {
			if err == nil {
				err = errors.New("not a directory")
			}
			return Result{}, &StartError{Command: argv[0], Err: fmt.Errorf("working directory %s: %w", e.Dir, startCause(err))}
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("%s: %w", argv[0], ctx.Err())
		}
		return Result{}, &StartError{Command: argv[0], Err: startCause(err)}
	}
	err := cmd.Wait()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && e.Timeout > 0 {
			return res, &TimeoutError{Command: argv[0], After: e.Timeout.D()}
		}
		return res, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = unix.SignalName(ws.Signal())
			if res.Signal == "" {
				res.Signal = fmt.Sprintf("signal %d", int(ws.Signal()))
			}
		}
		if isShell(argv) && (res.ExitCode == shellNotFound || res.ExitCode == shellNotExecutable) {
			why := LastLines(res.Stderr, 1)
			if why == "" {
				why = "command not found or not executable"
			}
			return res, &StartError{Command: argv[len(argv)-1], Err: fmt.Errorf("%s (exit code %d from the shell)", why, res.ExitCode)}
		}
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0, but what it printed may not be all there is.
		return res, fmt.Errorf("%s exited, but a process it started still held its stdout or stderr open %s later: start that one with its output sent elsewhere, such as > /dev/null 2>&1 &", argv[0], cmd.WaitDelay)
	case err != nil:
		return res, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return res, nil
}

// TimeoutError is a command still running at its timeout, killed with its
// process group.
type TimeoutError struct {
	Command string
	After   time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: still running after %s, killed", e.Command, experiment.Duration(e.After))
}

// Timeout reports true: the command took too long.
func (e *TimeoutError) Timeout() bool { return true }

// startCause says why a command did not start, without repeating its name.
func startCause(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return errors.New("not found in $PATH")
	case errors.As(err, &pe):
		return pe.Err
	}
	return err
}

// isShell reports whether argv has a shell run a command line: shell: true,
// or sh -c and its kin written out.
func isShell(argv []string) bool {
	if len(argv) < 3 || argv[1] != "-c" {
		return false
	}
	switch filepath.Base(argv[0]) {
	case "sh", "bash", "dash", "ash", "zsh", "ksh":
		return true
	}
	return false
}

type limitWriter struct {
	w *bytes.Buffer
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := MaxOutput - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// LastLines is the last n non-empty lines of a command's output, joined by
// newlines, each cut to 200 bytes: what a journal keeps of it.
func LastLines(b []byte, n int) string {
	s := strings.TrimRight(string(b), " \t\r\n")
	var lines []string
	for len(s) > 0 && len(lines) < n {
		line := s
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			line, s = s[i+1:], s[:i]
		} else {
			s = ""
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) > maxLine {
			line = strings.ToValidUTF8(line[:maxLine], "") + "…"
		}
		lines = append(lines, line)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return strings.Join(lines, "\n")
}

const maxLine = 200
