package network

import (
	"testing"

	"github.com/gamedayhq/chaos/internal/inject"
)

// The experiments of one call share its run ID, each with an Env of its
// own: their faults must not share table names, or one experiment's
// revert, or chaos recover of a fault an earlier one left, would remove
// the other's rules with its own.
func TestFaultNumbersAreUniqueAcrossTheExperimentsOfACall(t *testing.T) {
	first := inject.NewEnv(1, func(string) {})
	defer first.Close()
	first.RunID = "chaostest-seq-call"
	second := inject.NewEnv(2, func(string) {})
	defer second.Close()
	second.RunID = "chaostest-seq-call"
	a, b := nextSeq(first), nextSeq(second)
	if a == b {
		t.Errorf("the first faults of two experiments of one call are both number %d: both would be table %s", a, TableName(first.RunID, a))
	}
	// A dry run numbers its own faults from 1.
	for range 2 {
		dry := inject.NewEnv(3, func(string) {})
		if n := nextSeq(dry); n != 1 {
			t.Errorf("the first fault of a dry run is number %d, want 1", n)
		}
		dry.Close()
	}
}
