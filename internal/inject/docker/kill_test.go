package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func TestKillValidate(t *testing.T) {
	for sig, want := range map[string]string{
		"SIGSTOP": "signal SIGSTOP stops the container's process and kill never undoes it: use the pause fault",
		"tstp":    "signal SIGTSTP stops",
		"21":      "signal SIGTTIN stops",
		"SIGTTOU": "signal SIGTTOU stops",
		"SIGKILL": "", "SIGTERM": "", "SIGCONT": "", "SIGRTMIN+2": "",
	} {
		err := (&docker.KillParams{Signal: experiment.MustSignal(sig)}).Validate()
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("kill with %s: Validate() = %v; want %q", sig, err, want)
		}
	}
}

func TestKill(t *testing.T) {
	tests := []struct {
		signal string // "" is the default
		want   string // the signal as the daemon is told it
	}{
		{"", "SIGKILL"},
		{"term", "SIGTERM"},
		{"10", "SIGUSR1"},
		{"SIGIOT", "SIGABRT"},
		// The daemon knows only some names of real-time signals.
		{"SIGRTMIN+20", "54"},
		{"SIGRTMAX", "64"},
	}
	for _, tt := range tests {
		p := fault(t, "kill").(*docker.KillParams)
		if tt.signal != "" {
			p.Signal = experiment.MustSignal(tt.signal)
		}
		var calls []string
		r := newRun(running(&calls), "fake")
		u, err := r.hit(t, p)
		if err != nil {
			t.Fatalf("kill with %q: %v", tt.signal, err)
		}
		if want := []string{"kill " + tt.want}; !slices.Equal(calls, want) {
			t.Errorf("kill with %q: calls %q; want %q", tt.signal, calls, want)
		}
		if u.Action != "" {
			t.Errorf("kill with %q: undo action %q; a kill has nothing to undo", tt.signal, u.Action)
		}
		if got := record(t, u)["signal"]; got != p.Signal.Name {
			t.Errorf("kill with %q: record says signal %v; want %s", tt.signal, got, p.Signal.Name)
		}
	}
}

func TestKillFails(t *testing.T) {
	for fail, want := range map[error]string{
		notFound("container"):     "kill container web (0123456789ab): it no longer exists",
		errors.New("daemon says"): "kill container web (0123456789ab): daemon says",
	} {
		var calls []string
		api := running(&calls)
		api.kill = func(string, string) error { return fail }
		_, err := newRun(api, "fake").hit(t, fault(t, "kill"))
		if err == nil || err.Error() != want {
			t.Errorf("kill refused with %v: %v; want %q", fail, err, want)
		}
	}
}

func TestCrashRefusesForeignProcesses(t *testing.T) {
	// The fake daemon claims the container's main process is this test: the
	// cgroup check must refuse to signal it.
	api := &fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		return inspected(id, container.State{Running: true, Pid: os.Getpid()}, nil), nil
	}}
	crash := &docker.KillParams{Signal: experiment.MustSignal("SIGKILL"), Crash: true}
	tests := []struct {
		host, want string
	}{
		{"tcp://10.0.0.1:2376", "crash container web (0123456789ab): the Docker daemon at tcp://10.0.0.1:2376 is not on this host"},
		{"unix:///var/run/docker.sock", "is not in the container's cgroup"},
	}
	for _, tt := range tests {
		r := newRun(api, tt.host)
		if err := crash.Precheck(context.Background(), r.env, web); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Precheck(crash) with daemon %s = %v; want %q", tt.host, err, tt.want)
		}
		if _, err := r.plan(t, crash); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Plan(crash) with daemon %s = %v; want %q", tt.host, err, tt.want)
		}
	}
	// A record naming a pid that is not the container's is refused at
	// injection too, as after a pid was reused.
	r := newRun(api, "unix:///var/run/docker.sock")
	data, _ := json.Marshal(map[string]any{"kind": "kill", "container_id": cid, "container": "web", "signal": "SIGKILL", "pid": os.Getpid()})
	if _, err := crash.Inject(context.Background(), r.env, web, inject.Undo{Target: web, Data: data}); err == nil || !strings.Contains(err.Error(), "crash container web") {
		t.Errorf("Inject of a crash record with a foreign pid = %v; want a refusal", err)
	}
	// Without crash, nothing needs checking.
	if err := (&docker.KillParams{}).Precheck(context.Background(), newRun(&fakeAPI{}, "tcp://10.0.0.1:2376").env, web); err != nil {
		t.Errorf("Precheck(kill without crash) = %v", err)
	}
}

func TestCrashOfAContainerNotRunning(t *testing.T) {
	api := &fakeAPI{inspect: func(id string) (container.InspectResponse, error) {
		return inspected(id, container.State{Status: "exited"}, nil), nil
	}}
	_, err := newRun(api, "unix:///var/run/docker.sock").plan(t, &docker.KillParams{Signal: experiment.MustSignal("SIGKILL"), Crash: true})
	if err == nil || !strings.Contains(err.Error(), "crash container web (0123456789ab): it is not running") {
		t.Errorf("Plan(crash) of an exited container = %v", err)
	}
	gone := &fakeAPI{inspect: func(string) (container.InspectResponse, error) {
		return container.InspectResponse{}, notFound("container")
	}}
	_, err = newRun(gone, "unix:///var/run/docker.sock").plan(t, &docker.KillParams{Crash: true})
	if err == nil || !strings.Contains(err.Error(), "it no longer exists") {
		t.Errorf("Plan(crash) of a removed container = %v", err)
	}
}
