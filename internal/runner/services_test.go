package runner_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/proc"
	"github.com/gamedayhq/chaos/internal/runner"
)

// runIn runs an experiment with its reports and ledger in dir.
func runIn(t *testing.T, dir, src string) *journal.Journal {
	t.Helper()
	exp, err := experiment.Parse("test.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	return runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: filepath.Join(dir, "ledger")})
}

func event(j *journal.Journal, typ journal.Type) *journal.Event {
	for i := range j.Events {
		if j.Events[i].Type == typ {
			return &j.Events[i]
		}
	}
	return nil
}

// A service that exits once it is up is told at once, with its exit
// status and last output, and makes the run an error that ends its method
// early; unless the file says the service may exit.
func TestServiceExitAfterReady(t *testing.T) {
	const src = `version: v1
title: a service dies
services:
  - name: dies
    run: [sh, -c, "echo going; sleep 0.5; echo bye; exit 3"]
%s
method:
  - wait: 10s
`
	start := time.Now()
	j := runIn(t, t.TempDir(), strings.Replace(src, "%s", "", 1))
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the run took %s: the method went on after the service died", took)
	}
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s: %s; want error", j.Verdict, j.Reason)
	}
	for _, want := range []string{`service "dies" exited with exit code 3 while the run was in progress`, "going | bye", "may_exit: true"} {
		if !strings.Contains(j.Reason, want) {
			t.Errorf("reason %q does not say %q", j.Reason, want)
		}
	}
	ev := event(j, "service.exited")
	if ev == nil {
		t.Fatal("no service.exited event")
	}
	svc := j.Services[0]
	if svc.Exited.IsZero() || ev.Time.Sub(svc.Started) > 2*time.Second || ev.Time.Sub(svc.Started) < 400*time.Millisecond {
		t.Errorf("exit recorded at %s (event at %s), service started %s; want about 0.5s after the start", svc.Exited, ev.Time, svc.Started)
	}
	if svc.ExitCode == nil || *svc.ExitCode != 3 {
		t.Errorf("exit code %v, want 3", svc.ExitCode)
	}

	j = runIn(t, t.TempDir(), strings.Replace(strings.Replace(src, "%s", "    may_exit: true", 1), "10s", "4s", 1))
	if j.Verdict != journal.Passed {
		t.Errorf("with may_exit: verdict %s: %s; want passed", j.Verdict, j.Reason)
	}
	if event(j, "service.exited") == nil {
		t.Error("with may_exit: no service.exited event")
	}
}

