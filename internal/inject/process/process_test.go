package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/process"
	"github.com/gamedayhq/chaos/internal/proc"
)

func TestMain(m *testing.M) {
	if os.Getenv("CHAOS_PROCESS_TEST_SPIN") != "" {
		// A process whose threads are all busy, as a loaded server's are.
		for range runtime.GOMAXPROCS(0) + 1 {
			go func() {
				//lint:ignore SA5002 a busy thread is what the test needs
				for {
				}
			}()
		}
		// Bounded, should the test not kill it.
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// start starts a shell that waits, with marker in its command line, in a
// group of its own that is killed when the test ends.
func start(t *testing.T, marker string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 300; :", marker)
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.KillGroup(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	// The shell forks sleep: until the child has exec'd it, the child's
	// command line is the shell's, marker and all, and a resolve by
	// command line would find it too.
	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids, _ := os.ReadFile(children)
		if f := strings.Fields(string(kids)); len(f) > 0 {
			if comm, _ := os.ReadFile("/proc/" + f[0] + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no sleep started under the shell within 10s", marker)
		}
		time.Sleep(time.Millisecond)
	}
	return cmd
}

// resolve resolves process settings as a run does, after validating them.
func resolve(t *testing.T, env *inject.Env, s *process.Spec) ([]inject.Target, error) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", s, err)
	}
	k, ok := inject.LookupTarget("process")
	if !ok {
		t.Fatal("no process target kind")
	}
	return k.Resolve(context.Background(), env, s)
}

func cmdline(pattern string) experiment.Regexp {
	return experiment.Regexp{Regexp: regexp.MustCompile(pattern)}
}

func pids(ts []inject.Target) []int {
	var out []int
	for _, t := range ts {
		pid, _ := strconv.Atoi(t.ID)
		out = append(out, pid)
	}
	return out
}

func TestResolveByPID(t *testing.T) {
	marker := fmt.Sprintf("chaos-test-bypid-%d", os.Getpid())
	cmd := start(t, marker)
	got, err := resolve(t, nil, &process.Spec{PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != "process" || got[0].ID != strconv.Itoa(cmd.Process.Pid) || !strings.Contains(got[0].Name, marker) {
		t.Fatalf("Resolve(pid %d) = %+v; want that process, named by its command line", cmd.Process.Pid, got)
	}
}

func TestResolveByPIDFile(t *testing.T) {
	cmd := start(t, "chaos-test-pidfile")
	dir := t.TempDir()
	file := filepath.Join(dir, "app.pid")
	if err := os.WriteFile(file, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := resolve(t, nil, &process.Spec{PIDFile: experiment.Path(file)})
	if err != nil || len(got) != 1 || got[0].ID != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("Resolve(pid file) = %+v, %v; want pid %d", got, err, cmd.Process.Pid)
	}

	// A missing pid file matches nothing: the service is not running.
	got, err = resolve(t, nil, &process.Spec{PIDFile: experiment.Path(filepath.Join(dir, "missing.pid"))})
	if err != nil || len(got) != 0 {
		t.Errorf("Resolve(missing pid file) = %+v, %v; want no match", got, err)
	}

	bad := filepath.Join(dir, "bad.pid")
	for _, content := range []string{"not a pid", "-3", "0", ""} {
		os.WriteFile(bad, []byte(content), 0o644)
		_, err = resolve(t, nil, &process.Spec{PIDFile: experiment.Path(bad)})
		if err == nil || !strings.Contains(err.Error(), "not a pid") {
			t.Errorf("Resolve(pid file holding %q) = %v; want an error saying it is not a pid", content, err)
		}
	}
}

// A target whose pid file does not exist (the step meant to write it, as
// one that finds etcd's leader, failed to) was said to match nothing, no
// more; the error now names the missing file.
func TestSelectSaysThePIDFileIsMissing(t *testing.T) {
	k, _ := inject.LookupTarget("process")
	file := filepath.Join(t.TempDir(), "leader.pid")
	s := &process.Spec{PIDFile: experiment.Path(file)}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	_, _, err := inject.Select(context.Background(), &inject.Env{}, "leader", k, s)
	if err == nil || !strings.Contains(err.Error(), `target "leader" matches nothing: its pid file `+file+` does not exist`) {
		t.Errorf("Select = %v; want it to say that the pid file does not exist", err)
	}
	os.WriteFile(file, []byte(strconv.Itoa(os.Getpid()+1<<21)), 0o644) // surely no such process
	_, _, err = inject.Select(context.Background(), &inject.Env{}, "leader", k, s)
	if err == nil || strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Select = %v; want no word of a missing pid file once it exists", err)
	}
}

// A pid file's first line holds the pid, as the LSB convention has it;
// what follows is another program's business: PostgreSQL's postmaster.pid
// goes on with the data directory, the start time, the port, the socket
// directory and the state. Its postmaster is hit, not refused as "not a
// pid". Several pids on the first line are still refused: which one is
// meant is not for chaos to guess.
func TestResolveByPIDFileFirstLine(t *testing.T) {
	cmd := start(t, "chaos-test-pidfile-lines")
	dir := t.TempDir()
	file := filepath.Join(dir, "postmaster.pid")
	pid := strconv.Itoa(cmd.Process.Pid)
	if err := os.WriteFile(file, []byte(pid+"\n/var/lib/postgresql/15/main\n1796645760\n5432\n/var/run/postgresql\n127.0.0.1\n 10003798         6\nready   \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := resolve(t, nil, &process.Spec{PIDFile: experiment.Path(file)})
	if err != nil || len(got) != 1 || got[0].ID != pid {
		t.Fatalf("Resolve(postmaster.pid) = %+v, %v; want pid %s", got, err, pid)
	}

	for _, content := range []string{pid + " 4242\n", "\n" + pid + "\n"} {
		os.WriteFile(file, []byte(content), 0o600)
		if _, err := resolve(t, nil, &process.Spec{PIDFile: experiment.Path(file)}); err == nil || !strings.Contains(err.Error(), "not a pid") {
			t.Errorf("Resolve(pid file holding %q) = %v; want an error saying it is not a pid", content, err)
		}
	}
}

// A command-line pattern matches every process whose command line it
// matches, and nothing else.
func TestResolveByCmdline(t *testing.T) {
	marker := fmt.Sprintf("chaos-test-cmdline-%d", os.Getpid())
	a, b := start(t, marker+"-a"), start(t, marker+"-b")
	start(t, fmt.Sprintf("chaos-test-other-%d", os.Getpid()))
	got, err := resolve(t, nil, &process.Spec{Cmdline: cmdline(regexp.QuoteMeta(marker) + "-[ab]$")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{a.Process.Pid: true, b.Process.Pid: true}
	if len(got) != 2 || !want[pids(got)[0]] || !want[pids(got)[1]] {
		t.Errorf("Resolve(cmdline) = %v; want %d and %d", pids(got), a.Process.Pid, b.Process.Pid)
	}

	got, err = resolve(t, nil, &process.Spec{Cmdline: cmdline("chaos-test-matches-nothing-" + strconv.Itoa(os.Getpid()) + "$")})
	if err != nil || len(got) != 0 {
		t.Errorf("Resolve(cmdline matching nothing) = %v, %v; want nothing", pids(got), err)
	}
}

// A process that has exited but is not yet reaped (a zombie) is not a
// target, by pid or by command line.
func TestResolveSkipsZombies(t *testing.T) {
	marker := fmt.Sprintf("chaos-test-zombie-%d", os.Getpid())
	cmd := start(t, marker)
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not waited for: it stays a zombie until the cleanup reaps it.
	deadline := time.Now().Add(10 * time.Second)
	for st, _ := proc.State(pid); st != "Z"; st, _ = proc.State(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is in state %q 10s after SIGKILL; want a zombie", pid, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, err := resolve(t, nil, &process.Spec{PID: pid})
	if err != nil || len(got) != 0 {
		t.Errorf("Resolve(zombie pid) = %v, %v; want nothing", pids(got), err)
	}
	got, err = resolve(t, nil, &process.Spec{Cmdline: cmdline(regexp.QuoteMeta(marker))})
	if err != nil || len(got) != 0 {
		t.Errorf("Resolve(cmdline of a zombie) = %v, %v; want nothing", pids(got), err)
	}
}

// A pid that names no process matches nothing.
func TestResolveGonePID(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	got, err := resolve(t, nil, &process.Spec{PID: cmd.Process.Pid})
	if err != nil || len(got) != 0 {
		t.Errorf("Resolve(pid of a process gone) = %v, %v; want nothing", pids(got), err)
	}
}

// chaos never hits itself, the processes it runs under, pid 1, or the
// helpers the run protects: by pid or pid file that is an error, and a
// command-line pattern passes them over.
func TestResolveRefusesUntouchable(t *testing.T) {
	helper := start(t, "chaos-test-protected")
	env := inject.NewEnv(1, nil)
	env.Protected = map[int]string{helper.Process.Pid: "the watchdog of this run"}
	for _, tt := range []struct {
		pid  int
		what string
	}{
		{os.Getpid(), "chaos itself"},
		{os.Getppid(), "an ancestor of chaos"},
		{1, "init"},
		{helper.Process.Pid, "the watchdog of this run"},
	} {
		_, err := resolve(t, env, &process.Spec{PID: tt.pid})
		want := fmt.Sprintf("pid %d is %s", tt.pid, tt.what)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "never stops or kills it") {
			t.Errorf("Resolve(pid %d) = %v; want an error saying %q", tt.pid, err, want)
		}
		file := filepath.Join(t.TempDir(), "x.pid")
		os.WriteFile(file, []byte(strconv.Itoa(tt.pid)), 0o644)
		if _, err := resolve(t, env, &process.Spec{PIDFile: experiment.Path(file)}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(pid file naming %d) = %v; want an error saying %q", tt.pid, err, want)
		}
	}

	// The test binary's own command line, and the protected helper's, match
	// these patterns; neither is picked.
	self, _ := os.Executable()
	for _, pattern := range []string{regexp.QuoteMeta(filepath.Base(self)), "chaos-test-protected"} {
		got, err := resolve(t, env, &process.Spec{Cmdline: cmdline(pattern)})
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids(got) {
			if pid == os.Getpid() || pid == os.Getppid() || pid == helper.Process.Pid {
				t.Errorf("Resolve(cmdline %q) picked pid %d, which is untouchable", pattern, pid)
			}
		}
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tt := range []struct {
		spec process.Spec
		err  string
	}{
		{process.Spec{PID: 42}, ""},
		{process.Spec{PIDFile: "/run/app.pid"}, ""},
		{process.Spec{Cmdline: cmdline("app")}, ""},
		{process.Spec{}, "exactly one of pid, pid_file, cmdline"},
		{process.Spec{PID: 42, PIDFile: "/run/app.pid"}, "exactly one of pid, pid_file, cmdline"},
		{process.Spec{PID: 42, Cmdline: cmdline("app")}, "exactly one of pid, pid_file, cmdline"},
		{process.Spec{PID: -1}, "pid must be positive"},
		{process.Spec{PID: 42, Selection: experiment.Selection{Empty: "maybe"}}, `empty must be "fail" or "skip"`},
	} {
		err := tt.spec.Validate()
		if (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.spec, err, tt.err)
		}
	}
}

func TestKillValidate(t *testing.T) {
	for sig, ok := range map[string]bool{"SIGTERM": true, "SIGKILL": true, "SIGUSR1": true, "SIGSTOP": false, "SIGTSTP": false, "SIGTTIN": false, "SIGTTOU": false} {
		p := process.KillParams{Signal: experiment.MustSignal(sig)}
		if err := p.Validate(); (err == nil) != ok {
			t.Errorf("KillParams{%s}.Validate() = %v; want ok=%t", sig, err, ok)
		}
	}
	var p process.KillParams
	p.SetDefaults()
	if p.Signal.Name != "SIGTERM" {
		t.Errorf("kill's default signal is %s; want SIGTERM", p.Signal.Name)
	}
}

// waitState waits until pid's state is want.
func waitState(t *testing.T, pid int, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st, _ := proc.State(pid); st != want; st, _ = proc.State(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is in state %q; want %q", pid, st, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A signal fault hits the process it planned on, and no other: a pid
// planned on whose process has gone, and which names another process now,
// is left alone. The undo's identity stands for the process the pid named
// when the fault was planned.
func TestSignalChecksIdentity(t *testing.T) {
	env := inject.NewEnv(1, nil)
	cmd := start(t, "chaos-test-identity")
	pid := cmd.Process.Pid
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sh"}

	stop := &process.StopParams{}
	u := stopped(t, env, tg)
	if err := inject.Revert(context.Background(), env, u); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, "S")

	kill := &process.KillParams{Signal: experiment.MustSignal("SIGKILL")}
	ku, err := kill.Plan(context.Background(), env, tg)
	if err != nil {
		t.Fatal(err)
	}
	// The process planned on had the pid, with another start time.
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	id.Start++
	other, _ := json.Marshal(id)
	u.Data, ku.Data = other, other

	if _, err := stop.Inject(context.Background(), env, tg, u); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("stop of a pid that names another process now = %v; want a refusal", err)
	}
	if _, err := kill.Inject(context.Background(), env, tg, ku); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("kill of a pid that names another process now = %v; want a refusal", err)
	}
	if st, err := proc.State(pid); err != nil || st != "S" {
		t.Errorf("the process that has the pid now is in state %q (%v); want it untouched, sleeping", st, err)
	}
}

// A stopped process that something else continued before the revert: the
// revert says the fault ended early, so that the run does not count what
// it saw meanwhile as the system coping with a frozen process.
func TestStopContinuedBySomeoneElse(t *testing.T) {
	env := inject.NewEnv(1, nil)
	cmd := start(t, "chaos-test-continued")
	pid := cmd.Process.Pid
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sh"}
	u := stopped(t, env, tg)
	if ended, err := inject.RevertEarly(context.Background(), env, u); err != nil || ended != (inject.Ended{}) {
		t.Fatalf("revert of a stopped process = %q, %v; want neither", ended, err)
	}
	u = stopped(t, env, tg)
	syscall.Kill(pid, syscall.SIGCONT)
	waitState(t, pid, "S")
	ended, err := inject.RevertEarly(context.Background(), env, u)
	if err != nil || !strings.Contains(ended.Early, "was running again before the revert") {
		t.Errorf("revert of a process continued by someone else = %q, %v; want it to say so", ended.Early, err)
	}
}

// A process stopped already (by someone else) is refused: the revert's
// SIGCONT would end that stop too.
func TestStopRefusesAStoppedProcess(t *testing.T) {
	env := inject.NewEnv(1, nil)
	cmd := start(t, "chaos-test-stopped-already")
	pid := cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP)
	waitState(t, pid, "T")
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sh"}
	if _, err := (&process.StopParams{}).Plan(context.Background(), env, tg); err == nil || !strings.Contains(err.Error(), "stopped already") {
		t.Errorf("stop of a stopped process plans with %v; want a refusal", err)
	}
	syscall.Kill(pid, syscall.SIGCONT)
}

// stopped plans and injects a stop fault on the process tg, waits until it
// is stopped, and returns the fault's undo.
func stopped(t *testing.T, env *inject.Env, tg inject.Target) inject.Undo {
	t.Helper()
	stop := &process.StopParams{}
	u, err := stop.Plan(context.Background(), env, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stop.Inject(context.Background(), env, tg, u); err != nil {
		t.Fatalf("stop of the process planned on: %v", err)
	}
	pid, _ := strconv.Atoi(tg.ID)
	waitState(t, pid, "T")
	return u
}

// A stop fault is in effect once it is injected: SIGSTOP stops a process
// only once each of its threads has been scheduled to see it, and on a
// busy machine a server's other threads went on answering meanwhile, so
// that a probe right after the injection passed (and the revert took the
// process for continued by someone else).
func TestStopInEffectOnceInjected(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "CHAOS_PROCESS_TEST_SPIN=1")
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.KillGroup(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		if len(tasks) > 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has %d threads after 10s; want its busy ones", pid, len(tasks))
		}
		time.Sleep(10 * time.Millisecond)
	}
	env := inject.NewEnv(1, nil)
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "spin"}
	stop := &process.StopParams{}
	for i := range 20 {
		u, err := stop.Plan(context.Background(), env, tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stop.Inject(context.Background(), env, tg, u); err != nil {
			t.Fatal(err)
		}
		if ok, st := proc.AllStopped(pid); !ok {
			t.Fatalf("stop %d: a thread of the process is in state %s once the stop is injected; want every one stopped", i+1, st)
		}
		if ended, err := inject.RevertEarly(context.Background(), env, u); err != nil || ended != (inject.Ended{}) {
			t.Fatalf("stop %d: revert = %q, %v; want neither", i+1, ended, err)
		}
		// Continued: its first thread, which Plan looks at, is no
		// longer stopped.
		deadline := time.Now().Add(10 * time.Second)
		for st, _ := proc.State(pid); st == "T"; st, _ = proc.State(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("stop %d: process %d still stopped 10s after the revert", i+1, pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// A stopped process that ended before the revert (a supervisor or
// watchdog killed the frozen process, and may have started another in its
// place, with a pid file rewritten): the stop did not last, and the
// revert says so, whether the process is reaped already or a zombie still,
// so that the run does not count what it saw meanwhile (a replacement
// serving) as the system coping with a frozen process; it says when the
// process ended.
func TestStopOfAProcessThatEnded(t *testing.T) {
	for _, reap := range []bool{true, false} {
		t.Run(fmt.Sprintf("reaped=%t", reap), func(t *testing.T) {
			env := inject.NewEnv(1, nil)
			cmd := start(t, "chaos-test-stop-ended")
			pid := cmd.Process.Pid
			tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sh"}
			u := stopped(t, env, tg)
			proc.KillGroup(pid, syscall.SIGKILL)
			if reap {
				cmd.Wait()
			} else {
				waitState(t, pid, "Z")
			}
			// The run watches the stopped process, and says when it
			// ended.
			time.Sleep(300 * time.Millisecond)
			ended, err := inject.RevertEarly(context.Background(), env, u)
			if err != nil || !strings.Contains(ended.Early, "ended before the revert, at ") || !strings.Contains(ended.Early, "the stop did not last") {
				t.Errorf("revert of a stopped process that ended = %+v, %v; want it to say the stop did not last, and when it ended", ended, err)
			}
		})
	}
}
