package probe

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/command"
	"github.com/gamedayhq/chaos/internal/experiment"
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
	ExitCode       experiment.NumberCond `yaml:"exit_code" json:"exit_code,omitzero"`
	StdoutContains string                `yaml:"stdout_contains" json:"stdout_contains,omitempty"`
	StdoutRegex    experiment.Regexp     `yaml:"stdout_regex" json:"stdout_regex,omitzero"`
	StderrContains string                `yaml:"stderr_contains" json:"stderr_contains,omitempty"`
}

func runExec(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*ExecSpec)
	expect, _ := expectAny.(*ExecExpect)
	if expect == nil {
		expect = &ExecExpect{}
	}
	res, err := command.Run(ctx, &spec.Exec)
	switch {
	case command.NotStarted(err):
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

// stderrNote quotes the last line of stderr for a reason, if any.
func stderrNote(b []byte) string {
	if s := command.LastLines(b, 1); s != "" {
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
		Run:  runExec,
	})
}

// Command runs a command to completion: command.Run, for the runner's exec
// steps and undo commands.
func Command(ctx context.Context, e *experiment.Exec) (command.Result, error) {
	return command.Run(ctx, e)
}

// StartError is a command that could not be started.
type StartError = command.StartError
