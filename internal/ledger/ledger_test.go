package ledger

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/proc"
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
		st, err := proc.State(pid)
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
	if _, err := a.Add(KindFault, "stop", "stop", undo); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // kept: an entry is pending
		t.Fatal(err)
	}
	b := Create(dir, "run1", "b.yaml")
	if b.Path() == a.Path() {
		t.Fatalf("two experiments of run1 share the ledger %s", a.Path())
	}
	if _, err := b.Add(KindFault, "stop", "stop", undo); err != nil {
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

// The default directory does not depend on the working directory:
// XDG_STATE_HOME when set, /var/lib/chaos for root, ~/.local/state
// otherwise.
func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if got := DefaultDir(); got != "/state/chaos/ledger" {
		t.Errorf("DefaultDir() with XDG_STATE_HOME=/state = %q", got)
	}
	// A relative XDG_STATE_HOME is invalid by the XDG spec and ignored.
	t.Setenv("XDG_STATE_HOME", "rel")
	t.Setenv("HOME", "/home/u")
	want := "/home/u/.local/state/chaos/ledger"
	if os.Geteuid() == 0 {
		want = "/var/lib/chaos/ledger"
	}
	if got := DefaultDir(); got != want {
		t.Errorf("DefaultDir() = %q, want %q", got, want)
	}
	t.Chdir(t.TempDir())
	if got := DefaultDir(); got != want {
		t.Errorf("DefaultDir() in another directory = %q, want %q", got, want)
	}
}

func TestPrepare(t *testing.T) {
	t.Chdir(t.TempDir())
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

// A clean run leaves no ledger file; one with something left keeps it,
// marked closed, so that the watchdog can tell it from a run that died.
func TestClose(t *testing.T) {
	dir := t.TempDir()
	undo := inject.Undo{Action: "process.cont", Target: inject.Target{Kind: "process", ID: "1"}}
	clean := Create(dir, "clean", "a.yaml")
	id, _ := clean.Add(KindFault, "stop", "stop", undo)
	clean.Mark(id, Done, nil)
	if err := clean.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(clean.Path()); !os.IsNotExist(err) {
		t.Errorf("the ledger of a clean run is left: %v", err)
	}
	left := Create(dir, "left", "a.yaml")
	id, _ = left.Add(KindFault, "stop", "stop", undo)
	left.Mark(id, Failed, os.ErrPermission)
	if err := left.Close(); err != nil {
		t.Fatal(err)
	}
	ls, err := Load(dir)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Load = %d ledgers, %v; want the one left", len(ls), err)
	}
	if ls[0].Closed.IsZero() {
		t.Error("a ledger kept by Close is not marked closed")
	}
}

// Faults and undos are undone newest first, then the rollbacks run in
// their order, then the services stop, newest first.
func TestToUndoOrder(t *testing.T) {
	l := Create(t.TempDir(), "run", "a.yaml")
	u := func(id string) inject.Undo { return inject.Undo{Action: "x", Target: inject.Target{Kind: "k", ID: id}} }
	l.Add(KindService, "db", "", u("s1"))
	l.Add(KindService, "api", "", u("s2"))
	l.Add(KindRollback, "r1", "", u("r1"))
	l.Add(KindRollback, "r2", "", u("r2"))
	l.Add(KindFault, "stop", "stop", u("f1"))
	l.Add(KindUndo, "exec", "", u("u1"))
	l.Add(KindFault, "pause", "pause", u("f2"))
	var got []string
	for _, e := range l.ToUndo() {
		got = append(got, e.Undo.Target.ID)
	}
	want := []string{"f2", "u1", "f1", "r1", "r2", "s2", "s1"}
	if !slices.Equal(got, want) {
		t.Errorf("ToUndo order %v, want %v", got, want)
	}
}

// A target under a fault of another live run is refused; one of a dead
// run, or one whose fault was reverted, is not.
func TestClaimConflict(t *testing.T) {
	dir := t.TempDir()
	target := inject.Target{Kind: "process", ID: "4242", Name: "victim"}
	undo := inject.Undo{Action: "process.cont", Target: target}

	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	live := ownedBy(t, other.Process.Pid)
	live.path = filepath.Join(dir, "live.json")
	id, err := live.Add(KindFault, "stop it", "stop", undo)
	if err != nil {
		t.Fatal(err)
	}

	mine := Create(dir, "mine", "b.yaml")
	_, err = mine.Claim("stop too", "stop", target, undo)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Claim of a target under a live run's fault = %v, want a ConflictError", err)
	}
	if !strings.Contains(err.Error(), `fault "stop" (step "stop it") of run test`) {
		t.Errorf("the error does not name the other run's fault: %v", err)
	}
	if len(mine.Entries) != 0 {
		t.Errorf("a refused claim was recorded: %+v", mine.Entries)
	}
	other2 := inject.Target{Kind: "process", ID: "4343"}
	if _, err := mine.Claim("other", "stop", other2, inject.Undo{Action: "process.cont", Target: other2}); err != nil {
		t.Errorf("Claim of another target: %v", err)
	}
	live.Mark(id, Done, nil)
	if _, err := mine.Claim("stop too", "stop", target, undo); err != nil {
		t.Errorf("Claim after the other run reverted: %v", err)
	}

	// A dead run's fault that is not reverted yet is still on the target:
	// a run that claimed it would take it for the target's own state.
	// Once reverted (by the watchdog or chaos recover), the target is free.
	dead := ownedBy(t, other.Process.Pid)
	dead.path = filepath.Join(dir, "dead.json")
	third := inject.Target{Kind: "process", ID: "4444"}
	deadID, _ := dead.Add(KindFault, "stop it", "stop", inject.Undo{Action: "process.cont", Target: third})
	other.Process.Kill()
	other.Wait()
	_, err = Create(dir, "third", "c.yaml").Claim("s", "stop", third, inject.Undo{Action: "process.cont", Target: third})
	if !errors.As(err, &ce) || !ce.Left || !strings.Contains(err.Error(), "ended without reverting it") || !strings.Contains(err.Error(), "run chaos recover") {
		t.Errorf("Claim of a target under a dead run's fault = %v; want a ConflictError saying to run chaos recover", err)
	}
	dead.Mark(deadID, Done, nil)
	if _, err := Create(dir, "fourth", "d.yaml").Claim("s", "stop", third, inject.Undo{Action: "process.cont", Target: third}); err != nil {
		t.Errorf("Claim of a target whose dead run's fault was reverted: %v", err)
	}
}

