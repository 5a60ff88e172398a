package runner_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
)

// The verdict never passes what the checks did not observe.

func samplesText(j *journal.Journal, c *journal.Check) string {
	var lines []string
	for _, smp := range c.Samples {
		lines = append(lines, fmt.Sprintf("  %s..%s %s ok=%v faults=%v %s %s", smp.Start().Sub(j.Started).Round(time.Millisecond),
			smp.End().Sub(j.Started).Round(time.Millisecond), smp.Phase, smp.OK, smp.Faults, smp.Reason, smp.Note))
	}
	return strings.Join(lines, "\n")
}

// A probe still running when the method ends is awaited: a hanging probe
// is what a fault produces, and it fails the check.
func TestDuringProbeRunningAtMethodEnd(t *testing.T) {
	s := newService(t)
	start := time.Now()
	j := run(t, `version: v1
title: slow probe
steady_state:
  - name: healthy
    probe: {exec: {run: [sh, -c, "sleep 1.5; exit 1"]}}
    when: [during]
method:
  - wait: 300ms
`, s)
	c := check(j, "healthy")
	if j.Verdict != journal.Deviated || c.Results["during"] != journal.Broken {
		t.Fatalf("verdict %s (%s), during %q; want deviated, broken\n%s", j.Verdict, j.Reason, c.Results["during"], samplesText(j, c))
	}
	if len(c.Samples) != 1 || c.Samples[0].Note == "" {
		t.Errorf("samples:\n%s\nwant one, noted as finished after the method", samplesText(j, c))
	}
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("the run took %s: it did not wait for the probe", took)
	}
}

// A during check that never observes while a fault is in effect cannot
// say the system held under it.
func TestDuringCheckNotObservedUnderFault(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: blind probe
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: fast
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 5s
    when: [during]
method:
  - wait: 200ms
  - {fault: latency, target: link, with: {delay: 300ms}, for: 500ms}
`, s)
	c := check(j, "fast")
	if j.Verdict != journal.Errored || c.Results["during"] != journal.Unobserved {
		t.Fatalf("verdict %s (%s), during %q; want error, unobserved\n%s", j.Verdict, j.Reason, c.Results["during"], samplesText(j, c))
	}
	if want := `check "fast" could not be judged during the method: none of its 1 observation was made while a fault was in effect`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to contain %q", j.Reason, want)
	}
}

// slowStartFault takes a while to be on, as a Docker pause does, and has
// an undo that does nothing.
type slowStartFault struct{}

func (*slowStartFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Action: "test.slow_start", Target: t}, nil
}

func (*slowStartFault) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	time.Sleep(300 * time.Millisecond)
	return u, nil
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_slow_start", New: func() inject.Fault { return &slowStartFault{} }})
	inject.RegisterUndo("test.slow_start", func(context.Context, *inject.Env, inject.Undo) error { return nil })
}

// A probe's answer may have been made at any moment while it ran: a pass
// that began before its fault was on does not show the system coping with
// it. A check whose only observation under the fault is such a pass did
// not observe the fault, and cannot hold under it.
func TestDuringProbeBegunBeforeFaultNotObserved(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: a probe that began before the fault
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: healthy
    probe: {exec: {run: [sleep, "1"]}}
    interval: 5s
    when: [during]
method:
  - {fault: test_slow_start, target: link, for: 2s}
`, s)
	c := check(j, "healthy")
	if len(c.Samples) != 1 || len(c.Samples[0].Faults) != 1 || !c.Samples[0].Start().Before(j.Faults[0].Injected) {
		t.Fatalf("samples:\n%s\nwant one that began before the fault and ended while it was on", samplesText(j, c))
	}
	if j.Verdict != journal.Errored || c.Results["during"] != journal.Unobserved {
		t.Fatalf("verdict %s (%s), during %q; want error, unobserved\n%s", j.Verdict, j.Reason, c.Results["during"], samplesText(j, c))
	}
	if want := `check "healthy" could not be judged during the method: none of its 1 observation was made while a fault was on for the whole of it`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to contain %q", j.Reason, want)
	}
}

