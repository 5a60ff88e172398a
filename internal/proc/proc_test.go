package proc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/proc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// child is a process the test started in a group of its own; the group is
// killed and the leader reaped when the test ends.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the leader is reaped
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// startGroup starts sh -c script as the leader of a new group, with marker
// as its $0, and reaps it when it exits.
func startGroup(t *testing.T, script, marker string) *child {
	t.Helper()
	cmd := exec.Command("sh", "-c", script, marker)
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	})
	return c
}

// startZombie starts a process and kills it without reaping it: it stays a
// zombie until the test ends.
func startZombie(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("process %d is a zombie", pid), func() bool {
		st, _ := proc.State(pid)
		return st == "Z"
	})
	return pid
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not so after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// members lists the processes of group pgid that have not exited.
func members(pgid int) []int {
	var out []int
	for _, pid := range proc.PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && !proc.Gone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// An ID names its process for as long as it runs, and reads the same each
// time; its parent, command line and state are those of the child.
func TestIdentify(t *testing.T) {
	marker := fmt.Sprintf("chaos-proc-test-%d", os.Getpid())
	c := startGroup(t, "sleep 300; :", marker)
	id, err := proc.Identify(c.pid())
	if err != nil {
		t.Fatal(err)
	}
	if id.PID != c.pid() || id.Start == 0 {
		t.Fatalf("Identify(%d) = %+v", c.pid(), id)
	}
	if again, err := proc.Identify(c.pid()); err != nil || again != id {
		t.Errorf("Identify(%d) again = %+v, %v; want %+v", c.pid(), again, err, id)
	}
	if !id.Alive() || id.Reused() || proc.Gone(c.pid()) {
		t.Errorf("a running child: Alive %t, Reused %t, Gone %t; want alive", id.Alive(), id.Reused(), proc.Gone(c.pid()))
	}
	if got := proc.Parent(c.pid()); got != os.Getpid() {
		t.Errorf("Parent(child) = %d; want %d", got, os.Getpid())
	}
	if got, ok := proc.Cmdline(c.pid()); !ok || got != "sh -c sleep 300; : "+marker {
		t.Errorf("Cmdline(child) = %q, %t", got, ok)
	}
	eventually(t, 10*time.Second, "the child sleeps", func() bool { st, _ := proc.State(c.pid()); return st == "S" })
	if !slices.Contains(proc.PIDs(), c.pid()) || !slices.Contains(proc.PIDs(), os.Getpid()) {
		t.Error("PIDs() lacks the child or this process")
	}

	// The start time in ticks since boot is no later than now.
	self, err := proc.Identify(os.Getpid())
	if err != nil || self.Start > id.Start {
		t.Errorf("Identify(self) = %+v, %v; want a start no later than the child's %d", self, err, id.Start)
	}
}

// A pid whose start time differs names another process: the one pinned is
// gone, whatever now runs under its pid.
func TestReusedPID(t *testing.T) {
	c := startGroup(t, "sleep 300; :", "chaos-proc-test-reused")
	id, err := proc.Identify(c.pid())
	if err != nil {
		t.Fatal(err)
	}
	// The same pid with another start time is how a reused pid looks.
	old := proc.ID{PID: id.PID, Start: id.Start - 1}
	if old.Alive() || !old.Reused() {
		t.Errorf("ID with an older start time: Alive %t, Reused %t; want gone and reused", old.Alive(), old.Reused())
	}
	// Stopping the group of a leader whose pid was reused signals nothing.
	how, err := proc.StopGroup(context.Background(), old, time.Second, nil)
	if err != nil || how != proc.Reused {
		t.Errorf("StopGroup(reused pid) = %v, %v; want Reused", how, err)
	}
	if !id.Alive() {
		t.Fatal("StopGroup of a reused pid signalled the process that has it now")
	}
}

// A process that exited is not alive, whether reaped (gone) or not (a
// zombie, which keeps its pid and start time until its parent waits).
func TestDeadAndZombie(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := proc.ID{PID: cmd.Process.Pid, Start: 1}
	if dead.Alive() || !proc.Gone(dead.PID) {
		t.Errorf("a reaped process: Alive %t, Gone %t; want gone", dead.Alive(), proc.Gone(dead.PID))
	}
	if _, err := proc.Identify(dead.PID); err == nil {
		t.Errorf("Identify(reaped pid %d) succeeded", dead.PID)
	}
	if _, err := proc.State(dead.PID); err == nil {
		t.Errorf("State(reaped pid %d) succeeded", dead.PID)
	}

	pid := startZombie(t)
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatalf("Identify(zombie): %v; want its start time, which it keeps", err)
	}
	if id.Alive() || !proc.Gone(pid) || id.Reused() {
		t.Errorf("a zombie: Alive %t, Gone %t, Reused %t; want gone, not reused", id.Alive(), proc.Gone(pid), id.Reused())
	}
	if _, ok := proc.Cmdline(pid); ok {
		t.Error("Cmdline(zombie) has a command line")
	}
}

