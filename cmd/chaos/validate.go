package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/runner"
)

func newValidateCmd(io *stdio) *cobra.Command {
	var vars []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check experiment files and list every problem with its position",
		Long: `validate reads experiment files and reports every problem in every file as
FILE:LINE:COL: message. It exits 2 if there is any problem, 0 otherwise.
Nothing is run and nothing is touched.

It also warns, as FILE:LINE:COL: warning: message, about a valid experiment
whose checks cannot observe the method as written: a check judged during a
method that has no planned length, a load check whose window is longer than
the method, a probe whose interval is. Warnings do not change the exit code.

With --json it writes one JSON object on stdout: the exit code, the
problems (file, line, col, message), and each valid file with its
warnings.`,
		Example: `  chaos validate experiments/*.yaml
  chaos validate --var port=19090 experiments/proxy-latency.yaml
  chaos validate --json experiments/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			exps, err := loadAll(io, files, vars)
			if err != nil {
				if asJSON {
					failureJSON(io, err)
				}
				return err
			}
			type valid struct {
				File     string    `json:"file"`
				Title    string    `json:"title"`
				Steps    int       `json:"steps"`
				Checks   int       `json:"checks"`
				Targets  int       `json:"targets"`
				Warnings []problem `json:"warnings"`
			}
			var out []valid
			for _, e := range exps {
				v := valid{File: e.File, Title: e.Masker().Replace(e.Title), Steps: len(e.Method), Checks: len(e.SteadyState), Targets: len(e.Targets), Warnings: []problem{}}
				for _, w := range e.Warnings() {
					fmt.Fprintln(io.err, warningText(w))
					v.Warnings = append(v.Warnings, problemOf(w))
				}
				out = append(out, v)
				if !asJSON {
					fmt.Fprintf(io.out, "%s: ok (%s)\n", e.File, describeExperiment(e))
				}
			}
			if asJSON {
				return writeJSON(io, struct {
					ExitCode    int       `json:"exit_code"`
					Problems    []problem `json:"problems"`
					Experiments []valid   `json:"experiments"`
				}{exitPassed, []problem{}, out})
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the outcome as one JSON object on stdout")
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

// problem is one problem in an experiment file, as --json writes it.
type problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

func problemOf(e *experiment.Error) problem {
	return problem{File: e.File, Line: e.Line, Col: e.Col, Message: e.Msg}
}

// loadError is the error of files that did not load, with every problem
// found in them.
type loadError struct {
	problems []problem
	err      error
}

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// failureJSON writes the one JSON object of a command with --json that
// failed before it could write its own: the exit code, the error, and the
// problems in the files.
func failureJSON(io *stdio, err error) {
	out := struct {
		ExitCode    int       `json:"exit_code"`
		Error       string    `json:"error"`
		Problems    []problem `json:"problems"`
		Experiments []any     `json:"experiments"`
	}{exitCode(err), err.Error(), []problem{}, []any{}}
	var le *loadError
	if errors.As(err, &le) {
		out.Problems = le.problems
	}
	writeJSON(io, out)
}

// writeJSON writes v on stdout, indented.
func writeJSON(io *stdio, v any) error {
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// loadAll loads every file, prints every problem in all of them, and fails
// with exit code 2 if there is any.
func loadAll(io *stdio, files, varFlags []string) ([]*experiment.Experiment, error) {
	vars, err := parseVars(varFlags)
	if err != nil {
		return nil, err
	}
	opts := experiment.Options{Catalog: runner.Catalog{}, Vars: vars, LookupEnv: io.lookupEnv, DockerHost: docker.DockerHost}
	var exps []*experiment.Experiment
	problems := 0
	var found []problem
	for _, f := range files {
		e, err := experiment.Load(f, opts)
		if err != nil {
			var list experiment.ErrorList
			if errors.As(err, &list) {
				problems += list.Count()
				for _, p := range list {
					found = append(found, problemOf(p))
				}
			} else {
				problems++
				found = append(found, problem{File: f, Message: err.Error()})
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
		return nil, withCode(exitUsage, &loadError{found, fmt.Errorf("%d %s found; nothing was run", problems, noun)})
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		var declared []string
		used := false
		for _, e := range exps {
			if e.DeclaresVar(k) {
				declared = append(declared, e.File)
			}
			used = used || e.UsesVar(k)
		}
		switch {
		case len(declared) == 0:
			return nil, withCode(exitUsage, fmt.Errorf("--var %s: no experiment declares a variable %q under vars", k, k))
		case !used:
			// The value given would change nothing: what it was meant
			// for is written out in the file, or misspelt.
			return nil, withCode(exitUsage, fmt.Errorf("--var %s: no experiment uses ${%s}: %s declares it under vars, but no value refers to it, so the value given would change nothing", k, k, strings.Join(declared, ", ")))
		}
	}
	return exps, nil
}
