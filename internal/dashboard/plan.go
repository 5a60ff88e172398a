package dashboard

import (
	"maps"
	"slices"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// Plan is what the dashboard knows of an experiment before it runs: the
// steps with their planned lengths, the checks with their thresholds and
// the load streams. Events fill in the rest.
type Plan struct {
	Title string
	File  string
	// Steps are the method steps followed by the rollback steps, in order.
	Steps   []PlanStep
	Checks  []PlanCheck
	Streams []PlanStream
	// Recovery is how soon the hypothesis must hold again after the faults
	// are removed; zero when the experiment sets no bound.
	Recovery time.Duration
}

// PlanStep is one step as planned.
type PlanStep struct {
	Name string
	Kind string
	// Section is "method" or "rollbacks".
	Section string
	// Fault and Target name the fault of a fault step.
	Fault  string
	Target string
	// Planned is a wait's length or a fault's for; zero when the step has
	// no planned length.
	Planned time.Duration
	// Holds is how long the step holds the method up: Planned, but zero
	// for a fault in the background and for a rollback step.
	Holds time.Duration
}

// PlanCheck is one steady-state check or abort condition.
type PlanCheck struct {
	Name  string
	Abort bool
	// From names the load stream judged, empty for probes.
	From string
	// Expect is the thresholds as text: "p99 < 300ms, success >= 99.5%".
	Expect string
	// Judges is the keys of what the check judges, in Expect's order: the
	// observed values shown for it.
	Judges []string
	// Failures is how many consecutive failed observations fail the check.
	Failures int
}

// PlanStream is one load stream.
type PlanStream struct {
	Name string
	// Rate is the planned requests per second.
	Rate float64
}

// PlanOf describes a loaded experiment for the dashboard, with its
// secrets masked in the names it shows, as the events that it matches
// them with have them.
func PlanOf(e *experiment.Experiment) Plan {
	m := e.Masker().Replace
	p := Plan{Title: m(e.Title), File: m(e.File)}
	for _, sec := range []struct {
		name  string
		steps []*experiment.Step
	}{{journal.PhaseMethod, e.Method}, {journal.PhaseRollbacks, e.Rollbacks}} {
		for _, s := range sec.steps {
			ps := PlanStep{Name: m(s.Name), Kind: s.Kind, Section: sec.name, Fault: s.Fault, Target: m(s.Target), Planned: s.Planned()}
			if sec.name == journal.PhaseMethod {
				ps.Holds = s.Holds()
			}
			p.Steps = append(p.Steps, ps)
		}
	}
	for _, group := range []struct {
		abort  bool
		checks []*experiment.Check
	}{{false, e.SteadyState}, {true, e.AbortWhen}} {
		for _, c := range group.checks {
			expect := experiment.ExpectText(c.Expect)
			pc := PlanCheck{Name: m(c.Name), Abort: group.abort, From: m(c.From), Expect: m(journal.ExpectLine(expect)), Failures: c.Failures}
			for _, k := range slices.Sorted(maps.Keys(expect)) {
				if expect[k] != "" {
					pc.Judges = append(pc.Judges, k)
				}
			}
			p.Checks = append(p.Checks, pc)
		}
	}
	for _, s := range e.Load {
		p.Streams = append(p.Streams, PlanStream{Name: m(s.Name), Rate: float64(s.Rate)})
	}
	if e.Recovery != nil {
		p.Recovery = e.Recovery.Within.D()
	}
	return p
}

// Timeline is the planned length of the run as far as it is known: the
// time the method's steps hold it up, then the recovery bound.
func (p Plan) Timeline() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Holds
	}
	return d + p.Recovery
}
