package experiment

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// SchemaProvider is implemented by value types that describe their own JSON
// Schema, because they are written as text with a syntax of their own.
type SchemaProvider interface {
	JSONSchema() map[string]any
}

var schemaProviderType = reflect.TypeFor[SchemaProvider]()

// Schema returns the JSON Schema (draft 2020-12) of experiment files with
// the kinds of the catalog. It is generated from the same types the loader
// decodes into, so it cannot drift from what the loader accepts.
func Schema(c Catalog) map[string]any { return (&schemaGen{}).schema(c) }

func (g *schemaGen) schema(c Catalog) map[string]any {
	docs := describer(c)
	probeKinds := map[string]any{}
	var probeAlts []any
	for _, k := range c.ProbeKinds() {
		spec, _ := c.NewProbe(k)
		doc := docs.DescribeProbe(k)
		probeKinds[k] = kindSchema(g.of(reflect.TypeOf(spec)), k+" probe", doc.Summary, doc.Example)
		probeAlts = append(probeAlts, obj(map[string]any{k: probeKinds[k]}, []string{k}))
	}
	var expects []any
	for _, k := range c.ProbeKinds() {
		if _, e := c.NewProbe(k); e != nil {
			expects = append(expects, kindSchema(g.of(reflect.TypeOf(e)), "expect of a "+k+" probe", "", docs.DescribeProbe(k).Expect))
		}
	}
	expects = append(expects, kindSchema(g.of(reflect.TypeFor[LoadExpect]()), "expect of a check with from", "", `{p99: "< 300ms", success: ">= 99.5%"}`))
	defs := map[string]any{
		"probe":  map[string]any{"oneOf": probeAlts, "description": "one probe kind: " + strings.Join(c.ProbeKinds(), ", ")},
		"expect": map[string]any{"anyOf": expects, "description": "what the observation must show: the probe kind's expectations, or a load stream's figures"},
	}
	ref := func(name, desc string) map[string]any {
		return map[string]any{"$ref": "#/$defs/" + name, "description": desc}
	}

	var targetAlts []any
	var faultAlts []any
	for _, k := range c.TargetKinds() {
		doc := docs.DescribeTarget(k)
		ts := kindSchema(g.of(reflect.TypeOf(c.NewTarget(k))), k+" target", doc.Summary, doc.Example)
		targetAlts = append(targetAlts, obj(map[string]any{k: ts}, []string{k}))
		for _, f := range c.FaultNames(k) {
			doc := docs.DescribeFault(k, f)
			faultAlts = append(faultAlts, kindSchema(g.of(reflect.TypeOf(c.NewFault(k, f))), f+" fault on a "+k+" target", doc.Summary, doc.Example))
		}
	}
	nameDesc := "the step's name in events and reports (default: made of what it does, such as \"latency payment-link\")"
	asDesc := "names the step's output: later steps use ${NAME.field}"
	check := obj(map[string]any{
		"name":     str("the check's name, shown in reports"),
		"from":     str("a load stream to judge, by name"),
		"window":   withDefault(describe(durationSchema(), "how much of the stream's recent traffic each judgement covers"), "5s"),
		"probe":    ref("probe", "the observation, when the check does not judge a load stream"),
		"expect":   ref("expect", "what must hold: a load stream's figures with from, else the probe's expectations (a probe without expect checks its kind's default)"),
		"when":     map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"enum": []string{Before, During, After}}, "description": "the phases the check runs in", "default": []string{Before, During, After}},
		"failures": withDefault(describe(orVar(map[string]any{"type": "integer", "minimum": 1}), "consecutive failed observations that fail the check"), 1),
		"interval": withDefault(describe(durationSchema(), "time between a probe's observations during the method, at least 10ms"), "1s"),
		"retries":  describe(orVar(map[string]any{"type": "integer", "minimum": 0}), "how often a failed probe is tried again before and after the method; every try is in the journal, and a check that holds on a retry says how many tries failed before it, and why"),
	}, []string{"name"})
	faultStep := obj(map[string]any{
		"name":       str(nameDesc),
		"fault":      str("the fault's name: one the target's kind accepts"),
		"target":     str("a target defined under targets, by name"),
		"with":       map[string]any{"anyOf": faultAlts, "description": "the fault's settings: the keys its entry lists (chaos explain FAULT)"},
		"for":        describe(durationSchema(), "how long the fault stays (default: until the method ends)"),
		"background": describe(orVar(map[string]any{"type": "boolean"}), "with for: go on with the next step while the fault is active"),
		"as":         str(asDesc + ": count, id, name, ids, names of the targets hit"),
	}, []string{"fault", "target"})
	exec := g.of(reflect.TypeFor[Exec]())
	defs["check"] = check
	defs["step"] = map[string]any{"description": "one step: fault, wait, probe, assert or exec", "oneOf": []any{
		titled(faultStep, "fault step", "applies a fault to a target, and reverts it after for, or when the method ends"),
		titled(obj(map[string]any{"name": str(nameDesc), "wait": describe(durationSchema(), "how long to wait")}, []string{"wait"}), "wait step", "waits, while the checks go on"),
		titled(obj(map[string]any{"name": str(nameDesc), "probe": ref("probe", "the observation"), "expect": ref("expect", "what it must show (default: the probe kind's default)"), "as": str(asDesc + ": the probe's outputs")}, []string{"probe"}), "probe step", "observes once; a failed expectation deviates the run"),
		titled(obj(map[string]any{"name": str(nameDesc), "assert": ref("check", "a check with from, judged once, now")}, []string{"assert"}), "assert step", "judges a load stream's recent windows once, of traffic sent since the last fault or exec step began (it waits for a window of it); a failure deviates the run"),
		titled(obj(map[string]any{"name": str(nameDesc), "exec": describe(exec, "the command run to completion"), "as": str(asDesc + ": exit_code, stdout"),
			"undo": describe(g.of(reflect.TypeFor[Exec]()), "a command that undoes what exec did: recorded in the ledger before exec runs, run when the method ends (also on an interrupt, or by chaos recover)")}, []string{"exec"}), "exec step", "runs a command to completion; a failure is an error"),
	}}
	readyProps := map[string]any{
		"within":   withDefault(describe(durationSchema(), "how long the service has to be ready, at least 1ms"), "10s"),
		"interval": withDefault(describe(durationSchema(), "time between looks, at least 10ms"), "100ms"),
	}
	for k, v := range probeKinds {
		readyProps[k] = v
	}
	service := titled(g.of(reflect.TypeFor[Service]()), "service", "")
	ready := service["properties"].(map[string]any)["ready"].(map[string]any)
	service["properties"].(map[string]any)["ready"] = describe(obj(readyProps, nil), ready["description"].(string)+"; one probe kind ("+strings.Join(c.ProbeKinds(), ", ")+") with its settings, and within and interval")

	var streamAlts []any
	for _, k := range c.StreamKinds() {
		st := g.of(reflect.TypeFor[Stream]())
		props := st["properties"].(map[string]any)
		props[k] = g.of(reflect.TypeOf(c.NewStream(k)))
		if k != "http" {
			delete(props, "success")
		}
		st["required"] = append(st["required"].([]string), k)
		doc := docs.DescribeStream(k)
		kindSchema(props[k].(map[string]any), k+" request", "what one request of the stream is", doc.Example)
		streamAlts = append(streamAlts, titled(st, k+" load stream", doc.Summary))
	}

	list := func(items any) map[string]any { return map[string]any{"type": "array", "items": items} }
	props := map[string]any{
		"version":      map[string]any{"const": Version},
		"title":        str(""),
		"description":  str(""),
		"tags":         list(str("")),
		"vars":         map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}},
		"services":     list(service),
		"engines":      map[string]any{"type": "object", "additionalProperties": titled(g.of(reflect.TypeFor[Engine]()), "engine", "a Docker engine: context, or host with tls")},
		"targets":      map[string]any{"type": "object", "additionalProperties": map[string]any{"oneOf": targetAlts, "title": "target"}},
		"load":         list(map[string]any{"oneOf": streamAlts, "title": "load stream", "description": "a load stream of one kind: " + strings.Join(c.StreamKinds(), ", ")}),
		"steady_state": list(map[string]any{"$ref": "#/$defs/check"}),
		"method":       list(map[string]any{"$ref": "#/$defs/step"}),
		"rollbacks":    list(map[string]any{"$ref": "#/$defs/step"}),
		"abort_when":   list(map[string]any{"$ref": "#/$defs/check"}),
		"recovery":     g.of(reflect.TypeFor[Recovery]()),
		"max_duration": durationSchema(),
		"notify":       list(g.of(reflect.TypeFor[Notify]())),
	}
	for _, f := range fieldsOf(reflect.TypeFor[Experiment]()) {
		describe(props[f.key].(map[string]any), f.doc)
	}
	root := obj(props, []string{"version", "title"})
	root["$defs"] = defs
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/gamedayhq/chaos/schema/experiment.json"
	root["title"] = "chaos experiment"
	return root
}

