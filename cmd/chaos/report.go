package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
)

func newReportCmd(io *stdio) *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "report JOURNAL|DIR...",
		Short: "Render reports again from saved journals",
		Long: `report renders journal.json files written by 'chaos run' again, in the
format asked for, on stdout or into a file. A directory stands for the
journal.json in it (a run's report directory). Journals of older schema
versions are read too.`,
		Example: `  chaos report --format html -o report.html chaos-report/20261127T101500Z-3f2a1c/journal.json
  chaos report --format junit -o junit.xml chaos-report/*/journal.json
  chaos report --format md chaos-report/*/journal.json
  chaos report --format text chaos-report/20261127T101500Z-3f2a1c`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			var js []*journal.Journal
			for i, p := range paths {
				if fi, err := os.Stat(p); err == nil && fi.IsDir() {
					p = filepath.Join(p, "journal.json")
					paths[i] = p
				}
				// A device or a pipe would be read until memory runs out,
				// or wait for a writer.
				if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() {
					return withCode(exitUsage, fmt.Errorf("read journal: %s is not a regular file: give a journal.json or the report directory it is in", p))
				}
				j, err := journal.Read(p)
				if err != nil {
					return withCode(exitUsage, err)
				}
				js = append(js, j)
			}
			f, ok := report.LookupFormat(format)
			if !ok {
				return withCode(exitUsage, fmt.Errorf("--format %s: use one of %s", format, strings.Join(report.FormatNames(), ", ")))
			}
			// Several journals make a gameday: its index links each
			// experiment's own report next to its journal, relative to
			// where the index is written.
			in := report.Input{Journals: js, Dirs: indexDirs(paths, output)}
			if len(js) == 1 {
				in.Logs = serviceLogs(js[0], filepath.Dir(paths[0]))
			}
			b, err := f.Render(in)
			if err != nil {
				return withCode(exitErr, err)
			}
			out := string(b)
			if output == "" || output == "-" {
				_, err := fmt.Fprint(io.out, out)
				return err
			}
			if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
				return withCode(exitErr, err)
			}
			if err := os.WriteFile(output, []byte(out), 0o644); err != nil {
				return withCode(exitErr, fmt.Errorf("write report: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "output format: "+strings.Join(report.FormatNames(), ", ")+" (html for several journals is the gameday index)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` instead of stdout")
	return cmd
}

// indexDirs returns the directories of the journals at paths as a gameday
// index written to output (stdout when empty or "-") links them: relative
// to output's directory, or to the working directory for stdout.
func indexDirs(paths []string, output string) []string {
	from := "."
	if output != "" && output != "-" {
		from = filepath.Dir(output)
	}
	absFrom, ferr := filepath.Abs(from)
	dirs := make([]string, len(paths))
	for i, p := range paths {
		dir := filepath.Dir(p)
		abs, err := filepath.Abs(dir)
		if err == nil && ferr == nil {
			if rel, err := filepath.Rel(absFrom, abs); err == nil {
				dir = rel
			} else {
				dir = abs
			}
		}
		dirs[i] = filepath.ToSlash(dir)
	}
	return dirs
}
