package experiment

import (
	"fmt"
	"time"
)

// Planned is how long a step is planned to take: a wait's length, or a
// fault's for (which a background fault does not hold the method up for).
// Other steps take no planned time.
func (s *Step) Planned() time.Duration {
	switch s.Kind {
	case StepWait:
		return s.Wait.D()
	case StepFault:
		return s.For.D()
	}
	return 0
}

// Holds is how long a step holds the method up: its planned length,
// unless it is a fault in the background, which lets the method go on.
func (s *Step) Holds() time.Duration {
	if s.Background {
		return 0
	}
	return s.Planned()
}

// Timeline returns when each step starts, counted from the start of the
// method, and when the method ends, as planned: waits and faults with for
// hold the method up, unless in the background; other steps take no
// planned time.
func Timeline(steps []*Step) (starts []time.Duration, end time.Duration) {
	starts = make([]time.Duration, len(steps))
	for i, s := range steps {
		starts[i] = end
		end += s.Holds()
	}
	return starts, end
}

// Lenient is implemented by the settings of a load stream kind whose
// requests may succeed without the service answering them. Lenient says
// so, with what to set instead, or returns "" for settings that wait for
// an answer.
type Lenient interface {
	Lenient() string
}

// lenient returns what the settings of the stream named name say of
// requests that succeed unanswered, or "".
func (e *Experiment) lenient(name string) string {
	for _, s := range e.Load {
		if l, ok := s.Spec.(Lenient); ok && s.Name == name && name != "" {
			return l.Lenient()
		}
	}
	return ""
}

// Warnings lists what in a valid experiment keeps a check from observing
// what it is meant to: a tcp probe watched during a method that freezes a
// process or pauses a container, a check watched during a method that has no planned
// length, a load check whose window is longer than the method, a probe
// that observes less often than the method lasts, an abort condition whose
// failures in a row take longer than the method, a load check on a stream
// whose requests succeed without an answer (a tcp stream without reply), a
// load check that judges no failures (fast failures count as fast
// answers), a variable that no value uses. The run still judges
// such checks on what they saw, or fails as an error when they saw
// nothing; the warnings say so before anything is run.
func (e *Experiment) Warnings() ErrorList {
	var out ErrorList
	_, planned := Timeline(e.Method)
	add := func(c *Check, format string, args ...any) {
		out = append(out, &Error{File: e.File, Pos: c.Pos, Msg: fmt.Sprintf(format, args...)})
	}
	checks := append(append([]*Check(nil), e.SteadyState...), e.AbortWhen...)
	freeze := e.freezingStep()
	for i, c := range checks {
		what := fmt.Sprintf("check %q", c.Name)
		if i >= len(e.SteadyState) {
			what = fmt.Sprintf("abort condition %q", c.Name)
		}
		if freeze != "" && c.Probe != nil && c.Probe.Kind == "tcp" && (i >= len(e.SteadyState) || c.Runs(During)) {
			add(c, "%s is a tcp probe, and step %q freezes a server: the kernel goes on accepting connections for a frozen server, so a tcp probe to it passes while it answers nothing; use an http or exec probe to see it answer", what, freeze)
		}
		if why := e.lenient(c.From); why != "" {
			add(c, "%s judges load stream %q, %s", what, c.From, why)
		}
		if le, ok := c.Expect.(*LoadExpect); ok && i < len(e.SteadyState) && le.Success.IsZero() && le.Errors.IsZero() {
			add(c, "%s judges no share or count of failed requests: a request that fails at once (refused, a 503) counts as a fast answer in the latencies, and in rps; add success or errors to its expect", what)
		}
		if i < len(e.SteadyState) && !c.Runs(During) {
			continue
		}
		switch {
		case len(e.Method) == 0:
		case planned == 0:
			add(c, "%s is judged during the method, but the method has no planned length (no wait, and no fault with for): it may end before the check observes a fault", what)
		case c.From != "" && c.Window.D() > planned:
			add(c, "the window of %s (%s) is longer than the method's planned %s: the check is judged on the traffic of the method alone, less than its window", what, c.Window, planned)
		case c.From == "" && c.Interval.D() >= planned:
			add(c, "%s observes every %s, but the method is planned to last %s: it observes the method once, at its start, maybe before any fault is in effect", what, c.Interval, planned)
		case i >= len(e.SteadyState) && c.Failures > 1 && c.From == "" && time.Duration(c.Failures-1)*c.Interval.D() >= planned:
			add(c, "%s fires after %d failed observations in a row, made every %s, which take longer than the method's planned %s: it cannot fire during the method", what, c.Failures, c.Interval, planned)
		case i >= len(e.SteadyState) && c.Failures > 1 && c.From != "" && time.Duration(c.Failures)*c.Window.D() > planned:
			add(c, "%s fires after %d failed windows of %s in a row, which take longer than the method's planned %s: it cannot fire during the method", what, c.Failures, c.Window, planned)
		}
	}
	out = append(out, e.unusedVars...)
	for _, name := range e.shortSecrets {
		out = append(out, &Error{File: e.File, Msg: fmt.Sprintf("the value of environment variable %s is shorter than %d characters: it is not masked in the outputs (masking it would garble every word and number that holds it)", name, minSecret)})
	}
	m := e.Masker()
	for _, w := range out {
		w.Msg = m.Replace(w.Msg)
	}
	out.sort()
	return out
}

// freezingStep names the first fault step of the method that freezes its
// target's processes (a process stop, a container pause), or "".
func (e *Experiment) freezingStep() string {
	kinds := map[string]string{}
	for _, t := range e.Targets {
		kinds[t.Name] = t.Kind
	}
	for _, s := range e.Method {
		if s.Kind == StepFault && (kinds[s.Target] == "process" && s.Fault == "stop" || kinds[s.Target] == "docker" && s.Fault == "pause") {
			return s.Name
		}
	}
	return ""
}
