// Package journal is the record of one experiment run: what was planned,
// what happened and when, every observation, and the verdict. The runner
// writes it as journal.json; every report is rendered from it alone.
package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gamedayhq/chaos/internal/load"
)

// SchemaVersion is the version of the journal format written by this
// package. Readers accept older versions and upgrade them on load.
//
// Version 2 writes the durations in fault parameters as text ("300ms");
// version 1 wrote them as nanoseconds. Fields added since, left out when
// empty, do not change it: older readers ignore them and a journal without
// them reads as before (a load window's inflight and waiting).
const SchemaVersion = 2

// Verdicts.
const (
	Passed       = "passed"
	Deviated     = "deviated"
	Aborted      = "aborted"
	Errored      = "error"
	RevertFailed = "revert-failed"
	Interrupted  = "interrupted"
)

// Journal is one experiment run.
type Journal struct {
	SchemaVersion int            `json:"schema_version"`
	RunID         string         `json:"run_id"`
	ToolVersion   string         `json:"tool_version"`
	Host          string         `json:"host"`
	File          string         `json:"file"`
	Title         string         `json:"title"`
	Description   string         `json:"description,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Experiment    map[string]any `json:"experiment"`
	Seed          uint64         `json:"seed"`
	Only          []string       `json:"only,omitempty"`
	Started       time.Time      `json:"started"`
	Ended         time.Time      `json:"ended"`
	Verdict       string         `json:"verdict"`
	Reason        string         `json:"reason"`
	ReportDir     string         `json:"report_dir,omitempty"`

	Phases   []Phase   `json:"phases"`
	Services []Service `json:"services,omitempty"`
	Steps    []Step    `json:"steps"`
	Faults   []Fault   `json:"faults"`
	Checks   []*Check  `json:"checks"`
	Streams  []Stream  `json:"streams,omitempty"`
	Windows  []Window  `json:"windows,omitempty"`
	Abort    *Abort    `json:"abort,omitempty"`
	Events   []Event   `json:"events"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Duration is how long the run took.
func (j *Journal) Duration() time.Duration { return j.Ended.Sub(j.Started) }

// Phase is a span of the run: before, method, after.
type Phase struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

// Service is a process the experiment started.
type Service struct {
	Name    string    `json:"name"`
	Run     []string  `json:"run"`
	PID     int       `json:"pid,omitempty"`
	Started time.Time `json:"started"`
	Ready   time.Time `json:"ready,omitzero"`
	Stopped time.Time `json:"stopped,omitzero"`
	// Exited is when the service exited on its own, before chaos stopped it.
	Exited   time.Time `json:"exited,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	// Signal names the signal that ended the service ("SIGTERM"), which
	// then has no exit code.
	Signal string `json:"signal,omitempty"`
	Log    string `json:"log,omitempty"`
}

// ExitText says how the service ended: "exit code 1", "stopped by
// SIGTERM", "killed by SIGKILL"; empty when it is not known to have
// ended. Journals of older versions wrote the exit code -1 for a service
// that a signal ended.
func (s Service) ExitText() string {
	by := "ended"
	if !s.Stopped.IsZero() && s.Exited.IsZero() {
		by = "stopped"
	}
	switch {
	case s.Signal != "":
		return by + " by " + s.Signal
	case s.ExitCode == nil:
		return ""
	case *s.ExitCode == -1:
		return by + " by a signal"
	}
	return fmt.Sprintf("exit code %d", *s.ExitCode)
}

// Step outcomes.
const (
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped"
	StepError   = "error"
)

// Step is one method or rollback step as it ran.
type Step struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Section string    `json:"section"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Outcome string    `json:"outcome"`
	// Error says why a step failed or was skipped, or, for a wait or a
	// fault's for that the operator skipped, that it was cut short and
	// after how long of its planned length.
	Error string `json:"error,omitempty"`
	// Observed holds a probe step's observation.
	Observed map[string]string `json:"observed,omitempty"`
	// Planned is the step's planned length (a wait, a fault's for).
	Planned time.Duration `json:"planned,omitempty"`
}

// Target is one concrete thing a fault hit.
type Target struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// Engine is the Docker engine the target is on, by its name under the
	// experiment's engines:; empty for the default engine.
	Engine string `json:"engine,omitempty"`
}

