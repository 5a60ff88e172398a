package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// nginxRow is one row of nginx's truth table: an experiment under
// testdata/components run against nginx as a reverse proxy, with the
// nginx.conf the row writes, and what the run must show.
type nginxRow struct {
	name string
	file string
	vars map[string]string
	// upstreams are the backends in nginx's upstream block: "a" (hello,
	// direct) and "b" (hello, through the fault proxy b-link).
	upstreams []string
	// solo runs nginx without a master process: its pid file names the
	// process that serves, which a stop fault then freezes.
	solo bool
	// bypass points nginx at b's own port rather than at its proxy, as a
	// user may by mistake: the proxy carries nothing.
	bypass bool
	// reason is what the verdict's reason must say, when set.
	reason string
	// want is the exit code the run must have; checks the result of each
	// check in each phase ("broken:WHAT" for a reason naming WHAT).
	want   int
	checks map[string]map[string]string
	// logged are regular expressions nginx's error log must match: that
	// the fault reached it (for a row that passes, that nginx met it and
	// retried on the other upstream).
	logged []string

	// What the run did.
	code    int
	took    time.Duration
	out     string
	prefix  string
	err     error
	stderr  string
	journal *journal.Journal
	retried []string
}

// TestNginx runs nginx (Debian's, from its own prefix and configuration,
// on loopback) in front of hello backends that the experiments start as
// services: faults on one of two upstreams behind "proxy_next_upstream
// error timeout" must leave it answering (passed), and a fault on its only
// upstream, or on nginx itself, must break the checks that judge it, with
// reasons that name what broke (deviated).
func TestNginx(t *testing.T) {
	t.Parallel()
	requireComponents(t, "nginx")
	held := map[string]string{"before": journal.Held, "during": journal.Held, "after": journal.Held}
	both := map[string]map[string]string{"nginx answers fast": held, "nginx answers a probe": held}
	broke := func(load, probe string) map[string]map[string]string {
		return map[string]map[string]string{
			"nginx answers fast":    {"before": journal.Held, "during": "broken:" + load, "after": journal.Held},
			"nginx answers a probe": {"before": journal.Held, "during": "broken:" + probe, "after": journal.Held},
		}
	}
	two := []string{"a", "b"}
	rows := []*nginxRow{
		// Must survive: nginx retries what b fails on a.
		{name: "kill one of two upstreams", file: "nginx-failover.yaml", vars: vars("fault", "kill", "target", "b"),
			upstreams: two, want: exitPassed, checks: both, logged: []string{"reset by peer|Connection refused|prematurely closed"}},
		{name: "stop one of two upstreams", file: "nginx-failover.yaml", vars: vars("fault", "stop", "target", "b"),
			upstreams: two, want: exitPassed, checks: both, logged: []string{"upstream timed out"}},
		{name: "down between nginx and one of two upstreams", file: "nginx-failover.yaml", vars: vars("fault", "down", "target", "b-link"),
			upstreams: two, want: exitPassed, checks: both, logged: []string{"Connection refused|reset by peer"}},
		{name: "reset between nginx and one of two upstreams", file: "nginx-failover.yaml", vars: vars("fault", "reset", "target", "b-link"),
			upstreams: two, want: exitPassed, checks: both, logged: []string{"reset by peer|prematurely closed"}},
		// nginx's workers serve: SIGSTOP to its master alone leaves them
		// answering, and the run says so.
		{name: "stop nginx's master", file: "nginx-failover.yaml", vars: vars("fault", "stop", "target", "nginx"),
			upstreams: two, want: exitPassed, checks: both},
		{name: "latency under proxy_read_timeout on the only upstream", file: "nginx-latency.yaml", vars: vars("delay", "100ms"),
			upstreams: []string{"b"}, want: exitPassed,
			checks: map[string]map[string]string{"nginx answers": held}},

		// Must break.
		{name: "stop the only upstream", file: "nginx-failover.yaml", vars: vars("fault", "stop", "target", "b"),
			upstreams: []string{"b"}, want: exitDeviated, checks: broke("status_504", "status 504"), logged: []string{"upstream timed out"}},
		{name: "latency past proxy_read_timeout on the only upstream", file: "nginx-latency.yaml", vars: vars("delay", "2s"),
			upstreams: []string{"b"}, want: exitDeviated, logged: []string{"upstream timed out"},
			checks: map[string]map[string]string{"nginx answers": {"before": journal.Held, "during": "broken:status_504", "after": journal.Held}}},
		{name: "stop nginx, one process", file: "nginx-failover.yaml", vars: vars("fault", "stop", "target", "nginx"),
			upstreams: two, solo: true, want: exitDeviated, checks: broke("requests still waiting", "timed out")},
		{name: "the only upstream answers 503", file: "nginx-http-error.yaml", vars: vars("status", "503"),
			upstreams: []string{"b"}, want: exitDeviated, checks: broke("status_503", "status 503")},
		{name: "the only upstream answers 502", file: "nginx-http-error.yaml", vars: vars("status", "502"),
			upstreams: []string{"b"}, want: exitDeviated, checks: broke("status_502", "status 502")},

		// Neither: nginx is not pointed at the proxy, which the fault then
		// acts on no traffic through; that is no pass.
		{name: "down on a proxy nginx does not use", file: "nginx-failover.yaml", vars: vars("fault", "down", "target", "b-link"),
			upstreams: two, bypass: true, want: exitErr, reason: `nothing has gone through proxy b-link`},
	}
	hello := buildHello(t)
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(t.TempDir(), hello)
		}()
	}
	wg.Wait()
	t.Logf("%d runs in %s", len(rows), time.Since(start).Round(time.Millisecond))
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { r.judge(t) })
	}
}

