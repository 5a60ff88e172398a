package docker_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestStop(t *testing.T) {
	grace := experiment.Duration(1500 * time.Millisecond)
	var calls []string
	api := running(&calls)
	var timeout *int
	api.stop = func(_ string, o container.StopOptions) error {
		calls, timeout = append(calls, "stop"), o.Timeout
		return nil
	}
	r := newRun(api, "fake")
	u, err := r.hit(t, &docker.StopParams{Timeout: &grace})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []string{"stop"}) || timeout == nil || *timeout != 2 {
		t.Errorf("stop with 1.5s grace: calls %q, timeout %v; want one stop with 2s, rounded up", calls, timeout)
	}
	if u.Action == "" || record(t, u)["auto_remove"] != nil {
		t.Errorf("stop: undo %+v; want it reverted, no auto-remove", u)
	}

	api.inspect = func(id string) (container.InspectResponse, error) {
		r := inspected(id, container.State{Running: true}, nil)
		r.HostConfig.AutoRemove = true
		return r, nil
	}
	if u, err = r.plan(t, &docker.StopParams{}); err != nil || record(t, u)["auto_remove"] != true || record(t, u)["timeout_seconds"] != nil {
		t.Errorf("stop of an auto-removed container: record %s, %v; want auto_remove and no timeout", u.Data, err)
	}

	api.inspect = func(string) (container.InspectResponse, error) {
		return container.InspectResponse{}, notFound("container")
	}
	if _, err = r.plan(t, &docker.StopParams{}); err == nil || err.Error() != "prepare stop of container web (0123456789ab): it no longer exists" {
		t.Errorf("stop of a removed container = %v", err)
	}
}

func TestStopRevert(t *testing.T) {
	tests := []struct {
		name        string
		autoRemove  bool
		state       *container.State // nil: the container is gone
		failWith    error
		wantCalls   []string
		wantWarning string
		wantErr     string
	}{
		{name: "starts it again", state: &container.State{Status: "exited"}, wantCalls: []string{"start"}},
		{name: "of a running one", state: &container.State{Running: true}, wantWarning: "container web (0123456789ab) was running again before the revert: someone started it"},
		{name: "of one started and stopped again", state: &container.State{Status: "exited", StartedAt: "2026-12-07T10:00:09Z"}, wantCalls: []string{"start"},
			wantWarning: "container web (0123456789ab) was started again during the fault (at 2026-12-07T10:00:09Z) and has stopped since: the stop did not last"},
		{name: "of one stopped since", state: &container.State{Status: "exited", StartedAt: "2026-12-07T10:00:00Z"}, wantCalls: []string{"start"}},
		{name: "of a removed one", wantWarning: "container web (0123456789ab) no longer exists: nothing to revert after stop"},
		{name: "of an auto-removed one", autoRemove: true, wantWarning: "was removed by the daemon when it stopped (auto-remove): it cannot be started again; recreate it"},
		{name: "of one removed meanwhile", state: &container.State{Status: "exited"}, failWith: errors.New("container is marked for removal and cannot be started"),
			wantCalls: []string{"start"}, wantWarning: "no longer exists"},
		{name: "start fails", state: &container.State{Status: "exited"}, failWith: errors.New("no space left"),
			wantCalls: []string{"start"}, wantErr: "revert stop of container web (0123456789ab): no space left; to restore it by hand run: docker start 0123456789ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			planned := true
			api := &fakeAPI{
				inspect: func(id string) (container.InspectResponse, error) {
					if planned {
						r := inspected(id, container.State{Running: true, StartedAt: "2026-12-07T10:00:00Z"}, nil)
						r.HostConfig.AutoRemove = tt.autoRemove
						return r, nil
					}
					if tt.state == nil {
						return container.InspectResponse{}, notFound("container")
					}
					return inspected(id, *tt.state, nil), nil
				},
				start: func(string) error { calls = append(calls, "start"); return tt.failWith },
				stop:  func(string, container.StopOptions) error { return nil },
			}
			r := newRun(api, "fake")
			u, err := r.hit(t, &docker.StopParams{})
			if err != nil {
				t.Fatal(err)
			}
			planned = false
			warning, err := r.revert(u)
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

// A run killed while the engine carries out its stop leaves a record
// without the stop's end: the engine finishes the stop all the same. The
// revert (by the watchdog) that finds the container still running waits
// out the stop's grace, and starts the container once it has stopped; a
// container still running after the grace was never reached by the stop.
func TestStopRevertWaitsForAStopUnderWay(t *testing.T) {
	var calls []string
	inspections := 0
	stoppedAfter := 3
	api := &fakeAPI{
		inspect: func(id string) (container.InspectResponse, error) {
			inspections++
			if inspections > 1+stoppedAfter { // the plan's, then the revert's
				return inspected(id, container.State{Status: "exited"}, nil), nil
			}
			return inspected(id, container.State{Running: true}, nil), nil
		},
		start: func(string) error { calls = append(calls, "start"); return nil },
	}
	r := newRun(api, "fake")
	grace := experiment.Duration(2 * time.Second)
	u, err := r.plan(t, &docker.StopParams{Timeout: &grace})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := r.revert(u); err != nil || w != "" || !slices.Equal(calls, []string{"start"}) {
		t.Errorf("revert of a stop under way = %q, %v, calls %q; want the container started once stopped", w, err, calls)
	}

	// Its grace long past, a container still running was not stopped.
	calls, inspections, stoppedAfter = nil, 0, 1000
	var rec map[string]any
	json.Unmarshal(u.Data, &rec)
	rec["began"] = time.Now().Add(-time.Minute)
	u.Data, _ = json.Marshal(rec)
	if w, err := r.revert(u); err != nil || w != "" || len(calls) != 0 {
		t.Errorf("revert of a stop that never took = %q, %v, calls %q; want nothing done", w, err, calls)
	}
}

// A container someone starts as soon as the stop has ended, and that has
// stopped again by the revert, was not down all along: the revert must
// tell its start from the one the stop ended, which it cannot if it
// takes the start it reads after the stop for the stopped one.
func TestStopRevertOfOneStartedAtOnce(t *testing.T) {
	const before, after = "2026-12-07T10:00:00Z", "2026-12-07T10:00:01Z"
	stopped := false
	api := &fakeAPI{
		inspect: func(id string) (container.InspectResponse, error) {
			if !stopped {
				return inspected(id, container.State{Running: true, StartedAt: before}, nil), nil
			}
			// Started by someone at once, and stopped again since.
			return inspected(id, container.State{Status: "exited", StartedAt: after}, nil), nil
		},
		start: func(string) error { return nil },
		stop:  func(string, container.StopOptions) error { stopped = true; return nil },
	}
	r := newRun(api, "fake")
	u, err := r.hit(t, &docker.StopParams{})
	if err != nil {
		t.Fatal(err)
	}
	warning, err := r.revert(u)
	if err != nil {
		t.Fatalf("revert: %v", err)
	}
	if !strings.Contains(warning, "was started again during the fault (at "+after+")") {
		t.Errorf("revert warning = %q; want one that says it was started again during the fault", warning)
	}
}
