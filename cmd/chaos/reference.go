package main

import (
	"fmt"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/runner"
)

// referencePreamble heads docs/reference.md.
const referencePreamble = `# Experiment format reference

This reference is generated from the types chaos reads experiment files
into, as schema/experiment.json is: ` + "`chaos explain > docs/reference.md`" + `
writes it, and ` + "`chaos explain NAME`" + ` prints one entry (a section, a
target, a fault, a probe). docs/walkthrough.md writes a first experiment
with it.

`

// verdicts are the verdicts of a run, in the order verdictCode ranks them,
// with what each means.
var verdicts = []struct{ name, meaning string }{
	{journal.Passed, "every check held in each phase it is judged in (its when: before, during or after the method), and recovered in time"},
	{journal.Deviated, "a check failed: before the method, during it, or not recovered within recovery.within; or a probe or assert step failed"},
	{journal.Aborted, "an abort_when check failed, or the operator (the dashboard's abort), chaos halt or max_duration stopped the run early: its faults removed"},
	{journal.Errored, "the run could not be carried out: a target that matches nothing, a service that does not start, a command that cannot run, a check that observed nothing under a fault (the fault was gone before its revert, or met no traffic: no packet matched a network fault, no connection came to an intercept), a run that held but whose faults the operator cut short with a skip (it was judged under them for less than planned); also an internal error in chaos"},
	{journal.Interrupted, "Ctrl-C, SIGTERM, SIGQUIT or SIGHUP stopped the run; its faults were removed"},
	{journal.RevertFailed, "a fault could not be removed, or an exec step's undo or a rollback failed: run chaos recover, which finds it in the ledger"},
}

// reference is the format reference with the verdicts and exit codes, which
// this command decides.
func reference() []experiment.Entry {
	entries := experiment.Reference(runner.Catalog{})
	var b strings.Builder
	b.WriteString("A run ends with one verdict, which sets chaos run's exit code: when several things go wrong in one run, it is the first that applies of revert-failed, interrupted, error, aborted and deviated, and its reason names the others after its own. With several files, the exit code is the worst of their verdicts, and at least that of an interrupt (130) or a halt (3) that kept some from running. `chaos validate` exits 0 or 2.\n\n| verdict | exit code | meaning |\n|---|---|---|\n")
	for _, v := range verdicts {
		fmt.Fprintf(&b, "| %s | %d | %s |\n", v.name, verdictCode(v.name), v.meaning)
	}
	fmt.Fprintf(&b, "\nAn invalid file or command line exits %d before anything runs.\n", exitUsage)
	names := []string{"verdicts", "verdict", "exit codes", "exit code"}
	for _, v := range verdicts {
		names = append(names, v.name)
	}
	return append(entries, experiment.Entry{Title: "Verdicts and exit codes", Level: 2, Names: names, Body: b.String()})
}
