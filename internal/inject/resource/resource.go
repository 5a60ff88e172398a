// Package resource injects resource faults: CPU load, memory pressure, IO
// load and a filled disk inside a target's cgroups and file system, and
// lowered CPU and memory limits of a Docker container.
//
// The load runs in a worker: chaos itself, started through its hidden
// stress-worker command and moved into the target's cgroups before it is
// told what to do, so that the target competes with it for its own quota
// and limit. It reaches the target's files through /proc/PID/root, so
// nothing is copied into the target and containers built FROM scratch
// work. A worker ends by itself at its deadline (the fault's duration
// plus a grace), when the process that started it dies, when its target
// dies, or on SIGTERM, and removes the files it made on the way out.
//
// Every fault has the same lifecycle. Plan computes a Record, which holds
// everything Revert needs, and touches nothing; the caller stores the
// record, then Apply makes the fault happen; Revert undoes it from the
// record alone, in this process or another, and may run any number of
// times. Applied records are also kept in a state directory until they
// are reverted, so that RemoveRun removes everything a run left behind
// without its ledger.
package resource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/cgroup"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/proc"
)

// Fault is the settings of one resource fault: CPU, Memory, IO, DiskFill
// or Limits. Each decodes from an experiment's `with:` and validates
// itself; Injector.Plan turns it into a Record for one target.
type Fault interface {
	// Kind is the fault's name in experiment files (cpu, disk_fill).
	Kind() string
	// Validate checks the settings alone, before any target is looked at.
	Validate() error
	// plan fills in p.rec what the fault does to p's target, from what
	// the target has and uses now. It changes nothing.
	plan(p *planning) error
}

// Target is what a resource fault acts on: a Docker container or a local
// process.
type Target struct {
	// Container is the Docker container's ID; empty for a local process.
	Container string `json:"container,omitempty"`
	// Daemon is the engine the container is on, when it is not the
	// default one: the record names it, so that any process can revert
	// the fault.
	Daemon *docker.Daemon `json:"daemon,omitempty"`
	// Host is the address of the default engine the container was found
	// on, when Daemon is nil: a revert whose default engine is another one
	// would not find the container there and take it for removed.
	Host string `json:"host,omitempty"`
	// Name names the target for people.
	Name string `json:"name,omitempty"`
	// PID is the local process, or the container's main process as it was
	// when the fault was planned: a container is found again by its ID.
	PID int `json:"pid,omitempty"`
	// Start is the start time of PID, which tells it from a later process
	// given the same pid. Plan fills it in.
	Start uint64 `json:"start,omitempty"`
}

// String names the target for messages.
func (t Target) String() string {
	on := ""
	if !t.Daemon.Default() {
		on = " on " + t.Daemon.String()
	}
	switch {
	case t.Container != "" && t.Name != "":
		return "container " + t.Name + on
	case t.Container != "":
		return "container " + shortID(t.Container) + on
	case t.Name != "":
		return fmt.Sprintf("process %d (%s)", t.PID, t.Name)
	}
	return fmt.Sprintf("process %d", t.PID)
}

// container names t's container among those of every engine.
func (t Target) container() string {
	if t.Daemon.Default() {
		return t.Host + " " + t.Container
	}
	return t.Daemon.Host + " " + t.Container
}

func shortID(id string) string { return id[:min(12, len(id))] }

// Record is one resource fault on one target: what it does and how to
// undo it. It is plain data, stored before the fault is applied.
type Record struct {
	Kind  string `json:"kind"`
	RunID string `json:"run_id"`
	// Key tells this fault from the run's others; it names the worker and
	// the files the fault makes.
	Key    string `json:"key"`
	Target Target `json:"target"`
	// Summary says in words what the fault does, with the numbers it
	// derived from the target (its quota, its limit, its free space).
	Summary string `json:"summary"`
	// Job is what the worker does; nil for limits, which need none.
	Job *Job `json:"job,omitempty"`
	// Files are the files, in the target's file system, that the fault
	// makes and its revert removes.
	Files []string `json:"files,omitempty"`
	// HostRoot is set when the target sees this host's file system, so
	// that Files can be removed after the target is gone.
	HostRoot bool `json:"host_root,omitempty"`
	// Limits are a container's limits before and during the fault.
	Limits *LimitsChange `json:"limits,omitempty"`
	// Owner is the process that applied the fault (chaos run), so that
	// chaos halt can stop it.
	Owner *Process `json:"owner,omitempty"`
	// Worker is the process Apply started; Revert also finds it by Key.
	Worker *Process `json:"worker,omitempty"`
	// Result says what Apply achieved where it differs from the plan,
	// such as memory that stopped short of the limit's margin.
	Result string `json:"result,omitempty"`
}

