package report_test

import (
	"encoding/xml"
	"fmt"
	htmlesc "html"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// everyFormat renders j in each format a person or a CI tool reads.
func everyFormat(t *testing.T, j *journal.Journal) map[string]string {
	t.Helper()
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"text":     report.Text(j),
		"markdown": report.Markdown(j),
		"html":     string(b),
		"junit":    string(mustJUnit(t, j)),
	}
}

// The terminal summary names every phase a check was meant to be judged
// in: one that an interrupt kept from being judged is "not run", not left
// out, which would read as a check that held wherever it was judged; and
// one that could not be observed says why, as the other formats do.
func TestTextNamesPhasesNotJudged(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Interrupted, Reason: "interrupted by signal SIGINT during the method",
		Started: t0, Ended: sec(10),
		Checks: []*journal.Check{
			{Name: "answers", Kind: "probe", When: []string{journal.CheckBefore, journal.CheckDuring, journal.CheckAfter},
				Results: map[string]string{journal.CheckBefore: journal.Held},
				Samples: []journal.Sample{{Time: sec(1), Phase: journal.CheckBefore, OK: true}}},
			{Name: "fast", Kind: "load", When: []string{journal.CheckBefore, journal.CheckDuring},
				Results: map[string]string{journal.CheckBefore: journal.Held, journal.CheckDuring: journal.Unobserved},
				Reasons: map[string]string{journal.CheckDuring: "no request finished in the phase"},
				Samples: []journal.Sample{{Time: sec(1), Phase: journal.CheckBefore, OK: true}}},
		},
	}
	got := report.Text(j)
	for _, want := range []string{
		`check "answers": before held, during not run, after not run`,
		`check "fast": before held, during unobserved`,
		"could not be judged during the method: no request finished in the phase",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
}

// A fault whose revert failed, whose injection failed part way, or that
// was never reverted is named with its target and what went wrong in
// every format, whatever the verdict's reason says: it may still be in
// place.
func TestFaultLeftInPlaceIsLoud(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.RevertFailed, Started: t0, Ended: sec(10),
		Reason: "a fault could not be removed, the system may still be degraded; run chaos recover to try again",
		Faults: []journal.Fault{
			{Step: "lat", Fault: "latency", TargetName: "link", Target: journal.Target{Kind: "proxy", ID: "chaostest-link"},
				Injected: sec(2), RevertError: "chaostest-revert-error"},
			{Step: "half", Fault: "loss", TargetName: "net", Target: journal.Target{Kind: "network", ID: "chaostest-net"},
				Injected: sec(3), InjectError: "chaostest-inject-error", RevertError: "chaostest-undo-error"},
			{Step: "gone", Fault: "stop", TargetName: "svc", Target: journal.Target{Kind: "process", ID: "4242"},
				Injected: sec(4)},
		},
	}
	if b := string(mustJUnit(t, j)); !strings.Contains(b, `<property name="fault lat" value="latency on link: revert failed: chaostest-revert-error">`) {
		t.Errorf("JUnit's property of the fault whose revert failed does not say so:\n%s", b)
	}
	for name, got := range everyFormat(t, j) {
		for _, want := range []string{"chaostest-revert-error", "chaostest-link", "chaostest-inject-error", "chaostest-undo-error", "chaostest-net", "not reverted"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, got)
			}
		}
	}
}

// An observation with a note (judged on less traffic than the check's
// window, with the outcomes of requests that came late, finished after
// its phase) says so in every format, held or not: the judgement it
// made is weaker than the check's plan, and only the journal would tell.
func TestSampleNotesShown(t *testing.T) {
	short := "judged on the last 1.2s of traffic of the method, less than the check's 5s window"
	late := "with the outcomes of 3 requests sent in the window that came after it"
	c := &journal.Check{Name: "fast", Kind: "load", Expect: map[string]string{"p99": "< 50ms"},
		When:    []string{journal.CheckBefore, journal.CheckDuring, journal.CheckAfter},
		Results: map[string]string{journal.CheckBefore: journal.Held, journal.CheckDuring: journal.Held, journal.CheckAfter: journal.Broken},
		Reasons: map[string]string{journal.CheckAfter: "p99 80ms, want < 50ms"},
	}
	// Many rows, so that the HTML report lists only some of them.
	for i := range 60 {
		s := journal.Sample{Time: sec(1 + i), Phase: journal.CheckBefore, OK: true, Observed: map[string]string{"p99": fmt.Sprintf("%dms", 10+i%7)}}
		if i >= 20 {
			s.Phase = journal.CheckDuring
		}
		if i == 30 {
			s.Note = short
		}
		c.Samples = append(c.Samples, s)
	}
	c.Samples = append(c.Samples, journal.Sample{Time: sec(70), Phase: journal.CheckAfter, OK: false, Note: late,
		Observed: map[string]string{"p99": "80ms"}, Reason: "p99 80ms, want < 50ms"})
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Deviated, Reason: "the steady state did not hold after the method",
		Started: t0, Ended: sec(71), Checks: []*journal.Check{c}}
	for name, got := range everyFormat(t, j) {
		for _, want := range []string{short, late} {
			if name == "html" {
				want = htmlesc.EscapeString(want)
			}
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks the note %q:\n%s", name, want, got)
			}
		}
	}
}