// kindSchema names the settings of a kind of target, fault or probe, and
// describes them.
func kindSchema(s map[string]any, title, summary, example string) map[string]any {
	titled(s, title, summary)
	if example != "" {
		var v any
		if err := yaml.Unmarshal([]byte(example), &v); err != nil {
			panic(fmt.Sprintf("experiment: the example of %s is not YAML: %v", title, err))
		}
		s["examples"] = []any{v}
	}
	return s
}

// withDefault sets the default of s.
func withDefault(s map[string]any, v any) map[string]any {
	s["default"] = v
	return s
}

// titled sets the title and, when there is one, the description of s.
func titled(s map[string]any, title, desc string) map[string]any {
	s["title"] = title
	if desc != "" {
		s["description"] = desc
	}
	return s
}

// schemaGen makes schemas of Go types. With fieldDocs set, it notes each
// key's own description, by its schema, for the reference, whose tables
// say what the key's type is in a column of their own.
type schemaGen struct {
	fieldDocs map[uintptr]string
}

func obj(props map[string]any, required []string) map[string]any {
	m := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func str(desc string) map[string]any {
	m := map[string]any{"type": "string"}
	if desc != "" {
		m["description"] = desc
	}
	return m
}

func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return g.of(t.Elem())
	}
	if t.Implements(schemaProviderType) {
		return reflect.Zero(t).Interface().(SchemaProvider).JSONSchema()
	}
	if reflect.PointerTo(t).Implements(schemaProviderType) {
		return reflect.New(t).Interface().(SchemaProvider).JSONSchema()
	}
	if t == durationType {
		return durationSchema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return orVar(map[string]any{"type": "boolean"})
	case reflect.Int, reflect.Int64, reflect.Int32:
		return orVar(map[string]any{"type": "integer"})
	case reflect.Float64:
		return orVar(map[string]any{"type": "number"})
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		// What a key holds when the file leaves it out.
		defaults := reflect.New(t)
		if d, ok := defaults.Interface().(Defaulter); ok {
			d.SetDefaults()
		}
		for _, f := range fieldsOf(t) {
			ft := t.FieldByIndex(f.index).Type
			props[f.key] = g.of(ft)
			if f.least > 0 {
				d := props[f.key].(map[string]any)
				d["description"] = fmt.Sprintf("%s; %s or more", d["description"], f.least)
			}
			if m, ok := props[f.key].(map[string]any); ok && f.doc != "" {
				// The field's own words first, then what its type says.
				desc := f.doc
				if d, ok := m["description"].(string); ok && d != "" {
					desc += "; " + d
				}
				describe(m, desc)
				if g.fieldDocs != nil {
					d := f.doc
					if f.least > 0 {
						d += fmt.Sprintf(", %s or more", f.least)
					}
					g.fieldDocs[reflect.ValueOf(m).Pointer()] = d
				}
			}
			if f.required {
				required = append(required, f.key)
			}
			if v := defaults.Elem().FieldByIndex(f.index); !v.IsZero() {
				props[f.key].(map[string]any)["default"] = defaultValue(v)
			}
		}
		return obj(props, required)
	}
	return map[string]any{}
}