// Each fault must be observed, not only some: checks that held under one
// fault say nothing of another that none of them saw. Here the method
// ends with a fault that has nothing to revert, in effect only until the
// method's steps are over, too briefly for any observation.
func TestFaultStepNotObserved(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: the last fault unseen
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 100ms
    when: [during]
method:
  - {fault: latency, target: link, with: {delay: 10ms}, for: 1s}
  - {fault: test_noted, target: link}
`, s)
	c := check(j, "answers")
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s (%s); want error\n%s", j.Verdict, j.Reason, samplesText(j, c))
	}
	if want := `no check observed the system while the fault of step "test_noted link" was in effect`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to contain %q", j.Reason, want)
	}
	if strings.Contains(j.Reason, `"latency link"`) {
		t.Errorf("reason %q names the latency, which the check observed", j.Reason)
	}
}

// A probe's pass that began before the fault was injected may carry an
// answer made without it: when it is the only observation that overlaps
// the fault, the check did not observe the system under the fault.
func TestDuringPassBeganBeforeFault(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: answered before the fault
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/slow?ms=800", timeout: 2s}}
    interval: 5s
    when: [during]
method:
  - wait: 200ms
  - {fault: latency, target: link, with: {delay: 10ms}, for: 800ms}
`, s)
	// The answer comes through the proxy while the fault is on, which
	// meets it: the probe's pass is judged for when it began.
	c := check(j, "answers")
	if j.Verdict != journal.Errored || c.Results["during"] != journal.Unobserved {
		t.Fatalf("verdict %s (%s), during %q; want error, unobserved\n%s", j.Verdict, j.Reason, c.Results["during"], samplesText(j, c))
	}
	if want := `check "answers" could not be judged during the method: none of its 1 observation was made while a fault was on for the whole of it`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to contain %q", j.Reason, want)
	}
}

// A load check whose window is longer than the method judges the traffic
// of the method, and so breaks under a fault shorter than its window.
func TestLoadCheckWindowLongerThanMethod(t *testing.T) {
	for _, tt := range []struct {
		p99     string
		verdict string
	}{{"< 100ms", journal.Deviated}, {"< 2s", journal.Passed}} {
		t.Run(tt.p99, func(t *testing.T) {
			s := newService(t)
			j := run(t, `version: v1
title: short method
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
    expect: {p99: "`+tt.p99+`"}
    when: [during]
method:
  - {fault: latency, target: link, with: {delay: 300ms}, for: 1500ms}
`, s)
			c := check(j, "fast")
			if j.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s); want %s\n%s", j.Verdict, j.Reason, tt.verdict, samplesText(j, c))
			}
			if len(c.Samples) == 0 || !strings.Contains(c.Samples[len(c.Samples)-1].Note, "less than the check's 5s window") {
				t.Errorf("samples:\n%s\nwant the last judged on less than the window, and noted so", samplesText(j, c))
			}
			if tt.verdict == journal.Deviated && !strings.Contains(j.Reason, `(under "latency link" (delay 300ms))`) {
				t.Errorf("reason %q does not name the fault", j.Reason)
			}
		})
	}
}

// A probe whose command cannot start is an error of the experiment, never
// a failed observation of the system, in every phase and in steps.
func TestProbeCannotStart(t *testing.T) {
	for _, tt := range []struct {
		name, probe, when, method, want string
	}{
		{"missing path", `{exec: {run: [/nonexistent/check]}}`, "[before]", "- wait: 10ms",
			`check "c" could not be judged before the method: could not start /nonexistent/check: no such file or directory`},
		{"not in PATH", `{exec: {run: [no-such-command-anywhere]}}`, "[during]", "- wait: 100ms",
			`check "c" could not be judged during the method: could not start no-such-command-anywhere: not found in $PATH`},
		{"shell", `{exec: {run: ["no-such-command-anywhere --ping"], shell: true}}`, "[before]", "- wait: 10ms",
			`check "c" could not be judged before the method: could not start no-such-command-anywhere --ping: `},
		{"not executable", `{exec: {run: ["${plain}"]}}`, "[after]", "- wait: 10ms",
			`check "c" could not be judged after the method: could not start ${plain}: permission denied`},
		{"probe step", `{exec: {run: [true]}}`, "[before]", "- probe: {exec: {run: [/nonexistent/check]}}",
			`step "exec probe": could not start /nonexistent/check: no such file or directory`},
		{"exec step", `{exec: {run: [true]}}`, "[before]", "- exec: {run: [/nonexistent/action]}",
			`step "exec /nonexistent/action": could not start /nonexistent/action: no such file or directory`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t)
			// A file that is there but not executable.
			plain := filepath.Join(t.TempDir(), "plain")
			if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.probe = strings.ReplaceAll(tt.probe, "${plain}", plain)
			tt.want = strings.ReplaceAll(tt.want, "${plain}", plain)
			j := run(t, fmt.Sprintf(`version: v1
title: cannot start
steady_state:
  - name: c
    probe: %s
    when: %s
method:
  %s
`, tt.probe, tt.when, tt.method), s)
			if j.Verdict != journal.Errored || !strings.Contains(j.Reason, tt.want) {
				t.Errorf("verdict %s: %s\nwant error: %s", j.Verdict, j.Reason, tt.want)
			}
		})
	}
}

