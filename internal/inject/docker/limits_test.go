package docker_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestLowered(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name    string
		cur     docker.Limits
		lower   docker.Lower
		want    docker.Limits
		wantErr string
	}{
		{name: "cpus on a --cpus container", cur: docker.Limits{NanoCPUs: 1.5e9},
			lower: docker.Lower{CPUs: 0.5}, want: docker.Limits{NanoCPUs: 0.5e9}},
		{name: "cpus on a quota container keeps its period", cur: docker.Limits{CPUQuota: 100000, CPUPeriod: 50000},
			lower: docker.Lower{CPUs: 0.5}, want: docker.Limits{CPUQuota: 25000, CPUPeriod: 50000}},
		{name: "cpus on an unlimited container becomes a quota", cur: docker.Limits{},
			lower: docker.Lower{CPUs: 0.25}, want: docker.Limits{CPUQuota: 25000}},
		{name: "cpus on a container whose quota was removed", cur: docker.Limits{CPUQuota: -1},
			lower: docker.Lower{CPUs: 0.25}, want: docker.Limits{CPUQuota: 25000}},
		{name: "cpus that do not lower", cur: docker.Limits{NanoCPUs: 1e9},
			lower: docker.Lower{CPUs: 2}, wantErr: "does not lower the container's limit of 1 CPUs"},
		{name: "cpus below Docker's least", cur: docker.Limits{},
			lower: docker.Lower{CPUs: 0.001}, wantErr: "below 0.01"},
		{name: "shares", cur: docker.Limits{},
			lower: docker.Lower{CPUShares: 256}, want: docker.Limits{CPUShares: 256}},
		{name: "shares that do not lower", cur: docker.Limits{CPUShares: 128},
			lower: docker.Lower{CPUShares: 256}, wantErr: "does not lower the container's weight of 128"},
		{name: "memory keeps the swap it had", cur: docker.Limits{Memory: 128 * mi, MemorySwap: 256 * mi},
			lower: docker.Lower{Memory: 64 * mi}, want: docker.Limits{Memory: 64 * mi, MemorySwap: 192 * mi}},
		{name: "memory with unlimited swap", cur: docker.Limits{Memory: 128 * mi, MemorySwap: -1},
			lower: docker.Lower{Memory: 64 * mi}, want: docker.Limits{Memory: 64 * mi, MemorySwap: -1}},
		{name: "memory brings the reservation down", cur: docker.Limits{Memory: 128 * mi, MemorySwap: 128 * mi, MemoryReservation: 100 * mi},
			lower: docker.Lower{Memory: 64 * mi}, want: docker.Limits{Memory: 64 * mi, MemorySwap: 64 * mi, MemoryReservation: 64 * mi}},
		{name: "memory on a container without a limit", cur: docker.Limits{},
			lower: docker.Lower{Memory: 64 * mi}, wantErr: "has no memory limit, and Docker cannot remove one"},
		{name: "memory below Docker's least", cur: docker.Limits{Memory: 128 * mi},
			lower: docker.Lower{Memory: 1 * mi}, wantErr: "below 6MiB"},
		{name: "memory that does not lower", cur: docker.Limits{Memory: 128 * mi},
			lower: docker.Lower{Memory: 256 * mi}, wantErr: "does not lower"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := docker.Lowered(tc.cur, tc.lower)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Lowered(%+v, %+v) = %+v, %v; want an error with %q", tc.cur, tc.lower, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Lowered(%+v, %+v) = %+v, %v; want %+v", tc.cur, tc.lower, got, err, tc.want)
			}
		})
	}
}

