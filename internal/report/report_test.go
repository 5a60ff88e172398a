package report_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtures are journals of real runs (latency, deviated, aborted, stop,
// error, by-fault: latency then down) and hand-made ones for outcomes hard
// to provoke (interrupted, revert-failed; not-recovered: a check that did
// not recover in time, a probe without expect, a service its SIGTERM
// ended).
var fixtures = []string{"latency", "deviated", "aborted", "stop", "error", "interrupted", "revert-failed", "by-fault", "not-recovered"}

func readJournal(t testing.TB, name string) *journal.Journal {
	t.Helper()
	j, err := journal.Read(filepath.Join("testdata", name+".journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test -update rewrites it); first difference at line %d:\n got: %s\nwant: %s",
			path, diffLine(got, want), line(got, diffLine(got, want)), line(want, diffLine(got, want)))
	}
}

func diffLine(a, b []byte) int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

func line(b []byte, n int) string {
	ls := strings.Split(string(b), "\n")
	if n-1 < len(ls) {
		return ls[n-1]
	}
	return "(end of file)"
}

func TestGoldenMarkdown(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".md.golden", []byte(report.Markdown(readJournal(t, name))))
		})
	}
}

// The terminal summary: each broken check's first and worst value and the
// faults it broke under, and each load stream's traffic in a table.
func TestGoldenText(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".txt.golden", []byte(report.Text(readJournal(t, name))))
		})
	}
}

func TestGoldenJUnit(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b, err := report.JUnit(readJournal(t, name))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".junit.golden", b)
		})
	}
}

func TestGoldenHTML(t *testing.T) {
	logs := map[string]string{"services/hello.log": "2026/11/27 07:05:03 hello: listening on 127.0.0.1:18092\n"}
	for _, name := range []string{"latency", "deviated", "aborted", "stop", "error", "revert-failed", "by-fault", "not-recovered"} {
		t.Run(name, func(t *testing.T) {
			b, err := report.HTMLWithLogs(readJournal(t, name), logs)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".html.golden", b)
		})
	}
}

