package report

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// ScoreDefinition says how the resilience score is computed, as the index
// pages and the docs state it.
const ScoreDefinition = "The resilience score is the share of the hypothesis's judgements that held. " +
	"Every check that is not an abort condition is judged once in each phase it is meant for " +
	"(before, during and after the faults); the score is the number of phases judged held divided by " +
	"the number judged held or broken, over all experiments together. Phases that were never judged " +
	"(skipped, or not reached because a run errored, aborted or was interrupted) count neither way " +
	"and are shown as not judged; abort conditions guard the run and do not count."

// verdictRank orders verdicts as chaos run ranks their exit codes when it
// picks the worst: the worst is the highest. Not by the codes' numbers: a
// fault left in place (revert-failed, 5) is worse than an interrupt (130).
var verdictRank = map[string]int{
	journal.Passed: 0, journal.Deviated: 1, journal.Aborted: 2, journal.Errored: 3,
	journal.Interrupted: 4, journal.RevertFailed: 5,
}

// rank is a verdict's place in verdictRank. A verdict chaos does not
// write (empty, or of a newer version) ranks as an error, as chaos run's
// exit code counts it: never as a pass.
func rank(verdict string) int {
	if r, ok := verdictRank[verdict]; ok {
		return r
	}
	return verdictRank[journal.Errored]
}

// noVerdict stands for the empty verdict of a journal that has none.
const noVerdict = "no verdict"

// verdictName is a verdict as the reports write it.
func verdictName(verdict string) string {
	if verdict == "" {
		return noVerdict
	}
	return verdict
}

// Gameday is what the gameday index shows: the experiments of a call
// that ran, and those a halt or an interrupt kept from running.
type Gameday struct {
	Journals []*journal.Journal
	// Dirs are the journals' report directories relative to where the
	// index is written, one per journal; nil for no links.
	Dirs []string
	// NotRun are the experiments after the one the call was stopped in,
	// in their order.
	NotRun []NotRun
	// Unwritten says, for each journal, why its reports could not be
	// written (which makes chaos run exit with an error at least); empty
	// when they were. Nil when all were.
	Unwritten []string
	// Stopped is the verdict the stop gave the call (journal.Interrupted,
	// or journal.Aborted for chaos halt), which the call's exit code
	// counts beside the experiments' own; StoppedBy says what stopped it,
	// as "interrupted". Both are empty for a call that ran to its end.
	Stopped, StoppedBy string
}

// NotRun is an experiment of a gameday that never ran.
type NotRun struct {
	Title, File string
}

// notRunVerdict marks an experiment that never ran where a verdict would
// be: it has none, and is no verdict any run can reach.
const notRunVerdict = "not run"

type indexRow struct {
	Title, File, Verdict, Class, Mark, MDMark, Reason string
	Duration, Held, Recovery                          string
	Link, Summary                                     string
}

type indexView struct {
	Title, Tool, Worst, Summary string
	Score, ScoreText            string
	Definition                  string
	CSS                         template.CSS
	Rows                        []indexRow
}

func newIndexView(g Gameday, page string) (*indexView, error) {
	js, dirs := g.Journals, g.Dirs
	if len(dirs) != 0 && len(dirs) != len(js) {
		return nil, fmt.Errorf("render gameday index: %d report directories for %d journals", len(dirs), len(js))
	}
	v := &indexView{Title: "Gameday", Definition: ScoreDefinition, CSS: template.CSS(styleSource), Worst: journal.Passed}
	// A stopped gameday is headed as the call's exit code says, whatever
	// its experiments that ran said: one that passed before a halt does
	// not make the gameday passed.
	if g.Stopped != "" {
		v.Worst = g.Stopped
	}
	var first time.Time
	counts := map[string]int{}
	var order []string
	var total Tally
	unwrittenN := 0
	for i, j := range js {
		if first.IsZero() || (!j.Started.IsZero() && j.Started.Before(first)) {
			first = j.Started
		}
		if v.Tool == "" {
			v.Tool = j.ToolVersion
		}
		verdict := verdictName(j.Verdict)
		if rank(j.Verdict) > rank(v.Worst) {
			v.Worst = j.Verdict
			if _, known := verdictRank[j.Verdict]; !known {
				// Headed as an error, which is how it counts.
				v.Worst = journal.Errored
			}
		}
		if counts[verdict] == 0 {
			order = append(order, verdict)
		}
		counts[verdict]++
		t := TallyOf(j)
		total = total.Add(t)
		r := indexRow{Title: j.Title, File: j.File, Verdict: verdict, Class: resultClass(j.Verdict), Mark: htmlMark[j.Verdict],
			MDMark: verdictMark[j.Verdict], Reason: j.Reason, Duration: dur(j.Duration()), Recovery: recoveryText(j), Held: heldText(t)}
		if len(dirs) > 0 && dirs[i] != "" {
			r.Link = link(dirs[i], page)
			r.Summary = link(dirs[i], "summary.md")
		}
		if why := unwritten(g, i); why != "" {
			// The run's verdict stands, but the call failed to leave its
			// record, and its exit code says so: so does the index.
			r.Reason += "; " + unwrittenText(why)
			r.Link, r.Summary = "", ""
			if rank(journal.Errored) > rank(v.Worst) {
				v.Worst = journal.Errored
			}
			unwrittenN++
		}
		v.Rows = append(v.Rows, r)
	}
	notRunReason := "not run"
	if g.StoppedBy != "" {
		notRunReason = "the gameday was " + g.StoppedBy + " before it ran"
	}
	for _, n := range g.NotRun {
		v.Rows = append(v.Rows, indexRow{Title: n.Title, File: n.File, Verdict: notRunVerdict, Class: "skipped", Mark: "–", MDMark: "⏭️",
			Reason: notRunReason, Duration: "-", Held: "not run"})
	}
	if !first.IsZero() {
		v.Title = "Gameday of " + first.UTC().Format("2006-01-02 15:04 UTC")
	}
	var parts []string
	for _, verdict := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[verdict], verdict))
	}
	if len(g.NotRun) > 0 {
		s := fmt.Sprintf("%d %s", len(g.NotRun), notRunVerdict)
		if g.StoppedBy != "" {
			s += " (" + g.StoppedBy + ")"
		}
		parts = append(parts, s)
	}
	v.Summary = fmt.Sprintf("%s: %s", plural(len(js)+len(g.NotRun), "experiment"), strings.Join(parts, ", "))
	if unwrittenN > 0 {
		v.Summary += fmt.Sprintf("; the reports of %d not written", unwrittenN)
	}
	if score, ok := total.Score(); ok {
		v.Score = scorePercent(score)
		v.ScoreText = fmt.Sprintf("%d of %d judged check phases held", total.Held, total.Judged())
	} else {
		v.Score = "n/a"
		v.ScoreText = "no check was judged"
	}
	if total.NotJudged > 0 {
		v.ScoreText += fmt.Sprintf("; %d not judged", total.NotJudged)
	}
	if len(g.NotRun) > 0 {
		v.ScoreText += "; " + plural(len(g.NotRun), "experiment") + " not run"
	}
	return v, nil
}

