package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/probe"
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
		env := inject.NewEnv(o.seed+uint64(i), nil)
		env.Engines = e.Engines
		printPlan(ctx, &b, e, env)
		fmt.Fprint(io.out, e.Masker().Replace(b.String()))
	}
	return nil
}

func printPlan(ctx context.Context, w io.Writer, e *experiment.Experiment, env *inject.Env) {
	fmt.Fprintf(w, "plan for %s: %s\n", e.File, e.Title)
	fmt.Fprintln(w, "(dry run: nothing is started, injected or changed)")
	if len(e.Services) > 0 {
		first := "first"
		for _, t := range e.Targets {
			if kind, ok := inject.LookupTarget(t.Kind); ok && kind.Start != nil && kind.BeforeServices != nil && kind.BeforeServices(t.Spec) {
				first = "after the run's own proxies"
				break
			}
		}
		fmt.Fprintf(w, "\nservices, started %s and stopped last:\n", first)
		mask := e.Masker()
		for _, s := range e.Services {
			// Each argument is masked before it is quoted: quoting may
			// break a secret up ('it'\''s').
			args := make([]string, len(s.Run))
			for i, a := range s.Run {
				args[i] = mask.Replace(a)
			}
			line := fmt.Sprintf("  %s: %s", s.Name, shellJoin(args))
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
			fmt.Fprintf(w, "  %s (%s): %s\n", t.Name, t.Kind, resolveText(ctx, env, t, e.Services))
		}
	}
	if len(e.SteadyState) > 0 {
		fmt.Fprintln(w, "\nsteady state:")
		for _, c := range e.SteadyState {
			fmt.Fprintf(w, "  %s [%s]: expects %s\n", c.Name, strings.Join(c.When, ", "), checkExpects(c))
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
				params, _ := journal.Params(s.With)
				fault := journal.FaultText(s.Fault, params)
				if !s.Named() {
					line = fmt.Sprintf("  at +%-6s %s", fmtPlan(starts[i]), fault)
				} else {
					line += ": " + fault
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
			// What an exec step runs, and what puts it back: its name says
			// only the command's first word.
			if s.Kind == experiment.StepExec && s.Exec != nil {
				fmt.Fprintln(w, "      runs: "+strings.Join(s.Exec.Run, " "))
				if s.Undo != nil {
					fmt.Fprintln(w, "      undone when the method ends: "+strings.Join(s.Undo.Run, " "))
				}
			}
		}
		fmt.Fprintf(w, "  at +%-6s the method ends; every fault still active is reverted\n", fmtPlan(end))
	}
	if e.Recovery != nil {
		fmt.Fprintf(w, "\nrecovery: the steady state must hold again within %s\n", e.Recovery.Within)
	}
	if len(e.Notify) > 0 {
		fmt.Fprintln(w, "\nnotify, as the run goes (a notifier that fails only warns):")
		for _, n := range e.Notify {
			fmt.Fprintf(w, "  %s\n", describeNotify(n))
		}
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

// orEmpty makes a nil list an empty one, which JSON writes as [].
func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// writtenByService returns the service, if any, whose command line names
// a path of the target's settings (-pidfile x, --pid-file=x), and the path.
func writtenByService(spec any, services []*experiment.Service) (*experiment.Service, experiment.Path) {
	for _, p := range settingPaths(reflect.ValueOf(spec)) {
		for _, s := range services {
			for _, arg := range serviceWords(s) {
				if !filepath.IsAbs(arg) {
					arg = filepath.Join(string(s.Dir), arg)
				}
				if filepath.Clean(arg) == filepath.Clean(string(p)) {
					return s, p
				}
			}
		}
	}
	return nil, ""
}

// serviceWords lists what may name a file in a service's command and
// environment: each argument, the value of a --flag=value, and the words
// of an argument that holds several, such as nginx's -g 'pid FILE;'.
func serviceWords(s *experiment.Service) []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
		fields := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t\n;,='\"", r) })
		if len(fields) > 1 {
			out = append(out, fields...)
		}
	}
	for _, arg := range s.Run {
		if i := strings.IndexByte(arg, '='); i >= 0 && strings.HasPrefix(arg, "-") {
			arg = arg[i+1:]
		}
		add(arg)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		add(s.Env[k])
	}
	return out
}

// shellJoin writes a command as a shell would take it: an argument with
// spaces or quotes in single quotes.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\;$&|<>()*?`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// settingPaths lists the paths set in a kind's settings.
func settingPaths(v reflect.Value) []experiment.Path {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return settingPaths(v.Elem())
		}
	case reflect.Struct:
		var out []experiment.Path
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = append(out, settingPaths(v.Field(i))...)
			}
		}
		return out
	case reflect.String:
		if p, ok := v.Interface().(experiment.Path); ok && p != "" {
			return []experiment.Path{p}
		}
	}
	return nil
}

func fmtPlan(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.String()
}