func TestGoldenIndex(t *testing.T) {
	var js []*journal.Journal
	var dirs []string
	for _, name := range fixtures {
		js = append(js, readJournal(t, name))
		dirs = append(dirs, name)
	}
	md, err := report.IndexMarkdown(report.Gameday{Journals: js, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "index.md.golden", md)
	h, err := report.IndexHTML(report.Gameday{Journals: js, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "index.html.golden", h)
	all, err := report.JUnit(js...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "gameday.junit.golden", all)
	golden(t, "gameday.txt.golden", []byte(report.GamedayText(report.Gameday{Journals: js})))
	if _, err := report.IndexHTML(report.Gameday{Journals: js, Dirs: dirs[:2]}); err == nil {
		t.Error("IndexHTML with fewer directories than journals: no error")
	}
}

func TestHTMLShowsEverything(t *testing.T) {
	j := readJournal(t, "deviated")
	b, err := report.HTMLWithLogs(j, map[string]string{"hello": "line one\nline two\n"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`class="banner v-deviated"`,
		"p99 257.02ms, want &lt; 50ms",                                 // the reason, escaped
		`class="line p50"`, `class="line p99"`, `class="line success"`, // the chart
		`<rect class="fault"`, "latency → hello-link", // the fault window, labelled
		`class="mark"`,                          // a failed check marked
		"127.0.0.1:18093 -&gt; 127.0.0.1:18092", // what the fault hit
		"recovered in", "Recovered in",
		"<details><summary>log (2 lines)</summary>", "line two", // the log, collapsed
		"@media print", "@media (max-width",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}

// TestHTMLSelfContained checks that nothing in the page makes the browser
// fetch anything: no script, no external URL in src, href or CSS url().
func TestHTMLSelfContained(t *testing.T) {
	for _, name := range fixtures {
		j := readJournal(t, name)
		b, err := report.HTML(j)
		if err != nil {
			t.Fatal(err)
		}
		checkSelfContained(t, name, b)
	}
}

var fetching = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|\bsrc\s*=|url\(|@import|href\s*=\s*"(https?:)?//`)

func checkSelfContained(t *testing.T, name string, b []byte) {
	t.Helper()
	if m := fetching.Find(b); m != nil {
		t.Errorf("%s: the HTML report holds %q: it must not load anything", name, m)
	}
}

// TestScriptTitleIsText puts markup into every text an experiment file
// controls and checks that every format shows it as text.
func TestScriptTitleIsText(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	j := readJournal(t, "deviated")
	j.Title = "Title " + evil
	j.Description = "Description " + evil
	j.Reason = "Reason " + evil
	j.File = "exp" + evil + ".yaml"
	j.Tags = []string{evil}
	j.Checks[0].Name = "check " + evil
	j.Checks[0].Reasons["during"] = "reason " + evil
	j.Steps[0].Name = "step " + evil
	j.Faults[0].TargetName = "target " + evil
	j.Faults[0].Target.Name = "hit " + evil
	j.Services[0].Name = "svc " + evil
	j.Warnings = []string{"warning " + evil}
	for i := range j.Windows {
		j.Windows[i].Stream = "stream " + evil
	}
	j.Streams[0].Name = "stream " + evil
	j.Checks[0].From = "stream " + evil

	h, err := report.HTMLWithLogs(j, map[string]string{j.Services[0].Log: "log " + evil})
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, "script title", h)
	if !strings.Contains(string(h), "Title &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("HTML: the title is not shown as text")
	}

	idx, err := report.IndexHTML(report.Gameday{Journals: []*journal.Journal{j}, Dirs: []string{`run "<script>"`}})
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, "script index", idx)

	md := report.Markdown(j)
	if strings.Contains(md, "<script") || !strings.Contains(md, "&lt;script&gt;") {
		t.Errorf("Markdown: markup is not escaped:\n%s", md)
	}
	mdi, err := report.IndexMarkdown(report.Gameday{Journals: []*journal.Journal{j}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mdi), "<script") {
		t.Errorf("index Markdown: markup is not escaped:\n%s", mdi)
	}

	x, err := report.JUnit(j)
	if err != nil {
		t.Fatal(err)
	}
	// Text may hold "<script>" verbatim in CDATA; what matters is that it
	// stays text: no element other than JUnit's.
	dec := xml.NewDecoder(bytes.NewReader(x))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "script" {
			t.Error("JUnit: markup from the experiment became an element")
		}
	}
	var doc struct {
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v", err)
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Name != j.Title {
		t.Errorf("JUnit suite names = %+v; want the title %q", doc.Suites, j.Title)
	}
}

func TestJUnitFailureSaysWhenAndHowMuch(t *testing.T) {
	b, err := report.JUnit(readJournal(t, "deviated"), readJournal(t, "aborted"), readJournal(t, "error"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Type    string `xml:"type,attr"`
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 3 {
		t.Fatalf("%d testsuites; want 3", len(doc.Suites))
	}
	f := doc.Suites[0].Cases[0].Failure
	if f == nil || !regexp.MustCompile(`^broke during the method at \+\d.*: p99 [\d.]+ms, want < 50ms`).MatchString(f.Message) {
		t.Errorf("deviated check failure = %+v; want when and by how much", f)
	}
	var errTypes []string
	for _, s := range doc.Suites[1:] {
		for _, c := range s.Cases {
			if c.Error != nil {
				errTypes = append(errTypes, c.Error.Type)
			}
		}
	}
	if strings.Join(errTypes, ",") != "aborted,error" {
		t.Errorf("error types = %v; want [aborted error]", errTypes)
	}
	if doc.Failures != 1 || doc.Errors != 2 {
		t.Errorf("testsuites failures=%d errors=%d; want 1 and 2", doc.Failures, doc.Errors)
	}
}

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		names                   []string
		held, broken, notJudged int
	}{
		{[]string{"latency"}, 2, 0, 0},
		{[]string{"deviated"}, 2, 1, 0},
		{[]string{"aborted"}, 1, 0, 1},
		{[]string{"error"}, 0, 0, 2},
		{[]string{"latency", "deviated", "aborted", "error"}, 5, 1, 3},
	} {
		var tally report.Tally
		var js []*journal.Journal
		for _, n := range tc.names {
			j := readJournal(t, n)
			js = append(js, j)
			tally = tally.Add(report.TallyOf(j))
		}
		want := report.Tally{Held: tc.held, Broken: tc.broken, NotJudged: tc.notJudged}
		if tally != want {
			t.Errorf("TallyOf(%v) = %+v; want %+v", tc.names, tally, want)
		}
		score, ok := report.Score(js...)
		if judged := tc.held + tc.broken; ok != (judged > 0) || (ok && score != float64(tc.held)/float64(judged)) {
			t.Errorf("Score(%v) = %v, %v; want %d/%d", tc.names, score, ok, tc.held, judged)
		}
	}
}

// The gameday index heads its page with the worst verdict as chaos run's
// exit code ranks them: a fault left in place (revert-failed, 5) is worse
// than an interrupt (130), whatever the order of the experiments.
func TestIndexWorstVerdict(t *testing.T) {
	for _, names := range [][]string{{"revert-failed", "interrupted"}, {"interrupted", "revert-failed"}, {"latency", "revert-failed", "error"}} {
		var js []*journal.Journal
		for _, n := range names {
			js = append(js, readJournal(t, n))
		}
		md, err := report.IndexMarkdown(report.Gameday{Journals: js})
		if err != nil {
			t.Fatal(err)
		}
		if head, _, _ := strings.Cut(string(md), "\n"); !strings.HasPrefix(head, "# 🔥 ") {
			t.Errorf("IndexMarkdown(%v) heads %q; want the revert-failed mark", names, head)
		}
		h, err := report.IndexHTML(report.Gameday{Journals: js})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(h), `<div class="verdict">gameday: revert-failed</div>`) {
			t.Errorf("IndexHTML(%v) does not say gameday: revert-failed", names)
		}
	}
}

// A gameday stopped between its experiments (chaos halt, an interrupt)
// lists each experiment it did not run, marked not run, and is headed by
// the verdict the stop gave the call, as its exit code is: never passed
// because the experiments that ran passed, and never better than the
// worst of them.
func TestIndexStopped(t *testing.T) {
	notRun := []report.NotRun{{Title: "Fails", File: "fails.yaml"}, {Title: "Slow <b>", File: "slow.yaml"}}
	mark := map[string]string{journal.Aborted: "🛑", journal.Interrupted: "⏹️", journal.RevertFailed: "🔥"}
	for _, tc := range []struct {
		names              []string
		stopped, stoppedBy string
		want               string
	}{
		{[]string{"latency"}, journal.Aborted, "halted by chaos halt", journal.Aborted},
		{[]string{"latency"}, journal.Interrupted, "interrupted", journal.Interrupted},
		{[]string{"latency", "deviated"}, journal.Aborted, "halted by chaos halt", journal.Aborted},
		{[]string{"latency", "revert-failed"}, journal.Interrupted, "interrupted", journal.RevertFailed},
		{[]string{"interrupted"}, journal.Interrupted, "interrupted", journal.Interrupted},
	} {
		var js []*journal.Journal
		for _, n := range tc.names {
			js = append(js, readJournal(t, n))
		}
		g := report.Gameday{Journals: js, NotRun: notRun, Stopped: tc.stopped, StoppedBy: tc.stoppedBy}
		md, err := report.IndexMarkdown(g)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(md), "\n")
		wantHead := fmt.Sprintf("%d experiments: ", len(js)+len(notRun))
		if !strings.HasPrefix(head, "# "+mark[tc.want]+" ") || !strings.Contains(head, wantHead) ||
			!strings.HasSuffix(head, ", 2 not run ("+tc.stoppedBy+")") {
			t.Errorf("IndexMarkdown(%v stopped %s) heads %q; want the %s mark, %q and 2 not run", tc.names, tc.stopped, head, tc.want, wantHead)
		}
		h, err := report.IndexHTML(g)
		if err != nil {
			t.Fatal(err)
		}
		if want := `<div class="verdict">gameday: ` + tc.want + `</div>`; !strings.Contains(string(h), want) {
			t.Errorf("IndexHTML(%v stopped %s) does not say %s", tc.names, tc.stopped, want)
		}
		text := report.GamedayText(g)
		for _, n := range notRun {
			row := "| " + n.Title + "<br>" + n.File + " | ⏭️ not run: the gameday was " + tc.stoppedBy + " before it ran |"
			if n.Title == "Slow <b>" {
				row = "| Slow &lt;b&gt;<br>" + n.File + " | ⏭️ not run: the gameday was " + tc.stoppedBy + " before it ran |"
			}
			if !strings.Contains(string(md), row) {
				t.Errorf("IndexMarkdown(%v stopped %s) has no row %q", tc.names, tc.stopped, row)
			}
			if !strings.Contains(string(h), n.File+`</span></td><td><span class="r-skipped">– not run</span>`) {
				t.Errorf("IndexHTML(%v stopped %s) does not mark %s not run", tc.names, tc.stopped, n.File)
			}
			if !strings.Contains(text, "("+n.File+")  ") || !strings.Contains(text, "not run") {
				t.Errorf("GamedayText(%v stopped %s) does not list %s as not run:\n%s", tc.names, tc.stopped, n.File, text)
			}
		}
	}
	js := []*journal.Journal{readJournal(t, "latency")}
	g := report.Gameday{Journals: js, Dirs: []string{"latency"}, NotRun: notRun, Stopped: journal.Aborted, StoppedBy: "halted by chaos halt"}
	md, err := report.IndexMarkdown(g)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "index-halted.md.golden", md)
	h, err := report.IndexHTML(g)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "index-halted.html.golden", h)
	golden(t, "gameday-halted.txt.golden", []byte(report.GamedayText(g)))
}

