package ledger

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/process"
)

// ownedBy returns a ledger as the process pid would have written it.
func ownedBy(t *testing.T, pid int) *Ledger {
	t.Helper()
	host, _ := os.Hostname()
	start := processStart(pid)
	if start == "" {
		t.Fatalf("no start time for process %d", pid)
	}
	return &Ledger{RunID: "test", PID: pid, PIDStart: start, Host: host}
}

func TestAliveSelf(t *testing.T) {
	if !ownedBy(t, os.Getpid()).Alive() {
		t.Fatal("the ledger of this running process is not alive")
	}
}

// A run killed with SIGKILL whose parent has not reaped it yet is a zombie:
// kill(pid, 0) still succeeds and its start time is still readable, but it
// will never revert its faults.
func TestAliveZombieIsDead(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	pid := cmd.Process.Pid
	reaped := false
	defer func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	l := ownedBy(t, pid)
	if !l.Alive() {
		t.Fatal("the ledger of a running process is not alive")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not waited for: the child stays a zombie until cmd.Wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := process.State(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d is in state %s, want Z", pid, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l.Alive() {
		t.Error("the ledger of a zombie process is alive")
	}
	cmd.Wait()
	reaped = true
	if l.Alive() {
		t.Error("the ledger of a reaped process is alive")
	}
}

// Several experiments of one call share its run ID: each still gets its own
// ledger file, so that one left for chaos recover is not overwritten.
func TestCreateSameRunIDKeepsEarlierLedger(t *testing.T) {
	dir := t.TempDir()
	undo := inject.Undo{Action: "process.cont", Target: inject.Target{Kind: "process", ID: "1"}}
	a := Create(dir, "run1", "a.yaml")
	if _, err := a.Add("stop", "stop", undo); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // kept: an entry is pending
		t.Fatal(err)
	}
	b := Create(dir, "run1", "b.yaml")
	if b.Path() == a.Path() {
		t.Fatalf("two experiments of run1 share the ledger %s", a.Path())
	}
	if _, err := b.Add("stop", "stop", undo); err != nil {
		t.Fatal(err)
	}
	ls, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("%d ledgers, want 2", len(ls))
	}
	files := map[string]bool{}
	for _, l := range ls {
		files[l.File] = true
		if l.RunID != "run1" {
			t.Errorf("run ID %q, want run1", l.RunID)
		}
	}
	if !files["a.yaml"] || !files["b.yaml"] {
		t.Errorf("ledgers of %v, want a.yaml and b.yaml", files)
	}
}

// The default directory is removed once empty, so that a clean run leaves
// nothing behind; a directory chosen with --ledger is kept, so that chaos
// recover can tell it from a mistyped path.
func TestCloseRemovesOnlyTheDefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	undo := inject.Undo{Action: "process.cont", Target: inject.Target{Kind: "process", ID: "1"}}
	for _, dir := range []string{DefaultDir, "mine"} {
		l := Create(dir, "run1", "a.yaml")
		id, err := l.Add("stop", "stop", undo)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Mark(id, Done, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(dir)
		if dir == DefaultDir && !os.IsNotExist(err) {
			t.Errorf("%s is left after a clean run: %v", dir, err)
		}
		if dir != DefaultDir && err != nil {
			t.Errorf("%s is removed after a clean run: %v", dir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "run1.json")); !os.IsNotExist(err) {
			t.Errorf("the ledger of a clean run is left in %s: %v", dir, err)
		}
	}
}

func TestPrepare(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := Prepare(DefaultDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(DefaultDir)); !os.IsNotExist(err) {
		t.Errorf("Prepare left the parent of the default directory behind: %v", err)
	}
	// An existing parent stays.
	os.Mkdir(filepath.Dir(DefaultDir), 0o755)
	if err := Prepare(DefaultDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(DefaultDir); !os.IsNotExist(err) {
		t.Errorf("Prepare left the default directory behind: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(DefaultDir)); err != nil {
		t.Errorf("Prepare removed the existing %s: %v", filepath.Dir(DefaultDir), err)
	}
	if err := Prepare("mine/ledger"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("mine/ledger"); err != nil || !fi.IsDir() {
		t.Errorf("Prepare did not create mine/ledger: %v", err)
	}
	os.WriteFile("file", nil, 0o644)
	if err := Prepare("file"); err == nil {
		t.Error("Prepare of a regular file succeeded")
	}
	if err := Prepare("file/sub"); err == nil {
		t.Error("Prepare under a regular file succeeded")
	}
}
