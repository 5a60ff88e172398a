package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/proc"
)

// A ledger directory shared between hosts holds the ledgers of runs made
// elsewhere: their processes, namespaces and local engine are that host's,
// and whether they still run cannot be seen from here. chaos recover leaves
// them alone, saying where to run it, unless --force; here the pid names a
// process of this host that the other host's fault never touched.
func TestRecoverLeavesAnotherHostsLedgerAlone(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pid := victim.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP) // stopped by someone on this host
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(id)
	dir := t.TempDir()
	l := ledger.Create(dir, "elsewhere", "shared.yaml")
	l.Host = "another-host"
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sleep"}
	if _, err := l.Add(ledger.KindFault, "stop", "stop", inject.Undo{Action: "process.cont", Target: tg, Data: data}); err != nil {
		t.Fatal(err)
	}

	io, out, errb := testStdio()
	code := run([]string{"recover", "--ledger", dir}, io)
	if code != exitErr || !strings.Contains(errb.String(), "was made on host another-host: run chaos recover there") {
		t.Errorf("chaos recover exited %d; want %d, saying where to run it\n%s\n%s", code, exitErr, out, errb)
	}
	time.Sleep(50 * time.Millisecond)
	if st, _ := proc.State(pid); st != "T" {
		t.Errorf("the process is %s after chaos recover; want still stopped (T): the other host's revert reached it", st)
	}

	io, out, errb = testStdio()
	if code := run([]string{"recover", "--force", "--ledger", dir}, io); code != exitPassed {
		t.Errorf("chaos recover --force exited %d\n%s\n%s", code, out, errb)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 1 {
		t.Errorf("ledgers left after chaos recover --force: %v", entries)
	}
}
