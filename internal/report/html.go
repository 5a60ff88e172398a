package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

var (
	//go:embed html.tmpl
	htmlSource string
	//go:embed style.css
	styleSource string

	pages = template.Must(template.New("report").Funcs(template.FuncMap{
		"n":   num,
		"add": func(a, b float64) float64 { return a + b },
		"sub": func(a, b float64) float64 { return a - b },
		"panelOf": func(c loadChart, p any) map[string]any {
			if pp, ok := p.(*panel); ok {
				p = *pp
			}
			return map[string]any{"C": c, "P": p}
		},
	}).Parse(htmlSource))
)

// Limits on what a report shows, so that a long run stays readable and
// small; journal.json keeps everything.
const (
	// maxSamples is how many rows of observations of a check are listed
	// in full (repeated identical observations make one row); beyond it,
	// held rows are left out except the first and last of each phase.
	maxSamples = 40
	// maxFailedSamples is how many rows of failed observations of a check
	// are listed at most.
	maxFailedSamples = 30
	// maxTimes is how many times a row of repeated observations lists.
	maxTimes = 60
	// maxLog is how much of the end of a service log is shown.
	maxLog = 64 << 10
	// maxEvents is how many events the event log lists.
	maxEvents = 500
)

// HTML renders the journal as one self-contained HTML page: inline CSS
// and SVG, no script, nothing fetched from anywhere. It leads with the
// verdict and its reason, the timeline, and a chart per load stream (p50
// and p99 latency and success rate over time, fault windows shaded and
// labelled with their settings, windows with no completed request shaded,
// thresholds and failed checks marked); then every check with its
// observations (a run of identical ones in one row), the steps, the
// faults and what they hit, and the services. Charts are downsampled for
// drawing; tables hold exact values.
func HTML(j *journal.Journal) ([]byte, error) { return HTMLWithLogs(j, nil) }

// HTMLWithLogs is HTML with the services' logs, collapsed under each
// service. logs maps a service's Log path (relative to the report
// directory, as in the journal) or its name to the log's contents; the end
// of a long log is shown. Services without an entry link to their log
// file instead.
func HTMLWithLogs(j *journal.Journal, logs map[string]string) ([]byte, error) {
	v, err := newReportView(j, logs)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(64 << 10)
	if err := pages.ExecuteTemplate(&b, "report", v); err != nil {
		return nil, fmt.Errorf("render html report: %w", err)
	}
	return b.Bytes(), nil
}

// htmlMark marks verdicts with symbols every common font has: the page
// must read the same without an emoji font, and printed.
var htmlMark = map[string]string{
	journal.Passed:       "✔",
	journal.Deviated:     "✘",
	journal.Aborted:      "■",
	journal.Errored:      "⚠",
	journal.RevertFailed: "‼",
	journal.Interrupted:  "◼",
}

type fact struct{ K, V string }

type reportView struct {
	J     *journal.Journal
	Title string
	Tool  string
	CSS   template.CSS
	Mark  string
	// Verdict is the run's verdict as the banner says it.
	Verdict  string
	Facts    []fact
	Streams  []streamView
	Timeline *timeline
	Checks   []checkView
	Abort    *abortView
	Steps    []stepView
	Faults   []faultView
	Effects  []effectView
	Services []serviceView
	Warnings []string
	// Errors are the run's errors its verdict does not tell.
	Errors []string
	Events []eventView
	// EventsCut is the number of events not listed.
	EventsCut int
	// MaxFailed is how many failed observations a check lists at most.
	MaxFailed int
}

type streamView struct {
	Name, Target string
	// Note says why the latencies are not given.
	Note     string
	Chart    loadChart
	Interval string
	Windows  int
	Rows     []rowView
	Total    rowView
}

type rowView struct {
	At, Clock          string
	Requests           int64
	Success, Errors    string
	P50, P90, P99, Max string
	Waiting            string
}

type cellView struct{ Class, Text string }

type checkView struct {
	ID, Name, Kind, From, Expect, When string
	Abort, Broken                      bool
	Failures                           int
	Cells                              []cellView
	Recovered                          string
	// RecoveredSentence says the same as Recovered, as a sentence.
	RecoveredSentence         string
	BrokeText, UnobservedText string
	Samples                   []sampleView
	// SampleCount is the number of observations, Omitted how many of them
	// are not listed; Repeats is set when rows stand for several.
	SampleCount, Omitted int
	Repeats              bool
	// CountText says how many observations in how many rows.
	CountText string
}

