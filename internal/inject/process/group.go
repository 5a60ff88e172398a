package process

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

// undoStopGroup stops a process group chaos started (a service), for
// chaos recover and the watchdog after the run that started it died.
const undoStopGroup = "process.stop_group"

// group pins a process group to its leader: the group's id is the leader's
// pid, and a pid is not handed out again while a group of that id exists.
type group struct {
	proc.ID
	// Grace is how long the group has to exit after SIGTERM.
	Grace time.Duration `json:"grace"`
}

// GroupUndo returns the undo that stops the process group led by leader:
// SIGTERM to the group, SIGKILL after grace. t names the group for people.
func GroupUndo(t inject.Target, leader proc.ID, grace time.Duration) inject.Undo {
	data, _ := json.Marshal(group{ID: leader, Grace: grace})
	return inject.Undo{Action: undoStopGroup, Target: t, Data: data}
}

func init() {
	inject.RegisterUndo(undoStopGroup, stopGroup)
}

// stopGroup stops a group chaos did not start in this process, so it cannot
// wait for the leader: it watches the leader through /proc.
func stopGroup(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var g group
	if err := json.Unmarshal(u.Data, &g); err != nil {
		return fmt.Errorf("stop %s: bad undo record: %w", u.Target, err)
	}
	how, err := proc.StopGroup(ctx, g.ID, g.Grace, nil)
	if err != nil {
		return fmt.Errorf("stop %s: %w", u.Target, err)
	}
	if how == proc.Reused {
		env.Warn(fmt.Sprintf("%s is gone; nothing to stop", u.Target))
	}
	return nil
}
