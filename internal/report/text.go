package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// noRequest stands for the figures of a span in which no request
// completed: a success of 0% next to 0 requests would read as a failure.
const noRequest = "no request completed"

// Text is the summary chaos run ends an experiment with on the terminal:
// the verdict and its reason, each check with how it broke (its first and
// worst value, under which faults), each fault that met no traffic or
// whose target was gone before its revert, what each fault did, the run's
// warnings, and a table of each load stream's traffic, over the run and
// in each phase.
func Text(j *journal.Journal) string {
	return TermSafe(text(j))
}

func text(j *journal.Journal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  (%s, %s)\n", strings.ToUpper(verdictName(j.Verdict)), j.Title, j.File, j.Duration().Round(time.Millisecond))
	fmt.Fprintf(&b, "  %s\n", j.Reason)
	for _, e := range hiddenErrors(j) {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	for _, c := range j.Checks {
		var parts []string
		judged := false
		for _, ph := range journal.CheckPhases {
			// A phase the check was meant for and not judged in (the run
			// stopped first) is named too: left out, the line would read
			// as a check that held wherever it was judged.
			switch res, ok := c.Results[ph]; {
			case ok:
				part := ph + " " + res
				if why := c.Reasons[ph]; res == journal.Held && why != "" {
					// Held on a retry: the failed tries before it.
					part += " (" + why + ")"
				}
				parts = append(parts, part)
				judged = true
			case slices.Contains(c.When, ph):
				parts = append(parts, ph+" not run")
			}
		}
		kind := "check"
		if c.Abort {
			kind = "abort"
		}
		if !judged {
			parts = nil
		}
		line := fmt.Sprintf("  %s %q: %s", kind, c.Name, orNotRun(strings.Join(parts, ", ")))
		if hadToRecover(c) {
			if c.Recovered.OK {
				line += fmt.Sprintf(" (recovered in %s)", c.Recovered.After.Round(time.Millisecond))
			} else {
				line += fmt.Sprintf(" (did not recover within %s)", c.Recovered.After)
			}
		}
		fmt.Fprintln(&b, line)
		if t := brokeText(j, c); t != "" {
			fmt.Fprintf(&b, "    broke %s\n", t)
		}
		if t := unobservedText(c); t != "" {
			fmt.Fprintf(&b, "    could not be judged %s\n", t)
		}
		for _, n := range notesText(c) {
			fmt.Fprintf(&b, "    noted %s\n", n)
		}
	}
	// A check that did not recover in time is the run's time to
	// recover: the slowest of those that did would read as the system's.
	if check, after, known, ok := recovery(j); known && !ok {
		fmt.Fprintf(&b, "  time to recover: did not recover within %s, check %q\n", after, check)
	} else if slow := j.SlowestRecovery(); slow != nil {
		fmt.Fprintf(&b, "  time to recover: %s, check %q", slow.Recovered.After.Round(time.Millisecond), slow.Name)
		if slow.Recovered.Fault != "" {
			fmt.Fprintf(&b, ", counted from the end of %q", slow.Recovered.Fault)
		}
		b.WriteString("\n")
	}
	// A fault that may still be in place (its revert failed, or never
	// came) is named with its target and what went wrong, whatever the
	// reason says. One that did nothing for part or all of its time (its
	// target gone, no traffic through it) says so: "held after the
	// faults" is then said of faults that did not act as planned.
	for _, f := range j.Faults {
		if _, state, bad := faultState(j, f); bad {
			fmt.Fprintf(&b, "  fault %s on %s (%s): %s\n", f.Text(), f.TargetName, hitText(f.Target), state)
		}
	}
	for _, e := range j.ByFault() {
		var broke []string
		held, abortHeld := 0, 0
		for _, c := range e.Checks {
			switch {
			case c.Failed > 0:
				broke = append(broke, fmt.Sprintf("%q failed %d of %d observations", c.Check, c.Failed, c.Observed))
			case c.Abort:
				abortHeld += c.Observed
			default:
				held += c.Observed
			}
		}
		step := strconv.Quote(e.Step) + strings.TrimPrefix(j.StepFault(e.Step), e.Step)
		switch {
		case len(broke) > 0:
			fmt.Fprintf(&b, "  under %s: %s\n", step, strings.Join(broke, ", "))
		case held > 0:
			why := ""
			for _, f := range j.Faults {
				if f.Step == e.Step && why == "" {
					why = didNotAct(f)
				}
			}
			fmt.Fprintf(&b, "  under %s: every check held (%d observations)%s\n", step, held, didNotActText(why))
		case abortHeld > 0:
			fmt.Fprintf(&b, "  under %s: %s\n", step, unwatchedText(abortHeld))
		}
	}
	// The warnings were lines of the run's output, long before this
	// summary: it repeats them, so that what it says of the run is read
	// with them (a fault whose target ended while it was on, a notifier
	// that did not send).
	for _, w := range j.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	if t := loadTable(j); t != "" {
		b.WriteString("\n" + t)
	}
	return b.String()
}

func orNotRun(s string) string {
	if s == "" {
		return "not run"
	}
	return s
}

// loadTable is the table of each load stream's traffic, as k6 ends a run
// with: over the whole run, then in each phase. Latencies are exact, from
// the merged histograms of the windows.
func loadTable(j *journal.Journal) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  load\trequests\tsuccess\tp50\tp90\tp99\tmax\twaiting\terrors")
	rows := 0
	for _, d := range streams(j) {
		if len(d.Windows) == 0 {
			continue
		}
		fmt.Fprintln(w, "  "+loadRow(j, d.Stream.Name, d))
		rows++
		for _, ph := range j.Phases {
			// A window belongs to the phase its middle falls in: the
			// windows are cut on whole seconds, the phases are not.
			var in []load.Window
			for _, win := range d.Windows {
				mid := win.Start.Add(win.End.Sub(win.Start) / 2)
				if !mid.Before(ph.Started) && !mid.After(ph.Ended) {
					in = append(in, win)
				}
			}
			if len(in) == 0 || len(in) == len(d.Windows) {
				continue
			}
			fmt.Fprintln(w, "  "+loadRow(j, "  "+ph.Name, &streamData{Stream: d.Stream, Windows: in}))
		}
	}
	if rows == 0 {
		return ""
	}
	w.Flush()
	return b.String()
}

