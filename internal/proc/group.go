package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// OwnGroup makes cmd, once started, the leader of a process group of its
// own: a Ctrl-C in the terminal reaches chaos only, which undoes what it
// did in order, and the command's children can be signalled with it. A
// command made with exec.CommandContext is killed with its whole group
// when the context ends: a shell's children would otherwise keep its
// output pipes open.
func OwnGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if cmd.Cancel != nil { // made with a context
		cmd.Cancel = func() error {
			// The context may end as Wait reaps the leader, and exec then
			// may still cancel: once reaped, its pid, which is the group's
			// id, may be handed to a process that leads a group of its
			// own. Before, the kernel hands it to no one.
			if err := cmd.Process.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
				return err
			}
			return KillGroup(cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// KillGroup sends sig to every process of group pgid. A group that no
// longer exists is no error.
func KillGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		// kill(0) would signal chaos's own group, kill(-1) every
		// process chaos may signal.
		return fmt.Errorf("signal process group %d: not a group chaos started", pgid)
	}
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// KillWait is how long StopGroup waits for a group's leader to go after
// SIGKILL before it says the leader is still there.
const KillWait = 10 * time.Second

// Stopped says how StopGroup stopped a group.
type Stopped int

const (
	// Exited: the leader exited within its grace period after SIGTERM.
	Exited Stopped = iota
	// Killed: the leader was still there after its grace period and got
	// SIGKILL.
	Killed
	// WasGone: the leader had exited before; members that outlived it,
	// which still carry its group id, got SIGKILL.
	WasGone
	// Reused: the leader is gone and its pid names another process now,
	// so its group is gone too; nothing was signalled.
	Reused
)

// String says how in words, for messages and tests.
func (s Stopped) String() string {
	switch s {
	case Exited:
		return "exited"
	case Killed:
		return "killed"
	case WasGone:
		return "was gone"
	case Reused:
		return "pid reused"
	}
	return "Stopped(" + strconv.Itoa(int(s)) + ")"
}

// ErrNotGone is returned by StopGroup when the leader of a group is still
// there KillWait after SIGKILL; its text says how long that is.
var ErrNotGone = errors.New("still there 10s after SIGKILL")

// StopGroup stops the process group led by leader, whose group id is the
// leader's pid: SIGTERM to the group, with SIGCONT since a stopped member
// cannot act on SIGTERM until it runs; SIGKILL to the group when the leader
// is still there after grace, or once ctx is done; and SIGKILL again, once
// the leader is gone, for the members that outlived it. The kernel hands
// out no pid that a group still carries, so a leader's pid that names
// another process means that its group is gone.
//
// exited, when not nil, is closed once the leader has exited and been
// reaped: the parent of the leader, which must reap it, passes the channel
// its Wait closes. Without it, StopGroup watches the leader through /proc,
// for a group another process started.
func StopGroup(ctx context.Context, leader ID, grace time.Duration, exited <-chan struct{}) (Stopped, error) {
	gone := func() bool {
		if exited == nil {
			return !leader.Alive()
		}
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	if gone() {
		if leader.Reused() {
			return Reused, nil
		}
		KillGroup(leader.PID, syscall.SIGKILL)
		return WasGone, nil
	}
	if err := KillGroup(leader.PID, syscall.SIGTERM); err != nil {
		return Exited, fmt.Errorf("signal process group %d: %w", leader.PID, err)
	}
	KillGroup(leader.PID, syscall.SIGCONT)
	how := Exited
	if !waitGone(ctx, gone, exited, grace) {
		how = Killed
		KillGroup(leader.PID, syscall.SIGKILL)
		// SIGKILL cannot be ignored: the wait no longer depends on ctx.
		if !waitGone(context.Background(), gone, exited, KillWait) {
			return Killed, fmt.Errorf("pid %d is %w", leader.PID, ErrNotGone)
		}
	}
	// Members left in the group die with it; none if the pid is reused.
	if !leader.Reused() {
		KillGroup(leader.PID, syscall.SIGKILL)
	}
	return how, nil
}

// waitGone waits up to d, or until ctx is done, for gone to hold; it
// returns at once when exited is closed, and polls /proc otherwise.
func waitGone(ctx context.Context, gone func() bool, exited <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var tick <-chan time.Time
	if exited == nil {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for !gone() {
		select {
		case <-exited:
		case <-tick:
		case <-timer.C:
			return gone()
		case <-ctx.Done():
			return gone()
		}
	}
	return true
}
