package experiment

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// mapping walks a mapping node's pairs, reporting duplicate keys.
func (d *decoder) mapping(n *yaml.Node, what string, fn func(k, v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.errorf(k, "key %q is set twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
	return true
}

func (l *TargetList) decodeNode(d *decoder, n *yaml.Node, _ string) {
	d.mapping(n, "targets", func(k, v *yaml.Node) {
		name := k.Value
		what := fmt.Sprintf("target %q", name)
		if !validName(name) {
			d.errorf(k, "target name %q: use letters, digits, _ and -", name)
		}
		t := &Target{Pos: posOf(k), Name: name}
		*l = append(*l, t)
		kinds := d.catalog.TargetKinds()
		if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
			d.errorf(v, "%s: expected a mapping with one of %s", what, strings.Join(kinds, ", "))
			return
		}
		if len(v.Content) > 2 {
			d.errorf(v.Content[2], "%s has more than one kind (%s and %s): give each target one", what, v.Content[0].Value, v.Content[2].Value)
			return
		}
		t.Kind = v.Content[0].Value
		t.Spec = d.catalog.NewTarget(t.Kind)
		if t.Spec == nil {
			d.errorf(v.Content[0], "unknown target kind %q in %s%s (known: %s)", t.Kind, what, didYouMean(t.Kind, kinds), strings.Join(kinds, ", "))
			return
		}
		d.decode(v.Content[1], t.Spec, fmt.Sprintf("%s target %q", t.Kind, name))
	})
}

func (p *Probe) decodeNode(d *decoder, n *yaml.Node, what string) {
	*p = Probe{Pos: posOf(n)}
	kinds := d.catalog.ProbeKinds()
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, "%s: expected a mapping with one probe kind: %s", what, strings.Join(kinds, ", "))
		return
	}
	p.decodeKind(d, n.Content[0], n.Content[1], what)
}

func (p *Probe) decodeKind(d *decoder, k, v *yaml.Node, what string) {
	p.Kind = k.Value
	spec, _ := d.catalog.NewProbe(p.Kind)
	if spec == nil {
		kinds := d.catalog.ProbeKinds()
		d.errorf(k, "unknown probe kind %q in %s%s (known: %s)", p.Kind, what, didYouMean(p.Kind, kinds), strings.Join(kinds, ", "))
		return
	}
	p.Spec = spec
	d.decode(v, spec, fmt.Sprintf("%s probe", p.Kind))
}

// decodeExpect decodes expectations for the probe kind; it reports a missing
// expect only when the kind needs one.
func (d *decoder) decodeExpect(p *Probe, n *yaml.Node, what string) any {
	if p == nil || p.Spec == nil {
		return nil
	}
	_, expect := d.catalog.NewProbe(p.Kind)
	if expect == nil {
		if n != nil {
			d.errorf(n, "%s: a %s probe takes no expect", what, p.Kind)
		}
		return nil
	}
	if n == nil {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: p.Pos.Line, Column: p.Pos.Col}
	}
	d.decode(n, expect, fmt.Sprintf("expect of %s", what))
	return expect
}

func (r *Ready) decodeNode(d *decoder, n *yaml.Node, what string) {
	r.Within, r.Interval = Duration(10e9), Duration(100e6)
	found := false
	ok := d.mapping(n, what, func(k, v *yaml.Node) {
		switch k.Value {
		case "within":
			if d.durationValue(v, &r.Within, "within in "+what) {
				d.atLeast(v, k.Value, r.Within, minWithin, "within in "+what)
			}
		case "interval":
			if d.durationValue(v, &r.Interval, "interval in "+what) {
				d.atLeast(v, k.Value, r.Interval, minInterval, "interval in "+what)
			}
		case "expect":
			// Written as in a check, it is no probe kind: said so, not
			// "did you mean exec" nor "more than one probe".
			d.errorf(k, "%s takes no expect: it is ready once its probe passes as the probe kind does without expect (an exec probe exits 0, an http probe answers 2xx): put the condition in the probe itself, such as a command that fails until it holds", what)
		default:
			if spec, _ := d.catalog.NewProbe(k.Value); spec == nil {
				known := append([]string{"within", "interval"}, d.catalog.ProbeKinds()...)
				d.errorf(k, "%s", unknownKey(k.Value, what, known))
				return
			}
			if found {
				d.errorf(k, "%s has more than one probe: give it one", what)
				return
			}
			found = true
			r.Probe = Probe{Pos: posOf(k)}
			r.Probe.decodeKind(d, k, v, what)
		}
	})
	if ok && !found {
		d.errorf(n, "%s needs a probe: one of %s", what, strings.Join(d.catalog.ProbeKinds(), ", "))
	}
}