// A journal whose verdict is none that chaos writes (empty, or from a
// newer version) is never read as passed: chaos run's exit code counts it
// as an error, and so do JUnit and the gameday index.
func TestUnknownVerdictIsNoPass(t *testing.T) {
	for _, verdict := range []string{"", "chaostest-verdict"} {
		j := readJournal(t, "latency")
		j.Verdict = verdict
		var root struct {
			Errors   int `xml:"errors,attr"`
			Failures int `xml:"failures,attr"`
		}
		b := mustJUnit(t, j)
		if err := xml.Unmarshal(b, &root); err != nil {
			t.Fatal(err)
		}
		if root.Errors+root.Failures == 0 {
			t.Errorf("JUnit of a run of verdict %q has no error:\n%s", verdict, b)
		}
		if verdict == "" {
			if got := report.Text(j); !strings.HasPrefix(got, "NO VERDICT  ") {
				t.Errorf("the summary of a run without a verdict does not say so:\n%s", got)
			}
			h, err := report.HTML(j)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(h), `<div class="verdict">⚠ no verdict</div>`) {
				t.Errorf("the HTML banner of a run without a verdict does not say so")
			}
			if got := report.Markdown(j); !strings.HasPrefix(got, "# ⚠️ ") || !strings.HasSuffix(strings.SplitN(got, "\n", 2)[0], ": no verdict") {
				t.Errorf("the Markdown of a run without a verdict does not say so:\n%s", got)
			}
		}
		g := report.Gameday{Journals: []*journal.Journal{readJournal(t, "latency"), j}}
		md, err := report.IndexMarkdown(g)
		if err != nil {
			t.Fatal(err)
		}
		if head, _, _ := strings.Cut(string(md), "\n"); !strings.HasPrefix(head, "# ⚠️ ") {
			t.Errorf("the gameday index of a run of verdict %q is headed %q; want it headed as an error", verdict, head)
		}
	}
}

// A deviated run is a failure in JUnit even when no check or step of its
// journal says where it broke (a journal of an older version): its suite
// must not read all green.
func TestJUnitDeviatedHasFailure(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Deviated, Reason: "chaostest-why", Started: t0, Ended: sec(3)}
	var root struct {
		Errors   int `xml:"errors,attr"`
		Failures int `xml:"failures,attr"`
	}
	b := mustJUnit(t, j)
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if root.Failures == 0 || !strings.Contains(string(b), "chaostest-why") {
		t.Errorf("JUnit of a deviated run has no failure saying why:\n%s", b)
	}
}

// chaos report --format md of several journals is headed by the worst
// of their verdicts: the first run's own heading ("passed") would read as
// the verdict of them all.
func TestMarkdownOfSeveralHeadedByWorst(t *testing.T) {
	f, ok := report.LookupFormat("md")
	if !ok {
		t.Fatal("no md format")
	}
	b, err := f.Render(report.Input{Journals: []*journal.Journal{readJournal(t, "latency"), readJournal(t, "error")}})
	if err != nil {
		t.Fatal(err)
	}
	if head, _, _ := strings.Cut(string(b), "\n"); !strings.HasPrefix(head, "# ⚠️ ") || !strings.Contains(head, "1 passed, 1 error") {
		t.Errorf("the Markdown of a passed and an errored run is headed %q; want the error first", head)
	}
}

