package docker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func ptr[T any](v T) *T { return &v }

func TestConditionCheck(t *testing.T) {
	running := docker.Observation{Container: target, Status: "running", Running: true, Health: "healthy", Restarts: 2, RestartsSince: "this run's kill at 10:00:00.000"}
	exited := docker.Observation{Container: target, Status: "exited", ExitCode: 137}
	noHealth := docker.Observation{Container: target, Status: "running", Running: true}
	// Docker keeps the last health status while the container waits to be
	// restarted.
	restarting := docker.Observation{Container: target, Status: "restarting", Restarting: true, Health: "healthy", ExitCode: 137, RestartCount: 5}
	killed := docker.Observation{Container: target, Status: "running", Note: "its process was killed by this run", Health: "healthy"}
	tests := []struct {
		c    docker.Condition
		o    docker.Observation
		want string // empty: holds
	}{
		{docker.Condition{}, exited, ""},
		{docker.Condition{Running: ptr(true)}, running, ""},
		{docker.Condition{Running: ptr(true)}, exited, "is exited, want running=true"},
		{docker.Condition{Running: ptr(false)}, exited, ""},
		{docker.Condition{Healthy: ptr(true)}, running, ""},
		{docker.Condition{Healthy: ptr(true)}, noHealth, "has no healthcheck"},
		{docker.Condition{Healthy: ptr(false)}, running, "is healthy, want healthy=false"},
		{docker.Condition{MinRestarts: ptr(2)}, running, ""},
		{docker.Condition{MinRestarts: ptr(3)}, running, "restarted 2 times since this run's kill at 10:00:00.000, want at least 3"},
		{docker.Condition{MinRestarts: ptr(1)}, restarting, "restarted 0 times since the first look, want at least 1"},
		{docker.Condition{ExitCode: ptr(137)}, exited, ""},
		{docker.Condition{ExitCode: ptr(0)}, exited, "exited with code 137, want 0"},
		{docker.Condition{ExitCode: ptr(0)}, running, "is running, want it exited"},
		{docker.Condition{Running: ptr(true)}, restarting, "is restarting, want running=true"},
		{docker.Condition{Running: ptr(false)}, restarting, ""},
		{docker.Condition{Healthy: ptr(true)}, restarting, "is restarting, want healthy=true"},
		{docker.Condition{Healthy: ptr(false)}, restarting, ""},
		{docker.Condition{ExitCode: ptr(137)}, restarting, "is restarting, want it exited"},
		{docker.Condition{Running: ptr(true)}, killed, "is running in Docker's view, but its process was killed by this run, want running=true"},
		{docker.Condition{Healthy: ptr(true)}, killed, "but its process was killed by this run, want healthy=true"},
		{docker.Condition{ExitCode: ptr(137)}, killed, "want it exited with code 137"},
	}
	for _, tt := range tests {
		err := tt.c.Check(tt.o)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Condition{%s}.Check(%s) = %v; want %q", tt.c, tt.o.Status, err, tt.want)
		}
	}
}

// flapping returns an engine whose one container is exited for the first
// looks and running (restarted once) after that.
func flapping(exitedLooks int32) (*docker.Engine, *atomic.Int32) {
	var looks atomic.Int32
	e := docker.New(&fakeAPI{
		list: func(o container.ListOptions) ([]container.Summary, error) {
			if !o.All {
				return nil, errors.New("a probe must list containers in every state")
			}
			return []container.Summary{summary("web", "exited", "web", nil)}, nil
		},
		inspect: func(id string) (container.InspectResponse, error) {
			if looks.Add(1) <= exitedLooks {
				return inspected(id, container.State{Status: "exited", ExitCode: 137, StartedAt: "0001-01-01T00:00:00Z"}, nil), nil
			}
			r := inspected(id, container.State{Status: "running", Running: true, StartedAt: "2026-05-01T10:00:00.5Z"}, nil)
			r.RestartCount = 1
			return r, nil
		},
	}, "fake")
	return e, &looks
}

func TestProbeWithin(t *testing.T) {
	e, looks := flapping(3)
	p := docker.Probe{
		Target: docker.Selector{Name: "web"},
		Expect: docker.Condition{Running: ptr(true), MinRestarts: ptr(1)},
		Within: 10 * time.Second, Interval: 5 * time.Millisecond,
	}
	res, err := e.Probe(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Held || res.Looks != 4 || looks.Load() != 4 {
		t.Fatalf("Probe = held %t after %d looks (%s); want held after 4", res.Held, res.Looks, res.Reason)
	}
	o := res.Observations[0]
	if o.Container.Name != "web" || !o.Running || o.RestartCount != 1 || o.StartedAt.IsZero() || o.Container.State != "running" {
		t.Errorf("observation = %+v", o)
	}
}

func TestProbeGivesUp(t *testing.T) {
	e, _ := flapping(1 << 30)
	p := docker.Probe{
		Target: docker.Selector{Name: "web"},
		Expect: docker.Condition{Running: ptr(true)},
		Within: 60 * time.Millisecond, Interval: 10 * time.Millisecond,
	}
	start := time.Now()
	res, err := e.Probe(context.Background(), p)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Held || !strings.Contains(res.Reason, "want running=true") || res.Looks < 2 {
		t.Errorf("Probe = %+v; want not held after several looks", res)
	}
	if took < 60*time.Millisecond || took > 5*time.Second {
		t.Errorf("Probe took %s; want about its within of 60ms", took)
	}
	if o := res.Observations[0]; o.ExitCode != 137 || !o.StartedAt.IsZero() {
		t.Errorf("observation = %+v; want exit code 137 and Docker's zero time read as zero", o)
	}
}

func TestProbeOnceAndCancel(t *testing.T) {
	e, looks := flapping(1 << 30)
	res, err := e.Probe(context.Background(), docker.Probe{Target: docker.Selector{Name: "web"}, Expect: docker.Condition{ExitCode: ptr(137)}})
	if err != nil || !res.Held || looks.Load() != 1 {
		t.Errorf("Probe without within = %+v, %v after %d looks; want held after one", res, err, looks.Load())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = e.Probe(ctx, docker.Probe{Target: docker.Selector{Name: "web"}, Expect: docker.Condition{Running: ptr(true)}, Within: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Probe with a cancelled context = %v; want the context error", err)
	}
}

func TestProbeNoMatch(t *testing.T) {
	e := engineOver(nil)
	_, err := e.Probe(context.Background(), docker.Probe{Target: docker.Selector{Name: "web"}, Within: 30 * time.Millisecond, Interval: 5 * time.Millisecond})
	if !errors.Is(err, docker.ErrNoMatch) {
		t.Errorf("Probe of nothing = %v; want ErrNoMatch", err)
	}
	res, err := e.Probe(context.Background(), docker.Probe{Target: docker.Selector{Name: "web", SkipEmpty: true}})
	if err != nil || !res.Held || len(res.Observations) != 0 {
		t.Errorf("Probe of nothing with SkipEmpty = %+v, %v; want held with no observation", res, err)
	}
}
