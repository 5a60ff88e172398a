package resource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"syscall"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// DiskFill is the disk_fill fault: a file in a directory of the target's
// file system, seen from the host through the target's root, that takes
// Size bytes or all but LeaveFree of the free space. Set exactly one of
// them. The file is removed on revert, and by its worker when the worker
// ends. On a tmpfs the file is memory, charged to the target's cgroup as
// the target's own files there are.
type DiskFill struct {
	lasting

	// Path is a directory in the target's file system, as the target sees
	// it (/data), where the file is made.
	Path string `yaml:"path" json:"path" chaos:"required" doc:"a directory in the target's file system, as the target sees it (/data), where the file is made"`
	// Size is how much the file takes. It may not be more than is free.
	Size experiment.Size `yaml:"size" json:"size,omitempty" doc:"how much the file takes, no more than is free (give size or leave_free)"`
	// LeaveFree is how much free space the file leaves, as df shows it
	// (space root may use beyond it is not counted); 0 fills the file
	// system. A fill that cannot bring the free space down to it (within
	// 256KiB) fails.
	LeaveFree *experiment.Size `yaml:"leave_free" json:"leave_free,omitempty" doc:"how much free space the file leaves, as df shows it; 0 fills the file system; a fill that cannot bring the free space down to it (within 256KiB) fails (give size or leave_free)"`
}

// Kind is "disk_fill".
func (*DiskFill) Kind() string { return "disk_fill" }

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "disk_fill", New: func() inject.Fault { return &DiskFill{} }, Doc: diskfillDoc})
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "disk_fill", New: func() inject.Fault { return &DiskFill{} }, Doc: diskfillDoc})
}

// Plan finds the target and computes what the fault does to it, from
// what it has and uses now; it changes nothing.
func (d *DiskFill) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return planFault(ctx, env, d, &d.lasting, t)
}

// Precheck plans the fault on t, so that a target it cannot act on is
// refused before the step hits any.
func (d *DiskFill) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, d, &d.lasting, t)
}

// Inject applies the plan.
func (d *DiskFill) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return injectFault(ctx, env, u)
}

// Validate wants a path and exactly one of size and leave_free.
func (d *DiskFill) Validate() error {
	if err := checkPath(d.Path); err != nil {
		return err
	}
	switch {
	case d.Size == 0 && d.LeaveFree == nil:
		return errors.New("set size (how much to take) or leave_free (how much to leave)")
	case d.Size != 0 && d.LeaveFree != nil:
		return errors.New("set size or leave_free, not both")
	case d.Size < 0 || (d.LeaveFree != nil && *d.LeaveFree < 0):
		return errors.New("sizes cannot be negative")
	}
	return nil
}

