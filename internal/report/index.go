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

type indexRow struct {
	Title, File, Verdict, Class, Mark, Reason string
	Duration, Held, Recovery                  string
	Link, Summary                             string
}

type indexView struct {
	Title, Tool, Worst, Summary string
	Score, ScoreText            string
	Definition                  string
	CSS                         template.CSS
	Rows                        []indexRow
}

func newIndexView(js []*journal.Journal, dirs []string, page string) (*indexView, error) {
	if len(dirs) != 0 && len(dirs) != len(js) {
		return nil, fmt.Errorf("render gameday index: %d report directories for %d journals", len(dirs), len(js))
	}
	v := &indexView{Title: "Gameday", Definition: ScoreDefinition, CSS: template.CSS(styleSource), Worst: journal.Passed}
	var first time.Time
	counts := map[string]int{}
	var order []string
	var total Tally
	for i, j := range js {
		if first.IsZero() || (!j.Started.IsZero() && j.Started.Before(first)) {
			first = j.Started
		}
		if v.Tool == "" {
			v.Tool = j.ToolVersion
		}
		if verdictRank[j.Verdict] > verdictRank[v.Worst] {
			v.Worst = j.Verdict
		}
		if counts[j.Verdict] == 0 {
			order = append(order, j.Verdict)
		}
		counts[j.Verdict]++
		t := TallyOf(j)
		total = total.Add(t)
		r := indexRow{Title: j.Title, File: j.File, Verdict: j.Verdict, Class: resultClass(j.Verdict), Mark: htmlMark[j.Verdict],
			Reason: j.Reason, Duration: dur(j.Duration()), Recovery: recoveryText(j), Held: heldText(t)}
		if len(dirs) > 0 && dirs[i] != "" {
			r.Link = link(dirs[i], page)
			r.Summary = link(dirs[i], "summary.md")
		}
		v.Rows = append(v.Rows, r)
	}
	if !first.IsZero() {
		v.Title = "Gameday of " + first.UTC().Format("2006-01-02 15:04 UTC")
	}
	var parts []string
	for _, verdict := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[verdict], verdict))
	}
	noun := "experiments"
	if len(js) == 1 {
		noun = "experiment"
	}
	v.Summary = fmt.Sprintf("%d %s: %s", len(js), noun, strings.Join(parts, ", "))
	if score, ok := total.Score(); ok {
		v.Score = strconv.FormatFloat(score*100, 'f', 1, 64) + "%"
		v.ScoreText = fmt.Sprintf("%d of %d judged check phases held", total.Held, total.Judged())
	} else {
		v.Score = "n/a"
		v.ScoreText = "no check was judged"
	}
	if total.NotJudged > 0 {
		v.ScoreText += fmt.Sprintf("; %d not judged", total.NotJudged)
	}
	return v, nil
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
// time to recover and a link to its report.html, and the resilience score
// (see ScoreDefinition). dirs[i] is the report directory of js[i] relative
// to where the index is written; dirs may be nil for no links.
func IndexHTML(js []*journal.Journal, dirs []string) ([]byte, error) {
	v, err := newIndexView(js, dirs, "report.html")
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
func IndexMarkdown(js []*journal.Journal, dirs []string) ([]byte, error) {
	v, err := newIndexView(js, dirs, "report.html")
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
		fmt.Fprintf(&b, "| %s<br>%s | %s %s: %s | %s | %s | %s | %s |\n", mdText(r.Title), mdText(r.File), verdictMark[r.Verdict], r.Verdict,
			mdText(r.Reason), r.Duration, r.Held, mdText(r.Recovery), links)
	}
	fmt.Fprintf(&b, "\n%s\n", ScoreDefinition)
	return []byte(b.String()), nil
}
