package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/process"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/probe"
	"github.com/gamedayhq/chaos/internal/proc"
)

// service is a process the experiment started.
type service struct {
	spec     *experiment.Service
	cmd      *exec.Cmd
	leader   proc.ID // the process chaos started, which leads its group
	log      *os.File
	tail     *tail
	done     chan struct{} // closed once the process has exited and been reaped
	idx      int
	ledgerID int
	// stopping says chaos is stopping the service: its exit is expected.
	stopping atomic.Bool

	mu     sync.Mutex
	ready  bool      // ready, or started without a ready check
	gone   bool      // exited
	exited time.Time // when it exited
}

// markReady records that the service is up, unless it has exited already:
// a ready check passes only while the process chaos started is alive.
func (s *service) markReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return false
	}
	s.ready = true
	return true
}

// tail keeps the last lines a service wrote, for error messages; or reads
// them from the end of its log file.
type tail struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
	file  string
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
	if t.file != "" {
		return fileTail(t.file)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := bytes.Join(t.lines, []byte(" | "))
	if len(t.part) > 0 {
		out = append(out, []byte(" | ")...)
		out = append(out, t.part...)
	}
	return strings.TrimPrefix(string(out), " | ")
}

// fileTail returns the last lines of a log file, as tail.String does.
func fileTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const most = 8 << 10
	cut := false
	if fi, err := f.Stat(); err == nil && fi.Size() > most {
		_, err := f.Seek(-most, io.SeekEnd)
		cut = err == nil
	}
	b, _ := io.ReadAll(f)
	if i := bytes.IndexByte(b, '\n'); cut && i >= 0 {
		// The line the seek fell in is left out: cut in part, a secret
		// in it would not be masked.
		b = b[i+1:]
	}
	var t tail
	t.Write(b)
	return t.String()
}

// startServices starts the declared services in order and waits for each to
// be ready. It reports whether all are.
func (r *run) startServices(ctx context.Context) bool {
	for _, spec := range r.exp.Services {
		if ctx.Err() != nil {
			return false
		}
		if err := r.checkReadyNotTarget(spec); err != nil {
			r.fail(err)
			return false
		}
		if err := checkReadyAddressFree(spec, r.services); err != nil {
			r.fail(err)
			return false
		}
		s, err := r.startService(spec)
		if err != nil {
			r.fail(err)
			return false
		}
		if spec.Ready == nil {
			s.markReady()
			continue
		}
		if !r.waitReady(ctx, s) {
			return false
		}
	}
	return true
}

// shimEnv makes a binary that links this package the service shim (see
// execService); its value is the service's command.
const shimEnv = "CHAOS_SERVICE_EXEC"

func init() {
	if path, ok := os.LookupEnv(shimEnv); ok {
		execService(path)
	}
}

// execService is how a service starts: as chaos itself, in the service's
// directory, environment and process group, with the service's arguments.
// It waits on fd 3 until the run has recorded the service in its ledger,
// and only then becomes the service's command in place: same pid, same
// start time, same group, which is what the ledger recorded. So no service
// runs that the ledger, the watchdog and chaos recover do not know of, even
// when chaos is killed in between; the shim then reads end-of-file and
// exits without running it.
func execService(path string) {
	os.Unsetenv(shimEnv)
	goAhead := os.NewFile(3, "go-ahead")
	var b [1]byte
	if n, _ := goAhead.Read(b[:]); n != 1 {
		os.Exit(125)
	}
	goAhead.Close()
	err := syscall.Exec(path, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "chaos: start service: %v\n", err)
	os.Exit(127)
}