// resolveText says what a target would hit now. A target that selects by
// a file one of the experiment's services writes (a pid file) is resolved
// only once that service has started: what the file says now is stale.
func resolveText(ctx context.Context, env *inject.Env, t *experiment.Target, services []*experiment.Service) string {
	kind, ok := inject.LookupTarget(t.Kind)
	if !ok {
		return "unknown kind"
	}
	if kind.Start != nil {
		if kind.BeforeServices != nil && kind.BeforeServices(t.Spec) {
			return "started with the run, before the services"
		}
		return "started with the run, once the services are ready"
	}
	if s, p := writtenByService(t.Spec, services); s != nil {
		return fmt.Sprintf("resolved when the service %s has started (it writes %s)", s.Name, p)
	}
	picked, matched, err := inject.Select(ctx, env, t.Name, kind, t.Spec)
	switch {
	case err != nil && matched == 0 && len(services) > 0:
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

// planJSON is one experiment's plan as --dry-run --json writes it: what
// the text plan says, with every setting as the run will use it.
type planJSON struct {
	File        string                `json:"file"`
	Title       string                `json:"title"`
	Seed        uint64                `json:"seed"`
	Services    []*experiment.Service `json:"services"`
	Load        []*experiment.Stream  `json:"load"`
	Targets     []targetPlan          `json:"targets"`
	SteadyState []*experiment.Check   `json:"steady_state"`
	Method      []stepPlan            `json:"method"`
	MethodEnds  string                `json:"method_ends"`
	Rollbacks   []*experiment.Step    `json:"rollbacks"`
	AbortWhen   []*experiment.Check   `json:"abort_when"`
	Recovery    *experiment.Recovery  `json:"recovery"`
	Notify      []*experiment.Notify  `json:"notify"`
}

type targetPlan struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Resolve string `json:"resolve"`
	// Settings are the target kind's settings.
	Settings any `json:"settings"`
}

// checkExpects says what a check expects, as its journal will: its
// expectations, or what its probe checks by default.
func checkExpects(c *experiment.Check) string {
	jc := journal.Check{Expect: experiment.ExpectText(c.Expect), Kind: "load"}
	if c.Probe != nil {
		jc.Kind = "probe"
		if k, ok := probe.Lookup(c.Probe.Kind); ok {
			jc.Default = k.Doc.Default
		}
	}
	return jc.ExpectText()
}

// stepPlan is a step with when it starts; a fault step's with: is in
// with.
type stepPlan struct {
	At string `json:"at"`
	*experiment.Step
	// With is the fault's settings as the file writes them.
	With any `json:"with,omitempty"`
	// Effects say, for the faults that can, where the fault would act on
	// each target and what it would install there.
	Effects []string `json:"effects,omitempty"`
}

// dryRunJSON writes the plans as one JSON object, with the seed the run
// would use.
func dryRunJSON(ctx context.Context, io *stdio, exps []*experiment.Experiment, o runOptions) error {
	plans := make([]json.RawMessage, 0, len(exps))
	for i, e := range exps {
		seed := o.seed + uint64(i)
		env := inject.NewEnv(seed, nil)
		env.Engines = e.Engines
		p := planJSON{File: e.File, Title: e.Title, Seed: seed, Services: orEmpty(e.Services), Load: orEmpty(e.Load), Targets: []targetPlan{},
			SteadyState: orEmpty(e.SteadyState), Method: []stepPlan{}, Rollbacks: orEmpty(e.Rollbacks), AbortWhen: orEmpty(e.AbortWhen), Recovery: e.Recovery,
			Notify: orEmpty(e.Notify)}
		for _, t := range e.Targets {
			p.Targets = append(p.Targets, targetPlan{Name: t.Name, Kind: t.Kind, Resolve: resolveText(ctx, env, t, e.Services), Settings: experiment.Settings(t.Spec)})
		}
		starts, end := experiment.Timeline(e.Method)
		for i, s := range e.Method {
			sp := stepPlan{At: fmtPlan(starts[i]), Step: s, With: experiment.Settings(s.With)}
			if s.Kind == experiment.StepFault {
				sp.Effects = describeStep(ctx, env, e, s)
			}
			p.Method = append(p.Method, sp)
		}
		p.MethodEnds = fmtPlan(end)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // "< 300ms" stays readable
		if err := enc.Encode(p); err != nil {
			return fmt.Errorf("plan of %s: %w", e.File, err)
		}
		// The plan shows values as substituted: secrets must not appear.
		plans = append(plans, json.RawMessage(e.Masker().Replace(b.String())))
	}
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		ExitCode int               `json:"exit_code"`
		DryRun   bool              `json:"dry_run"`
		Seed     uint64            `json:"seed"`
		Plans    []json.RawMessage `json:"plans"`
	}{exitPassed, true, o.seed, plans})
}

// describeNotify says where a notifier sends the run's events and what;
// its credentials are masked with the rest of the plan.
func describeNotify(n *experiment.Notify) string {
	switch {
	case n.Webhook != nil:
		w := n.Webhook
		what := map[string]string{
			experiment.BodySummary: "a JSON summary when the run ends",
			experiment.BodyEvents:  "each event as JSON as it happens",
			experiment.BodySlack:   "a Slack-compatible message when the run starts, aborts and ends",
		}[w.Body]
		line := fmt.Sprintf("webhook %s: %s, each post within %s", w.URL, what, w.Timeout)
		if len(w.Headers) > 0 {
			names := slices.Sorted(maps.Keys(w.Headers))
			line += ", with headers " + strings.Join(names, ", ")
		}
		return line
	case n.Pushgateway != nil:
		p := n.Pushgateway
		line := fmt.Sprintf("pushgateway %s: gauges of the verdict and of each fault's start and end, job %s", p.URL, p.Job)
		for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
			line += fmt.Sprintf(", %s=%s", k, p.Labels[k])
		}
		return line + fmt.Sprintf(", each push within %s", p.Timeout)
	}
	endpoint := "the exporter's default, http://localhost:4318"
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if raw := os.Getenv(v); raw != "" {
			if u, err := url.Parse(raw); err == nil {
				raw = u.Redacted()
			}
			endpoint = v + "=" + raw
			break
		}
	}
	return "otel: one trace of the run over OTLP/HTTP, to " + endpoint
}
