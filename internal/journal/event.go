package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Type names a kind of event.
type Type string

// Event types: every event the runner emits is one of these.
const (
	RunStarted Type = "run.started"
	// RunHeld: the operator's hold took effect; the method waits for continue.
	RunHeld    Type = "run.held"
	RunAborted Type = "run.aborted"
	RunVerdict Type = "run.verdict"
	// PhaseStarted: Phase names the phase (before, method, after, rollbacks).
	PhaseStarted Type = "phase.started"
	Warning      Type = "warning"
	// Error is a reason the run could not be carried out.
	Error Type = "error"
	// Operator is an operator's command, as the runner took it.
	Operator Type = "operator"

	ServiceStarted Type = "service.started"
	ServiceReady   Type = "service.ready"
	ServiceExited  Type = "service.exited"
	ServiceStopped Type = "service.stopped"

	TargetStarted  Type = "target.started"
	TargetResolved Type = "target.resolved"
	LoadStarted    Type = "load.started"
	LoadWindow     Type = "load.window"

	StepStarted    Type = "step.started"
	StepFinished   Type = "step.finished"
	StepUndone     Type = "step.undone"
	StepUndoFailed Type = "step.undo_failed"

	FaultInjected     Type = "fault.injected"
	FaultReverted     Type = "fault.reverted"
	FaultRevertFailed Type = "fault.revert_failed"

	CheckSample     Type = "check.sample"
	CheckHeld       Type = "check.held"
	CheckBroken     Type = "check.broken"
	CheckSkipped    Type = "check.skipped"
	CheckUnobserved Type = "check.unobserved"
	CheckRecovered  Type = "check.recovered"
)

// CheckResult is the event type that says a check's result in a phase:
// check.held for Held.
func CheckResult(result string) Type { return Type("check." + result) }

// Result is the check result an event of type check.held, check.broken,
// check.skipped or check.unobserved says; ok is false for other types.
func (t Type) Result() (result string, ok bool) {
	switch t {
	case CheckHeld, CheckBroken, CheckSkipped, CheckUnobserved:
		return strings.TrimPrefix(string(t), "check."), true
	}
	return "", false
}

// TypeInfo describes an event type: what it says and the fields it carries
// in the journal (under "fields").
type TypeInfo struct {
	Type   Type
	Doc    string
	Fields []string
}

// Types lists every event type in the order a run emits them, with what
// each says and its fields. docs/architecture.md shows the same table.
func Types() []TypeInfo {
	out := make([]TypeInfo, len(typeDocs))
	for i, d := range typeDocs {
		out[i] = TypeInfo{Type: d.t, Doc: d.doc}
		for _, f := range fieldsOf[d.t] {
			out[i].Fields = append(out[i].Fields, f.key)
		}
	}
	return out
}

var typeDocs = []struct {
	t   Type
	doc string
}{
	{RunStarted, "the run began"},
	{Warning, "something the operator should know; the run goes on"},
	{ServiceStarted, "a declared service was started"},
	{ServiceReady, "a service's ready check passed"},
	{TargetStarted, "a target that lives for the whole run (a proxy) started"},
	{LoadStarted, "a load stream began sending"},
	{LoadWindow, "a load stream's traffic over one window"},
	{PhaseStarted, "a phase began: before, method, after, rollbacks"},
	{CheckSample, "one observation of a check"},
	{CheckHeld, "a check held in a phase"},
	{CheckBroken, "a check broke in a phase"},
	{CheckSkipped, "a check was not judged in a phase"},
	{CheckUnobserved, "a check could not observe a phase it is meant for"},
	{Operator, "an operator's command was taken"},
	{RunHeld, "the method waits for the operator's continue"},
	{StepStarted, "a method or rollback step began"},
	{TargetResolved, "a fault step's target was resolved to concrete things"},
	{FaultInjected, "a fault was applied to one target"},
	{FaultReverted, "a fault was removed from one target"},
	{FaultRevertFailed, "a fault could not be removed"},
	{StepFinished, "a step ended"},
	{StepUndone, "an exec step's undo ran"},
	{StepUndoFailed, "an exec step's undo failed"},
	{RunAborted, "an abort condition fired, or the operator aborted"},
	{Error, "a reason the run could not be carried out"},
	{ServiceExited, "a service exited without chaos stopping it"},
	{ServiceStopped, "chaos stopped a service"},
	{CheckRecovered, "a check held again after the faults ended"},
	{RunVerdict, "the run's verdict and why"},
}