// buildHello builds the hello example service into a directory of its own.
func buildHello(t *testing.T) string {
	t.Helper()
	return buildStatic(t, "github.com/gamedayhq/chaos/examples/targets/hello")
}

// nginxConf is nginx's configuration for a row: its own temp paths under
// prefix, the upstreams on their ports, and short timeouts after which
// "proxy_next_upstream error timeout" tries the next upstream.
func (r *nginxRow) nginxConf(prefix string, ports map[string]string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n")
	}
	if r.solo {
		b.WriteString("master_process off;\n")
	}
	fmt.Fprintf(&b, "worker_processes 1;\nerror_log %s/error.log warn;\nevents { worker_connections 512; }\nhttp {\n  access_log off;\n", prefix)
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s/tmp/%s;\n", p, prefix, p)
	}
	b.WriteString("  upstream backends {\n")
	for _, u := range r.upstreams {
		port := ports["a"]
		if u == "b" {
			port = ports["b_link"]
			if r.bypass {
				port = ports["b"]
			}
		}
		// Three failures, not one, before nginx leaves an upstream alone
		// for 10s: one slow answer on a loaded machine before the fault
		// would otherwise keep its traffic off the fault's proxy.
		fmt.Fprintf(&b, "    server 127.0.0.1:%s max_fails=3 fail_timeout=10s;\n", port)
	}
	fmt.Fprintf(&b, `  }
  server {
    listen 127.0.0.1:%s;
    location / {
      proxy_pass http://backends;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 500ms;
      proxy_send_timeout 500ms;
      proxy_read_timeout 500ms;
    }
  }
}
`, ports["nginx"])
	return b.String()
}

// run runs the row's experiment through the chaos binary, as a user would.
// A run whose port was taken meanwhile by another test is run again on
// others, three times at most.
func (r *nginxRow) run(dir, hello string) {
	for attempt := 1; ; attempt++ {
		r.runOnce(filepath.Join(dir, strconv.Itoa(attempt)), hello)
		if r.err != nil || attempt == 3 || r.code == exitPassed || r.journal == nil ||
			!strings.Contains(r.journal.Reason, "address already in use") && !strings.Contains(r.journal.Reason, "already answers before") {
			return
		}
		r.retried = append(r.retried, r.journal.Reason)
	}
}