// TestJUnitValidates checks every JUnit rendering against the JUnit schema
// in testdata with xmllint (Debian package libxml2-utils).
func TestJUnitValidates(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint is not installed (apt-get install -y libxml2-utils): JUnit not validated against testdata/junit.xsd")
	}
	dir := t.TempDir()
	var js []*journal.Journal
	var files []string
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, name := range fixtures {
		j := readJournal(t, name)
		js = append(js, j)
		b, err := report.JUnit(j)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, write(name, b))
	}
	evil := readJournal(t, "deviated")
	evil.Title = `<script>alert("x")</script> ]]> & ` + "\x1b[31mred\x1b[0m"
	evil.Checks[0].Reasons["during"] = "]]><x/>"
	stopped, err := report.GamedayJUnit(report.Gameday{Journals: js[:1], NotRun: []report.NotRun{{Title: "Fails", File: "fails.yaml"}},
		Stopped: journal.Interrupted, StoppedBy: "interrupted"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{mustJUnit(t, js...), mustJUnit(t, evil), mustJUnit(t), stopped} {
		files = append(files, write(fmt.Sprintf("more-%d", len(files)), b))
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", "testdata/junit.xsd"}, files...)...).CombinedOutput()
	if err != nil {
		t.Errorf("JUnit does not validate: %v\n%s", err, out)
	}

	// The schema must reject what Jenkins would: a testsuite without its
	// counts.
	bad := write("bad", []byte(`<testsuites><testsuite name="x"><testcase name="y"/></testsuite></testsuites>`))
	if out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit.xsd", bad).CombinedOutput(); err == nil {
		t.Errorf("xmllint accepted a testsuite without tests, failures and errors:\n%s", out)
	}
}

func mustJUnit(t *testing.T, js ...*journal.Journal) []byte {
	t.Helper()
	b, err := report.JUnit(js...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A span of a stream in which no request completed says so, in the
// terminal's table and in the summary: not a success of 0% beside 0
// requests.
func TestNoRequestCompleted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Deviated, Started: t0, Ended: sec(4),
		Streams: []journal.Stream{{Name: "api"}, {Name: "dead"}},
		Phases:  []journal.Phase{{Name: journal.PhaseBefore, Started: t0, Ended: sec(2)}, {Name: journal.PhaseMethod, Started: sec(2), Ended: sec(4)}},
		Windows: []journal.Window{
			{Stream: "api", Start: t0, End: sec(1), Requests: 10, Successes: 10},
			{Stream: "api", Start: sec(2), End: sec(3)},
			{Stream: "dead", Start: t0, End: sec(1)},
		}}
	text := report.Text(j)
	for _, re := range []string{
		`(?m)^  load +requests +success +p50 +p90 +p99 +max +waiting +errors$`,
		`(?m)^  api +10 +100% `,
		`(?m)^    method +0 +- +- +- +- +- +- +no request completed$`,
		`(?m)^  dead +0 +- +- +- +- +- +- +no request completed$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("Text has no line matching %s:\n%s", re, text)
		}
	}
	if regexp.MustCompile(`\s0%`).MatchString(text) {
		t.Errorf("Text says 0%%:\n%s", text)
	}
	if md := report.Markdown(j); !strings.Contains(md, "| dead | 0 | no request completed |") {
		t.Errorf("Markdown does not say no request completed:\n%s", md)
	}
}

// The requests a span left waiting for an answer show beside its
// latencies in every load table: a stall, where requests hang and none
// completes, must not read as an idle or fast stream. A row takes the
// waiting requests of its newest window, not the sum of its windows',
// which counts a request once per window it outlived.
func TestWaitingShown(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	upTo := func(d time.Duration) load.Latency { return load.Latency{Max: d} }
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Deviated, Started: t0, Ended: sec(3),
		Streams: []journal.Stream{{Name: "api"}, {Name: "dead"}},
		Phases:  []journal.Phase{{Name: journal.PhaseBefore, Started: t0, Ended: sec(1)}, {Name: journal.PhaseMethod, Started: sec(1), Ended: sec(3)}},
		Windows: []journal.Window{
			{Stream: "api", Start: t0, End: sec(1), Requests: 10, Successes: 10, Inflight: 1, Waiting: upTo(5 * time.Millisecond)},
			{Stream: "api", Start: sec(1), End: sec(2), Inflight: 50, Waiting: upTo(3200 * time.Millisecond)},
			{Stream: "api", Start: sec(2), End: sec(3), Inflight: 50, Waiting: upTo(4200 * time.Millisecond)},
			{Stream: "dead", Start: sec(2), End: sec(3), Inflight: 7, Waiting: upTo(900 * time.Millisecond)},
		}}
	text := report.Text(j)
	for _, re := range []string{
		`(?m)^  load +requests +success +p50 +p90 +p99 +max +waiting +errors$`,
		`(?m)^  api +10 +100% +- +- +- +- +50, up to 4\.2s +-$`,
		`(?m)^    before +10 +100% +- +- +- +- +1, up to 5ms +-$`,
		`(?m)^    method +0 +- +- +- +- +- +50, up to 4\.2s +no request completed$`,
		`(?m)^  dead +0 +- +- +- +- +- +7, up to 900ms +no request completed$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("Text has no line matching %s:\n%s", re, text)
		}
	}
	md := report.Markdown(j)
	for _, want := range []string{
		"| stream | requests | success | errors | p50 | p90 | p99 | max | waiting |",
		"| api | 10 | 100% |  |  |  |  |  | 50, up to 4.2s |",
		"| dead | 0 | no request completed |  |  |  |  |  | 7, up to 900ms |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, re := range []string{
		`<th class="num">max</th><th class="num">waiting</th></tr>`,
		// The rows of each second, then the whole run.
		`>00:00:00</td>.*<td class="num">1, up to 5ms</td></tr>`,
		`>00:00:01</td>.*<td class="num">50, up to 3\.2s</td></tr>`,
		`>00:00:02</td>.*<td class="num">50, up to 4\.2s</td></tr>`,
		`whole run</td>.*<td class="num">50, up to 4\.2s</td></tr>`,
		`whole run</td>.*<td class="num">7, up to 900ms</td></tr>`,
	} {
		if !regexp.MustCompile(re).MatchString(html) {
			t.Errorf("HTML has nothing matching %s", re)
		}
	}
}