// sampleView is one row of observations: one, or several in a row that
// saw the same (phase, result, value, faults), counted.
type sampleView struct {
	At, Phase, Observed, Reason, Span, Faults string
	OK                                        bool
	// Noted is set when the row's observations carry a note, which Span
	// says.
	Noted bool
	// Count is the number of observations of the row; Last is the time of
	// its last one and Each each one's time and values. Observed is then
	// the values they share.
	Count int
	Last  string
	Each  []string
}

type abortView struct{ Check, By, At, Reverted, Reason string }

type stepView struct {
	At, Name, Section, Kind, Outcome, Class, Error, Observed, Took, Planned string
}

type faultView struct {
	Fault, Target, Hit, Notes, Params, Injected, Lasted, State string
	Bad                                                        bool
}

type effectView struct {
	Step, What, Text string
	Broke            bool
}

type serviceView struct {
	Name, Run, Life, Log, LogNote, LogPath string
	PID                                    int
	HasLog                                 bool
}

type eventView struct{ At, Type, Message string }

func newReportView(j *journal.Journal, logs map[string]string) (*reportView, error) {
	v := &reportView{
		J:         j,
		Title:     verdictName(j.Verdict) + ": " + j.Title,
		Tool:      j.ToolVersion,
		CSS:       template.CSS(styleSource),
		Mark:      cmp.Or(htmlMark[j.Verdict], htmlMark[journal.Errored]),
		Verdict:   verdictName(j.Verdict),
		Warnings:  j.Warnings,
		Errors:    hiddenErrors(j),
		MaxFailed: maxFailedSamples,
	}
	v.Facts = facts(j)

	sds := streams(j)
	errs := make([]error, len(sds))
	var wg sync.WaitGroup
	for i, d := range sds {
		wg.Go(func() { errs[i] = d.summarize() })
	}
	wg.Wait()
	for i, d := range sds {
		if len(d.Windows) == 0 {
			continue
		}
		sv := streamView{Name: d.Stream.Name, Chart: newLoadChart(j, d), Interval: trimZero(d.Interval.String()), Windows: len(d.Windows)}
		if errs[i] != nil {
			// The counts stand; the report is still written, as the
			// summary and JUnit are.
			sv.Note = "latency unreadable: " + errs[i].Error()
		}
		if d.Stream.URL != "" {
			sv.Target = fmt.Sprintf("%s %s at %s/s", d.Stream.Method, d.Stream.URL, strconv.FormatFloat(d.Stream.Rate, 'f', -1, 64))
		}
		for _, r := range d.Rows {
			sv.Rows = append(sv.Rows, rowOf(j, r))
		}
		sv.Total = rowOf(j, d.Total)
		v.Streams = append(v.Streams, sv)
	}

	for i, c := range j.Checks {
		v.Checks = append(v.Checks, checkOf(j, i, c))
	}
	if a := j.Abort; a != nil {
		av := &abortView{Check: a.Check, By: a.By, At: at(j, a.At), Reason: a.Reason}
		if !a.Reverted.IsZero() {
			av.Reverted = at(j, a.Reverted)
		}
		v.Abort = av
	}
	if len(j.Steps) > 0 || len(j.Faults) > 0 || len(j.Checks) > 0 {
		tl := newTimeline(j)
		v.Timeline = &tl
	}
	for _, s := range j.Steps {
		sv := stepView{At: at(j, s.Started), Name: s.Name, Section: s.Section, Kind: s.Kind, Outcome: s.Outcome, Error: s.Error,
			Observed: observedText(s.Observed), Took: dur(s.Ended.Sub(s.Started))}
		if s.Ended.IsZero() {
			sv.Took = "unfinished"
		}
		if s.Planned > 0 {
			sv.Planned = dur(s.Planned)
		}
		switch s.Outcome {
		case journal.StepFailed, journal.StepError:
			sv.Class = "bad"
		case journal.StepSkipped:
			sv.Class = "muted"
		}
		v.Steps = append(v.Steps, sv)
	}
	for _, f := range j.Faults {
		end, state, bad := faultState(j, f)
		fv := faultView{Fault: f.Fault, Target: f.TargetName, Hit: hitText(f.Target), Notes: strings.Join(f.Notes, "; "),
			Params: journal.Strength(f.Params), Injected: at(j, f.Injected), State: state, Bad: bad}
		if !f.Irreversible {
			fv.Lasted = dur(end.Sub(f.Injected))
			if bad {
				fv.Lasted = "≥ " + fv.Lasted
			}
		}
		v.Faults = append(v.Faults, fv)
	}
	for _, e := range effects(j) {
		v.Effects = append(v.Effects, effectView{Step: e.Step, What: e.What, Text: e.Text(), Broke: len(e.Broke) > 0})
	}
	for _, s := range j.Services {
		v.Services = append(v.Services, serviceOf(j, s, logs))
	}
	for _, e := range j.Events {
		if e.Type == "load.window" || e.Type == "check.sample" || len(v.Events) >= maxEvents {
			v.EventsCut++
			continue
		}
		v.Events = append(v.Events, eventView{At: at(j, e.Time), Type: string(e.Type), Message: e.Message})
	}
	return v, nil
}

