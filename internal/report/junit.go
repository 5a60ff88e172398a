package report

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/journal"
)

// JUnit renders journals as JUnit XML, as CI systems read it: one
// <testsuite> per experiment and one <testcase> per check. A check that
// broke is a <failure> whose message says in which phase, when (as an
// offset from the start of the run) and by how much; a check that was not
// judged is <skipped>. Runs that ended in error, aborted, interrupted or
// revert-failed carry an <error>: on the abort condition that fired, or on
// a testcase named after the run. Failed and errored steps are testcases
// too.
func JUnit(js ...*journal.Journal) ([]byte, error) {
	return GamedayJUnit(Gameday{Journals: js})
}

// GamedayJUnit renders a gameday's journals as JUnit does, and each
// experiment an interrupt or a halt kept from running as a <testsuite>
// of its own whose one testcase is an <error>: a call stopped before some
// of its experiments is never all green to a CI tool that reads the file.
func GamedayJUnit(g Gameday) ([]byte, error) {
	root := junitSuites{Name: "chaos"}
	add := func(s junitSuite) {
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Time += s.Time
		root.Suites = append(root.Suites, s)
	}
	for i, j := range g.Journals {
		s := suiteOf(j)
		if why := unwritten(g, i); why != "" {
			// Its own junit.xml, summary or report is missing: CI must
			// not read the call as green.
			s.Cases = append(s.Cases, junitCase{Name: "reports", Classname: classOf(j.File),
				Error: &junitMessage{Message: unwrittenText(why), Type: journal.Errored}})
			s.Tests++
			s.Errors++
		}
		add(s)
	}
	for _, n := range g.NotRun {
		add(notRunSuite(g, n))
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	for i := range root.Suites {
		for k := range root.Suites[i].Cases {
			c := &root.Suites[i].Cases[k]
			for _, m := range []*junitMessage{c.Skipped, c.Failure, c.Error} {
				if m != nil {
					m.Text = xmlSafe(m.Text)
				}
			}
		}
	}
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("render junit report: %w", err)
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     seconds      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       seconds         `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	ID         string          `xml:"id,attr,omitempty"`
	File       string          `xml:"file,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      seconds       `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	SystemOut *junitText    `xml:"system-out"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// junitText is element text kept as CDATA, so that its lines read as
// lines in the file.
type junitText struct {
	Text string `xml:",cdata"`
}

func textOf(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: xmlSafe(s)}
}

// xmlSafe replaces the characters XML 1.0 cannot hold (most control
// characters, as in a service's colored output) with U+FFFD. Attributes
// are escaped by encoding/xml; CDATA is not.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}

// seconds is a duration in seconds as JUnit writes it: "1.234".
type seconds float64

func (s seconds) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: strconv.FormatFloat(max(float64(s), 0), 'f', 3, 64)}, nil
}

