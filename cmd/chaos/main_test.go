package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/proc"
)

func TestMain(m *testing.M) {
	if name := filepath.Base(os.Args[0]); name != "chaos" && name != "target" {
		// The test binary itself (not a command of a script): in-process
		// runs must not keep ledgers in the real state directory.
		dir, err := os.MkdirTemp("", "chaos-test-state-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		os.Setenv("XDG_STATE_HOME", dir)
	}
	testscript.Main(m, map[string]func(){
		"chaos":  func() { os.Exit(run(os.Args[1:], newStdio())) },
		"target": targetMain,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"freeport":  cmdFreePort,
			"waitfile":  cmdWaitFile,
			"procstate": cmdProcState,
			"signal":    cmdSignal,
			"killatend": cmdKillAtEnd,
			"gone":      cmdGone,
			"watchdog":  cmdWatchdog,
		},
		Setup: func(env *testscript.Env) error {
			// Runs write their ledger and reports into the work
			// directory: the ledger into $WORK/state/chaos/ledger.
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			return nil
		},
	})
}

// cmdExitCode runs a command and checks its exit code, keeping its output
// for stdout and stderr assertions: exitcode N cmd args...
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdFreePort sets an environment variable to a free loopback port that no
// other script or test of this process is given.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	// The scripts run in parallel: a port from the kernel's ephemeral
	// range, released here and bound by a run later, could meanwhile be
	// given to another script's outgoing connection, or to it again.
	port, err := freePort()
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitFile waits up to 10 s for a file to exist.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within 10s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdProcState waits up to 10 s for the process in a pid file to be
// "running" or "stopped": procstate PIDFILE STATE.
func cmdProcState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: procstate PIDFILE running|stopped")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := proc.State(pid)
		ts.Check(err)
		stopped := st == "T" || st == "t"
		if stopped == (args[1] == "stopped") {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d is in state %s, want %s", pid, st, args[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidFrom reads a pid file.
func pidFrom(ts *testscript.TestScript, file string) int {
	b, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ts.Check(err)
	return pid
}

// cmdSignal sends a signal to the process in a pid file: signal HUP PIDFILE.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal NAME PIDFILE")
	}
	sigs := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
		"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "CONT": syscall.SIGCONT}
	sig, ok := sigs[args[0]]
	if !ok {
		ts.Fatalf("unknown signal %s", args[0])
	}
	ts.Check(syscall.Kill(pidFrom(ts, args[1]), sig))
}

// cmdKillAtEnd makes sure the process in a pid file is gone when the script
// ends, even when it fails with the process stopped (a stopped process does
// not act on the interrupt testscript sends at the end): killatend PIDFILE.
func cmdKillAtEnd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: killatend PIDFILE")
	}
	pid := pidFrom(ts, args[0])
	start, err := proc.StartTime(pid)
	ts.Check(err)
	ts.Defer(func() {
		if s, err := proc.StartTime(pid); err != nil || s != start {
			return
		}
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGCONT)
	})
}

// cmdGone waits up to 10 s for the process in a pid file to be gone (or a
// zombie): gone PIDFILE. With !, it checks that the process is there.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: gone PIDFILE")
	}
	pid := pidFrom(ts, args[0])
	isGone := func() bool { return proc.Gone(pid) }
	if neg {
		if isGone() {
			ts.Fatalf("process %d is gone", pid)
		}
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for !isGone() {
		if time.Now().After(deadline) {
			ts.Fatalf("process %d is still there after 10s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdWatchdog waits up to 10 s for the run in a pid file to have its
// watchdog, and writes the watchdog's pid to a file: watchdog RUNPID WDPID.
// With the pids, a script can kill both, as an OOM kill or a cgroup kill
// does, to leave work for chaos recover.
func cmdWatchdog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: watchdog RUNPIDFILE WATCHDOGPIDFILE")
	}
	run := pidFrom(ts, args[0])
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, pid := range proc.PIDs() {
			cmd, ok := proc.Cmdline(pid)
			if proc.Parent(pid) != run || !ok || !strings.HasPrefix(cmd, "chaos watchdog ") {
				continue
			}
			ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strconv.Itoa(pid)), 0o644))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("run %d has no watchdog after 10s", run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// targetMain is a small HTTP service for the scripts: it answers /health
// with -status after -delay, and writes its pid to -pidfile.
func targetMain() {
	fs := flag.NewFlagSet("target", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	pidFile := fs.String("pidfile", "", "pid file")
	status := fs.Int("status", 200, "status of /health")
	delay := fs.Duration("delay", 0, "delay before answering")
	fs.Parse(os.Args[1:])
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(*delay)
		w.WriteHeader(*status)
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "target:", err)
		os.Exit(1)
	}
	if *pidFile != "" {
		// Write then rename, so that nobody reads a half-written file.
		os.WriteFile(*pidFile+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644)
		os.Rename(*pidFile+".tmp", *pidFile)
	}
	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Println("target: listening on", l.Addr())
	srv.Serve(l)
}

// A panic in a command is a bug in chaos: it exits 4 and asks for a report,
// never 2, which would blame the input.
func TestPanicIsInternalError(t *testing.T) {
	io, _, errb := testStdio()
	root := newRoot(io)
	root.AddCommand(&cobra.Command{
		Use: "crash",
		RunE: func(_ *cobra.Command, args []string) error {
			fmt.Fprintln(io.out, args[0]) // no arguments: a real runtime panic
			return nil
		},
	})
	if code := executeRoot(root, []string{"crash"}, io); code != exitErr {
		t.Errorf("a panicking command exited %d, want %d", code, exitErr)
	}
	got := errb.String()
	for _, want := range []string{"chaos: internal error: runtime error: index out of range [0] with length 0", "main_test.go", "This is a bug in chaos. Please report it at " + issuesURL} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr does not say %q:\n%s", want, got)
		}
	}
}

// sleeper starts a process that sleeps for the test, a target for faults
// on processes, and writes its pid to pidFile when one is named. It is
// continued and killed when the test ends.
func sleeper(t *testing.T, pidFile string) int {
	t.Helper()
	victim := exec.Command("sleep", "300")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	pid := victim.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = victim.Process.Kill()
		_ = victim.Wait()
	})
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return pid
}
