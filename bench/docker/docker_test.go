// Package docker_test measures the Docker faults against the docker CLI and
// the cost of resolving a selector over many containers. Run it with
//
//	go test -run '^$' -bench . -benchtime 20x ./bench/docker
//
// It needs a Docker daemon (and, for the kill comparison, the docker CLI);
// without them it skips, or fails when CHAOS_REQUIRE_DOCKER=1.
package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// minSamples is the number of samples below which the limits are only
// reported, not enforced: a median of fewer says little.
const minSamples = 20

func connect(b *testing.B) (*docker.Engine, *dockertest.Env) {
	b.Helper()
	env := dockertest.New(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e, env
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkKill compares a kill through the kill fault, as a run injects
// it (its plan, the History's look at the container, the kill), with
// `docker kill`: each sample is the time from the call until an inspect
// shows the container not running. The two alternate which goes first,
// on the same container, in the same run.
func BenchmarkKill(b *testing.B) {
	cli, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv(dockertest.RequireEnv) == "1" {
			b.Fatalf("no docker CLI on PATH to compare with, and %s=1", dockertest.RequireEnv)
		}
		b.Skip("no docker CLI on PATH to compare with: install docker.io (Debian) or docker-ce-cli")
	}
	e, env := connect(b)
	id := env.Run(dockertest.Spec{Name: "victim", Network: "none"})
	victim := docker.Container{ID: id, ShortID: id[:12], Name: env.Name("victim")}
	ctx := context.Background()

	waitDead := func() {
		for {
			info, err := env.Client.ContainerInspect(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if !info.State.Running {
				return
			}
		}
	}
	revive := func() {
		if err := env.Client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	run := inject.NewEnv(1, nil)
	docker.SetEngine(run, e)
	target := inject.Target{Kind: "docker", ID: victim.ShortID, Name: victim.Name}
	kill := &docker.KillParams{Signal: experiment.MustSignal("SIGKILL")}
	viaEngine := func() time.Duration {
		start := time.Now()
		u, err := kill.Plan(ctx, run, target)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kill.Inject(ctx, run, target, u); err != nil {
			b.Fatal(err)
		}
		waitDead()
		return time.Since(start)
	}
	viaCLI := func() time.Duration {
		start := time.Now()
		if out, err := exec.Command(cli, "kill", id).CombinedOutput(); err != nil {
			b.Fatalf("docker kill: %v\n%s", err, out)
		}
		waitDead()
		return time.Since(start)
	}

	b.Run("engine_vs_cli", func(b *testing.B) {
		var engine, dockerCLI []time.Duration
		for i := range b.N {
			if i%2 == 0 {
				engine = append(engine, viaEngine())
				revive()
				dockerCLI = append(dockerCLI, viaCLI())
			} else {
				dockerCLI = append(dockerCLI, viaCLI())
				revive()
				engine = append(engine, viaEngine())
			}
			revive()
		}
		me, mc := median(engine), median(dockerCLI)
		ratio := float64(me) / float64(mc)
		b.ReportMetric(ms(me), "engine-ms")
		b.ReportMetric(ms(mc), "cli-ms")
		b.ReportMetric(ratio, "ratio")
		b.Logf("kill to dead container, median of %d: engine %.1f ms, docker kill %.1f ms, ratio %.2f", b.N, ms(me), ms(mc), ratio)
		if b.N >= minSamples && ratio > 1.0 {
			b.Errorf("a kill through the engine took %.1f ms (median), docker kill %.1f ms: ratio %.2f > 1.0", ms(me), ms(mc), ratio)
		}
	})
}

// BenchmarkResolve resolves selectors over 200 running containers: one the
// daemon can filter by label, and a name regex it cannot.
func BenchmarkResolve(b *testing.B) {
	const n = 200
	e, env := connect(b)
	start := time.Now()
	env.RunMany(n, func(i int) dockertest.Spec {
		return dockertest.Spec{Name: fmt.Sprintf("c%03d", i), Network: "none", Labels: map[string]string{"app": "bench"}}
	})
	b.Logf("started %d containers in %s", n, time.Since(start).Round(time.Millisecond))

	for _, tt := range []struct {
		name string
		sel  docker.Selector
	}{
		{"labels", docker.Selector{Labels: env.Labels(map[string]string{"app": "bench"}), Max: -1, Pick: docker.Pick{Count: 1}}},
		{"name_regex", docker.Selector{NameRegex: "^" + env.RunID + "-c[0-9]+$", Max: -1, Pick: docker.Pick{Percent: 10}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var samples []time.Duration
			for range b.N {
				t0 := time.Now()
				r, err := e.Resolve(context.Background(), tt.sel, nil)
				samples = append(samples, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Matched) != n {
					b.Fatalf("Resolve(%s) matched %d; want %d", tt.sel, len(r.Matched), n)
				}
			}
			m := median(samples)
			b.ReportMetric(ms(m), "median-ms")
			b.ReportMetric(ms(slices.Max(samples)), "max-ms")
			b.Logf("resolve %s over %d containers, median of %d: %.1f ms (max %.1f ms)", tt.name, n, b.N, ms(m), ms(slices.Max(samples)))
			if b.N >= minSamples && m >= 300*time.Millisecond {
				b.Errorf("resolving over %d containers took %.1f ms (median); want < 300 ms", n, ms(m))
			}
		})
	}
}
