package runner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
)

// goneFault changes nothing, and its revert finds it gone already, as a
// Toxiproxy toxic deleted by someone's reset, or a container that someone
// unpaused, is found.
type goneFault struct{}

func (*goneFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Action: "test.gone", Target: t}, nil
}

func (*goneFault) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	return u, nil
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_gone", New: func() inject.Fault { return &goneFault{} }})
	inject.RegisterUndo("test.gone", func(context.Context, *inject.Env, inject.Undo) error {
		return inject.GoneEarly("the toxic was deleted by someone else")
	})
}

// A fault that was gone before its revert came may have ended at any
// moment since it was injected: the checks that held meanwhile did not
// observe the system coping with it, whether a probe's or a load
// stream's, and the run is an error naming why, not a pass.
func TestFaultGoneBeforeRevertIsNotObserved(t *testing.T) {
	for name, steady := range map[string]string{
		"probe": `
steady_state:
  - name: up
    probe: {http: {url: "http://${px}/"}}
    interval: 100ms
    when: [during]
`,
		"load": `
load:
  - name: calls
    http: {url: "http://${px}/"}
    rate: 40/s
    window: 250ms
steady_state:
  - name: ok
    from: calls
    window: 250ms
    expect: {success: ">= 99%"}
    when: [during]
`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newService(t)
			j := run(t, `version: v1
title: a fault someone else removed
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
`+steady+`
method:
  - {fault: test_gone, target: link, for: 1s}
`, s)
			if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "was gone before its revert came: the toxic was deleted by someone else") {
				t.Errorf("verdict %s (%s); want error saying the fault was gone before its revert", j.Verdict, j.Reason)
			}
			if len(j.Faults) != 1 || j.Faults[0].EndedEarly == "" || j.Faults[0].Reverted.IsZero() || j.Faults[0].RevertError != "" {
				t.Errorf("faults %+v; want one reverted, ended early, with no revert error", j.Faults)
			}
		})
	}
}

// goneFailing calls fail when it is injected (so that the service fails
// the next observations, as a frozen process does until its watchdog
// replaces it), and its revert finds it gone already.
var goneFailing func()

type goneFailingFault struct{ goneFault }

func (*goneFailingFault) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	if goneFailing != nil {
		goneFailing()
	}
	return u, nil
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_gone_failing", New: func() inject.Fault { return &goneFailingFault{} }})
}

// A check that failed under a fault, fewer times in a row than its
// failures: N, and then passed only once the fault was gone (a frozen
// process that its supervisor replaced) was broken as though the method
// had ended before the streak reached N: the passes, made without the
// fault, do not count, but they do end the streak. The check could not be
// judged under the fault, and the run is an error that says the fault
// was gone, not a deviation that blames the method's end.
func TestFailuresThenPassesOnceTheFaultWasGone(t *testing.T) {
	s := newService(t)
	goneFailing = func() { s.failNext.Store(2) }
	t.Cleanup(func() { goneFailing = nil })
	j := run(t, `version: v1
title: a fault that bit, then was gone
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: up
    probe: {http: {url: "http://${up}/"}}
    interval: 100ms
    failures: 5
    when: [during]
method:
  - {fault: test_gone_failing, target: link, for: 1s}
`, s)
	if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "was gone before its revert came: the toxic was deleted by someone else") {
		t.Errorf("verdict %s (%s); want error saying the fault was gone before its revert", j.Verdict, j.Reason)
	}
	if c := check(j, "up"); c == nil || c.Results["during"] != journal.Unobserved || !strings.Contains(c.Reasons["during"], "passed only once") {
		t.Errorf("check %+v; want it unobserved during the method, saying it passed only once the fault was gone", c)
	}
}