// defaultValue is a default as it is written in a file.
func defaultValue(v reflect.Value) any {
	switch x := v.Interface().(type) {
	case time.Duration:
		return Duration(x).String()
	case fmt.Stringer:
		return x.String()
	}
	return v.Interface()
}

// varRef matches text holding a ${...} reference: any scalar may be one,
// whatever type it resolves to.
const varRef = `\$\{[^}]+\}`

// pattern returns a string schema with the pattern, or a variable reference.
func pattern(p, desc string, types ...string) map[string]any {
	t := any("string")
	if len(types) > 0 {
		t = append([]string{"string"}, types...)
	}
	m := map[string]any{"type": t, "pattern": `^(` + p + `)$|` + varRef}
	if desc != "" {
		m["description"] = desc
	}
	return m
}

// orVar lets a number or boolean also be written as a variable reference.
func orVar(m map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{m, map[string]any{"type": "string", "pattern": varRef}}}
}

// describe sets the description of schema s and returns it.
func describe(s map[string]any, desc string) map[string]any {
	s["description"] = desc
	return s
}

func durationSchema() map[string]any {
	return titled(pattern(`([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+`, ""), "duration", "a duration such as 300ms, 2s, 1m")
}

func condSchema(value string) map[string]any {
	return pattern(`\s*(<=|>=|==|!=|<|>)?\s*`+value+`\s*`, "", "number")
}