// The shortest intervals between a probe's observations, and the shortest
// time a service is given to be ready.
const (
	minInterval = Duration(10e6)
	minWithin   = Duration(1e6)
)

// durationValue decodes a duration and reports whether it decoded.
func (d *decoder) durationValue(n *yaml.Node, v *Duration, what string) bool {
	before := d.problems()
	d.value(n, reflectValue(v), what)
	return d.problems() == before
}

var checkKeys = []string{"name", "from", "window", "probe", "expect", "when", "failures", "interval", "retries"}

func (c *Check) decodeNode(d *decoder, n *yaml.Node, what string) {
	*c = Check{Pos: posOf(n), Failures: 1, Interval: Duration(1e9), Window: Duration(5e9)}
	var expectNode *yaml.Node
	keyNodes := map[string][2]*yaml.Node{}
	ok := d.mapping(n, "check", func(k, v *yaml.Node) {
		keyNodes[k.Value] = [2]*yaml.Node{k, v}
		w := fmt.Sprintf("%s in check", k.Value)
		if c.Name != "" {
			w = fmt.Sprintf("%s in check %q", k.Value, c.Name)
		}
		switch k.Value {
		case "name":
			d.value(v, reflectValue(&c.Name), w)
		case "from":
			d.value(v, reflectValue(&c.From), w)
		case "window":
			d.value(v, reflectValue(&c.Window), w)
		case "probe":
			c.Probe = &Probe{}
			d.value(v, reflectValue(c.Probe), w)
		case "expect":
			expectNode = v
		case "when":
			d.value(v, reflectValue(&c.When), w)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				d.errorf(v, "%s: an empty list names no phase: list the phases (before, during, after), or remove when for all of them", w)
			}
			for i, p := range c.When {
				if p != Before && p != During && p != After {
					d.errorf(v.Content[i], "when in check: %q is not a phase: use before, during, after", p)
				}
			}
		case "failures":
			d.value(v, reflectValue(&c.Failures), w)
			if c.Failures < 1 {
				d.errorf(v, "failures must be 1 or more")
			}
		case "interval":
			if d.durationValue(v, &c.Interval, w) {
				d.atLeast(v, k.Value, c.Interval, minInterval, w)
			}
		case "retries":
			d.value(v, reflectValue(&c.Retries), w)
			if c.Retries < 0 {
				d.errorf(v, "retries must be 0 or more")
			}
		default:
			d.errorf(k, "%s", unknownKey(k.Value, what, checkKeys))
		}
	})
	if !ok {
		return
	}
	name := fmt.Sprintf("check %q", c.Name)
	if c.Name == "" {
		d.errorf(n, "missing key \"name\" in %s: every check needs a name for the report", strings.TrimSuffix(what, " in the experiment"))
		name = "check"
	}
	c.checkKeysApply(d, keyNodes, name, what == "assert step", strings.HasPrefix(what, "abort condition"))
	switch {
	case c.From != "" && c.Probe != nil:
		d.errorf(n, "%s has both from and probe: judge a load stream or run a probe, not both", name)
	case c.From == "" && c.Probe == nil:
		d.errorf(n, "%s needs from (a load stream) or probe", name)
	case c.From != "":
		if expectNode == nil {
			d.errorf(n, "%s needs expect, such as {p99: \"< 300ms\", success: \">= 99.5%%\"}", name)
			return
		}
		le := &LoadExpect{}
		d.decode(expectNode, le, "expect of "+name)
		c.Expect = le
	default:
		c.Expect = d.decodeExpect(c.Probe, expectNode, name)
	}
}

