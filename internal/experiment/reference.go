package experiment

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Entry is one part of the format reference: a section of the file, a
// kind of target or probe, a fault.
type Entry struct {
	// Title is the entry's heading; Level its depth (2 or 3).
	Title string
	Level int
	// Names are what chaos explain finds the entry by.
	Names []string
	// Body is the entry's text, in Markdown.
	Body string
}

// Markdown is the entry as a section of a Markdown document.
func (e Entry) Markdown() string {
	return strings.Repeat("#", e.Level) + " " + e.Title + "\n\n" + strings.TrimSpace(e.Body) + "\n"
}

// Reference returns the format reference of the catalog's kinds. It is
// made from the JSON Schema, and so from the settings types, their doc tags
// and the kinds' Docs: what it says is what the loader accepts.
func Reference(c Catalog) []Entry {
	g := &schemaGen{fieldDocs: map[uintptr]string{}}
	s := g.schema(c)
	props, defs := node(s, "properties"), node(s, "$defs")
	keyTable := func(s map[string]any, only func(string) bool) string { return keyTable(s, only, g.fieldDocs) }
	docs := describer(c)
	var out []Entry
	add := func(level int, title string, names []string, body string) {
		out = append(out, Entry{Title: title, Level: level, Names: names, Body: body})
	}

	add(2, "The experiment file", []string{"experiment", "file", "sections"}, `An experiment is one YAML file. Unknown keys are errors (with the key
meant, when one is close, and the keys that are valid), and every problem
is reported at FILE:LINE:COL; `+"`chaos validate FILE`"+` lists them all.
An editor with yaml-language-server checks and completes the file against
schema/experiment.json: put
`+"`# yaml-language-server: $schema=PATH/TO/schema/experiment.json`"+` on its
first line.

Its sections:

`+keyTable(s, nil)+`
A run starts the fault proxies it listens with itself (proxy targets with
listen and upstream: a service may reach its dependency through one), then
the services, then the proxies on a running server (with api) and the
load, checks the steady state (before), runs the method
while the checks go on (during), removes every fault, waits for the
steady state to hold again (recovery, after), runs the rollbacks, and
gives a verdict: recovery is judged on the system as the faults left it,
before a rollback puts anything back.`)

	add(2, "Values", []string{"values", "units", "duration", "rate", "percent", "size", "pick", "signal", "regex", "regular expression"}, valuesBody())
	add(2, "Variables", []string{"vars", "variables", "variable", "uuid", "${uuid}", "env", "${env}", "seq", "${seq}", "outputs", "as", "secrets"}, variablesBody)
	add(2, "Paths", []string{"paths", "path", "relative", "file_dir", "${file_dir}"}, pathsBody)

	service := node(props, "services", "items")
	ready := node(service, "properties", "ready")
	add(2, "services", []string{"services", "service", "ready"}, `Processes the run starts before anything else but its own fault
proxies, in file order, each ready (its ready probe passed) before the
next starts; they are stopped (SIGTERM, then SIGKILL after grace) when
the run ends, and their output is kept in the report directory as
services/NAME.log. A proxy target with listen and upstream already
listens when they start, so a service that reaches its dependency through
it (nginx in front of a backend behind the proxy) can be ready; a ready
check must go to the service's own address, not to a proxy's listen.
A service must stay in the foreground (nginx: daemon off): one whose
process exits 0 once ready has gone to the background, and is an error;
a process started after it that still holds its ready address once it is
stopped is named in a warning, left running.

`+yamlBlock(`services:
  - name: payment
    run: [./bin/payment, -listen, 127.0.0.1:9090]
    ready: {http: {url: "http://127.0.0.1:9090/health"}, within: 10s}`)+`
`+keyTable(service, nil)+`
ready takes one probe kind with its settings (see Probes), without
expect: it passes as the kind does without one (an exec probe exits 0,
an http probe answers 2xx), and:

`+keyTable(ready, func(k string) bool { return k == "within" || k == "interval" }))

	var kinds []string
	for _, k := range c.TargetKinds() {
		kinds = append(kinds, "`"+k+"`")
	}
	add(2, "targets", []string{"targets", "target"}, `What faults act on, by name: a mapping from a name of your choosing to one
target kind and its settings. Fault steps name the target in target:.
Targets that select things (processes, containers) are resolved when a
fault step starts, and pick, max and empty say how many of the matches are
hit. Kinds: `+strings.Join(kinds, ", ")+`.

`+yamlBlock(`targets:
  payment-link:
    proxy: {listen: 127.0.0.1:9091, upstream: 127.0.0.1:9090, protocol: http}`))
	for _, k := range c.TargetKinds() {
		doc := docs.DescribeTarget(k)
		ts := g.of(reflect.TypeOf(c.NewTarget(k)))
		var faults []string
		for _, f := range c.FaultNames(k) {
			faults = append(faults, "`"+f+"`")
		}
		body := doc.Summary + "\n\n" + keyTable(ts, nil)
		if doc.Example != "" {
			body += "\n" + yamlBlock("targets:\n  my-"+k+":\n    "+k+": "+doc.Example)
		}
		body += "\nFaults: " + cmp.Or(strings.Join(faults, ", "), "none") + ".\n"
		add(3, k+" target", []string{k, k + " target"}, body)
	}

	engine := node(props, "engines", "additionalProperties")
	add(2, "engines", []string{"engines", "engine", "context", "docker context", "host", "tls", "DOCKER_HOST"}, `Docker engines by a name of your choosing, for docker targets to search
(engine: [a, b]). A docker target without engine searches the default
engine, as the Docker CLI chooses it: DOCKER_HOST, else the current
context (DOCKER_CONTEXT, or docker context use), else
unix:///var/run/docker.sock. An engine is a context of the Docker CLI, or
an address with TLS settings as the Docker CLI takes them. pick and max
count the matches of all the target's engines together, in the order the
target lists them, so that --seed picks the same containers again. The
ledger keeps each fault's engine: chaos recover reverts it there. For the
default engine it keeps its address, and a revert whose default engine is
another one (another DOCKER_HOST or context) fails and names the address,
rather than take the container for removed. A docker probe with engine
looks at each of its engines in turn.

`+yamlBlock(`engines:
  staging: {context: staging}
  edge:
    host: tcp://edge.internal:2376
    tls: {ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}
targets:
  web: {docker: {labels: {app: web}, engine: [staging, edge], pick: 1}}`)+`
`+keyTable(engine, nil)+`
tls takes:

`+keyTable(node(engine, "properties", "tls"), nil)+`
Faults that go through the engine's API (kill, stop, pause, restart,
disconnect) work on any engine. A crash (kill with crash: true) and the
network faults act on the container from this machine: its engine must
be on this machine (unix://). The resource faults act on containers of
the default engine only. validate and the dry run refuse the others.
`)

	for _, k := range c.TargetKinds() {
		var names []string
		for _, f := range c.FaultNames(k) {
			names = append(names, "`"+f+"`")
		}
		add(2, k+" faults", []string{k + " faults"}, "Faults on a "+k+" target, set with a fault step (see method): "+strings.Join(names, ", ")+". Every fault step also takes for (how long the fault stays), background and as.\n")
		for _, f := range c.FaultNames(k) {
			doc := docs.DescribeFault(k, f)
			fs := g.of(reflect.TypeOf(c.NewFault(k, f)))
			body := doc.Summary + "\n\n"
			if len(node(fs, "properties")) > 0 {
				body += "Settings (with:):\n\n" + keyTable(fs, nil) + "\n"
			}
			if doc.Example != "" {
				with := "\n    with: " + doc.Example
				if doc.Example == "{}" {
					with = ""
				}
				body += yamlBlock("method:\n  - fault: " + f + "\n    target: my-" + k + with)
			}
			add(3, f+" ("+k+" fault)", []string{f, k + " " + f, f + " fault", k + "." + f}, body)
		}
	}

	var pk []string
	for _, k := range c.ProbeKinds() {
		pk = append(pk, "`"+k+"`")
	}
	add(2, "Probes", []string{"probes", "probe"}, `A probe observes the system once: in a check (probe: with expect:), in a
probe step of the method, or as a service's ready probe. Each takes one
probe kind with its settings; expect says what the observation must show,
and each kind has a default for a probe without expect. Kinds:
`+strings.Join(pk, ", ")+`.`)
	for _, k := range c.ProbeKinds() {
		doc := docs.DescribeProbe(k)
		spec, expect := c.NewProbe(k)
		body := doc.Summary + "\n\nSettings:\n\n" + keyTable(g.of(reflect.TypeOf(spec)), nil)
		if expect != nil {
			body += "\nexpect:\n\n" + keyTable(g.of(reflect.TypeOf(expect)), nil)
		}
		if doc.Example != "" {
			ex := "steady_state:\n  - name: my check\n    probe: {" + k + ": " + doc.Example + "}"
			if doc.Expect != "" {
				ex += "\n    expect: " + doc.Expect
			}
			body += "\n" + yamlBlock(ex)
		}
		if len(doc.Outputs) > 0 {
			body += "\nA probe step with as: NAME exposes:\n\n"
			for _, o := range doc.Outputs {
				name, what, _ := strings.Cut(o, ": ")
				body += "- `${NAME." + name + "}`: " + what + "\n"
			}
		}
		add(3, k+" probe", []string{k, k + " probe"}, body)
	}

	stream := node(props, "load", "items")
	add(2, "load", []string{"load", "stream", "load stream", "streams"}, `Traffic kept up for the whole run: each stream sends its request at a
constant rate (an open model: requests go out on schedule whether or not
earlier ones were answered), and counts latency and success in windows.
Checks judge a stream with from: NAME.

`+yamlBlock(`load:
  - name: view-cart
    http: {url: "${shop}/cart/42"}
    rate: 50/s`)+`
`+objectTables(stream, keyTable))

	check := node(defs, "check")
	add(2, "steady_state", []string{"steady_state", "check", "checks", "hypothesis"}, `The hypothesis: checks that must hold before the method, while it runs
and after it (each check's when). A check either judges a load stream
(from, with expect on its figures) or runs a probe (probe, with expect on
the observation).

`+yamlBlock(`steady_state:
  - name: cart stays fast
    from: view-cart
    expect: {p99: "< 300ms", success: ">= 99.5%"}
  - name: payment healthy
    probe: {http: {url: "http://127.0.0.1:9090/health"}}
    expect: {status: 200}
    when: [before, after]`)+`
`+keyTable(check, nil)+`
Before the method, a check passes once; during it, a check fails after
failures consecutive failed observations; after it, the checks must
all hold again within recovery.within.

During the method, a check holds only on what it saw under a fault: a
probe's pass counts if a fault was on for the whole observation, a load
window's if it holds requests sent under a fault: one that a fault was on
within for less than the time between two of the stream's requests may
hold none. A check that saw no fault, or a fault step that no check saw,
makes the run an error, not a pass. A fault found gone when its revert came (someone deleted the toxic,
unpaused the container, continued the process; the container restarted)
may have ended at any moment: passes under it do not count. A load
check during the method judges the method's traffic alone: the stream's
windows are cut where the method starts and where its faults are gone,
so that no judgement mixes the healthy traffic around the method with
the traffic under its faults.`)

	var loadExpect map[string]any
	for _, e := range alternatives(node(defs, "expect")) {
		if m := e; m["title"] == "expect of a check with from" {
			loadExpect = m
		}
	}
	add(2, "Expectations", []string{"expect", "expectations", "expectation", "comparison", "comparisons"}, `expect says what an observation must show. For a probe, its keys are the
probe kind's (see Probes); with from, they are the stream's figures over
the check's window:

`+keyTable(loadExpect, nil)+`
A comparison is an operator and a value, quoted in YAML: "< 300ms",
">= 99.5%", "== 0", "!= 500". The operators are <, <=, >, >=, == and !=;
a bare value means ==. Durations take a unit (ms, s), percentages a %.
Every key given must hold.

A request counts when it completes. The latencies (p50, p90, p99, max)
also count the requests still waiting for an answer at the end of the
judged traffic that have waited as long as the key's value or longer, each
at how long it had waited then: it will take at least that. A share of
requests held past the check's window breaks "p99: < 300ms" although they
have not completed; the value then reads as a lower bound ("2.4s+") and the
reason says how many requests were still waiting. Requests waiting for less
are left out until they complete.

A check or an assert on success, errors or a latency also waits for the
outcomes of the requests sent in the traffic it judges that were still
waiting at its end (up to the stream's timeout), and counts them, with
how long they took: a request a fault held fails only at its timeout, or
is answered only once the fault is gone, which may come after the judged
traffic, or after the fault. Judged during the method, a check's last
judgement, once the method ends, counts those of every request sent while
it ran. The sample's note says how many came after. That last judgement
is left out when no request was sent in the traffic it would judge (less
than the time between two requests of the stream). A check's window must
hold at least one request of its stream: a window in which none was sent
would break it.`)

	add(2, "method", []string{"method", "steps", "step", "fault step", "wait", "wait step", "probe step", "assert", "assert step", "exec", "exec step", "undo", "background", "for"}, `The steps run one after the other, while the checks with during keep
observing. A fault stays until its for runs out or the method ends;
every fault is removed when the method ends, on every path (a failed
step, an abort, an interrupt), and recorded in a ledger before it is
applied so that chaos recover can remove it after a crash.

`+yamlBlock(`method:
  - fault: latency
    target: payment-link
    with: {delay: 3s}
    for: 30s
  - wait: 5s
  - probe: {http: {url: "http://127.0.0.1:8080/health"}}
    expect: {status: 200}
    as: health
  - exec: {run: [./scripts/flush-cache.sh]}
    undo: {run: [./scripts/warm-cache.sh]}`)+stepTables(node(defs, "step"), keyTable))

	add(2, "rollbacks", []string{"rollbacks", "rollback"}, `Steps run after the method has ended, its faults are removed and the after
checks are done, on every path: after a pass, a deviation, an abort, an
error or an interrupt. They
put back what the method changed beyond its faults (a scaled deployment, a
flag). They take the same steps as the method; one that fails stays in
the ledger for chaos recover, and the verdict is revert-failed. A fault step there is refused when the file is loaded.

`+yamlBlock(`rollbacks:
  - exec: {run: [kubectl, scale, deploy/payment, --replicas=3]}`))

	add(2, "abort_when", []string{"abort_when", "abort"}, `Safety checks, written as steady-state checks: while the method runs, one
that fails (failures consecutive times) stops the run at once, every fault
is removed, and the verdict is aborted. One whose failures in a row take
longer than the method is planned to last cannot fire, and validate warns;
one that failed every observation made under a fault, fewer times in a row
than its failures, did not fire either: it is recorded as skipped, not
held, with a warning.

`+yamlBlock(`abort_when:
  - from: view-cart
    expect: {success: ">= 80%"}
    failures: 3`))

	add(2, "recovery", []string{"recovery", "within"}, `After the faults are removed, the steady-state checks with after must
hold again within this time; the report says how long they took. A
probe is observed again and again; a load check judges each window of
its stream on its own, from the one the faults were removed in, and a
pass counts only for a window that began once they were gone (the one
before holds traffic sent under them); on success or errors, it counts
the outcomes of the requests sent in the window that came after it. A
window that began by the deadline is judged, though it ends after it: the
time to recover counts to the start of the first passing observation. A
prometheus probe's pass on data scraped before the faults ended does not
count.

`+keyTable(node(props, "recovery"), nil))

	add(2, "notify", []string{"notify", "notifier", "webhook", "slack", "pushgateway", "otel", "opentelemetry"}, `Where the run's events go while it runs, besides the journal: each entry
is one webhook, pushgateway or otel notifier (chaos run --notify adds more).
Notifiers send in the background with bounded timeouts; at the end of the
run chaos waits for them at most their timeout. One that fails adds a
warning to the journal and stderr; it never changes the verdict. URL
passwords and query values, webhook URL paths and header values are
masked in every output. chaos run --events FILE (or - for stdout) writes
every event as the journal has it, one JSON line each, as it happens.

- webhook: body summary posts one JSON object at the end (run_id, title,
  file, verdict, reason, started, ended, faults: each with injected and
  reverted, revert_failed, or irreversible for a kill, which has nothing
  to revert); events posts each event
  as the journal writes it (load windows and passing observations left
  out), with run_id and title; slack posts {"text": ...} when the run
  starts, aborts and ends.
- pushgateway: pushes (PUT) the group job/JOB/experiment/NAME (plus labels;
  NAME is the file's name without extension, numbered as its report
  directory is when two files of a call share it: 1-x, 2-x)
  when the run starts, at each fault's start and end and at the end:
  chaos_run_start_time_seconds, chaos_run_end_time_seconds,
  chaos_run_verdict{verdict} (1 for the verdict, once known),
  chaos_run_passed, chaos_fault_start_time_seconds and
  chaos_fault_end_time_seconds{step,fault,target,id} (the fault windows)
  and chaos_fault_active (1 while a fault is on; 0 for a fault with
  nothing to revert, a kill, whose window ends where it starts).
- otel: one trace per run, a root span with spans for the phases, steps
  and faults, sent over OTLP/HTTP to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
  OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318), with
  OTEL_EXPORTER_OTLP_HEADERS and the other standard variables.

`+yamlBlock(`notify:
  - webhook: {url: "${env:SLACK_WEBHOOK_URL}", body: slack}
  - pushgateway: {url: "http://127.0.0.1:9091", labels: {team: payments}}
  - otel: {}`)+`
`+keyTable(node(props, "notify", "items"), nil)+`
webhook:

`+keyTable(node(props, "notify", "items", "properties", "webhook"), nil)+`
pushgateway:

`+keyTable(node(props, "notify", "items", "properties", "pushgateway"), nil)+`
otel:

`+keyTable(node(props, "notify", "items", "properties", "otel"), nil))
	return out
}

