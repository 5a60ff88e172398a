package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// A report that cannot be written does not keep the others from being:
// a report.html in the way (a directory of that name) still leaves the
// summary and the JUnit XML that CI reads, and the error is returned.
func TestWriteReportsWritesEveryOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "report.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &journal.Journal{SchemaVersion: journal.SchemaVersion, Title: "chaostest-reports", File: "t.yaml",
		Verdict: journal.Deviated, Reason: "chaostest-why", Started: t0, Ended: t0.Add(time.Second)}
	paths, err := writeReports(j, dir)
	if err == nil {
		t.Error("writeReports with report.html in the way returned no error")
	}
	for _, name := range []string{"journal.json", "summary.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	if paths["summary"] == "" || paths["junit"] == "" {
		t.Errorf("paths = %v; want the summary and the JUnit XML", paths)
	}
}
