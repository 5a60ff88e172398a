package runner_test

import (
	"fmt"
	"strings"
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