func (r *run) startService(spec *experiment.Service) (*service, error) {
	// The command is looked up as exec.Command would, here, so that a
	// missing one is an error before anything starts.
	bin := exec.Command(spec.Run[0])
	if bin.Err != nil {
		return nil, fmt.Errorf("start service %q: %w", spec.Name, bin.Err)
	}
	s := &service{spec: spec, tail: &tail{}, done: make(chan struct{})}
	// The service writes its log file itself, so that it does not depend
	// on chaos being there to read a pipe: a service whose chaos was
	// killed does not die of SIGPIPE at its next line, but waits to be
	// stopped by the watchdog, and what it writes meanwhile is kept.
	var out io.Writer = s.tail
	logPath := ""
	if r.opts.ReportDir != "" {
		logPath = filepath.Join(r.opts.ReportDir, "services", spec.Name+".log")
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err == nil {
			if f, err := os.Create(logPath); err == nil {
				s.log, out = f, f
				s.tail.file = logPath
			}
		}
	}
	closeLog := func() {
		if s.log != nil {
			s.log.Close()
		}
	}
	goRead, goWrite, err := os.Pipe()
	if err != nil {
		closeLog()
		return nil, fmt.Errorf("start service %q: %w", spec.Name, err)
	}
	defer goWrite.Close()
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: spec.Run, Dir: string(spec.Dir), ExtraFiles: []*os.File{goRead}}
	cmd.Env = append(os.Environ(), shimEnv+"="+bin.Path)
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that left the group could hold the output pipe open for ever:
	// once the service exits, its output is cut off after this long.
	cmd.WaitDelay = 2 * time.Second
	// A group of its own: Ctrl-C in the terminal reaches chaos only, which
	// reverts the faults first and then stops the services in order.
	proc.OwnGroup(cmd)
	err = cmd.Start()
	goRead.Close()
	if err != nil {
		closeLog()
		return nil, fmt.Errorf("start service %q: %w", spec.Name, err)
	}
	pid := cmd.Process.Pid
	target := inject.Target{Kind: "service", ID: strconv.Itoa(pid), Name: spec.Name}
	s.leader, err = proc.Identify(pid)
	if err == nil {
		s.ledgerID, err = r.led.Add(ledger.KindService, spec.Name, "", process.GroupUndo(target, s.leader, spec.Grace.D()))
	}
	if err != nil {
		// The shim reads end-of-file and exits: the service never ran.
		goWrite.Close()
		cmd.Wait()
		closeLog()
		return nil, fmt.Errorf("start service %q: the ledger could not record it, so it was not run: %w", spec.Name, err)
	}
	if _, err := goWrite.Write([]byte{1}); err != nil {
		cmd.Wait()
		closeLog()
		return nil, fmt.Errorf("start service %q: %w", spec.Name, err)
	}
	s.cmd = cmd
	// Recorded before its exit can be: serviceExited writes to its record.
	r.services = append(r.services, s)
	r.rec.record(journal.Event{Type: journal.ServiceStarted, Message: fmt.Sprintf("%s started, pid %d", spec.Name, pid), Service: spec.Name, PID: pid}, func(j *journal.Journal) {
		s.idx = len(j.Services)
		j.Services = append(j.Services, journal.Service{Name: spec.Name, Run: spec.Run, PID: pid, Started: time.Now(), Log: relLog(r.opts.ReportDir, logPath)})
	})
	r.goSafe(func() {
		cmd.Wait()
		s.mu.Lock()
		s.gone, s.exited = true, time.Now()
		s.mu.Unlock()
		close(s.done)
		r.serviceExited(s)
	})
	return s, nil
}

// serviceExited tells at once that a service exited without chaos stopping
// it. Once the service was up, that makes the run an error, and ends its
// method early, unless the file says the service may exit.
func (r *run) serviceExited(s *service) {
	if s.stopping.Load() {
		return
	}
	s.mu.Lock()
	wasReady, at := s.ready, s.exited
	s.mu.Unlock()
	status := exitText(s.cmd)
	code, sig := exitStatus(s.cmd)
	out := orNone(s.tail.String())
	r.rec.record(journal.Event{Type: journal.ServiceExited, Time: at,
		Message: fmt.Sprintf("%s (pid %d) exited with %s; its last output: %s", s.spec.Name, s.cmd.Process.Pid, status, out),
		Service: s.spec.Name, PID: s.cmd.Process.Pid, Status: status}, func(j *journal.Journal) {
		j.Services[s.idx].Exited = at
		j.Services[s.idx].ExitCode, j.Services[s.idx].Signal = code, sig
	})
	if !wasReady || s.spec.MayExit {
		return // before it was ready, waitReady tells
	}
	// A server whose process exits 0 once its ready check passed (nginx
	// binds its ports, then forks and exits) has gone to the background:
	// may_exit would let the run go on without it in reach.
	if hint := daemonHint(s); hint != "" {
		r.fail(fmt.Errorf("service %q exited with %s while the run was in progress%s; its last output: %s", s.spec.Name, status, hint, out))
	} else {
		r.fail(fmt.Errorf("service %q exited with %s while the run was in progress; its last output: %s (if it is meant to exit, set may_exit: true on the service)", s.spec.Name, status, out))
	}
	r.halt()
}

// checkReadyNotTarget refuses a service whose ready check connects to the
// listen address of a target started before the services (the run's own
// proxy): the proxy would answer it, whether or not the service is up.
func (r *run) checkReadyNotTarget(spec *experiment.Service) error {
	addr := readyAddress(spec.Ready)
	if addr == "" {
		return nil
	}
	for _, t := range r.exp.Targets {
		kind, ok := inject.LookupTarget(t.Kind)
		if !ok || kind.Listens == nil {
			continue
		}
		if listen := kind.Listens(t.Spec); listen != "" && sameAddress(listen, addr) {
			return fmt.Errorf("service %q: its ready address %s is where %s target %q listens, which the run starts before the services: the proxy would answer the ready check, not the service; check the service on its own address", spec.Name, addr, t.Kind, t.Name)
		}
	}
	return nil
}