func (r *nginxRow) runOnce(dir, hello string) {
	r.err, r.journal, r.stderr = nil, nil, ""
	r.prefix = filepath.Join(dir, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(r.prefix, d), 0o755); err != nil {
			r.err = err
			return
		}
	}
	vars := maps.Clone(r.vars)
	vars["hello"], vars["prefix"] = hello, r.prefix
	taken := map[string]bool{}
	names := []string{"nginx", "b", "b_link"}
	if slices.Contains(r.upstreams, "a") || r.file == "nginx-failover.yaml" {
		names = append(names, "a")
	}
	for _, name := range names {
		port, err := freePort()
		for err == nil && taken[strconv.Itoa(port)] {
			port, err = freePort()
		}
		if err != nil {
			r.err = err
			return
		}
		vars[name] = strconv.Itoa(port)
		taken[vars[name]] = true
	}
	if err := os.WriteFile(filepath.Join(r.prefix, "nginx.conf"), []byte(r.nginxConf(r.prefix, vars)), 0o644); err != nil {
		r.err = err
		return
	}
	file, err := filepath.Abs(filepath.Join("testdata", "components", r.file))
	if err != nil {
		r.err = err
		return
	}
	r.out = filepath.Join(dir, "report")
	args := []string{"run", "--report-dir", r.out, "--ledger", filepath.Join(dir, "ledger")}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		args = append(args, "--var", k+"="+vars[k])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chaos", append(args, file)...)
	cmd.Dir = dir
	// chaos is this test binary: built with -race, it would sleep a second
	// on exit for reports that never come.
	cmd.Env = append(os.Environ(), "HOME="+dir, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r.took, r.stderr = time.Since(start), stderr.String()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.err = err
		return
	default:
		r.code = 0
	}
	b, err := os.ReadFile(filepath.Join(r.out, "journal.json"))
	if err != nil {
		r.err = fmt.Errorf("no journal (exit code %d): %v\n%s", r.code, err, r.stderr)
		return
	}
	r.journal = &journal.Journal{}
	r.err = json.Unmarshal(b, r.journal)
}

// judge checks the exit code, each check's result and reason, that the
// fault was injected and reverted, and that nginx met it.
func (r *nginxRow) judge(t *testing.T) {
	t.Logf("%s in %s", r.file, r.took.Round(time.Millisecond))
	for _, why := range r.retried {
		t.Logf("run again: %s", why)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := map[int]string{exitPassed: journal.Passed, exitDeviated: journal.Deviated, exitErr: journal.Errored}[r.want]
	if r.code != r.want || r.journal.Verdict != want {
		t.Fatalf("exit code %d, verdict %s: %s; want exit code %d, %s\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.want, want, r.stderr)
	}
	if !strings.Contains(r.journal.Reason, r.reason) {
		t.Errorf("verdict %s: %s; want its reason to say %q", r.journal.Verdict, r.journal.Reason, r.reason)
	}
	cr := componentRun{code: r.code, stderr: r.stderr, journal: r.journal}
	cr.expectChecks(t, r.checks)
	if len(r.journal.Faults) != 1 || r.journal.Faults[0].Injected.IsZero() {
		t.Fatalf("faults %+v; want the one fault injected", r.journal.Faults)
	}
	if f := r.journal.Faults[0]; f.Fault != "kill" && f.Reverted.IsZero() {
		t.Errorf("fault %s on %s was not reverted", f.Fault, f.TargetName)
	}
	log, err := os.ReadFile(filepath.Join(r.prefix, "error.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.logged {
		if !regexp.MustCompile(s).Match(log) {
			t.Errorf("nginx's error log does not say %q: the fault did not reach nginx\n%s", s, log)
		}
	}
	if t.Failed() {
		t.Logf("chaos's output:\n%s", r.stderr)
	}
}
