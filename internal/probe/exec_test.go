package probe_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/probe"
)

// A command that cannot start is a *StartError; one that ran and failed is
// a result, whatever its exit code.
func TestCommandStartError(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		exec  experiment.Exec
		start string // the StartError's text, or "" for a result
		code  int
	}{
		{"missing path", experiment.Exec{Run: []string{"/nonexistent/cmd"}}, "could not start /nonexistent/cmd: no such file or directory", 0},
		{"not in PATH", experiment.Exec{Run: []string{"no-such-command-anywhere"}}, "could not start no-such-command-anywhere: not found in $PATH", 0},
		{"not executable", experiment.Exec{Run: []string{plain}}, "could not start " + plain + ": permission denied", 0},
		{"missing dir", experiment.Exec{Run: []string{"true"}, Dir: "/nonexistent/dir"}, "could not start true: working directory /nonexistent/dir: no such file or directory", 0},
		{"shell not found", experiment.Exec{Run: []string{"no-such-command-anywhere"}, Shell: true}, "could not start no-such-command-anywhere: /bin/sh: 1: no-such-command-anywhere: not found (exit code 127 from the shell)", 0},
		{"sh -c not executable", experiment.Exec{Run: []string{"sh", "-c", plain}}, "could not start " + plain + ": ", 0},
		{"ran and failed", experiment.Exec{Run: []string{"sh", "-c", "exit 3"}}, "", 3},
		{"ran and passed", experiment.Exec{Run: []string{"true"}}, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.exec.Timeout = experiment.Duration(5 * time.Second)
			res, err := probe.Command(context.Background(), &tt.exec)
			var se *probe.StartError
			switch {
			case tt.start == "" && err != nil:
				t.Fatalf("Command(%v) = %v; want exit code %d", tt.exec.Run, err, tt.code)
			case tt.start == "" && res.ExitCode != tt.code:
				t.Errorf("Command(%v) exit code %d; want %d", tt.exec.Run, res.ExitCode, tt.code)
			case tt.start != "" && !errors.As(err, &se):
				t.Fatalf("Command(%v) = %v (exit code %d); want a StartError", tt.exec.Run, err, res.ExitCode)
			case tt.start != "" && !strings.HasPrefix(err.Error(), tt.start):
				t.Errorf("Command(%v) = %q; want %q", tt.exec.Run, err, tt.start)
			}
		})
	}
}

// An exec probe whose command cannot start is no observation: Err is set.
// One that ran and failed is a failed observation.
func TestExecProbeCannotStart(t *testing.T) {
	spec, expect := newExec(t, "/nonexistent/cmd")
	res := probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err == nil {
		t.Errorf("Run(missing command) = %+v; want an error", res)
	}
	spec, expect = newExec(t, "false")
	res = probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err != nil || res.Reason != "exit code 1, want == 0" {
		t.Errorf("Run(false) = %+v; want a failed observation", res)
	}
	if got := probe.Limit(spec); got != 10*time.Second {
		t.Errorf("Limit(exec) = %s; want its default timeout, 10s", got)
	}
}

func newExec(t *testing.T, run string) (any, any) {
	t.Helper()
	k, ok := probe.Lookup("exec")
	if !ok {
		t.Fatal("no exec probe")
	}
	spec, expect := k.New()
	spec.(*probe.ExecSpec).SetDefaults()
	spec.(*probe.ExecSpec).Run = []string{run}
	return spec, expect
}