// sameAddress reports whether two host:port addresses are the same, with
// localhost as 127.0.0.1.
func sameAddress(a, b string) bool {
	norm := func(s string) string {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return s
		}
		if h == "localhost" {
			h = "127.0.0.1"
		}
		return net.JoinHostPort(h, p)
	}
	return norm(a) == norm(b)
}

// checkReadyAddressFree refuses to start a service whose ready check
// connects to an address that already answers: the check would pass
// against that process (such as the service of an earlier run that was
// killed, or one this run started before it), and the run would judge the
// wrong process.
func checkReadyAddressFree(spec *experiment.Service, started []*service) error {
	addr := readyAddress(spec.Ready)
	if addr == "" {
		return nil
	}
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return nil
	}
	conn.Close()
	holder := ""
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ := strconv.Atoi(p)
		if pid, cmd, ok := proc.Listener(port); ok && pid > 0 {
			if s := serviceOf(pid, started); s != nil {
				return fmt.Errorf("service %q: its ready address %s is that of service %q, which this run started before it (pid %d: %s), so its ready check would pass against %q: point it at an address of %q's own", spec.Name, addr, s.spec.Name, pid, cmd, s.spec.Name, spec.Name)
			}
			holder = fmt.Sprintf(" (pid %d: %s)", pid, cmd)
		}
	}
	return fmt.Errorf("service %q: its ready address %s already answers before the service is started%s, so its ready check would pass against that process: stop it (chaos recover stops the services of a run that was killed) or use another port", spec.Name, addr, holder)
}

// serviceOf returns the service among started whose process is pid or one
// of its ancestors, or nil.
func serviceOf(pid int, started []*service) *service {
	for seen := 0; pid > 1 && seen < 64; seen++ {
		for _, s := range started {
			if s.cmd != nil && s.cmd.Process != nil && s.cmd.Process.Pid == pid {
				return s
			}
		}
		pid = proc.Parent(pid)
	}
	return nil
}

// readyAddress is the address a tcp or http ready check connects to.
func readyAddress(ready *experiment.Ready) string {
	if ready == nil {
		return ""
	}
	switch spec := ready.Probe.Spec.(type) {
	case *probe.TCPSpec:
		return spec.Address
	case *probe.HTTPSpec:
		u, err := url.Parse(spec.URL)
		if err != nil || u.Hostname() == "" {
			return ""
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return net.JoinHostPort(u.Hostname(), port)
	}
	return ""
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
		if spec, err := r.expandOutputs(ready.Probe.Spec); err != nil {
			last = probe.Failf(nil, "%v", err)
		} else {
			last = probe.Run(attempt, ready.Probe.Kind, spec, nil)
		}
		cancel()
		if last.OK && !s.markReady() {
			r.fail(fmt.Errorf("service %q exited with %s before it was ready, though its ready check passed: something else answers there%s; its last output: %s", s.spec.Name, exitText(s.cmd), daemonHint(s), orNone(s.tail.String())))
			return false
		}
		if last.OK {
			r.rec.record(journal.Event{Type: journal.ServiceReady, Message: s.spec.Name + " ready", Service: s.spec.Name}, func(j *journal.Journal) {
				j.Services[s.idx].Ready = time.Now()
			})
			return true
		}
		select {
		case <-s.done:
			r.fail(fmt.Errorf("service %q exited with %s before it was ready%s; its last output: %s", s.spec.Name, exitText(s.cmd), daemonHint(s), orNone(s.tail.String())))
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

// daemonHint says, of a service that exited with 0 before it was ready,
// that it may have gone to the background, as a server does unless told
// otherwise (nginx without daemon off): in a session of its own, out of
// the run's reach, it is neither watched nor stopped. When its ready
// address answers now, it names the process that holds it, left running.
func daemonHint(s *service) string {
	if code, _ := exitStatus(s.cmd); code == nil || *code != 0 {
		return ""
	}
	hint := "; a server that exits with 0 as it starts has most likely gone to the background (a daemon), out of the run's reach: the run can neither watch it nor stop it; run it in the foreground (nginx: -g 'daemon off;')"
	addr := readyAddress(s.spec.Ready)
	if addr == "" {
		return hint
	}
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return hint
	}
	conn.Close()
	holder := ""
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ := strconv.Atoi(p)
		if pid, cmd, ok := proc.Listener(port); ok && pid > 0 {
			holder = fmt.Sprintf(" (pid %d: %s)", pid, cmd)
		}
	}
	return hint + fmt.Sprintf("; its ready address %s answers now%s: that process is left running", addr, holder)
}

// leftBehind says, of a service whose group is gone, that a process
// started after it still holds its ready address: one it put in the
// background (in a session of its own, out of its group's reach), left
// running after the run. A process that held the address from before
// the service started (another service's, checked on purpose) is not
// counted.
func leftBehind(s *service) string {
	addr := readyAddress(s.spec.Ready)
	if addr == "" {
		return ""
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, _ := strconv.Atoi(p)
	pid, cmd, ok := proc.Listener(port)
	if !ok || pid <= 0 {
		return ""
	}
	if start, err := proc.StartTime(pid); err != nil || start < s.leader.Start {
		return ""
	}
	return fmt.Sprintf("service %q is stopped, but its ready address %s is held by pid %d (%s), started after it and out of its process group: a process it put in the background is left running; stop it by hand (kill %d), and run the service in the foreground", s.spec.Name, addr, pid, cmd, pid)
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
	if _, sig := exitStatus(cmd); sig != "" {
		return "signal " + sig
	}
	return fmt.Sprintf("exit code %d", cmd.ProcessState.ExitCode())
}

// exitStatus is how a process that Wait returned for ended: its exit code,
// or the name of the signal that ended it ("SIGTERM").
func exitStatus(cmd *exec.Cmd) (code *int, signal string) {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		if sig, err := experiment.ParseSignal(strconv.Itoa(int(ws.Signal()))); err == nil {
			return nil, sig.Name
		}
		return nil, ws.Signal().String()
	}
	c := cmd.ProcessState.ExitCode()
	return &c, ""
}

// maskLog masks the secrets in a stopped service's log file, which the
// service wrote itself: the report directory is shared, and the HTML
// report shows the log. A log that cannot be masked is removed.
func (r *run) maskLog(s *service) {
	path := s.tail.file
	if path == "" || r.rec.mask.Empty() {
		return
	}
	err := func() error {
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return err
		}
		err = r.rec.mask.Copy(out, in)
		if err == nil {
			err = out.Chmod(0o644)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(out.Name(), path)
		}
		if err != nil {
			os.Remove(out.Name())
		}
		return err
	}()
	if err != nil {
		os.Remove(path)
		r.warn(fmt.Sprintf("service %q: its log could not be masked, and was removed: %v", s.spec.Name, err))
	}
}

