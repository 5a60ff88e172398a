package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/resource"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/proc"
)

func newHaltCmd(io *stdio) *cobra.Command {
	var dir string
	var engine bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "halt",
		Short: "Stop every run on this machine and revert everything it applied",
		Long: `halt is the kill switch of a gameday. It finds the runs in progress on this
machine through their ledgers, tells each to stop (SIGUSR1): a run aborts
at once, reverts every fault, runs its undos and rollbacks, stops its
services and runs no further experiment of its call, with the verdict
aborted. halt waits for them, lists what each undid, and then undoes
itself whatever is left in the ledgers, as chaos recover does, also for
runs that died. A run that has not ended after --timeout is killed
(SIGKILL) and its ledger undone.

` + ledgerHelp + ` halt reads one ledger directory: a run started with
another --ledger is halted only by 'chaos halt --ledger' with the same
directory, and a run that is still starting, before it wrote its ledger,
is not seen.

With --engine, halt also reverts every resource fault (cpu, memory, io,
disk_fill, limits) that the state directory of resource faults
(/run/chaos/resource for root) records against a Docker container,
whatever ledger directory its run used, and halts the run that applied it.
Other Docker faults (pause, stop, disconnect) are known only to their
run's ledger.

It exits 0 when everything was undone, 4 when a run could not be stopped
or a ledger could not be read, and 5 when an undo failed.`,
		Example: `  chaos halt
  chaos halt --engine
  chaos halt --ledger /srv/gameday/ledger`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return withCode(exitUsage, fmt.Errorf("--timeout %s: want more than 0s", timeout))
			}
			return haltAll(cmd.Context(), io, dir, engine, timeout)
		},
	}
	cmd.Flags().StringVar(&dir, "ledger", "", "read ledgers from `DIR` (default: the state directory described above)")
	cmd.Flags().BoolVar(&engine, "engine", false, "also revert the resource faults recorded against Docker containers, whatever their run's ledger directory")
	cmd.Flags().DurationVar(&timeout, "timeout", 90*time.Second, "how long each run has to revert and end before it is killed")
	return cmd
}

// halting is a run halt told to stop.
type halting struct {
	runID, file string
	pid         int
	start       string // the run's start time, as ledgers keep it
	// path is its ledger; pending the entries it held when told to stop.
	path    string
	pending []*ledger.Entry
}

