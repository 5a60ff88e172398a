package runner_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

// slowShare is an experiment whose method holds a share of the requests
// for delay, longer than the method when it is long, while the others are
// answered at once.
func slowShare(delay string) string {
	return fmt.Sprintf(`version: v1
title: slow share
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 50/s
    window: 250ms
steady_state:
  - name: fast
    from: calls
    window: 1s
    when: [during]
    expect: {p99: "< 400ms"}
method:
  - {fault: http_delay, target: link, with: {delay: %s, percent: 10%%}, for: 2s}
`, delay)
}

// Requests held for longer than the method do not complete in it: a check
// judged on the completed ones alone saw only the fast 90% and held. Those
// still waiting at the end of a judged span for longer than the bound
// count, and break it.
func TestDuringCheckCountsWaitingRequests(t *testing.T) {
	j := run(t, slowShare("8s"), newService(t))
	c := check(j, "fast")
	if c.Results["during"] != journal.Broken {
		t.Fatalf("check %s during a fault holding 10%% of the requests for 8s (reasons %v); want broken", c.Results["during"], c.Reasons)
	}
	if j.Verdict != journal.Deviated || !strings.Contains(j.Reason, "still waiting") {
		t.Errorf("verdict %s: %s; want deviated, naming the requests still waiting", j.Verdict, j.Reason)
	}
}

// A share of the requests slower than usual but well within the bound
// leaves the check holding: the requests waiting at the end of a span,
// younger than the bound, do not count.
func TestDuringCheckHoldsWithYoungWaitingRequests(t *testing.T) {
	j := run(t, slowShare("100ms"), newService(t))
	if c := check(j, "fast"); c.Results["during"] != journal.Held || j.Verdict != journal.Passed {
		t.Errorf("check %s, verdict %s (%s, reasons %v); want held and passed", c.Results["during"], j.Verdict, j.Reason, c.Reasons)
	}
}

// A fault that holds a share of the requests past the end of the method:
// they fail at their timeout, after it. A check on the share of successes
// judged only the requests that came back while the method ran, all of
// them successes, and the run passed, while a third of the requests sent
// under the fault failed (a share that 50 requests cannot hide from a
// 98% bound by chance, as one in ten could). The outcomes of the requests sent during the method
// are awaited, and counted.
func TestDuringCheckCountsRequestsThatFailAfterTheMethod(t *testing.T) {
	j := run(t, `version: v1
title: held share
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 50/s
    window: 250ms
    timeout: 5s
steady_state:
  - name: ok
    from: calls
    window: 1s
    expect: {success: ">= 98%"}
method:
  - {fault: http_delay, target: link, with: {delay: 8s, percent: 30%}, for: 2s}
`, newService(t))
	c := check(j, "ok")
	if c.Results["during"] != journal.Broken {
		t.Fatalf("check %s during a fault holding 30%% of the requests past their timeout (reasons %v); want broken", c.Results["during"], c.Reasons)
	}
	if j.Verdict != journal.Deviated || !strings.Contains(j.Reason, "timeout") {
		t.Errorf("verdict %s: %s; want deviated, naming the timeouts", j.Verdict, j.Reason)
	}
	last := c.Samples[len(c.Samples)-1]
	for _, smp := range c.Samples {
		if smp.Phase == "during" {
			last = smp
		}
	}
	if !strings.Contains(last.Note, "came after it") {
		t.Errorf("last sample of the method: note %q; want it to say it counts requests that came back after the method", last.Note)
	}
}

// An assert step right after a fault that holds a share of the requests
// (a third, as above) past their timeout judged only the requests that came back in its
// window, all of them successes, and passed. It waits for the outcomes
// of the requests sent in its window, and counts them.
func TestAssertCountsRequestsThatFailLater(t *testing.T) {
	j := run(t, `version: v1
title: assert on a held share
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 50/s
    window: 250ms
    timeout: 2s
method:
  - {fault: http_delay, target: link, with: {delay: 8s, percent: 30%}, for: 4s, background: true}
  - assert: {name: all answered, from: calls, window: 1s, expect: {success: ">= 98%"}}
  - wait: 4s
`, newService(t))
	var st *journal.Step
	for i := range j.Steps {
		if j.Steps[i].Kind == "assert" {
			st = &j.Steps[i]
		}
	}
	if st == nil || st.Outcome != journal.StepFailed || j.Verdict != journal.Deviated || !strings.Contains(j.Reason, "timeout") {
		t.Fatalf("verdict %s (%s), assert step %+v; want the assert failed on the timeouts, deviated", j.Verdict, j.Reason, st)
	}
}

// A system left holding one request in ten once the method is over has not
// recovered, though every request that comes back succeeds: a recovery
// judged on the answers of each window alone found the first window after
// the method holding, and the run passed. The outcomes of the requests
// sent in a window are awaited, and counted with it.
func TestRecoveryCountsRequestsThatFailLater(t *testing.T) {
	var broken atomic.Bool
	var seen atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/break", func(w http.ResponseWriter, r *http.Request) { broken.Store(true) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() && seen.Add(1)%10 == 0 {
			<-r.Context().Done()
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	j := run(t, strings.ReplaceAll(`version: v1
title: left holding a share
load:
  - name: calls
    http: {url: "${srv}/"}
    rate: 50/s
    window: 250ms
    timeout: 1s
steady_state:
  - name: all answered
    from: calls
    window: 1s
    when: [before, after]
    expect: {success: ">= 98%"}
method:
  - probe: {http: {url: "${srv}/break"}}
  - wait: 500ms
recovery: {within: 3s}
`, "${srv}", srv.URL), newService(t))
	c := check(j, "all answered")
	if c.Results["after"] != journal.Broken || j.Verdict != journal.Deviated || !strings.Contains(j.Reason, "did not recover") {
		t.Fatalf("verdict %s (%s), after %s; want deviated: one request in ten still times out", j.Verdict, j.Reason, c.Results["after"])
	}
}
