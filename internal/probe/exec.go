package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/proc"
)

// ExecSpec is a command probe. The command runs without a shell unless
// Shell is set, so arguments are passed exactly as written.
type ExecSpec struct {
	experiment.Exec `yaml:",inline"`
}

// SetDefaults gives the command 10 seconds.
func (s *ExecSpec) SetDefaults() { s.Timeout = experiment.Duration(10 * time.Second) }

// Validate checks the command line.
func (s *ExecSpec) Validate() error { return s.Exec.Validate() }

// ExecExpect is what the command must show; by default exit code 0.
type ExecExpect struct {
	ExitCode       experiment.NumberCond `yaml:"exit_code" json:"exit_code,omitzero" doc:"the exit code, a number or a comparison such as '!= 0' (default 0)"`
	StdoutContains string                `yaml:"stdout_contains" json:"stdout_contains,omitempty" doc:"text the standard output must contain"`
	StdoutRegex    experiment.Regexp     `yaml:"stdout_regex" json:"stdout_regex,omitzero" doc:"a regular expression the standard output must match"`
	StderrContains string                `yaml:"stderr_contains" json:"stderr_contains,omitempty" doc:"text the standard error must contain"`
}

// ExecResult is what a finished command left.
type ExecResult struct {
	ExitCode       int
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

// Exit codes with which POSIX shells report a command they could not run.
const (
	shellNotExecutable = 126
	shellNotFound      = 127
)

// Command runs a command to completion with its timeout. A command that
// cannot start is a *StartError; one killed at its timeout is an error
// too. A command that ran and exited with any code is a result.
func Command(ctx context.Context, e *experiment.Exec) (ExecResult, error) {
	ctx, cancel := context.WithTimeout(ctx, e.Timeout.D())
	defer cancel()
	argv := e.Run
	if e.Shell {
		argv = []string{"/bin/sh", "-c", e.Run[0]}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = string(e.Dir)
	cmd.Env = os.Environ()
	for k, v := range e.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Kill the whole group at the timeout: a shell's children would
	// otherwise keep the pipes open.
	proc.OwnGroup(cmd)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{w: &stdout}, &limitWriter{w: &stderr}
	if e.Dir != "" {
		// The child changes into it after the fork, where a missing
		// directory would read as a missing command.
		if fi, err := os.Stat(string(e.Dir)); err != nil || !fi.IsDir() {
			if err == nil {
				err = errors.New("not a directory")
			}
			return ExecResult{}, &StartError{Command: argv[0], Err: fmt.Errorf("working directory %s: %w", e.Dir, startCause(err))}
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return ExecResult{}, fmt.Errorf("%s: %w", argv[0], ctx.Err())
		}
		return ExecResult{}, &StartError{Command: argv[0], Err: startCause(err)}
	}
	err := cmd.Wait()
	res := ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s: still running after %s, killed", argv[0], e.Timeout)
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if isShell(argv) && (res.ExitCode == shellNotFound || res.ExitCode == shellNotExecutable) {
			why := strings.TrimSpace(lastLine(res.Stderr))
			if why == "" {
				why = "command not found or not executable"
			}
			return res, &StartError{Command: argv[len(argv)-1], Err: fmt.Errorf("%s (exit code %d from the shell)", why, res.ExitCode)}
		}
		return res, nil
	case err != nil:
		return res, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return res, nil
}

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
	if room := maxBody - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func runExec(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*ExecSpec)
	expect, _ := expectAny.(*ExecExpect)
	if expect == nil {
		expect = &ExecExpect{}
	}
	res, err := Command(ctx, &spec.Exec)
	var se *StartError
	switch {
	case errors.As(err, &se):
		return Result{Reason: err.Error(), Err: err}
	case err != nil:
		return Failf(nil, "%v", err)
	}
	obs := map[string]string{"exit_code": strconv.Itoa(res.ExitCode)}
	out := map[string]string{
		"exit_code": obs["exit_code"],
		"stdout":    strings.TrimSpace(string(res.Stdout)),
		"stderr":    strings.TrimSpace(string(res.Stderr)),
	}
	fail := func(format string, args ...any) Result {
		r := Failf(obs, format, args...)
		r.Output = out
		return r
	}
	want := expect.ExitCode
	if want.IsZero() {
		want = experiment.NumberCond{Cond: experiment.Cond{Op: "==", Value: 0}}
	}
	if !want.Holds(float64(res.ExitCode)) {
		return fail("exit code %d, want %s%s", res.ExitCode, want, stderrNote(res.Stderr))
	}
	if expect.StdoutContains != "" && !bytes.Contains(res.Stdout, []byte(expect.StdoutContains)) {
		return fail("stdout does not contain %q: %s", expect.StdoutContains, excerpt(res.Stdout))
	}
	if expect.StdoutRegex.Regexp != nil && !expect.StdoutRegex.Match(res.Stdout) {
		return fail("stdout does not match %q: %s", expect.StdoutRegex.String(), excerpt(res.Stdout))
	}
	if expect.StderrContains != "" && !bytes.Contains(res.Stderr, []byte(expect.StderrContains)) {
		return fail("stderr does not contain %q: %s", expect.StderrContains, excerpt(res.Stderr))
	}
	return Result{OK: true, Observed: obs, Output: out}
}

// lastLine is the last line of a command's output.
func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// stderrNote quotes the last line of stderr for a reason, if any.
func stderrNote(b []byte) string {
	if s := lastLine(b); s != "" {
		return " (stderr: " + s + ")"
	}
	return ""
}

// TimeLimit is the probe's timeout.
func (s *ExecSpec) TimeLimit() time.Duration { return s.Timeout.D() }

func init() {
	Register(Kind{
		Name: "exec",
		New:  func() (any, any) { return &ExecSpec{}, &ExecExpect{} },
		Doc: experiment.Doc{
			Summary: "Runs a command to completion. Without expect, exit code 0 passes.",
			Example: "{run: [./check.sh, --quick], timeout: 5s}",
			Expect:  "{exit_code: 0, stdout_contains: ready}",
			Outputs: []string{"exit_code: the command's exit code", "stdout: its standard output, trimmed", "stderr: its standard error, trimmed"},
		},
		Run: runExec,
	})
}