func (d *DiskFill) plan(p *planning) error {
	j, err := p.job()
	if err != nil {
		return err
	}
	dir, err := p.targetDir(d.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	avail, size, err := space(dir)
	if err != nil {
		return err
	}
	w := &FillWork{Dir: path.Clean(d.Path), File: fileName(p.rec, 0)}
	if d.LeaveFree != nil {
		w.Leave, w.LeaveFree = true, int64(*d.LeaveFree)
		if avail <= w.LeaveFree {
			return fmt.Errorf("%s has %s free already, no more than the %s to leave", d.Path, formatBytes(avail), formatBytes(w.LeaveFree))
		}
		p.rec.Summary = fmt.Sprintf("fill %s on %s until %s is free (%s of %s now)", d.Path, p.rec.Target, formatBytes(w.LeaveFree), formatBytes(avail), formatBytes(size))
	} else {
		w.Size = int64(d.Size)
		if w.Size > avail {
			return fmt.Errorf("size %s is more than the %s free on %s: ask less, or use leave_free: 0 to fill it", formatBytes(w.Size), formatBytes(avail), d.Path)
		}
		p.rec.Summary = fmt.Sprintf("take %s of the %s free on %s in %s", formatBytes(w.Size), formatBytes(avail), d.Path, p.rec.Target)
	}
	j.Fill = w
	p.rec.Files = []string{path.Join(w.Dir, w.File)}
	p.rec.HostRoot = sameRoot(j.Target.PID)
	return nil
}

// FillWork is the disk_fill fault's job: make File in Dir, Size bytes
// long, or, with Leave, as long as leaves LeaveFree bytes free.
type FillWork struct {
	Dir       string `json:"dir"`
	File      string `json:"file"`
	Size      int64  `json:"size,omitempty"`
	Leave     bool   `json:"leave,omitempty"`
	LeaveFree int64  `json:"leave_free,omitempty"`
}

// fillTolerance is how close to LeaveFree the free space must come.
const fillTolerance = 256 << 10

func (w *FillWork) run(ctx context.Context, wk *worker, ready func(string)) (err error) {
	dir, err := wk.dir(w.Dir)
	if err != nil {
		return err
	}
	defer dir.Close()
	f, err := createIn(dir, w.File)
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		err = errors.Join(err, removeIn(dir, w.File))
	}()
	avail, _, err := freeSpace(dir)
	if err != nil {
		return err
	}
	note := ""
	if !w.Leave {
		if w.Size > avail {
			return fmt.Errorf("size %s is more than the %s free on %s", formatBytes(w.Size), formatBytes(avail), w.Dir)
		}
		if err := grow(f, 0, w.Size); err != nil {
			return err
		}
	} else {
		// Blocks the file system spends on its own records change the
		// count: measure again and adjust, a few times.
		for range 8 {
			diff := avail - w.LeaveFree
			if diff <= fillTolerance && diff >= -fillTolerance {
				break
			}
			if diff > 0 {
				// Out of space before the count says so is measured
				// again, like any other step.
				if err := grow(f, fileSize(f), diff); err != nil && !errors.Is(err, syscall.ENOSPC) {
					return err
				}
			} else if err := f.Truncate(max(0, fileSize(f)+diff)); err != nil {
				return fmt.Errorf("shrink %s: %w", f.Name(), err)
			}
			if avail, _, err = freeSpace(dir); err != nil {
				return err
			}
		}
		// Short of the mark, the file system is less full than asked
		// (something frees space as fast as the file takes it), and a
		// target that copes with it says nothing of a full disk.
		if diff := avail - w.LeaveFree; diff > fillTolerance {
			return fmt.Errorf("%s still has %s free after filling it to leave %s: something frees space as fast as the fill takes it, or the file system gives free space it does not let a file take", w.Dir, formatBytes(avail), formatBytes(w.LeaveFree))
		} else if diff < -fillTolerance {
			note = fmt.Sprintf("less is free than asked (%s, not %s): something else fills %s", formatBytes(avail), formatBytes(w.LeaveFree), w.Dir)
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	avail, _, _ = freeSpace(dir)
	result := fmt.Sprintf("%s takes %s; %s free", path.Join(w.Dir, w.File), formatBytes(fileSize(f)), formatBytes(avail))
	if note != "" {
		result += "; " + note
	}
	ready(result)
	<-ctx.Done()
	return nil
}

func fileSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// freeSpace is space, or what a test puts in its place.
var freeSpace = space

// fallocate is allocate, or what a test puts in its place.
var fallocate = allocate

// grow makes f n bytes longer from off, allocating where the file system
// can and writing where it cannot. Out of space, it takes what is left a
// MiB at a time and returns an error that is syscall.ENOSPC.
func grow(f *os.File, off, n int64) error {
	err := fallocate(f, off, n)
	switch {
	case err == nil && allocated(f) >= off+n:
		return nil
	case err == nil:
		// The file system said yes and took nothing (ZFS does, its
		// blocks being allocated when written): write them.
	case errors.Is(err, syscall.ENOSPC):
		end := off + n
		for step := int64(1 << 20); n > 0; n -= step {
			if err := fallocate(f, off, min(step, n)); err != nil {
				return fillError(f, err)
			}
			off += step
		}
		if allocated(f) >= end {
			return nil
		}
		return fillError(f, fmt.Errorf("the file system allocated %s of the %s it accepted", formatBytes(allocated(f)), formatBytes(end)))
	case !errors.Is(err, errors.ErrUnsupported):
		return fillError(f, err)
	}
	// Random bytes, which a file system that compresses stores at their
	// size.
	buf := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for done := int64(0); done < n; {
		k, err := f.WriteAt(buf[:min(int64(len(buf)), n-done)], off+done)
		done += int64(k)
		if err != nil {
			return fillError(f, err)
		}
	}
	return nil
}

// fillError names the file and, for a file grown past what the file
// system or the process's file size limit allows, says so.
func fillError(f *os.File, err error) error {
	if errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("fill %s: %w: the file system, or the file size limit of chaos (ulimit -f), allows no file that large; ask for less", f.Name(), err)
	}
	return fmt.Errorf("fill %s: %w", f.Name(), err)
}

var diskfillDoc = experiment.Doc{
	Summary: "Fills a directory of the target's file system with one file, to a size or until only leave_free is free; the file is removed on revert.",
	Example: "{path: /data, leave_free: 10MiB}",
}
