package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// workMain is "app work": a service whose every answer costs what a real
// one does, so that resource faults can starve it. Each request to /
// takes -cost of CPU, touches -buffer bytes of memory (the last -keep
// buffers stay held, as a cache of recent bodies), and writes -spool
// bytes to a file in -dir (with an fsync when -sync), removed afterwards.
// The defences: -cache computes the answer once; -spool-optional answers
// from memory when the file cannot be written; a small -buffer bounds
// what a request holds; -sync=false leaves writes to the page cache.
func workMain(args []string) error {
	fs := flag.NewFlagSet("app work", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "address to listen on")
	pidFile := fs.String("pidfile", "", "write the pid to this file")
	cost := fs.Duration("cost", 0, "CPU time each answer takes")
	cache := fs.Bool("cache", false, "compute the answer once and serve it from then on")
	buffer := fs.Int("buffer", 0, "bytes of memory each request touches")
	keep := fs.Int("keep", 0, "keep the buffers of the last N requests, as a cache of recent bodies")
	dir := fs.String("dir", "", "directory for each request's spool file")
	spool := fs.Int("spool", 0, "bytes each request writes to its spool file")
	optional := fs.Bool("spool-optional", false, "answer from memory when the spool file cannot be written")
	syncEach := fs.Bool("sync", false, "fsync each 16 KiB written to the spool file")
	fs.Parse(args)

	iters := calibrate(*cost)
	if *keep > 0 {
		// What the cache holds is most of the heap: collect early, so
		// that memory is what the cache holds, not garbage.
		debug.SetGCPercent(20)
	}
	var keptMu sync.Mutex
	var kept [][]byte
	var cached atomic.Pointer[string]
	var once sync.Once
	var seq atomic.Int64
	l, err := listen(*addr, 0, *pidFile)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		if *buffer > 0 {
			b := make([]byte, *buffer)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			if *keep > 0 {
				keptMu.Lock()
				kept = append(kept, b)
				if len(kept) > *keep {
					kept = kept[1:]
				}
				keptMu.Unlock()
			}
		}
		if *spool > 0 && *dir != "" {
			if err := spoolFile(filepath.Join(*dir, "spool-"+strconv.FormatInt(seq.Add(1), 10)), *spool, *syncEach); err != nil && !*optional {
				http.Error(w, "spool: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		var answer string
		if *cache {
			once.Do(func() { s := compute(iters); cached.Store(&s) })
			answer = *cached.Load()
		} else {
			answer = compute(iters)
		}
		fmt.Fprintln(w, answer)
	})
	return serve(l, mux)
}

// calibrate returns how many rounds of compute take d of CPU time here.
// It counts the thread's own CPU time, not wall time, so that a busy
// machine does not make every answer cheaper.
func calibrate(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const probe = 20000
	best := time.Duration(1 << 62)
	for range 5 {
		start := threadCPU()
		compute(probe)
		best = min(best, threadCPU()-start)
	}
	return max(1, int(float64(probe)*float64(d)/float64(max(best, time.Microsecond))))
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// compute hashes n rounds: CPU work that no cache of the machine's helps.
func compute(n int) string {
	var sum [32]byte
	for range n {
		sum = sha256.Sum256(sum[:])
	}
	return fmt.Sprintf("%x", sum[:4])
}

// spoolFile writes n bytes to path, in 16 KiB records each made durable
// with an fsync when sync (as a journal is), then removes it.
func spoolFile(path string, n int, sync bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	rec := make([]byte, 16<<10)
	for done := 0; done < n && err == nil; done += len(rec) {
		_, err = f.Write(rec[:min(len(rec), n-done)])
		if err == nil && sync {
			err = f.Sync()
		}
	}
	return errors.Join(err, f.Close())
}