// Markdown is the reference as one document, with a table of contents.
func Markdown(entries []Entry, preamble string) string {
	var b strings.Builder
	b.WriteString(preamble)
	for _, e := range entries {
		if e.Level == 2 {
			fmt.Fprintf(&b, "- [%s](#%s)\n", e.Title, Anchor(e.Title))
		}
	}
	for _, e := range entries {
		b.WriteString("\n" + e.Markdown())
	}
	return b.String()
}

// Anchor is the id GitHub gives a heading.
func Anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Lookup returns the entries that go by name. When there are none, hint
// suggests the closest name.
func Lookup(entries []Entry, name string) (found []Entry, hint string) {
	want := strings.ToLower(strings.TrimSpace(name))
	var all []string
	for _, e := range entries {
		for _, n := range e.Names {
			if strings.ToLower(n) == want {
				found = append(found, e)
				break
			}
		}
		all = append(all, e.Names...)
	}
	if len(found) == 0 {
		hint = didYouMean(want, slices.Compact(slices.Sorted(slices.Values(all))))
	}
	return found, hint
}

// keyTable lists an object schema's keys: required ones first, then in
// alphabetical order. only, when set, picks the keys.
func keyTable(s map[string]any, only func(string) bool, docs map[uintptr]string) string {
	props, _ := s["properties"].(map[string]any)
	if len(props) == 0 {
		return ""
	}
	req := map[string]bool{}
	if r, ok := s["required"].([]string); ok {
		for _, k := range r {
			req[k] = true
		}
	}
	keys := slices.SortedFunc(maps.Keys(props), func(a, b string) int {
		if req[a] != req[b] {
			if req[a] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	b.WriteString("| key | value | default | meaning |\n|---|---|---|---|\n")
	for _, k := range keys {
		if only != nil && !only(k) {
			continue
		}
		p, _ := props[k].(map[string]any)
		def := ""
		switch {
		case req[k]:
			def = "required"
		case p["default"] != nil:
			def = "`" + fmt.Sprint(p["default"]) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k, typeName(p), def, cell(cmp.Or(docs[reflect.ValueOf(p).Pointer()], p["description"].(string))))
	}
	return b.String()
}

// cell makes text safe in a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// typeName says what a key holds, in words.
func typeName(p map[string]any) string {
	if r, ok := p["$ref"].(string); ok {
		return strings.TrimPrefix(r, "#/$defs/")
	}
	if c, ok := p["const"]; ok {
		return fmt.Sprintf("`%v`", c)
	}
	if t, ok := p["title"].(string); ok && !strings.Contains(t, " target") && !strings.Contains(t, " probe") {
		return t
	}
	if alts := alternatives(p); len(alts) > 0 {
		if len(alts) == 2 && alts[1]["pattern"] == varRef {
			// A value that may also be written as a ${variable}.
			return typeName(alts[0])
		}
		for _, a := range alts {
			if a["type"] != "object" {
				return "any"
			}
		}
		return "mapping"
	}
	switch t := p["type"].(type) {
	case string:
		switch t {
		case "array":
			return "list of " + plural(typeName(p["items"].(map[string]any)))
		case "object":
			if ap, ok := p["additionalProperties"].(map[string]any); ok {
				return "mapping to " + plural(typeName(ap))
			}
			return "mapping"
		case "integer":
			return "whole number"
		case "boolean":
			return "true or false"
		case "string":
			return "text"
		}
		return t
	case []string:
		var words []string
		for _, w := range t {
			words = append(words, typeName(map[string]any{"type": w}))
		}
		return strings.Join(words, " or ")
	}
	if e, ok := p["enum"].([]string); ok {
		return strings.Join(e, ", ")
	}
	if p["items"] == nil && p["properties"] == nil {
		return "any"
	}
	return "mapping"
}

func plural(s string) string {
	switch {
	case strings.HasPrefix(s, "list of ") || strings.HasPrefix(s, "mapping to ") || strings.Contains(s, ","):
		return s
	case s == "text" || s == "true or false" || s == "any" || strings.Contains(s, " or "):
		return s
	}
	return s + "s"
}

// valueTypes are the types with a syntax of their own.
var valueTypes = []SchemaProvider{Duration(0), Rate(0), Percent(0), Size(0), Pick{}, Signal{}, Regexp{}, DurationCond{}, PercentCond{}, NumberCond{}, Matcher{}, Path("")}

func valuesBody() string {
	var b strings.Builder
	b.WriteString("Values with a syntax of their own. Any value may also be a `${variable}` (see Variables).\n\n| value | written as |\n|---|---|\n")
	for _, v := range valueTypes {
		s := v.JSONSchema()
		fmt.Fprintf(&b, "| %s | %s |\n", s["title"], cell(s["description"].(string)))
	}
	b.WriteString("\nText is UTF-8: a `\\x` escape above `\\x7f` in a double-quoted string is a character, sent as two bytes (`\"\\xd2\"` as c3 92). Raw bytes, for a binary protocol, are written as YAML's `!!binary` with their base64: `send: !!binary AAAACATSFi8=` is 00 00 00 08 04 d2 16 2f.\n")
	return b.String()
}

// stepTables lists the keys of each kind of step.
func stepTables(step map[string]any, keyTable func(map[string]any, func(string) bool) string) string {
	var b strings.Builder
	for _, a := range alternatives(step) {
		fmt.Fprintf(&b, "\n%s %s %s.\n\n%s", article(a["title"].(string)), a["title"], a["description"], keyTable(a, nil))
	}
	return b.String()
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "An"
	}
	return "A"
}

// node follows keys down a schema; it is nil where one is missing, so
// that a section whose schema changed shape shows less rather than
// failing.
func node(s map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		s, _ = s[k].(map[string]any)
	}
	return s
}

// alternatives lists the oneOf or anyOf alternatives of a schema.
func alternatives(s map[string]any) []map[string]any {
	var out []map[string]any
	for _, k := range []string{"oneOf", "anyOf"} {
		l, _ := s[k].([]any)
		for _, a := range l {
			if m, ok := a.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// objectTables lists an object's keys, then those of each key that is a
// mapping of its own (a load stream's http), then, for a schema of several
// titled alternatives, each alternative's.
func objectTables(s map[string]any, keyTable func(map[string]any, func(string) bool) string) string {
	var b strings.Builder
	props := node(s, "properties")
	if len(props) > 0 {
		b.WriteString(keyTable(s, nil))
		for _, k := range slices.Sorted(maps.Keys(props)) {
			if p, _ := props[k].(map[string]any); len(node(p, "properties")) > 0 {
				fmt.Fprintf(&b, "\n%s:\n\n%s", k, keyTable(p, nil))
			}
		}
	}
	for _, a := range alternatives(s) {
		if t, ok := a["title"].(string); ok {
			fmt.Fprintf(&b, "\n%s: %v\n\n%s", t, a["description"], objectTables(a, keyTable))
		}
	}
	return b.String()
}

func yamlBlock(s string) string { return "```yaml\n" + s + "\n```\n" }

const variablesBody = "`${NAME}` in any value (never in a key) is replaced when the file is loaded:\n\n" +
	"| reference | replaced with |\n|---|---|\n" +
	"| `${NAME}` | the variable NAME from vars:, or from `--var NAME=VALUE`, which wins; the values under vars: may use `${env:NAME}` and `${file_dir}`, not each other |\n" +
	"| `${env:NAME}` | the environment variable NAME; an unset one is an error. Its value is a secret: it is shown as `***` in every output (events, journals, reports, notifications, problems and warnings, the logs of services), also JSON-escaped, quoted or percent-encoded, and in the base64 of a text that begins with it (the ledger keeps the commands it must run as they are); a value shorter than 4 characters is not masked, and is warned of |\n" +
	"| `${file_dir}` | the directory of the experiment file, as an absolute path |\n" +
	"| `${uuid}` | a new random UUID for each load request, observation and step: in load requests and in the settings of probes, exec steps and faults |\n" +
	"| `${seq}` | the number of a load stream's request, from 1: in load requests only |\n" +
	"| `${NAME.field}` | the output field of the earlier step with `as: NAME` (see the probe kinds and method for each step's fields): in the probe, exec, undo and with settings of method and rollback steps |\n" +
	"| `$${` | the literal text `${` |\n\n" +
	"A variable that no value uses is a warning, and a `--var` that sets it an error: the value it\n" +
	"would set is written out where it was meant to go, or the reference to it is misspelt.\n" +
	"Inside `{ }` or `[ ]` a reference is quoted, as in `{delay: \"${d}\"}`: unquoted, its `{` is a bracket.\n\n" +
	yamlBlockConst
const yamlBlockConst = "```yaml\nvars: {shop: \"http://127.0.0.1:8080\"}\nload:\n  - name: place-order\n    http:\n      method: POST\n      url: \"${shop}/orders\"\n      headers: {Idempotency-Key: \"${uuid}\", Authorization: \"Bearer ${env:SHOP_TOKEN}\"}\n    rate: 10/s\nmethod:\n  - fault: kill\n    target: payment-container\n    as: killed\n  - probe: {docker: {name: \"${killed.name}\", within: 20s}}\n    expect: {running: true, min_restarts: 1}\n```\n"

const pathsBody = "A relative path in an experiment is taken from the directory of the\n" +
	"experiment file, not from where chaos runs: the command of a service or an\n" +
	"exec step (when it holds a /, such as `./bin/payment`), their dir, a process\n" +
	"target's pid_file, and any other path-valued setting. A command without a\n" +
	"/ is looked up in PATH, and a service or exec step runs in the\n" +
	"experiment file's directory unless dir says otherwise. `${file_dir}` is that\n" +
	"directory, for paths inside arguments (`[sh, -c, \"cat ${file_dir}/x\"]`).\n" +
	"Paths given on the command line (`--report-dir`) are taken from the\n" +
	"working directory, as usual.\n"
