package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// dryRun resolves each experiment's targets and prints its plan without
// starting anything.
func dryRun(ctx context.Context, io *stdio, exps []*experiment.Experiment, o runOptions) error {
	if o.json {
		return dryRunJSON(ctx, io, exps, o)
	}
	for i, e := range exps {
		if i > 0 {
			fmt.Fprintln(io.out)
		}
		// The plan shows values as substituted: secrets must not appear.
		var b strings.Builder
		printPlan(ctx, &b, e, inject.NewEnv(o.seed+uint64(i), nil))
		fmt.Fprint(io.out, e.Masker().Replace(b.String()))
	}
	return nil
}

func printPlan(ctx context.Context, w io.Writer, e *experiment.Experiment, env *inject.Env) {
	fmt.Fprintf(w, "plan for %s: %s\n", e.File, e.Title)
	fmt.Fprintln(w, "(dry run: nothing is started, injected or changed)")
	if len(e.Services) > 0 {
		fmt.Fprintln(w, "\nservices, started first and stopped last:")
		for _, s := range e.Services {
			line := fmt.Sprintf("  %s: %s", s.Name, strings.Join(s.Run, " "))
			if s.Ready != nil {
				line += fmt.Sprintf(" (ready when its %s probe passes, within %s)", s.Ready.Probe.Kind, s.Ready.Within)
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(e.Load) > 0 {
		fmt.Fprintln(w, "\nload, for the whole run:")
		for _, l := range e.Load {
			fmt.Fprintf(w, "  %s: %s at %s\n", l.Name, l.Describe(), l.Rate)
		}
	}
	if len(e.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets, as they resolve now:")
		for _, t := range e.Targets {
			fmt.Fprintf(w, "  %s (%s): %s\n", t.Name, t.Kind, resolveText(ctx, env, t, len(e.Services) > 0))
		}
	}
	if len(e.SteadyState) > 0 {
		fmt.Fprintln(w, "\nsteady state:")
		for _, c := range e.SteadyState {
			fmt.Fprintf(w, "  %s [%s]\n", c.Name, strings.Join(c.When, ", "))
		}
	}
	if len(e.Method) > 0 {
		fmt.Fprintln(w, "\nmethod:")
		starts, end := experiment.Timeline(e.Method)
		for i, s := range e.Method {
			line := fmt.Sprintf("  at +%-6s %s", fmtPlan(starts[i]), s.Name)
			if s.Kind == experiment.StepFault {
				// A name made up from the fault and the target says no
				// more than what follows.
				if !s.Named() {
					line = fmt.Sprintf("  at +%-6s %s", fmtPlan(starts[i]), s.Fault)
				} else {
					line += ": " + s.Fault
				}
				switch {
				case s.For > 0 && s.Background:
					line += fmt.Sprintf(" on %s for %s (in the background)", s.Target, s.For)
				case s.For > 0:
					line += fmt.Sprintf(" on %s for %s", s.Target, s.For)
				default:
					line += fmt.Sprintf(" on %s until the method ends", s.Target)
				}
			}
			fmt.Fprintln(w, line)
			if s.Kind == experiment.StepFault {
				for _, l := range describeStep(ctx, env, e, s) {
					fmt.Fprintln(w, "      "+l)
				}
			}
		}
		fmt.Fprintf(w, "  at +%-6s the method ends; every fault still active is reverted\n", fmtPlan(end))
	}
	if e.Recovery != nil {
		fmt.Fprintf(w, "\nrecovery: the steady state must hold again within %s\n", e.Recovery.Within)
	}
	if len(e.AbortWhen) > 0 {
		fmt.Fprintln(w, "\nabort when:")
		for _, c := range e.AbortWhen {
			if c.Failures == 1 {
				fmt.Fprintf(w, "  %s fails\n", c.Name)
			} else {
				fmt.Fprintf(w, "  %s fails %d times in a row\n", c.Name, c.Failures)
			}
		}
	}
}

func fmtPlan(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.String()
}

// resolveText says what a target would hit now.
func resolveText(ctx context.Context, env *inject.Env, t *experiment.Target, hasServices bool) string {
	kind, ok := inject.LookupTarget(t.Kind)
	if !ok {
		return "unknown kind"
	}
	if kind.Start != nil {
		return "started with the run"
	}
	picked, matched, err := inject.Select(ctx, env, t.Name, kind, t.Spec)
	switch {
	case err != nil && matched == 0 && hasServices:
		return fmt.Sprintf("%v (the experiment's services are not started here)", err)
	case err != nil:
		return err.Error()
	case matched == 0:
		return "matches nothing now; the step will be skipped (empty: skip)"
	}
	parts := make([]string, len(picked))
	for i, p := range picked {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%d of %d matching would be hit: %s", len(picked), matched, strings.Join(parts, ", "))
}

// describeStep says what a fault step would do to each target it would
// hit now, for the faults that can say (inject.Describer): where each
// acts and what it installs. Nothing is touched.
func describeStep(ctx context.Context, env *inject.Env, e *experiment.Experiment, s *experiment.Step) []string {
	d, ok := s.With.(inject.Describer)
	if !ok {
		return nil
	}
	t := e.Targets.Get(s.Target)
	kind, ok := inject.LookupTarget(t.Kind)
	if !ok || kind.Start != nil {
		return nil
	}
	picked, _, err := inject.Select(ctx, env, t.Name, kind, t.Spec)
	if err != nil {
		return nil // the targets' own lines say why
	}
	var out []string
	for _, p := range picked {
		lines, err := d.Describe(ctx, env, p)
		if err != nil {
			out = append(out, fmt.Sprintf("on %s: %v", p, err))
			continue
		}
		if len(lines) > 0 {
			out = append(out, fmt.Sprintf("on %s: %s", p, lines[0]))
			out = append(out, lines[1:]...)
		}
	}
	return out
}

// planJSON is one experiment's plan as --dry-run --json writes it.
type planJSON struct {
	File    string       `json:"file"`
	Title   string       `json:"title"`
	Seed    uint64       `json:"seed"`
	Targets []targetPlan `json:"targets"`
	Method  []stepPlan   `json:"method"`
}

type targetPlan struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Resolve string `json:"resolve"`
}

type stepPlan struct {
	At         string `json:"at"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Fault      string `json:"fault,omitempty"`
	Target     string `json:"target,omitempty"`
	For        string `json:"for,omitempty"`
	Background bool   `json:"background,omitempty"`
	// Effects say, for the faults that can, where the fault would act on
	// each target and what it would install there.
	Effects []string `json:"effects,omitempty"`
}

// dryRunJSON writes the plans as one JSON array.
func dryRunJSON(ctx context.Context, io *stdio, exps []*experiment.Experiment, o runOptions) error {
	plans := make([]planJSON, 0, len(exps))
	for i, e := range exps {
		seed := o.seed + uint64(i)
		env := inject.NewEnv(seed, nil)
		p := planJSON{File: e.File, Title: e.Title, Seed: seed, Targets: []targetPlan{}, Method: []stepPlan{}}
		for _, t := range e.Targets {
			p.Targets = append(p.Targets, targetPlan{Name: t.Name, Kind: t.Kind, Resolve: resolveText(ctx, env, t, len(e.Services) > 0)})
		}
		starts, _ := experiment.Timeline(e.Method)
		for i, s := range e.Method {
			sp := stepPlan{At: fmtPlan(starts[i]), Name: s.Name, Kind: s.Kind, Fault: s.Fault, Target: s.Target, Background: s.Background}
			if s.Kind == experiment.StepFault && s.For > 0 {
				sp.For = s.For.String()
			}
			if s.Kind == experiment.StepFault {
				sp.Effects = describeStep(ctx, env, e, s)
			}
			p.Method = append(p.Method, sp)
		}
		// The plan shows values as substituted: secrets must not appear.
		m := e.Masker()
		p.Title = m.Replace(p.Title)
		for i := range p.Targets {
			p.Targets[i].Resolve = m.Replace(p.Targets[i].Resolve)
		}
		for i := range p.Method {
			p.Method[i].Name = m.Replace(p.Method[i].Name)
			for k, l := range p.Method[i].Effects {
				p.Method[i].Effects[k] = m.Replace(l)
			}
		}
		plans = append(plans, p)
	}
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	return enc.Encode(plans)
}