// Process is a process pinned by its start time.
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// LimitsChange is what the limits fault changes.
type LimitsChange struct {
	Before  docker.Limits `json:"before"`
	Lowered docker.Limits `json:"lowered"`
	// Began is when the limits were about to be lowered, and Applied is
	// set once the engine said they were. The engine carries out an
	// update whose client gave up on it: a revert that comes before
	// Applied (in the watchdog of a run killed while it waited) may find
	// the limits not lowered yet, and see them lowered after it restored
	// them.
	Began   time.Time `json:"began,omitzero"`
	Applied bool      `json:"applied,omitempty"`
}

// Docker is what resource faults need of the Docker engine;
// *docker.Engine has it.
type Docker interface {
	MainProcess(ctx context.Context, id string) (docker.MainProcess, error)
	Limits(ctx context.Context, id string) (docker.Limits, error)
	SetLimits(ctx context.Context, id string, want docker.Limits) error
	MemoryInUse(ctx context.Context, id string) (int64, error)
}

// Defaults of the Injector.
const (
	// DefaultGrace is how long a worker outlives the end of its fault
	// before it ends by itself.
	DefaultGrace = 5 * time.Second
	// DefaultFor is how long a fault lasts when Options.For is 0.
	DefaultFor = time.Hour
)

// Injector plans, applies and reverts resource faults on this host. Its
// zero value works for local processes; set Docker for containers. It is
// safe for concurrent use.
type Injector struct {
	// Docker finds containers' processes and changes their limits, on the
	// default engine; nil refuses container targets there.
	Docker Docker
	// Engine reaches the engine a target's Daemon names, for containers
	// on another engine than the default one; nil refuses those.
	Engine func(ctx context.Context, d docker.Daemon) (Docker, error)
	// Exe is the chaos binary that runs workers (its hidden stress-worker
	// command); the running executable when empty.
	Exe string
	// StateDir keeps a copy of each applied record until it is reverted;
	// DefaultStateDir() when empty.
	StateDir string
	// Grace is how long a worker outlives the end of its fault;
	// DefaultGrace when 0.
	Grace time.Duration

	mu       sync.Mutex
	children map[string]*child
	// lowered names the containers whose limits a fault applied here has
	// lowered and not yet restored, with the limits it set.
	lowered map[string]docker.Limits
	// answered holds the keys of the faults whose change this Injector
	// asked the engine for and had its answer: nothing of it can land
	// after that.
	answered map[string]bool
}

// docker returns what reaches t's engine.
func (in *Injector) docker(ctx context.Context, t Target) (Docker, error) {
	if t.Daemon.Default() {
		if in.Docker == nil {
			return nil, errors.New("no Docker engine to find the container with")
		}
		return in.Docker, nil
	}
	if in.Engine == nil {
		return nil, fmt.Errorf("no way to reach the engine %s that the container is on", t.Daemon)
	}
	return in.Engine(ctx, *t.Daemon)
}

