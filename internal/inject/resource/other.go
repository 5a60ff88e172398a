//go:build !linux

package resource

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// errLinux is what resource faults say off Linux: cgroups, /proc and
// the calls the workers make are Linux's.
var errLinux = errors.New("resource faults need Linux")

type child struct{}

type worker struct{ job *Job }

func (*worker) dir(string) (*os.File, error) { return nil, errLinux }

// WorkerMain refuses to run off Linux.
func WorkerMain(io.Reader, *os.File) int { return 2 }

func (in *Injector) locate(context.Context, *Target) (*located, error) { return nil, errLinux }

func (in *Injector) startWorker(_ context.Context, rec Record) (Record, error) {
	return rec, errLinux
}

func (in *Injector) revertWorker(context.Context, Record) ([]string, string, error) {
	return nil, "", errLinux
}

func (in *Injector) stopWorkers(context.Context, string, string) ([]string, error) {
	return nil, nil
}

func (p *planning) targetDir(string) (*os.File, error) { return nil, errLinux }

func space(*os.File) (int64, int64, error)        { return 0, 0, errLinux }
func inMemory(*os.File) (string, error)           { return "", errLinux }
func allocate(*os.File, int64, int64) error       { return errLinux }
func allocated(*os.File) int64                    { return 0 }
func sameRoot(int) bool                           { return false }
func createIn(*os.File, string) (*os.File, error) { return nil, errLinux }
func removeIn(*os.File, string) error             { return errLinux }
func datasync(*os.File) error                     { return errLinux }

type memoryFile struct{}

func newMemoryFile() (*memoryFile, error)   { return nil, errLinux }
func (*memoryFile) grow(int64, int64) error { return errLinux }
func (*memoryFile) close()                  {}

// threadCPU falls back to wall time off Linux.
func threadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
