package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/probe"
)

func init() {
	// A probe kind with a bug: it panics on its first observation, a
	// second after it began, once the method's fault is surely on.
	probe.Register(probe.Kind{
		Name: "test_panics",
		New:  func() (any, any) { return &struct{}{}, nil },
		Run: func(context.Context, any, any) probe.Result {
			time.Sleep(time.Second)
			panic("a probe with a bug")
		},
	})
}

// A panic in one of the run's goroutines (here a check's, while a fault is
// on) is a bug in chaos: the run ends as an error naming it, at once, with
// its fault reverted, instead of the process dying with exit 2.
func TestPanicInAGoroutineIsAnError(t *testing.T) {
	s := newService(t)
	start := time.Now()
	j := run(t, `version: v1
title: a probe with a bug
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: buggy
    probe: {test_panics: {}}
    interval: 100ms
    when: [during]
method:
  - {fault: latency, target: link, with: {delay: 10ms}, for: 30s}
`, s)
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "internal error: a probe with a bug") {
		t.Fatalf("verdict %s (%s); want error naming the internal error", j.Verdict, j.Reason)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the run took %s: the panic did not end the 30 s fault early", took)
	}
	if len(j.Faults) != 1 || j.Faults[0].Reverted.IsZero() {
		t.Errorf("faults %+v; want the latency reverted", j.Faults)
	}
}
