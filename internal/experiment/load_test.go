package experiment_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	_ "github.com/gamedayhq/chaos/internal/inject/process"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/probe"
	"github.com/gamedayhq/chaos/internal/runner"
	"gopkg.in/yaml.v3"
)

const typical = `version: v1
title: A slow payment service must not take the shop down
description: Payment answers after 3 s. Orders are still accepted and the cart stays fast.
tags: [payment, latency]
vars: {shop: "http://127.0.0.1:8080", token: "${env:SHOP_TOKEN}"}
services:
  - name: payment
    run: [./bin/payment, -listen, 127.0.0.1:9090]
    ready: {http: {url: "http://127.0.0.1:9090/health"}, within: 10s}
targets:
  payment-process:
    process: {cmdline: "bin/payment", pick: 1, max: 3}
load:
  - name: view-cart
    http: {url: "${shop}/cart/42", headers: {Authorization: "Bearer ${token}"}}
    rate: 50/s
  - name: place-order
    http: {method: POST, url: "${shop}/orders", body: '{"item":"book"}', headers: {Idempotency-Key: "${uuid}"}}
    rate: 10/s
steady_state:
  - name: cart stays fast
    from: view-cart
    expect: {p99: "< 300ms", success: ">= 99.5%"}
  - name: payment healthy
    probe: {http: {url: "http://127.0.0.1:9090/health"}}
    expect: {status: 200, json: {status: ok}}
    when: [before, after]
method:
  - fault: stop
    target: payment-process
    for: 30s
    as: stopped
  - wait: 5s
  - probe: {exec: {run: [echo, "${stopped.id}"]}}
    expect: {exit_code: 0}
  - fault: kill
    target: payment-process
    with: {signal: SIGKILL}
abort_when:
  - name: cart mostly up
    from: view-cart
    expect: {success: ">= 80%"}
    failures: 3
recovery: {within: 20s}
`

func opts() experiment.Options {
	return experiment.Options{
		Catalog: runner.Catalog{},
		LookupEnv: func(k string) (string, bool) {
			return map[string]string{"SHOP_TOKEN": "s3cr3t-token"}[k], k == "SHOP_TOKEN"
		},
	}
}

func TestParseTypical(t *testing.T) {
	e, err := experiment.Parse("typical.yaml", []byte(typical), opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Load[0].HTTP.Headers["Authorization"]; got != "Bearer s3cr3t-token" {
		t.Errorf("header = %q; want the secret substituted", got)
	}
	if got := e.Load[1].HTTP.Headers["Idempotency-Key"]; got != "${uuid}" {
		t.Errorf("Idempotency-Key = %q; want ${uuid} left for the load generator", got)
	}
	if e.Targets[0].Kind != "process" || len(e.Method) != 4 || e.Method[2].Probe.Kind != "exec" {
		t.Errorf("parsed shape: target kind %q, %d steps", e.Targets[0].Kind, len(e.Method))
	}
}

func TestSecretsMasked(t *testing.T) {
	e, err := experiment.Parse("typical.yaml", []byte(typical), opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Secrets) != 1 || e.Secrets[0] != "s3cr3t-token" {
		t.Errorf("Secrets = %q", e.Secrets)
	}
	var walk func(v any) string
	walk = func(v any) string {
		switch x := v.(type) {
		case map[string]any:
			var b strings.Builder
			for k, v := range x {
				b.WriteString(k + "=" + walk(v) + " ")
			}
			return b.String()
		case []any:
			var b strings.Builder
			for _, v := range x {
				b.WriteString(walk(v) + " ")
			}
			return b.String()
		case string:
			return x
		}
		return ""
	}
	resolved := walk(e.Resolved)
	if strings.Contains(resolved, "s3cr3t") {
		t.Errorf("the resolved experiment shows the secret: %s", resolved)
	}
	if !strings.Contains(resolved, "Bearer ***") || !strings.Contains(resolved, "token=***") {
		t.Errorf("the resolved experiment does not show the secret masked: %s", resolved)
	}
}

// TestSecretsMaskedInProblems: a problem quotes the value it found, and
// a value taken from the environment is a secret there too, as are the
// warnings (validate prints them, and CI logs keep them).
func TestSecretsMaskedInProblems(t *testing.T) {
	src := `version: v1
title: t
vars: {token: "${env:SHOP_TOKEN}"}
steady_state:
  - name: "check ${token}"
    probe: {http: {url: "http://127.0.0.1:${token}/"}}
  - name: "probe ${token}"
    probe: {tcp: {address: "127.0.0.1:1"}}
method:
  - wait: "${token}"
`
	_, err := experiment.Parse("bad.yaml", []byte(src), opts())
	if err == nil {
		t.Fatal("Parse accepted a bad port and a bad wait")
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "***") {
		t.Errorf("Parse = %v; want the secret masked", err)
	}
	e, err := experiment.Parse("ok.yaml", []byte(strings.Replace(strings.Replace(src, "${token}/", "1/", 1), `wait: "${token}"`, "exec: {run: [\"true\"]}", 1)), opts())
	if err != nil {
		t.Fatal(err)
	}
	w := e.Warnings()
	if len(w) == 0 {
		t.Fatal("no warnings for checks during a method with no planned length")
	}
	if strings.Contains(w.Error(), "s3cr3t") || !strings.Contains(w.Error(), "***") {
		t.Errorf("Warnings = %v; want the secret masked", w)
	}
}

// TestLongSecretCutInProblems: a problem quotes a long value cut short;
// a secret the cut falls in is masked, not shown in part.
func TestLongSecretCutInProblems(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	src := "version: v1\ntitle: t\nmethod:\n  - wait: \"${env:JWT}\"\n  - wait: \"1s${env:JWT}\"\n"
	_, err := experiment.Parse("jwt.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{},
		LookupEnv: func(string) (string, bool) { return jwt, true }})
	if err == nil {
		t.Fatal("Parse accepted a token for a duration")
	}
	if strings.Contains(err.Error(), "eyJhbGci") || strings.Count(err.Error(), "***") != 2 {
		t.Errorf("Parse = %v; want the token masked, though cut short", err)
	}
}