// Event is one thing that happened, as the sinks saw it. Besides its
// message for people, it carries typed fields for what consumers read;
// which are set depends on Type (see Types). In the journal the typed
// fields are written as text under "fields".
type Event struct {
	Time    time.Time
	Type    Type
	Phase   string
	Step    string
	Check   string
	Message string

	// run.started
	RunID string
	Seed  uint64
	// run.verdict: Reason is the message after the verdict.
	Verdict string
	Reason  string
	// operator
	Command Command

	// service.*
	Service string
	PID     int
	// Status is how a service exited: "exit code 1", "signal killed".
	Status string

	// step.started
	Kind    string
	Planned time.Duration
	// step.finished
	Outcome string

	// target.resolved, fault.injected: the target's name in the file.
	Target          string
	Matched, Picked int
	// fault.*: the fault's name and the concrete target's ID.
	Fault    string
	TargetID string
	// fault.injected: the fault has nothing to revert (a kill): it is
	// over once applied, and no fault.reverted follows.
	Irreversible bool

	// check.sample: OK, and Value, what was observed or why it failed (the
	// message after the check's name).
	OK    bool
	Value string
	// Observed is what the observation measured, by key (p99, success,
	// status), for live views to show the values a check judges. The
	// journal keeps it in the check's samples, not in the event.
	Observed map[string]string
	// check.recovered: how long the check took to hold again, counted
	// from the end of the faults of step Since.
	After time.Duration
	Since string

	// load.window
	Stream   string
	Requests int64
	Success  float64 // 0 to 1
	RPS      float64
	P50, P99 time.Duration
	// Waiting is the number of requests still waiting for an answer when
	// the window closed, and Waited the longest any of them had waited
	// then. A window in which requests hang completes few or none, so
	// without these a stall would read as a quiet, fast window.
	Waiting int64
	Waited  time.Duration

	// raw holds the fields of an event read from a journal that this
	// version would not write the same way (an older or newer writer's):
	// it is written back as read.
	raw map[string]string
}

// Routine reports whether the event comes with every load window or
// passing observation: live views leave these out unless asked, and show
// their numbers in other ways.
func (e Event) Routine() bool {
	switch e.Type {
	case LoadWindow:
		return true
	case CheckSample:
		return e.OK
	}
	return false
}

// VerdictEvent is the run.verdict event.
func VerdictEvent(verdict, reason string) Event {
	return Event{Type: RunVerdict, Verdict: verdict, Reason: reason, Message: verdict + ": " + reason}
}

// OperatorEvent is the event that says the runner took an operator's
// command.
func OperatorEvent(c Command) Event {
	return Event{Type: Operator, Command: c, Message: c.Text()}
}

// SampleEvent is the check.sample event of one observation: value is
// what was observed, or why it failed.
func SampleEvent(check, phase string, ok bool, value string) Event {
	return Event{Type: CheckSample, Check: check, Phase: phase, OK: ok, Value: value, Message: check + ": " + value}
}

// WindowEvent is the load.window event of a load window. Its success
// share and rate are rounded as the journal writes them (4 and 1
// decimals), so that a live view sees what the journal keeps; the share
// is 1 only when every request succeeded, 0 only when none did. The
// requests still waiting when the window closed are in the message too:
// "no request completed" alone would not tell a stall from a lull.
func WindowEvent(w Window) Event {
	success := Share(w.Successes, w.Requests, 4)
	msg := fmt.Sprintf("%s: %d requests, %s ok, p99 %s", w.Stream, w.Requests, Percent(float64(w.Successes)/float64(max(w.Requests, 1))), w.Latency.P99)
	if w.Requests == 0 {
		// A share of 0% would say that every request failed.
		msg = w.Stream + ": no request completed"
	}
	if w.Inflight > 0 {
		msg += fmt.Sprintf(", %d waiting up to %s", w.Inflight, experiment.FormatValue(w.Waiting.Max.Seconds(), experiment.UnitDuration))
	}
	return Event{Type: LoadWindow, Message: msg,
		Stream: w.Stream, Requests: w.Requests, Success: success, RPS: roundTo(w.RPS(), 1), P50: w.Latency.P50, P99: w.Latency.P99,
		Waiting: w.Inflight, Waited: w.Waiting.Max}
}

// Share is ok of n as a share from 0 to 1, rounded to prec decimals,
// but never up to 1 while some of n failed, nor down to 0 while some
// succeeded: 1 failure in 30000 is 0.9999, not the 1 that says none
// failed.
func Share(ok, n int64, prec int) float64 {
	if n <= 0 {
		return 0
	}
	r := roundTo(float64(ok)/float64(n), prec)
	step := math.Pow10(-prec)
	switch {
	case ok < n && r >= 1:
		return roundTo(1-step, prec)
	case ok > 0 && r <= 0:
		return step
	}
	return r
}

