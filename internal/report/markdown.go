// Package report renders journals for people and for CI. Every renderer is
// a pure function of a journal: no I/O, no clock, no network.
package report

import (
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
	fmt.Fprintf(&b, "# %s %s: %s\n\n", verdictMark[j.Verdict], mdText(j.Title), j.Verdict)
	fmt.Fprintf(&b, "%s\n\n", mdText(j.Reason))
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| experiment | `%s` |\n", mdCode(j.File))
	fmt.Fprintf(&b, "| run | `%s` (seed %d) |\n", mdCode(j.RunID), j.Seed)
	fmt.Fprintf(&b, "| started | %s |\n", j.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| duration | %s |\n", j.Duration().Round(time.Millisecond))
	if len(j.Only) > 0 {
		fmt.Fprintf(&b, "| phases run | %s |\n", strings.Join(j.Only, ", "))
	}
	b.WriteString("\n")

	if len(j.Checks) > 0 {
		b.WriteString("## Checks\n\n| check | expects | before | during | after | recovered in |\n|---|---|---|---|---|---|\n")
		for _, c := range j.Checks {
			name := mdText(c.Name)
			if c.Abort {
				name += " (abort condition)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, mdText(expectText(c.Expect)),
				cell(c, "before"), cell(c, "during"), cell(c, "after"), recoveredText(c))
		}
		b.WriteString("\n")
		for _, c := range j.Checks {
			for _, ph := range []string{"before", "during", "after"} {
				if r := c.Reasons[ph]; r != "" {
					fmt.Fprintf(&b, "- **%s** %s %s: %s\n", mdText(c.Name), c.Results[ph], ph, mdText(r))
				}
			}
		}
		b.WriteString("\n")
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
			case f.RevertError != "":
				reverted = "**failed**: " + mdText(f.RevertError)
			case f.Reverted.IsZero():
				reverted = "**not reverted**"
			}
			hit := f.Target.ID
			if f.Target.Name != "" && f.Target.Name != f.Target.ID {
				hit += " (" + f.Target.Name + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s `%s` | +%s | %s |\n", mdText(f.Fault), mdText(f.TargetName), f.Target.Kind, mdCode(hit), offset(j, f.Injected), reverted)
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
	}
	return "not run"
}

func recoveredText(c *journal.Check) string {
	switch {
	case c.Recovered == nil:
		return ""
	case c.Recovered.OK:
		return c.Recovered.After.Round(time.Millisecond).String()
	}
	return "not within " + c.Recovered.After.String()
}

func expectText(e map[string]string) string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + e[k]
	}
	return strings.Join(parts, ", ")
}

func offset(j *journal.Journal, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Sub(j.Started).Round(time.Millisecond).String()
}

// mdText escapes text from experiment files for a Markdown table cell:
// pipes, markup and HTML must show as written.
func mdText(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }
