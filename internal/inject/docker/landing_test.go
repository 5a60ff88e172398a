package docker_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// A run killed while it waited for the engine's answer to a pause or a
// disconnect leaves the request to the engine, which carries it out all
// the same, maybe after the run's watchdog has begun its revert. The
// watchdog, which does not know whether the request was answered, waits
// for it to land and undoes it, rather than take the container for one
// someone put back and leave it paused or disconnected for good. A request
// that never lands is nothing to undo, and the revert says so.
func TestRevertOfARequestTheRunDiedWaitingFor(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault inject.Fault
		undo  string
		never string
	}{
		{
			name: "pause", fault: &docker.PauseParams{},
			undo: "unpause", never: "container web (0123456789ab) was never paused",
		},
		{
			name: "disconnect", fault: &docker.DisconnectParams{Network: "backend"},
			undo: "connect net-backend-id", never: "container web (0123456789ab) was never disconnected from network backend",
		},
	} {
		for _, lands := range []bool{true, false} {
			name := c.name + map[bool]string{true: " that lands late", false: " that never lands"}[lands]
			t.Run(name, func(t *testing.T) {
				var calls []string
				api := running(&calls)
				planned, looks := true, 0
				base := api.inspect
				api.inspect = func(id string) (container.InspectResponse, error) {
					info, _ := base(id)
					if planned {
						return info, nil
					}
					looks++
					if lands && looks > 3 { // the request lands
						if c.name == "pause" {
							info.State.Paused = true
						} else {
							info.NetworkSettings.Networks = map[string]*network.EndpointSettings{}
						}
					}
					return info, nil
				}
				u, err := newRun(api, "fake").plan(t, c.fault)
				if err != nil {
					t.Fatal(err)
				}
				if !lands {
					// Asked for long ago: what has not landed by now never
					// will.
					var rec map[string]any
					json.Unmarshal(u.Data, &rec)
					rec["began"] = time.Now().Add(-9700 * time.Millisecond)
					u.Data, _ = json.Marshal(rec)
				}
				planned = false
				// The watchdog: another process, with an Env of its own.
				began := time.Now()
				warning, err := newRun(api, "fake").revert(u)
				if err != nil {
					t.Fatalf("revert: %v", err)
				}
				if lands {
					if !slices.Equal(calls, []string{c.undo}) || warning != "" {
						t.Errorf("revert of a %s that landed after the run died: calls %q, warning %q; want %q, none", c.name, calls, warning, c.undo)
					}
					return
				}
				if len(calls) != 0 || !strings.Contains(warning, c.never) {
					t.Errorf("revert of a %s that never landed: calls %q, warning %q; want none, %q", c.name, calls, warning, c.never)
				}
				if d := time.Since(began); d > 3*time.Second {
					t.Errorf("the revert waited %s for a request asked for long ago", d)
				}
			})
		}
	}
}
