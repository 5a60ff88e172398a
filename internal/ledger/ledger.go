// Package ledger is the on-disk record of what a run changed: the faults it
// applied, the services it started, the exec steps it ran with an undo and
// the rollbacks it owes. An entry is written and synced before the change
// is made and marked done once it is undone, so that `chaos recover`, or
// the watchdog a run leaves, can undo whatever a run left behind, even one
// killed with SIGKILL.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/dirs"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
)

// DefaultDir is where ledgers are kept unless --ledger says otherwise. It
// does not depend on the working directory, so that chaos recover run from
// anywhere finds what a run left: $XDG_STATE_HOME/chaos/ledger when that is
// set, /var/lib/chaos/ledger for root (one per host), and otherwise
// ~/.local/state/chaos/ledger (one per user).
func DefaultDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "chaos", "ledger")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/chaos/ledger"
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "chaos", "ledger")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("chaos-%d", os.Geteuid()), "ledger")
}

// Entry states.
const (
	Open     = "open"
	Done     = "done"
	Failed   = "failed"
	Volatile = "volatile"
)

// Entry kinds: what an entry undoes.
const (
	// KindFault is a fault on one target; the empty kind of older ledgers
	// is a fault too.
	KindFault = "fault"
	// KindService is a service the run started, to be stopped.
	KindService = "service"
	// KindUndo is the undo command of an exec step that ran.
	KindUndo = "undo"
	// KindRollback is a rollback step the run has not run yet.
	KindRollback = "rollback"
)

// Entry is one change to undo: a fault on one target, a service, an exec
// step's undo, a rollback.
type Entry struct {
	ID    int    `json:"id"`
	Kind  string `json:"kind,omitempty"`
	Step  string `json:"step"`
	Fault string `json:"fault,omitempty"`
	// Undo is how to undo the change; for a rollback, the step itself.
	Undo    inject.Undo `json:"undo"`
	State   string      `json:"state"`
	Error   string      `json:"error,omitempty"`
	Written time.Time   `json:"written"`
	Updated time.Time   `json:"updated"`
}

// IsFault reports whether the entry is a fault.
func (e *Entry) IsFault() bool { return e.Kind == "" || e.Kind == KindFault }

// Ledger is the record of one run, kept in one file.
type Ledger struct {
	RunID    string    `json:"run_id"`
	File     string    `json:"file"`
	PID      int       `json:"pid"`
	PIDStart string    `json:"pid_start"`
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	// Closed is when the run ended and reported what it could not undo;
	// zero while it runs, or when it died before the end.
	Closed time.Time `json:"closed,omitzero"`
	// Recoverer is the process undoing what the run left (chaos recover or
	// the run's watchdog), so that two of them do not run the same undo
	// commands twice.
	Recoverer      int      `json:"recoverer,omitempty"`
	RecovererStart string   `json:"recoverer_start,omitempty"`
	Entries        []*Entry `json:"entries"`
	path           string
	mu             sync.Mutex
	nextID         int
}

// Create starts the ledger of a run in dir. Nothing is written until
// Begin or the first entry. The experiments of one `chaos run` share its run ID and run
// one after the other: each gets its own file, RUN-ID.json, then
// RUN-ID-2.json and so on, so that a ledger an earlier one left for
// `chaos recover` is never overwritten.
func Create(dir, runID, experimentFile string) *Ledger {
	host, _ := os.Hostname()
	path := filepath.Join(dir, runID+".json")
	for n := 2; ; n++ {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		path = filepath.Join(dir, fmt.Sprintf("%s-%d.json", runID, n))
	}
	return &Ledger{
		RunID:    runID,
		File:     experimentFile,
		PID:      os.Getpid(),
		PIDStart: processStart(os.Getpid()),
		Host:     host,
		Started:  time.Now(),
		path:     path,
	}
}

// Begin writes the ledger with no entries yet, so that chaos halt finds
// the run, and its owner, before it has changed anything. Close removes
// it again when nothing is left to undo.
func (l *Ledger) Begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.save()
}

// Prepare creates dir if needed and checks that ledgers can be written in
// it, before a run changes anything.
func Prepare(dir string) error {
	_, err := dirs.Make(dir)
	return err
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Add records a change that is about to be made and syncs it to disk. The
// change must not be made if Add fails.
func (l *Ledger) Add(kind, step, fault string, u inject.Undo) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextID++
	now := time.Now()
	state := Open
	if u.Action == "" {
		state = Done
	} else if u.Volatile {
		state = Volatile
	}
	l.Entries = append(l.Entries, &Entry{ID: l.nextID, Kind: kind, Step: step, Fault: fault, Undo: u, State: state, Written: now, Updated: now})
	return l.nextID, l.save()
}