// TestShortSecretWarned: a value too short to be masked is not, and the
// warnings say so, since the format promises *** for every secret.
func TestShortSecretWarned(t *testing.T) {
	src := "version: v1\ntitle: t\nmethod:\n  - exec: {run: [echo, \"${env:PIN}\", \"${env:TOKEN}\"]}\n"
	e, err := experiment.Parse("pin.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{},
		LookupEnv: func(k string) (string, bool) { return map[string]string{"PIN": "123", "TOKEN": "long-enough"}[k], true }})
	if err != nil {
		t.Fatal(err)
	}
	w := e.Warnings().Error()
	if !strings.Contains(w, "environment variable PIN is shorter than 4 characters: it is not masked") || strings.Contains(w, "TOKEN") {
		t.Errorf("Warnings = %s; want PIN, alone, named as too short to be masked", w)
	}
}

func TestVarOverride(t *testing.T) {
	o := opts()
	o.Vars = map[string]string{"shop": "http://127.0.0.1:9999"}
	e, err := experiment.Parse("typical.yaml", []byte(typical), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Load[0].HTTP.URL; got != "http://127.0.0.1:9999/cart/42" {
		t.Errorf("url = %q", got)
	}
}

// A var that no value uses is a var whose --var changes nothing: the
// file's own value of what it was meant for stays, and the run tests
// that. It is a warning at its line, and UsesVar says so to the command
// line.
func TestUnusedVarWarned(t *testing.T) {
	src := `version: v1
title: unused var
vars:
  delay: 2s
  port: "9090"
  escaped: x
steady_state:
  - name: up
    probe: {http: {url: "http://127.0.0.1:${port}/", headers: {X-Literal: "$${escaped}"}}}
method:
  - wait: 5s
`
	e, err := experiment.Parse("unused.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range e.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`unused.yaml:4:3: variable "delay" is declared but no value uses it: setting it with --var delay=... would change nothing`,
		`unused.yaml:6:3: variable "escaped" is declared but no value uses it: setting it with --var escaped=... would change nothing`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings = %q; want %q", got, want)
	}
	if !e.UsesVar("port") || e.UsesVar("delay") || e.UsesVar("escaped") || e.UsesVar("nope") {
		t.Errorf("UsesVar: port %v, delay %v, escaped %v, nope %v; want only port", e.UsesVar("port"), e.UsesVar("delay"), e.UsesVar("escaped"), e.UsesVar("nope"))
	}
}

// An alias of a value under vars stood for its text as written, never
// substituted: a header "Bearer ${env:TOKEN}" went out as that text. It
// is refused at the alias, with the reference to write.
func TestAliasOfVarRefused(t *testing.T) {
	src := `version: v1
title: alias of a var
vars:
  auth: &auth "Bearer ${env:SHOP_TOKEN}"
steady_state:
  - name: up
    probe: {http: {url: "http://127.0.0.1:1/", headers: {Authorization: *auth}}}
method:
  - wait: 5s
`
	_, err := experiment.Parse("alias.yaml", []byte(src), opts())
	want := `alias.yaml:7:73: alias *auth stands for the value of variable "auth" as written, which is not substituted here: write "${auth}"`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %q", err, want)
	}
}

