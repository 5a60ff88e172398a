package load

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/command"
	"github.com/gamedayhq/chaos/internal/experiment"
)

// Error classes of streams that are not HTTP.
const (
	// ClassMismatch: the answer was not the one expected (a command's
	// stdout, a TCP reply).
	ClassMismatch = "mismatch"
)

// ExitClass is the error class of a command that exited with a code that
// is not a success, such as "exit_1".
func ExitClass(code int) string { return "exit_" + strconv.Itoa(code) }

// KilledClass is the error class of a command killed by a signal, such as
// "killed_SIGKILL".
func KilledClass(signal string) string { return "killed_" + signal }

// ExecRequest is an exec stream's request: a command run to completion,
// started at the stream's rate whether earlier ones finished or not. The
// stream's timeout bounds each run; a command still running then is killed
// with its process group and counts as a timeout.
type ExecRequest struct {
	// Run is the command and its arguments, run without a shell unless
	// Shell is set (then Run is one string).
	Run   []string          `yaml:"run" json:"run" chaos:"required" doc:"the command and its arguments, run without a shell unless shell is true (a relative command path is taken from dir)"`
	Shell bool              `yaml:"shell" json:"shell,omitempty" doc:"run the one string in run with /bin/sh -c"`
	Env   map[string]string `yaml:"env" json:"env,omitempty" doc:"environment variables added to chaos's own"`
	Dir   experiment.Path   `yaml:"dir" json:"dir,omitempty" doc:"the working directory (default: the experiment file's directory; a relative one is taken from there)"`
	// ExitCode is what the exit code of a success must be: 0 by default.
	ExitCode experiment.NumberCond `yaml:"exit_code" json:"exit_code,omitzero" doc:"what a success's exit code must be (default 0)"`
	// StdoutMatch is a regular expression a success's stdout must match,
	// without its last line break (so that $ ends the last line).
	StdoutMatch experiment.Regexp `yaml:"stdout_match" json:"stdout_match,omitzero" doc:"a regular expression a success's stdout must match"`
}

// DefaultDir runs the command in dir unless the settings name a directory.
func (r *ExecRequest) DefaultDir(dir experiment.Path) {
	if r.Dir == "" {
		r.Dir = dir
	}
}

// Validate checks the command line.
func (r *ExecRequest) Validate() error { return r.command(0).Validate() }

func (r *ExecRequest) command(timeout experiment.Duration) *experiment.Exec {
	return &experiment.Exec{Run: r.Run, Shell: r.Shell, Env: r.Env, Dir: r.Dir, Timeout: timeout}
}

// String is the command line, as a stream's description.
func (r *ExecRequest) String() string { return "exec " + strings.Join(r.Run, " ") }

type execSender struct {
	cmd      *experiment.Exec
	exitCode experiment.NumberCond
	stdout   experiment.Regexp
}

func (e *execSender) Send(ctx context.Context, _ uint64) (string, error) {
	run := command.Run
	if e.stdout.Regexp == nil {
		run = command.Quiet
	}
	res, err := run(ctx, e.cmd)
	var timeout *command.TimeoutError
	switch {
	case command.NotStarted(err):
		return ClassOther, &StopError{Err: err}
	case errors.As(err, &timeout):
		return ClassTimeout, err
	case err != nil:
		return ClassOther, err
	case res.Signal != "":
		// Killed, it has no exit code to hold exit_code.
		return KilledClass(res.Signal), nil
	case !e.exitCode.Holds(float64(res.ExitCode)):
		return ExitClass(res.ExitCode), nil
	case e.stdout.Regexp != nil && !e.stdout.Match(bytes.TrimRight(res.Stdout, "\r\n")):
		return ClassMismatch, nil
	}
	return "", nil
}

func init() {
	RegisterKind(Kind{
		Name: "exec",
		New:  func() any { return &ExecRequest{} },
		Doc: experiment.Doc{
			Summary: "Each request runs a command to completion, started at the stream's rate whether earlier ones finished or not; the stream's timeout kills one still running (a timeout). It succeeds when its exit code is exit_code's and stdout matches stdout_match; one killed by a signal has no exit code and fails (class killed_SIGKILL, killed_SIGSEGV), whatever exit_code wants. A command that goes on after an error and exits 0 succeeds: psql with several -c or -f and without -v ON_ERROR_STOP=1, sh without set -e; make it stop and exit non-zero on an error.",
			Example: "{run: [redis-cli, -p, \"6379\", ping], stdout_match: PONG}",
		},
		Configure: func(s *Stream, spec any) error {
			r := spec.(*ExecRequest)
			timeout := s.Timeout
			if timeout <= 0 {
				timeout = DefaultTimeout
			}
			e := &execSender{cmd: r.command(experiment.Duration(timeout)), exitCode: r.ExitCode, stdout: r.StdoutMatch}
			if e.exitCode.IsZero() {
				e.exitCode = experiment.NumberCond{Cond: experiment.Cond{Op: "==", Value: 0}}
			}
			s.Sender = e
			return nil
		},
	})
}