// A check's JUnit testcase names the phases it was meant for and not
// judged in: a run aborted before its after phase leaves a testcase that
// passes, which must not read as judged after the faults.
func TestJUnitCheckSaysPhasesNotJudged(t *testing.T) {
	b := string(mustJUnit(t, readJournal(t, "aborted")))
	_, tc, _ := strings.Cut(b, `<testcase name="check: fast through the proxy"`)
	tc, _, _ = strings.Cut(tc, "</testcase>")
	if !strings.Contains(tc, "after: not run") {
		t.Errorf("the testcase of a check not judged after the faults does not say so:\n%s", tc)
	}
}

// The terminal summary's time to recover is never the time of a check
// that recovered when another did not: it says which did not, as the
// other formats do.
func TestTextTimeToRecoverSaysNotRecovered(t *testing.T) {
	j := readJournal(t, "not-recovered")
	quick := &journal.Check{Name: "quick", Kind: "probe", When: []string{journal.CheckDuring, journal.CheckAfter},
		Results:   map[string]string{journal.CheckDuring: journal.Broken, journal.CheckAfter: journal.Held},
		Recovered: &journal.Recovery{After: time.Second, OK: true},
		Samples: []journal.Sample{{Time: j.Started.Add(4 * time.Second), Phase: journal.CheckDuring, Reason: "status 503, want 200"},
			{Time: j.Started.Add(8 * time.Second), Phase: journal.CheckAfter, OK: true}}}
	j.Checks = append(j.Checks, quick)
	got := report.Text(j)
	if strings.Contains(got, "time to recover: 1s") {
		t.Errorf("the summary gives the time to recover of a check that recovered, when another did not:\n%s", got)
	}
	if !strings.Contains(got, `time to recover: did not recover within 10s, check "fast through the proxy"`) {
		t.Errorf("the summary's time to recover does not name the check that did not recover:\n%s", got)
	}
}

// A window whose latency histogram cannot be read leaves the latencies
// unknown, not the counts: the load table still gives the requests the
// journal holds, not "0, no request completed".
func TestUnreadableHistogramKeepsCounts(t *testing.T) {
	j := readJournal(t, "latency")
	var requests int64
	for _, w := range j.Windows {
		requests += w.Requests
	}
	j.Windows[1].Latency.Histogram = "chaostest-not-a-histogram"
	got := report.Text(j)
	if !strings.Contains(got, fmt.Sprintf("  %d  ", requests)) || strings.Contains(got, "no request completed") {
		t.Errorf("the load table of %d requests, one window's latencies unreadable, does not give them:\n%s", requests, got)
	}
	if !strings.Contains(got, "latency unreadable") {
		t.Errorf("the load table does not say the latencies are unreadable:\n%s", got)
	}
	md := report.Markdown(j)
	if !strings.Contains(md, fmt.Sprintf(" | %d | ", requests)) {
		t.Errorf("the Markdown load table does not give the %d requests:\n%s", requests, md)
	}
	b, err := report.HTML(j)
	if err != nil {
		t.Fatalf("the HTML report of a run with an unreadable histogram is not written: %v", err)
	}
	if h := string(b); !strings.Contains(h, fmt.Sprintf(`<td class="num">%d</td>`, requests)) || !strings.Contains(h, "latency unreadable") {
		t.Errorf("the HTML report does not give the %d requests and say the latencies are unreadable", requests)
	}
}

// The terminal summary holds text from outside (a service's last output
// in the reason, an observed error): a carriage return or an escape
// sequence in it must not move the cursor and write over the verdict, as
// "\r\x1b[2KPASSED" would turn a DEVIATED line into a PASSED one.
func TestTextHasNoTerminalControls(t *testing.T) {
	j := readJournal(t, "deviated")
	j.Reason = "service \"svc\" exited; its last output: \r\x1b[2K\x1b[1APASSED  \x1b[32mall good\x1b[0m\x07"
	j.Checks[0].Name = "chaostest-\x1b]0;title\x07check"
	j.Warnings = []string{"\x9b2Jwarning"}
	for name, got := range map[string]string{
		"text":    report.Text(j),
		"gameday": report.GamedayText(report.Gameday{Journals: []*journal.Journal{j}}),
	} {
		if i := strings.IndexFunc(got, func(r rune) bool { return r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0) }); i >= 0 {
			t.Errorf("%s holds the control character %q:\n%q", name, got[i:i+1], got)
		}
	}
	if got := report.Text(j); !strings.Contains(got, "PASSED  all good") {
		t.Errorf("the summary lost the text around the controls:\n%q", got)
	}
}