// unwritten is why the reports of the gameday's i-th journal were not
// written; empty when they were.
func unwritten(g Gameday, i int) string {
	if i < len(g.Unwritten) {
		return g.Unwritten[i]
	}
	return ""
}

func unwrittenText(why string) string {
	return "its reports were not written: " + why
}

// scorePercent shows a score as a percentage with one decimal, more when
// one would round a score below 1 up to 100%: one broken phase among
// thousands is not a full score.
func scorePercent(score float64) string {
	for prec := 1; prec < 6; prec++ {
		s := strconv.FormatFloat(score*100, 'f', prec, 64)
		if score >= 1 || !strings.HasPrefix(s, "100") {
			return s + "%"
		}
	}
	return "99.99999%"
}

func resultClass(verdict string) string {
	switch verdict {
	case journal.Passed:
		return "held"
	case journal.Interrupted:
		return "skipped"
	}
	return "broken"
}

func heldText(t Tally) string {
	if t.Judged() == 0 && t.NotJudged == 0 {
		return "no checks"
	}
	s := fmt.Sprintf("%d/%d", t.Held, t.Judged())
	if t.NotJudged > 0 {
		s += fmt.Sprintf(" (%d not judged)", t.NotJudged)
	}
	return s
}

// heldFact is a run's checks held as its report's facts say it: "2 of 3",
// and the phases not judged beside them, "1 of 1 (1 not judged)", so that
// "1 of 1" never reads as every check judged when one could not be. Empty
// for a run with no check phase to judge.
func heldFact(t Tally) string {
	var s string
	switch {
	case t.Judged() > 0:
		s = fmt.Sprintf("%d of %d", t.Held, t.Judged())
	case t.NotJudged > 0:
		s = "none"
	default:
		return ""
	}
	if t.NotJudged > 0 {
		s += fmt.Sprintf(" (%d not judged)", t.NotJudged)
	}
	return s
}

// link is a relative URL to file in dir, whatever characters dir holds.
func link(dir, file string) string {
	dir = strings.ReplaceAll(dir, `\`, "/")
	var segs []string
	for _, s := range strings.Split(path.Join(dir, file), "/") {
		segs = append(segs, url.PathEscape(s))
	}
	return strings.Join(segs, "/")
}

// IndexHTML renders the page of a gameday, several experiments run
// together: one row per experiment with its verdict, duration, checks held,
// time to recover and a link to its report.html, a row marked not run for
// each experiment the call was stopped before, and the resilience score
// (see ScoreDefinition).
func IndexHTML(g Gameday) ([]byte, error) {
	v, err := newIndexView(g, "report.html")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "index", v); err != nil {
		return nil, fmt.Errorf("render gameday index: %w", err)
	}
	return b.Bytes(), nil
}

// IndexMarkdown is IndexHTML in Markdown, with links to each experiment's
// summary.md and report.html.
func IndexMarkdown(g Gameday) ([]byte, error) {
	v, err := newIndexView(g, "report.html")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s: %s\n\n", verdictMark[v.Worst], v.Title, v.Summary)
	fmt.Fprintf(&b, "**Resilience score: %s** (%s)\n\n", v.Score, v.ScoreText)
	b.WriteString("| experiment | verdict | duration | checks held | time to recover | report |\n|---|---|---|---|---|---|\n")
	for _, r := range v.Rows {
		links := ""
		if r.Link != "" {
			links = fmt.Sprintf("[summary](%s) · [report](%s)", r.Summary, r.Link)
		}
		fmt.Fprintf(&b, "| %s<br>%s | %s %s: %s | %s | %s | %s | %s |\n", mdText(r.Title), mdText(r.File), r.MDMark, r.Verdict,
			mdText(r.Reason), r.Duration, r.Held, mdText(r.Recovery), links)
	}
	fmt.Fprintf(&b, "\n%s\n", ScoreDefinition)
	return []byte(b.String()), nil
}
