//go:build linux

package resource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/proc"
)

// TestGrowWhereAllocatingTakesNothing stands in for a file system that
// accepts fallocate and allocates nothing (ZFS allocates blocks only when
// they are written): the file must take its size all the same, or the
// disk is not filled at all.
func TestGrowWhereAllocatingTakesNothing(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fallocate = func(f *os.File, off, n int64) error {
		if fi, err := f.Stat(); err == nil && fi.Size() < off+n {
			return f.Truncate(off + n)
		}
		return nil
	}
	defer func() { fallocate = allocate }()
	const size = 4 << 20
	if err := grow(f, 0, size); err != nil {
		t.Fatal(err)
	}
	if got := allocated(f); got < size {
		t.Errorf("the file takes %d bytes of the file system after growing it by %d; want all of them", got, size)
	}
}

// TestIOWriterOutOfSpaceEndsTheLoad runs an io load of two writers on a
// file system with room for one of their files: the one that runs out of
// space ends the other, so that the worker ends and its revert says the
// load was gone, rather than carrying on with half of it.
func TestIOWriterOutOfSpaceEndsTheLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("mount a 3MiB tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	wk := &worker{job: &Job{Target: Process{PID: os.Getpid(), Start: start}}}
	w := &IOWork{Dir: dir, Files: []string{"a", "b"}, BlockSize: 64 << 10, FileSize: 2 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = w.run(ctx, wk, func(string) {})
	if ctx.Err() != nil {
		t.Fatal("the load ran on for 20s with one of its two writers out of space")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("run = %v; want the writer's out of space", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in %s; want none", len(ents), dir)
	}
}

// TestFillThatNeverReachesItsMark stands in for a file system whose free
// space stays put while the file grows (another process frees as fast as
// the fill takes): a fill asked to leave 1MiB free that leaves 4MiB more
// has not filled the disk, and must say so rather than count as applied.
func TestFillThatNeverReachesItsMark(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("opening the target's root through /proc needs root")
	}
	const leave = 1 << 20
	freeSpace = func(*os.File) (int64, int64, error) { return leave + 4<<20, 1 << 30, nil }
	defer func() { freeSpace = space }()
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wk := &worker{job: &Job{Target: Process{PID: os.Getpid(), Start: start}}}
	w := &FillWork{Dir: dir, File: "fill", Leave: true, LeaveFree: leave}
	readied := false
	err = w.run(context.Background(), wk, func(string) { readied = true })
	if err == nil || readied || !strings.Contains(err.Error(), "still has 5MiB free") {
		t.Errorf("run = %v (ready called: %v); want an error before ready that says 5MiB is still free", err, readied)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in %s; want none", len(ents), dir)
	}
}
