package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// This file holds what the container faults share. Each fault is a file
// of its own (kill.go, stop.go, ...) and a new one is one more file: its
// settings type, registered in the file's init, implements inject.Fault;
// Plan returns its record (a Record and what its injection and revert
// need), Inject tells the History what it does to the container's process
// (Engine.strike) and calls the daemon; a fault that leaves something to
// undo implements reverter too, and its undo is docker.revert.

// Record names the container a fault hits. Each fault's record embeds it
// and adds what its injection and revert need; it is the data of the
// fault's undo, written to the ledger before the fault is injected, so
// that another process can revert it.
type Record struct {
	// Fault is the fault's name, by which the revert finds it.
	Fault       string `json:"kind"`
	ContainerID string `json:"container_id"`
	// Container is the container name, for messages.
	Container string `json:"container,omitempty"`
	// Engine is how to reach the engine the container is on; nil, as in
	// the records of earlier versions of chaos, is the default engine.
	Engine *Daemon `json:"engine,omitempty"`
	// Host is the address of the default engine the fault was made on,
	// when Engine is nil: a revert whose default engine is another one
	// (chaos recover under another DOCKER_HOST or context) would not find
	// the container there and take it for removed.
	Host string `json:"host,omitempty"`
}

// newRecord returns the record of fault on t. The engine of t has been
// reached already by the fault's plan, or will fail its injection.
func newRecord(env *inject.Env, fault string, t inject.Target) Record {
	r := Record{Fault: fault, ContainerID: t.ID, Container: t.Name}
	if t.Engine != "" {
		r.Engine, _ = daemonOf(env, t.Engine)
		if r.Engine == nil {
			r.Engine = &Daemon{Name: t.Engine}
		}
		return r
	}
	if e, ok := env.Lookup(engineKey); ok {
		r.Host = e.(*Engine).Host()
	}
	return r
}

func (r Record) target() string {
	s := r.Container + " (" + shortID(r.ContainerID) + ")"
	if r.Container == "" {
		s = shortID(r.ContainerID)
	}
	if !r.Engine.Default() {
		s += " on " + r.Engine.String()
	}
	return s
}

// reverter is implemented by the settings of a fault that leaves something
// to undo.
type reverter interface {
	// revert undoes the fault that data, the fault's record, describes. It
	// is idempotent. A container (or network) that no longer exists is not
	// an error: the warning says what could not be restored.
	revert(ctx context.Context, e *Engine, data json.RawMessage) (warning string, err error)
}

// undoRevert is the undo action of every container fault that has one:
// the fault its record names reverts it. Ledgers of earlier versions of
// chaos hold records of the same form under the same action, so they are
// reverted the same way.
const undoRevert = "docker.revert"

func init() { inject.RegisterUndo(undoRevert, revert) }

func revert(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var r Record
	if err := json.Unmarshal(u.Data, &r); err != nil {
		return fmt.Errorf("revert docker fault: bad record: %w", err)
	}
	var rv reverter
	if k, ok := inject.LookupFault("docker", r.Fault); ok {
		rv, _ = k.New().(reverter)
	}
	if rv == nil {
		return fmt.Errorf("revert docker fault %q of container %s: this version of chaos cannot revert it", r.Fault, r.target())
	}
	e, err := engineAt(ctx, env, r.Engine)
	if err != nil {
		return err
	}
	if r.Engine.Default() {
		if err := Reaches(r.Host, e.Host()); err != nil {
			return fmt.Errorf("revert %s of container %s: %w", r.Fault, r.target(), err)
		}
	}
	if _, ok := env.Lookup(answeredKey(r)); ok {
		ctx = context.WithValue(ctx, answeredCtx{}, true)
	}
	warning, err := rv.revert(ctx, e, u.Data)
	if warning != "" {
		env.Warn(warning)
	}
	return err
}

// planned returns the undo of fault f on t, which carries rec: with the
// revert action when f has something to undo.
func planned(f inject.Fault, t inject.Target, rec any) (inject.Undo, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return inject.Undo{}, err
	}
	u := inject.Undo{Target: t, Data: data}
	if _, ok := f.(reverter); ok {
		u.Action = undoRevert
	}
	return u, nil
}

// begin returns the run's engine and reads the record that planned stored
// in u into rec, for an injection.
func begin(ctx context.Context, env *inject.Env, u inject.Undo, rec any) (*Engine, error) {
	var r Record
	if err := json.Unmarshal(u.Data, rec); err != nil {
		return nil, fmt.Errorf("docker fault: bad record: %w", err)
	}
	if err := json.Unmarshal(u.Data, &r); err != nil {
		return nil, fmt.Errorf("docker fault: bad record: %w", err)
	}
	return engineAt(ctx, env, r.Engine)
}

// strike records r's container in the run's History just before the fault
// is injected, then injects it with do; a failed injection leaves no
// trace in the History.
func (e *Engine) strike(ctx context.Context, env *inject.Env, r Record, eff Effect, do func() error) error {
	forget, err := history(env).Before(ctx, e, r, eff)
	if err != nil {
		return err
	}
	err = do()
	// Answered: nothing of the request can land after this.
	env.Put(answeredKey(r), true)
	if err != nil {
		forget()
		return err
	}
	return nil
}

// requestSettle is how long a request to change a container (a pause, a
// disconnect) may still take to land after it was sent: the engine
// carries out a request whose client gave up on it, as a run killed while
// it waited for the answer does.
const requestSettle = 10 * time.Second