// A fault that met no traffic, or whose target was gone before its
// revert, is a skipped testcase in JUnit: a property alone does not show
// in a CI tool's test tab, which would read as the hypothesis tried under
// every fault.
func TestJUnitFaultDidNotAct(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Passed, Started: t0, Ended: sec(10),
		Reason: "the hypothesis held before and after the faults; no check observed the system while they were in effect",
		Faults: []journal.Fault{
			{Step: "lat", Fault: "latency", TargetName: "link", Target: journal.Target{Kind: "network", ID: "10.0.0.9:8080"},
				Injected: sec(2), Reverted: sec(7), Unreached: "no packet it selects went through the host"},
			{Step: "stop", Fault: "stop", TargetName: "svc", Target: journal.Target{Kind: "process", ID: "4242"},
				Injected: sec(2), Reverted: sec(7), EndedEarly: "process 4242 had exited"},
		},
	}
	var root struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testsuite>testcase"`
	}
	b := mustJUnit(t, j)
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"fault: lat on link": "it met no traffic", "fault: stop on svc": "gone before its revert"}
	for _, c := range root.Cases {
		if w, ok := want[c.Name]; ok && c.Skipped != nil && strings.Contains(c.Skipped.Message, w) {
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("JUnit lacks skipped testcases %v:\n%s", want, b)
	}
}

// A gameday experiment whose reports could not be written makes chaos
// run exit with an error: its index, table and JUnit say so too, though
// the experiment passed, and do not link reports that are not there.
func TestGamedayReportsNotWritten(t *testing.T) {
	g := report.Gameday{Journals: []*journal.Journal{readJournal(t, "latency"), readJournal(t, "latency")},
		Dirs: []string{"a", "b"}, Unwritten: []string{"", "write journal: chaostest-disk-full"}}
	md, err := report.IndexMarkdown(g)
	if err != nil {
		t.Fatal(err)
	}
	if head, _, _ := strings.Cut(string(md), "\n"); !strings.HasPrefix(head, "# ⚠️ ") || !strings.Contains(head, "the reports of 1 not written") {
		t.Errorf("the index of a gameday with reports not written is headed %q", head)
	}
	if !strings.Contains(string(md), "chaostest-disk-full") || strings.Contains(string(md), "(b/report.html)") {
		t.Errorf("the index does not say why the reports were not written, or links them:\n%s", md)
	}
	if got := report.GamedayText(g); !strings.Contains(got, "the reports of 1 not written") {
		t.Errorf("the gameday table does not say reports were not written:\n%s", got)
	}
	b, err := report.GamedayJUnit(g)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Errors int `xml:"errors,attr"`
	}
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if root.Errors != 1 || !strings.Contains(string(b), "chaostest-disk-full") {
		t.Errorf("JUnit of a gameday with reports not written has %d errors; want 1 saying why:\n%s", root.Errors, b)
	}
}

// A check that broke in one phase and could not be judged in another is
// an error in JUnit whose message says both: the break is not left to
// the text under it.
func TestJUnitUnobservedAndBroken(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Errored, Reason: "check \"fast\" could not be judged", Started: t0, Ended: sec(10),
		Checks: []*journal.Check{{Name: "fast", Kind: "load", When: []string{journal.CheckBefore, journal.CheckDuring},
			Results: map[string]string{journal.CheckBefore: journal.Broken, journal.CheckDuring: journal.Unobserved},
			Reasons: map[string]string{journal.CheckBefore: "p99 80ms, want < 50ms", journal.CheckDuring: "no request finished"},
			Samples: []journal.Sample{{Time: sec(1), Phase: journal.CheckBefore, Reason: "p99 80ms, want < 50ms", Observed: map[string]string{"p99": "80ms"}}}}},
	}
	var root struct {
		Cases []struct {
			Name  string `xml:"name,attr"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testsuite>testcase"`
	}
	b := mustJUnit(t, j)
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	for _, c := range root.Cases {
		if c.Name == "check: fast" {
			if c.Error == nil || !strings.Contains(c.Error.Message, "could not be judged") || !strings.Contains(c.Error.Message, "p99 80ms, want < 50ms") {
				t.Errorf("the testcase of a check broken before and not observed during is %+v; want an error saying both", c.Error)
			}
			return
		}
	}
	t.Errorf("no testcase for the check:\n%s", b)
}

