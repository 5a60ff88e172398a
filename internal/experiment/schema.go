package experiment

import (
	"fmt"
	"reflect"
	"strings"
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
func Schema(c Catalog) map[string]any {
	g := &schemaGen{}
	probeKinds := map[string]any{}
	var probeAlts []any
	for _, k := range c.ProbeKinds() {
		spec, _ := c.NewProbe(k)
		probeKinds[k] = g.of(reflect.TypeOf(spec))
		probeAlts = append(probeAlts, obj(map[string]any{k: g.of(reflect.TypeOf(spec))}, []string{k}))
	}
	var expects []any
	for _, k := range c.ProbeKinds() {
		if _, e := c.NewProbe(k); e != nil {
			expects = append(expects, g.of(reflect.TypeOf(e)))
		}
	}
	expects = append(expects, g.of(reflect.TypeFor[LoadExpect]()))
	defs := map[string]any{
		"probe":  map[string]any{"oneOf": probeAlts, "description": "one probe kind: " + strings.Join(c.ProbeKinds(), ", ")},
		"expect": map[string]any{"anyOf": expects},
	}
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }
	probe, expect := ref("probe"), ref("expect")

	var targetAlts []any
	var faultAlts []any
	for _, k := range c.TargetKinds() {
		targetAlts = append(targetAlts, obj(map[string]any{k: g.of(reflect.TypeOf(c.NewTarget(k)))}, []string{k}))
		for _, f := range c.FaultNames(k) {
			faultAlts = append(faultAlts, g.of(reflect.TypeOf(c.NewFault(k, f))))
		}
	}
	check := obj(map[string]any{
		"name":     str("the check's name, shown in reports"),
		"from":     str("a load stream to judge"),
		"window":   describe(durationSchema(), "how much of the stream's recent traffic each judgement covers (default 5s)"),
		"probe":    probe,
		"expect":   expect,
		"when":     map[string]any{"type": "array", "items": map[string]any{"enum": []string{Before, During, After}}},
		"failures": describe(orVar(map[string]any{"type": "integer", "minimum": 1}), "consecutive failed observations that fail the check (default 1)"),
		"interval": describe(durationSchema(), "time between a probe's observations during the method (default 1s, at least 10ms)"),
		"retries":  describe(orVar(map[string]any{"type": "integer", "minimum": 0}), "how often a failed probe is tried again before and after the method (default 0)"),
	}, []string{"name"})
	faultStep := obj(map[string]any{
		"name": str(""), "fault": str("the fault's name"), "target": str("a target defined under targets"),
		"with": map[string]any{"anyOf": faultAlts}, "for": durationSchema(), "background": orVar(map[string]any{"type": "boolean"}), "as": str(""),
	}, []string{"fault", "target"})
	defs["check"] = check
	defs["step"] = map[string]any{"oneOf": []any{
		faultStep,
		obj(map[string]any{"name": str(""), "wait": durationSchema()}, []string{"wait"}),
		obj(map[string]any{"name": str(""), "probe": probe, "expect": expect, "as": str("")}, []string{"probe"}),
		obj(map[string]any{"name": str(""), "assert": ref("check")}, []string{"assert"}),
		obj(map[string]any{"name": str(""), "exec": g.of(reflect.TypeFor[Exec]()), "as": str(""),
			"undo": describe(g.of(reflect.TypeFor[Exec]()), "a command that undoes what exec did: recorded in the ledger before exec runs, run when the method ends (also on an interrupt, or by chaos recover)")}, []string{"exec"}),
	}}
	readyProps := map[string]any{
		"within":   describe(durationSchema(), "how long the service has to be ready (default 10s, at least 1ms)"),
		"interval": describe(durationSchema(), "time between looks (default 100ms, at least 10ms)"),
	}
	for k, v := range probeKinds {
		readyProps[k] = v
	}
	service := g.of(reflect.TypeFor[Service]())
	service["properties"].(map[string]any)["ready"] = obj(readyProps, nil)

	var streamAlts []any
	for _, k := range c.StreamKinds() {
		st := g.of(reflect.TypeFor[Stream]())
		props := st["properties"].(map[string]any)
		props[k] = g.of(reflect.TypeOf(c.NewStream(k)))
		if k != "http" {
			delete(props, "success")
		}
		st["required"] = append(st["required"].([]string), k)
		streamAlts = append(streamAlts, st)
	}

	list := func(items any) map[string]any { return map[string]any{"type": "array", "items": items} }
	root := obj(map[string]any{
		"version":      map[string]any{"const": Version},
		"title":        str("what the experiment shows, in one line"),
		"description":  str(""),
		"tags":         list(str("")),
		"vars":         map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}},
		"services":     list(service),
		"targets":      map[string]any{"type": "object", "additionalProperties": map[string]any{"oneOf": targetAlts}},
		"load":         list(map[string]any{"oneOf": streamAlts, "description": "a load stream of one kind: " + strings.Join(c.StreamKinds(), ", ")}),
		"steady_state": list(ref("check")),
		"method":       list(ref("step")),
		"rollbacks":    list(ref("step")),
		"abort_when":   list(ref("check")),
		"recovery":     g.of(reflect.TypeFor[Recovery]()),
		"max_duration": describe(durationSchema(), "the run aborts itself once it has run this long, every fault reverted (verdict aborted)"),
	}, []string{"version", "title"})
	root["$defs"] = defs
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/gamedayhq/chaos/schema/experiment.json"
	root["title"] = "chaos experiment"
	return root
}

