package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject/resource"
)

// newStressWorkerCmd is the command chaos starts itself with, inside a
// target's cgroups, to keep up the load of a resource fault. It reads its
// job on stdin and is not meant for people, so it is hidden.
func newStressWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                resource.WorkerCommand,
		Short:              "Run the load of a resource fault (started by chaos itself)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			if code := resource.WorkerMain(os.Stdin, os.Stdout); code != 0 {
				return silent(code)
			}
			return nil
		},
	}
}
