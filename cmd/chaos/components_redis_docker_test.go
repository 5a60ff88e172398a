package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/journal"
)

// redisImageContext copies redis-server and redis-cli, the libraries ldd
// lists for them and the dynamic loader into a directory, at their paths,
// for an image FROM scratch.
func redisImageContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]bool{}
	for _, p := range []string{"redis-server", "redis-cli"} {
		bin, err := exec.LookPath(p)
		if err != nil {
			t.Fatal(err)
		}
		files[bin] = true
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", bin, err)
		}
		for _, m := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllStringSubmatch(string(out), -1) {
			files[m[1]] = true
		}
	}
	for f := range files {
		b, err := os.ReadFile(f) // through symlinks: the image gets the file itself
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRedisDocker is the truth table of Debian's redis-server in a
// container FROM scratch, faulted in place and driven from the host
// (redis-cli SET and raw RESP PING to its address on a network of the
// test's), and from a client container for intercept: the faults that
// cut or slow redis down must break a check that names what broke, a
// small latency must pass, and a fault filtered to a port nobody uses
// must be an error that says it met no traffic.
func TestRedisDocker(t *testing.T) {
	t.Parallel()
	requireComponents(t, "redis-server", "redis-cli", "ldd")
	env := dockertest.New(t)
	start := time.Now()
	img := env.BuildDir("redis", redisImageContext(t), "FROM scratch\nCOPY . /\n")
	t.Logf("image built in %s", time.Since(start).Round(time.Millisecond))
	netID, subnet := env.Network("redis", true)
	prefix := strings.TrimSuffix(subnet, "0/24")
	server := func() []string {
		return []string{"/usr/bin/redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no",
			"--save", "", "--appendonly", "no", "--dir", "/"}
	}

	type row struct {
		name, file string
		vars       map[string]string
		client     bool // run a client container, named by the var client
		code       int
		want       map[string]map[string]string
		reason     string // in the journal's reason
		waited     string // a check that broke on waits (timeouts, requests still waiting), not on refusals
	}
	rows := []row{
		{name: "pause", file: "redis-docker-net.yaml", vars: map[string]string{"fault": "pause"}, code: exitDeviated,
			want: map[string]map[string]string{"RESP is fast": {"before": journal.Held, "during": "broken:", "after": journal.Held}}},
		{name: "latency 500ms", file: "redis-docker-latency.yaml", vars: map[string]string{"delay": "500ms"}, code: exitDeviated,
			want: map[string]map[string]string{"RESP is fast": {"before": journal.Held, "during": "broken:p99", "after": journal.Held}}},
		{name: "blackhole", file: "redis-docker-net.yaml", vars: map[string]string{"fault": "blackhole"}, code: exitDeviated,
			want: map[string]map[string]string{
				"RESP is fast":        {"before": journal.Held, "during": "broken:", "after": journal.Held},
				"redis-cli SET works": {"before": journal.Held, "during": "broken:", "after": journal.Held},
			}},
		{name: "reject", file: "redis-docker-reject.yaml", code: exitDeviated,
			want: map[string]map[string]string{
				"RESP works":          {"before": journal.Held, "during": "broken:success", "after": journal.Held},
				"redis-cli SET works": {"before": journal.Held, "during": "broken:success", "after": journal.Held},
			}},
		// Egress, reject's default, refuses what redis sends to the
		// sender, redis itself: its clients get no answer and wait, as
		// the reference says.
		{name: "reject egress", file: "redis-docker-reject.yaml", vars: map[string]string{"direction": "egress"}, code: exitDeviated, waited: "RESP works",
			want: map[string]map[string]string{
				"RESP works":          {"before": journal.Held, "during": "broken:", "after": journal.Held},
				"redis-cli SET works": {"before": journal.Held, "during": "broken:", "after": journal.Held},
			}},
		{name: "intercept down", file: "redis-docker-intercept.yaml", client: true, code: exitDeviated,
			want: map[string]map[string]string{"the client reaches redis": {"before": journal.Held, "during": "broken:success", "after": journal.Held}}},
		{name: "intercept reset", file: "redis-docker-intercept-reset.yaml", client: true, code: exitDeviated,
			want: map[string]map[string]string{"the client reaches redis": {"before": journal.Held, "during": "broken:success", "after": journal.Held}}},
		{name: "latency 5ms", file: "redis-docker-latency.yaml", vars: map[string]string{"delay": "5ms"}, code: exitPassed,
			want: map[string]map[string]string{"RESP is fast": {"before": journal.Held, "during": journal.Held, "after": journal.Held}}},
		// port is the other end's: on the server, its own port selects
		// none of its clients' packets, and the error says why.
		{name: "own port", file: "redis-docker-other-port.yaml", vars: map[string]string{"port": "6379"}, code: exitErr,
			reason: "the target itself listens on 6379"},
		{name: "other port", file: "redis-docker-other-port.yaml", code: exitErr, reason: "met no traffic"},
	}
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			ip := prefix + strconv.Itoa(10+2*i)
			vars := map[string]string{"name": env.Name("redis-" + strconv.Itoa(i)), "ip": ip}
			for k, v := range r.vars {
				vars[k] = v
			}
			env.Run(dockertest.Spec{Name: "redis-" + strconv.Itoa(i), Labels: env.Labels(nil), Network: netID, IPv4: ip,
				Image: img, Cmd: server()})
			if r.client {
				vars["client"] = env.Name("client-" + strconv.Itoa(i))
				env.Run(dockertest.Spec{Name: "client-" + strconv.Itoa(i), Labels: env.Labels(nil), Network: netID, IPv4: prefix + strconv.Itoa(11+2*i),
					Image: img, Cmd: []string{"/usr/bin/redis-server", "--port", "7000", "--save", "", "--appendonly", "no", "--dir", "/"}})
			}
			waitRedis(t, ip)
			began := time.Now()
			res := runComponent(t, r.file, vars)
			t.Logf("%s: exit %d, verdict %s (%s) in %s", r.file, res.code, res.journal.Verdict, res.journal.Reason, time.Since(began).Round(time.Millisecond))
			if res.code != r.code {
				t.Fatalf("exit code %d, verdict %s: %s; want %d\n%s", res.code, res.journal.Verdict, res.journal.Reason, r.code, res.stderr)
			}
			if !strings.Contains(res.journal.Reason, r.reason) {
				t.Errorf("reason %q; want it to say %q", res.journal.Reason, r.reason)
			}
			res.expectChecks(t, r.want)
			if r.waited != "" {
				reason := res.check(t, r.waited).Reasons["during"]
				if strings.Contains(reason, "refused") || !strings.Contains(reason, "waiting") && !strings.Contains(reason, "timeout") {
					t.Errorf("check %q broke during for %q; want it to be on waits (timeouts, requests still waiting), not refusals", r.waited, reason)
				}
			}
		})
	}
}

// waitRedis waits until redis-cli gets PONG from the address.
func waitRedis(t *testing.T, ip string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("redis-cli", "-h", ip, "-p", "6379", "PING").Output()
		if err == nil && strings.TrimSpace(string(out)) == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis at %s did not answer PING: %v %s", ip, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