func facts(j *journal.Journal) []fact {
	fs := []fact{
		{"experiment", j.File},
		{"started", j.Started.UTC().Format(time.RFC3339)},
		{"duration", dur(j.Duration())},
		{"run", fmt.Sprintf("%s (seed %d)", j.RunID, j.Seed)},
	}
	if j.Host != "" {
		fs = append(fs, fact{"host", j.Host})
	}
	if len(j.Tags) > 0 {
		fs = append(fs, fact{"tags", strings.Join(j.Tags, ", ")})
	}
	if len(j.Only) > 0 {
		fs = append(fs, fact{"phases run", strings.Join(j.Only, ", ")})
	}
	if h := heldFact(TallyOf(j)); h != "" {
		fs = append(fs, fact{"checks held", h})
	}
	if r := recoveryText(j); r != "" {
		fs = append(fs, fact{"time to recover", r})
	}
	return fs
}

func rowOf(j *journal.Journal, s stat) rowView {
	r := rowView{At: at(j, s.Start), Clock: s.Start.UTC().Format("15:04:05"), Requests: s.Requests, Errors: errorsText(s.Errors)}
	if ratio, ok := s.Success(); ok {
		r.Success = percent(ratio)
	}
	if s.P50 > 0 || s.Max > 0 {
		r.P50, r.P90, r.P99, r.Max = dur(s.P50), dur(s.P90), dur(s.P99), dur(s.Max)
	}
	r.Waiting = waitingText(s)
	return r
}

// waitingText is what a span left waiting for an answer: how many and the
// longest any had waited, "50, up to 4.2s", or "-" when none. Beside the
// latencies, which only count answered requests, it is what shows a
// stall: a span in which requests hang completes few or none.
func waitingText(s stat) string {
	if s.Inflight == 0 {
		return "-"
	}
	return fmt.Sprintf("%d, up to %s", s.Inflight, dur(s.Waited))
}

// percent shows a ratio as a percentage with two decimals at most, more
// when fewer would round a failure rate away to 100%.
func percent(r float64) string {
	if r >= 1 {
		return "100%"
	}
	for prec := 2; prec < 6; prec++ {
		s := strconv.FormatFloat(r*100, 'f', prec, 64)
		if !strings.HasPrefix(s, "100") {
			return strings.TrimSuffix(strings.TrimRight(s, "0"), ".") + "%"
		}
	}
	return "99.99999%"
}

func errorsText(e map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, e[k]))
	}
	return strings.Join(parts, ", ")
}

func checkOf(j *journal.Journal, i int, c *journal.Check) checkView {
	cv := checkView{ID: fmt.Sprintf("check-%d", i+1), Name: c.Name, Kind: c.Kind, From: c.From, Expect: c.ExpectText(),
		Abort: c.Abort, Failures: c.Failures, Recovered: recoveredText(c), RecoveredSentence: recoveredSentence(c), BrokeText: brokeText(j, c), UnobservedText: unobservedText(c), SampleCount: len(c.Samples)}
	if c.Abort {
		cv.Kind = "abort condition (" + c.Kind + ")"
	}
	var when []string
	for _, ph := range journal.CheckPhases {
		if slices.Contains(c.When, ph) {
			when = append(when, ph)
		}
		var class, text string
		if slices.Contains(c.When, ph) {
			class, text = "notrun", "not run"
			switch c.Results[ph] {
			case journal.Held:
				class, text = "held", "✔ held"
			case journal.Broken:
				class, text = "broken", "✘ broken"
				cv.Broken = true
			case journal.Skipped:
				class, text = "skipped", "skipped"
			case journal.Unobserved:
				class, text = "unobserved", "⚠ not observed"
			}
		}
		cv.Cells = append(cv.Cells, cellView{Class: class, Text: text})
	}
	cv.When = strings.Join(when, ", ")
	listed := 0
	for _, g := range pickSamples(sampleRows(j, c, c.Samples)) {
		if len(g.Each) > maxTimes {
			g.Each = slices.Concat(g.Each[:maxTimes/2], []string{"…"}, g.Each[len(g.Each)-maxTimes/2:])
		}
		cv.Samples = append(cv.Samples, g)
		listed += g.Count
		cv.Repeats = cv.Repeats || g.Count > 1
	}
	cv.Omitted = len(c.Samples) - listed
	cv.CountText = plural(len(c.Samples), "observation") + " in " + plural(len(cv.Samples), "row")
	return cv
}

