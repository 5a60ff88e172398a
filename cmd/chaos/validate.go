package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/runner"
)

func newValidateCmd(io *stdio) *cobra.Command {
	var vars []string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check experiment files and list every problem with its position",
		Long: `validate reads experiment files and reports every problem in every file as
FILE:LINE:COL: message. It exits 2 if there is any problem, 0 otherwise.
Nothing is run and nothing is touched.

It also warns, as FILE:LINE:COL: warning: message, about a valid experiment
whose checks cannot observe the method as written: a check judged during a
method that has no planned length, a load check whose window is longer than
the method, a probe whose interval is. Warnings do not change the exit code.`,
		Example: `  chaos validate experiments/*.yaml
  chaos validate --var port=19090 experiments/proxy-latency.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			exps, err := loadAll(io, files, vars)
			if err != nil {
				return err
			}
			for _, e := range exps {
				for _, w := range e.Warnings() {
					fmt.Fprintln(io.err, warningText(w))
				}
				fmt.Fprintf(io.out, "%s: ok (%s)\n", e.File, describeExperiment(e))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable declared under vars: (`NAME=VALUE`, repeatable)")
	return cmd
}

// warningText writes a warning as FILE:LINE:COL: warning: message.
func warningText(w *experiment.Error) string {
	c := *w
	c.Msg = "warning: " + c.Msg
	return c.Error()
}

func describeExperiment(e *experiment.Experiment) string {
	plural := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	return fmt.Sprintf("%s, %s, %s", plural(len(e.Method), "step"), plural(len(e.SteadyState), "check"), plural(len(e.Targets), "target"))
}

// parseVars reads --var NAME=VALUE flags.
func parseVars(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, withCode(exitUsage, fmt.Errorf("--var %q: use NAME=VALUE", f))
		}
		if old, dup := out[k]; dup && old != v {
			return nil, withCode(exitUsage, fmt.Errorf("--var %s is given twice, as %q and %q", k, old, v))
		}
		out[k] = v
	}
	return out, nil
}

// loadAll loads every file, prints every problem in all of them, and fails
// with exit code 2 if there is any.
func loadAll(io *stdio, files, varFlags []string) ([]*experiment.Experiment, error) {
	vars, err := parseVars(varFlags)
	if err != nil {
		return nil, err
	}
	opts := experiment.Options{Catalog: runner.Catalog{}, Vars: vars, LookupEnv: io.lookupEnv}
	var exps []*experiment.Experiment
	problems := 0
	for _, f := range files {
		e, err := experiment.Load(f, opts)
		if err != nil {
			var list experiment.ErrorList
			if errors.As(err, &list) {
				problems += list.Count()
			} else {
				problems++
			}
			fmt.Fprintln(io.err, err)
			continue
		}
		exps = append(exps, e)
	}
	if problems > 0 {
		noun := "problems"
		if problems == 1 {
			noun = "problem"
		}
		return nil, withCode(exitUsage, fmt.Errorf("%d %s found; nothing was run", problems, noun))
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		declared := false
		for _, e := range exps {
			declared = declared || e.DeclaresVar(k)
		}
		if !declared {
			return nil, withCode(exitUsage, fmt.Errorf("--var %s: no experiment declares a variable %q under vars", k, k))
		}
	}
	return exps, nil
}
