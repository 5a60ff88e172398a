package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// Tally counts the check results of one or more experiments, for the
// resilience score.
type Tally struct {
	// Held and Broken count check phases judged held or broken. Abort
	// conditions are not counted: they guard the run, they are not part of
	// the hypothesis.
	Held, Broken int
	// NotJudged counts phases a check was meant to be judged in that were
	// skipped or never reached (the run stopped before them).
	NotJudged int
}

// Judged is the number of check phases that were judged.
func (t Tally) Judged() int { return t.Held + t.Broken }

// Score is the resilience score: the share of judged check phases that
// held, from 0 to 1. ok is false when nothing was judged.
func (t Tally) Score() (score float64, ok bool) {
	if t.Judged() == 0 {
		return 0, false
	}
	return float64(t.Held) / float64(t.Judged()), true
}

// Add returns the sum of two tallies.
func (t Tally) Add(u Tally) Tally {
	return Tally{Held: t.Held + u.Held, Broken: t.Broken + u.Broken, NotJudged: t.NotJudged + u.NotJudged}
}

// TallyOf tallies the phases of the hypothesis checks of one journal.
func TallyOf(j *journal.Journal) Tally {
	var t Tally
	for _, c := range j.Checks {
		if c.Abort {
			continue
		}
		for _, ph := range journal.CheckPhases {
			if !slices.Contains(c.When, ph) {
				continue
			}
			switch c.Results[ph] {
			case journal.Held:
				t.Held++
			case journal.Broken:
				t.Broken++
			default:
				t.NotJudged++
			}
		}
	}
	return t
}

// Score is the resilience score of several experiments together: the share
// of all judged phases of all hypothesis checks that held. ok is false when
// nothing was judged.
func Score(js ...*journal.Journal) (score float64, ok bool) {
	var t Tally
	for _, j := range js {
		t = t.Add(TallyOf(j))
	}
	return t.Score()
}

// recovery is the check that took the longest to hold again after the
// faults ended, and how long. known is false when no check had to recover;
// ok is false when at least one did not recover in time, and check is then
// the first such.
func recovery(j *journal.Journal) (check string, after time.Duration, known, ok bool) {
	ok = true
	for _, c := range j.Checks {
		if !hadToRecover(c) {
			continue
		}
		switch {
		case !c.Recovered.OK && ok:
			check, after, ok = c.Name, c.Recovered.After, false
		case ok && (!known || c.Recovered.After > after):
			check, after = c.Name, c.Recovered.After
		}
		known = true
	}
	return check, after, known, ok
}

func hadToRecover(c *journal.Check) bool { return c.HadToRecover() }

// recoveryText is the time to recover of a run, naming its check: the
// slowest to recover, or the first that did not.
func recoveryText(j *journal.Journal) string {
	check, after, known, ok := recovery(j)
	switch {
	case !known:
		return ""
	case !ok:
		return fmt.Sprintf("did not recover within %s (%s)", dur(after), check)
	}
	return fmt.Sprintf("%s (%s)", dur(after), check)
}

// dur formats a duration for people: milliseconds below ten seconds,
// tenths of seconds below a minute, whole seconds above.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + dur(-d)
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 10*time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return trimZero(d.Round(time.Second).String())
}