// --var wins over the file's value: a value that reads an environment
// variable that is not set is no error when --var sets the var, as it is
// never used; its other mistakes still are.
func TestVarOverridesUnsetEnv(t *testing.T) {
	src := `version: v1
title: override
vars:
  token: "${env:NOT_SET}"
  other: "${env:NOT_SET"
steady_state:
  - name: up
    probe: {http: {url: "http://127.0.0.1:1/", headers: {Authorization: "Bearer ${token}", X-Other: "${other}"}}}
method:
  - wait: 5s
`
	o := opts()
	o.Vars = map[string]string{"token": "abc", "other": "x"}
	_, err := experiment.Parse("override.yaml", []byte(src), o)
	want := `override.yaml:5:10: variable "other": unterminated reference "${env:NOT_SET": close it with }`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want only %q", err, want)
	}
}

// A var's value is text put in one value, never YAML: a --var that holds
// YAML syntax (a brace and a key, a line break and a key) cannot add keys
// or change the file's structure. It is the text of the value it lands
// in, and is judged as such, at that value's line.
func TestVarValueIsNeverYAML(t *testing.T) {
	src := `version: v1
title: injection
vars:
  signal: SIGTERM
targets:
  victim: {process: {pid: 1}}
method:
  - fault: kill
    target: victim
    with:
      signal: ${signal}
`
	for _, v := range []string{"SIGKILL}, pick: 0", "SIGKILL\n      pick: 0", "SIGKILL # x", "*anchor", "!!binary AAAA"} {
		o := opts()
		o.Vars = map[string]string{"signal": v}
		_, err := experiment.Parse("inject.yaml", []byte(src), o)
		if err == nil || !strings.HasPrefix(err.Error(), "inject.yaml:11:15: signal in fault \"kill\": ") || strings.Contains(err.Error(), "\ninject.yaml") {
			t.Errorf("--var signal=%q: Parse = %v; want one error at line 11, the signal's", v, err)
		}
	}
	o := opts()
	o.Vars = map[string]string{"signal": "SIGKILL"}
	if _, err := experiment.Parse("inject.yaml", []byte(src), o); err != nil {
		t.Errorf("--var signal=SIGKILL: %v", err)
	}
}

// A key with nothing after it, what was under it commented out, left out
// what it sets: an exec probe whose stdout_value was empty passed on its
// exit code alone. It is refused at the key's value.
func TestNothingGivenRefused(t *testing.T) {
	src := `version: v1
title: nothing given
services:
  - name: db
    run: [./db]
    ready:
steady_state:
  - name: replicated
    probe: {exec: {run: [echo, "lag=9"]}}
    expect:
      stdout_value:
        # match: lag=([0-9]+)
        # value: "< 5"
method:
  - wait: 5s
recovery:
`
	_, err := experiment.Parse("null.yaml", []byte(src), opts())
	want := "null.yaml:6:11: ready in service \"db\": nothing is given: write its settings ({} for the defaults), or remove the key\n" +
		"null.yaml:11:20: stdout_value in expect of check \"replicated\": nothing is given: write its settings ({} for the defaults), or remove the key\n" +
		"null.yaml:16:10: recovery in the experiment: nothing is given: write its settings ({} for the defaults), or remove the key"
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %q", err, want)
	}
}

