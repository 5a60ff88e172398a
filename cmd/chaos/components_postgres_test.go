package main

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// The PostgreSQL 15 programs Debian's postgresql-15 installs.
const (
	pgBin    = "/usr/lib/postgresql/15/bin"
	pgInitdb = pgBin + "/initdb"
	pgServer = pgBin + "/postgres"
)

// postgresUser returns the postgres user's ids, and skips the test when
// chaos cannot run PostgreSQL as that user: it refuses to run as root,
// and only root may become another user.
func postgresUser(t *testing.T) (uid, gid int) {
	t.Helper()
	requireComponents(t, "psql", "setpriv", pgInitdb, pgServer)
	u, err := user.Lookup("postgres")
	if err != nil || os.Geteuid() != 0 {
		msg := "PostgreSQL runs as the postgres user, which only root can become"
		if os.Getenv("CHAOS_REQUIRE_COMPONENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// initPostgres makes a cluster once (initdb, trust for local and loopback
// connections, no fsync) in a directory of the postgres user's, and
// returns a function that copies it into a new directory for each run: a
// postmaster holds its data directory for itself, so runs side by side
// need one each, and initdb is the slow part.
func initPostgres(t *testing.T) func(t *testing.T) string {
	t.Helper()
	uid, gid := postgresUser(t)
	mkdir := func(t *testing.T) string {
		// Not t.TempDir: its parents are root's alone (0700), and the
		// postgres user must reach its data directory and sockets.
		dir, err := os.MkdirTemp("", "chaos-pg-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopLeftPostmaster(t, dir)
			os.RemoveAll(dir)
		})
		return dir
	}
	tmpl := mkdir(t)
	// WAL segments of 1 MB, not 16: a smaller cluster to copy.
	cmd := exec.Command(pgInitdb, "-D", filepath.Join(tmpl, "data"), "-U", "postgres", "-A", "trust", "-N", "--wal-segsize=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Dir = tmpl
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	return func(t *testing.T) string {
		dir := mkdir(t)
		if out, err := exec.Command("cp", "-a", filepath.Join(tmpl, "data"), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy the cluster: %v\n%s", err, out)
		}
		return dir
	}
}

// stopLeftPostmaster kills a postmaster still running on dir's cluster
// once its test is over, and fails the test: the run was to stop it.
func stopLeftPostmaster(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return
	}
	t.Errorf("the postmaster of %s (pid %d) was still running after the run", dir, pid)
	syscall.Kill(pid, syscall.SIGCONT)
	syscall.Kill(pid, syscall.SIGQUIT)
}

// pgRow is a row of the PostgreSQL truth table: an experiment under
// testdata/components with its vars, the exit code it must end with, and
// each check's result by phase (broken:WHAT: the reason must name WHAT).
type pgRow struct {
	name   string
	file   string
	vars   map[string]string
	ports  []string
	code   int
	checks map[string]map[string]string
	also   func(t *testing.T, r componentRun, dir string)
}

// TestPostgres drives PostgreSQL 15 as a user would with this tool: psql
// as an exec load stream and exec probe, its protocol's startup message as
// a tcp stream, a tcp probe. What must break breaks, with the reason
// naming what broke; what PostgreSQL copes with holds.
func TestPostgres(t *testing.T) {
	t.Parallel()
	newCluster := initPostgres(t)
	both := map[string]string{"before": journal.Held, "during": journal.Held, "after": journal.Held}
	brokeDuring := func(what string) map[string]string {
		return map[string]string{"before": journal.Held, "during": journal.Broken + ":" + what, "after": journal.Held}
	}
	held := map[string]string{"before": journal.Held, "after": journal.Held}
	rows := []pgRow{
		{
			// The postmaster forks a backend for each connection: frozen,
			// it answers none. psql hangs, and each hang counts as a
			// failure once the stream's timeout kills it, not as nothing
			// seen; the kernel still accepts connections, so a tcp probe
			// holds, as the reference says it does.
			name: "postmaster stopped", file: "postgres-stop.yaml", ports: []string{"port"},
			vars: map[string]string{"victim": "postmaster"}, code: exitDeviated,
			checks: map[string]map[string]string{
				"psql answers":        brokeDuring(""),
				"startup answered":    brokeDuring(""),
				"SSLRequest answered": brokeDuring(""),
				"psql probe":          brokeDuring("still running after 2s, killed"),
				"port open":           both,
			},
			also: func(t *testing.T, r componentRun, _ string) {
				// The hung requests: none completed, or some still waiting
				// (in p99) or timed out (counted, or in p99 at the streams'
				// 3s timeout).
				timedOut := regexp.MustCompile(`p99 [3-9](\.[0-9]+)?s\b`)
				for _, name := range []string{"psql answers", "startup answered", "SSLRequest answered"} {
					reason := r.check(t, name).Reasons["during"]
					if !strings.Contains(reason, "no request completed") && !strings.Contains(reason, "still waiting") && !strings.Contains(reason, "errors: timeout") && !timedOut.MatchString(reason) {
						t.Errorf("check %q broke for %q; want it to say no request completed, or some are still waiting or timed out", name, reason)
					}
				}
				if len(r.journal.Faults) != 1 || !strings.Contains(r.journal.Faults[0].Target.Name, pgServer+" -D") {
					t.Errorf("faults %+v; want the stop of the postmaster, read from its postmaster.pid", r.journal.Faults)
				}
			},
		},
		{
			// The background writer serves no query: frozen for 4s, it
			// changes nothing a client sees.
			name: "background writer stopped", file: "postgres-stop.yaml", ports: []string{"port"},
			vars: map[string]string{"victim": "bgwriter"}, code: exitPassed,
			checks: map[string]map[string]string{"psql answers": both, "startup answered": both, "SSLRequest answered": both, "psql probe": both, "port open": both},
		},
		{
			name: "latency above the p99", file: "postgres-latency.yaml", ports: []string{"port", "proxy_port"},
			vars: map[string]string{"delay": "1500ms"}, code: exitDeviated,
			checks: map[string]map[string]string{"psql is fast": brokeDuring(""), "startup is fast": brokeDuring("p99")},
			also: func(t *testing.T, r componentRun, _ string) {
				// psql makes three round trips of 1.5s: none of them may
				// have completed within the check's window of 2s, and the
				// reason says they are waiting.
				if reason := r.check(t, "psql is fast").Reasons["during"]; !strings.Contains(reason, "p99") && !strings.Contains(reason, "still waiting") {
					t.Errorf("check %q broke for %q; want it to say p99, or that requests are still waiting", "psql is fast", reason)
				}
				for _, name := range []string{"psql is fast", "startup is fast"} {
					if reason := r.check(t, name).Reasons["during"]; strings.Contains(reason, "success") {
						t.Errorf("check %q broke on success under latency alone: %s", name, reason)
					}
				}
			},
		},
		{
			name: "latency well below the p99", file: "postgres-latency.yaml", ports: []string{"port", "proxy_port"},
			vars: map[string]string{"delay": "20ms"}, code: exitPassed,
			checks: map[string]map[string]string{"psql is fast": both, "startup is fast": both},
		},
		{
			name: "link down", file: "postgres-cut.yaml", ports: []string{"port", "proxy_port"},
			vars: map[string]string{"fault": "down"}, code: exitDeviated,
			checks: map[string]map[string]string{"psql is fast": brokeDuring("success"), "startup is fast": brokeDuring("success")},
		},
		{
			name: "link reset", file: "postgres-cut.yaml", ports: []string{"port", "proxy_port"},
			vars: map[string]string{"fault": "reset"}, code: exitDeviated,
			checks: map[string]map[string]string{"psql is fast": brokeDuring("success"), "startup is fast": brokeDuring("success")},
		},
		{
			// SIGKILL to one idle backend: the postmaster cannot know what
			// it left in shared memory, ends every other backend and
			// restarts. The queries of other sessions fail (psql exit 2).
			name: "an idle backend killed with SIGKILL", file: "postgres-backend-kill.yaml", ports: []string{"port"},
			vars: map[string]string{"signal": "SIGKILL"}, code: exitDeviated,
			checks: map[string]map[string]string{"queries succeed": brokeDuring("exit_2")},
			also: func(t *testing.T, r componentRun, dir string) {
				pgLogSays(t, dir, "terminating any other active server processes")
			},
		},
		{
			// SIGTERM (what pg_terminate_backend sends) ends that session
			// alone.
			name: "an idle backend terminated with SIGTERM", file: "postgres-backend-kill.yaml", ports: []string{"port"},
			vars: map[string]string{"signal": "SIGTERM"}, code: exitPassed,
			checks: map[string]map[string]string{"queries succeed": both},
			also: func(t *testing.T, r componentRun, dir string) {
				if len(r.journal.Faults) != 1 || !strings.Contains(r.journal.Faults[0].Target.Name, "[local] idle") {
					t.Errorf("faults %+v; want the kill of the idle session's backend", r.journal.Faults)
				}
				pgLogSays(t, dir, "terminating connection due to administrator command")
			},
		},
		{
			// Statements cancelled by statement_timeout: psql exits 1
			// with ON_ERROR_STOP, a failure of the stream.
			name: "statement_timeout, psql stops on the error", file: "postgres-errors.yaml", ports: []string{"port"},
			vars: map[string]string{"on_error_stop": "1"}, code: exitDeviated,
			checks: map[string]map[string]string{"script succeeds": held, "one statement succeeds": held},
			also: func(t *testing.T, r componentRun, _ string) {
				pgStep(t, r, "assert script under the timeout", journal.StepFailed, "exit_")
			},
		},
		{
			// Without ON_ERROR_STOP psql goes on after the error and exits
			// 0: the stream counts it a success, as the reference says;
			// one statement per psql still fails (exit 1).
			name: "statement_timeout, psql goes on after the error", file: "postgres-errors.yaml", ports: []string{"port"},
			vars: map[string]string{"on_error_stop": "0"}, code: exitDeviated,
			checks: map[string]map[string]string{"script succeeds": held, "one statement succeeds": held},
			also: func(t *testing.T, r componentRun, _ string) {
				pgStep(t, r, "assert script under the timeout", journal.StepDone, "")
				pgStep(t, r, "assert one statement under the timeout", journal.StepFailed, "exit_1")
			},
		},
	}
	// A few rows at a time, whatever -parallel says: each run mostly
	// waits (its windows, its faults' for), and one after the other they
	// would take well over a minute.
	sem := make(chan struct{}, pgRowsAtOnce)
	var wg sync.WaitGroup
	for _, row := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(row.name, func(t *testing.T) {
				dir := newCluster(t)
				vars := map[string]string{"pgdir": dir}
				for k, v := range row.vars {
					vars[k] = v
				}
				// A run whose steady state broke before its fault proves
				// nothing either way: the machine was too busy for psql
				// (other tests, a CPU fault of theirs). It is run once
				// more, as the truth table's rows are.
				var r componentRun
				for attempt := 1; ; attempt++ {
					start := time.Now()
					r = runComponent(t, row.file, vars, row.ports...)
					t.Logf("%s in %s", row.file, time.Since(start).Round(time.Millisecond))
					broke := brokeBefore(r)
					if broke == "" || attempt == 2 {
						break
					}
					t.Logf("run again: the steady state broke before the method: %s", broke)
				}
				if r.code != row.code {
					t.Fatalf("exit code %d, verdict %s: %s; want %d\n%s", r.code, r.journal.Verdict, r.journal.Reason, row.code, r.stderr)
				}
				r.expectChecks(t, row.checks)
				if row.also != nil {
					row.also(t, r, dir)
				}
			})
		}()
	}
	wg.Wait()
}

// brokeBefore returns why a check of the run broke before the method, or
// "" when none did.
func brokeBefore(r componentRun) string {
	for _, c := range r.journal.Checks {
		if c.Results["before"] == journal.Broken {
			return c.Name + ": " + c.Reasons["before"]
		}
	}
	return ""
}

// pgLogSays fails the test unless the server log of the cluster in dir
// holds text.
func pgLogSays(t *testing.T, dir, text string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
	if err != nil || !strings.Contains(string(b), text) {
		t.Errorf("the server log does not say %q (%v):\n%s", text, err, b)
	}
}

// pgStep fails the test unless the method's step name ended with outcome,
// with a reason that holds reason.
func pgStep(t *testing.T, r componentRun, name, outcome, reason string) {
	t.Helper()
	for _, s := range r.journal.Steps {
		if s.Name == name {
			if s.Outcome != outcome || !strings.Contains(s.Error, reason) {
				t.Errorf("step %q: %s (%s); want %s, saying %q", name, s.Outcome, s.Error, outcome, reason)
			}
			return
		}
	}
	t.Errorf("no step %q in the journal", name)
}