func haltAll(ctx context.Context, io *stdio, dir string, engine bool, timeout time.Duration) error {
	dir, err := ledgerDir(io, dir)
	if err != nil {
		return err
	}
	env := inject.NewEnv(0, func(msg string) { fmt.Fprintf(io.err, "chaos: warning: %s\n", msg) })
	defer env.Close()

	ledgers, loadErr := ledger.Load(dir)
	var runs []*halting
	var problems []error
	if loadErr != nil {
		problems = append(problems, loadErr)
	}
	for _, l := range ledgers {
		if !l.Alive() {
			continue // recovered below
		}
		h := &halting{runID: l.RunID, file: l.File, pid: l.PID, start: l.PIDStart, path: l.Path(), pending: l.Pending()}
		if err := syscall.Kill(l.PID, haltSignal); err != nil {
			problems = append(problems, fmt.Errorf("halt run %s of %s (pid %d): %w", l.RunID, l.File, l.PID, err))
			continue
		}
		fmt.Fprintf(io.out, "halting  %s  %s (pid %d)\n", l.RunID, l.File, l.PID)
		runs = append(runs, h)
	}

	// Resource faults on containers, whatever ledger their run keeps.
	var in *resource.Injector
	if engine {
		e, err := docker.Connect(ctx)
		if err != nil {
			problems = append(problems, fmt.Errorf("--engine: %w", err))
		} else {
			defer e.Close()
			// A container on another engine: its record names the
			// engine's address.
			others := map[string]*docker.Engine{}
			defer func() {
				for _, o := range others {
					o.Close()
				}
			}()
			in = &resource.Injector{Docker: e, Engine: func(ctx context.Context, d docker.Daemon) (resource.Docker, error) {
				key := d.String()
				if o := others[key]; o != nil {
					return o, nil
				}
				o, err := docker.ConnectTo(ctx, d)
				if err != nil {
					return nil, err
				}
				others[key] = o
				return o, nil
			}}
			recs, err := in.Applied("")
			if err != nil {
				problems = append(problems, err)
			}
			for _, rec := range recs {
				o := rec.Owner
				if rec.Target.Container == "" || o == nil || !isChaosRun(o.PID, o.Start) || slices.ContainsFunc(runs, func(h *halting) bool { return h.pid == o.PID }) {
					continue
				}
				if err := syscall.Kill(o.PID, haltSignal); err != nil {
					problems = append(problems, fmt.Errorf("halt run %s (pid %d): %w", rec.RunID, o.PID, err))
					continue
				}
				fmt.Fprintf(io.out, "halting  %s  (pid %d, its ledger elsewhere)\n", rec.RunID, o.PID)
				runs = append(runs, &halting{runID: rec.RunID, pid: o.PID, start: strconv.FormatUint(o.Start, 10)})
			}
		}
	}

	deadline := time.Now().Add(timeout)
	for _, h := range runs {
		if !waitEnded(ctx, h.pid, h.start, deadline) {
			fmt.Fprintf(io.err, "chaos: run %s (pid %d) did not end within %s of being halted: killing it, then undoing its ledger\n", h.runID, h.pid, timeout)
			_ = syscall.Kill(h.pid, syscall.SIGKILL)
			waitEnded(ctx, h.pid, h.start, time.Now().Add(5*time.Second))
		}
		if h.path == "" {
			continue
		}
		after := pendingIDs(h.path)
		for _, e := range h.pending {
			if !after[e.ID] {
				fmt.Fprintf(io.out, "%s  %s  %s  (by the run)\n", undoneVerb(e), h.runID, describeEntry(e))
			}
		}
	}

	// What is left in the ledgers: runs that died, reverts that failed, a
	// run that had to be killed. Its watchdog may be at it already.
	undone, failed := 0, 0
	ledgers, err = ledger.Load(dir)
	if err != nil {
		problems = append(problems, err)
	}
	for _, l := range ledgers {
		if l.InProgress() {
			if len(l.Pending()) > 0 {
				problems = append(problems, fmt.Errorf("run %s of %s (pid %d) is still in progress with changes in place", l.RunID, l.File, l.PID))
			}
			continue
		}
		if len(l.Pending()) == 0 {
			l.Close()
			continue
		}
		for {
			n, f, err := undoLedger(ctx, env, l, io.out, io.err)
			undone, failed = undone+n, failed+f
			if err == nil || time.Now().After(deadline.Add(time.Minute)) {
				if err != nil {
					problems = append(problems, err)
				}
				break
			}
			time.Sleep(200 * time.Millisecond) // another process is recovering it
		}
	}

	if in != nil {
		recs, err := in.Applied("")
		if err != nil {
			problems = append(problems, err)
		}
		for _, rec := range recs {
			if rec.Target.Container == "" || rec.Owner != nil && isChaosRun(rec.Owner.PID, rec.Owner.Start) {
				continue
			}
			warnings, err := in.Revert(ctx, rec)
			for _, w := range warnings {
				env.Warn(w)
			}
			if err != nil {
				failed++
				fmt.Fprintf(io.err, "undo failed  %s  %s on %s: %v\n", rec.RunID, rec.Kind, rec.Target, err)
				continue
			}
			undone++
			fmt.Fprintf(io.out, "reverted  %s  %s on %s  (from %s)\n", rec.RunID, rec.Kind, rec.Target, "the resource state directory")
		}
	}

	if len(runs) == 0 && undone == 0 && failed == 0 {
		fmt.Fprintln(io.out, "no run in progress, nothing to undo")
	}
	if failed > 0 {
		for _, p := range problems {
			fmt.Fprintf(io.err, "chaos: %v\n", p)
		}
		return withCode(exitRevertFailed, fmt.Errorf("%d change(s) could not be undone; the ledger keeps them: run chaos recover to try again", failed))
	}
	if len(problems) > 0 {
		return withCode(exitErr, errors.Join(problems...))
	}
	return nil
}

// waitEnded waits until the process pid, started at start, has ended, or
// the deadline passes; it reports whether it ended.
func waitEnded(ctx context.Context, pid int, start string, deadline time.Time) bool {
	for {
		s, err := proc.StartTime(pid)
		st, _ := proc.State(pid)
		if err != nil || strconv.FormatUint(s, 10) != start || st == "Z" || st == "X" {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pendingIDs reads the ledger at path again and returns the IDs of its
// entries still to undo; none when it is gone.
func pendingIDs(path string) map[int]bool {
	out := map[int]bool{}
	ls, _ := ledger.Load(filepath.Dir(path))
	for _, l := range ls {
		if l.Path() == path {
			for _, e := range l.Pending() {
				out[e.ID] = true
			}
		}
	}
	return out
}

// isChaosRun reports whether pid, started at start, is a chaos run: the
// only processes halt signals.
func isChaosRun(pid int, start uint64) bool {
	s, err := proc.StartTime(pid)
	if err != nil || s != start {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) >= 2 && strings.Contains(filepath.Base(args[0]), "chaos") && args[1] == "run"
}