// A service whose ready address already answers before it starts (a
// service a killed run left behind) is refused: its ready check would pass
// against the old process.
func TestServiceReadyAddressTaken(t *testing.T) {
	old, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	go func() {
		for {
			c, err := old.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dir := t.TempDir()
	j := runIn(t, dir, `version: v1
title: port taken
services:
  - name: svc
    run: [sh, -c, "echo started >`+filepath.Join(dir, "ran")+`; sleep 30"]
    ready: {tcp: {address: "`+old.Addr().String()+`"}, within: 2s}
method:
  - wait: 10ms
`)
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s: %s; want error", j.Verdict, j.Reason)
	}
	want := "its ready address " + old.Addr().String() + " already answers before the service is started (pid " + strconv.Itoa(os.Getpid())
	if !strings.Contains(j.Reason, want) {
		t.Errorf("reason %q does not say %q", j.Reason, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the service was started")
	}
}

// A service whose ready check reaches an earlier service of the same run
// (the third member of a cluster, ready when the first answers) was told
// to stop "that process", or have chaos recover stop it, as if it were
// left over from a killed run; the reason now names the service of this
// run that holds the address.
func TestReadyAddressOfAnEarlierService(t *testing.T) {
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer("${self}", self, "${addr}", addr, "${pidfile}", filepath.Join(dir, "first.pid"), "${dir}", dir).Replace(`version: v1
title: two services, one address
services:
  - name: first
    run: ["${self}"]
    env: {RUNNER_TEST_SERVE: "${addr}", RUNNER_TEST_PIDFILE: "${pidfile}"}
    ready: {http: {url: "http://${addr}/"}, within: 10s}
  - name: second
    run: [sh, -c, "echo started >${dir}/ran; sleep 30"]
    ready: {tcp: {address: "${addr}"}, within: 2s}
method:
  - wait: 10ms
`)
	j := runIn(t, dir, src)
	if j.Verdict != journal.Errored {
		t.Fatalf("verdict %s: %s; want error", j.Verdict, j.Reason)
	}
	want := `service "second": its ready address ` + addr + ` is that of service "first", which this run started before it (pid `
	if !strings.Contains(j.Reason, want) || strings.Contains(j.Reason, "chaos recover") {
		t.Errorf("reason %q; want it to say %q, and nothing of chaos recover", j.Reason, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the second service was started")
	}
}

// A service that exited during the run (an etcd member a kill fault
// ended, with may_exit) was said at the end of the run to be "stopped by
// SIGTERM", as if chaos had stopped it then; the event now says it had
// already exited, and how.
func TestServiceGoneBeforeStopSaysSo(t *testing.T) {
	dir := t.TempDir()
	j := runIn(t, dir, `version: v1
title: a service that ends on its own
services:
  - name: quick
    run: [sh, -c, "exit 3"]
    may_exit: true
method:
  - wait: 500ms
`)
	ev := event(j, "service.stopped")
	if ev == nil || ev.Message != "quick had already exited (exit code 3)" {
		t.Errorf("service.stopped event %+v; want it to say that quick had already exited (exit code 3)", ev)
	}
}

// A service is in the ledger, with its pid, start time and group, from
// before it runs until it is stopped.
func TestServiceInLedger(t *testing.T) {
	dir := t.TempDir()
	src := `version: v1
title: service in the ledger
services:
  - name: svc
    run: [sh, -c, "cat ` + filepath.Join(dir, "ledger") + `/*.json >` + filepath.Join(dir, "seen") + `; exec sleep 30"]
    ready: {exec: {run: [test, -s, ` + filepath.Join(dir, "seen") + `]}, within: 5s}
method:
  - wait: 10ms
`
	j := runIn(t, dir, src)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	var seen ledger.Ledger
	if err := json.Unmarshal(b, &seen); err != nil {
		t.Fatalf("the service saw no ledger: %v\n%s", err, b)
	}
	if len(seen.Entries) != 1 || seen.Entries[0].Kind != ledger.KindService || seen.Entries[0].State != ledger.Open {
		t.Fatalf("the ledger while the service ran: %s", b)
	}
	var g struct{ PID, Start int }
	json.Unmarshal(seen.Entries[0].Undo.Data, &g)
	if g.PID != j.Services[0].PID || g.Start == 0 {
		t.Errorf("the ledger records pid %d start %d; the service was pid %d", g.PID, g.Start, j.Services[0].PID)
	}
	if err := syscall.Kill(j.Services[0].PID, 0); err == nil {
		t.Errorf("service pid %d still runs after the run", j.Services[0].PID)
	}
	if ls, _ := ledger.Load(filepath.Join(dir, "ledger")); len(ls) != 0 {
		t.Errorf("a ledger is left after a clean run: %+v", ls[0].Entries)
	}
}

// A service that ignores SIGTERM is killed with its whole group once its
// grace period is over, not before, and the run says so.
func TestServiceIgnoresTerm(t *testing.T) {
	dir := t.TempDir()
	childPID := filepath.Join(dir, "child.pid")
	src := `version: v1
title: a service that ignores SIGTERM
services:
  - name: stubborn
    run: [sh, -c, 'trap "" TERM; sleep 30 & echo $! >` + childPID + `; wait']
    ready: {exec: {run: [test, -s, ` + childPID + `]}, within: 5s}
    grace: 700ms
method:
  - wait: 10ms
`
	j := runIn(t, dir, src)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s: %s", j.Verdict, j.Reason)
	}
	want := `service "stubborn" did not exit within 700ms of SIGTERM; killed`
	if len(j.Warnings) != 1 || j.Warnings[0] != want {
		t.Errorf("warnings %q; want %q", j.Warnings, want)
	}
	svc := j.Services[0]
	if took := svc.Stopped.Sub(svc.Ready); took < 700*time.Millisecond {
		t.Errorf("the service was stopped %s after it was ready; want SIGKILL only after its grace of 700ms", took)
	}
	if ev := event(j, "service.stopped"); ev == nil || ev.Message != "stubborn stopped by SIGKILL" {
		t.Errorf("service.stopped event %+v; want it killed", ev)
	}
	if svc.Signal != "SIGKILL" || svc.ExitCode != nil || svc.ExitText() != "stopped by SIGKILL" {
		t.Errorf("service recorded with signal %q, exit code %v (%q); want SIGKILL and no exit code", svc.Signal, svc.ExitCode, svc.ExitText())
	}
	b, err := os.ReadFile(childPID)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for !proc.Gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the service's child %d, which ignores SIGTERM too, still runs 10s after the run", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ls, _ := ledger.Load(filepath.Join(dir, "ledger")); len(ls) != 0 {
		t.Errorf("a ledger is left after the service was killed: %+v", ls[0].Entries)
	}
}

// A service that reaches its dependency through one of the run's proxies
// (nginx in front of a backend behind the fault proxy) can be ready only
// once the proxy listens: the run's own proxies start before the services.
// A service whose ready check goes to a proxy's listen address is refused
// with a reason that says so: the proxy, not the service, would answer it.
func TestServiceBehindRunProxy(t *testing.T) {
	s := newService(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	front := "127.0.0.1:" + freePort(t)
	src := strings.NewReplacer("${self}", self, "${front}", front, "${pidfile}", filepath.Join(dir, "front.pid")).Replace(`version: v1
title: a front behind which the proxy sits
services:
  - name: front
    run: ["${self}"]
    env: {RUNNER_TEST_SERVE: "${front}", RUNNER_TEST_PIDFILE: "${pidfile}", RUNNER_TEST_UPSTREAM: "${px}"}
    ready: {http: {url: "http://${front}/"}, within: 3s}
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: the front answers
    probe: {http: {url: "http://${front}/", timeout: 1s}}
    interval: 100ms
method:
  - {fault: down, target: link, for: 500ms}
`)
	j := run(t, src, s)
	if j.Verdict != journal.Deviated || check(j, "the front answers").Results["during"] != journal.Broken {
		t.Fatalf("verdict %s: %s; want deviated, the front broken while its link is down", j.Verdict, j.Reason)
	}

	t.Run("ready through the proxy", func(t *testing.T) {
		j := run(t, `version: v1
title: a service readied through the proxy
services:
  - name: backend
    run: [sleep, "30"]
    ready: {tcp: {address: "${px}"}, within: 2s}
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: answers
    probe: {tcp: {address: "${px}"}}
method:
  - {fault: down, target: link, for: 500ms}
`, s)
		if j.Verdict != journal.Errored || !strings.Contains(j.Reason, `proxy target "link"`) {
			t.Fatalf("verdict %s: %s; want an error naming the proxy target", j.Verdict, j.Reason)
		}
	})
}

// A service that goes to the background (nginx without daemon off: the
// process the run started exits 0 and the server runs on in a session of
// its own) is told as such, with the process left holding its ready
// address, instead of a bare "exited with exit code 0"; whether its
// process exits before its ready check passes or after (nginx binds its
// ports before it forks, so its ready check may pass first).
func TestServiceDaemonizes(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, then string }{
		// Either before or after its ready check passes.
		{"exits as it starts", "exit 0"},
		// Surely after: the ready check is polled every 100ms.
		{"exits once ready", "sleep 1; exit 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "daemon.pid")
			t.Cleanup(func() {
				if b, err := os.ReadFile(pidFile); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			addr := "127.0.0.1:" + freePort(t)
			// The method outlasts the service's process however slow the
			// machine: the run must see it exit, and ends when it does.
			src := strings.NewReplacer("${self}", self, "${addr}", addr, "${pidfile}", pidFile, "${then}", tt.then).Replace(`version: v1
title: a daemon
services:
  - name: daemon
    run: [sh, -c, 'setsid "${self}" </dev/null >/dev/null 2>&1 & while [ ! -s "${pidfile}" ]; do sleep 0.05; done; ${then}']
    env: {RUNNER_TEST_SERVE: "${addr}", RUNNER_TEST_PIDFILE: "${pidfile}"}
    ready: {tcp: {address: "${addr}"}, within: 5s}
steady_state:
  - name: answers
    probe: {tcp: {address: "${addr}"}}
method:
  - wait: 20s
`)
			start := time.Now()
			j := runIn(t, dir, src)
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("the run took %s: it went on after the service's process exited", took)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			if j.Verdict != journal.Errored || !strings.Contains(j.Reason, "gone to the background") ||
				!strings.Contains(j.Reason, "pid "+strings.TrimSpace(string(b))) || !strings.Contains(j.Reason, "left running") ||
				strings.Contains(j.Reason, "may_exit") {
				t.Fatalf("verdict %s: %s; want an error saying the service went to the background, naming pid %s left running, and not to set may_exit", j.Verdict, j.Reason, b)
			}
		})
	}
}

// A service that put a server in the background and was stopped with the
// run, before its own process exited, left the server running, and the
// run said nothing of it: the run now warns, naming the process.
func TestServiceLeavesADaemonBehind(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	addr := "127.0.0.1:" + freePort(t)
	src := strings.NewReplacer("${self}", self, "${addr}", addr, "${pidfile}", pidFile).Replace(`version: v1
title: a daemon left behind
services:
  - name: daemon
    run: [sh, -c, 'setsid "${self}" </dev/null >/dev/null 2>&1 & while [ ! -s "${pidfile}" ]; do sleep 0.05; done; sleep 60']
    env: {RUNNER_TEST_SERVE: "${addr}", RUNNER_TEST_PIDFILE: "${pidfile}"}
    ready: {tcp: {address: "${addr}"}, within: 5s}
method:
  - wait: 100ms
`)
	j := runIn(t, dir, src)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	found := false
	for _, w := range j.Warnings {
		found = found || (strings.Contains(w, "pid "+pid) && strings.Contains(w, "left running"))
	}
	if !found {
		t.Errorf("warnings %q; want one naming pid %s, left running", j.Warnings, pid)
	}
}
