package resource

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/proc"
)

// alive reports whether p still runs: the pid exists, is not a zombie and
// has p's start time, if known.
func alive(p Process) bool {
	if p.Start == 0 {
		return p.PID > 0 && !proc.Gone(p.PID)
	}
	return proc.ID(p).Alive()
}

// openRoot opens the root directory of process pid, as it sees it, for
// the *at calls; pid 0 opens this process's root.
func openRoot(pid int) (*os.File, error) {
	p := "/"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/root"
	}
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the root file system of process %d: %w", pid, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openDirIn opens directory dir as seen from root: absolute symbolic
// links and ".." resolve inside root, as they do for the process whose
// root it is, never on this host.
func openDirIn(root *os.File, dir string) (*os.File, error) {
	rel := strings.TrimLeft(path.Clean("/"+dir), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("open %s: this kernel lacks openat2 (Linux 5.6)", dir)
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// createIn creates file name in directory dir, failing if it exists.
func createIn(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
}

// removeIn removes file name from directory dir; a file already gone is
// no error.
func removeIn(dir *os.File, name string) error {
	err := unix.Unlinkat(int(dir.Fd()), name, 0)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return nil
}

// space returns the bytes free for unprivileged writers (what df shows as
// available) and the size of the file system holding f.
func space(f *os.File) (avail, size int64, err error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, 0, fmt.Errorf("read the free space of %s: %w", f.Name(), err)
	}
	bs := st.Frsize
	if bs == 0 {
		bs = st.Bsize
	}
	return int64(st.Bavail) * bs, int64(st.Blocks) * bs, nil
}

// inMemory names the file system of f when it keeps its files in memory
// (tmpfs, ramfs), where writes and their syncs wait for no disk; "" for
// any other.
func inMemory(f *os.File) (string, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("read the file system of %s: %w", f.Name(), err)
	}
	switch int64(st.Type) {
	case unix.TMPFS_MAGIC:
		return "tmpfs", nil
	case unix.RAMFS_MAGIC:
		return "ramfs", nil
	}
	return "", nil
}

// allocated is how much of the file system f takes: its blocks, whatever
// its length says.
func allocated(f *os.File) int64 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

// allocate gives f the blocks for bytes [off, off+n) without writing them.
// It reports errors.ErrUnsupported where the file system cannot.
func allocate(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return errors.ErrUnsupported
	}
	return err
}

// sameRoot reports whether process pid sees this host's file system: the
// same mount namespace and the same root directory.
func sameRoot(pid int) bool {
	mine, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err1 != nil || err2 != nil || mine != theirs {
		return false
	}
	var a, b unix.Stat_t
	if unix.Stat("/", &a) != nil || unix.Stat("/proc/"+strconv.Itoa(pid)+"/root", &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// workerArgs are the arguments a worker is started with; they name its
// run and fault, so that a sweep can find it from /proc.
func workerArgs(runID, key, kind string) []string {
	return []string{WorkerCommand, "--run", runID, "--key", key, "--kind", kind}
}

// findWorkers lists the running workers of a run, or of one fault of it
// when key is set.
func findWorkers(runID, key string) []Process {
	var out []Process
	for _, pid := range proc.PIDs() {
		if pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(WorkerCommand)) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[1] != WorkerCommand {
			continue
		}
		if flag(args, "--run") != runID || (key != "" && flag(args, "--key") != key) {
			continue
		}
		start, err := proc.StartTime(pid)
		if err != nil {
			continue
		}
		p := Process{PID: pid, Start: start}
		if alive(p) {
			out = append(out, p)
		}
	}
	return out
}

func flag(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// sendSignal sends sig to p if it is still p.
func sendSignal(p Process, sig syscall.Signal) error {
	if !alive(p) {
		return nil
	}
	if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal worker %d: %w", p.PID, err)
	}
	return nil
}

// pidfd opens a pidfd for p and checks, after opening it, that it is p,
// so that a pid reused in between is not watched by mistake.
func pidfd(p Process) (int, error) {
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		return -1, err
	}
	if !alive(p) {
		unix.Close(fd)
		return -1, fmt.Errorf("process %d is gone", p.PID)
	}
	return fd, nil
}

// waitFD blocks until pidfd fd is readable: its process has ended.
func waitFD(fd int) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil || !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// memoryFile is memory a worker holds in a memfd: charged to the worker's
// cgroups (the target's) as shared memory, which only swap could take
// back, and mapped by no process. The OOM killer weighs a process by what
// it maps, so when the target grows past its limit the killer ends the
// target, as it would for a target whose memory ran short, rather than
// the worker holding the memory: the worker's own -900 oom_score_adj
// needs CAP_SYS_RESOURCE, which a container runtime or a sandbox may
// have taken away.
type memoryFile struct{ fd int }

func newMemoryFile() (*memoryFile, error) {
	fd, err := unix.MemfdCreate("chaos-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &memoryFile{fd: fd}, nil
}

// grow makes bytes [off, off+n) of the file resident and charged.
func (m *memoryFile) grow(off, n int64) error { return unix.Fallocate(m.fd, 0, off, n) }

func (m *memoryFile) close() { _ = unix.Close(m.fd) }

// targetDir opens directory dir of the target's file system.
func (p *planning) targetDir(dir string) (*os.File, error) {
	loc, err := p.locate()
	if err != nil {
		return nil, err
	}
	root, err := openRoot(loc.pid)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := openDirIn(root, dir)
	if err != nil {
		return nil, fmt.Errorf("open directory %s in the target: %w", dir, err)
	}
	return f, nil
}

func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// threadCPU returns the CPU time the calling thread has used; wall time
// where the clock cannot be read, so that a busy loop still ends.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}
