package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/proc"
)

// TestBlockedOutputDoesNotHoldTheRun runs chaos with its output into a
// pipe that stops being read once a process is stopped, as a pager nobody
// scrolls or a terminal paused with Ctrl-S would: an interrupt still
// reverts the fault at once, and what was written all comes out once the
// pipe is read again.
func TestBlockedOutputDoesNotHoldTheRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pid := sleeper(t, filepath.Join(dir, "victim.pid"))
	if err := os.WriteFile(filepath.Join(dir, "stop.yaml"), []byte(`version: v1
title: Stop the victim for a minute
targets:
  victim: {process: {pid_file: victim.pid}}
method:
  - {fault: stop, target: victim, for: 60s}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The smallest pipe, so that filling it is quick.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chaos", "run", "--report-dir", "out", "--ledger", "ledger", "stop.yaml")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, w, w
	cmd.Env = append(os.Environ(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	var out []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(out, []byte("fault.injected")) {
		r.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("no fault.injected on the output: %v\n%s", err, out)
		}
		out = append(out, buf[:n]...)
	}
	// Fill the pipe, through a description of its own that does not
	// block, and stop reading.
	filler, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(w.Fd())), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dots := make([]byte, 512) // NULs, taken out below
	for {
		if _, err := unix.Write(filler, dots); err != nil {
			break
		}
	}
	unix.Close(filler)
	w.Close()

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := proc.State(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st != "T" && st != "t" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still stopped 5s after the interrupt, while chaos's output is not read", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Read again: the rest of the output comes, and chaos ends.
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the rest of the output: %v\n%s", err, out)
		}
	}
	var ee *exec.ExitError
	if err := <-done; !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("chaos ended with %v; want exit %d", err, exitInterrupted)
	}
	out = bytes.ReplaceAll(out, []byte{0}, nil)
	for _, want := range []string{"fault.reverted", "INTERRUPTED  Stop the victim for a minute", "every fault was reverted"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}

// blockedWriter takes nothing until it is let go.
type blockedWriter struct {
	letGo chan struct{}
	got   bytes.Buffer
}

func (b *blockedWriter) Write(p []byte) (int, error) {
	<-b.letGo
	return b.got.Write(p)
}

// A queue whose writer never takes anything holds at most maxQueued, and
// says how much it dropped once it is read again.
func TestQueueWriterBounded(t *testing.T) {
	w := &blockedWriter{letGo: make(chan struct{})}
	q := newQueueWriter(w)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	// The writing goroutine holds what it took before it blocked, at
	// most maxQueued, and the queue at most maxQueued more.
	for range 3 * maxQueued >> 20 {
		if n, err := q.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want all of it, nil", n, err)
		}
	}
	q.mu.Lock()
	queued, dropped := len(q.buf), q.dropped
	q.mu.Unlock()
	if queued > maxQueued || dropped < maxQueued {
		t.Errorf("queued %d bytes, dropped %d; want at most %d queued, the rest dropped", queued, dropped, maxQueued)
	}
	close(w.letGo)
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("chaos: %d bytes of output were dropped: nothing read them\n", dropped); !bytes.HasSuffix(w.got.Bytes(), []byte(want)) {
		t.Errorf("the output does not end with %q", want)
	}
}