// checkKeysApply refuses the keys of a check that its kind would ignore,
// each at its key: an assert is judged once, when its step runs, so it
// takes no when, failures, interval or retries; a check with from is
// judged on its stream's windows, so it takes no interval nor retries;
// a probe has no window; a probe is retried before and after the method
// only, so an abort condition, or a check that runs during it only, takes
// no retries; and failures count during the method only. A tolerance written where it does nothing would
// leave the check other than its author meant it, without a word.
func (c *Check) checkKeysApply(d *decoder, keys map[string][2]*yaml.Node, name string, assert, abort bool) {
	why := map[string]string{}
	if assert {
		for _, k := range []string{"when", "failures", "interval", "retries"} {
			why[k] = "an assert is judged once, when its step runs"
		}
	}
	if !assert && len(c.When) > 0 && !c.Runs(During) {
		why["failures"] = "failures counts failed observations in a row during the method, and this check does not run during it"
	}
	switch {
	case c.From != "" && c.Probe == nil:
		for _, k := range []string{"interval", "retries"} {
			if why[k] == "" {
				why[k] = "a check with from is judged on the windows its load stream records; " + k + " is for probes"
			}
		}
	case c.Probe != nil && c.From == "":
		why["window"] = "window is how much of a load stream's traffic a check with from judges; a probe has none"
		// Retries are for the before and after phases.
		switch {
		case abort:
			why["retries"] = "an abort condition is watched during the method only, where a probe is not retried; failures is how many failed observations in a row fire it"
		case len(c.When) > 0 && !c.Runs(Before) && !c.Runs(After):
			why["retries"] = "a probe is retried before and after the method only, and this check runs during it only; failures is how many failed observations in a row fail it"
		}
	}
	switch {
	case assert:
		name = "assert" + strings.TrimPrefix(name, "check")
	case abort:
		name = "abort condition" + strings.TrimPrefix(name, "check")
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		// A value already reported as wrong is not told again.
		if w := why[k]; w != "" && !d.errs.within(keys[k][1]) {
			d.errorf(keys[k][0], "%s takes no %s: %s", name, k, w)
		}
	}
}

var stepKinds = []string{StepFault, StepWait, StepProbe, StepAssert, StepExec}

var stepKeys = map[string][]string{
	StepFault:  {"name", "fault", "target", "with", "for", "background", "as"},
	StepWait:   {"name", "wait"},
	StepProbe:  {"name", "probe", "expect", "as"},
	StepAssert: {"name", "assert"},
	StepExec:   {"name", "exec", "undo", "as"},
}

func (s *Step) decodeNode(d *decoder, n *yaml.Node, what string) {
	*s = Step{Pos: posOf(n)}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a step such as {fault: latency, target: x} or {wait: 5s}, got %s", what, kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; slices.Contains(stepKinds, k) {
			if s.Kind != "" {
				d.errorf(n.Content[i], "a step is one of %s: this one has both %s and %s", strings.Join(stepKinds, ", "), s.Kind, k)
				return
			}
			s.Kind = k
		}
	}
	if s.Kind == "" {
		d.errorf(n, "a step needs one of %s", strings.Join(stepKinds, ", "))
		return
	}
	var expectNode *yaml.Node
	allowed := stepKeys[s.Kind]
	d.mapping(n, what, func(k, v *yaml.Node) {
		w := fmt.Sprintf("%s in %s step", k.Value, s.Kind)
		if !slices.Contains(allowed, k.Value) {
			all := slices.Concat(stepKeys[StepFault], stepKeys[StepProbe], stepKeys[StepExec])
			msg := unknownKey(k.Value, s.Kind+" step", allowed)
			if slices.Contains(all, k.Value) {
				msg = fmt.Sprintf("key %q does not belong in a %s step (it takes %s)", k.Value, s.Kind, strings.Join(allowed, ", "))
			}
			d.errorf(k, "%s", msg)
			return
		}
		switch k.Value {
		case "name":
			d.value(v, reflectValue(&s.Name), w)
		case "fault":
			d.value(v, reflectValue(&s.Fault), w)
		case "target":
			d.value(v, reflectValue(&s.Target), w)
		case "with":
			s.withNode = v
		case "for":
			d.value(v, reflectValue(&s.For), w)
		case "background":
			d.value(v, reflectValue(&s.Background), w)
		case "as":
			d.value(v, reflectValue(&s.As), w)
			if s.As != "" && !validName(s.As) {
				d.errorf(v, "as: %q is not a valid name: use letters, digits, _ and -", s.As)
			}
		case "wait":
			d.value(v, reflectValue(&s.Wait), w)
		case "probe":
			s.Probe = &Probe{}
			d.value(v, reflectValue(s.Probe), w)
		case "expect":
			expectNode = v
		case "assert":
			s.Assert = &Check{}
			s.Assert.decodeNode(d, v, "assert step")
		case "exec":
			s.Exec = &Exec{}
			d.value(v, reflectValue(s.Exec), w)
		case "undo":
			s.Undo = &Exec{}
			d.value(v, reflectValue(s.Undo), w)
		}
	})
	switch s.Kind {
	case StepFault:
		// A target whose value was already reported (a reference that
		// cannot be used there) is not missing.
		if tn := valueOf(n, "target"); s.Target == "" && (tn == nil || !d.bad[tn]) {
			d.errorf(n, "fault step %q needs a target", s.Fault)
		}
		if s.Background && s.For == 0 {
			d.errorf(n, "fault step %q: background needs for, or the fault would last until the method ends anyway", s.Fault)
		}
		s.nameIfUnnamed(fmt.Sprintf("%s %s", s.Fault, s.Target))
	case StepWait:
		s.nameIfUnnamed("wait " + s.Wait.String())
	case StepProbe:
		s.Expect = d.decodeExpect(s.Probe, expectNode, "probe step")
		if s.Probe != nil {
			s.nameIfUnnamed(s.Probe.Kind + " probe")
		}
	case StepAssert:
		if s.Assert != nil {
			s.nameIfUnnamed("assert " + s.Assert.Name)
		}
	case StepExec:
		if s.Exec != nil && len(s.Exec.Run) > 0 {
			s.nameIfUnnamed("exec " + s.Exec.Run[0])
		}
	}
}

