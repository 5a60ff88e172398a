package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/ledger"
)

// ledgerHelp says where ledgers are kept, for the --help of run and recover.
const ledgerHelp = `Ledgers are kept in a state directory that does not depend on the working
directory: $XDG_STATE_HOME/chaos/ledger when XDG_STATE_HOME is set, else
/var/lib/chaos/ledger for root (one per host) and
~/.local/state/chaos/ledger for other users.`

func newRecoverCmd(io *stdio) *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Undo what a killed or failed run left behind",
		Long: `recover reads the ledgers and undoes what runs left behind: it reverts the
faults still recorded as applied, runs the undo commands of exec steps and
the rollbacks a run did not get to, and stops the services a run started
(SIGTERM to their process group, SIGKILL after their grace). A run that dies
leaves this to its watchdog; recover is for what is left after that, such
as a revert that failed. It says which directory it read and lists what it
undid; it is idempotent: running it again does nothing more. Ledgers of
runs still in progress, and of runs made on another host (a ledger
directory shared between hosts), are left alone unless --force is given; a
run killed but not yet reaped by its parent (a zombie) is not in progress,
nor is an experiment that ended with changes it could not undo while the
call it belongs to goes on with the next.

` + ledgerHelp + `

It exits 0 when nothing is left to undo, 2 when the --ledger directory does
not exist, 4 when changes were left alone because their run is still in
progress (or being recovered by another process, or the ledgers cannot be
read), and 5 when an undo failed.`,
		Example: `  chaos recover
  chaos recover --ledger /srv/gameday/ledger`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return recoverAll(cmd.Context(), io, dir, force)
		},
	}
	cmd.Flags().StringVar(&dir, "ledger", "", "read ledgers from `DIR` (default: the state directory described above)")
	cmd.Flags().BoolVar(&force, "force", false, "also undo what runs still in progress, or made on another host, changed")
	return cmd
}

func recoverAll(ctx context.Context, io *stdio, dir string, force bool) error {
	dir, err := ledgerDir(io, dir)
	if err != nil {
		return err
	}
	ledgers, loadErr := ledger.Load(dir)
	env := inject.NewEnv(0, func(msg string) { fmt.Fprintf(io.err, "chaos: warning: %s\n", msg) })
	defer env.Close()
	// skipped counts the runs left alone, busy those another process
	// (their watchdog, another chaos recover) is undoing: --force does
	// not take a ledger from under that process.
	failed, undone, skipped, busy := 0, 0, 0, 0
	// untaken are the runs whose ledger could not be taken over (it
	// cannot be locked or read): nothing of them was undone.
	var untaken []string
	for _, l := range ledgers {
		alive := l.InProgress()
		if len(l.Pending()) == 0 {
			if !alive {
				l.Close()
			}
			continue
		}
		if alive && !force {
			fmt.Fprintf(io.err, "chaos: run %s of %s (pid %d) is still in progress; it undoes its own changes (use --force to undo them now)\n", l.RunID, l.File, l.PID)
			skipped++
			continue
		}
		if l.Elsewhere() && !force {
			// Its processes, namespaces and commands are that host's,
			// and so may be its engine at the same address (the local
			// socket): undone here, they would hit the wrong things.
			fmt.Fprintf(io.err, "chaos: run %s of %s was made on host %s: run chaos recover there (from here, whether it is still in progress cannot be seen, and its changes may be that host's; use --force to undo them from here)\n", l.RunID, l.File, l.Host)
			skipped++
			continue
		}
		if alive {
			// Forced: the run goes on, and finds its faults gone.
			fmt.Fprintf(io.err, "chaos: run %s of %s (pid %d) is still in progress: undoing its changes from under it (--force); it will find them gone before its own revert\n", l.RunID, l.File, l.PID)
		}
		n, f, err := undoLedger(ctx, env, l, io.out, io.err)
		undone, failed = undone+n, failed+f
		if err != nil {
			fmt.Fprintf(io.err, "chaos: %v\n", err)
			if _, ok := errors.AsType[*beingRecovered](err); ok {
				busy++
			} else {
				untaken = append(untaken, fmt.Sprintf("run %s of %s", l.RunID, l.File))
			}
		}
	}
	var left error
	if skipped == 1 {
		left = errors.New("1 run was left alone with its changes in place; run chaos recover again once it ends, or with --force")
	} else if skipped > 1 {
		left = fmt.Errorf("%d runs were left alone with their changes in place; run chaos recover again once they end, or with --force", skipped)
	}
	if busy > 0 {
		left = errors.Join(left, fmt.Errorf("%d run(s) being undone by another process, whose changes this recover did not touch, --force or not; run chaos recover again once it is done, to see what it could not undo", busy))
	}
	if len(untaken) > 0 {
		left = errors.Join(left, fmt.Errorf("nothing of %s was undone: its ledger could not be taken over (the error above)", strings.Join(untaken, ", ")))
	}
	if loadErr != nil {
		left = errors.Join(left, loadErr)
	}
	if failed > 0 {
		if left != nil {
			fmt.Fprintf(io.err, "chaos: %v\n", left)
		}
		return withCode(exitRevertFailed, fmt.Errorf("%d change(s) could not be undone; the ledger keeps them for another try", failed))
	}
	if left != nil {
		return withCode(exitErr, left)
	}
	if undone == 0 {
		fmt.Fprintln(io.out, "nothing to recover")
	}
	return nil
}