// ConflictError is returned by Claim when another run's fault, not
// reverted, is on the target or holds what this fault would hold: a run in
// progress, one that died and left it, or one on another host.
type ConflictError struct {
	Target inject.Target
	// Other is the other run's ledger, Entry its fault on the target.
	Other *Ledger
	Entry *Entry
	// Held is what both faults would change, when they have different
	// targets; empty when the target is the same.
	Held string
	// Left is set when the other run is over and left its fault behind,
	// for its watchdog or chaos recover to revert.
	Left bool
}

func (e *ConflictError) Error() string {
	what := fmt.Sprintf("%s is already under", e.Target)
	if e.Held != "" {
		what = fmt.Sprintf("%s (through %s) is already changed by", e.Held, e.Target)
	}
	if e.Other.Elsewhere() {
		return fmt.Sprintf("%s fault %q (step %q) of run %s on host %s (%s, pid %d), not reverted; whether that run is still in progress cannot be seen from here: "+
			"wait for it to end, or run chaos recover on that host",
			what, e.Entry.Fault, e.Entry.Step, e.Other.RunID, e.Other.Host, e.Other.File, e.Other.PID)
	}
	if e.Left {
		return fmt.Sprintf("%s fault %q (step %q) of run %s (%s, pid %d), which ended without reverting it: "+
			"this run would take the fault for the target's own state; run chaos recover, which reverts it, then run again",
			what, e.Entry.Fault, e.Entry.Step, e.Other.RunID, e.Other.File, e.Other.PID)
	}
	return fmt.Sprintf("%s fault %q (step %q) of run %s (%s, pid %d), which is still in progress: "+
		"one run's revert would end the other's fault; wait for it to end or pick another target",
		what, e.Entry.Fault, e.Entry.Step, e.Other.RunID, e.Other.File, e.Other.PID)
}

// Claim records a fault on t that is about to be applied, as Add does,
// unless another run with its ledger in the same directory has a fault on
// t or one holding what u holds that is not reverted: one still in
// progress, or one that died and left it (its watchdog or chaos recover
// may be reverting it, or nobody yet: this run would record the fault as
// the target's own state, and put it back). Then it returns a
// *ConflictError. The check and the record are made under a lock on the
// directory, so two runs cannot both claim one target.
func (l *Ledger) Claim(step, fault string, t inject.Target, u inject.Undo) (int, error) {
	unlock, err := lockDir(filepath.Dir(l.path))
	if err != nil {
		return 0, err
	}
	defer unlock()
	if ce := l.conflict(t, u.Holds); ce != nil {
		return 0, ce
	}
	return l.Add(KindFault, step, fault, u)
}

// Conflict returns the *ConflictError Claim would return for a fault on t
// that holds nothing else, or nil: for a fault that could not even be
// planned, because another run's fault on t is in the way (a process
// stopped already), that run says more than the plan's error.
func (l *Ledger) Conflict(t inject.Target) error {
	unlock, err := lockDir(filepath.Dir(l.path))
	if err != nil {
		return nil
	}
	defer unlock()
	if ce := l.conflict(t, nil); ce != nil {
		return ce
	}
	return nil
}

// conflict finds another run's fault, not reverted, on t or holding one
// of holds. The directory's lock must be held.
func (l *Ledger) conflict(t inject.Target, holds []string) *ConflictError {
	others, _ := Load(filepath.Dir(l.path)) // a ledger that cannot be read holds nothing
	for _, o := range others {
		if o.path == l.path {
			continue
		}
		left := !o.Closed.IsZero() || (!o.Alive() && !o.Elsewhere())
		for _, e := range o.Pending() {
			if !e.IsFault() {
				continue
			}
			if e.Undo.Target.Kind == t.Kind && e.Undo.Target.ID == t.ID {
				return &ConflictError{Target: t, Other: o, Entry: e, Left: left}
			}
			for _, h := range holds {
				if slices.Contains(e.Undo.Holds, h) {
					return &ConflictError{Target: t, Other: o, Entry: e, Held: h, Left: left}
				}
			}
		}
	}
	return nil
}

// lockDir takes an exclusive lock on dir, which stays there.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock the ledger directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the ledger directory: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the ledger directory: %w", err)
	}
	return func() { f.Close() }, nil
}

// Update replaces an entry's undo record, for changes that learn more while
// being made.
func (l *Ledger) Update(id int, u inject.Undo) error {
	return l.set(id, func(e *Entry) { e.Undo = u })
}

// Mark sets an entry's state, with the error when the undo failed.
func (l *Ledger) Mark(id int, state string, err error) error {
	return l.set(id, func(e *Entry) {
		e.State = state
		e.Error = ""
		if err != nil {
			e.Error = err.Error()
		}
	})
}