// Percent shows a share from 0 to 1 as a percentage with one decimal,
// more when one would round a failure away to 100% or a success away to
// 0%: 0.99996 is "99.996%", never "100.0%". Only 1 is "100.0%", and only
// 0 "0.0%".
func Percent(r float64) string {
	switch {
	case r >= 1:
		return "100.0%"
	case r <= 0:
		return "0.0%"
	}
	for prec := 1; prec < 10; prec++ {
		s := strconv.FormatFloat(r*100, 'f', prec, 64)
		if !strings.HasPrefix(s, "100") && strings.Trim(s, "0.") != "" {
			return s + "%"
		}
	}
	return strconv.FormatFloat(r*100, 'g', -1, 64) + "%"
}

// roundTo rounds x as strconv writes it with prec decimals.
func roundTo(x float64, prec int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', prec, 64), 64)
	return r
}

// field is one typed field as the journal writes it: under key, as text.
type field struct {
	key string
	// get writes the field; omit says to leave it out.
	get func(e *Event) (v string, omit bool)
	// set reads it; false when the text does not parse.
	set func(e *Event, v string) bool
}

func str(key string, p func(e *Event) *string) field {
	return field{key,
		func(e *Event) (string, bool) { return *p(e), false },
		func(e *Event, v string) bool { *p(e) = v; return true }}
}

func integer[T int | int64](key string, omitZero bool, p func(e *Event) *T) field {
	return field{key,
		func(e *Event) (string, bool) { return strconv.FormatInt(int64(*p(e)), 10), omitZero && *p(e) == 0 },
		func(e *Event, v string) bool {
			n, err := strconv.ParseInt(v, 10, 64)
			*p(e) = T(n)
			return err == nil
		}}
}

func dur(key string, omitZero bool, p func(e *Event) *time.Duration) field {
	return field{key,
		func(e *Event) (string, bool) { return p(e).String(), omitZero && *p(e) == 0 },
		func(e *Event, v string) bool {
			d, err := time.ParseDuration(v)
			*p(e) = d
			return err == nil
		}}
}

func decimal(key string, prec int, p func(e *Event) *float64) field {
	return field{key,
		func(e *Event) (string, bool) { return strconv.FormatFloat(*p(e), 'f', prec, 64), false },
		func(e *Event, v string) bool {
			f, err := strconv.ParseFloat(v, 64)
			*p(e) = f
			return err == nil
		}}
}

var (
	fService  = str("service", func(e *Event) *string { return &e.Service })
	fPID      = integer("pid", false, func(e *Event) *int { return &e.PID })
	fTarget   = str("target", func(e *Event) *string { return &e.Target })
	fFault    = str("fault", func(e *Event) *string { return &e.Fault })
	fTargetID = str("id", func(e *Event) *string { return &e.TargetID })
)

// fieldsOf lists the fields each event type carries in the journal, in
// the order of Types' documentation.
var fieldsOf = map[Type][]field{
	RunStarted: {
		str("run", func(e *Event) *string { return &e.RunID }),
		{"seed",
			func(e *Event) (string, bool) { return strconv.FormatUint(e.Seed, 10), false },
			func(e *Event, v string) bool {
				n, err := strconv.ParseUint(v, 10, 64)
				e.Seed = n
				return err == nil
			}},
	},
	RunVerdict:     {str("verdict", func(e *Event) *string { return &e.Verdict })},
	ServiceStarted: {fService, fPID},
	ServiceReady:   {fService},
	ServiceExited:  {fService, fPID, str("status", func(e *Event) *string { return &e.Status })},
	ServiceStopped: {fService},
	StepStarted: {
		str("kind", func(e *Event) *string { return &e.Kind }),
		dur("planned", true, func(e *Event) *time.Duration { return &e.Planned }),
	},
	StepFinished: {str("outcome", func(e *Event) *string { return &e.Outcome })},
	TargetResolved: {
		fTarget,
		integer("matched", false, func(e *Event) *int { return &e.Matched }),
		integer("picked", false, func(e *Event) *int { return &e.Picked }),
	},
	FaultInjected: {fFault, fTarget, fTargetID, {"irreversible",
		func(e *Event) (string, bool) { return strconv.FormatBool(e.Irreversible), !e.Irreversible },
		func(e *Event, v string) bool {
			b, err := strconv.ParseBool(v)
			e.Irreversible = b
			return err == nil
		}}},
	FaultReverted:     {fFault, fTargetID},
	FaultRevertFailed: {fFault, fTargetID},
	CheckSample: {{"state",
		func(e *Event) (string, bool) {
			if e.OK {
				return "ok", false
			}
			return "failed", false
		},
		func(e *Event, v string) bool { e.OK = v == "ok"; return v == "ok" || v == "failed" }}},
	CheckRecovered: {
		dur("after", false, func(e *Event) *time.Duration { return &e.After }),
		str("fault", func(e *Event) *string { return &e.Since }),
	},
	LoadWindow: {
		str("stream", func(e *Event) *string { return &e.Stream }),
		integer("requests", false, func(e *Event) *int64 { return &e.Requests }),
		decimal("success", 4, func(e *Event) *float64 { return &e.Success }),
		dur("p50", false, func(e *Event) *time.Duration { return &e.P50 }),
		dur("p99", false, func(e *Event) *time.Duration { return &e.P99 }),
		// Left out when nothing waited, as journals written before
		// windows recorded waiting requests have them: those read and
		// write back unchanged, their windows as having none.
		integer("waiting", true, func(e *Event) *int64 { return &e.Waiting }),
		dur("waited", true, func(e *Event) *time.Duration { return &e.Waited }),
		decimal("rps", 1, func(e *Event) *float64 { return &e.RPS }),
	},
}

