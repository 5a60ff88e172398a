// Package process injects faults into local processes: kill with any
// signal, and stop (SIGSTOP) reverted by SIGCONT. Processes are selected by
// pid, pid file or a regular expression on the command line.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

// Spec selects processes: exactly one of PID, PIDFile and Cmdline.
type Spec struct {
	PID     int               `yaml:"pid" json:"pid,omitempty" doc:"the process with this id"`
	PIDFile experiment.Path   `yaml:"pid_file" json:"pid_file,omitempty" doc:"a file that holds the process id on its first line (later lines, such as those of PostgreSQL's postmaster.pid, are ignored), read when the target is resolved"`
	Cmdline experiment.Regexp `yaml:"cmdline" json:"cmdline,omitzero" doc:"a regular expression matched against each process's command line, its arguments joined by spaces"`

	experiment.Selection `yaml:",inline" json:",inline"`
}

// Validate requires exactly one way of selecting.
func (s *Spec) Validate() error {
	n := 0
	if s.PID != 0 {
		n++
	}
	if s.PIDFile != "" {
		n++
	}
	if s.Cmdline.Regexp != nil {
		n++
	}
	if n != 1 {
		return errors.New("select processes with exactly one of pid, pid_file, cmdline")
	}
	if s.PID < 0 {
		return errors.New("pid must be positive")
	}
	return s.Selection.Validate()
}

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name:       "process",
		New:        func() any { return &Spec{} },
		Resolve:    resolve,
		DefaultMax: 5,
		Doc: experiment.Doc{
			Summary: "Local processes, selected by exactly one of pid, pid_file and cmdline. At most 5 may match unless max says otherwise.",
			Example: "{pid_file: ./app.pid}",
		},
	})
}

// WhyEmpty says that the pid file does not exist, when it does not: an
// earlier step or a service that was to write it did not.
func (s *Spec) WhyEmpty() string {
	if s.PIDFile == "" {
		return ""
	}
	if _, err := os.Stat(string(s.PIDFile)); errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("its pid file %s does not exist", s.PIDFile)
	}
	return ""
}

func resolve(_ context.Context, env *inject.Env, spec any) ([]inject.Target, error) {
	s := spec.(*Spec)
	skip := untouchable(env)
	switch {
	case s.PID != 0:
		return one(s.PID, skip)
	case s.PIDFile != "":
		b, err := os.ReadFile(string(s.PIDFile))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			return nil, fmt.Errorf("read pid file: %w", err)
		}
		// The first line holds the pid; later ones are the writer's own
		// (PostgreSQL's postmaster.pid goes on with its data directory,
		// port and state).
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("pid file %s holds %q on its first line, not a pid", s.PIDFile, strings.TrimSpace(first))
		}
		return one(pid, skip)
	}
	var out []inject.Target
	for _, pid := range proc.PIDs() {
		if _, no := skip[pid]; no {
			continue
		}
		cmd, ok := proc.Cmdline(pid)
		if !ok || !s.Cmdline.MatchString(cmd) || proc.Gone(pid) {
			continue
		}
		out = append(out, inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: cmd})
	}
	return out, nil
}

func one(pid int, skip map[int]string) ([]inject.Target, error) {
	if what, ok := skip[pid]; ok {
		return nil, fmt.Errorf("pid %d is %s: chaos never stops or kills it", pid, what)
	}
	cmd, ok := proc.Cmdline(pid)
	if !ok || proc.Gone(pid) {
		return nil, nil
	}
	return []inject.Target{{Kind: "process", ID: strconv.Itoa(pid), Name: cmd}}, nil
}

// untouchable returns the processes no fault may hit, with what each is:
// chaos itself, which would freeze and later report on a run it did not
// watch; the processes it runs under (the shell, a CI runner), which would
// stop waiting for it; pid 1; and the helpers named in env.Protected. A pid
// or pid file naming one is an error; a command-line pattern skips them.
func untouchable(env *inject.Env) map[int]string {
	out := map[int]string{1: "init"}
	self := os.Getpid()
	out[self] = "chaos itself"
	for pid := proc.Parent(self); pid > 1; pid = proc.Parent(pid) {
		if _, seen := out[pid]; seen {
			break
		}
		out[pid] = "an ancestor of chaos (a process it runs under)"
	}
	if env != nil {
		for pid, what := range env.Protected {
			out[pid] = what
		}
	}
	return out
}
