package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/experiment"
)

func newExplainCmd(io *stdio) *cobra.Command {
	return &cobra.Command{
		Use:     "explain [NAME]",
		Aliases: []string{"docs"},
		Short:   "Print the reference of the experiment format, or one entry of it",
		Long: `explain prints one entry of the experiment format's reference: a section
(services, load, steady_state, method, rollbacks, recovery, vars), a target
kind, a fault with its with: settings, a probe kind, or verdicts. A name
that is both a target and a probe kind, or a fault of several target
kinds, prints each. Without NAME it prints the whole reference, as
docs/reference.md holds it.`,
		Example: `  chaos explain latency
  chaos explain docker
  chaos explain "http probe"
  chaos explain > docs/reference.md`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			entries := reference()
			if len(args) == 0 {
				_, err := fmt.Fprint(io.out, experiment.Markdown(entries, referencePreamble))
				return err
			}
			found, hint := experiment.Lookup(entries, args[0])
			if len(found) == 0 {
				return withCode(exitUsage, fmt.Errorf("nothing is called %q in the reference%s (chaos explain lists everything)", args[0], hint))
			}
			var parts []string
			for _, e := range found {
				parts = append(parts, e.Markdown())
			}
			_, err := fmt.Fprint(io.out, strings.Join(parts, "\n"))
			return err
		},
	}
}