func (l *Ledger) set(id int, fn func(*Entry)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.Entries {
		if e.ID == id {
			fn(e)
			e.Updated = time.Now()
			return l.save()
		}
	}
	return fmt.Errorf("ledger: no entry %d", id)
}

// Pending returns the entries still to undo, in the order they were
// written.
func (l *Ledger) Pending() []*Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Entry
	for _, e := range l.Entries {
		if e.State == Open || e.State == Failed {
			out = append(out, e)
		}
	}
	return out
}

// ToUndo returns the entries still to undo in the order a run undoes them:
// faults and exec steps' undos newest first, then the rollbacks in their
// order, then the services, newest first.
func (l *Ledger) ToUndo() []*Entry {
	var changes, rollbacks, services []*Entry
	for _, e := range l.Pending() {
		switch e.Kind {
		case KindRollback:
			rollbacks = append(rollbacks, e)
		case KindService:
			services = append(services, e)
		default:
			changes = append(changes, e)
		}
	}
	slices.Reverse(changes)
	slices.Reverse(services)
	return slices.Concat(changes, rollbacks, services)
}

// Close ends the run's ledger: it removes the file when nothing is left to
// undo, and otherwise keeps it for `chaos recover`, marked closed so that
// the run's watchdog knows the run reported what it left.
func (l *Ledger) Close() error {
	if len(l.Pending()) > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.Closed = time.Now()
		return l.save()
	}
	err := os.Remove(l.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

// TakeOver makes this process the one that undoes what the ledger's run
// left, unless another process is already at it. It reads the ledger again
// from disk first, so that entries another process undid in the meantime
// are not undone twice. It reports false when another live process is
// recovering the ledger, with that process's pid, or when the ledger is
// gone.
func (l *Ledger) TakeOver() (ok bool, by int, err error) {
	unlock, err := lockDir(filepath.Dir(l.path))
	if err != nil {
		return false, 0, err
	}
	defer unlock()
	fresh, err := read(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	self := os.Getpid()
	if fresh.Recoverer != 0 && fresh.Recoverer != self && alive(fresh.Host, fresh.Recoverer, fresh.RecovererStart) {
		return false, fresh.Recoverer, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Entries, l.nextID, l.Closed = fresh.Entries, fresh.nextID, fresh.Closed
	l.Recoverer, l.RecovererStart = self, processStart(self)
	return true, 0, l.save()
}

// save writes the ledger atomically and durably: temp file, fsync, rename,
// fsync of the directory.
func (l *Ledger) save() error {
	dir := filepath.Dir(l.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ledger-*")
	if err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write ledger: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write ledger: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Load reads every ledger in dir, oldest first. A ledger that cannot be
// read is named in the error; the others are returned all the same.
func Load(dir string) ([]*Ledger, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Ledger
	var errs []error
	for _, p := range paths {
		l, err := read(p)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // removed since the glob
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Ledger) int { return a.Started.Compare(b.Started) })
	return out, errors.Join(errs...)
}

func read(path string) (*Ledger, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	l := &Ledger{path: path}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("read ledger %s: %v", path, err)
	}
	for _, e := range l.Entries {
		l.nextID = max(l.nextID, e.ID)
	}
	return l, nil
}

// Alive reports whether the process that wrote the ledger is still running
// on this host; recovering its faults then would pull them from under a
// live run.
func (l *Ledger) Alive() bool { return alive(l.Host, l.PID, l.PIDStart) }

// InProgress reports whether the ledger's run is still under way here:
// its process lives and it has not closed the ledger. The experiments of
// one call share a process: one that ended and closed its ledger with
// changes it could not undo left them, though the call goes on with the
// next; it will not undo them again.
func (l *Ledger) InProgress() bool { return l.Closed.IsZero() && l.Alive() }

// Elsewhere reports whether the ledger was written on another host (a
// ledger directory shared between hosts): whether its run is still in
// progress cannot be seen from here, and its processes, network
// namespaces, commands and local Docker engine are that host's.
func (l *Ledger) Elsewhere() bool {
	self, _ := os.Hostname()
	return l.Host != "" && l.Host != self
}

// alive reports whether the process pid, started at start, runs on this
// host. A zombie, killed but not yet reaped by its parent, is not running:
// it will never revert its faults.
func alive(host string, pid int, start string) bool {
	self, _ := os.Hostname()
	if host != self || pid <= 0 {
		return false
	}
	t, err := strconv.ParseUint(start, 10, 64)
	return err == nil && proc.ID{PID: pid, Start: t}.Alive()
}

// processStart is the start time that, with the pid, names the process that
// wrote a ledger; empty when the process is gone.
func processStart(pid int) string {
	t, err := proc.StartTime(pid)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(t, 10)
}