// A fault's notes (what a network fault resolved or cut) show with what
// it hit, in Markdown and HTML.
func TestFaultNotes(t *testing.T) {
	j := readJournal(t, "deviated")
	if len(j.Faults) == 0 {
		t.Fatal("the fixture has no fault")
	}
	j.Faults[0].Notes = []string{"container payment is 172.18.0.3", "cut 2 open connections to the dependency"}
	want := "container payment is 172.18.0.3; cut 2 open connections to the dependency"
	if md := report.Markdown(j); !strings.Contains(md, want) {
		t.Errorf("Markdown report lacks %q:\n%s", want, md)
	}
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `<span class="muted">`+want+`</span>`) {
		t.Errorf("HTML report lacks the notes %q", want)
	}
}

// A run whose checks could not all be judged says how many were not
// beside those that held: "1 of 1" alone would read as every check held,
// for an aborted run whose check was never judged after the method.
func TestChecksHeldSaysNotJudged(t *testing.T) {
	j := readJournal(t, "aborted")
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	junit := mustJUnit(t, j)
	for name, got := range map[string]string{
		"markdown": report.Markdown(j),
		"html":     string(b),
	} {
		if !strings.Contains(got, "1 of 1 (1 not judged)") {
			t.Errorf("%s of a run with 1 check phase held and 1 not judged does not say 1 of 1 (1 not judged)", name)
		}
	}
	if !strings.Contains(string(junit), `<property name="checks_not_judged" value="1">`) {
		t.Errorf("JUnit of a run with 1 check phase not judged has no checks_not_judged property:\n%s", junit)
	}
	if md := report.Markdown(readJournal(t, "error")); !strings.Contains(md, "| checks held | none (2 not judged) |") {
		t.Errorf("markdown of a run with no check phase judged does not say none of them was:\n%s", md)
	}
}

