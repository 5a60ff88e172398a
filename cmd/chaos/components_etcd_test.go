package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// etcdVars returns a free loopback port for each member's client port
// (c1..c3) and peer port (p1..p3), and, with proxied, for each peer proxy
// (q1..q3), and the other vars; a var whose value names a port var is
// given that port.
func etcdVars(t *testing.T, proxied bool, vars map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	names := []string{"c1", "c2", "c3", "p1", "p2", "p3"}
	if proxied {
		names = append(names, "q1", "q2", "q3")
	}
	for _, name := range names {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = strconv.Itoa(port)
	}
	for k, v := range vars {
		if port, ok := out[v]; ok {
			v = port
		}
		out[k] = v
	}
	return out
}

// wantVerdict fails the test unless the run ended with that exit code.
func (r componentRun) wantVerdict(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, verdict %s: %s; want exit code %d\n%s", r.code, r.journal.Verdict, r.journal.Reason, code, r.stderr)
	}
}

// step returns the journal's step of that name.
func (r componentRun) step(t *testing.T, name string) journal.Step {
	t.Helper()
	for _, s := range r.journal.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in the journal", name)
	return journal.Step{}
}

// hung and etcdctlHung are what a check on requests that hang says: none
// answered in its window, or they timed out (etcdctl at its own
// --command-timeout, with exit code 1).
const (
	hung        = "no request completed|errors: timeout"
	etcdctlHung = "no request completed|errors: exit_1"
)

// TestEtcdQuorum drives a three-member etcd cluster the way its users do:
// writes and linearizable reads through the v3 JSON gateway of one member,
// and etcdctl puts with all three endpoints; a first step moves the lead
// to m1, so that the members hit are followers (a frozen leader costs an
// election's outage, which breaks a 2s window). One member killed or
// frozen leaves a quorum, and every check holds; two members frozen take the
// quorum away: writes and reads hang until the stream's timeout, which is
// a failure (not "no data"), and /health answers 503; the gateway pointed
// at the frozen member breaks while etcdctl, failing over to the other
// endpoints, holds.
func TestEtcdQuorum(t *testing.T) {
	t.Parallel()
	requireComponents(t, "etcd", "etcdctl")
	all := []string{"gateway writes", "gateway reads", "etcdctl writes", "m1 healthy"}
	held := func(names ...string) map[string]map[string]string {
		m := map[string]map[string]string{}
		for _, n := range names {
			m[n] = map[string]string{"before": journal.Held, "during": journal.Held, "after": journal.Held}
		}
		return m
	}
	for _, tt := range []struct {
		name string
		vars map[string]string
		code int
		want map[string]map[string]string
	}{
		{"one member killed", map[string]string{"fault": "kill", "victim": "m3", "gw": "c1"}, exitPassed, held(all...)},
		{"one member frozen", map[string]string{"fault": "stop", "victim": "m3", "gw": "c1"}, exitPassed, held(all...)},
		{"two members frozen", map[string]string{"fault": "stop", "victim": "m[23]", "gw": "c1"}, exitDeviated, map[string]map[string]string{
			// What hangs breaks the check as soon as its window ends with
			// nothing answered, or, when the window first judged under the
			// fault ends after the stream's timeout, as timeouts (etcdctl's
			// own --command-timeout: exit code 1).
			"gateway writes": {"before": journal.Held, "during": "broken:" + hung, "after": journal.Held},
			"gateway reads":  {"before": journal.Held, "during": "broken:" + hung, "after": journal.Held},
			"etcdctl writes": {"before": journal.Held, "during": "broken:" + etcdctlHung, "after": journal.Held},
			"m1 healthy":     {"before": journal.Held, "during": "broken:status 503", "after": journal.Held},
		}},
		{"the gateway's member frozen", map[string]string{"fault": "stop", "victim": "m3", "gw": "c3"}, exitDeviated, map[string]map[string]string{
			"gateway writes": {"before": journal.Held, "during": "broken:" + hung, "after": journal.Held},
			"gateway reads":  {"before": journal.Held, "during": "broken:" + hung, "after": journal.Held},
			"etcdctl writes": {"before": journal.Held, "during": journal.Held, "after": journal.Held},
			"m1 healthy":     {"before": journal.Held, "during": journal.Held, "after": journal.Held},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runComponent(t, "etcd-quorum.yaml", etcdVars(t, false, tt.vars))
			r.wantVerdict(t, tt.code)
			r.expectChecks(t, tt.want)
			if s := r.step(t, "make m1 the leader"); !strings.HasSuffix(s.Observed["stdout"], "m1 leads") {
				t.Errorf("the first step says %q; want m1 to lead", s.Observed["stdout"])
			}
			if tt.code == exitPassed {
				return
			}
			// Every write and read sent while the quorum was gone ended
			// in a timeout, counted as a failure.
			for _, name := range []string{"gateway writes", "gateway reads"} {
				var timeouts bool
				for _, s := range r.check(t, name).Samples {
					timeouts = timeouts || strings.Contains(s.Reason, "timeout")
				}
				if !timeouts {
					t.Errorf("check %q: no observation counted timeouts: %+v", name, r.check(t, name).Samples)
				}
			}
		})
	}
}