func suiteOf(j *journal.Journal) junitSuite {
	s := junitSuite{
		Name:     j.Title,
		Time:     seconds(j.Duration().Seconds()),
		Hostname: j.Host,
		ID:       j.RunID,
		File:     j.File,
		Properties: []junitProperty{
			{"verdict", j.Verdict},
			{"reason", j.Reason},
			{"file", j.File},
			{"run", j.RunID},
			{"seed", strconv.FormatUint(j.Seed, 10)},
			{"chaos", j.ToolVersion},
		},
	}
	if s.Name == "" {
		s.Name = j.File
	}
	if !j.Started.IsZero() {
		// The form Ant writes: local time without a zone, here UTC.
		s.Timestamp = j.Started.UTC().Format("2006-01-02T15:04:05")
	}
	t := TallyOf(j)
	if score, ok := t.Score(); ok {
		s.Properties = append(s.Properties, junitProperty{"checks_held", scorePercent(score)})
	}
	if t.NotJudged > 0 {
		// Beside checks_held, which counts only the phases judged.
		s.Properties = append(s.Properties, junitProperty{"checks_not_judged", strconv.Itoa(t.NotJudged)})
	}
	if r := recoveryText(j); r != "" {
		s.Properties = append(s.Properties, junitProperty{"time_to_recover", r})
	}
	seen := map[string]bool{}
	for _, f := range j.Faults {
		if !seen[f.Step] {
			seen[f.Step] = true
			v := f.Text() + " on " + f.TargetName
			if _, state, bad := faultState(j, f); bad {
				// What went wrong with it, as the summary says it: it may
				// still be in place, or did not act as planned.
				v += ": " + state
			}
			s.Properties = append(s.Properties, junitProperty{"fault " + f.Step, v})
		}
	}
	for _, e := range effects(j) {
		s.Properties = append(s.Properties, junitProperty{"under " + e.Step, e.Text()})
	}
	// The warnings are said whatever the verdict: a passed run's too (a
	// fault whose target ended while it was on, a ledger entry left
	// open), which no testcase carries.
	for _, w := range j.Warnings {
		s.Properties = append(s.Properties, junitProperty{"warning", w})
	}
	class := classOf(j.File)
	abortCaught := false
	for _, c := range j.Checks {
		tc := checkCase(j, c, class)
		if tc.Error != nil {
			abortCaught = true
		}
		s.Cases = append(s.Cases, tc)
	}
	// A fault that did not act as planned (it met no traffic, its target
	// was gone before its revert) is a skipped testcase: the hypothesis
	// was not tried under it, which a property alone would not show in a
	// CI tool's test tab.
	for _, f := range j.Faults {
		if f.EndedEarly == "" && f.Unreached == "" {
			continue
		}
		_, state, bad := faultState(j, f)
		if !bad {
			continue
		}
		s.Cases = append(s.Cases, junitCase{Name: "fault: " + f.Step + " on " + f.TargetName, Classname: class,
			Skipped: &junitMessage{Message: f.Text() + " on " + f.TargetName + " (" + hitText(f.Target) + "): " + state}})
	}
	for _, st := range j.Steps {
		if st.Outcome != journal.StepFailed && st.Outcome != journal.StepError {
			continue
		}
		tc := junitCase{Name: "step: " + st.Name, Classname: class, Time: seconds(st.Ended.Sub(st.Started).Seconds())}
		msg := &junitMessage{Message: fmt.Sprintf("%s at %s: %s", st.Outcome, at(j, st.Started), st.Error), Type: st.Outcome,
			Text: fmt.Sprintf("%s step %q (%s) %s at %s", st.Section, st.Name, st.Kind, st.Outcome, at(j, st.Started))}
		if st.Error != "" {
			msg.Text += ": " + st.Error
		}
		if len(st.Observed) > 0 {
			msg.Text += "\nobserved: " + observedText(st.Observed)
		}
		if st.Outcome == journal.StepFailed {
			tc.Failure = msg
		} else {
			tc.Error = msg
		}
		s.Cases = append(s.Cases, tc)
	}
	run := junitCase{Name: "run", Classname: class, Time: seconds(j.Duration().Seconds())}
	msg := &junitMessage{Message: verdictName(j.Verdict) + ": " + j.Reason, Type: cmp.Or(j.Verdict, journal.Errored), Text: runText(j)}
	switch {
	case j.Verdict == journal.Passed:
	case j.Verdict == journal.Deviated:
		// A deviated run whose checks and steps do not say where it broke
		// (a journal of an older version) still fails.
		if !slices.ContainsFunc(s.Cases, func(c junitCase) bool { return c.Failure != nil || c.Error != nil }) {
			run.Failure = msg
			s.Cases = append(s.Cases, run)
		}
	case j.Verdict == journal.Aborted && abortCaught:
	default:
		// Any other verdict, also one chaos does not write (empty, or of
		// a newer version), is an error, as chaos run's exit code
		// counts it.
		run.Error = msg
		s.Cases = append(s.Cases, run)
	}
	for _, tc := range s.Cases {
		s.Tests++
		switch {
		case tc.Error != nil:
			s.Errors++
		case tc.Failure != nil:
			s.Failures++
		case tc.Skipped != nil:
			s.Skipped++
		}
	}
	s.SystemOut = textOf(eventsText(j))
	return s
}

// notRunSuite is the suite of an experiment of a gameday that never ran.
func notRunSuite(g Gameday, n NotRun) junitSuite {
	why := "not run"
	if g.StoppedBy != "" {
		why += ": the gameday was " + g.StoppedBy + " before it ran"
	}
	verdict := cmp.Or(g.Stopped, notRunVerdict)
	s := junitSuite{Name: cmp.Or(n.Title, n.File), File: n.File, Tests: 1, Errors: 1,
		Properties: []junitProperty{{"verdict", notRunVerdict}, {"reason", why}, {"file", n.File}}}
	s.Cases = []junitCase{{Name: "run", Classname: classOf(n.File), Error: &junitMessage{Message: why, Type: verdict}}}
	return s
}

// classOf is the classname of an experiment file's testcases: its path
// without the extension.
func classOf(file string) string {
	class := strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")
	if class == "" {
		class = "chaos"
	}
	return class
}