// loadRow is one row of the load table: the traffic of d's windows.
func loadRow(j *journal.Journal, name string, d *streamData) string {
	note := ""
	if err := d.summarize(); err != nil {
		note = " (latency unreadable: " + err.Error() + ")"
	}
	r := rowOf(j, d.Total)
	if d.Total.Requests == 0 {
		return fmt.Sprintf("%s%s\t0\t-\t-\t-\t-\t-\t%s\t%s", name, note, r.Waiting, noRequest)
	}
	return fmt.Sprintf("%s%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", name, note, r.Requests, r.Success, orDash(r.P50), orDash(r.P90), orDash(r.P99), orDash(r.Max), r.Waiting, orDash(r.Errors))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// GamedayText is the table chaos run ends a gameday (several experiments)
// with on the terminal: each experiment's verdict, checks held and time to
// recover, the experiments not run, and the resilience score (see
// ScoreDefinition).
func GamedayText(g Gameday) string {
	v, err := newIndexView(g, "")
	if err != nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GAMEDAY  %s\n", v.Summary)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  experiment\tverdict\tduration\tchecks held\ttime to recover")
	for _, r := range v.Rows {
		fmt.Fprintf(w, "  %s (%s)\t%s\t%s\t%s\t%s\n", r.Title, r.File, r.Verdict, r.Duration, r.Held, orDash(r.Recovery))
	}
	w.Flush()
	fmt.Fprintf(&b, "  resilience score: %s (%s)\n", v.Score, v.ScoreText)
	return TermSafe(b.String())
}

// TermSafe makes the terminal summary safe to print: it holds text from
// outside (a service's last output in a reason, an observed error), whose
// escape sequences and carriage returns would move the cursor and write
// over what the summary says, its verdict too. Escape sequences are
// dropped, tabs become spaces and other control characters but the line
// breaks show as U+FFFD.
func TermSafe(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	s = ansi.Strip(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case isControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0) }