// A group whose members all ignore SIGTERM is killed after its grace
// period, and not before.
func TestStopGroupKillsAfterGrace(t *testing.T) {
	c := startGroup(t, `trap "" TERM; sleep 300 & sleep 301; :`, "chaos-proc-test-ignore")
	eventually(t, 10*time.Second, "the group has its three members", func() bool { return len(members(c.pid())) == 3 })
	id, err := proc.Identify(c.pid())
	if err != nil {
		t.Fatal(err)
	}
	const grace = 500 * time.Millisecond
	start := time.Now()
	how, err := proc.StopGroup(context.Background(), id, grace, nil)
	took := time.Since(start)
	if err != nil || how != proc.Killed {
		t.Fatalf("StopGroup(members ignore TERM) = %v, %v; want Killed", how, err)
	}
	if took < grace {
		t.Errorf("StopGroup took %s; want SIGKILL only after the grace of %s", took, grace)
	}
	if m := members(c.pid()); len(m) > 0 {
		t.Errorf("members %v of the group are still running after StopGroup", m)
	}
}

// A leader that exits on SIGTERM ends the stop; a child of it that ignores
// SIGTERM and outlives it is killed with the group. The parent's channel
// tells when its child exited, so that it has the exit status when
// StopGroup returns.
func TestStopGroupLeaderExits(t *testing.T) {
	for _, reaped := range []bool{false, true} {
		t.Run(fmt.Sprintf("exited channel %t", reaped), func(t *testing.T) {
			c := startGroup(t, `(trap "" TERM; exec sleep 300) & wait`, "chaos-proc-test-leader")
			eventually(t, 10*time.Second, "the group has its two members", func() bool { return len(members(c.pid())) == 2 })
			id, err := proc.Identify(c.pid())
			if err != nil {
				t.Fatal(err)
			}
			var exited <-chan struct{}
			if reaped {
				exited = c.done
			}
			start := time.Now()
			how, err := proc.StopGroup(context.Background(), id, time.Minute, exited)
			if err != nil || how != proc.Exited {
				t.Fatalf("StopGroup = %v, %v; want Exited", how, err)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("StopGroup took %s; want it to end when the leader exits, not at its grace", took)
			}
			if reaped {
				select {
				case <-c.done:
				default:
					t.Error("StopGroup returned before the leader was reaped")
				}
				if ws := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
					t.Errorf("leader ended with %v; want SIGTERM", c.cmd.ProcessState)
				}
			}
			eventually(t, 10*time.Second, "the child that ignores SIGTERM is gone", func() bool { return len(members(c.pid())) == 0 })
		})
	}
}

// A stopped (SIGSTOP) group acts on SIGTERM: StopGroup continues it.
func TestStopGroupStopped(t *testing.T) {
	c := startGroup(t, "sleep 300; :", "chaos-proc-test-stopped")
	id, _ := proc.Identify(c.pid())
	proc.KillGroup(c.pid(), syscall.SIGSTOP)
	eventually(t, 10*time.Second, "the leader is stopped", func() bool { st, _ := proc.State(c.pid()); return st == "T" })
	how, err := proc.StopGroup(context.Background(), id, time.Minute, c.done)
	if err != nil || how != proc.Exited {
		t.Errorf("StopGroup(stopped group) = %v, %v; want Exited on SIGTERM", how, err)
	}
}

// A context that ends cuts the grace period short.
func TestStopGroupContext(t *testing.T) {
	c := startGroup(t, `trap "" TERM; sleep 300; :`, "chaos-proc-test-ctx")
	eventually(t, 10*time.Second, "the shell ignores SIGTERM and waits", func() bool { return len(members(c.pid())) == 2 })
	id, _ := proc.Identify(c.pid())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	how, err := proc.StopGroup(ctx, id, time.Hour, nil)
	if err != nil || how != proc.Killed {
		t.Errorf("StopGroup(ctx ends) = %v, %v; want Killed", how, err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("StopGroup took %s with a context of 200ms", took)
	}
}

// A leader that exited before (a zombie here) is gone: the members that
// outlived it are killed.
func TestStopGroupLeaderGone(t *testing.T) {
	c := startGroup(t, `(trap "" TERM; exec sleep 300) & sleep 300; :`, "chaos-proc-test-gone")
	eventually(t, 10*time.Second, "the group has its three members", func() bool { return len(members(c.pid())) == 3 })
	id, _ := proc.Identify(c.pid())
	syscall.Kill(c.pid(), syscall.SIGKILL)
	<-c.done
	how, err := proc.StopGroup(context.Background(), id, time.Minute, nil)
	if err != nil || how != proc.WasGone {
		t.Errorf("StopGroup(leader gone) = %v, %v; want WasGone", how, err)
	}
	eventually(t, 10*time.Second, "the members that outlived the leader are gone", func() bool { return len(members(c.pid())) == 0 })
}

// A command of exec.CommandContext in its own group is killed with its
// children when the context ends.
func TestOwnGroupCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "sleep 300 & sleep 300; :")
	proc.OwnGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	cmd.Wait()
	eventually(t, 10*time.Second, "the group is gone", func() bool { return len(members(pgid)) == 0 })
}

// Once Wait has reaped the leader, the cancel of a command in its own
// group signals nothing: the group's id may lead a stranger's group by
// then. exec calls it when the context ends as Wait reaps the leader.
func TestOwnGroupCancelAfterWait(t *testing.T) {
	cmd := exec.CommandContext(context.Background(), "true")
	proc.OwnGroup(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Cancel(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Cancel after Wait = %v; want %v, and no group signalled", err, os.ErrProcessDone)
	}
}

func TestKillGroup(t *testing.T) {
	for _, pgid := range []int{-5, 0, 1} {
		if err := proc.KillGroup(pgid, 0); err == nil {
			t.Errorf("KillGroup(%d) = nil; want it refused", pgid)
		}
	}
	// A record without a pid stops nothing: kill(0) would signal chaos's
	// own group, and kill(-1) every process it may signal.
	for _, pid := range []int{0, -1} {
		if how, err := proc.StopGroup(context.Background(), proc.ID{PID: pid}, time.Second, nil); how != proc.WasGone || err != nil {
			t.Errorf("StopGroup(pid %d) = %v, %v; want WasGone, with nothing signalled", pid, how, err)
		}
	}
	cmd := exec.Command("true")
	cmd.Run()
	if err := proc.KillGroup(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Errorf("KillGroup(a group gone) = %v; want nil", err)
	}
}

func TestInCgroup(t *testing.T) {
	paths, err := cgroup.Paths(os.Getpid())
	if err != nil || len(paths) == 0 {
		t.Fatalf("Paths(self) = %v, %v", paths, err)
	}
	mine := paths[0]
	for _, p := range paths {
		if len(p) > len(mine) {
			mine = p
		}
	}
	for _, tt := range []struct {
		name string
		want bool
	}{
		{mine, true},
		{filepath.Base(mine), true},
		{"chaos-no-such-cgroup-0123456789abcdef", false},
		{"", false},
	} {
		if got, err := proc.InCgroup(os.Getpid(), tt.name); err != nil || got != tt.want {
			t.Errorf("InCgroup(self, %q) = %t, %v; want %t", tt.name, got, err, tt.want)
		}
	}
	cmd := exec.Command("true")
	cmd.Run()
	if _, err := proc.InCgroup(cmd.Process.Pid, mine); err == nil {
		t.Error("InCgroup(a process gone) = nil error")
	}
}

func TestListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	pid, cmd, ok := proc.Listener(port)
	if !ok || pid != os.Getpid() || cmd == "" {
		t.Errorf("Listener(%d) = %d, %q, %t; want this process (%d)", port, pid, cmd, ok, os.Getpid())
	}
	l.Close()
	if pid, _, ok := proc.Listener(port); ok {
		t.Errorf("Listener(%d) after close = %d, true; want nothing there", port, pid)
	}
}