// One broken check phase among thousands is not a score of 100%: the
// score and JUnit's checks_held show as many decimals as it takes.
func TestScoreNeverRoundsUpToFull(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Deviated, Reason: "r", Started: t0, Ended: sec(1)}
	for i := range 4000 {
		res := journal.Held
		if i == 0 {
			res = journal.Broken
		}
		j.Checks = append(j.Checks, &journal.Check{Name: fmt.Sprintf("c%d", i), Kind: "probe", When: []string{journal.CheckBefore},
			Results: map[string]string{journal.CheckBefore: res}})
	}
	md, err := report.IndexMarkdown(report.Gameday{Journals: []*journal.Journal{j}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "**Resilience score: 99.98%**") {
		t.Errorf("the score of 3999 of 4000 phases held is not 99.98%%:\n%.300s", md)
	}
	if b := string(mustJUnit(t, j)); !strings.Contains(b, `<property name="checks_held" value="99.98%">`) {
		t.Errorf("JUnit's checks_held of 3999 of 4000 phases held is not 99.98%%")
	}
}

// A passed run's warnings are in its JUnit suite: no testcase carries
// them, and only the error testcase of a failed run listed them.
func TestJUnitWarnings(t *testing.T) {
	j := readJournal(t, "latency")
	j.Warnings = []string{"chaostest-warning: ledger entry left open"}
	if b := string(mustJUnit(t, j)); !strings.Contains(b, `<property name="warning" value="chaostest-warning: ledger entry left open">`) {
		t.Errorf("JUnit of a passed run with a warning does not give it:\n%.2000s", b)
	}
}

// A carriage return is a line ending in Markdown: one in a reason (which
// may quote a service's output) must not start a line of its own in the
// summary, where "# ✅ ...: passed" would be a heading.
func TestMarkdownCarriageReturn(t *testing.T) {
	j := readJournal(t, "deviated")
	j.Reason = "service exited; its last output: \r# ✅ chaostest: passed\r"
	j.Checks[0].Name = "chaostest\rcheck"
	for name, md := range map[string]string{"summary": report.Markdown(j), "index": string(must(report.IndexMarkdown(report.Gameday{Journals: []*journal.Journal{j}})))} {
		if strings.ContainsRune(md, '\r') {
			t.Errorf("the %s holds a carriage return:\n%q", name, md)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A run whose verdict is decided by something worse than an error (a
// failed revert, an interrupt) still says the error in every format: a
// service that died before the interrupt is not told by the events alone.
func TestErrorsBehindAWorseVerdict(t *testing.T) {
	j := readJournal(t, "interrupted")
	j.Events = append(j.Events, journal.Event{Time: j.Started.Add(time.Second), Type: journal.Error,
		Message: `service "chaostest-svc" exited with exit code 3 while the run was in progress`})
	for name, got := range everyFormat(t, j) {
		want := `service "chaostest-svc" exited with exit code 3`
		if name == "html" {
			want = htmlesc.EscapeString(want)
		}
		if !strings.Contains(got, "error: "+want) {
			t.Errorf("%s of an interrupted run with an error does not say the error:\n%s", name, got)
		}
	}
}

// "Every check held" under a fault that met no traffic, or whose target
// was gone before its revert, says that the fault did not act as
// planned, in every format that says what each fault did.
func TestHeldUnderFaultThatDidNotAct(t *testing.T) {
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Errored, Started: t0, Ended: sec(10),
		Reason: "chaostest-reason",
		Checks: []*journal.Check{{Name: "answers", Kind: "probe", When: []string{journal.CheckDuring},
			Results: map[string]string{journal.CheckDuring: journal.Held},
			Samples: []journal.Sample{{Time: sec(3), Phase: journal.CheckDuring, OK: true, Faults: []string{"lat"}}}}},
		Faults: []journal.Fault{{Step: "lat", Fault: "latency", TargetName: "link", Injected: sec(2), Reverted: sec(7),
			Unreached: "no packet it selects went through the host"}},
	}
	for name, got := range everyFormat(t, j) {
		if !strings.Contains(got, "every check held (1 observation") {
			t.Errorf("%s does not say what the checks saw under the fault:\n%s", name, got)
		}
		if !strings.Contains(got, "but the fault did not act as planned: it met no traffic: no packet it selects went through the host") {
			t.Errorf("%s says every check held under a fault that met no traffic without saying so:\n%s", name, got)
		}
	}
}
