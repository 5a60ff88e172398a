package resource_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/resource"
)

// landingDocker is a container whose limits an update sent by a run that
// died lowers late, at land, as the engine carries it out after its
// client is gone.
type landingDocker struct {
	mu      sync.Mutex
	cur     docker.Limits
	lowered docker.Limits
	land    time.Time
}

func (d *landingDocker) now() docker.Limits {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.land.IsZero() && !time.Now().Before(d.land) {
		d.cur, d.land = d.lowered, time.Time{}
	}
	return d.cur
}

func (d *landingDocker) MainProcess(context.Context, string) (docker.MainProcess, error) {
	return docker.MainProcess{Exists: true, Running: true, PID: 1}, nil
}

func (d *landingDocker) Limits(context.Context, string) (docker.Limits, error) { return d.now(), nil }

func (d *landingDocker) SetLimits(_ context.Context, _ string, l docker.Limits) error {
	d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cur = l
	return nil
}

func (d *landingDocker) MemoryInUse(context.Context, string) (int64, error) { return 0, nil }

// A run killed while it waited for the engine to lower a container's
// limits leaves the update to the engine, which may carry it out after the
// watchdog restored the limits: the revert, in another process, waits for
// the lowering to land before it restores them, rather than leave them
// lowered for good.
func TestLimitsLoweredAfterTheRunDied(t *testing.T) {
	before := docker.Limits{NanoCPUs: 2e9, Memory: 256 << 20}
	lowered := docker.Limits{NanoCPUs: 5e8, Memory: 256 << 20}
	d := &landingDocker{cur: before, lowered: lowered, land: time.Now().Add(400 * time.Millisecond)}
	rec := resource.Record{Kind: "limits", RunID: "chaostest-landing", Key: "0123abcd",
		Target: resource.Target{Container: "c0ffee", Name: "chaostest-web"},
		Limits: &resource.LimitsChange{Before: before, Lowered: lowered, Began: time.Now()}}
	// The watchdog's Injector: it did not send the update.
	in := &resource.Injector{Docker: d, StateDir: t.TempDir()}
	if _, err := in.Revert(context.Background(), rec); err != nil {
		t.Fatalf("revert: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	if got := d.now(); got != before {
		t.Errorf("limits %+v after the revert and the late update; want %+v, as before the fault", got, before)
	}

	// One that says it was applied is restored at once.
	d = &landingDocker{cur: lowered}
	applied := *rec.Limits
	applied.Applied = true
	rec.Limits = &applied
	start := time.Now()
	if _, err := (&resource.Injector{Docker: d, StateDir: t.TempDir()}).Revert(context.Background(), rec); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if got := d.now(); got != before || time.Since(start) > 2*time.Second {
		t.Errorf("revert of applied limits: %+v after %s; want %+v at once", got, time.Since(start), before)
	}
}