// A var's value that uses another var, as a URL built from a port var
// does, was refused as an "undefined variable", although the file
// declares it: vars are not expanded with each other, and the message
// says so.
func TestVarInVarSaysWhy(t *testing.T) {
	src := `version: v1
title: vars in vars
vars:
  port: "2379"
  url: "http://127.0.0.1:${port}"
  other: "${prot}"
steady_state:
  - name: up
    probe: {http: {url: "${url}/health"}}
method:
  - wait: 1s
`
	_, err := experiment.Parse("vars.yaml", []byte(src), opts())
	if err == nil {
		t.Fatal("Parse accepted a var that uses another var")
	}
	msg := err.Error()
	if strings.Contains(msg, `undefined variable "port"`) || !strings.Contains(msg, `vars.yaml:5:8: variable "url": ${port} is another variable`) {
		t.Errorf("Parse = %v; want line 5 to say that ${port} is another variable, not that it is undefined", msg)
	}
	if !strings.Contains(msg, `vars.yaml:6:10: variable "other": undefined variable "prot"; did you mean "port"?`) {
		t.Errorf("Parse = %v; want line 6 to say that prot is undefined, with the var meant", msg)
	}
	// The probe's url, made of a var already reported, is not judged.
	if strings.Contains(msg, "vars.yaml:9:") {
		t.Errorf("Parse = %v; want nothing said of line 9, which uses the var of line 5", msg)
	}
}

func TestDefaults(t *testing.T) {
	e, err := experiment.Parse("typical.yaml", []byte(typical), opts())
	if err != nil {
		t.Fatal(err)
	}
	c := e.SteadyState[0]
	if strings.Join(c.When, ",") != "before,during,after" || c.Failures != 1 || c.Window.D().Seconds() != 5 {
		t.Errorf("check defaults: when %v, failures %d, window %s", c.When, c.Failures, c.Window)
	}
	if a := e.AbortWhen[0]; strings.Join(a.When, ",") != "during" || a.Failures != 3 {
		t.Errorf("abort defaults: when %v, failures %d", a.When, a.Failures)
	}
	if s := e.Load[0]; s.HTTP.Method != "GET" || s.Window.D().Seconds() != 1 || s.Timeout.D().Seconds() != 5 {
		t.Errorf("stream defaults: %s %s %s", s.HTTP.Method, s.Window, s.Timeout)
	}
	if e.Method[0].Name != "stop payment-process" || e.Method[1].Name != "wait 5s" {
		t.Errorf("step names: %q, %q", e.Method[0].Name, e.Method[1].Name)
	}
}

// BenchmarkLoad measures loading and validating a typical experiment.
func BenchmarkLoad(b *testing.B) {
	src := []byte(typical)
	o := opts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := experiment.Parse("typical.yaml", src, o); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse feeds the loader arbitrary files: it must never panic, every
// problem it reports must carry the file name and a line (but for an empty
// file and the count of problems not listed), a file over MaxFileSize is
// refused, and no file under it makes the loader allocate 256 MiB. The
// seeds include the hostile inputs of limits_test.go: alias bombs, merge
// keys, deep nesting, long files and files full of mistakes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(typical))
	for _, glob := range []string{"../../experiments/*.yaml", "../../experiments/*/*.yaml", "../../cmd/chaos/testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	// Small enough for the fuzzer to mutate quickly; TestHostileInputsBounded
	// loads each at the size limit.
	for _, h := range hostile {
		f.Add(h.gen(8 << 10))
	}
	o := opts()
	f.Fuzz(func(t *testing.T, src []byte) {
		var allocated uint64
		var err error
		if len(src) > 4<<10 {
			allocated, err = loadCost(src)
		} else {
			_, err = experiment.Parse("fuzz.yaml", src, o)
		}
		if allocated > 256<<20 {
			t.Fatalf("loading %d bytes allocated %d MiB", len(src), allocated>>20)
		}
		if len(src) > experiment.MaxFileSize && (err == nil || !strings.Contains(err.Error(), "the file is larger than")) {
			t.Fatalf("a file of %d bytes was not refused: %v", len(src), err)
		}
		if err == nil {
			return
		}
		var list experiment.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("error that is no list of problems: %v", err)
		}
		for _, e := range list {
			unplaced := e.Line == 0 && !strings.HasPrefix(e.Msg, "the file is empty") && !strings.HasSuffix(e.Msg, "more problems are not listed: fix the ones above first")
			if e.File != "fuzz.yaml" || unplaced {
				t.Fatalf("error without position: %q", e.Error())
			}
		}
	})
}

