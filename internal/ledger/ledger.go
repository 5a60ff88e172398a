// Package ledger is the on-disk record of injected faults. An entry is
// written and synced before its fault is applied and marked done once the
// fault is reverted, so that `chaos recover` can remove whatever a run left
// behind, even one killed with SIGKILL.
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
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/dirs"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/process"
)

// DefaultDir is where ledgers are kept, relative to the working directory.
// It is removed once empty, so that a clean run leaves nothing behind; a
// directory chosen by the user is kept, so that `chaos recover --ledger DIR`
// can tell it from a mistyped path.
const DefaultDir = ".chaos/ledger"

// isDefault reports whether dir is DefaultDir, the directory that is
// removed once empty.
func isDefault(dir string) bool { return filepath.Clean(dir) == DefaultDir }

// Entry states.
const (
	Open     = "open"
	Done     = "done"
	Failed   = "failed"
	Volatile = "volatile"
)

// Entry is one fault on one target.
type Entry struct {
	ID      int         `json:"id"`
	Step    string      `json:"step"`
	Fault   string      `json:"fault"`
	Undo    inject.Undo `json:"undo"`
	State   string      `json:"state"`
	Error   string      `json:"error,omitempty"`
	Written time.Time   `json:"written"`
	Updated time.Time   `json:"updated"`
}

// Ledger is the record of one run, kept in one file.
type Ledger struct {
	RunID    string    `json:"run_id"`
	File     string    `json:"file"`
	PID      int       `json:"pid"`
	PIDStart string    `json:"pid_start"`
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	Entries  []*Entry  `json:"entries"`
	path     string
	mu       sync.Mutex
	nextID   int
	// removeDir says to remove the ledger's directory once it is empty.
	removeDir bool
}

// Create starts the ledger of a run in dir. Nothing is written until the
// first entry. The experiments of one `chaos run` share its run ID and run
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
		RunID:     runID,
		File:      experimentFile,
		PID:       os.Getpid(),
		PIDStart:  processStart(os.Getpid()),
		Host:      host,
		Started:   time.Now(),
		path:      path,
		removeDir: isDefault(dir),
	}
}

// Prepare creates dir if needed and checks that ledgers can be written in
// it, before a run applies any fault. The default directory is not left
// behind when Prepare created it: runs create it again with their first
// entry.
func Prepare(dir string) error {
	created, err := dirs.Make(dir)
	if isDefault(dir) {
		dirs.RemoveEmpty(created)
	}
	return err
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Add records a fault that is about to be applied and syncs it to disk. The
// fault must not be applied if Add fails.
func (l *Ledger) Add(step, fault string, u inject.Undo) (int, error) {
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
	l.Entries = append(l.Entries, &Entry{ID: l.nextID, Step: step, Fault: fault, Undo: u, State: state, Written: now, Updated: now})
	return l.nextID, l.save()
}

// Update replaces an entry's undo record, for faults that learn more while
// being applied.
func (l *Ledger) Update(id int, u inject.Undo) error {
	return l.set(id, func(e *Entry) { e.Undo = u })
}

// Mark sets an entry's state, with the error when the revert failed.
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

// Pending returns the entries still to revert.
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

// Close removes the ledger file when nothing is left to revert, and keeps it
// otherwise for `chaos recover`.
func (l *Ledger) Close() error {
	if len(l.Pending()) > 0 {
		return nil
	}
	err := os.Remove(l.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	// An empty default ledger directory says nothing is left behind;
	// remove it (this fails, harmlessly, while other runs keep ledgers in
	// it).
	if l.removeDir {
		os.Remove(filepath.Dir(l.path))
	}
	return err
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

// Load reads every ledger in dir, oldest first.
func Load(dir string) ([]*Ledger, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Ledger
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read ledger: %w", err)
		}
		l := &Ledger{path: p, removeDir: isDefault(dir)}
		if err := json.Unmarshal(b, l); err != nil {
			return nil, fmt.Errorf("read ledger %s: %v", p, err)
		}
		for _, e := range l.Entries {
			l.nextID = max(l.nextID, e.ID)
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Ledger) int { return a.Started.Compare(b.Started) })
	return out, nil
}

// Alive reports whether the process that wrote the ledger is still running
// on this host; recovering its faults then would pull them from under a
// live run. A zombie, killed but not yet reaped by its parent, is not
// running: it will never revert its faults.
func (l *Ledger) Alive() bool {
	host, _ := os.Hostname()
	if l.Host != host || l.PID <= 0 {
		return false
	}
	if err := syscall.Kill(l.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if st, err := process.State(l.PID); err != nil || st == "Z" || st == "X" || st == "x" {
		return false
	}
	return processStart(l.PID) == l.PIDStart
}

// processStart is the start time that, with the pid, names the process that
// wrote a ledger; empty when the process is gone.
func processStart(pid int) string {
	t, err := process.StartTime(pid)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(t, 10)
}
