package main

import (
	"fmt"

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
			defer env.Close()
			for _, t := range e.Targets {
				fmt.Fprint(io.out, e.Masker().Replace(fmt.Sprintf("%s (%s): %s\n", t.Name, t.Kind, resolveText(cmd.Context(), env, t, e.Services))))
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
