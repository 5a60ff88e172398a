package journal

import (
	"maps"
	"slices"
	"strings"
)

// The phases of a run, as phase.started names them. --only selects among
// the first three (RunPhases); a step's Section is PhaseMethod or
// PhaseRollbacks.
const (
	PhaseBefore    = "before"
	PhaseMethod    = "method"
	PhaseAfter     = "after"
	PhaseRollbacks = "rollbacks"
)

// RunPhases lists the phases --only accepts, in run order.
var RunPhases = []string{PhaseBefore, PhaseMethod, PhaseAfter}

// The phases a check is judged in (its when), as Check.Results keys them.
const (
	CheckBefore = "before"
	CheckDuring = "during"
	CheckAfter  = "after"
)

// CheckPhases lists the check phases in run order.
var CheckPhases = []string{CheckBefore, CheckDuring, CheckAfter}

// checkPhaseText says when each check phase is: in the run's messages,
// around the method; in reports, around the faults.
var checkPhaseText = map[string][2]string{
	CheckBefore: {"before the method", "before the faults"},
	CheckDuring: {"during the method", "during the method"},
	CheckAfter:  {"after the method", "after the faults"},
}

// PhaseText says when a check phase is, in a sentence of the run's
// messages: "before the method".
func PhaseText(phase string) string { return checkPhaseText[phase][0] }

// PhaseTitle says when a check phase is, in a report: "before the faults".
func PhaseTitle(phase string) string { return checkPhaseText[phase][1] }

// ExpectLine writes a check's expectations, as Check.Expect records them,
// on one line in key order: "p99 < 300ms, success >= 99.5%".
func ExpectLine(expect map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(expect)) {
		if expect[k] != "" {
			parts = append(parts, k+" "+expect[k])
		}
	}
	return strings.Join(parts, ", ")
}
