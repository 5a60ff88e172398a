package docker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestPause(t *testing.T) {
	var calls []string
	r := newRun(running(&calls), "fake")
	u, err := r.hit(t, &docker.PauseParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []string{"pause"}) || u.Action == "" {
		t.Errorf("pause: calls %q, undo action %q; want one pause, to be reverted", calls, u.Action)
	}

	paused := &fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		return inspected(id, container.State{Running: true, Paused: true}, nil), nil
	}}
	if _, err := newRun(paused, "fake").plan(t, &docker.PauseParams{}); err == nil || !strings.Contains(err.Error(), "pause container web (0123456789ab): it is paused already") {
		t.Errorf("pause of a paused container = %v; want a refusal", err)
	}
	gone := &fakeAPI{inspect: func(string) (container.InspectResponse, error) {
		return container.InspectResponse{}, notFound("container")
	}}
	if _, err := newRun(gone, "fake").plan(t, &docker.PauseParams{}); err == nil || err.Error() != "prepare pause of container web (0123456789ab): it no longer exists" {
		t.Errorf("pause of a removed container = %v", err)
	}
	// Removed between the plan and the injection.
	api := running(&calls)
	api.pause = func(string) error { return notFound("container") }
	if _, err := newRun(api, "fake").hit(t, &docker.PauseParams{}); err == nil || err.Error() != "pause container web (0123456789ab): it no longer exists" {
		t.Errorf("pause of a container removed meanwhile = %v", err)
	}
}

func TestPauseRevert(t *testing.T) {
	tests := []struct {
		name        string
		state       *container.State // nil: the container is gone
		failWith    error
		wantCalls   []string
		wantWarning string
		// wantEarly: the warning says the fault was gone before the
		// revert, so that the run counts nothing seen since.
		wantEarly bool
		wantErr   string
	}{
		{name: "unpauses", state: &container.State{Running: true, Paused: true}, wantCalls: []string{"unpause"}},
		// Someone unpaused it, or stopped it, before the revert: the
		// fault ended at a moment the run did not see.
		{name: "of a running one", state: &container.State{Running: true}, wantWarning: "container web (0123456789ab) was not paused any more before the revert: someone unpaused it", wantEarly: true},
		{name: "of a stopped one", state: &container.State{Status: "exited", FinishedAt: "2026-12-08T00:01:02.5Z"}, wantWarning: "container web (0123456789ab) had stopped before the revert (at 2026-12-08T00:01:02.5Z, status exited)", wantEarly: true},
		// Removed, and none of its name ran in its place: it no longer
		// held what came to it unanswered, as a paused one does.
		{name: "of a removed one", wantWarning: "container web (0123456789ab) was removed before the revert, at a moment chaos did not see: the pause did not last", wantEarly: true},
		{name: "unpause fails", state: &container.State{Running: true, Paused: true}, failWith: errors.New("cgroup trouble"),
			wantCalls: []string{"unpause"}, wantErr: "revert pause of container web (0123456789ab): cgroup trouble; to restore it by hand run: docker unpause 0123456789ab"},
		{name: "inspect fails", state: &container.State{}, failWith: errors.New("daemon busy"),
			wantErr: "revert pause of container web (0123456789ab): inspect: daemon busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			planned := true
			api := &fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					switch {
					case planned:
						return inspected(id, container.State{Running: true}, nil), nil
					case tt.state == nil:
						return container.InspectResponse{}, notFound("container")
					case tt.wantCalls == nil && tt.failWith != nil:
						return container.InspectResponse{}, tt.failWith
					}
					return inspected(id, *tt.state, nil), nil
				},
				pause:   func(string) error { return nil },
				unpause: func(string) error { calls = append(calls, "unpause"); return tt.failWith },
			}
			r := newRun(api, "fake")
			u, err := r.hit(t, &docker.PauseParams{})
			if err != nil {
				t.Fatal(err)
			}
			planned = false
			r.warnings = nil
			ended, err := inject.RevertEarly(context.Background(), r.env, u)
			warning := strings.Join(r.warnings, "; ")
			if ended.Early != "" {
				warning = ended.Early
			}
			if (ended.Early != "") != tt.wantEarly {
				t.Errorf("revert ended early = %q; want it %t", ended.Early, tt.wantEarly)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("revert: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("revert error = %v; want %q", err, tt.wantErr)
			}
			if (tt.wantWarning == "") != (warning == "") || !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("revert warning = %q; want %q", warning, tt.wantWarning)
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("revert calls %q; want %q", calls, tt.wantCalls)
			}
		})
	}
}
