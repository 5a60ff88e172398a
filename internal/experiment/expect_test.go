package experiment_test

import (
	"slices"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

func TestExpectTextReadsLikeTheFile(t *testing.T) {
	type expect struct {
		Status []string          `json:"status"`
		JSON   map[string]string `json:"json"`
		Body   string            `json:"body_contains"`
	}
	got := experiment.ExpectText(&expect{
		Status: []string{"200", "202"},
		JSON:   map[string]string{"orders": "> 0", "double_charged": `"0"`},
		Body:   "<ok>",
	})
	want := map[string]string{"status": "200, 202", "json": "{double_charged 0, orders > 0}", "body_contains": "<ok>"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q; want %q", k, got[k], v)
		}
	}
	if line, want := journal.ExpectLine(got), "body_contains <ok>, json {double_charged 0, orders > 0}, status 200, 202"; line != want {
		t.Errorf("ExpectLine = %q; want %q", line, want)
	}
}

// The check phases an experiment's when names are the ones the journal
// records results under.
func TestCheckPhasesAgree(t *testing.T) {
	if got := []string{experiment.Before, experiment.During, experiment.After}; !slices.Equal(got, journal.CheckPhases) {
		t.Errorf("experiment's phases %v; the journal's %v", got, journal.CheckPhases)
	}
}
