package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/ledger"
)

func newRecoverCmd(io *stdio) *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Remove every fault a killed or failed run left behind",
		Long: `recover reads the fault ledgers and reverts every fault still recorded as
applied, for example after chaos itself was killed with SIGKILL or a revert
failed. It is idempotent: running it again does nothing more. Ledgers of runs
still in progress are left alone unless --force is given; a run killed but
not yet reaped by its parent (a zombie) is not in progress.

It exits 0 when nothing is left to revert, 2 when the --ledger directory
does not exist (the default .chaos/ledger, removed after clean runs, may be
missing), 4 when faults were left alone because their run is still in
progress (or the ledgers cannot be read), and 5 when a revert failed.`,
		Example: `  chaos recover
  chaos recover --ledger /var/lib/chaos/ledger`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return recoverAll(cmd.Context(), io, dir, force)
		},
	}
	cmd.Flags().StringVar(&dir, "ledger", ledger.DefaultDir, "read ledgers from `DIR`")
	cmd.Flags().BoolVar(&force, "force", false, "also revert the faults of runs that are still in progress")
	return cmd
}

func recoverAll(ctx context.Context, io *stdio, dir string, force bool) error {
	// A mistyped --ledger must not read as "nothing to recover". Only the
	// default directory, which clean runs remove, may be missing.
	if fi, err := os.Stat(dir); err != nil {
		if !errors.Is(err, os.ErrNotExist) || filepath.Clean(dir) != ledger.DefaultDir {
			return withCode(exitUsage, fmt.Errorf("--ledger %s: %w", dir, err))
		}
	} else if !fi.IsDir() {
		return withCode(exitUsage, fmt.Errorf("--ledger %s: not a directory", dir))
	}
	ledgers, err := ledger.Load(dir)
	if err != nil {
		return withCode(exitErr, err)
	}
	env := inject.NewEnv(0, func(msg string) { fmt.Fprintf(io.err, "chaos: warning: %s\n", msg) })
	defer env.Close()
	failed, reverted, skipped := 0, 0, 0
	for _, l := range ledgers {
		pending := l.Pending()
		if len(pending) == 0 {
			l.Close()
			continue
		}
		if l.Alive() && !force {
			fmt.Fprintf(io.err, "chaos: run %s of %s (pid %d) is still in progress; it reverts its own faults (use --force to revert them now)\n", l.RunID, l.File, l.PID)
			skipped++
			continue
		}
		for _, e := range pending {
			err := inject.Revert(ctx, env, e.Undo)
			if err != nil {
				failed++
				l.Mark(e.ID, ledger.Failed, err)
				fmt.Fprintf(io.err, "revert failed  %s  %s on %s: %v\n", l.RunID, e.Fault, e.Undo.Target, err)
				continue
			}
			reverted++
			if err := l.Mark(e.ID, ledger.Done, nil); err != nil {
				fmt.Fprintf(io.err, "chaos: %v\n", err)
			}
			fmt.Fprintf(io.out, "reverted  %s  %s on %s (step %q)\n", l.RunID, e.Fault, e.Undo.Target, e.Step)
		}
		if err := l.Close(); err != nil {
			fmt.Fprintf(io.err, "chaos: remove ledger: %v\n", err)
		}
	}
	var left error
	if skipped == 1 {
		left = errors.New("1 run still in progress was left alone with its faults applied; run chaos recover again once it ends, or with --force")
	} else if skipped > 1 {
		left = fmt.Errorf("%d runs still in progress were left alone with their faults applied; run chaos recover again once they end, or with --force", skipped)
	}
	if failed > 0 {
		if left != nil {
			fmt.Fprintf(io.err, "chaos: %v\n", left)
		}
		return withCode(exitRevertFailed, fmt.Errorf("%d fault(s) could not be reverted; the ledger keeps them for another try", failed))
	}
	if left != nil {
		return withCode(exitErr, left)
	}
	if reverted == 0 {
		fmt.Fprintln(io.out, "nothing to recover")
	}
	return nil
}
