package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/internal/experiment"
	_ "github.com/gamedayhq/chaos/internal/inject/process"
	_ "github.com/gamedayhq/chaos/internal/inject/proxy"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/porttest"
	"github.com/gamedayhq/chaos/internal/report"
	"github.com/gamedayhq/chaos/internal/runner"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("RUNNER_TEST_SERVE"); addr != "" {
		serveForTest(addr, os.Getenv("RUNNER_TEST_PIDFILE"))
		return
	}
	goleak.VerifyTestMain(m,
		// The HTTP clients of probes keep idle connections for reuse.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// service is a local HTTP server whose behaviour a test can change while
// it runs: GET /fail?n=N makes the next N requests to / answer 503, and
// GET /slow?ms=N answers after N milliseconds.
type service struct {
	*httptest.Server
	failNext atomic.Int64
}

func newService(t *testing.T) *service {
	s := &service{}
	mux := http.NewServeMux()
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		s.failNext.Store(int64(n))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Take one of the failures owed, if any. A decrement below zero
		// put back afterwards would race with a /fail between the two and
		// wipe the failures it asked for.
		for n := s.failNext.Load(); n > 0; n = s.failNext.Load() {
			if s.failNext.CompareAndSwap(n, n-1) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// freePort returns a free loopback port that no other test of this
// process is given (see porttest.Free): a service's address and its run's
// proxy never meet on one.
func freePort(t *testing.T) string {
	t.Helper()
	p, err := porttest.Free()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}

// run loads an experiment, with ${up} the test service's address and
// ${px} a free port for a proxy, and runs it.
func run(t *testing.T, src string, s *service) *journal.Journal {
	t.Helper()
	src = strings.NewReplacer("${up}", strings.TrimPrefix(s.URL, "http://"), "${px}", "127.0.0.1:"+freePort(t)).Replace(src)
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger"})
}

func check(j *journal.Journal, name string) *journal.Check {
	for _, c := range j.Checks {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// A check on load fails during an induced slowdown and holds before and
// after it. The threshold sits far from both the fault and a loaded
// machine's own latency, so that only the fault can break it.
func TestCheckFailsDuringSlowdown(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: slowdown
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 500ms
steady_state:
  - name: fast
    from: calls
    window: 1s
    expect: {p99: "< 400ms", success: ">= 99%"}
method:
  - {fault: latency, target: link, with: {delay: 900ms}, for: 2s}
recovery: {within: 5s}
`, s)
	c := check(j, "fast")
	if got := fmt.Sprint(c.Results); got != "map[after:held before:held during:broken]" {
		t.Fatalf("results %s (reasons %v); want held before, broken during, held after", got, c.Reasons)
	}
	if j.Verdict != journal.Deviated || !strings.Contains(j.Reason, `check "fast" broke during the method: p99`) {
		t.Errorf("verdict %s: %s", j.Verdict, j.Reason)
	}
	// The check must break while the fault is on, not before.
	f := j.Faults[0]
	if c.BrokeAt.Before(f.Injected) || c.BrokeAt.After(f.Reverted.Add(time.Second)) {
		t.Errorf("broke at %s, fault from %s to %s", c.BrokeAt, f.Injected, f.Reverted)
	}
}

// failures: N tolerates N-1 failed observations in a row, not N.
func TestFailuresTolerance(t *testing.T) {
	for _, tt := range []struct {
		bad     int
		verdict string
	}{{2, journal.Passed}, {3, journal.Deviated}} {
		t.Run(fmt.Sprintf("%d bad", tt.bad), func(t *testing.T) {
			s := newService(t)
			j := run(t, fmt.Sprintf(`version: v1
title: tolerance
steady_state:
  - name: up
    probe: {http: {url: "http://${up}/"}}
    interval: 50ms
    failures: 3
    when: [during]
method:
  - name: make the next %d answers fail
    probe: {http: {url: "http://${up}/fail?n=%d"}}
  - wait: 800ms
`, tt.bad, tt.bad), s)
			fails := 0
			for _, smp := range check(j, "up").Samples {
				if !smp.OK {
					fails++
				}
			}
			if fails != tt.bad {
				t.Fatalf("%d failed samples; want %d (the test service did not fail as told)", fails, tt.bad)
			}
			if j.Verdict != tt.verdict {
				t.Errorf("verdict %s (%s); want %s", j.Verdict, j.Reason, tt.verdict)
			}
		})
	}
}

// An abort condition reverts every fault within one window plus 100 ms of
// the failing sample.
func TestAbortReverts(t *testing.T) {
	s := newService(t)
	start := time.Now()
	j := run(t, `version: v1
title: abort
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 500ms
abort_when:
  - name: mostly ok
    from: calls
    window: 500ms
    expect: {success: ">= 50%"}
method:
  - {fault: http_error, target: link, with: {status: 500}, for: 30s}
`, s)
	if j.Verdict != journal.Aborted {
		t.Fatalf("verdict %s (%s); want aborted", j.Verdict, j.Reason)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %s: the abort did not cut the 30 s fault short", took)
	}
	var failing time.Time
	for _, smp := range check(j, "mostly ok").Samples {
		if !smp.OK {
			failing = smp.Time
			break
		}
	}
	if j.Abort == nil || j.Abort.Reverted.IsZero() || failing.IsZero() {
		t.Fatalf("abort record %+v, failing sample at %s", j.Abort, failing)
	}
	if d := j.Abort.Reverted.Sub(failing); d > 600*time.Millisecond {
		t.Errorf("the last revert came %s after the failing sample; want within one window plus 100ms", d)
	}
}

// The time to recover is measured within one window of the truth.
func TestRecoveryTime(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: recovery
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 500ms
steady_state:
  - name: fast
    from: calls
    window: 1s
    expect: {p99: "< 400ms"}
    when: [before, after]
method:
  - {fault: latency, target: link, with: {delay: 900ms}, for: 1500ms}
recovery: {within: 5s}
`, s)
	c := check(j, "fast")
	if c.Recovered == nil || !c.Recovered.OK {
		t.Fatalf("no recovery: %+v (%s)", c.Recovered, j.Reason)
	}
	// The truth: requests sent after the revert are fast at once; the ones
	// in flight then finish within the 900 ms delay. The threshold sits far
	// from both the delay and a loaded machine's own latency.
	truth := 900 * time.Millisecond
	// The load generator measures latency from each request's due time: a
	// window whose requests were sent more than the threshold late (the
	// machine was too busy to send them) fails whatever the system does,
	// and delays the measured recovery by a window.
	slack := 500 * time.Millisecond
	for _, w := range j.Windows {
		if w.End.After(j.Faults[0].Reverted) && w.Start.Before(c.Recovered.At) && w.Lag > 200*time.Millisecond {
			slack += 500 * time.Millisecond
		}
	}
	if got := c.Recovered.After; got > truth+slack {
		var lines []string
		for _, smp := range c.Samples {
			lines = append(lines, fmt.Sprintf("%s %s ok=%v %s %v", smp.Time.Sub(j.Faults[0].Reverted), smp.Phase, smp.OK, smp.Reason, smp.Observed))
		}
		for _, w := range j.Windows {
			lines = append(lines, fmt.Sprintf("window %s..%s lag %s", w.Start.Sub(j.Faults[0].Reverted), w.End.Sub(j.Faults[0].Reverted), w.Lag))
		}
		t.Errorf("recovered after %s; want within %s of %s; samples:\n%s", got, slack, truth, strings.Join(lines, "\n"))
	}
	if j.Verdict != journal.Passed {
		t.Errorf("verdict %s: %s", j.Verdict, j.Reason)
	}
}

// Recovery is judged from the end of the method when steps ran after the
// last revert: the deadline cannot pass while the method still runs.
func TestRecoveryAfterLaterSteps(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: recovery after later steps
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: fast
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    expect: {latency: "< 150ms"}
    when: [before, after]
method:
  - {fault: latency, target: link, with: {delay: 300ms}, for: 300ms}
  - wait: 1500ms
recovery: {within: 1s}
`, s)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
}

// A service whose child left its process group and holds the output pipe
// does not keep the run from ending.
func TestServiceWithStrayChild(t *testing.T) {
	s := newService(t)
	start := time.Now()
	j := run(t, `version: v1
title: stray child
services:
  - name: svc
    run: [sh, -c, "setsid sleep 30 & exec sleep 30"]
    grace: 500ms
method:
  - wait: 10ms
`, s)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %s: it waited for the stray child", took)
	}
	if j.Verdict != journal.Passed {
		t.Errorf("verdict %s: %s", j.Verdict, j.Reason)
	}
}

// An exec step leaves its exit code, how long it ran and the last lines of
// its output in the journal, with the secrets masked.
func TestExecStepObserved(t *testing.T) {
	t.Setenv("CHAOS_TEST_TOKEN", "s3cr3t-t0ken")
	j := run(t, `
version: v1
title: t
vars: {token: "${env:CHAOS_TEST_TOKEN}"}
method:
  - exec: {run: ["seq 1 10; echo token ${token}; echo warn >&2"], shell: true}
`, newService(t))
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	obs := j.Steps[0].Observed
	if obs["exit_code"] != "0" || obs["latency"] == "" || obs["stdout"] != "7\n8\n9\n10\ntoken ***" || obs["stderr"] != "warn" {
		t.Errorf("exec step observed %q; want exit code 0, a latency, the last 5 lines of stdout masked and stderr", obs)
	}
}

// A load stream whose command cannot start makes the run an error, not a
// stream of failed requests that a check would judge.
func TestExecStreamCannotStart(t *testing.T) {
	j := run(t, `
version: v1
title: t
load:
  - name: cli
    exec: {run: [no-such-command-anywhere, PING]}
    rate: 10/s
steady_state:
  - name: answers
    from: cli
    window: 1s
    expect: {success: ">= 99%"}
method:
  - wait: 2s
`, newService(t))
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, `load stream "cli": could not start no-such-command-anywhere`) {
		t.Errorf("verdict %s: %s; want an error saying the command could not start", j.Verdict, j.Reason)
	}
}

// Recovery is judged on traffic sent once the faults are gone: the window
// the revert fell in holds traffic from under them, most of it here, and
// its pass says nothing of a system that breaks when left alone. The
// service here fails every request from the end of the method on; the
// load check's windows end on even seconds, the before check is judged at
// the end of one, and the fault is reverted 1.5s later.
func TestRecoveryNotJudgedOnTrafficFromUnderTheFaults(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: breaks once left alone
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${up}/"}
    rate: 50/s
    window: 2s
steady_state:
  - name: few errors
    from: calls
    window: 2s
    expect: {errors: "< 40"}
    when: [before, after]
method:
  - {fault: latency, target: link, with: {delay: 1ms}, for: 1500ms}
  - probe: {http: {url: "http://${up}/fail?n=1000000"}}
recovery: {within: 3s}
`, s)
	c := check(j, "few errors")
	var lines []string
	for _, smp := range c.Samples {
		lines = append(lines, fmt.Sprintf("%s..%s %s ok=%v %s", smp.Start().Sub(j.Faults[0].Reverted), smp.End().Sub(j.Faults[0].Reverted), smp.Phase, smp.OK, smp.Reason))
	}
	if j.Verdict != journal.Deviated || c.Results["after"] != journal.Broken {
		t.Fatalf("verdict %s (%s), after %q; want deviated, broken\n%s", j.Verdict, j.Reason, c.Results["after"], strings.Join(lines, "\n"))
	}
	for _, smp := range c.Samples {
		if smp.Phase == experiment.After && smp.OK {
			t.Errorf("an after observation passed\n%s", strings.Join(lines, "\n"))
		}
	}
}

// A probe that passes on a retry after failed tries is a system that
// failed and then passed: every try is in the journal, and the held
// result says how many failed and why.
func TestRetriesSayWhatFailed(t *testing.T) {
	s := newService(t)
	count := filepath.Join(t.TempDir(), "count")
	j := run(t, fmt.Sprintf(`version: v1
title: retries
steady_state:
  - name: flaps
    probe: {exec: {run: [sh, -c, "n=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s; [ $n -ge 2 ] || { echo down >&2; exit 1; }"]}}
    retries: 3
    interval: 10ms
    when: [before]
method:
  - wait: 10ms
`, count, count), s)
	c := check(j, "flaps")
	if c.Results["before"] != journal.Held {
		t.Fatalf("results %v (reasons %v); want held before, on its third try", c.Results, c.Reasons)
	}
	var failed int
	for _, smp := range c.Samples {
		if !smp.OK {
			failed++
		}
	}
	if len(c.Samples) != 3 || failed != 2 {
		t.Errorf("%d samples, %d failed; want the 3 tries, 2 failed", len(c.Samples), failed)
	}
	if why := c.Reasons["before"]; !strings.Contains(why, "on try 3 of 4, after 2 tries that failed: exit code 1") {
		t.Errorf("held before with reason %q; want it to say 2 tries failed before, and why", why)
	}
	if text := report.Text(j); !strings.Contains(text, "before held (on try 3 of 4") {
		t.Errorf("the report does not say the check held on a retry:\n%s", text)
	}
}