// A check that never failed has nothing to recover from: no time to
// recover, not "0s".
func TestNoRecoveryTimeForChecksThatHeld(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: nothing broke
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 100ms
method:
  - {fault: latency, target: link, with: {delay: 50ms}, for: 300ms}
recovery: {within: 3s}
`, s)
	c := check(j, "answers")
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	if c.Recovered != nil {
		t.Errorf("recovered %+v; want none for a check that never failed\n%s", c.Recovered, samplesText(j, c))
	}
}

// The time to recover counts to the start of the first passing
// observation, not its end: a slow answer does not add its own time.
func TestRecoveryTimeFromObservationStart(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: slow answers
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/slow?ms=1500", timeout: 3s}}
    interval: 100ms
    failures: 100
method:
  - {fault: down, target: link, for: 1s}
recovery: {within: 5s}
`, s)
	c := check(j, "answers")
	if c.Recovered == nil || !c.Recovered.OK {
		t.Fatalf("no recovery: %+v (%s %s)\n%s", c.Recovered, j.Verdict, j.Reason, samplesText(j, c))
	}
	// Requests after the revert are answered: the next observation starts
	// within the 100 ms interval of it, and takes 1.5 s.
	t.Logf("time to recover %s", c.Recovered.After)
	if got := c.Recovered.After; got > 700*time.Millisecond {
		t.Errorf("recovered after %s; want at most the interval (100ms) and some slack, without the probe's 1.5s\n%s", got, samplesText(j, c))
	}
	if c.Recovered.Fault != "down link" {
		t.Errorf("recovered from %q; want \"down link\"", c.Recovered.Fault)
	}
	// Every observation under the fault failed: fewer in a row than
	// failures: 100 allows, but the check never held under the fault.
	if j.Verdict != journal.Deviated || !strings.Contains(j.Reason, "and passed none; the method ended before 100 failures in a row") {
		t.Errorf("verdict %s: %s; want deviated, the streak cut short by the end of the method", j.Verdict, j.Reason)
	}
}

// A fault with nothing to revert (a kill) ends when it is injected: the
// time to recover is the outage, not the time since the method ended.
func TestRecoveryTimeAfterKill(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "srv.pid")
	addr := "127.0.0.1:" + freePort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer("${self}", self, "${addr}", addr, "${pidfile}", pidFile).Replace(`version: v1
title: killed and restarted
services:
  - name: supervisor
    run: [sh, -c, 'while :; do "${self}"; sleep 1; done']
    env: {RUNNER_TEST_SERVE: "${addr}", RUNNER_TEST_PIDFILE: "${pidfile}"}
    ready: {http: {url: "http://${addr}/"}, within: 10s}
targets:
  srv: {process: {pid_file: "${pidfile}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${addr}/", timeout: 1s}}
    interval: 50ms
    failures: 1000
method:
  - {fault: kill, target: srv}
  - wait: 2500ms
recovery: {within: 5s}
`)
	j := run(t, src, s)
	c := check(j, "answers")
	if j.Verdict != journal.Passed || c.Recovered == nil || !c.Recovered.OK {
		t.Fatalf("verdict %s (%s), recovered %+v\n%s", j.Verdict, j.Reason, c.Recovered, samplesText(j, c))
	}
	fi, err := os.Stat(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The restarted server writes its pid file once it listens: the outage
	// is from the kill to then.
	outage := fi.ModTime().Sub(j.Faults[0].Injected)
	t.Logf("outage %s, time to recover %s", outage, c.Recovered.After)
	if got := c.Recovered.After; got < outage-100*time.Millisecond || got > outage+600*time.Millisecond {
		t.Errorf("recovered after %s; the outage was %s\n%s", got, outage, samplesText(j, c))
	}
	if !c.Recovered.Since.Equal(j.Faults[0].Injected) {
		t.Errorf("counted from %s; want the kill at %s", c.Recovered.Since, j.Faults[0].Injected)
	}
	// Its fault.injected says it has nothing to revert: notifiers, which
	// see only the events, would take it for a fault left in place.
	for _, ev := range j.Events {
		if ev.Type == journal.FaultInjected && !ev.Irreversible {
			t.Errorf("the kill's %s event does not say it is irreversible: %+v", ev.Type, ev)
		}
	}
}