// Two tasks of one Swarm service are different targets, but a fault on
// each that changes the service's replicas holds the same thing: the
// second run would record the first's lowered count as the original and
// put it back on revert. Such a claim is refused; one holding something
// else is not.
func TestClaimConflictOnWhatIsHeld(t *testing.T) {
	dir := t.TempDir()
	a, b := Create(dir, "a", "a.yaml"), Create(dir, "b", "b.yaml")
	task1 := inject.Target{Kind: "swarm", ID: "task1", Name: "web.1"}
	task2 := inject.Target{Kind: "swarm", ID: "task2", Name: "web.2"}
	held := "replicas of Swarm service svc1"
	if _, err := a.Claim("scale down", "scale", task1, inject.Undo{Action: "swarm.scale", Target: task1, Holds: []string{held}}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Claim("scale too", "scale", task2, inject.Undo{Action: "swarm.scale", Target: task2, Holds: []string{held}})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Claim holding what a live run holds = %v, want a ConflictError", err)
	}
	if want := held + " (through " + task2.String() + `) is already changed by fault "scale" (step "scale down") of run a`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	other := inject.Undo{Action: "swarm.scale", Target: task2, Holds: []string{"replicas of Swarm service svc2"}}
	if _, err := b.Claim("scale another", "scale", task2, other); err != nil {
		t.Errorf("Claim holding something else: %v", err)
	}
}

// Two runs claiming one target at the same time: exactly one wins.
func TestClaimRace(t *testing.T) {
	dir := t.TempDir()
	target := inject.Target{Kind: "process", ID: "4242"}
	undo := inject.Undo{Action: "process.cont", Target: target}
	// Both ledgers are this live process's: each is the other's live run.
	a, b := Create(dir, "a", "a.yaml"), Create(dir, "b", "b.yaml")
	errs := make(chan error, 2)
	for _, l := range []*Ledger{a, b} {
		go func() {
			_, err := l.Claim("stop", "stop", target, undo)
			errs <- err
		}()
	}
	var won int
	for range 2 {
		if err := <-errs; err == nil {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of 2 concurrent claims of one target won, want 1", won)
	}
}

// Two recoverers of one ledger: the second is told who is at it.
func TestTakeOver(t *testing.T) {
	dir := t.TempDir()
	l := Create(dir, "run", "a.yaml")
	l.Add(KindFault, "stop", "stop", inject.Undo{Action: "x", Target: inject.Target{Kind: "k", ID: "1"}})
	first, _ := Load(dir)
	ok, _, err := first[0].TakeOver()
	if err != nil || !ok {
		t.Fatalf("TakeOver = %v, %v; want true", ok, err)
	}
	// Another live process holds it.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	first[0].Recoverer, first[0].RecovererStart = other.Process.Pid, processStart(other.Process.Pid)
	first[0].save()
	second, _ := Load(dir)
	ok, by, err := second[0].TakeOver()
	if err != nil || ok || by != other.Process.Pid {
		t.Fatalf("TakeOver while pid %d recovers = %v, %d, %v; want false and its pid", other.Process.Pid, ok, by, err)
	}
	other.Process.Kill()
	other.Wait()
	if ok, _, err := second[0].TakeOver(); err != nil || !ok {
		t.Errorf("TakeOver after the recoverer died = %v, %v; want true", ok, err)
	}
}

// The experiments of one call share its process: an earlier one that
// closed its ledger with a fault it could not revert has ended, though the
// process lives on with the next. A claim on that target says the fault
// was left behind, for chaos recover, not that a run is in progress with
// it; and the ledger is not in progress.
func TestClaimConflictWithAClosedLedgerOfThisCall(t *testing.T) {
	dir := t.TempDir()
	target := inject.Target{Kind: "process", ID: "4242", Name: "victim"}
	undo := inject.Undo{Action: "process.cont", Target: target}
	first := Create(dir, "call", "a.yaml")
	id, err := first.Add(KindFault, "stop it", "stop", undo)
	if err != nil {
		t.Fatal(err)
	}
	first.Mark(id, Failed, errors.New("the revert timed out"))
	if !first.InProgress() {
		t.Error("an open ledger of this live process is not in progress")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ls, err := Load(dir)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Load = %d ledgers, %v; want the closed one", len(ls), err)
	}
	if ls[0].InProgress() || !ls[0].Alive() {
		t.Errorf("closed ledger of this live process: in progress %v, alive %v; want not in progress, alive", ls[0].InProgress(), ls[0].Alive())
	}
	_, err = Create(dir, "call", "b.yaml").Claim("stop too", "stop", target, undo)
	var ce *ConflictError
	if !errors.As(err, &ce) || !ce.Left || !strings.Contains(err.Error(), "ended without reverting it") || strings.Contains(err.Error(), "still in progress") {
		t.Errorf("Claim of a target under a fault an ended experiment left = %v; want a ConflictError saying it was left, for chaos recover", err)
	}
}