type schemaGen struct{}

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
			}
			if f.required {
				required = append(required, f.key)
			}
		}
		return obj(props, required)
	}
	return map[string]any{}
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
	return pattern(`([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+`, "a duration such as 300ms, 2s, 1m")
}

func condSchema(value string) map[string]any {
	return pattern(`\s*(<=|>=|==|!=|<|>)?\s*`+value+`\s*`, "", "number")
}

// JSONSchema describes a duration.
func (Duration) JSONSchema() map[string]any { return durationSchema() }

// JSONSchema describes a rate.
func (Rate) JSONSchema() map[string]any {
	return pattern(`\s*[0-9]+(\.[0-9]+)?\s*/\s*(ms|s|m|min|h)\s*`, "a rate such as 50/s, from 1/h to 1000000/s")
}

// JSONSchema describes a percentage.
func (Percent) JSONSchema() map[string]any {
	return pattern(`\s*[0-9]+(\.[0-9]+)?\s*%\s*`, "a percentage such as 30%")
}

// JSONSchema describes a size.
func (Size) JSONSchema() map[string]any {
	return pattern(`\s*[0-9]+(\.[0-9]+)?\s*(KiB|MiB|GiB|KB|MB|GB|B)?\s*`, "", "integer")
}

// JSONSchema describes a pick.
func (Pick) JSONSchema() map[string]any {
	return pattern(`all|[0-9]+%?`, "all, a count or a share", "integer")
}

// JSONSchema describes a signal.
func (Signal) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"string", "integer"}, "description": "a signal name such as SIGKILL, or its number"}
}

// JSONSchema describes a regular expression.
func (Regexp) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "format": "regex"}
}

// JSONSchema describes a duration comparison.
func (DurationCond) JSONSchema() map[string]any {
	return condSchema(`[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)`)
}

// JSONSchema describes a percentage comparison.
func (PercentCond) JSONSchema() map[string]any { return condSchema(`[0-9]+(\.[0-9]+)?%`) }

// JSONSchema describes a number comparison.
func (NumberCond) JSONSchema() map[string]any { return condSchema(`-?[0-9]+(\.[0-9]+)?`) }

// JSONSchema describes a matcher.
func (Matcher) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"string", "number", "boolean"}}
}
