package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

func newTargetsCmd(io *stdio) *cobra.Command {
	var vars []string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "targets FILE",
		Short: "List what each target of an experiment resolves to now",
		Long: `targets resolves every target of an experiment, as a fault step would
when it starts, and lists what would be hit. For network faults it also
shows the namespace each acts in and the rules it would install. Nothing
is touched.`,
		Example: "  chaos targets experiments/process-stop.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			exps, err := loadAll(io, files, vars)
			if err != nil {
				return err
			}
			e := exps[0]
			env := inject.NewEnv(seed, nil)
			env.Engines = e.Engines
			defer env.Close()
			for _, t := range e.Targets {
				fmt.Fprint(io.out, e.Masker().Replace(fmt.Sprintf("%s (%s): %s\n", t.Name, t.Kind, resolveText(cmd.Context(), env, t, e.Services))))
				for _, l := range perEngine(cmd.Context(), env, t) {
					fmt.Fprint(io.out, e.Masker().Replace("  "+l+"\n"))
				}
				for _, s := range e.Method {
					if s.Kind != experiment.StepFault || s.Target != t.Name {
						continue
					}
					for i, l := range describeStep(cmd.Context(), env, e, s) {
						if i == 0 {
							fmt.Fprint(io.out, e.Masker().Replace(fmt.Sprintf("  step %q (%s)\n", s.Name, s.Fault)))
						}
						fmt.Fprint(io.out, e.Masker().Replace("    "+l+"\n"))
					}
				}
			}
			if len(e.Targets) == 0 {
				fmt.Fprintf(io.out, "%s has no targets\n", e.File)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable declared under vars: (`NAME=VALUE`, repeatable)")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed for random picks")
	return cmd
}

// perEngine lists what a target that searches several Docker engines
// matches on each of them, one line an engine, in the target's order.
func perEngine(ctx context.Context, env *inject.Env, t *experiment.Target) []string {
	en, ok := t.Spec.(experiment.Engined)
	kind, found := inject.LookupTarget(t.Kind)
	if !ok || !found || len(en.EngineNames()) == 0 {
		return nil
	}
	all, err := kind.Resolve(ctx, env, t.Spec)
	if err != nil {
		return nil // resolveText has told it
	}
	var lines []string
	for _, name := range en.EngineNames() {
		var hits []string
		for _, m := range all {
			if m.Engine == name {
				m.Engine = ""
				hits = append(hits, strings.TrimPrefix(m.String(), m.Kind+" "))
			}
		}
		if len(hits) == 0 {
			lines = append(lines, fmt.Sprintf("on engine %s: nothing matches", name))
			continue
		}
		lines = append(lines, fmt.Sprintf("on engine %s: %d match: %s", name, len(hits), strings.Join(hits, ", ")))
	}
	return lines
}