// JSONSchema describes a duration.
func (Duration) JSONSchema() map[string]any { return durationSchema() }

// JSONSchema describes a rate.
func (Rate) JSONSchema() map[string]any {
	return titled(pattern(`\s*[0-9]+(\.[0-9]+)?\s*/\s*(ms|s|m|min|h)\s*`, ""), "rate", "a rate such as 50/s, 600/m or 1/h, from 1/h to 1000000/s")
}

// JSONSchema describes a percentage.
func (Percent) JSONSchema() map[string]any {
	return titled(pattern(`\s*[0-9]+(\.[0-9]+)?\s*%\s*`, ""), "percent", "a percentage such as 30%")
}

// JSONSchema describes a size.
func (Size) JSONSchema() map[string]any {
	return titled(pattern(`\s*[0-9]+(\.[0-9]+)?\s*(KiB|MiB|GiB|KB|MB|GB|B)?\s*`, "", "integer"), "size", "a size in bytes such as 512, 64KiB, 10MB or 1GiB")
}

// JSONSchema describes a pick.
func (Pick) JSONSchema() map[string]any {
	return titled(pattern(`all|[0-9]+%?`, "", "integer"), "pick", "all, a count such as 1, or a share such as 50%")
}

// JSONSchema describes a signal.
func (Signal) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"string", "integer"}, "title": "signal", "description": "a signal name such as SIGKILL, or its number"}
}

// JSONSchema describes a regular expression.
func (Regexp) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "format": "regex", "title": "regular expression", "description": "a regular expression in Go's syntax (RE2)"}
}

// JSONSchema describes a duration comparison.
func (DurationCond) JSONSchema() map[string]any {
	return titled(condSchema(`[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)`), "duration comparison", "a comparison with a duration such as \"< 300ms\"")
}

// JSONSchema describes a percentage comparison.
func (PercentCond) JSONSchema() map[string]any {
	return titled(condSchema(`[0-9]+(\.[0-9]+)?%`), "percent comparison", "a comparison with a percentage such as \">= 99.5%\"")
}

// JSONSchema describes a number comparison.
func (NumberCond) JSONSchema() map[string]any {
	return titled(condSchema(`-?[0-9]+(\.[0-9]+)?`), "number comparison", "a number, or a comparison with one such as \"> 10\"")
}

// JSONSchema describes a matcher.
func (Matcher) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"string", "number", "boolean"}, "title": "matcher", "description": "a value to equal, or a comparison such as \"> 3\""}
}
