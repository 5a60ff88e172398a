package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	// Fault and probe kinds register themselves.
	_ "github.com/gamedayhq/chaos/internal/inject/docker"
	_ "github.com/gamedayhq/chaos/internal/inject/network"
	_ "github.com/gamedayhq/chaos/internal/inject/process"
	_ "github.com/gamedayhq/chaos/internal/inject/proxy"
	_ "github.com/gamedayhq/chaos/internal/inject/resource"
	_ "github.com/gamedayhq/chaos/internal/inject/swarm"
)

// version is set at build time with -ldflags "-X main.version=..."; the
// module version in the build info, which go install records, comes first.
var version = ""

// toolVersion is chaos's version as journals and the Toxiproxy API give
// it: one word.
func toolVersion() string {
	bi, _ := debug.ReadBuildInfo()
	short, _ := versionOf(bi, version)
	return short
}

// versionLine is what chaos version prints after "chaos ".
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	_, long := versionOf(bi, version)
	return long
}

// versionOf reads the version from the build info: the module version
// (go install ...@v1.2.3), else the one ldflags set, else dev; and the VCS
// commit the build recorded (a build from a checkout), which long adds.
func versionOf(bi *debug.BuildInfo, ldflags string) (short, long string) {
	var rev, at string
	modified := false
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			short = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case short != "":
	case ldflags != "":
		short = ldflags
	case rev != "":
		short = "dev+" + rev
		if modified {
			short += "-modified"
		}
	default:
		short = "dev"
	}
	long = short
	if rev != "" {
		var extra []string
		extra = append(extra, "commit "+rev)
		if at != "" {
			extra = append(extra, at)
		}
		if modified {
			extra = append(extra, "modified")
		}
		long += " (" + strings.Join(extra, ", ") + ")"
	}
	if bi != nil && bi.GoVersion != "" {
		long += ", built with " + bi.GoVersion
	}
	return short, long
}

// stdio is the process state commands use: streams, environment, signals.
// Tests build their own.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	// tty reports whether stderr is a terminal.
	tty       bool
	lookupEnv func(string) (string, bool)
	// signals delivers interrupts; a run reverts its faults on the first
	// and reports progress on later ones.
	signals func() (<-chan os.Signal, func())
	// halts delivers the signal chaos halt sends a run (SIGUSR1): the run
	// aborts, its faults reverted, and runs no further experiment. Nil in
	// tests that do not need it.
	halts func() (<-chan os.Signal, func())
}

// haltSignals is io.halts, or a channel that never delivers.
func (io *stdio) haltSignals() (<-chan os.Signal, func()) {
	if io.halts == nil {
		return nil, func() {}
	}
	return io.halts()
}

func newStdio() *stdio {
	// A closed stdout or stderr (chaos run | head) must not kill chaos
	// half way through a revert, as SIGPIPE would: with SIGPIPE notified,
	// writes to the closed pipe fail with EPIPE instead, and the output is
	// lost while the journal keeps it. Notify, not Ignore: an ignored
	// signal would stay ignored in the commands chaos starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return &stdio{
		in:        os.Stdin,
		out:       os.Stdout,
		err:       os.Stderr,
		tty:       term.IsTerminal(int(os.Stderr.Fd())),
		lookupEnv: os.LookupEnv,
		signals: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 4)
			signal.Notify(ch, interrupts()...)
			return ch, func() { signal.Stop(ch) }
		},
		halts: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, haltSignal)
			return ch, func() { signal.Stop(ch) }
		},
	}
}

// interrupts are the signals that end a run early, its faults reverted:
// Ctrl-C, SIGTERM, Ctrl-\ (SIGQUIT) and SIGHUP, which a closed terminal, a
// dropped SSH connection or a killed tmux pane sends. A SIGHUP that was
// ignored when chaos started (nohup) stays ignored.
func interrupts() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// haltSignal is what chaos halt sends the runs it stops.
const haltSignal = syscall.SIGUSR1

// Exit codes. Verdicts map onto them in verdictCode.
const (
	exitPassed       = 0
	exitDeviated     = 1
	exitUsage        = 2
	exitAborted      = 3
	exitErr          = 4
	exitRevertFailed = 5
	exitInterrupted  = 130
)

// exitError carries an exit code up to run, which alone turns errors into
// exit codes and prints them.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// silent is an exit code whose message was already printed.
type silent int

func (s silent) Error() string { return fmt.Sprintf("exit %d", int(s)) }

// queueWriter hands what is written to a goroutine of its own, which
// writes it to w in order: a write never waits for w. A terminal paused
// with Ctrl-S, or a pipe into a pager nobody scrolls, blocks whoever
// writes to it, and what chaos writes is its run's events: a run blocked
// on one would not revert its faults when due, nor on Ctrl-C. What waits
// in the queue is the call's output, which its journals hold too, up to
// maxQueued: past that (a chaos proxy logging for days into a pipe that
// nobody reads) writes are dropped and counted, and the count is written
// once the queue drains. The event printer, the signal watcher and the
// commands all write from goroutines of their own; the queue keeps their
// writes whole.
type queueWriter struct {
	w       io.Writer
	mu      sync.Mutex
	idle    *sync.Cond // broadcast when the writing goroutine is done
	buf     []byte
	busy    bool // a goroutine writes buf
	err     error
	dropped int // bytes not queued since the queue was last full
}

