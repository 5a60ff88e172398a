// Package process injects faults into local processes: kill with any
// signal, and stop (SIGSTOP) reverted by SIGCONT. Processes are selected by
// pid, pid file or a regular expression on the command line.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// Spec selects processes: exactly one of PID, PIDFile and Cmdline.
type Spec struct {
	PID     int               `yaml:"pid" json:"pid,omitempty"`
	PIDFile string            `yaml:"pid_file" json:"pid_file,omitempty"`
	Cmdline experiment.Regexp `yaml:"cmdline" json:"cmdline,omitzero"`

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
	})
}

func resolve(_ context.Context, env *inject.Env, spec any) ([]inject.Target, error) {
	s := spec.(*Spec)
	skip := untouchable(env)
	switch {
	case s.PID != 0:
		return one(s.PID, skip)
	case s.PIDFile != "":
		b, err := os.ReadFile(s.PIDFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			return nil, fmt.Errorf("read pid file: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("pid file %s holds %q, not a pid", s.PIDFile, strings.TrimSpace(string(b)))
		}
		return one(pid, skip)
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	var out []inject.Target
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if _, no := skip[pid]; err != nil || no {
			continue
		}
		cmd, ok := cmdline(pid)
		if !ok || !s.Cmdline.MatchString(cmd) || zombie(pid) {
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
	cmd, ok := cmdline(pid)
	if !ok || zombie(pid) {
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
	for pid := parent(self); pid > 1; pid = parent(pid) {
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

// parent returns the parent of pid, or 0 when it cannot be read.
func parent(pid int) int {
	f, err := statFields(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func cmdline(pid int) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})), true
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which may itself hold spaces: field 0 is the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("read /proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func zombie(pid int) bool {
	f, err := statFields(pid)
	return err != nil || len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

// startTime is the process's start time in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	// starttime is field 22 of stat, the 20th after the command name.
	if len(f) < 20 {
		return 0, fmt.Errorf("process %d: short /proc stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// State returns the process's state letter from /proc (R, S, T for stopped,
// Z), for tests and probes.
func State(pid int) (string, error) {
	f, err := statFields(pid)
	if err != nil {
		return "", err
	}
	return f[0], nil
}