// trimZero drops zero trailing units: "1m0s" is "1m", "1h0m0s" is "1h".
func trimZero(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// at formats t as an offset from the start of the run.
func at(j *journal.Journal, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return "+" + dur(t.Sub(j.Started))
}

// checkPhase is what a check did in one phase.
type checkPhase struct {
	Phase  string
	Result string // held, broken, skipped or "" (not run)
	Reason string
	// FirstFail is the first failing sample of the phase, if any.
	FirstFail *journal.Sample
	Samples   int
	Failed    int
}

func checkPhases(c *journal.Check) []checkPhase {
	var out []checkPhase
	for _, ph := range journal.CheckPhases {
		if !slices.Contains(c.When, ph) {
			continue
		}
		cp := checkPhase{Phase: ph, Result: c.Results[ph], Reason: c.Reasons[ph]}
		for i := range c.Samples {
			s := &c.Samples[i]
			if s.Phase != ph {
				continue
			}
			cp.Samples++
			if !s.OK {
				cp.Failed++
				if cp.FirstFail == nil {
					cp.FirstFail = s
				}
			}
		}
		out = append(out, cp)
	}
	return out
}

// brokeText says when and by how much a check broke, and under which
// faults, one clause per broken phase: "during the faults at +4.2s under
// latency link (delay 300ms): p99 257ms, want < 50ms (4 of 4 observations
// failed; worst p99 369ms)".
func brokeText(j *journal.Journal, c *journal.Check) string {
	var parts []string
	for _, b := range c.Breakages() {
		when := journal.PhaseTitle(b.Phase)
		reason := c.Reasons[b.Phase]
		switch {
		case b.First != nil:
			when += " at " + at(j, b.First.Time)
			if reason == "" {
				reason = b.First.Reason
			}
		case !c.BrokeAt.IsZero():
			when += " at " + at(j, c.BrokeAt)
		}
		if f := j.FaultsText(b); f != "" {
			when += " under " + f
		}
		s := when
		if reason != "" {
			s += ": " + reason
		}
		var notes []string
		if b.Observed > 1 {
			notes = append(notes, fmt.Sprintf("%d of %d observations failed", b.Failed, b.Observed))
		}
		if w := b.WorstText(); w != "" {
			notes = append(notes, w)
		}
		if len(notes) > 0 {
			s += " (" + strings.Join(notes, "; ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// unobservedText says which phases a check could not be judged in, and
// why.
func unobservedText(c *journal.Check) string {
	var parts []string
	for _, cp := range checkPhases(c) {
		if cp.Result == journal.Unobserved {
			parts = append(parts, journal.PhaseTitle(cp.Phase)+": "+cp.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

// hiddenErrors are the errors of a run whose verdict does not tell them:
// a revert that failed, an interrupt or an abort decide the verdict and its
// reason, and a service that died before them would be told by the events
// alone. Empty for a run of verdict error, whose reason holds them all.
func hiddenErrors(j *journal.Journal) []string {
	if j.Verdict == journal.Errored {
		return nil
	}
	var out []string
	for _, e := range j.Events {
		if e.Type == journal.Error && e.Message != "" && !strings.Contains(j.Reason, e.Message) {
			out = append(out, e.Message)
		}
	}
	return out
}

// maxNotes bounds the notes listed of one check; the journal holds them
// all.
const maxNotes = 5

// notesText lists what is unusual about a check's observations, held or
// not (judged on less traffic than its window, with the outcomes of
// requests that came late, finished after its phase): one entry per phase
// and note, with how many observations carry it, at most maxNotes, then
// how many more. The judgement such an observation made is weaker than
// the check plans, and only the journal would tell.
func notesText(c *journal.Check) []string {
	type key struct{ phase, note string }
	count := map[key]int{}
	var order []key
	for _, s := range c.Samples {
		if s.Note == "" {
			continue
		}
		k := key{s.Phase, s.Note}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	var out []string
	more := 0
	for i, k := range order {
		if i >= maxNotes {
			more += count[k]
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s): %s", journal.PhaseTitle(k.phase), plural(count[k], "observation"), k.note))
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("and %s with other notes: see the journal", plural(more, "observation")))
	}
	return out
}

// faultEffect is what one fault did to the checks, for people.
type faultEffect struct {
	Step string
	// What names the fault, its strength and its target: "latency (delay
	// 300ms) on link".
	What string
	// Broke lists the checks that failed while it was in effect, with how
	// many of their observations failed; Held counts the observations of
	// the other checks of the hypothesis, and AbortHeld those of the
	// abort conditions, which guard the run and judge nothing of it.
	Broke     []string
	Held      int
	AbortHeld int
	// DidNotAct says that the fault did not act as planned (it met no
	// traffic, its target was gone before its revert): a check that held
	// under it then says nothing of the system coping with it.
	DidNotAct string
}

// effects lists what each fault did to the checks. It is empty when no
// observation named a fault: journals of older versions, or runs whose
// checks did not watch the method.
func effects(j *journal.Journal) []faultEffect {
	var out []faultEffect
	seen := false
	for _, e := range j.ByFault() {
		fe := faultEffect{Step: e.Step}
		for _, f := range j.Faults {
			if f.Step == e.Step {
				fe.What = f.Text() + " on " + f.TargetName
				fe.DidNotAct = didNotAct(f)
				break
			}
		}
		for _, c := range e.Checks {
			seen = true
			name := c.Check
			if c.Abort {
				name += " (abort condition)"
			}
			switch {
			case c.Failed > 0:
				fe.Broke = append(fe.Broke, fmt.Sprintf("%s: %d of %d observations failed", name, c.Failed, c.Observed))
			case c.Abort:
				fe.AbortHeld += c.Observed
			default:
				fe.Held += c.Observed
			}
		}
		out = append(out, fe)
	}
	if !seen {
		return nil
	}
	return out
}

// Text says what the fault did in one line.
func (e faultEffect) Text() string {
	switch {
	case len(e.Broke) > 0:
		return "broke " + strings.Join(e.Broke, "; ")
	case e.Held > 0:
		return fmt.Sprintf("every check held (%s)", plural(e.Held, "observation")) + didNotActText(e.DidNotAct)
	case e.AbortHeld > 0:
		return unwatchedText(e.AbortHeld)
	}
	return "no check observed the system while it was in effect"
}

// didNotAct says why a fault did not act as planned; empty when it did.
func didNotAct(f journal.Fault) string {
	switch {
	case f.Unreached != "":
		return "it met no traffic: " + f.Unreached
	case f.EndedEarly != "":
		return "it was gone before its revert: " + f.EndedEarly
	}
	return ""
}

// didNotActText qualifies "every check held" under a fault that did not
// act as planned.
func didNotActText(why string) string {
	if why == "" {
		return ""
	}
	return ", but the fault did not act as planned: " + why
}

// unwatchedText says that only abort conditions observed the system while
// a fault was in effect, and held: the hypothesis was not judged under it.
func unwatchedText(abortHeld int) string {
	return fmt.Sprintf("no check observed the system while it was in effect; the abort conditions held (%s)", plural(abortHeld, "observation"))
}

// expectation is one parsed threshold of a check, for drawing.
type expectation struct {
	Key   string
	Op    string
	Value float64 // seconds for latencies, 0 to 1 for success
}

var ops = []string{"<=", ">=", "==", "!=", "<", ">"}

// parseExpect reads a load check's thresholds that can be drawn: latency
// percentiles and the success rate. Others are left out.
func parseExpect(e map[string]string) []expectation {
	var out []expectation
	for _, k := range slices.Sorted(maps.Keys(e)) {
		v := strings.TrimSpace(e[k])
		op := ""
		for _, o := range ops {
			if strings.HasPrefix(v, o) {
				op, v = o, strings.TrimSpace(v[len(o):])
				break
			}
		}
		if op == "" {
			continue
		}
		switch {
		case latencyKey(k):
			d, err := time.ParseDuration(v)
			if err != nil {
				continue
			}
			out = append(out, expectation{Key: k, Op: op, Value: d.Seconds()})
		case k == "success":
			f, ok := parsePercent(v)
			if !ok {
				continue
			}
			out = append(out, expectation{Key: k, Op: op, Value: f})
		}
	}
	return out
}

func latencyKey(k string) bool {
	return k == "max" || k == "latency" || (len(k) > 1 && k[0] == 'p' && isDigits(k[1:]))
}

func isDigits(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return s != ""
}

// parsePercent reads "99.5%" as 0.995.
func parsePercent(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "%") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, false
	}
	return f / 100, true
}

// failedValue is where a failing sample is drawn: the observed value of the
// first key its reason names ("p99 257ms, want < 50ms"), on the axis of its
// chart (seconds, or success as a fraction). ok is false when the value
// cannot be read or has no chart.
func failedValue(s journal.Sample) (key string, v float64, ok bool) {
	key, v, _, ok = s.FailedValue()
	switch {
	case !ok:
	case key == "success":
		v /= 100
	case !latencyKey(key):
		ok = false
	}
	return key, v, ok
}

// observedText lists observed values in a stable order, the most telling
// first.
func observedText(o map[string]string) string {
	first := []string{"status", "latency", "p50", "p90", "p99", "max", "success", "errors", "requests", "rps"}
	var parts []string
	for _, k := range first {
		if v, ok := o[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if !slices.Contains(first, k) {
			parts = append(parts, k+" "+o[k])
		}
	}
	return strings.Join(parts, ", ")
}

// hitText names the concrete thing a fault hit.
func hitText(t journal.Target) string {
	s := t.ID
	if t.Name != "" && t.Name != t.ID {
		s += " (" + t.Name + ")"
	}
	if t.Kind != "" {
		s = t.Kind + " " + s
	}
	if t.Engine != "" {
		s += " on engine " + t.Engine
	}
	return s
}

// halfText says that a fault's injection failed part way: what it did by
// then is left, as far as chaos knows.
func halfText(f journal.Fault) string {
	return "injection failed part way: " + f.InjectError
}

// faultEnd is when a fault stopped acting, and how to say it.
func faultState(j *journal.Journal, f journal.Fault) (end time.Time, text string, bad bool) {
	switch {
	case f.Irreversible:
		return f.Injected, "nothing to revert", false
	case f.InjectError != "":
		return j.Ended, halfText(f) + "; revert failed: " + f.RevertError, true
	case f.RevertError != "":
		return j.Ended, "revert failed: " + f.RevertError, true
	case f.Reverted.IsZero():
		return j.Ended, "not reverted", true
	case f.EndedEarly != "":
		// It ended at a moment no one saw, by the revert at the latest.
		return f.Reverted, "gone before its revert at " + at(j, f.Reverted) + ": " + f.EndedEarly, true
	case f.Unreached != "":
		return f.Reverted, "reverted at " + at(j, f.Reverted) + "; it met no traffic: " + f.Unreached, true
	}
	return f.Reverted, "reverted at " + at(j, f.Reverted), false
}