// maxQueued is the most output a queueWriter holds.
const maxQueued = 64 << 20

func newQueueWriter(w io.Writer) *queueWriter {
	q := &queueWriter{w: w}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// Write queues p. It fails, without queueing, once a write to w has
// failed (a closed pipe): what follows would be lost the same way.
func (q *queueWriter) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	if len(q.buf)+len(p) > maxQueued {
		q.dropped += len(p)
		return len(p), nil
	}
	if len(q.buf) == 0 {
		q.sayDropped()
	}
	q.buf = append(q.buf, p...)
	q.start()
	return len(p), nil
}

// sayDropped queues how much output was dropped, if any. q.mu must be held.
func (q *queueWriter) sayDropped() {
	if q.dropped > 0 {
		q.buf = fmt.Appendf(q.buf, "chaos: %d bytes of output were dropped: nothing read them\n", q.dropped)
		q.dropped = 0
	}
}

// start starts the writing goroutine unless it runs. q.mu must be held.
func (q *queueWriter) start() {
	if !q.busy && len(q.buf) > 0 {
		q.busy = true
		go q.drain()
	}
}

func (q *queueWriter) drain() {
	var chunk []byte
	q.mu.Lock()
	for len(q.buf) > 0 && q.err == nil {
		chunk, q.buf = q.buf, chunk[:0]
		q.mu.Unlock()
		_, err := q.w.Write(chunk)
		q.mu.Lock()
		q.err = err
	}
	q.buf, q.busy = nil, false
	q.idle.Broadcast()
	q.mu.Unlock()
}

// Flush waits until everything queued is written, however long w takes:
// the output of a call is never dropped. It returns the write error, if
// any.
func (q *queueWriter) Flush() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.sayDropped()
		q.start()
	}
	for q.busy {
		q.idle.Wait()
	}
	return q.err
}

// flush waits for w's queue, if it has one.
func flush(w io.Writer) {
	if q, ok := w.(*queueWriter); ok {
		q.Flush()
	}
}

// run executes the command line and returns the process exit code, once
// all its output is written.
func run(args []string, std *stdio) int {
	io := *std
	errw, outw := newQueueWriter(std.err), newQueueWriter(std.out)
	io.err, io.out = errw, outw
	code := execute(args, &io)
	errw.Flush()
	outw.Flush()
	return code
}

func execute(args []string, io *stdio) int {
	return executeRoot(newRoot(io), args, io)
}

// issuesURL is where bugs in chaos are reported.
const issuesURL = "https://github.com/gamedayhq/chaos/issues"

// executeRoot runs a command tree and maps its outcome to an exit code. A
// panic is a bug in chaos, not a problem with the input: it exits 4 with
// where it happened and a request to report it, never 2, which says the
// input was invalid. The faults of a run are reverted on the way, by the
// deferred reverts the panic unwinds through.
func executeRoot(root *cobra.Command, args []string, io *stdio) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(io.err, "chaos: internal error: %v\n\n%s\nThis is a bug in chaos. Please report it at %s with the command line, the experiment file and the output above.\n", p, debug.Stack(), issuesURL)
			code = exitErr
		}
	}()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return exitPassed
	}
	var s silent
	if errors.As(err, &s) {
		return int(s)
	}
	fmt.Fprintln(io.err, "chaos: "+err.Error())
	return exitCode(err)
}

// exitCode is the exit code of a command's error.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Anything else comes from cobra's own parsing: a usage error.
	return exitUsage
}

func newRoot(io *stdio) *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos",
		Short: "Run chaos experiments against your services and see if they hold",
		Long: `chaos runs experiments written in YAML: it starts traffic, checks a
steady-state hypothesis, injects faults (latency, errors, killed or paused
processes and containers, cut dependencies, CPU, memory and disk pressure),
keeps checking while they are active, removes them, checks that the system
recovers, and writes reports. chaos halt stops every run at once.

Verdicts and exit codes: passed 0, deviated 1, invalid input 2, aborted 3,
error 4 (also an internal error in chaos), revert-failed 5, interrupted 130.`,
		Example: `  chaos validate experiments/*.yaml
  chaos run experiments/process-stop.yaml
  chaos run --var port=19090 --report-dir out experiments/proxy-latency.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("chaos {{.Version}}\n")
	root.SetOut(io.out)
	root.SetErr(io.err)
	root.SetIn(io.in)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%v (see '%s --help')", err, c.CommandPath()))
	})
	root.AddCommand(
		newRunCmd(io),
		newValidateCmd(io),
		newRecoverCmd(io),
		newHaltCmd(io),
		newReportCmd(io),
		newTargetsCmd(io),
		newProxyCmd(io),
		newSchemaCmd(io),
		newExplainCmd(io),
		newVersionCmd(io),
		newWatchdogCmd(io),
		newStressWorkerCmd(),
	)
	return root
}

func newVersionCmd(io *stdio) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of chaos",
		Example: "  chaos version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(io.out, "chaos %s\n", versionLine())
			return nil
		},
	}
}
