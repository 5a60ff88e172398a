package runner_test

import (
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

// An abort condition that failed every observation made under the fault,
// but fewer times in a row than its failures, did not fire: the journal
// said it held. It is skipped, and a warning says it did not fire.
func TestAbortConditionCutShortDidNotHold(t *testing.T) {
	j := run(t, `version: v1
title: a guard that could not fire
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
abort_when:
  - name: guard
    probe: {http: {url: "http://${px}/", timeout: 1s}}
    interval: 100ms
    failures: 50
method:
  - {fault: down, target: link, for: 800ms}
`, newService(t))
	c := check(j, "guard")
	if got := c.Results["during"]; got != journal.Skipped || !strings.Contains(c.Reasons["during"], "before 50 failures in a row") {
		t.Errorf("abort condition %s during (%s); want skipped: it failed every observation under the fault and did not fire", got, c.Reasons["during"])
	}
	if !strings.Contains(strings.Join(j.Warnings, "\n"), `abort condition "guard" did not fire`) {
		t.Errorf("warnings %q; want one saying the abort condition did not fire", j.Warnings)
	}
}