func TestLimitsEquivalent(t *testing.T) {
	for _, tc := range []struct {
		a, b docker.Limits
		want bool
	}{
		{docker.Limits{}, docker.Limits{CPUQuota: -1, CPUShares: 1024}, true},
		{docker.Limits{Memory: 1 << 27}, docker.Limits{Memory: 1 << 27, MemorySwap: -1}, true},
		{docker.Limits{}, docker.Limits{CPUQuota: 50000}, false},
		{docker.Limits{NanoCPUs: 1e9}, docker.Limits{NanoCPUs: 2e9}, false},
		{docker.Limits{Memory: 1 << 27, MemorySwap: 1 << 28}, docker.Limits{Memory: 1 << 27, MemorySwap: -1}, false},
	} {
		if got := tc.a.Equivalent(tc.b); got != tc.want {
			t.Errorf("%+v.Equivalent(%+v) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// daemon fakes the engine's update rules over one container's resources.
type daemon struct {
	*fakeAPI
	res     container.Resources
	updates []container.Resources
	gone    bool
}

func newDaemon(r container.Resources) *daemon {
	d := &daemon{res: r}
	d.fakeAPI = &fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		if d.gone {
			return container.InspectResponse{}, notFound("container")
		}
		info := inspected(id, container.State{Running: true}, nil)
		info.HostConfig.Resources = d.res
		return info, nil
	}}
	return d
}

// ContainerUpdate applies what the daemon (20.10 to 28) applies: every
// non-zero field, after the checks that refuse a request.
func (d *daemon) ContainerUpdate(_ context.Context, _ string, u container.UpdateConfig) (container.UpdateResponse, error) {
	if d.gone {
		return container.UpdateResponse{}, notFound("container")
	}
	r, c := u.Resources, &d.res
	d.updates = append(d.updates, r)
	switch {
	case r.NanoCPUs > 0 && (c.CPUPeriod > 0 || c.CPUQuota > 0):
		return container.UpdateResponse{}, errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case (r.CPUPeriod > 0 || r.CPUQuota > 0) && c.NanoCPUs > 0:
		return container.UpdateResponse{}, errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	case r.Memory != 0 && r.Memory < 6<<20:
		return container.UpdateResponse{}, errors.New("Minimum memory limit allowed is 6MB")
	case r.Memory != 0 && r.Memory > c.MemorySwap && r.MemorySwap == 0:
		return container.UpdateResponse{}, errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	for _, f := range []struct{ to, from *int64 }{
		{&c.NanoCPUs, &r.NanoCPUs}, {&c.CPUQuota, &r.CPUQuota}, {&c.CPUPeriod, &r.CPUPeriod}, {&c.CPUShares, &r.CPUShares},
		{&c.Memory, &r.Memory}, {&c.MemorySwap, &r.MemorySwap}, {&c.MemoryReservation, &r.MemoryReservation},
	} {
		if *f.from != 0 {
			*f.to = *f.from
		}
	}
	return container.UpdateResponse{}, nil
}

func (d *daemon) ContainerStatsOneShot(context.Context, string) (container.StatsResponseReader, error) {
	body := `{"memory_stats":{"usage":50000000,"stats":{"total_inactive_file":10000000}}}`
	return container.StatsResponseReader{Body: io.NopCloser(strings.NewReader(body))}, nil
}

// TestSetLimitsRoundTrip lowers and restores limits through the fake
// daemon's rules, and wants the container's HostConfig back as it was, or
// as its equivalent where the API cannot write "not set".
func TestSetLimitsRoundTrip(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name  string
		start container.Resources
		lower docker.Lower
	}{
		{"unlimited, cpus and shares", container.Resources{}, docker.Lower{CPUs: 0.5, CPUShares: 100}},
		{"--cpus and memory", container.Resources{NanoCPUs: 1.5e9, Memory: 128 * mi, MemorySwap: 256 * mi}, docker.Lower{CPUs: 0.2, Memory: 32 * mi}},
		{"quota and reservation", container.Resources{CPUQuota: 50000, CPUPeriod: 50000, Memory: 128 * mi, MemorySwap: 128 * mi, MemoryReservation: 96 * mi}, docker.Lower{CPUs: 0.1, Memory: 64 * mi}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(tc.start)
			e := docker.New(d, "unix:///fake.sock")
			ctx := context.Background()
			prev, err := e.Limits(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			low, err := docker.Lowered(prev, tc.lower)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.SetLimits(ctx, "c", low); err != nil {
				t.Fatalf("SetLimits(lowered %s): %v", low, err)
			}
			if got, _ := e.Limits(ctx, "c"); !got.Equivalent(low) {
				t.Fatalf("after lowering the container has %s; want %s", got, low)
			}
			if err := e.SetLimits(ctx, "c", prev); err != nil {
				t.Fatalf("SetLimits(previous %s): %v", prev, err)
			}
			got, _ := e.Limits(ctx, "c")
			if !got.Equivalent(prev) {
				t.Fatalf("after restoring the container has %s; want %s", got, prev)
			}
			n := len(d.updates)
			if err := e.SetLimits(ctx, "c", prev); err != nil || len(d.updates) != n {
				t.Errorf("SetLimits to the limits it has = %v and %d more updates; want nothing sent", err, len(d.updates)-n)
			}
		})
	}
}

func TestSetLimitsGone(t *testing.T) {
	d := newDaemon(container.Resources{})
	d.gone = true
	e := docker.New(d, "unix:///fake.sock")
	if err := e.SetLimits(context.Background(), "c", docker.Limits{CPUShares: 2}); !errors.Is(err, docker.ErrGone) {
		t.Errorf("SetLimits on a removed container = %v; want ErrGone", err)
	}
	if _, err := e.Limits(context.Background(), "c"); !errors.Is(err, docker.ErrGone) {
		t.Errorf("Limits of a removed container = %v; want ErrGone", err)
	}
}

func TestMemoryInUse(t *testing.T) {
	e := docker.New(newDaemon(container.Resources{}), "unix:///fake.sock")
	if n, err := e.MemoryInUse(context.Background(), "c"); err != nil || n != 40000000 {
		t.Errorf("MemoryInUse = %d, %v; want 40000000 (usage less inactive file cache)", n, err)
	}
	if _, err := docker.New(&fakeAPI{}, "unix:///fake.sock").MemoryInUse(context.Background(), "c"); err == nil {
		t.Errorf("MemoryInUse through a client without stats = nil error; want one")
	}
}
