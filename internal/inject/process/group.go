package process

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
)

// undoStopGroup stops a process group chaos started (a service), for
// chaos recover and the watchdog after the run that started it died.
const undoStopGroup = "process.stop_group"

// group pins a process group to its leader: the group's id is the leader's
// pid, and a pid is not handed out again while a group of that id exists.
type group struct {
	identity
	// Grace is how long the group has to exit after SIGTERM.
	Grace time.Duration `json:"grace"`
}

// GroupUndo returns the undo that stops the process group led by pid:
// SIGTERM to the group, SIGKILL after grace. t names the group for people.
func GroupUndo(t inject.Target, pid int, grace time.Duration) (inject.Undo, error) {
	start, err := StartTime(pid)
	if err != nil {
		return inject.Undo{}, err
	}
	data, _ := json.Marshal(group{identity: identity{PID: pid, Start: start}, Grace: grace})
	return inject.Undo{Action: undoStopGroup, Target: t, Data: data}, nil
}

func init() {
	inject.RegisterUndo(undoStopGroup, stopGroup)
}

// stopGroup stops a group chaos did not start in this process, so it cannot
// wait for the leader: it polls until the leader is gone.
func stopGroup(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var g group
	if err := json.Unmarshal(u.Data, &g); err != nil {
		return fmt.Errorf("stop %s: bad undo record: %w", u.Target, err)
	}
	pgid := g.PID
	if !g.alive() {
		// The leader is gone. If its pid names another process now, the
		// group is gone too; if not, members that outlived the leader
		// still carry its id, and only they can.
		if start, err := StartTime(pgid); err == nil && start != g.Start {
			env.Warn(fmt.Sprintf("%s is gone; nothing to stop", u.Target))
			return nil
		}
		killGroup(pgid, syscall.SIGKILL)
		return nil
	}
	if err := killGroup(pgid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", u.Target, err)
	}
	// A stopped member cannot act on SIGTERM until it runs.
	killGroup(pgid, syscall.SIGCONT)
	if !g.waitGone(ctx, g.Grace) {
		killGroup(pgid, syscall.SIGKILL)
		if !g.waitGone(ctx, 10*time.Second) {
			return fmt.Errorf("stop %s: pid %d is still there 10s after SIGKILL", u.Target, g.PID)
		}
	}
	// Members left in the group die with it.
	killGroup(pgid, syscall.SIGKILL)
	return nil
}

func killGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// alive reports whether the pinned process still runs (a zombie does not).
func (id identity) alive() bool {
	start, err := StartTime(id.PID)
	return err == nil && start == id.Start && !zombie(id.PID)
}

// waitGone polls until the process is gone, for up to d.
func (id identity) waitGone(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for id.alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Listener returns a process that listens on TCP port, with its command
// line, when /proc tells: a service's ready check would otherwise pass
// against it. ok is false when nothing this host can see listens there.
func Listener(port int) (pid int, cmd string, ok bool) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(f, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, "", false
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, d := range dirs {
		fds, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(d, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(d)))
				cmd, _ = cmdline(pid)
				return pid, cmd, true
			}
		}
	}
	return 0, "", true
}

// listeningInodes reads a /proc/net/tcp table for the sockets in LISTEN
// state (0A) on port.
func listeningInodes(file string, port int) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	want := fmt.Sprintf(":%04X", port)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" || !strings.HasSuffix(fs[1], want) {
			continue
		}
		out = append(out, fs[9])
	}
	return out
}
