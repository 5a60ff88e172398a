package journal_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// ByFault counts each check's observations per fault, in the order the
// faults were injected, and which of them failed.
func TestByFault(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &journal.Journal{
		Faults: []journal.Fault{
			{Step: "slow", Injected: t0},
			{Step: "down", Injected: t0.Add(2 * time.Second)},
			{Step: "down", Injected: t0.Add(2 * time.Second)}, // a second target
		},
		Checks: []*journal.Check{
			{Name: "orders", Samples: []journal.Sample{
				{OK: true},
				{OK: false, Faults: []string{"slow"}},
				{OK: true, Faults: []string{"slow"}},
				{OK: false, Faults: []string{"slow", "down"}},
				{OK: false, Faults: []string{"down"}},
			}},
			{Name: "cart", Samples: []journal.Sample{{OK: true, Faults: []string{"slow"}}, {OK: true, Faults: []string{"down"}}}},
			{Name: "guard", Abort: true, Samples: []journal.Sample{{OK: false, Faults: []string{"down"}}}},
		},
	}
	got := fmt.Sprint(j.ByFault())
	want := "[{slow [{orders false 3 2} {cart false 1 0}]} {down [{orders false 2 2} {cart false 1 0} {guard true 1 1}]}]"
	if got != want {
		t.Errorf("ByFault() = %s\nwant %s", got, want)
	}
	if broke := fmt.Sprint(j.ByFault()[0].Broke()); broke != "[{orders false 3 2}]" {
		t.Errorf("Broke() = %s", broke)
	}
}

// A journal written before observations named faults reads as before,
// with nothing by fault.
func TestOldJournalHasNoFaultEffects(t *testing.T) {
	var j journal.Journal
	old := `{"schema_version": 1, "faults": [{"step": "slow", "fault": "latency", "injected": "2026-01-01T00:00:00Z"}],
	  "checks": [{"name": "orders", "samples": [{"time": "2026-01-01T00:00:01Z", "phase": "during", "ok": false}]}]}`
	if err := json.Unmarshal([]byte(old), &j); err != nil {
		t.Fatal(err)
	}
	if e := j.ByFault(); len(e) != 1 || len(e[0].Checks) != 0 {
		t.Errorf("ByFault() = %v; want the fault with no check", e)
	}
	if s := j.Checks[0].Samples[0]; !s.Start().Equal(s.Time) || !s.End().Equal(s.Time) {
		t.Errorf("Start %s, End %s; want both the sample's time %s", s.Start(), s.End(), s.Time)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAndRead(t *testing.T, dir, src string) *journal.Journal {
	t.Helper()
	path := filepath.Join(dir, "journal.json")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A journal written before Abort.By recorded an abort by the operator,
// chaos halt or max_duration as one by a check of that name: read back,
// it says who aborted, unless an abort condition has that name.
func TestReadAbortBy(t *testing.T) {
	for _, tt := range []struct {
		name, checks, by, text string
	}{
		{"operator", `[]`, journal.AbortByOperator, "aborted by the operator"},
		{"condition named operator", `[{"name": "operator", "abort": true}]`, "", `abort condition "operator" fired: aborted by the operator`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.json")
			src := `{"schema_version": 2, "checks": ` + tt.checks + `, "abort": {"check": "operator", "at": "2026-01-01T00:00:00Z", "reason": "aborted by the operator"}}`
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			j, err := journal.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if j.Abort.By != tt.by || j.Abort.Text() != tt.text {
				t.Errorf("abort by %q: %q; want by %q: %q", j.Abort.By, j.Abort.Text(), tt.by, tt.text)
			}
		})
	}
}
