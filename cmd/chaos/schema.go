package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/runner"
)

func newSchemaCmd(io *stdio) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of experiment files",
		Long: `schema prints the JSON Schema of the experiment format, generated from the
types chaos decodes into, for editors with yaml-language-server: add
  # yaml-language-server: $schema=PATH/TO/experiment.json
at the top of an experiment file.`,
		Example: "  chaos schema > schema/experiment.json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			enc := json.NewEncoder(io.out)
			enc.SetIndent("", "  ")
			return enc.Encode(experiment.Schema(runner.Catalog{}))
		},
	}
}