// TestEtcdLeader finds etcd's leader with an exec step (chaos cannot
// target "the leader"): it moves the lead to m1 and writes its pid, which
// a process target reads when the fault starts. The leader killed, the
// others elect another and writes through a follower go on. The leader's
// peer proxy down resets every connection the others opened to it (its
// log says so, within the fault) but it still leads: rafthttp sends over
// the connections it opened itself to them, and the run passes, which is
// the truth. Every peer proxy down cuts every message between members: the
// run deviates with hung writes and /health's 503.
func TestEtcdLeader(t *testing.T) {
	t.Parallel()
	requireComponents(t, "etcd", "etcdctl", "pgrep")
	all := map[string]map[string]string{}
	for _, n := range []string{"writes through m2", "etcdctl writes", "m2 healthy"} {
		all[n] = map[string]string{"before": journal.Held, "during": journal.Held, "after": journal.Held}
	}
	t.Run("the leader killed", func(t *testing.T) {
		t.Parallel()
		r := runComponent(t, "etcd-leader.yaml", etcdVars(t, true, map[string]string{"fault": "kill", "victim": "leader"}))
		r.wantVerdict(t, exitPassed)
		r.expectChecks(t, all)
		if s := r.step(t, "make m1 the leader"); !strings.HasSuffix(s.Observed["stdout"], "m1 leads") {
			t.Errorf("the first step says %q; want m1 to lead", s.Observed["stdout"])
		}
		var hit []string
		for _, f := range r.journal.Faults {
			hit = append(hit, f.Target.Name)
		}
		if len(hit) != 1 || !strings.HasPrefix(hit[0], "etcd --name m1 ") {
			t.Errorf("the fault hit %q; want m1, the leader", hit)
		}
	})
	t.Run("the leader's peer proxy down", func(t *testing.T) {
		t.Parallel()
		victim := "peer1"
		r := runComponent(t, "etcd-leader.yaml", etcdVars(t, true, map[string]string{"fault": "down", "victim": victim}))
		r.wantVerdict(t, exitPassed)
		r.expectChecks(t, all)
		if s := r.step(t, "make m1 the leader"); !strings.HasSuffix(s.Observed["stdout"], "m1 leads") {
			t.Errorf("the first step says %q; want m1 to lead", s.Observed["stdout"])
		}
		// m1's stream writers serve the connections the others opened.
		down := r.step(t, "down "+victim)
		if lost := etcdLogLines(t, r, "m1", "writer)", down.Started, down.Ended); len(lost) == 0 {
			t.Errorf("m1 lost no peer connection while its peer proxy was down (%s to %s)", down.Started, down.Ended)
		}
	})
	t.Run("every peer proxy down", func(t *testing.T) {
		t.Parallel()
		r := runComponent(t, "etcd-peers-down.yaml", etcdVars(t, true, nil))
		r.wantVerdict(t, exitDeviated)
		r.expectChecks(t, map[string]map[string]string{
			"writes through m2": {"before": journal.Held, "during": "broken:" + hung, "after": journal.Held},
			"etcdctl writes":    {"before": journal.Held, "during": "broken:" + etcdctlHung, "after": journal.Held},
			"m2 healthy":        {"before": journal.Held, "during": "broken:status 503", "after": journal.Held},
		})
	})
}

// etcdLogLines returns the lines of a service's log in the run's report
// that contain text and were logged between from and to.
func etcdLogLines(t *testing.T, r componentRun, service, text string, from, to time.Time) []string {
	t.Helper()
	f, err := os.Open(r.journal.ReportDir + "/services/" + service + ".log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// capnslog: "2026-12-07 12:16:54.632807 W | rafthttp: ..."
		if len(line) < 26 || !strings.Contains(line, text) {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05.000000", line[:26], time.Local)
		if err == nil && !at.Before(from) && !at.After(to) {
			lines = append(lines, line)
		}
	}
	return lines
}