// fromMessage fills the typed fields that the message alone carries in
// the journal, as the constructors above compose it.
func (e *Event) fromMessage() {
	switch e.Type {
	case RunVerdict:
		e.Reason = strings.TrimPrefix(e.Message, e.Verdict+": ")
	case Operator:
		e.Command = commandOfText(e.Message)
	case CheckSample:
		e.Value = strings.TrimPrefix(e.Message, e.Check+": ")
	}
}

// eventJSON is an event as the journal writes it.
type eventJSON struct {
	Time    time.Time         `json:"time"`
	Type    Type              `json:"type"`
	Phase   string            `json:"phase,omitempty"`
	Step    string            `json:"step,omitempty"`
	Check   string            `json:"check,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// fields writes the typed fields as the journal has them.
func (e *Event) fields() map[string]string {
	if e.raw != nil {
		return e.raw
	}
	var m map[string]string
	for _, f := range fieldsOf[e.Type] {
		v, omit := f.get(e)
		if omit {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[f.key] = v
	}
	return m
}

// MarshalJSON writes the event with its typed fields under "fields".
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{Time: e.Time, Type: e.Type, Phase: e.Phase, Step: e.Step, Check: e.Check, Message: e.Message, Fields: e.fields()})
}

// UnmarshalJSON reads an event and its typed fields. Fields this version
// would write differently are kept as read, so that a journal reads and
// writes back unchanged.
func (e *Event) UnmarshalJSON(b []byte) error {
	var x eventJSON
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*e = Event{Time: x.Time, Type: x.Type, Phase: x.Phase, Step: x.Step, Check: x.Check, Message: x.Message}
	for _, f := range fieldsOf[e.Type] {
		if v, ok := x.Fields[f.key]; ok {
			f.set(e, v)
		}
	}
	e.fromMessage()
	if got := e.fields(); !sameFields(got, x.Fields) {
		e.raw = x.Fields
		if e.raw == nil {
			e.raw = map[string]string{}
		}
	}
	return nil
}

func sameFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Sink receives the run's events as they happen. Event is called from
// several goroutines, one event at a time.
type Sink interface {
	Event(ev Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Event calls f.
func (f SinkFunc) Event(ev Event) { f(ev) }

// Command is an operator's instruction to a running experiment.
type Command int

// Commands an operator can send.
const (
	// AbortRun reverts everything now; the verdict is aborted.
	AbortRun Command = iota + 1
	// SkipWait ends the current wait step, or a blocking fault's for, early.
	SkipWait
	// Hold pauses before the next step until Continue.
	Hold
	// Continue resumes after Hold.
	Continue
	// Halt aborts the run on behalf of chaos halt, which stops every run
	// on the host.
	Halt
)

// commandText is what the operator event says for each command.
var commandText = map[Command]string{
	AbortRun: "abort",
	SkipWait: "skip the current wait",
	Hold:     "hold before the next step",
	Continue: "continue",
	Halt:     "halt (chaos halt)",
}

// Text is what the operator event of the command says.
func (c Command) Text() string {
	if t, ok := commandText[c]; ok {
		return t
	}
	return fmt.Sprintf("command %d", int(c))
}

func commandOfText(s string) Command {
	for c, t := range commandText {
		if t == s {
			return c
		}
	}
	return 0
}

// Flusher is a sink that sends the events elsewhere in the background (a
// notifier). The run calls Flush once, after its verdict, with a context
// that bounds how long it may take: Flush sends what is left and returns
// what could not be sent, which the run records as a warning. Events that
// come after Flush are dropped.
type Flusher interface {
	Flush(ctx context.Context) error
}
