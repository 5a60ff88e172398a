package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

// requireComponents skips the test when a program it runs against is not
// installed, or fails it when CHAOS_REQUIRE_COMPONENTS=1.
func requireComponents(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			msg := p + " is not installed: run scripts/components.sh (as root, on Debian) to install prometheus, redis-server and redis-tools"
			if os.Getenv("CHAOS_REQUIRE_COMPONENTS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// componentRun is one run of an experiment under testdata/components.
type componentRun struct {
	code    int
	stderr  string
	journal *journal.Journal
}

// runComponent runs an experiment in-process with the vars and a free
// loopback port for each name in ports, and reads its journal.
func runComponent(t *testing.T, file string, vars map[string]string, ports ...string) componentRun {
	t.Helper()
	dir := t.TempDir()
	vars = maps.Clone(vars)
	if vars == nil {
		vars = map[string]string{}
	}
	for _, p := range ports {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		vars[p] = strconv.Itoa(port)
	}
	vars["dir"] = dir
	out := filepath.Join(dir, "report")
	args := []string{"run", "--report-dir", out, "--ledger", filepath.Join(dir, "ledger")}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		args = append(args, "--var", k+"="+vars[k])
	}
	io, _, errb := testStdio()
	io.lookupEnv = os.LookupEnv
	code := run(append(args, filepath.Join("testdata", "components", file)), io)
	r := componentRun{code: code, stderr: errb.String()}

	b, err := os.ReadFile(filepath.Join(out, "journal.json"))
	if err != nil {
		t.Fatalf("%s: no journal (exit code %d): %v\n%s", file, code, err, r.stderr)
	}
	r.journal = &journal.Journal{}
	if err := json.Unmarshal(b, r.journal); err != nil {
		t.Fatal(err)
	}
	return r
}

// check returns the journal's check of that name.
func (r componentRun) check(t *testing.T, name string) *journal.Check {
	t.Helper()
	for _, c := range r.journal.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in the journal", name)
	return nil
}

// expectChecks compares each check's result in each phase, and that the
// reason for a broken one names what broke.
func (r componentRun) expectChecks(t *testing.T, want map[string]map[string]string) {
	t.Helper()
	for name, phases := range want {
		c := r.check(t, name)
		for phase, result := range phases {
			what, _ := strings.CutPrefix(result, journal.Broken+":")
			if what != result {
				result = journal.Broken
			}
			if got := c.Results[phase]; got != result {
				t.Errorf("check %q %s: %s (%s); want %s", name, phase, got, c.Reasons[phase], result)
				continue
			}
			if result == journal.Broken && !strings.Contains(c.Reasons[phase], what) {
				t.Errorf("check %q broke %s for %q; want it to say %q", name, phase, c.Reasons[phase], what)
			}
		}
	}
}

// TestRedisLoadStreams drives Redis with redis-cli (an exec stream) and
// with RESP over TCP (a tcp stream) through the fault proxy: latency shows
// in both streams' p99, down in their success, and without a fault that
// bites both hold.
func TestRedisLoadStreams(t *testing.T) {
	requireComponents(t, "redis-server", "redis-cli")
	t.Run("no fault that bites", func(t *testing.T) {
		r := runComponent(t, "redis-latency.yaml", map[string]string{"delay": "1ms"}, "redis_port", "proxy_port")
		if r.code != exitPassed {
			t.Fatalf("exit code %d, verdict %s: %s; want passed\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.stderr)
		}
		r.expectChecks(t, map[string]map[string]string{
			"redis-cli is fast": {"before": journal.Held, "during": journal.Held, "after": journal.Held},
			"RESP is fast":      {"before": journal.Held, "during": journal.Held, "after": journal.Held},
		})
	})
	t.Run("latency", func(t *testing.T) {
		r := runComponent(t, "redis-latency.yaml", map[string]string{"delay": "1500ms"}, "redis_port", "proxy_port")
		if r.code != exitDeviated {
			t.Fatalf("exit code %d, verdict %s: %s; want deviated\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.stderr)
		}
		r.expectChecks(t, map[string]map[string]string{
			"redis-cli is fast": {"before": journal.Held, "during": "broken:p99", "after": journal.Held},
			"RESP is fast":      {"before": journal.Held, "during": "broken:p99", "after": journal.Held},
		})
		for _, name := range []string{"redis-cli is fast", "RESP is fast"} {
			if reason := r.check(t, name).Reasons["during"]; strings.Contains(reason, "success") {
				t.Errorf("check %q broke on success under latency alone: %s", name, reason)
			}
		}
	})
	t.Run("down", func(t *testing.T) {
		r := runComponent(t, "redis-down.yaml", nil, "redis_port", "proxy_port")
		if r.code != exitDeviated {
			t.Fatalf("exit code %d, verdict %s: %s; want deviated\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.stderr)
		}
		r.expectChecks(t, map[string]map[string]string{
			"redis-cli is fast": {"before": journal.Held, "during": "broken:success", "after": journal.Held},
			"RESP is fast":      {"before": journal.Held, "during": "broken:success", "after": journal.Held},
		})
	})
}