// The terminal summary repeats the run's warnings: printed as they came,
// they are far above it, and it must not read as a run without them.
func TestTextRepeatsWarnings(t *testing.T) {
	j := readJournal(t, "latency")
	j.Warnings = []string{`notify: webhook http://127.0.0.1:9/***: 1 of 1 requests not sent`}
	if got := report.Text(j); !strings.Contains(got, "\n  warning: notify: webhook http://127.0.0.1:9/***: 1 of 1 requests not sent\n") {
		t.Errorf("the summary of a run with a warning does not repeat it:\n%s", got)
	}
}

// A gameday stopped before some of its experiments is not all green in
// JUnit: each experiment not run is a testsuite with an error, and the
// counts say so, though every experiment that ran passed.
func TestJUnitNotRun(t *testing.T) {
	g := report.Gameday{Journals: []*journal.Journal{readJournal(t, "latency")},
		NotRun: []report.NotRun{{Title: "Fails", File: "fails.yaml"}}, Stopped: journal.Interrupted, StoppedBy: "interrupted"}
	b, err := report.GamedayJUnit(g)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Errors int `xml:"errors,attr"`
		Suites []struct {
			Name   string `xml:"name,attr"`
			Errors int    `xml:"errors,attr"`
			Cases  []struct {
				Name  string `xml:"name,attr"`
				Error *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if root.Errors != 1 || len(root.Suites) != 2 {
		t.Fatalf("JUnit of a gameday interrupted before 1 of its 2 experiments: %d errors in %d suites; want 1 in 2:\n%s", root.Errors, len(root.Suites), b)
	}
	s := root.Suites[1]
	if s.Name != "Fails" || s.Errors != 1 || len(s.Cases) != 1 || s.Cases[0].Error == nil ||
		s.Cases[0].Error.Message != "not run: the gameday was interrupted before it ran" || s.Cases[0].Error.Type != journal.Interrupted {
		t.Errorf("the suite of the experiment not run is %+v; want Fails with an error: not run: the gameday was interrupted before it ran:\n%s", s, b)
	}
}

// A fault that only an abort condition watched was not observed by the
// hypothesis: no report says "every check held" under it, as the
// verdict's reason says that no check observed the system while it was
// in effect.
func TestFaultWatchedOnlyByAbortCondition(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	guard := &journal.Check{Name: "guard", Kind: "probe", Abort: true, When: []string{journal.CheckDuring},
		Results: map[string]string{journal.CheckDuring: journal.Held}}
	for i := range 3 {
		guard.Samples = append(guard.Samples, journal.Sample{Time: sec(3 + i), Phase: journal.CheckDuring, OK: true, Faults: []string{"lat"}})
	}
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Passed, Started: t0, Ended: sec(10),
		Reason: "the hypothesis held before and after the faults; no check observed the system while they were in effect",
		Checks: []*journal.Check{
			{Name: "answers", Kind: "probe", When: []string{journal.CheckBefore, journal.CheckAfter},
				Results: map[string]string{journal.CheckBefore: journal.Held, journal.CheckAfter: journal.Held},
				Samples: []journal.Sample{{Time: sec(1), Phase: journal.CheckBefore, OK: true}, {Time: sec(9), Phase: journal.CheckAfter, OK: true}}},
			guard,
		},
		Faults: []journal.Fault{{Step: "lat", Fault: "latency", TargetName: "link", Injected: sec(2), Reverted: sec(7)}},
	}
	b, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{
		"text":     report.Text(j),
		"markdown": report.Markdown(j),
		"html":     string(b),
		"junit":    string(mustJUnit(t, j)),
	} {
		if strings.Contains(got, "every check held") {
			t.Errorf("%s says every check held under a fault that only an abort condition watched:\n%s", name, got)
		}
		if !strings.Contains(got, "abort conditions held (3 observations)") {
			t.Errorf("%s does not say that the abort conditions held under the fault:\n%s", name, got)
		}
	}
}

// The terminal summary of a run whose fault met no traffic, or whose
// target was gone before its revert, says so: a run with no check during
// the method passes, "held before and after the faults", and nothing else
// in the summary would tell that a fault did nothing.
func TestTextSaysFaultDidNotAct(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	j := &journal.Journal{Title: "t", File: "t.yaml", Verdict: journal.Passed, Started: t0, Ended: sec(10),
		Reason: "the hypothesis held before and after the faults; no check observed the system while they were in effect",
		Faults: []journal.Fault{
			{Step: "lat", Fault: "latency", TargetName: "link", Target: journal.Target{Kind: "network", ID: "10.0.0.9:8080"},
				Injected: sec(2), Reverted: sec(7), Unreached: "no packet it selects (host 10.0.0.9, port 8080) went through the host"},
			{Step: "stop", Fault: "stop", TargetName: "svc", Target: journal.Target{Kind: "process", ID: "4242"},
				Injected: sec(2), Reverted: sec(7), EndedEarly: "process 4242 had exited"},
			{Step: "ok", Fault: "latency", TargetName: "other", Injected: sec(2), Reverted: sec(7)},
		},
	}
	got := report.Text(j)
	for _, want := range []string{
		"  fault latency on link (network 10.0.0.9:8080): reverted at +7s; it met no traffic: no packet it selects",
		"  fault stop on svc (process 4242): gone before its revert at +7s: process 4242 had exited",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "on other") {
		t.Errorf("the summary lists a fault that acted as planned:\n%s", got)
	}
	if junit := string(mustJUnit(t, j)); !strings.Contains(junit, `<property name="fault lat" value="latency on link: reverted at +7s; it met no traffic: no packet`) {
		t.Errorf("JUnit's property of the fault that met no traffic does not say so:\n%s", junit)
	}
}