// BenchmarkYAMLBaseline parses the same file into a yaml.Node only: the
// floor under BenchmarkLoad.
func BenchmarkYAMLBaseline(b *testing.B) {
	src := []byte(typical)
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(src, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// A secret reached through a YAML alias is masked too.
func TestSecretThroughAlias(t *testing.T) {
	src := `version: v1
title: alias
vars: {token: "${env:SHOP_TOKEN}"}
steady_state:
  - name: one
    probe: {http: {url: "http://127.0.0.1:1/", headers: &h {Authorization: "Bearer ${token}"}}}
  - name: two
    probe: {http: {url: "http://127.0.0.1:2/", headers: *h}}
`
	e, err := experiment.Parse("alias.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	ss := e.Resolved["steady_state"].([]any)
	for _, c := range ss {
		h := c.(map[string]any)["probe"].(map[string]any)["http"].(map[string]any)["headers"].(map[string]any)
		if h["Authorization"] != "Bearer ***" {
			t.Errorf("resolved header = %q; want it masked", h["Authorization"])
		}
	}
}

// Step outputs exist only in steps: a check cannot use them.
func TestOutputsOnlyInSteps(t *testing.T) {
	src := `version: v1
title: outputs
targets:
  victim: {process: {pid: 1}}
steady_state:
  - name: up
    probe: {exec: {run: [echo, "${stopped.id}"]}}
method:
  - {fault: stop, target: victim, as: stopped}
`
	_, err := experiment.Parse("out.yaml", []byte(src), opts())
	if err == nil || !strings.Contains(err.Error(), "out.yaml:7:") || !strings.Contains(err.Error(), "method and rollback steps only") {
		t.Errorf("Parse = %v; want an error at line 7 about step outputs", err)
	}
}

// A fault step aimed at an earlier step's output (the leader an exec step
// found) was told it "needs a target" besides the error that says step
// outputs cannot be used there: it has one, which was already reported.
func TestTargetFromOutputSaidOnce(t *testing.T) {
	src := `version: v1
title: outputs
targets:
  m1: {process: {pid: 1}}
method:
  - exec: {run: [echo, m1]}
    as: leader
  - fault: stop
    target: "${leader.stdout}"
`
	_, err := experiment.Parse("out.yaml", []byte(src), opts())
	if err == nil || !strings.Contains(err.Error(), "out.yaml:9:13: ${leader.stdout} is a step's output") {
		t.Fatalf("Parse = %v; want an error at line 9 about step outputs", err)
	}
	if strings.Contains(err.Error(), "needs a target") {
		t.Errorf("Parse = %v; want nothing said of a missing target", err)
	}
}

// Steps without a name get one from what they do; the same step twice is
// fine and told apart by a number, while a name given twice is an error.
func TestStepNames(t *testing.T) {
	src := `version: v1
title: names
targets:
  victim: {process: {pid: 1}}
method:
  - wait: 1s
  - {fault: stop, target: victim, for: 1s}
  - wait: 1s
  - {name: "wait 1s (2)", wait: 2s}
  - wait: 1s
  - {fault: stop, target: victim, for: 1s}
`
	e, err := experiment.Parse("names.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range e.Method {
		got = append(got, s.Name)
	}
	want := "wait 1s|stop victim|wait 1s (3)|wait 1s (2)|wait 1s (4)|stop victim (2)"
	if strings.Join(got, "|") != want {
		t.Errorf("step names %q; want %q", strings.Join(got, "|"), want)
	}

	dup := strings.Replace(src, `{name: "wait 1s (2)", wait: 2s}`, `{name: settle, wait: 2s}
  - {name: settle, wait: 3s}`, 1)
	if _, err := experiment.Parse("dup.yaml", []byte(dup), opts()); err == nil || !strings.Contains(err.Error(), `dup.yaml:10:5: step name "settle" is used twice`) {
		t.Errorf("Parse with a name given twice = %v; want an error at 10:5", err)
	}
}

// What the loader leaves for run time is expanded there once: a value from
// vars, --var or the environment is text, never a reference, even where
// ${uuid} and ${seq} are expanded for each request or use.
func TestRuntimeReferencesStayText(t *testing.T) {
	src := `version: v1
title: "runtime ${note}"
vars: {note: "", token: "${env:SHOP_TOKEN}"}
load:
  - name: orders
    http:
      url: "http://127.0.0.1:1/${seq}/$${seq}"
      headers: {Idempotency-Key: "${uuid}", X-Note: "${note}", X-Token: "${token}"}
    rate: 1/s
steady_state:
  - name: up
    probe: {exec: {run: [echo, "${uuid}", "$${uuid}", "${note}"]}}
method:
  - wait: 1s
`
	o := opts()
	o.Vars = map[string]string{"note": "${uuid} ${seq} ${x.y}"}
	o.LookupEnv = func(string) (string, bool) { return "p4ss${uuid}", true }
	e, err := experiment.Parse("runtime.yaml", []byte(src), o)
	if err != nil {
		t.Fatal(err)
	}
	if want := "runtime ${uuid} ${seq} ${x.y}"; e.Title != want {
		t.Errorf("title %q; want %q", e.Title, want)
	}
	h := e.Load[0].HTTP
	v := load.Vars{Seq: 7, UUID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	for _, tt := range []struct{ got, want string }{
		{load.ParseTemplate(h.URL).Expand(v), "http://127.0.0.1:1/7/${seq}"},
		{load.ParseTemplate(h.Headers["Idempotency-Key"]).Expand(v), v.UUID},
		{load.ParseTemplate(h.Headers["X-Note"]).Expand(v), "${uuid} ${seq} ${x.y}"},
		{load.ParseTemplate(h.Headers["X-Token"]).Expand(v), "p4ss${uuid}"},
	} {
		if tt.got != tt.want {
			t.Errorf("request text %q; want %q", tt.got, tt.want)
		}
	}
	run := e.SteadyState[0].Probe.Spec.(*probe.ExecSpec).Run
	var got []string
	for _, a := range run {
		x, err := experiment.ExpandRuntime(a, nil, func() string { return v.UUID })
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if want := []string{"echo", v.UUID, "${uuid}", "${uuid} ${seq} ${x.y}"}; !slices.Equal(got, want) {
		t.Errorf("command %q; want %q", got, want)
	}
}

// A binary protocol's bytes above \x7f cannot be written with YAML's \x
// escapes, which make characters (sent as UTF-8: \xd2 as c3 92); YAML's
// !!binary, base64, is how a file gives raw bytes. It was read as the
// base64 text itself, sent as it stood. PostgreSQL's SSLRequest is
// 00 00 00 08 04 d2 16 2f; a !!binary that is not base64 is an error.
func TestBinaryText(t *testing.T) {
	src := `version: v1
title: binary
load:
  - name: ssl
    tcp: {address: "127.0.0.1:5432", send: !!binary AAAACATSFi8=, reply: "N"}
    rate: 1/s
  - name: plain
    tcp: {address: "127.0.0.1:5432", send: "\0\0\0\x08\x04\xd2\x16\x2f"}
    rate: 1/s
steady_state:
  - {name: up, from: ssl, expect: {success: ">= 90%"}}
`
	e, err := experiment.Parse("binary.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Load[0].Spec.(*load.TCPRequest).Send; got != "\x00\x00\x00\x08\x04\xd2\x16\x2f" {
		t.Errorf("send: !!binary AAAACATSFi8= is %q; want the bytes 00 00 00 08 04 d2 16 2f", got)
	}
	if got := e.Load[1].Spec.(*load.TCPRequest).Send; got != "\x00\x00\x00\x08\x04\u00d2\x16\x2f" {
		t.Errorf(`send: "...\xd2..." is %q; want the character U+00D2, as YAML has it`, got)
	}
	bad := strings.Replace(src, "AAAACATSFi8=", "not*base64", 1)
	if _, err := experiment.Parse("binary.yaml", []byte(bad), opts()); err == nil || !strings.Contains(err.Error(), "binary.yaml:5:") || !strings.Contains(err.Error(), "base64") {
		t.Errorf("!!binary not*base64: %v; want an error at its line saying it is not base64", err)
	}
}

// A tcp probe passes while the server it connects to is frozen: the
// kernel accepts for it. Watched during a method that freezes its target,
// it is warned of; watched during one that kills it, it is not.
func TestWarnTCPProbeUnderFreeze(t *testing.T) {
	src := `version: v1
title: t
targets:
  app: {process: {pid_file: /tmp/chaostest-app.pid}}
steady_state:
  - name: port open
    probe: {tcp: {address: "127.0.0.1:8080"}}
method:
  - {fault: FAULT, target: app, for: 2s}
`
	for fault, want := range map[string]bool{"stop": true, "kill": false} {
		e, err := experiment.Parse("t.yaml", []byte(strings.Replace(src, "FAULT", fault, 1)), opts())
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(e.Warnings().Error(), `check "port open" is a tcp probe, and step`)
		if got != want {
			t.Errorf("%s: warnings %v; want a warning of the tcp probe: %v", fault, e.Warnings(), want)
		}
	}
}
