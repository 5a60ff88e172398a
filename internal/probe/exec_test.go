package probe_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/probe"
	"github.com/gamedayhq/chaos/internal/runner"
)

// An exec probe whose command cannot start is no observation: Err is set.
// One that ran and failed is a failed observation.
func TestExecProbeCannotStart(t *testing.T) {
	spec, expect := newExec(t, "/nonexistent/cmd")
	res := probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err == nil {
		t.Errorf("Run(missing command) = %+v; want an error", res)
	}
	spec, expect = newExec(t, "false")
	res = probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err != nil || res.Reason != "exit code 1, want == 0" {
		t.Errorf("Run(false) = %+v; want a failed observation", res)
	}
	if got := probe.Limit(spec); got != 10*time.Second {
		t.Errorf("Limit(exec) = %s; want its default timeout, 10s", got)
	}
}

func newExec(t *testing.T, run string) (any, any) {
	t.Helper()
	k, ok := probe.Lookup("exec")
	if !ok {
		t.Fatal("no exec probe")
	}
	spec, expect := k.New()
	spec.(*probe.ExecSpec).SetDefaults()
	spec.(*probe.ExecSpec).Run = []string{run}
	return spec, expect
}

func TestExecExpectations(t *testing.T) {
	for _, tt := range []struct {
		name   string
		run    string
		expect string // YAML of the expectations
		reason string // "" when they hold
		value  string // the value observed, if any
	}{
		{"latency holds", "sleep 0.05", `latency: "< 5s"`, "", ""},
		{"latency breaks", "sleep 0.3", `latency: "< 100ms"`, "want < 100ms", ""},
		{"json value", `echo '{"replication": {"lag": 2.5}}'`, `stdout_value: {json: replication.lag, value: "< 5"}`, "", "2.5"},
		{"json value breaks", `echo '{"replication": {"lag": 12}}'`, `stdout_value: {json: replication.lag, value: "< 5"}`, "stdout replication.lag is 12, want < 5", "12"},
		{"json missing", `echo '{"replication": {}}'`, `stdout_value: {json: replication.lag, value: "< 5"}`, "stdout has no replication.lag", ""},
		{"not json", `echo 'lag 3'`, `stdout_value: {json: lag, value: "< 5"}`, "stdout is not JSON", ""},
		{"match", `printf 'tps = 812.5 (without initial connection time)\nsuccess ratio 0.998\n'`, `stdout_value: {match: 'success ratio ([0-9.]+)', value: ">= 0.99"}`, "", "0.998"},
		{"match breaks", `echo 'success ratio 0.7'`, `stdout_value: {match: 'success ratio ([0-9.]+)', value: ">= 0.99"}`, `stdout's match of "success ratio ([0-9.]+)" is 0.7, want >= 0.99`, "0.7"},
		{"no match", `echo 'nothing'`, `stdout_value: {match: 'ratio ([0-9.]+)', value: ">= 0.99"}`, "stdout does not match", ""},
		{"not a number", `echo 'ratio high'`, `stdout_value: {match: 'ratio (\w+)', value: ">= 0.99"}`, `is "high", not a number`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("version: v1\ntitle: t\nsteady_state:\n  - name: c\n    probe: {exec: {run: [%q], shell: true}}\n    expect: {%s}\n", tt.run, tt.expect)
			exp, err := experiment.Parse("t.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
			if err != nil {
				t.Fatal(err)
			}
			c := exp.SteadyState[0]
			res := probe.Run(context.Background(), "exec", c.Probe.Spec, c.Expect)
			switch {
			case res.Err != nil:
				t.Fatalf("Run = error %v", res.Err)
			case tt.reason == "" && !res.OK:
				t.Errorf("Run failed: %s; want it to hold", res.Reason)
			case tt.reason != "" && (res.OK || !strings.Contains(res.Reason, tt.reason)):
				t.Errorf("Run = ok %v, %q; want a failure saying %q", res.OK, res.Reason, tt.reason)
			}
			if res.Observed["value"] != tt.value {
				t.Errorf("observed value %q; want %q", res.Observed["value"], tt.value)
			}
			if res.Observed["latency"] == "" || res.Observed["exit_code"] != "0" {
				t.Errorf("observed %v; want the latency and exit code 0", res.Observed)
			}
		})
	}
}

// The journal keeps the last lines of a command's output, not all of it.
func TestExecObservesLastLines(t *testing.T) {
	spec, expect := newExec(t, "sh")
	spec.(*probe.ExecSpec).Run = []string{"sh", "-c", "seq 1 100; echo oops >&2"}
	res := probe.Run(context.Background(), "exec", spec, expect)
	if !res.OK {
		t.Fatalf("Run: %s", res.Reason)
	}
	if got := res.Observed["stdout"]; got != "96\n97\n98\n99\n100" {
		t.Errorf("observed stdout %q; want its last 5 lines", got)
	}
	if got := res.Observed["stderr"]; got != "oops" {
		t.Errorf("observed stderr %q; want oops", got)
	}
}

// A command killed by a signal (the OOM killer under a memory fault, a
// crash) has no exit code: the -1 it reads as held "< 2" and "!= 0", and
// a probe that never answered passed. It fails, saying the signal.
func TestExecKilledBySignalFails(t *testing.T) {
	for _, want := range []string{`"< 2"`, `"!= 0"`} {
		src := fmt.Sprintf("version: v1\ntitle: t\nsteady_state:\n  - name: c\n    probe: {exec: {run: [sh, -c, 'kill -KILL $$']}}\n    expect: {exit_code: %s}\n", want)
		exp, err := experiment.Parse("t.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
		if err != nil {
			t.Fatal(err)
		}
		c := exp.SteadyState[0]
		res := probe.Run(context.Background(), "exec", c.Probe.Spec, c.Expect)
		if res.OK || res.Err != nil || !strings.Contains(res.Reason, "killed by SIGKILL") || res.Observed["signal"] != "SIGKILL" {
			t.Errorf("exit_code %s: Run = ok %v, err %v, %q, observed %v; want a failure saying it was killed by SIGKILL", want, res.OK, res.Err, res.Reason, res.Observed)
		}
	}
}

// A probe quotes an output cut short: it masks the secrets in it first, so
// that a secret the cut falls in is not shown in part.
func TestExecOutputMaskedBeforeCut(t *testing.T) {
	const secret = "tok-0123456789abcdefghijklmnopqrstuvwxyz"
	mask := func(s string) string { return strings.ReplaceAll(s, secret, experiment.Mask) }
	ctx := probe.WithMask(context.Background(), mask)
	line := strings.Repeat("x", 185) + secret
	spec, expect := newExec(t, "echo")
	spec.(*probe.ExecSpec).Run = []string{"sh", "-c", "echo $0; echo $0 >&2; exit 1", line}
	res := probe.Run(ctx, "exec", spec, expect)
	if !strings.Contains(res.Reason, "exit code 1") {
		t.Fatalf("Run = %+v; want it to fail on its exit code", res)
	}
	spec.(*probe.ExecSpec).Run = []string{"sh", "-c", "echo $0", line}
	expect.(*probe.ExecExpect).StdoutContains = "nothing like it"
	res2 := probe.Run(ctx, "exec", spec, expect)
	for _, text := range []string{res.Reason, res.Observed["stdout"], res.Observed["stderr"], res2.Reason} {
		if strings.Contains(text, "tok-0123") || !strings.Contains(text, experiment.Mask) {
			t.Errorf("%q: want the secret masked whole", text)
		}
	}
}