// sampleRows makes a row of each run of observations that saw the same
// of what the check judges (the status of a status check; everything
// observed when it names nothing observed), in the same phase, with the
// same result, reason and faults in effect. A check that holds for a
// minute is then one row with its count, not sixty; each observation is
// listed in full under the row.
func sampleRows(j *journal.Journal, c *journal.Check, ss []journal.Sample) []sampleView {
	var out []sampleView
	var first, last journal.Sample
	var key string
	for _, s := range ss {
		sv := sampleView{At: at(j, s.Time), Phase: s.Phase, OK: s.OK, Observed: observedText(s.Observed), Reason: s.Reason,
			Faults: strings.Join(s.Faults, ", "), Count: 1, Noted: s.Note != ""}
		judged := judgedText(c, s)
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Phase == sv.Phase && p.OK == sv.OK && key == judged && p.Reason == sv.Reason && p.Faults == sv.Faults && s.Note == last.Note {
				p.Count++
				p.Last = sv.At
				p.Observed = judged
				p.Each = append(p.Each, sv.At+" "+sv.Observed)
				last = s
				p.Span = spanText(j, first, last)
				continue
			}
		}
		first, last, key = s, s, judged
		sv.Span = spanText(j, s, s)
		sv.Each = []string{sv.At + " " + sv.Observed}
		out = append(out, sv)
	}
	return out
}

// judgedText is what an observation saw of the values its check judges;
// all it saw when it saw none of them.
func judgedText(c *journal.Check, s journal.Sample) string {
	m := map[string]string{}
	for k, want := range c.Expect {
		if v, ok := s.Observed[k]; ok && want != "" {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return observedText(s.Observed)
	}
	return observedText(m)
}

// spanText is what a row of observations was judged on: the load from the
// first's start to the last's end, and the note.
func spanText(j *journal.Journal, first, last journal.Sample) string {
	var span []string
	if !first.From.IsZero() {
		span = append(span, fmt.Sprintf("load %s to %s", at(j, first.From), at(j, last.To)))
	}
	if first.Note != "" {
		span = append(span, first.Note)
	}
	return strings.Join(span, "; ")
}

// pickSamples lists every row of observations of a check when there are
// few; else the failed ones and the first and last of each phase.
func pickSamples(rows []sampleView) []sampleView {
	if len(rows) <= maxSamples {
		return rows
	}
	keep := make([]bool, len(rows))
	first := map[string]int{}
	last := map[string]int{}
	failed := 0
	for i, s := range rows {
		if _, ok := first[s.Phase]; !ok {
			first[s.Phase] = i
		}
		last[s.Phase] = i
		if !s.OK && failed < maxFailedSamples {
			keep[i] = true
			failed++
		}
		if s.Noted {
			// What is unusual about an observation that held is not
			// left out: only the journal would tell it.
			keep[i] = true
		}
	}
	for _, i := range first {
		keep[i] = true
	}
	for _, i := range last {
		keep[i] = true
	}
	var out []sampleView
	for i, s := range rows {
		if keep[i] {
			out = append(out, s)
		}
	}
	return out
}

func serviceOf(j *journal.Journal, s journal.Service, logs map[string]string) serviceView {
	sv := serviceView{Name: s.Name, Run: strings.Join(s.Run, " "), PID: s.PID, LogPath: s.Log}
	life := []string{"started " + at(j, s.Started)}
	if !s.Ready.IsZero() {
		life = append(life, "ready "+at(j, s.Ready))
	}
	if !s.Exited.IsZero() {
		life = append(life, "exited on its own "+at(j, s.Exited))
	}
	exit := s.ExitText()
	if !s.Stopped.IsZero() {
		stopped := "stopped " + at(j, s.Stopped)
		if by, ok := strings.CutPrefix(exit, "stopped "); ok {
			stopped, exit = stopped+" "+by, ""
		}
		life = append(life, stopped)
	}
	if exit != "" {
		life = append(life, exit)
	}
	sv.Life = strings.Join(life, ", ")
	log, ok := logs[s.Log]
	if !ok || s.Log == "" {
		log, ok = logs[s.Name]
	}
	if ok {
		sv.HasLog = true
		lines := strings.Count(log, "\n")
		if len(log) > maxLog {
			cut := len(log) - maxLog
			if i := strings.IndexByte(log[cut:], '\n'); i >= 0 {
				cut += i + 1
			}
			sv.LogNote = fmt.Sprintf("the last %d KiB of %d KiB", (len(log)-cut)>>10, len(log)>>10)
			log = log[cut:]
		} else {
			sv.LogNote = plural(lines, "line")
		}
		if log == "" {
			sv.LogNote = "empty"
		}
		sv.Log = log
	}
	return sv
}
