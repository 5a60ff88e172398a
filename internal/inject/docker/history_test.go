package docker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// look is one state of the container named web, as Docker reports it.
type look struct {
	id      string // "" means cid
	status  string
	count   int    // Docker's restart count
	started string // the time of day its process started
	// wantRunning and wantRestarts are what the run must see.
	wantRunning  bool
	wantRestarts int
	wantNote     string
}

func (l look) state() container.State {
	st := container.State{Status: l.status, StartedAt: "2026-05-01T10:00:" + l.started + "Z", FinishedAt: "0001-01-01T00:00:00Z"}
	switch l.status {
	case "running":
		st.Running = true
	case "restarting":
		st.Running, st.Restarting = true, true
	case "paused":
		st.Running, st.Paused = true, true
	}
	return st
}

// strike is a fault injected into the container, as the History hears of it.
type strike struct {
	fault string
	eff   docker.Effect
}

// TestHistory follows one container through the looks of a run, with the
// run's faults (before) injected before the first look.
func TestHistory(t *testing.T) {
	tests := []struct {
		name   string
		before []strike
		// start is the state the faults find; the first look when unset.
		start *look
		looks []look
	}{
		{
			name: "restarts before the run do not count",
			looks: []look{
				{status: "running", count: 5, started: "00", wantRunning: true},
				{status: "running", count: 5, started: "00", wantRunning: true},
			},
		},
		{
			name: "a restart by the policy counts once the container runs again",
			looks: []look{
				{status: "running", count: 5, started: "00", wantRunning: true},
				// The daemon counts the restart when it schedules it.
				{status: "restarting", count: 6, started: "00"},
				{status: "running", count: 6, started: "09", wantRunning: true, wantRestarts: 1},
			},
		},
		{
			name:   "a process killed by the run is not running while Docker still reports it",
			before: []strike{{"kill", docker.Effect{Ends: true, Kills: true}}},
			looks: []look{
				{status: "running", count: 5, started: "00", wantNote: "its process was killed by this run"},
				{status: "restarting", count: 6, started: "00"},
				{status: "running", count: 6, started: "09", wantRunning: true, wantRestarts: 1},
			},
		},
		{
			name:   "a kill that does not kill leaves the daemon's word",
			before: []strike{{"kill", docker.Effect{Ends: true}}},
			looks:  []look{{status: "running", count: 1, started: "00", wantRunning: true}},
		},
		{
			name:   "pause and disconnect start a count but mark no process",
			before: []strike{{"pause", docker.Effect{}}, {"disconnect", docker.Effect{}}},
			looks: []look{
				{status: "paused", count: 2, started: "00"},
				{status: "running", count: 2, started: "00", wantRunning: true},
			},
		},
		{
			name: "a start by hand sets Docker's count back to zero",
			looks: []look{
				{status: "running", count: 3, started: "00", wantRunning: true},
				{status: "exited", count: 3, started: "00"},
				{status: "running", count: 0, started: "05", wantRunning: true, wantRestarts: 1},
				{status: "running", count: 2, started: "07", wantRunning: true, wantRestarts: 3},
			},
		},
		{
			name:   "the revert of a stop starts the container again",
			before: []strike{{"stop", docker.Effect{Ends: true}}},
			looks: []look{
				{status: "exited", count: 0, started: "00"},
				{status: "running", count: 0, started: "04", wantRunning: true, wantRestarts: 1},
			},
		},
		{
			name:   "the run's restart counts once it is done",
			before: []strike{{"restart", docker.Effect{Ends: true}}},
			start:  &look{status: "running", count: 4, started: "00"},
			looks: []look{
				{status: "running", count: 0, started: "09", wantRunning: true, wantRestarts: 1},
			},
		},
		{
			name: "a container replaced by one of the same name has restarted",
			looks: []look{
				{status: "running", count: 2, started: "00", wantRunning: true},
				{id: "new", status: "running", count: 1, started: "05", wantRunning: true, wantRestarts: 2},
				{id: "new", status: "running", count: 2, started: "07", wantRunning: true, wantRestarts: 3},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := tt.looks[0]
			if tt.start != nil {
				cur = *tt.start
			}
			id := func() string {
				if cur.id == "" {
					return cid
				}
				return cur.id
			}
			e := docker.New(&fakeAPI{
				list: func(container.ListOptions) ([]container.Summary, error) {
					s := summary("web", cur.status, "web", nil)
					s.ID = id()
					return []container.Summary{s}, nil
				},
				inspect: func(string) (container.InspectResponse, error) {
					r := inspected(id(), cur.state(), nil)
					r.Name, r.RestartCount = "/web", cur.count
					return r, nil
				},
			}, "fake")
			h := docker.NewHistory()
			ctx := context.Background()
			for _, s := range tt.before {
				r := docker.Record{Fault: s.fault, ContainerID: cid, Container: "web"}
				if _, err := h.Before(ctx, e, r, s.eff); err != nil {
					t.Fatalf("Before(%s) = %v", s.fault, err)
				}
			}
			for i, l := range tt.looks {
				cur = l
				obs, err := e.Observe(ctx, docker.Selector{Name: "web"}, h)
				if err != nil {
					t.Fatal(err)
				}
				o := obs[0]
				if o.Running != l.wantRunning || o.Restarts != l.wantRestarts || !strings.Contains(o.Note, l.wantNote) || (l.wantNote == "") != (o.Note == "") {
					t.Errorf("look %d (%s, count %d, started :%s) = running %t, %d restarts, note %q; want running %t, %d restarts, note %q",
						i, l.status, l.count, l.started, o.Running, o.Restarts, o.Note, l.wantRunning, l.wantRestarts, l.wantNote)
				}
			}
		})
	}
}