// Fault is one fault applied to one target.
type Fault struct {
	Step       string `json:"step"`
	Fault      string `json:"fault"`
	TargetName string `json:"target_name"`
	Target     Target `json:"target"`
	// Params are the fault's settings as the file gives them, with their
	// defaults; see Params.
	Params json.RawMessage `json:"params,omitempty"`
	// Injected is when the fault was injected; for one whose injection
	// failed (InjectError), when that injection began.
	Injected    time.Time `json:"injected"`
	Reverted    time.Time `json:"reverted,omitzero"`
	RevertError string    `json:"revert_error,omitempty"`
	// InjectError says why the fault's injection failed part way. What it
	// had done by then could not be undone either (RevertError), so it
	// may be partly in place, though it never had a fault.injected; a
	// fault whose failed injection was undone changed nothing that lasts,
	// and is not listed.
	InjectError string `json:"inject_error,omitempty"`
	// Irreversible faults (a kill) have nothing to revert.
	Irreversible bool `json:"irreversible,omitempty"`
	// EndedEarly says why the fault was gone already when its revert came
	// (someone else removed it, the target restarted): it may have ended
	// at any moment after Injected, so no pass observed since counts as
	// the system coping with it.
	EndedEarly string `json:"ended_early,omitempty"`
	// Unreached says why the fault met none of the traffic it acts on
	// while it was on (no packet matched its rules, no connection came to
	// its proxy): the system never felt it, so no pass observed under it
	// counts as the system coping with it.
	Unreached string `json:"unreached,omitempty"`
	// Notes are what the fault found or did that its settings do not say,
	// for people: the addresses a container's name stood for, how many
	// open connections it cut.
	Notes []string `json:"notes,omitempty"`
}

// Check results per phase.
const (
	Held    = "held"
	Broken  = "broken"
	Skipped = "skipped"
	// Unobserved is a phase the check was meant for but could not observe
	// (its probe could not start, nothing finished in the phase): the run
	// is then an error, never a pass.
	Unobserved = "unobserved"
)

// Check is one check of the hypothesis or one abort condition, with every
// observation made of it.
type Check struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"` // "probe" or "load"
	Abort  bool              `json:"abort,omitempty"`
	From   string            `json:"from,omitempty"`
	Expect map[string]string `json:"expect"`
	// Default says what a probe without expect checks: "any 2xx status".
	Default   string            `json:"default,omitempty"`
	When      []string          `json:"when"`
	Failures  int               `json:"failures"`
	Results   map[string]string `json:"results"`
	Reasons   map[string]string `json:"reasons,omitempty"`
	BrokeAt   time.Time         `json:"broke_at,omitzero"`
	Recovered *Recovery         `json:"recovered,omitempty"`
	Samples   []Sample          `json:"samples"`
}

// Recovery is how long a check that failed took to hold again once the
// faults ended: from Since to the start of its first passing observation
// (At).
type Recovery struct {
	At    time.Time     `json:"at"`
	After time.Duration `json:"after"`
	// OK is false when the check did not hold again within the deadline;
	// After is then the deadline.
	OK bool `json:"ok"`
	// Since is when the fault it is counted from ended: its revert, or its
	// injection when it had nothing to revert (a kill). Fault names that
	// fault's step.
	Since time.Time `json:"since,omitzero"`
	Fault string    `json:"fault,omitempty"`
}

// SlowestRecovery is the check that took the longest to hold again after
// the faults ended, or nil when no check had to recover.
func (j *Journal) SlowestRecovery() *Check {
	var slow *Check
	for _, c := range j.Checks {
		if c.HadToRecover() && c.Recovered.OK && (slow == nil || c.Recovered.After > slow.Recovered.After) {
			slow = c
		}
	}
	return slow
}

// ExpectText says what the check expects, on one line: its expectations
// (see ExpectLine), or for a probe without any what its kind checks by
// default.
func (c *Check) ExpectText() string {
	if s := ExpectLine(c.Expect); s != "" {
		return s
	}
	switch {
	case c.Default != "":
		return c.Default + " (its probe's default)"
	case c.Kind == "probe":
		return "its probe's default"
	}
	return ""
}

// HadToRecover reports whether the check has a recovery to tell: it
// failed during or after the method. Journals of older versions recorded
// one, of 0s, for checks that never failed.
func (c *Check) HadToRecover() bool {
	if c.Recovered == nil {
		return false
	}
	if !c.Recovered.OK {
		return true
	}
	for _, s := range c.Samples {
		if !s.OK && s.Phase != CheckBefore {
			return true
		}
	}
	return false
}

