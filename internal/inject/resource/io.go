package resource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"sync"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// IO is the io fault: workers inside the target's cgroups write to files
// in a directory of the target's file system without pause, each write
// made durable by default, so that the target's own reads and writes wait
// behind them. The files are removed on revert.
type IO struct {
	lasting

	// Path is a directory in the target's file system, as the target
	// sees it (/data), where the workers write: on a disk, not a tmpfs.
	Path string `yaml:"path" json:"path" chaos:"required" doc:"a directory in the target's file system, as the target sees it (/data), where the workers write: on a disk, not a tmpfs, which loads none"`
	// Workers is the number of writers, each with a file of its own; 1
	// when 0.
	Workers int `yaml:"workers" json:"workers,omitempty" doc:"writers, each with a file of its own; 1 when not set"`
	// BlockSize is the size of each write; 1MiB when 0.
	BlockSize experiment.Size `yaml:"block_size" json:"block_size,omitempty" doc:"the size of each write; 1MiB when not set"`
	// FileSize is how large each worker's file grows before the worker
	// writes it again from its start; 64MiB when 0.
	FileSize experiment.Size `yaml:"file_size" json:"file_size,omitempty" doc:"how large each worker's file grows before it is written again from its start; 64MiB when not set"`
	// Sync says how writes are made durable: "fsync" (the default) waits
	// for the disk after every write; "none" leaves them to the page
	// cache, which the kernel writes back on its own.
	Sync string `yaml:"sync" json:"sync,omitempty" doc:"fsync (the default) waits for the disk after every write; none leaves writes to the page cache"`
}

// Kind is "io".
func (*IO) Kind() string { return "io" }

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "docker", Name: "io", New: func() inject.Fault { return &IO{} }, Doc: ioDoc})
	inject.RegisterFault(inject.FaultKind{Target: "process", Name: "io", New: func() inject.Fault { return &IO{} }, Doc: ioDoc})
}

// Plan finds the target and computes what the fault does to it, from
// what it has and uses now; it changes nothing.
func (o *IO) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return planFault(ctx, env, o, &o.lasting, t)
}

// Precheck plans the fault on t, so that a target it cannot act on is
// refused before the step hits any.
func (o *IO) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, o, &o.lasting, t)
}

// Inject applies the plan.
func (o *IO) Inject(ctx context.Context, env *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return injectFault(ctx, env, u)
}

func (o *IO) workers() int    { return cmpOr(o.Workers, 1) }
func (o *IO) block() int64    { return cmpOr(int64(o.BlockSize), 1<<20) }
func (o *IO) fileSize() int64 { return cmpOr(int64(o.FileSize), 64<<20) }

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate checks the path, the counts and the sizes.
func (o *IO) Validate() error {
	if err := checkPath(o.Path); err != nil {
		return err
	}
	switch {
	case o.Workers < 0 || o.Workers > 64:
		return fmt.Errorf("workers %d: want 1 to 64", o.Workers)
	case o.BlockSize < 0 || o.block() > 64<<20:
		return fmt.Errorf("block_size %s: want at most 64MiB", formatBytes(int64(o.BlockSize)))
	case o.block() > o.fileSize():
		return fmt.Errorf("block_size %s is larger than file_size %s", formatBytes(o.block()), formatBytes(o.fileSize()))
	case o.Sync != "" && o.Sync != "fsync" && o.Sync != "none":
		return fmt.Errorf("sync %q: want fsync or none", o.Sync)
	}
	return nil
}

// checkPath wants an absolute, clean directory path.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("set path: a directory in the target's file system, such as /data")
	case !path.IsAbs(p):
		return fmt.Errorf("path %q: want an absolute path, as the target sees it", p)
	}
	return nil
}

// diskMargin is the free space the io fault leaves besides its files.
const diskMargin = 64 << 20

func (o *IO) plan(p *planning) error {
	j, err := p.job()
	if err != nil {
		return err
	}
	dir, err := p.targetDir(o.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	// Writers on a file system held in memory load no disk: the target
	// would wait for nothing, and a pass would say nothing of the disk.
	if fs, err := inMemory(dir); err != nil {
		return err
	} else if fs != "" {
		return fmt.Errorf("%s is on a %s, held in memory, where writes and syncs wait for no disk: give a directory on the disk the target writes to", o.Path, fs)
	}
	avail, _, err := space(dir)
	if err != nil {
		return err
	}
	need := o.fileSize() * int64(o.workers())
	if need+diskMargin > avail {
		return fmt.Errorf("%s has %s free, too little for %d file%s of %s and a margin of %s: lower file_size or workers",
			o.Path, formatBytes(avail), o.workers(), plural(o.workers()), formatBytes(o.fileSize()), formatBytes(diskMargin))
	}
	w := &IOWork{Dir: path.Clean(o.Path), BlockSize: o.block(), FileSize: o.fileSize(), Sync: o.Sync != "none"}
	for i := range o.workers() {
		name := fileName(p.rec, i)
		w.Files = append(w.Files, name)
		p.rec.Files = append(p.rec.Files, path.Join(w.Dir, name))
	}
	j.IO = w
	p.rec.HostRoot = sameRoot(j.Target.PID)
	how := "fsync after every write"
	if !w.Sync {
		how = "no fsync"
	}
	p.rec.Summary = fmt.Sprintf("%d writer%s in the cgroups of %s, each rewriting a %s file in %s in blocks of %s, %s",
		o.workers(), plural(o.workers()), p.rec.Target, formatBytes(w.FileSize), o.Path, formatBytes(w.BlockSize), how)
	return nil
}

// IOWork is the io fault's job: one writer per file in Dir, each writing
// blocks of BlockSize up to FileSize and starting again, with an fdatasync
// after each write when Sync is set.
type IOWork struct {
	Dir       string   `json:"dir"`
	Files     []string `json:"files"`
	BlockSize int64    `json:"block_size"`
	FileSize  int64    `json:"file_size"`
	Sync      bool     `json:"sync"`
}

func (w *IOWork) run(ctx context.Context, wk *worker, ready func(string)) (err error) {
	dir, err := wk.dir(w.Dir)
	if err != nil {
		return err
	}
	defer dir.Close()
	var files []*os.File
	defer func() {
		for i, f := range files {
			f.Close()
			err = errors.Join(err, removeIn(dir, w.Files[i]))
		}
	}()
	for _, name := range w.Files {
		f, err := createIn(dir, name)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	block := make([]byte, w.BlockSize)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	// A writer that fails (out of space) ends them all, and the worker
	// with them: the load asked for is gone, and its revert must say so
	// rather than count what was left of it as the fault.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Go(func() {
			if errs[i] = w.write(ctx, f, block); errs[i] != nil {
				cancel()
			}
		})
	}
	ready("")
	wg.Wait()
	return errors.Join(errs...)
}

// write writes f over and over until ctx ends.
func (w *IOWork) write(ctx context.Context, f *os.File, block []byte) error {
	var off int64
	for ctx.Err() == nil {
		if _, err := f.WriteAt(block, off); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
		if w.Sync {
			if err := datasync(f); err != nil {
				return fmt.Errorf("sync %s: %w", f.Name(), err)
			}
		}
		off += int64(len(block))
		if off+int64(len(block)) > w.FileSize {
			off = 0
		}
	}
	return nil
}

var ioDoc = experiment.Doc{
	Summary: "Writers inside the target's cgroup that write and fsync files in a directory of its file system, competing with the target for the disk; the files are removed on revert.",
	Example: "{path: /data, workers: 4}",
}
