package command_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/command"
	"github.com/gamedayhq/chaos/internal/experiment"
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
			res, err := command.Run(context.Background(), &tt.exec)
			var se *command.StartError
			switch {
			case tt.start == "" && err != nil:
				t.Fatalf("Run(%v) = %v; want exit code %d", tt.exec.Run, err, tt.code)
			case tt.start == "" && res.ExitCode != tt.code:
				t.Errorf("Run(%v) exit code %d; want %d", tt.exec.Run, res.ExitCode, tt.code)
			case tt.start != "" && !errors.As(err, &se):
				t.Fatalf("Run(%v) = %v (exit code %d); want a StartError", tt.exec.Run, err, res.ExitCode)
			case tt.start != "" && !strings.HasPrefix(err.Error(), tt.start):
				t.Errorf("Run(%v) = %q; want %q", tt.exec.Run, err, tt.start)
			}
		})
	}
}

// A command that exits leaving a process that holds its stdout open is
// not taken to have said all it had to say, and the error says why in
// words, not in exec's.
func TestCommandChildHoldsOutput(t *testing.T) {
	e := experiment.Exec{Run: []string{"sh", "-c", "echo ready; sleep 3 &"}, Timeout: experiment.Duration(10 * time.Second)}
	_, err := command.Run(context.Background(), &e)
	if err == nil || !strings.Contains(err.Error(), "still held its stdout or stderr open") {
		t.Errorf("Run = %v; want an error saying a process it started held its output open", err)
	}
}