// Options are what planning a fault needs to know of its run.
type Options struct {
	// RunID names the run; it may hold letters, digits, '.', '_' and '-'.
	RunID string
	// For is how long the fault lasts: its worker ends by itself For plus
	// the grace after Apply. 0 is DefaultFor.
	For time.Duration
}

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Plan validates f and computes what it will do to t: it finds the target's
// process, cgroups and file system, reads its limits and usage, and refuses
// what does not fit. It changes nothing.
func (in *Injector) Plan(ctx context.Context, f Fault, t Target, o Options) (Record, error) {
	if err := f.Validate(); err != nil {
		return Record{}, fmt.Errorf("%s fault: %w", f.Kind(), err)
	}
	if !runIDPattern.MatchString(o.RunID) {
		return Record{}, fmt.Errorf("%s fault: run ID %q: use letters, digits, '.', '_' and '-'", f.Kind(), o.RunID)
	}
	if o.For < 0 {
		return Record{}, fmt.Errorf("%s fault: negative duration %s", f.Kind(), o.For)
	}
	if t.Container == "" && t.PID <= 0 {
		return Record{}, fmt.Errorf("%s fault: the target names neither a container nor a process", f.Kind())
	}
	rec := Record{Kind: f.Kind(), RunID: o.RunID, Key: newKey(), Target: t}
	p := &planning{ctx: ctx, in: in, rec: &rec, dur: o.For}
	if p.dur == 0 {
		p.dur = DefaultFor
	}
	if err := f.plan(p); err != nil {
		return Record{}, fmt.Errorf("%s fault on %s: %w", f.Kind(), rec.Target, err)
	}
	return rec, nil
}

// planning is one Plan in progress.
type planning struct {
	ctx context.Context
	in  *Injector
	rec *Record
	dur time.Duration
	// loc is the target's process on this host, once located.
	loc *located
}

// located is a target's process as this host sees it.
type located struct {
	pid   int
	start uint64
	group cgroup.Group
}

// locate finds the target's process and cgroups now.
func (p *planning) locate() (*located, error) {
	if p.loc != nil {
		return p.loc, nil
	}
	loc, err := p.in.locate(p.ctx, &p.rec.Target)
	if err != nil {
		return nil, err
	}
	p.loc = loc
	return loc, nil
}

// job starts the record's job for a worker in the target's cgroups.
func (p *planning) job() (*Job, error) {
	loc, err := p.locate()
	if err != nil {
		return nil, err
	}
	j := &Job{
		Kind: p.rec.Kind, RunID: p.rec.RunID, Key: p.rec.Key,
		For:    p.dur,
		Target: Process{PID: loc.pid, Start: loc.start},
		Cgroup: loc.group,
	}
	p.rec.Job = j
	return j, nil
}

func newKey() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Apply makes the fault of rec happen and returns rec with what Apply
// learned: the worker's process and the result. Before it touches
// anything it stores rec in the state directory. When it fails half-way it
// reverts what it did.
func (in *Injector) Apply(ctx context.Context, rec Record) (Record, error) {
	rec.Owner = &Process{PID: os.Getpid()}
	rec.Owner.Start, _ = proc.StartTime(rec.Owner.PID)
	if err := in.save(rec); err != nil {
		return rec, err
	}
	var err error
	switch {
	case rec.Limits != nil:
		err = in.applyLimits(ctx, rec)
		in.mu.Lock()
		if in.answered == nil {
			in.answered = map[string]bool{}
		}
		in.answered[rec.Key] = true
		in.mu.Unlock()
		if err == nil {
			lc := *rec.Limits
			lc.Applied = true
			rec.Limits = &lc
		}
	case rec.Job != nil:
		rec, err = in.startWorker(ctx, rec)
	default:
		err = errors.New("the record holds neither a job nor limits")
	}
	if err != nil {
		err = fmt.Errorf("%s fault on %s: %w", rec.Kind, rec.Target, err)
		if _, rerr := in.Revert(context.WithoutCancel(ctx), rec); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return rec, err
	}
	if err := in.save(rec); err != nil {
		return rec, err
	}
	if rec.Limits != nil {
		in.mu.Lock()
		if in.lowered == nil {
			in.lowered = map[string]docker.Limits{}
		}
		in.lowered[rec.Target.container()] = rec.Limits.Lowered
		in.mu.Unlock()
	}
	return rec, nil
}

