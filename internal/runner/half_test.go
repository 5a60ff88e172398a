package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
)

// halfFault fails half way through its injection, as a network fault that
// set some of its rules before the next one was refused, and its revert
// fails too: what it did stays in place.
type halfFault struct{}

func (*halfFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Action: "test.half", Target: t, Notes: []string{"container payment is 172.18.0.3"}}, nil
}

func (*halfFault) Inject(context.Context, *inject.Env, inject.Target, inject.Undo) (inject.Undo, error) {
	return inject.Undo{}, errors.New("add rule 2 of 3: operation not permitted")
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_half", New: func() inject.Fault { return &halfFault{} }})
	inject.RegisterUndo("test.half", func(context.Context, *inject.Env, inject.Undo) error {
		return errors.New("delete rule 1: device busy")
	})
}

// A fault whose injection failed half way, and whose revert failed after,
// was never injected (no fault.injected) but may be partly in place: the
// journal lists it among the faults with its injection's error and its
// revert's, and every report shows it as not reverted.
func TestFaultHalfInjectedNotUndone(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: a fault that failed half way
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
method:
  - {name: cut the link, fault: test_half, target: link}
`, s)
	if j.Verdict != journal.RevertFailed || !strings.Contains(j.Reason, "delete rule 1: device busy") {
		t.Errorf("verdict %s (%s); want revert-failed naming the revert's error", j.Verdict, j.Reason)
	}
	if event(j, journal.FaultInjected) != nil || event(j, journal.FaultRevertFailed) == nil {
		t.Errorf("events %v; want a fault.revert_failed and no fault.injected", j.Events)
	}
	if len(j.Faults) != 1 {
		t.Fatalf("faults %+v; want the one left in place", j.Faults)
	}
	f := j.Faults[0]
	if f.Step != "cut the link" || f.Fault != "test_half" || f.TargetName != "link" || f.Target.ID == "" {
		t.Errorf("fault %+v; want step, fault, target and what it hit", f)
	}
	if !strings.Contains(f.InjectError, "add rule 2 of 3: operation not permitted") {
		t.Errorf("fault's inject error %q; want the injection's", f.InjectError)
	}
	if f.RevertError != "delete rule 1: device busy" || !f.Reverted.IsZero() || f.Irreversible {
		t.Errorf("fault %+v; want its revert error, not reverted", f)
	}
	if f.Injected.IsZero() || f.Injected.Before(j.Started) {
		t.Errorf("fault injected at %v; want when its injection began, after the run's start %v", f.Injected, j.Started)
	}
	if len(f.Notes) != 1 || f.Notes[0] != "container payment is 172.18.0.3" {
		t.Errorf("fault notes %q; want its plan's", f.Notes)
	}

	// Every report lists it as not reverted, saying its injection failed.
	md := report.Markdown(j)
	if !strings.Contains(md, `| test\_half | link | proxy `) || !strings.Contains(md, "injection failed part way: ") ||
		!strings.Contains(md, "**failed**: delete rule 1: device busy") {
		t.Errorf("summary.md does not list the fault as not reverted:\n%s", md)
	}
	h, err := report.HTML(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h), "injection failed part way: ") || !strings.Contains(string(h), "revert failed: delete rule 1: device busy") {
		t.Errorf("report.html does not list the fault as not reverted")
	}
	x, err := report.JUnit(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), `name="fault cut the link"`) || !strings.Contains(string(x), "fault test_half on link") ||
		!strings.Contains(string(x), "revert failed: delete rule 1: device busy") {
		t.Errorf("junit.xml does not list the fault as not reverted:\n%s", x)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Faults []struct {
			InjectError string `json:"inject_error"`
			RevertError string `json:"revert_error"`
		} `json:"faults"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Faults) != 1 || back.Faults[0].InjectError == "" || back.Faults[0].RevertError == "" {
		t.Errorf("journal JSON faults %+v; want the fault with its inject and revert errors", back.Faults)
	}
}
