package runner_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/journal"
)

// notedFault says what it found when planned and what it did when
// injected, as a network fault does with a container's addresses and the
// connections it cut.
type notedFault struct{}

func (*notedFault) Plan(_ context.Context, _ *inject.Env, t inject.Target) (inject.Undo, error) {
	return inject.Undo{Target: t, Notes: []string{"container payment is 172.18.0.3"}}, nil
}

func (*notedFault) Inject(_ context.Context, _ *inject.Env, _ inject.Target, u inject.Undo) (inject.Undo, error) {
	u.Notes = append(u.Notes, "cut 2 open connections to the dependency")
	return u, nil
}

func init() {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: "test_noted", New: func() inject.Fault { return &notedFault{} }})
}

// The notes of a fault's plan and injection go with the fault into the
// journal, and into the message of its fault.injected event.
func TestFaultNotesInJournal(t *testing.T) {
	s := newService(t)
	j := run(t, `version: v1
title: a fault with notes
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
method:
  - {fault: test_noted, target: link}
`, s)
	want := []string{"container payment is 172.18.0.3", "cut 2 open connections to the dependency"}
	if len(j.Faults) != 1 || !slices.Equal(j.Faults[0].Notes, want) {
		t.Fatalf("faults %+v; want one with notes %q", j.Faults, want)
	}
	for _, e := range j.Events {
		if e.Type == journal.FaultInjected {
			if !strings.HasSuffix(e.Message, ": "+strings.Join(want, "; ")) {
				t.Errorf("fault.injected says %q; want the notes in it", e.Message)
			}
			return
		}
	}
	t.Error("no fault.injected event")
}