// undoLedger undoes what the run of l left, in the order the run would
// have (faults and exec undos newest first, rollbacks, services), and lists
// each on out. chaos recover and the watchdog share it. It returns how many
// changes were undone and how many failed; the error says why the ledger
// was left alone (another process is recovering it).
func undoLedger(ctx context.Context, env *inject.Env, l *ledger.Ledger, out, errw io.Writer) (undone, failed int, err error) {
	ok, by, err := l.TakeOver()
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		if by != 0 {
			return 0, 0, &beingRecovered{l: l, by: by}
		}
		return 0, 0, nil // recovered and removed in the meantime
	}
	warn := env.Warn
	defer func() { env.Warn = warn }()
	for _, e := range l.ToUndo() {
		what := describeEntry(e)
		// An undo whose target is gone warns and succeeds: what it had to
		// undo went with the target, and the list says so rather than
		// "reverted".
		var gone []string
		env.Warn = func(msg string) { gone = append(gone, msg) }
		err := inject.Revert(ctx, env, e.Undo)
		env.Warn = warn
		if err != nil {
			for _, msg := range gone {
				warn(msg)
			}
			failed++
			if lerr := l.Mark(e.ID, ledger.Failed, err); lerr != nil {
				fmt.Fprintf(errw, "chaos: %v\n", lerr)
			}
			fmt.Fprintf(errw, "undo failed  %s  %s: %v\n", l.RunID, what, err)
			continue
		}
		undone++
		if err := l.Mark(e.ID, ledger.Done, nil); err != nil {
			fmt.Fprintf(errw, "chaos: %v\n", err)
		}
		if len(gone) > 0 {
			fmt.Fprintf(out, "nothing to undo  %s  %s: %s\n", l.RunID, what, strings.Join(gone, "; "))
			continue
		}
		fmt.Fprintf(out, "%s  %s  %s\n", undoneVerb(e), l.RunID, what)
	}
	if err := l.Close(); err != nil {
		fmt.Fprintf(errw, "chaos: remove ledger: %v\n", err)
	}
	return undone, failed, nil
}

// beingRecovered is undoLedger's answer for a ledger that another live
// process (the run's watchdog, another chaos recover) is undoing.
type beingRecovered struct {
	l  *ledger.Ledger
	by int
}

func (e *beingRecovered) Error() string {
	return fmt.Sprintf("run %s of %s is being recovered by pid %d (its watchdog, or another chaos recover); left to it", e.l.RunID, e.l.File, e.by)
}

// undoneVerb says what undoing an entry did.
func undoneVerb(e *ledger.Entry) string {
	switch e.Kind {
	case ledger.KindService:
		return "stopped"
	case ledger.KindUndo:
		return "undone"
	case ledger.KindRollback:
		return "ran"
	}
	return "reverted"
}

// describeEntry names what an entry undoes, for recover's list.
func describeEntry(e *ledger.Entry) string {
	switch e.Kind {
	case ledger.KindService:
		return fmt.Sprintf("service %q (pid %s and its process group)", e.Step, e.Undo.Target.ID)
	case ledger.KindUndo:
		return fmt.Sprintf("exec step %q: %s", e.Step, e.Undo.Target.Name)
	case ledger.KindRollback:
		return fmt.Sprintf("rollback %q: %s", e.Step, e.Undo.Target.Name)
	}
	return fmt.Sprintf("%s on %s (step %q)", e.Fault, e.Undo.Target, e.Step)
}

// ledgerDir is the ledger directory --ledger names, or the default one,
// which it says it reads. A mistyped --ledger must not read as "nothing
// to recover"; the default directory is missing until a run needs it.
func ledgerDir(io *stdio, dir string) (string, error) {
	given := dir != ""
	if !given {
		dir = ledger.DefaultDir()
	}
	if fi, err := os.Stat(dir); err != nil {
		if given || !errors.Is(err, os.ErrNotExist) {
			return "", withCode(exitUsage, fmt.Errorf("--ledger %s: %w", dir, err))
		}
	} else if !fi.IsDir() {
		return "", withCode(exitUsage, fmt.Errorf("--ledger %s: not a directory", dir))
	}
	fmt.Fprintf(io.out, "ledgers in %s\n", dir)
	return dir, nil
}
