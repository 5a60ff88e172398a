package main

import (
	"os"
	"path/filepath"
	"strings"
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

// The terminal's event lines quote a service's output: its escape
// sequences and carriage returns must not move the cursor and write over
// the lines above.
func TestPrinterHasNoTerminalControls(t *testing.T) {
	var b strings.Builder
	p := newPrinter(&b, false)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.Event(journal.Event{Time: t0, Type: journal.RunStarted, Message: "chaostest"})
	p.Event(journal.Event{Time: t0.Add(time.Second), Type: journal.Error,
		Message: "service \"svc\" exited; its last output: \r\x1b[2K\x1b[1APASSED \x1b[32mok\x1b[0m"})
	if strings.ContainsAny(b.String(), "\r\x1b") {
		t.Errorf("the event lines hold terminal controls: %q", b.String())
	}
	if !strings.Contains(b.String(), "PASSED ok") {
		t.Errorf("the event lines lost the text around the controls: %q", b.String())
	}
}