// decodeFaults decodes each fault step's settings once the targets, which
// may come later in the file, are known.
func (d *decoder) decodeFaults(e *Experiment) {
	targets := map[string]*Target{}
	for _, t := range e.Targets {
		if targets[t.Name] == nil {
			targets[t.Name] = t
		}
	}
	for _, s := range slices.Concat(e.Method, e.Rollbacks) {
		if s.Kind != StepFault || s.Fault == "" {
			continue
		}
		t := targets[s.Target]
		if t == nil || t.Spec == nil {
			continue
		}
		s.With = d.catalog.NewFault(t.Kind, s.Fault)
		what := fmt.Sprintf("fault %q", s.Fault)
		if s.With == nil {
			names := d.catalog.FaultNames(t.Kind)
			d.add(s.Pos, fmt.Sprintf("unknown fault %q for %s target %q%s (known: %s)", s.Fault, t.Kind, t.Name, didYouMean(s.Fault, names), strings.Join(names, ", ")))
			continue
		}
		n := s.withNode
		if n == nil {
			n = &yaml.Node{Kind: yaml.MappingNode, Line: s.Pos.Line, Column: s.Pos.Col}
		}
		before := d.problems()
		d.decode(n, s.With, what)
		if tc, ok := s.With.(TargetChecker); ok && d.problems() == before {
			if err := tc.CheckTarget(t.Spec); err != nil {
				d.add(s.Pos, fmt.Sprintf("fault %q on target %q: %v", s.Fault, t.Name, err))
			}
		}
	}
}

// decodeNode decodes a load stream: its own keys as a struct, and the one
// key that names its kind (http:, exec:, tcp:) into the kind's settings.
func (s *Stream) decodeNode(d *decoder, n *yaml.Node, what string) {
	*s = Stream{}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return
	}
	kinds := d.catalog.StreamKinds()
	own := keys(fieldsOf(reflect.TypeFor[Stream]()))
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
	var kindKey, kindNode, successKey *yaml.Node
	misspelt := false // an unknown key was taken for a kind
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && slices.Contains(kinds, k.Value):
			if kindKey != nil {
				d.errorf(k, "%s has more than one kind (%s and %s): give each stream one", what, kindKey.Value, k.Value)
				continue
			}
			kindKey, kindNode = k, v
		case k.Kind == yaml.ScalarNode && !slices.Contains(own, k.Value):
			d.errorf(k, "unknown key %q in %s%s", k.Value, what, didYouMean(k.Value, slices.Concat(own, kinds)))
			misspelt = misspelt || slices.Contains(kinds, suggest(k.Value, slices.Concat(own, kinds)))
		default:
			if k.Value == "success" {
				successKey = k
			}
			rest.Content = append(rest.Content, k, v)
		}
	}
	d.structValue(rest, reflect.ValueOf(s).Elem(), what)
	if kindKey == nil {
		if misspelt {
			return
		}
		d.errorf(n, "%s needs what to send: one of %s", what, strings.Join(kinds, ", "))
		return
	}
	s.Kind = kindKey.Value
	s.Spec = d.catalog.NewStream(s.Kind)
	d.decode(kindNode, s.Spec, fmt.Sprintf("%s in %s", s.Kind, what))
	if h, ok := s.Spec.(*HTTPRequest); ok {
		s.HTTP = h
	} else if successKey != nil {
		d.errorf(successKey, "success in %s: it lists HTTP status codes, for http streams: say what succeeds under %s:", what, s.Kind)
	}
}
