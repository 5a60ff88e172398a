// Package report renders journals for people and for CI. Every renderer is
// a pure function of a journal: no I/O, no clock, no network.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

var verdictMark = map[string]string{
	journal.Passed:       "✅",
	journal.Deviated:     "❌",
	journal.Aborted:      "🛑",
	journal.Errored:      "⚠️",
	journal.RevertFailed: "🔥",
	journal.Interrupted:  "⏹️",
}

// Markdown renders the journal as a Markdown summary: the verdict and its
// reason, the checks, the timeline of steps and the faults with their
// targets.
func Markdown(j *journal.Journal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s: %s\n\n", cmp.Or(verdictMark[j.Verdict], verdictMark[journal.Errored]), mdText(j.Title), mdText(verdictName(j.Verdict)))
	fmt.Fprintf(&b, "%s\n\n", mdText(j.Reason))
	if errs := hiddenErrors(j); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(&b, "- ⚠️ error: %s\n", mdText(e))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| experiment | %s |\n", mdText(j.File))
	fmt.Fprintf(&b, "| run | `%s` (seed %d) |\n", mdCode(j.RunID), j.Seed)
	fmt.Fprintf(&b, "| started | %s |\n", j.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| duration | %s |\n", j.Duration().Round(time.Millisecond))
	if len(j.Only) > 0 {
		fmt.Fprintf(&b, "| phases run | %s |\n", strings.Join(j.Only, ", "))
	}
	if h := heldFact(TallyOf(j)); h != "" {
		fmt.Fprintf(&b, "| checks held | %s |\n", h)
	}
	if r := recoveryText(j); r != "" {
		fmt.Fprintf(&b, "| time to recover | %s |\n", mdText(r))
	}
	b.WriteString("\n")
	if a := j.Abort; a != nil {
		if a.By != "" {
			fmt.Fprintf(&b, "🛑 At +%s, %s.", offset(j, a.At), mdText(a.Reason))
		} else {
			fmt.Fprintf(&b, "🛑 Abort condition **%s** fired at +%s: %s.", mdText(a.Check), offset(j, a.At), mdText(a.Reason))
		}
		if !a.Reverted.IsZero() {
			fmt.Fprintf(&b, " The last fault was removed at +%s.", offset(j, a.Reverted))
		}
		b.WriteString("\n\n")
	}

	if len(j.Checks) > 0 {
		b.WriteString("## Checks\n\n| check | expects | before | during | after | recovered in |\n|---|---|---|---|---|---|\n")
		for _, c := range j.Checks {
			name := mdText(c.Name)
			if c.Abort {
				name += " (abort condition)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, mdText(c.ExpectText()),
				cell(c, journal.CheckBefore), cell(c, journal.CheckDuring), cell(c, journal.CheckAfter), recoveredText(c))
		}
		b.WriteString("\n")
		for _, c := range j.Checks {
			if t := brokeText(j, c); t != "" {
				fmt.Fprintf(&b, "- **%s** broke %s\n", mdText(c.Name), mdText(t))
			}
			if t := unobservedText(c); t != "" {
				fmt.Fprintf(&b, "- **%s** could not be judged %s\n", mdText(c.Name), mdText(t))
			}
			for _, n := range notesText(c) {
				fmt.Fprintf(&b, "- **%s** noted %s\n", mdText(c.Name), mdText(n))
			}
		}
		b.WriteString("\n")
	}

	if len(j.Windows) > 0 {
		b.WriteString("## Load\n\n| stream | requests | success | errors | p50 | p90 | p99 | max | waiting |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range streams(j) {
			if len(d.Windows) == 0 {
				continue
			}
			note := ""
			if err := d.summarize(); err != nil {
				note = " (latency unreadable: " + mdText(err.Error()) + ")"
			}
			r := rowOf(j, d.Total)
			if r.Requests == 0 {
				r.Success = noRequest
			}
			fmt.Fprintf(&b, "| %s%s | %d | %s | %s | %s | %s | %s | %s | %s |\n", mdText(d.Stream.Name), note, r.Requests, r.Success, r.Errors, r.P50, r.P90, r.P99, r.Max, r.Waiting)
		}
		b.WriteString("\nLatencies are exact over the whole run, from the merged histograms of every window; waiting is how many requests were still waiting for an answer at the end, and the longest any had waited.\n\n")
	}

	if len(j.Steps) > 0 {
		b.WriteString("## Timeline\n\n| at | step | outcome | took |\n|---|---|---|---|\n")
		for _, s := range j.Steps {
			outcome := s.Outcome
			if s.Error != "" {
				outcome += ": " + s.Error
			}
			fmt.Fprintf(&b, "| +%s | %s | %s | %s |\n", offset(j, s.Started), mdText(s.Name), mdText(outcome), s.Ended.Sub(s.Started).Round(time.Millisecond))
		}
		b.WriteString("\n")
	}

	if len(j.Faults) > 0 {
		b.WriteString("## Faults\n\n| fault | target | hit | injected | reverted |\n|---|---|---|---|---|\n")
		for _, f := range j.Faults {
			reverted := "+" + offset(j, f.Reverted)
			switch {
			case f.Irreversible:
				reverted = "nothing to revert"
			case f.InjectError != "":
				reverted = mdText(halfText(f)) + "; revert **failed**: " + mdText(f.RevertError)
			case f.RevertError != "":
				reverted = "**failed**: " + mdText(f.RevertError)
			case f.Reverted.IsZero():
				reverted = "**not reverted**"
			case f.EndedEarly != "":
				reverted += ", **gone already**: " + mdText(f.EndedEarly)
			case f.Unreached != "":
				reverted += ", **met no traffic**: " + mdText(f.Unreached)
			}
			hit := f.Target.ID
			if f.Target.Name != "" && f.Target.Name != f.Target.ID {
				hit += " (" + f.Target.Name + ")"
			}
			if f.Target.Engine != "" {
				hit += " on engine " + f.Target.Engine
			}
			if len(f.Notes) > 0 {
				hit += ": " + strings.Join(f.Notes, "; ")
			}
			fmt.Fprintf(&b, "| %s | %s | %s %s | +%s | %s |\n", mdText(f.Text()), mdText(f.TargetName), mdText(f.Target.Kind), mdText(hit), offset(j, f.Injected), reverted)
		}
		b.WriteString("\n")
		if es := effects(j); len(es) > 0 {
			b.WriteString("What the checks saw while each fault was in effect:\n\n")
			for _, e := range es {
				fmt.Fprintf(&b, "- **%s** (%s): %s\n", mdText(e.Step), mdText(e.What), mdText(e.Text()))
			}
			b.WriteString("\n")
		}
	}
	if len(j.Services) > 0 {
		b.WriteString("## Services\n\n| service | pid | ended | log |\n|---|---|---|---|\n")
		for _, s := range j.Services {
			exit := s.ExitText()
			log := ""
			if s.Log != "" {
				log = fmt.Sprintf("[%s](%s)", mdText(s.Log), link(s.Log, ""))
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", mdText(s.Name), s.PID, exit, log)
		}
		b.WriteString("\n")
	}
	if len(j.Warnings) > 0 {
		b.WriteString("## Warnings\n\n")
		for _, w := range j.Warnings {
			fmt.Fprintf(&b, "- %s\n", mdText(w))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func cell(c *journal.Check, phase string) string {
	if !slices.Contains(c.When, phase) {
		return ""
	}
	switch c.Results[phase] {
	case journal.Held:
		return "✅ held"
	case journal.Broken:
		return "❌ broken"
	case journal.Skipped:
		return "skipped"
	case journal.Unobserved:
		return "⚠️ not observed"
	}
	return "not run"
}

// recoveredText is how long a check took to hold again, for one that had
// to: never for a check that did not fail.
func recoveredText(c *journal.Check) string {
	switch {
	case !hadToRecover(c):
		return ""
	case c.Recovered.OK:
		return c.Recovered.After.Round(time.Millisecond).String()
	}
	return "did not recover within " + c.Recovered.After.String()
}

// recoveredSentence says how long a check took to hold again, as a
// sentence; empty for one that did not have to.
func recoveredSentence(c *journal.Check) string {
	switch {
	case !hadToRecover(c):
		return ""
	case c.Recovered.OK:
		return "Recovered in " + recoveredText(c) + " after the faults were removed."
	}
	return "Did not recover within " + c.Recovered.After.String() + " after the faults were removed."
}

func offset(j *journal.Journal, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Sub(j.Started).Round(time.Millisecond).String()
}

// mdText escapes text from experiment files for a Markdown table cell:
// pipes, markup and HTML must show as written, and a line ending (a
// carriage return is one too) must not start a line of its own.
func mdText(s string) string {
	r := strings.NewReplacer("|", `\|`, "\r\n", " ", "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// mdCode prepares text for a code span in a table cell: a backtick would
// end the span, a pipe the cell, a newline the row.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}