// With several faults, each failed observation names the faults in effect,
// and the verdict says which fault broke which check.
func TestBreakageByFault(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: latency then down
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: fast
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    expect: {latency: "< 250ms"}
    interval: 100ms
    when: [during]
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 100ms
    when: [during]
method:
  - {fault: latency, target: link, with: {delay: 500ms}, for: 1s}
  - {fault: down, target: link, for: 1s}
`, s)
	if j.Verdict != journal.Deviated {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	got := map[string]map[string]bool{}
	for _, e := range j.ByFault() {
		got[e.Step] = map[string]bool{}
		for _, c := range e.Broke() {
			got[e.Step][c.Check] = true
		}
	}
	want := map[string]map[string]bool{"latency link": {"fast": true}, "down link": {"fast": true, "answers": true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("broke by fault %v; want %v\n%s\n%s", got, want, samplesText(j, check(j, "fast")), samplesText(j, check(j, "answers")))
	}
	for _, s := range []string{`while "latency link" was in effect, "fast" failed`, `while "down link" was in effect, "fast" failed`, `"answers" failed`} {
		if !strings.Contains(j.Reason, s) {
			t.Errorf("reason %q; want it to say %q", j.Reason, s)
		}
	}
	for _, c := range j.Checks {
		for _, smp := range c.Samples {
			if !smp.OK && len(smp.Faults) == 0 {
				t.Errorf("%s: failed observation at %s names no fault", c.Name, smp.Time.Sub(j.Started))
			}
		}
	}
}

// A fault step whose target matches nothing, with empty: skip, injects
// nothing: a passing run says so, rather than that the hypothesis held
// under a fault that never was.
func TestPassNamesFaultStepsThatInjectedNothing(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: one fault of two
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
  workers: {process: {cmdline: "no-such-process-[x]yz", empty: skip}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 2s}}
    interval: 100ms
method:
  - {fault: latency, target: link, with: {delay: 10ms}, for: 500ms}
  - {fault: kill, target: workers}
`, s)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	if want := `step "kill workers" injected nothing: the target matches nothing (empty: skip)`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to say %q", j.Reason, want)
	}
}

// A run that judged no check says so, never that the hypothesis held.
func TestNoCheckJudged(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: no checks
method:
  - wait: 10ms
`, s)
	if j.Verdict != journal.Passed || j.Reason != "no check was judged: the experiment has no steady_state" {
		t.Errorf("verdict %s: %q", j.Verdict, j.Reason)
	}
}

// serveForTest is the server the supervisor in TestRecoveryTimeAfterKill
// restarts: it answers every request and writes its pid once it listens.
func serveForTest(addr, pidFile string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644)
	os.Rename(pidFile+".tmp", pidFile)
	// With RUNNER_TEST_UPSTREAM, it is a front that answers as its
	// upstream does, as a reverse proxy would.
	if up := os.Getenv("RUNNER_TEST_UPSTREAM"); up != "" {
		client := &http.Client{Timeout: time.Second}
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			resp, err := client.Get("http://" + up + "/")
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
		}))
		return
	}
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
}

// A latency check does not hold while the service is down: every request
// refused at once has a latency of a millisecond, but no answer came.
func TestLatencyCheckWhileServiceDown(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: down
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
    expect: {p99: "< 2s"}
    when: [before, during]
method:
  - {fault: down, target: link, for: 2s}
`, s)
	c := check(j, "fast")
	if j.Verdict != journal.Deviated || c.Results["during"] != journal.Broken || !strings.Contains(c.Reasons["during"], "no request succeeded") {
		t.Fatalf("verdict %s (%s), during %s: %q; want deviated, broken: no request succeeded\n%s",
			j.Verdict, j.Reason, c.Results["during"], c.Reasons["during"], samplesText(j, c))
	}
}

