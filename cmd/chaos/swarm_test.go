package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/swarm/swarmtest"
)

// swarmFront serves / on loopback by asking the service's running tasks,
// on their host ports, one after the other until one answers: a client
// that the other replicas keep going when one task dies, and that nothing
// keeps going when none runs.
func swarmFront(t *testing.T, env *dockertest.Env, serviceID string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ports []int
	var looked time.Time
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if time.Since(looked) > 200*time.Millisecond {
			if p, err := swarmtest.Ports(r.Context(), env, serviceID); err == nil {
				ports, looked = p, time.Now()
			}
		}
		try := append([]int(nil), ports...)
		mu.Unlock()
		for _, p := range try {
			if swarmtest.Answers(r.Context(), p) {
				fmt.Fprintf(w, "answered by :%d\n", p)
				return
			}
		}
		http.Error(w, fmt.Sprintf("none of %d tasks answers", len(try)), http.StatusBadGateway)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// TestSwarmExperiment runs experiments on a service of three replicas: a
// killed task does not break a client the other replicas serve, and Swarm
// runs three again within 30 s (passed); the service scaled down to none
// breaks it (deviated), and the revert runs three again.
func TestSwarmExperiment(t *testing.T) {
	env := dockertest.New(t)
	swarmtest.Join(t, env)
	name := env.Name("web")
	id := swarmtest.Service(t, env, swarmtest.Spec{Name: "web", Replicas: 3})
	swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
	front := swarmFront(t, env, id)
	hypothesis := fmt.Sprintf(`
steady_state:
  - name: the front answers
    probe: {http: {url: "http://%s/", timeout: 3s}}
    expect: {status: 200}
    interval: 250ms
  - name: every replica runs
    probe: {swarm: {service: %s, within: 30s}}
    expect: {replicas: "== desired"}
    when: [before, after]
`, front, name)

	t.Run("targets", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "exp.yaml")
		exp := fmt.Sprintf("version: v1\ntitle: targets\ntargets:\n  web: {swarm: {service: %s, pick: 2}}\nmethod:\n  - {fault: kill, target: web}\n", name)
		if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
			t.Fatal(err)
		}
		io, out, errb := testStdio()
		if code := run([]string{"targets", "--seed", "7", file}, io); code != 0 {
			t.Fatalf("chaos targets exited %d: %s", code, errb)
		}
		if got := out.String(); !strings.Contains(got, "web (swarm): 2 of 3 matching would be hit: swarm ") || !strings.Contains(got, "("+name+".") {
			t.Errorf("chaos targets printed %q; want 2 of the 3 tasks of %s", got, name)
		}
	})

	t.Run("kill a task: the other replicas hold", func(t *testing.T) {
		exp := fmt.Sprintf(`version: v1
title: a killed swarm task
targets:
  web: {swarm: {service: %s, pick: 1}}
%s
method:
  - {fault: kill, target: web}
  - wait: 1s
  - name: Swarm runs three again
    probe: {swarm: {service: %s, within: 30s}}
    expect: {replicas: "3"}
recovery: {within: 30s}
`, name, hypothesis, name)
		done, _ := runAsync(t, exp)
		r := waitRun(t, done, exitPassed)
		if !strings.Contains(r.stderr, "kill (signal SIGKILL) on swarm") {
			t.Errorf("no kill in the output:\n%s", r.stderr)
		}
		// Swarm replaced a task that failed: the kill happened.
		tasks, err := env.Client.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, task := range tasks {
			if task.Status.State == swarm.TaskStateFailed {
				failed++
			}
		}
		if failed != 1 {
			t.Errorf("%d tasks of the service failed; want the 1 killed", failed)
		}
	})

	t.Run("scale to none: deviated, and back to three", func(t *testing.T) {
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
		exp := fmt.Sprintf(`version: v1
title: a swarm service scaled down to none
targets:
  web: {swarm: {service: %s, pick: 1}}
%s
method:
  - {fault: scale, target: web, with: {replicas: 0}, for: 3s}
recovery: {within: 30s}
`, name, hypothesis)
		done, _ := runAsync(t, exp)
		r := waitRun(t, done, exitDeviated)
		if !strings.Contains(r.stderr, "the front answers") {
			t.Errorf("the deviation does not name the front's check:\n%s", r.stderr)
		}
		svc, _, err := env.Client.ServiceInspectWithRaw(context.Background(), id, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := *svc.Spec.Mode.Replicated.Replicas; n != 3 {
			t.Fatalf("replicas after the run = %d; want 3, as before the fault", n)
		}
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
	})

	t.Run("scaled back by someone during the fault: an error, not a pass", func(t *testing.T) {
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
		exp := fmt.Sprintf(`version: v1
title: a swarm service scaled down, and back by someone else
targets:
  web: {swarm: {service: %s, pick: 1}}
%s
method:
  - {fault: scale, target: web, with: {replicas: 1}, for: 4s}
`, name, hypothesis)
		done, _ := runAsync(t, exp)
		waitReplicas(t, env, id, 1)
		// A stack deployed again, or an autoscaler, sets them back.
		ctx := context.Background()
		svc, _, err := env.Client.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		three := uint64(3)
		svc.Spec.Mode.Replicated.Replicas = &three
		if _, err := env.Client.ServiceUpdate(ctx, id, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := waitRun(t, done, exitErr)
		if !strings.Contains(r.stderr, "had 3 replicas before the revert, not the 1 the fault set: someone scaled it") {
			t.Errorf("the error does not say the fault was undone:\n%s", r.stderr)
		}
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
	})

	t.Run("scale reverted on SIGINT", func(t *testing.T) {
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
		exp := fmt.Sprintf(`version: v1
title: interrupted
targets:
  web: {swarm: {service: %s, pick: 1}}
method:
  - {fault: scale, target: web, with: {replicas: 1}, for: 2m}
`, name)
		done, signal := runAsync(t, exp)
		ctx := context.Background()
		deadline := time.Now().Add(30 * time.Second)
		for {
			svc, _, err := env.Client.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if *svc.Spec.Mode.Replicated.Replicas == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the service was not scaled to 1 within 30s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		signal(syscall.SIGINT)
		waitRun(t, done, exitInterrupted)
		svc, _, err := env.Client.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := *svc.Spec.Mode.Replicated.Replicas; n != 3 {
			t.Fatalf("replicas after the interrupted run = %d; want 3", n)
		}
		swarmtest.WaitRunning(t, env, id, 3, 60*time.Second)
	})
}

// waitReplicas waits until the service asks for n replicas.
func waitReplicas(t *testing.T, env *dockertest.Env, id string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		svc, _, err := env.Client.ServiceInspectWithRaw(context.Background(), id, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *svc.Spec.Mode.Replicated.Replicas == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service was not scaled to %d within 30s", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