// stopServices stops the services in reverse order: SIGTERM to each group,
// then SIGKILL after the grace period. Each is marked stopped in the ledger
// once its group is gone.
func (r *run) stopServices() {
	for i := len(r.services) - 1; i >= 0; i-- {
		s := r.services[i]
		s.stopping.Store(true)
		how, err := proc.StopGroup(context.Background(), s.leader, s.spec.Grace.D(), s.done)
		if how == proc.Killed {
			r.warn(fmt.Sprintf("service %q did not exit within %s of SIGTERM; killed", s.spec.Name, s.spec.Grace))
		}
		switch {
		case errors.Is(err, proc.ErrNotGone):
			r.warn(fmt.Sprintf("service %q (pid %d) is still not gone 10s after SIGKILL", s.spec.Name, s.leader.PID))
			err = errors.New("still running 10s after SIGKILL")
		case err != nil:
			r.warn(fmt.Sprintf("stop service %q: %v", s.spec.Name, err))
		}
		if err == nil {
			if left := leftBehind(s); left != "" {
				r.warn(left)
			}
		}
		if s.log != nil {
			s.log.Close()
			r.maskLog(s)
		}
		ended, stoppedAt := "(still running)", time.Now()
		var code *int
		var sig string
		select {
		case <-s.done:
			// Wait has returned: ProcessState is set and no longer written.
			code, sig = exitStatus(s.cmd)
			ended = "by " + sig
			if code != nil {
				ended = fmt.Sprintf("(exit code %d)", *code)
			}
		default:
		}
		if err == nil {
			r.mark(s.ledgerID, ledger.Done, nil, fmt.Sprintf("service %q", s.spec.Name))
		} else {
			r.mark(s.ledgerID, ledger.Failed, err, fmt.Sprintf("service %q", s.spec.Name))
		}
		msg := fmt.Sprintf("%s stopped %s", s.spec.Name, ended)
		if how == proc.WasGone || how == proc.Reused {
			// It exited during the run (a kill fault, may_exit): chaos
			// did not stop it now.
			msg = fmt.Sprintf("%s had already exited %s", s.spec.Name, ended)
		}
		r.rec.record(journal.Event{Type: journal.ServiceStopped, Message: msg, Service: s.spec.Name}, func(j *journal.Journal) {
			j.Services[s.idx].Stopped = stoppedAt
			if code != nil || sig != "" {
				j.Services[s.idx].ExitCode, j.Services[s.idx].Signal = code, sig
			}
		})
	}
	r.services = nil
}
