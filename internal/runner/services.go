package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/probe"
)

// service is a process the experiment started.
type service struct {
	spec *experiment.Service
	cmd  *exec.Cmd
	log  *os.File
	tail *tail
	done chan struct{}
	idx  int
}

// tail keeps the last lines a service wrote, for error messages.
type tail struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
}

const tailLines = 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, append([]byte(nil), t.part[:i]...))
		t.part = t.part[i+1:]
		if len(t.lines) > tailLines {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := bytes.Join(t.lines, []byte(" | "))
	if len(t.part) > 0 {
		out = append(out, []byte(" | ")...)
		out = append(out, t.part...)
	}
	return strings.TrimPrefix(string(out), " | ")
}

// startServices starts the declared services in order and waits for each to
// be ready. It reports whether all are.
func (r *run) startServices(ctx context.Context) bool {
	for _, spec := range r.exp.Services {
		if ctx.Err() != nil {
			return false
		}
		s, err := r.startService(spec)
		if err != nil {
			r.fail(err)
			return false
		}
		if spec.Ready != nil && !r.waitReady(ctx, s) {
			return false
		}
	}
	return true
}

func (r *run) startService(spec *experiment.Service) (*service, error) {
	s := &service{spec: spec, tail: &tail{}, done: make(chan struct{})}
	var out io.Writer = s.tail
	logPath := ""
	if r.opts.ReportDir != "" {
		logPath = filepath.Join(r.opts.ReportDir, "services", spec.Name+".log")
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err == nil {
			if f, err := os.Create(logPath); err == nil {
				s.log = f
				out = io.MultiWriter(f, s.tail)
			}
		}
	}
	cmd := exec.Command(spec.Run[0], spec.Run[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = os.Environ()
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that left the group could hold the output pipe open for ever:
	// once the service exits, its output is cut off after this long.
	cmd.WaitDelay = 2 * time.Second
	// A group of its own: Ctrl-C in the terminal reaches chaos only, which
	// reverts the faults first and then stops the services in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		if s.log != nil {
			s.log.Close()
		}
		return nil, fmt.Errorf("start service %q: %w", spec.Name, err)
	}
	s.cmd = cmd
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	r.mu.Lock()
	s.idx = len(r.j.Services)
	r.j.Services = append(r.j.Services, journal.Service{Name: spec.Name, Run: spec.Run, PID: cmd.Process.Pid, Started: time.Now(), Log: relLog(r.opts.ReportDir, logPath)})
	r.services = append(r.services, s)
	r.mu.Unlock()
	r.emit(journal.Event{Type: "service.started", Message: fmt.Sprintf("%s started, pid %d", spec.Name, cmd.Process.Pid),
		Fields: map[string]string{"service": spec.Name, "pid": fmt.Sprint(cmd.Process.Pid)}})
	return s, nil
}

func relLog(dir, path string) string {
	if path == "" {
		return ""
	}
	if rel, err := filepath.Rel(dir, path); err == nil {
		return rel
	}
	return path
}

func (r *run) waitReady(ctx context.Context, s *service) bool {
	ready := s.spec.Ready
	deadline := time.Now().Add(ready.Within.D())
	var last probe.Result
	for {
		attempt, cancel := context.WithDeadline(ctx, deadline)
		last = probe.Run(attempt, ready.Probe.Kind, ready.Probe.Spec, nil)
		cancel()
		if last.OK {
			r.mu.Lock()
			r.j.Services[s.idx].Ready = time.Now()
			r.mu.Unlock()
			r.emit(journal.Event{Type: "service.ready", Message: s.spec.Name + " ready", Fields: map[string]string{"service": s.spec.Name}})
			return true
		}
		select {
		case <-s.done:
			r.fail(fmt.Errorf("service %q exited with %s before it was ready; its last output: %s", s.spec.Name, exitText(s.cmd), orNone(s.tail.String())))
			return false
		case <-ctx.Done():
			return false
		case <-time.After(ready.Interval.D()):
		}
		if time.Now().After(deadline) {
			r.fail(fmt.Errorf("service %q was not ready within %s (%s); its last output: %s", s.spec.Name, ready.Within, last.Reason, orNone(s.tail.String())))
			return false
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func exitText(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "an unknown status"
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit code %d", cmd.ProcessState.ExitCode())
}

// stopServices stops the services in reverse order: SIGTERM to each group,
// then SIGKILL after the grace period.
func (r *run) stopServices() {
	for i := len(r.services) - 1; i >= 0; i-- {
		s := r.services[i]
		pgid := s.cmd.Process.Pid
		select {
		case <-s.done:
		default:
			if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
				r.warn(fmt.Sprintf("stop service %q: %v", s.spec.Name, err))
			}
			// A stopped (SIGSTOP) service cannot act on SIGTERM until it runs.
			syscall.Kill(-pgid, syscall.SIGCONT)
			select {
			case <-s.done:
			case <-time.After(s.spec.Grace.D()):
				r.warn(fmt.Sprintf("service %q did not exit within %s of SIGTERM; killed", s.spec.Name, s.spec.Grace))
				syscall.Kill(-pgid, syscall.SIGKILL)
				select {
				case <-s.done:
				case <-time.After(10 * time.Second):
					r.warn(fmt.Sprintf("service %q (pid %d) is still not gone 10s after SIGKILL", s.spec.Name, pgid))
				}
			}
		}
		// Children left in the group die with it.
		syscall.Kill(-pgid, syscall.SIGKILL)
		if s.log != nil {
			s.log.Close()
		}
		status := "still running"
		r.mu.Lock()
		r.j.Services[s.idx].Stopped = time.Now()
		select {
		case <-s.done:
			// Wait has returned: ProcessState is set and no longer written.
			code := s.cmd.ProcessState.ExitCode()
			r.j.Services[s.idx].ExitCode = &code
			status = exitText(s.cmd)
		default:
		}
		r.mu.Unlock()
		r.emit(journal.Event{Type: "service.stopped", Message: fmt.Sprintf("%s stopped (%s)", s.spec.Name, status), Fields: map[string]string{"service": s.spec.Name}})
	}
	r.services = nil
}