// A window of load traffic that overlaps a fault for less than the time
// between two of the stream's requests may hold no request sent under it:
// its pass does not observe the fault. The fault here is on for a moment
// at the end of the method, and one request is due every 100ms.
func TestLoadCheckFaultShorterThanRequestInterval(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: a fault too short for the stream
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 10/s
    window: 500ms
steady_state:
  - name: answers
    from: calls
    window: 1s
    expect: {success: ">= 99%"}
    when: [during]
method:
  - wait: 1500ms
  - {fault: down, target: link}
`, s)
	// A request may still be due in the moment the fault is on, and see
	// it: the run then deviates, which is the truth too.
	c := check(j, "answers")
	if j.Verdict == journal.Deviated && strings.Contains(j.Reason, `(under "down link")`) {
		return
	}
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s (%s); want error\n%s", j.Verdict, j.Reason, samplesText(j, c))
	}
	if want := `while a fault was on for as long as the 100ms between two requests of load stream "calls"`; !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q; want it to contain %q", j.Reason, want)
	}
}

// An assert judges traffic sent since the last step that acted on the
// system began: the window before a fault says nothing of the system
// under it.
func TestAssertRightAfterFault(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: assert under a fault
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 500ms
method:
  - {fault: latency, target: link, with: {delay: 900ms}, for: 3s, background: true}
  - assert: {name: copes, from: calls, window: 1s, expect: {p99: "< 400ms"}}
  - wait: 3s
`, s)
	var st *journal.Step
	for i := range j.Steps {
		if j.Steps[i].Kind == "assert" {
			st = &j.Steps[i]
		}
	}
	if st == nil || st.Outcome != journal.StepFailed || j.Verdict != journal.Deviated {
		t.Fatalf("verdict %s (%s), assert step %+v; want the assert failed, deviated", j.Verdict, j.Reason, st)
	}
}

// A probe that waited out a fault (started under a timeout fault, answered
// once it was removed) does not count as observing it, and what each fault
// did to the checks leaves it out too: it may not say the check held under
// the fault while the verdict says no check observed it.
func TestByFaultLeavesOutUnseenPasses(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: a probe that waits out the fault
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${px}/", timeout: 5s}}
    interval: 50ms
    when: [during]
method:
  - wait: 200ms
  - {fault: timeout, target: link, for: 800ms}
`, s)
	c := check(j, "answers")
	if j.Verdict != journal.Errored || c.Results["during"] != journal.Unobserved {
		t.Fatalf("verdict %s: %s; want an error, the check unobserved\n%s", j.Verdict, j.Reason, samplesText(j, c))
	}
	waited := false
	for _, smp := range c.Samples {
		if smp.OK && slices.Contains(smp.Faults, "timeout link") {
			waited = true
			if !slices.Contains(smp.Unseen, "timeout link") {
				t.Errorf("a pass that waited out the fault does not name it unseen: %+v", smp)
			}
		}
	}
	if !waited {
		t.Fatalf("no probe waited out the fault\n%s", samplesText(j, c))
	}
	for _, e := range j.ByFault() {
		for _, ce := range e.Checks {
			if ce.Observed > 0 {
				t.Errorf("under %q: %q observed %d times, %d failed; want no observation counted", e.Step, ce.Check, ce.Observed, ce.Failed)
			}
		}
	}
}

// A fault on a proxy that no traffic goes through (the client calls the
// service directly: nginx's upstream names the backend's own port) acts on
// nothing: the run is an error that says so, not a pass.
func TestFaultOnIdleProxy(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: the client bypasses the proxy
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
load:
  - name: calls
    http: {url: "http://${up}/"}
    rate: 40/s
    window: 500ms
steady_state:
  - name: answers
    from: calls
    window: 500ms
    expect: {success: ">= 99%"}
method:
  - {fault: down, target: link, for: 1s}
`, s)
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, `nothing has gone through proxy link`) {
		t.Fatalf("verdict %s: %s; want an error saying no connection went through the proxy", j.Verdict, j.Reason)
	}
}

// A fault step that fails before its fault is on (a pid file that is not
// one) ends the run in an error, and its checks did not see the system
// under any fault: their during phase is not "held", which a report or a
// CI job reading the journal would take for the hypothesis holding under
// the fault, but skipped, saying why.
func TestDuringNotHeldWhenNoFaultWasOn(t *testing.T) {
	s := newService(t)
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(pidFile, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j := run(t, `version: v1
title: a stop that cannot start
targets:
  app: {process: {pid_file: "`+pidFile+`"}}
steady_state:
  - name: answers
    probe: {http: {url: "http://${up}/", timeout: 2s}}
    interval: 100ms
method:
  - wait: 300ms
  - {fault: stop, target: app, for: 1s}
`, s)
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s: %s; want error", j.Verdict, j.Reason)
	}
	c := j.Checks[0]
	if got := c.Results["during"]; got != journal.Skipped || !strings.Contains(c.Reasons["during"], "no fault") {
		t.Errorf("during: %s (%s); want skipped, saying no fault was on", got, c.Reasons["during"])
	}
}