// Sample is one observation of a check.
type Sample struct {
	Time     time.Time         `json:"time"`
	Phase    string            `json:"phase"`
	OK       bool              `json:"ok"`
	Observed map[string]string `json:"observed,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	// From and To bound the load windows judged, for load checks.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Started is when a probe's observation began; Time is when it ended.
	Started time.Time `json:"started,omitzero"`
	// Data, when set, is the time of the oldest data a probe judged,
	// before it began: a Prometheus query answers with what was last
	// scraped. The observation counts from then.
	Data time.Time `json:"data,omitzero"`
	// Faults names the method steps whose faults were in effect at some
	// moment of the observation.
	Faults []string `json:"faults,omitempty"`
	// Unseen names the steps of Faults that a passing observation does not
	// count as observing: a probe's answer that may have been made before
	// the fault or once its revert began, a load window in which the fault
	// was on too briefly to hold a request sent under it. ByFault leaves
	// them out.
	Unseen []string `json:"unseen,omitempty"`
	// Note says what is unusual about the observation: it was judged on
	// less traffic than the check's window, or finished after its phase.
	Note string `json:"note,omitempty"`
}

// Start is when the observation began: the first load window judged, or
// the time of the oldest data a probe judged, or the start of the probe.
// Journals written before Started was recorded give the end.
func (s Sample) Start() time.Time {
	switch {
	case !s.From.IsZero():
		return s.From
	case !s.Data.IsZero():
		return s.Data
	case !s.Started.IsZero():
		return s.Started
	}
	return s.Time
}

// End is when the observation ended: the end of the last load window
// judged, or when the probe finished.
func (s Sample) End() time.Time {
	if !s.To.IsZero() {
		return s.To
	}
	return s.Time
}

// FaultEffect is what the checks saw while the faults of one method step
// were in effect.
type FaultEffect struct {
	Step   string
	Checks []CheckEffect
}

// CheckEffect counts one check's observations made while a fault was in
// effect, and how many of them failed.
type CheckEffect struct {
	Check            string
	Abort            bool
	Observed, Failed int
}

// Broke lists the checks with a failed observation.
func (e FaultEffect) Broke() []CheckEffect {
	var out []CheckEffect
	for _, c := range e.Checks {
		if c.Failed > 0 {
			out = append(out, c)
		}
	}
	return out
}

// ByFault lists, for each fault step in the order of injection, the checks
// observed while its faults were in effect and how many of those
// observations failed. It reads the faults each observation names, so it
// is empty for journals written before observations named them.
func (j *Journal) ByFault() []FaultEffect {
	var out []FaultEffect
	index := map[string]int{}
	for _, f := range j.Faults {
		if _, ok := index[f.Step]; !ok {
			index[f.Step] = len(out)
			out = append(out, FaultEffect{Step: f.Step})
		}
	}
	for _, c := range j.Checks {
		for _, s := range c.Samples {
			for _, step := range s.Faults {
				i, ok := index[step]
				if !ok || slices.Contains(s.Unseen, step) {
					continue
				}
				e := &out[i]
				k := len(e.Checks) - 1
				if k < 0 || e.Checks[k].Check != c.Name {
					e.Checks = append(e.Checks, CheckEffect{Check: c.Name, Abort: c.Abort})
					k++
				}
				e.Checks[k].Observed++
				if !s.OK {
					e.Checks[k].Failed++
				}
			}
		}
	}
	return out
}

// Stream is a load stream's settings as run.
type Stream struct {
	Name   string  `json:"name"`
	Method string  `json:"method"`
	URL    string  `json:"url"`
	Rate   float64 `json:"rate"`
}

// Window is one load stream's traffic over one time window, with its
// latency histogram so that windows merge exactly.
type Window = load.Window

// What aborted a run that no abort condition stopped: Abort.By, and its
// Check.
const (
	AbortByOperator    = "operator"
	AbortByHalt        = "halt"
	AbortByMaxDuration = "max_duration"
)

// Abort records an abort condition that fired, or an abort by the
// operator, chaos halt or max_duration (By).
type Abort struct {
	// Check is the abort condition's name; for an abort By something
	// else, By's word.
	Check string `json:"check"`
	// By is empty for an abort condition, else AbortByOperator,
	// AbortByHalt or AbortByMaxDuration.
	By string    `json:"by,omitempty"`
	At time.Time `json:"at"`
	// Reverted is when the last fault was removed after the abort.
	Reverted time.Time `json:"reverted,omitzero"`
	Reason   string    `json:"reason"`
}

// Text says what aborted the run and why: `abort condition "x" fired:
// REASON`, or, for an abort by the operator, chaos halt or max_duration,
// the reason alone ("aborted by the operator").
func (a *Abort) Text() string {
	if a.By != "" {
		return a.Reason
	}
	return fmt.Sprintf("abort condition %q fired: %s", a.Check, a.Reason)
}

// Write saves the journal as dir/journal.json, atomically.
func (j *Journal) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write journal: %w", err)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write journal: %w", err)
	}
	path := filepath.Join(dir, "journal.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		os.Remove(tmp) // a part written before the disk filled up
		return "", fmt.Errorf("write journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write journal: %w", err)
	}
	return path, nil
}

// Read loads a journal, upgrading older schema versions.
func Read(path string) (*Journal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var head struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("read journal %s: not a journal: %v", path, err)
	}
	switch {
	case head.SchemaVersion == 0:
		return nil, fmt.Errorf("read journal %s: no schema_version: not a chaos journal", path)
	case head.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("read journal %s: schema version %d is newer than this chaos reads (%d): upgrade chaos", path, head.SchemaVersion, SchemaVersion)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("read journal %s: %v", path, err)
	}
	if a := j.Abort; a != nil && a.By == "" && !j.hasAbortCheck(a.Check) {
		// Earlier versions wrote an abort by the operator, chaos halt or
		// max_duration as one by a check of that name.
		switch a.Check {
		case AbortByOperator, AbortByHalt, AbortByMaxDuration:
			a.By = a.Check
		}
	}
	if j.SchemaVersion == 1 {
		for i := range j.Faults {
			j.Faults[i].Params = upgradeV1Params(j.Faults[i].Params)
		}
		j.SchemaVersion = SchemaVersion
	}
	return &j, nil
}

// hasAbortCheck reports whether the journal has an abort condition named
// name.
func (j *Journal) hasAbortCheck(name string) bool {
	for _, c := range j.Checks {
		if c.Abort && c.Name == name {
			return true
		}
	}
	return false
}