// TestHistoryForget shows that a fault that could not be injected leaves
// no mark: the process it did not kill runs, and counting goes on from
// before.
func TestHistoryForget(t *testing.T) {
	st := look{status: "running", count: 1, started: "00"}
	e := docker.New(&fakeAPI{
		list: func(container.ListOptions) ([]container.Summary, error) {
			s := summary("web", "running", "web", nil)
			s.ID = cid
			return []container.Summary{s}, nil
		},
		inspect: func(id string) (container.InspectResponse, error) {
			r := inspected(id, st.state(), nil)
			r.Name, r.RestartCount = "/web", st.count
			return r, nil
		},
	}, "fake")
	h := docker.NewHistory()
	ctx := context.Background()
	if _, err := e.Observe(ctx, docker.Selector{Name: "web"}, h); err != nil {
		t.Fatal(err)
	}
	st = look{status: "running", count: 2, started: "03"}
	forget, err := h.Before(ctx, e, docker.Record{Fault: "kill", ContainerID: cid, Container: "web"}, docker.Effect{Ends: true, Kills: true})
	if err != nil {
		t.Fatal(err)
	}
	forget()
	obs, err := e.Observe(ctx, docker.Selector{Name: "web"}, h)
	if err != nil {
		t.Fatal(err)
	}
	if o := obs[0]; !o.Running || o.Restarts != 1 || !strings.HasPrefix(o.RestartsSince, "the first look at ") {
		t.Errorf("after a forgotten kill: running %t, %d restarts since %q; want running, 1 restart since the first look", o.Running, o.Restarts, o.RestartsSince)
	}
}

func TestHistoryBeforeGone(t *testing.T) {
	e := docker.New(&fakeAPI{inspect: func(string) (container.InspectResponse, error) {
		return container.InspectResponse{}, notFound("container")
	}}, "fake")
	forget, err := docker.NewHistory().Before(context.Background(), e, docker.Record{Fault: "kill", ContainerID: cid}, docker.Effect{Ends: true, Kills: true})
	if err != nil || forget == nil {
		t.Errorf("Before of a container that is gone = %v; want no error, left to the injection", err)
	}
}

// TestHistoryLaterKill shows that a kill starts the count afresh: the
// restarts before it, in the same run, no longer count.
func TestHistoryLaterKill(t *testing.T) {
	st := look{status: "running", count: 1, started: "00"}
	e := docker.New(&fakeAPI{
		list: func(container.ListOptions) ([]container.Summary, error) {
			s := summary("web", "running", "web", nil)
			s.ID = cid
			return []container.Summary{s}, nil
		},
		inspect: func(id string) (container.InspectResponse, error) {
			r := inspected(id, st.state(), nil)
			r.Name, r.RestartCount = "/web", st.count
			return r, nil
		},
	}, "fake")
	h := docker.NewHistory()
	ctx := context.Background()
	observe := func() docker.Observation {
		t.Helper()
		obs, err := e.Observe(ctx, docker.Selector{Name: "web"}, h)
		if err != nil {
			t.Fatal(err)
		}
		return obs[0]
	}
	observe()
	st = look{status: "running", count: 2, started: "03"}
	if o := observe(); o.Restarts != 1 {
		t.Fatalf("after a restart: %d restarts; want 1", o.Restarts)
	}
	if _, err := h.Before(ctx, e, docker.Record{Fault: "kill", ContainerID: cid, Container: "web"}, docker.Effect{Ends: true, Kills: true}); err != nil {
		t.Fatal(err)
	}
	if o := observe(); o.Running || o.Restarts != 0 || !strings.HasPrefix(o.RestartsSince, "this run's kill at ") {
		t.Errorf("right after the kill: running %t, %d restarts since %q; want not running, 0 since the kill", o.Running, o.Restarts, o.RestartsSince)
	}
}