// Revert undoes the fault of rec: it stops its worker, removes its files
// and restores the limits it lowered, then forgets rec in the state
// directory. It is idempotent, and a target that is gone counts as
// reverted: the warnings say what could not be checked or restored. When
// the fault's worker, started by this Injector, ended before the revert
// while its target still ran, Revert reverts the rest and returns an
// *inject.EndedEarly that says so.
func (in *Injector) Revert(ctx context.Context, rec Record) (warnings []string, err error) {
	early := ""
	switch {
	case rec.Limits != nil:
		warnings, early, err = in.revertLimits(ctx, rec)
	default:
		warnings, early, err = in.revertWorker(ctx, rec)
	}
	if err != nil {
		return warnings, fmt.Errorf("revert %s fault on %s: %w", rec.Kind, rec.Target, err)
	}
	if rec.Limits != nil {
		in.mu.Lock()
		if in.lowered[rec.Target.container()] == rec.Limits.Lowered {
			delete(in.lowered, rec.Target.container())
		}
		in.mu.Unlock()
	}
	if err := in.forget(rec); err != nil {
		return warnings, err
	}
	if early != "" {
		return warnings, inject.GoneEarly("%s", early)
	}
	return warnings, nil
}

// RemoveRun reverts every fault of the run that the state directory still
// holds, and stops any worker of the run that is left. It returns the
// records it reverted and the warnings of their reverts.
func (in *Injector) RemoveRun(ctx context.Context, runID string) ([]Record, []string, error) {
	if !runIDPattern.MatchString(runID) {
		return nil, nil, fmt.Errorf("run ID %q: use letters, digits, '.', '_' and '-'", runID)
	}
	recs, err := in.Applied(runID)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	var errs []error
	var done []Record
	for _, r := range recs {
		w, err := in.Revert(ctx, r)
		warnings = append(warnings, w...)
		if ee, ok := errors.AsType[*inject.EndedEarly](err); ok {
			warnings, err = append(warnings, ee.Reason), nil
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, r)
	}
	// A worker whose record never reached the state directory (a crash
	// between the two) still carries the run's ID.
	w, err := in.stopWorkers(ctx, runID, "")
	warnings = append(warnings, w...)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		_ = os.Remove(filepath.Join(in.stateDir(), runID))
	}
	return done, warnings, errors.Join(errs...)
}

// Applied lists the records of the run that are applied and not yet
// reverted, as the state directory holds them; all runs' when runID is
// empty.
func (in *Injector) Applied(runID string) ([]Record, error) {
	pattern := filepath.Join(in.stateDir(), "*", "*.json")
	if runID != "" {
		pattern = filepath.Join(in.stateDir(), runID, "*.json")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read applied fault %s: %w", f, err)
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("read applied fault %s: %w", f, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// DefaultStateDir is where applied records are kept: /run/chaos/resource
// for root, else a directory of the user's under the temporary directory.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		if fi, err := os.Stat("/run"); err == nil && fi.IsDir() {
			return "/run/chaos/resource"
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("chaos-%d", os.Geteuid()), "resource")
}

func (in *Injector) stateDir() string {
	if in.StateDir != "" {
		return in.StateDir
	}
	return DefaultStateDir()
}

func (in *Injector) statePath(rec Record) string {
	return filepath.Join(in.stateDir(), rec.RunID, rec.Key+".json")
}

// save stores rec in the state directory, synced, replacing what was
// there.
func (in *Injector) save(rec Record) error {
	if !runIDPattern.MatchString(rec.RunID) || !keyPattern.MatchString(rec.Key) {
		return fmt.Errorf("%s fault: the record has no valid run ID and key: plan it with Injector.Plan", rec.Kind)
	}
	path := in.statePath(rec)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keep the applied fault: %w", err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("keep the applied fault: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("keep the applied fault: %w", err)
	}
	return nil
}

var keyPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// forget removes rec from the state directory.
func (in *Injector) forget(rec Record) error {
	if !runIDPattern.MatchString(rec.RunID) || !keyPattern.MatchString(rec.Key) {
		return nil
	}
	err := os.Remove(in.statePath(rec))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget the reverted fault: %w", err)
	}
	// The run's directory goes once empty; another fault may still be in it.
	_ = os.Remove(filepath.Dir(in.statePath(rec)))
	return nil
}

// fileName names a file a fault makes, so that people who find it know
// what made it.
func fileName(rec *Record, i int) string {
	return fmt.Sprintf("chaos-%s-%s-%s-%d", strings.ReplaceAll(rec.Kind, "_", "-"), rec.RunID, rec.Key, i)
}
