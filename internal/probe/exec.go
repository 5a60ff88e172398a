package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	ExitCode       experiment.NumberCond `yaml:"exit_code" json:"exit_code,omitzero" doc:"the exit code, a number or a comparison such as '!= 0' (default 0)"`
	StdoutContains string                `yaml:"stdout_contains" chaos:"nonempty" json:"stdout_contains,omitempty" doc:"text the standard output must contain"`
	StdoutRegex    experiment.Regexp     `yaml:"stdout_regex" json:"stdout_regex,omitzero" doc:"a regular expression the standard output must match"`
	StderrContains string                `yaml:"stderr_contains" chaos:"nonempty" json:"stderr_contains,omitempty" doc:"text the standard error must contain"`
	// Latency bounds how long the command ran.
	Latency experiment.DurationCond `yaml:"latency" json:"latency,omitzero" doc:"how long the command may run, such as \"< 2s\""`
	// StdoutValue is a number read from stdout and what it must be.
	StdoutValue *Extract `yaml:"stdout_value" json:"stdout_value,omitempty" doc:"a number read from stdout, by json: path or by match: with a capture group, and the value: it must have"`
}

// Extract reads a number from a command's output: at a dotted JSON path
// when the output is JSON, else the first capture group of a regular
// expression.
type Extract struct {
	JSON  string                `yaml:"json" json:"json,omitempty" doc:"a dotted path such as replication.lag in stdout read as JSON"`
	Match experiment.Regexp     `yaml:"match" json:"match,omitzero" doc:"a regular expression whose first capture group is the number"`
	Value experiment.NumberCond `yaml:"value" json:"value" chaos:"required" doc:"what the number must be, such as \"< 5\""`
}

// Validate takes exactly one of json and match, and a match with a group.
func (e *Extract) Validate() error {
	switch {
	case e.JSON == "" && e.Match.Regexp == nil:
		return errors.New("stdout_value needs json: (a path in stdout read as JSON) or match: (a regular expression with a capture group)")
	case e.JSON != "" && e.Match.Regexp != nil:
		return errors.New("stdout_value takes json: or match:, not both")
	case e.Match.Regexp != nil && e.Match.NumSubexp() == 0:
		return fmt.Errorf("match %q has no capture group: put the number in parentheses, such as lag=([0-9.]+)", e.Match.String())
	}
	return nil
}

// what names where the number is read, for reasons.
func (e *Extract) what() string {
	if e.JSON != "" {
		return "stdout " + e.JSON
	}
	return fmt.Sprintf("stdout's match of %q", e.Match.String())
}

// Read finds the number in out; what it quotes of out is masked first.
func (e *Extract) Read(out []byte, mask func(string) string) (float64, error) {
	var text string
	if e.JSON != "" {
		var doc any
		if err := json.Unmarshal(out, &doc); err != nil {
			return 0, fmt.Errorf("stdout is not JSON (%v): %s", err, excerpt(mask, out))
		}
		v, ok := JSONPath(doc, e.JSON)
		if !ok {
			return 0, fmt.Errorf("stdout has no %s: %s", e.JSON, excerpt(mask, out))
		}
		text = v
	} else {
		m := e.Match.FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("stdout does not match %q: %s", e.Match.String(), excerpt(mask, out))
		}
		text = string(m[1])
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, fmt.Errorf("%s is %q, not a number", e.what(), text)
	}
	return f, nil
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
	mask := maskOf(ctx)
	obs := Observe(res, mask)
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
	if res.Signal != "" {
		// A killed command has no exit code: the -1 it reads as would
		// hold "< 2" or "!= 0" though the command never answered.
		return fail("killed by %s before it exited%s", res.Signal, stderrNote(mask, res.Stderr))
	}
	want := expect.ExitCode
	if want.IsZero() {
		want = experiment.NumberCond{Cond: experiment.Cond{Op: "==", Value: 0}}
	}
	if !want.Holds(float64(res.ExitCode)) {
		return fail("exit code %d, want %s%s", res.ExitCode, want, stderrNote(mask, res.Stderr))
	}
	if expect.StdoutContains != "" && !bytes.Contains(res.Stdout, []byte(expect.StdoutContains)) {
		return fail("stdout does not contain %q: %s", expect.StdoutContains, excerpt(mask, res.Stdout))
	}
	if expect.StdoutRegex.Regexp != nil && !expect.StdoutRegex.Match(res.Stdout) {
		return fail("stdout does not match %q: %s", expect.StdoutRegex.String(), excerpt(mask, res.Stdout))
	}
	if expect.StderrContains != "" && !bytes.Contains(res.Stderr, []byte(expect.StderrContains)) {
		return fail("stderr does not contain %q: %s", expect.StderrContains, excerpt(mask, res.Stderr))
	}
	if !expect.Latency.IsZero() && !expect.Latency.Holds(res.Elapsed.Seconds()) {
		return fail("ran for %s, want %s", obs["latency"], expect.Latency)
	}
	if x := expect.StdoutValue; x != nil {
		v, err := x.Read(res.Stdout, mask)
		if err != nil {
			return fail("%v", err)
		}
		obs["value"] = experiment.FormatValue(v, experiment.UnitNumber)
		out["value"] = obs["value"]
		if !x.Value.Holds(v) {
			return fail("%s is %s, want %s", x.what(), obs["value"], x.Value)
		}
	}
	return Result{OK: true, Observed: obs, Output: out}
}

// OutputLines is how many of the last lines of stdout and stderr the
// journal keeps of a command.
const OutputLines = 5

// Observe is what the journal keeps of a finished command: its exit code,
// how long it ran, and the last lines of its stdout and stderr, masked
// before they are cut short.
func Observe(res command.Result, mask func(string) string) map[string]string {
	obs := map[string]string{
		"exit_code": strconv.Itoa(res.ExitCode),
		"latency":   experiment.FormatValue(res.Elapsed.Seconds(), experiment.UnitDuration),
	}
	if res.Signal != "" {
		obs["signal"] = res.Signal
	}
	if s := command.LastLines([]byte(mask(string(res.Stdout))), OutputLines); s != "" {
		obs["stdout"] = s
	}
	if s := command.LastLines([]byte(mask(string(res.Stderr))), OutputLines); s != "" {
		obs["stderr"] = s
	}
	return obs
}

// stderrNote quotes the last line of stderr for a reason, if any.
func stderrNote(mask func(string) string, b []byte) string {
	if s := command.LastLines([]byte(mask(string(b))), 1); s != "" {
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
			Summary: "Runs a command to completion. Without expect, exit code 0 passes, also for a command that goes on after an error and exits 0 (psql with several -c or -f and without -v ON_ERROR_STOP=1, sh without set -e): make it stop and exit non-zero on an error. A command killed by a signal (the OOM killer's SIGKILL, a crash's SIGSEGV) fails whatever exit_code wants: it has no exit code.",
			Default: "exit code 0",
			Example: "{run: [./check.sh, --quick], timeout: 5s}",
			Expect:  "{exit_code: 0, stdout_contains: ready}",
			Outputs: []string{"exit_code: the command's exit code", "stdout: its standard output, trimmed", "stderr: its standard error, trimmed", "value: the number stdout_value read, if set"},
		},
		Run: runExec,
	})
}

// Command runs a command to completion: command.Run, for the runner's exec
// steps and undo commands.
func Command(ctx context.Context, e *experiment.Exec) (command.Result, error) {
	return command.Run(ctx, e)
}

// StartError is a command that could not be started.
type StartError = command.StartError
