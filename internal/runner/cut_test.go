package runner_test

import (
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

// A check during the method judged the stream's window in which the
// method began, and the one in which it ended, whole: up to a second of
// healthy traffic before the fault and another after it, beside the
// traffic under it. A fault that failed every request for 700ms then
// left most of the judged requests successes, and a check that wants a
// third of them to succeed held. The stream's windows are cut where the
// method starts and where its faults are gone, and the check judges the
// method's traffic alone.
func TestDuringCheckJudgesTheMethodAlone(t *testing.T) {
	j := run(t, `version: v1
title: short outage
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 50/s
steady_state:
  - name: some answer
    from: calls
    window: 1s
    expect: {success: ">= 30%"}
method:
  - {fault: http_error, target: link, with: {status: 503}, for: 700ms}
`, newService(t))
	var method journal.Phase
	for _, p := range j.Phases {
		if p.Name == journal.PhaseMethod {
			method = p
		}
	}
	c := check(j, "some answer")
	var during []journal.Sample
	for _, smp := range c.Samples {
		if smp.Phase == "during" {
			during = append(during, smp)
		}
	}
	if method.Started.IsZero() || len(during) == 0 {
		t.Fatalf("method phase %+v, during samples %+v; want both", method, during)
	}
	for _, smp := range during {
		if smp.From.Before(method.Started) || smp.To.After(method.Ended) {
			t.Errorf("a sample during the method judged traffic from %s to %s; want it within the method, %s to %s", smp.From, smp.To, method.Started, method.Ended)
		}
	}
	if c.Results["during"] != journal.Broken || j.Verdict != journal.Deviated {
		t.Errorf("check %s during, verdict %s (%s, samples %+v); want broken and deviated: nearly every request of the method failed", c.Results["during"], j.Verdict, j.Reason, during)
	}
}

// Requests sent under a fault and answered only after the method ended
// took long under it: a check during the method judged the latencies of
// the answers that came back within the method, fast, and the ages of the
// requests still waiting at its end, younger than the bound, and held on
// a fault that made a third of the requests take 1.5s. Their latencies,
// once they come, count with the method's.
func TestLateAnswersCountInLatency(t *testing.T) {
	j := run(t, `version: v1
title: slow answers after the method
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}", protocol: http}}
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 50/s
    timeout: 5s
steady_state:
  - name: fast
    from: calls
    window: 1s
    expect: {p99: "< 1s"}
method:
  - {fault: http_delay, target: link, with: {delay: 1500ms, percent: 30%}, for: 600ms}
`, newService(t))
	c := check(j, "fast")
	if c.Results["during"] != journal.Broken || j.Verdict != journal.Deviated || !strings.Contains(c.Reasons["during"], "p99") {
		t.Errorf("check %s during (%s), verdict %s (%s); want broken on the p99 and deviated: a third of the requests of the method took 1.5s", c.Results["during"], c.Reasons["during"], j.Verdict, j.Reason)
	}
}