func checkCase(j *journal.Journal, c *journal.Check, class string) junitCase {
	name := "check: " + c.Name
	if c.Abort {
		name = "abort condition: " + c.Name
	}
	tc := junitCase{Name: name, Classname: class}
	if len(c.Samples) > 0 {
		first, last := c.Samples[0].Time, c.Samples[len(c.Samples)-1].Time
		if !c.Samples[0].From.IsZero() {
			first = c.Samples[0].From
		}
		tc.Time = seconds(last.Sub(first).Seconds())
	}
	var out strings.Builder
	fmt.Fprintf(&out, "expects %s\n", c.ExpectText())
	judged, notRun := 0, []string{}
	for _, cp := range checkPhases(c) {
		switch cp.Result {
		case journal.Held, journal.Broken:
			judged++
			fmt.Fprintf(&out, "%s: %s (%s, %d failed)\n", cp.Phase, cp.Result, plural(cp.Samples, "observation"), cp.Failed)
		default:
			r := cp.Result
			if r == "" {
				r = "not run"
			}
			notRun = append(notRun, cp.Phase+" "+r)
			// Said beside the phases judged: a testcase that passes
			// must not read as judged where it never was.
			fmt.Fprintf(&out, "%s: %s\n", cp.Phase, r)
		}
	}
	for _, e := range j.ByFault() {
		for _, ce := range e.Checks {
			if ce.Check == c.Name {
				fmt.Fprintf(&out, "under %s: %d of %s failed\n", j.StepFault(e.Step), ce.Failed, plural(ce.Observed, "observation"))
			}
		}
	}
	for _, n := range notesText(c) {
		fmt.Fprintf(&out, "noted %s\n", n)
	}
	if r := recoveredText(c); r != "" {
		if c.Recovered.OK {
			r = "recovered in " + r
		}
		fmt.Fprintf(&out, "%s\n", r)
	}
	broke := brokeText(j, c)
	switch {
	case unobservedText(c) != "":
		msg := "could not be judged " + unobservedText(c)
		if broke != "" {
			// Where it was judged, it broke: the message says both.
			msg += "; broke " + broke
		}
		tc.Error = &junitMessage{Message: msg, Type: journal.Errored, Text: out.String() + failedSamplesText(j, c)}
	case c.Abort && broke != "":
		tc.Error = &junitMessage{Message: "aborted the run: broke " + broke, Type: journal.Aborted, Text: out.String() + failedSamplesText(j, c)}
	case broke != "":
		tc.Failure = &junitMessage{Message: "broke " + broke, Type: journal.Deviated, Text: out.String() + failedSamplesText(j, c)}
	case c.Recovered != nil && !c.Recovered.OK:
		tc.Failure = &junitMessage{Message: "did not recover within " + c.Recovered.After.String() + " after the faults were removed", Type: journal.Deviated, Text: out.String()}
	case judged == 0:
		tc.Skipped = &junitMessage{Message: "not judged: " + strings.Join(notRun, ", ")}
	default:
		tc.SystemOut = textOf(out.String())
	}
	return tc
}

// failedSamplesText lists a check's failed observations, at most 20.
func failedSamplesText(j *journal.Journal, c *journal.Check) string {
	var b strings.Builder
	n := 0
	for _, s := range c.Samples {
		if s.OK {
			continue
		}
		n++
		if n <= 20 {
			fmt.Fprintf(&b, "%s %s: %s", at(j, s.Time), s.Phase, s.Reason)
			if len(s.Faults) > 0 {
				faults := make([]string, len(s.Faults))
				for i, f := range s.Faults {
					faults[i] = j.StepFault(f)
				}
				fmt.Fprintf(&b, " (under %s)", strings.Join(faults, ", "))
			}
			b.WriteString("\n")
		}
	}
	if n > 20 {
		fmt.Fprintf(&b, "... and %d more failed observations\n", n-20)
	}
	return b.String()
}

func runText(j *journal.Journal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s after %s: %s\n", verdictName(j.Verdict), dur(j.Duration()), j.Reason)
	if a := j.Abort; a != nil {
		if a.By != "" {
			fmt.Fprintf(&b, "at %s, %s\n", at(j, a.At), a.Reason)
		} else {
			fmt.Fprintf(&b, "abort condition %q fired at %s: %s\n", a.Check, at(j, a.At), a.Reason)
		}
	}
	for _, e := range hiddenErrors(j) {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	for _, f := range j.Faults {
		if _, state, bad := faultState(j, f); bad {
			fmt.Fprintf(&b, "fault %s on %s (%s): %s\n", f.Text(), f.TargetName, hitText(f.Target), state)
		}
	}
	for _, w := range j.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// eventsText is the run's events as lines, without the load windows and
// observations, which would drown the rest.
func eventsText(j *journal.Journal) string {
	var b strings.Builder
	n := 0
	for _, e := range j.Events {
		if e.Type == "load.window" || e.Type == "check.sample" {
			continue
		}
		if n++; n > maxEvents {
			fmt.Fprintf(&b, "... events cut at %d: see journal.json\n", maxEvents)
			break
		}
		fmt.Fprintf(&b, "%-9s %-16s %s\n", at(j, e.Time), e.Type, e.Message)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