// answeredKey marks, in an Env, that this process sent the request of r's
// fault and had its answer.
func answeredKey(r Record) string { return "docker.answered:" + r.Fault + ":" + r.ContainerID }

type answeredCtx struct{}

// answered reports whether the request of the fault being reverted was
// answered in this process (the run's own revert): then nothing of it can
// land later. A revert in another process (the watchdog, chaos recover)
// cannot know.
func answered(ctx context.Context) bool {
	v, _ := ctx.Value(answeredCtx{}).(bool)
	return v
}

// awaitLanding watches r's container while the request of its fault, sent
// at began and not known to have been answered, may still land: until
// landed says it has, or requestSettle has passed since began. It returns
// what it saw last.
func (e *Engine) awaitLanding(ctx context.Context, r Record, began time.Time, landed func(container.InspectResponse) bool) (container.InspectResponse, bool, error) {
	deadline := began.Add(requestSettle)
	for {
		info, found, err := e.current(ctx, r)
		if err != nil || !found || landed(info) || !time.Now().Before(deadline) {
			return info, found, err
		}
		select {
		case <-ctx.Done():
			return info, found, fmt.Errorf("revert %s of container %s: the %s the run asked for %s ago may still take effect; run chaos recover again once %s have passed",
				r.Fault, r.target(), r.Fault, time.Since(began).Round(time.Second), time.Until(deadline).Round(time.Second))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failed words the error of a call that injects a fault; what says what
// the call did ("pause container web (0123456789ab)"). It is nil when err
// is.
func (e *Engine) failed(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case gone(err):
		return fmt.Errorf("%s: it no longer exists", what)
	}
	return fmt.Errorf("%s: %w", what, e.unreachable(err))
}

// inspect returns r's container as a fault is planned on it.
func (e *Engine) inspect(ctx context.Context, r Record) (container.InspectResponse, error) {
	info, err := e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil {
		if gone(err) {
			return info, fmt.Errorf("prepare %s of container %s: it no longer exists", r.Fault, r.target())
		}
		return info, fmt.Errorf("prepare %s of container %s: inspect: %w", r.Fault, r.target(), e.unreachable(err))
	}
	return filled(info), nil
}

// mustRun refuses a container that is not running (exited, created,
// paused, restarting after an exit) for a fault that ends its process and
// starts it again, itself or on revert: it would start a container the
// run did not find running, and leave the system changed. Targets are
// running when resolved; a container may stop before it is hit, when a
// fault on another one makes it exit.
func mustRun(r Record, info container.InspectResponse) error {
	st := info.State
	if st.Running && !st.Paused && !st.Restarting {
		return nil
	}
	status := st.Status
	if status == "" {
		status = "not running"
	}
	return fmt.Errorf("%s container %s: it is not running (%s): leaving it alone, so that chaos does not start a container it did not find running", r.Fault, r.target(), status)
}

// current returns r's container as a revert finds it; found is false when
// it no longer exists.
func (e *Engine) current(ctx context.Context, r Record) (info container.InspectResponse, found bool, err error) {
	info, err = e.api.ContainerInspect(ctx, r.ContainerID)
	if err != nil {
		if gone(err) {
			return info, false, nil
		}
		return info, false, fmt.Errorf("revert %s of container %s: inspect: %w", r.Fault, r.target(), e.unreachable(err))
	}
	return filled(info), true, nil
}

// filled gives an inspect answer the state the daemon may leave out, so
// that the faults can read it without checking.
func filled(info container.InspectResponse) container.InspectResponse {
	if info.ContainerJSONBase == nil {
		info.ContainerJSONBase = &container.ContainerJSONBase{}
	}
	if info.State == nil {
		info.State = &container.State{}
	}
	return info
}

// revertFailed words a revert the daemon refused, with the command that
// restores the container by hand; vanished is the warning when the refusal
// says the container is gone.
func (e *Engine) revertFailed(r Record, err error, fix, vanished string) (string, error) {
	if gone(err) || strings.Contains(err.Error(), "marked for removal") {
		return vanished, nil
	}
	return "", fmt.Errorf("revert %s of container %s: %w; to restore it by hand run: %s", r.Fault, r.target(), e.unreachable(err), fix)
}

// replacement returns the ID of the container, another than r's, that runs
// under r's name now that r's is gone: one recreated during the fault (by
// Compose, or by a service manager around docker run --rm) took its place.
func (e *Engine) replacement(ctx context.Context, r Record) (string, bool) {
	if r.Container == "" {
		return "", false
	}
	info, err := e.api.ContainerInspect(ctx, r.Container)
	if err != nil {
		return "", false
	}
	info = filled(info)
	if info.ID == "" || info.ID == r.ContainerID || strings.TrimPrefix(info.Name, "/") != r.Container || !info.State.Running || info.State.Paused {
		return "", false
	}
	return info.ID, true
}

// vanished is the warning for a container that went away before its revert.
func vanished(r Record) string {
	return fmt.Sprintf("container %s no longer exists: nothing to revert after %s", r.target(), r.Fault)
}

// seconds converts a grace period to the whole seconds Docker takes,
// rounding up so that the container gets at least the time asked for; nil
// means the container's own.
func seconds(d *experiment.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(math.Ceil(d.D().Seconds()))
	return &s
}
