package main

import (
	"encoding/json"
	"fmt"
	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/journal"
)

// unreachedFile sends live traffic from the host to a container and puts
// a network fault in the host's namespace: one that reaches the traffic
// breaks the check; one whose filter misses it changes nothing the check
// can see, and must not let the run pass. The faults add 500ms: the bound
// sits below that, and well above what a busy machine adds to a request.
const unreachedFile = `version: v1
title: A network fault on the host's traffic to a container
vars: {backend: "", fault: latency, with: "{}", rate: 20/s}
targets:
  host: {host: {}}
load:
  - name: callers
    http: {url: "http://${backend}:8080/"}
    rate: ${rate}
    timeout: 2s
steady_state:
  - name: the backend answers fast
    from: callers
    expect: {p99: "< 450ms", success: ">= 99%%"}
method:
  - {fault: %s, target: host, with: %s, for: 2s}
recovery: {within: 3s}
`

// TestFaultThatMetNoTrafficIsNotAPass: a network fault whose filter names
// an address the traffic never goes to, or an intercept that the load's
// kept-alive connections never meet, was in place and reverted cleanly,
// and every observation under it held: the run passed, though the system
// never felt the fault. It is an error now, saying that the fault met no
// traffic; the same fault on the traffic's own address deviates.
func TestFaultThatMetNoTrafficIsNotAPass(t *testing.T) {
	t.Parallel()
	lab.RequireRoot(t)
	env := dockertest.New(t)
	netID, subnet := env.Network("unreached", true)
	prefix := strings.TrimSuffix(subnet, "0/24")
	backend := prefix + "10"
	env.Run(dockertest.Spec{Name: "unreached-backend", Labels: env.Labels(nil), Network: netID, IPv4: backend})
	nobody := prefix + "99" // on the network, but no container has it

	run := func(t *testing.T, fault, with string, vars ...string) (int, *journal.Journal, string) {
		var args []string
		for _, v := range append([]string{"backend=" + backend}, vars...) {
			args = append(args, "--var", v)
		}
		return runExperiment(t, fmt.Sprintf(unreachedFile, fault, with), args...)
	}

	// One row at a time: each row's fault is in the host's namespace, and
	// one on the backend's address slows every row's traffic to it.
	t.Run("latency on another address", func(t *testing.T) {
		code, j, stderr := run(t, "latency", fmt.Sprintf("{host: %s, port: 8080, delay: 500ms, direction: both}", nobody))
		if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "met no traffic") {
			t.Errorf("exit %d, verdict %s (%s); want 4, error: the fault met no traffic\n%s", code, j.Verdict, j.Reason, stderr)
		}
		if len(j.Faults) != 1 || !strings.Contains(j.Faults[0].Unreached, "no packet it selects (host "+nobody) {
			t.Errorf("faults %+v; want the latency, saying it met no packet", j.Faults)
		}
	})

	t.Run("latency on the traffic's address", func(t *testing.T) {
		code, j, stderr := run(t, "latency", fmt.Sprintf("{host: %s, port: 8080, delay: 500ms, direction: both}", backend))
		if code != 1 || j.Verdict != "deviated" {
			t.Errorf("exit %d, verdict %s (%s); want 1, deviated: the fault slows every request\n%s", code, j.Verdict, j.Reason, stderr)
		}
		if len(j.Faults) != 1 || j.Faults[0].Unreached != "" {
			t.Errorf("faults %+v; want the latency, which met the traffic", j.Faults)
		}
	})

	// The two intercepts take the same connections in the host's
	// namespace, where a second one is refused while the first is on:
	// one after the other too.
	t.Run("intercepts", func(t *testing.T) {
		t.Run("of kept-alive connections", func(t *testing.T) {
			// The stream's connections were opened before the fault, and stay
			// direct: the proxy may meet none of them, and the run must not
			// pass either way. At 5 requests a second one connection carries
			// them all, so that a request the transport sends on a connection
			// it dials meanwhile, through the proxy, is among few enough that
			// the p99 is its own.
			code, j, stderr := run(t, "intercept", fmt.Sprintf("{host: %s, port: 8080, latency: {delay: 500ms}}", backend), "rate=5/s")
			switch {
			case code == 4 && j.Verdict == "error":
				if !strings.Contains(j.Reason, "came to its proxy") {
					t.Errorf("verdict error (%s); want it to say that no connection came to the proxy", j.Reason)
				}
			case code == 1 && j.Verdict == "deviated":
				t.Logf("a connection came through the proxy: deviated (%s)", j.Reason)
				// The requests on the connection open before it still went
				// direct: the run is told the fault met only part of them.
				if !slices.ContainsFunc(j.Warnings, func(w string) bool { return strings.Contains(w, "opened before the intercept went on") }) {
					t.Errorf("warnings %q; want one that says the connections open before stayed direct", j.Warnings)
				}
			default:
				t.Errorf("exit %d, verdict %s (%s); want an error (the intercept met no connection) or deviated\n%s", code, j.Verdict, j.Reason, stderr)
			}
		})
		t.Run("that cuts them", func(t *testing.T) {
			code, j, stderr := run(t, "intercept", fmt.Sprintf("{host: %s, port: 8080, cut_established: true, latency: {delay: 500ms}}", backend))
			if code != 1 || j.Verdict != "deviated" {
				t.Errorf("exit %d, verdict %s (%s); want 1, deviated: the cut connections come back through the proxy\n%s", code, j.Verdict, j.Reason, stderr)
			}
		})
	})
}

// TestProxyFaultThatMetNoTrafficIsNotAPass: the commonest slip with a
// fault proxy is a client that still talks to the service itself. Its
// latency then slowed nothing, every observation held, and the run
// passed. It is an error now, asking whether the client is pointed at the
// proxy; the same experiment with the client on the proxy deviates. So
// is an HTTP fault whose path no request takes.
func TestProxyFaultThatMetNoTrafficIsNotAPass(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(backend.Close)
	const exp = `version: v1
title: Latency on a proxy
vars: {proxy: "0", url: ""}
targets:
  link: {proxy: {listen: "127.0.0.1:${proxy}", upstream: "%s", protocol: http}}
load:
  - name: callers
    http: {url: "${url}"}
    rate: 20/s
    timeout: 2s
steady_state:
  - name: answers fast
    from: callers
    expect: {p99: "< 450ms", success: ">= 99%%"}
method:
  - {fault: %s, target: link, with: %s, for: 1500ms}
recovery: {within: 3s}
`
	run := func(t *testing.T, throughProxy bool, fault, with string) (int, *journal.Journal) {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		url := backend.URL + "/"
		if throughProxy {
			url = fmt.Sprintf("http://127.0.0.1:%d/", port)
		}
		code, j, _ := runExperiment(t, fmt.Sprintf(exp, strings.TrimPrefix(backend.URL, "http://"), fault, with),
			"--var", fmt.Sprintf("proxy=%d", port), "--var", "url="+url)
		return code, j
	}
	t.Run("client on the service", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, false, "latency", "{delay: 500ms}")
		if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "is the client pointed at its listen address?") {
			t.Errorf("exit %d, verdict %s (%s); want 4, error: nothing went through the proxy", code, j.Verdict, j.Reason)
		}
	})
	t.Run("down, client on the service", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, false, "down", "{}")
		if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "since it started") {
			t.Errorf("exit %d, verdict %s (%s); want 4, error: nothing went through the proxy", code, j.Verdict, j.Reason)
		}
	})
	t.Run("down, client on the proxy", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, true, "down", "{}")
		if code != 1 || j.Verdict != "deviated" {
			t.Errorf("exit %d, verdict %s (%s); want 1, deviated", code, j.Verdict, j.Reason)
		}
	})
	t.Run("timeout, client on the proxy", func(t *testing.T) {
		t.Parallel()
		// The requests on the kept-alive connections are read and held:
		// the fault met them, though no byte went on and no connection
		// was made.
		code, j := run(t, true, "timeout", "{}")
		if code != 1 || j.Verdict != "deviated" {
			t.Errorf("exit %d, verdict %s (%s); want 1, deviated", code, j.Verdict, j.Reason)
		}
	})
	t.Run("client on the proxy", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, true, "latency", "{delay: 500ms}")
		if code != 1 || j.Verdict != "deviated" {
			t.Errorf("exit %d, verdict %s (%s); want 1, deviated", code, j.Verdict, j.Reason)
		}
	})
	t.Run("http_error on another path", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, true, "http_error", "{status: 503, path_prefix: /pay}")
		if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "no request matched it") {
			t.Errorf("exit %d, verdict %s (%s); want 4, error: no request matched the fault", code, j.Verdict, j.Reason)
		}
	})
	t.Run("latency on a share of the connections that picked none", func(t *testing.T) {
		t.Parallel()
		// One kept-alive connection or a few, each picked with a chance of
		// one in a million.
		code, j := run(t, true, "latency", "{delay: 500ms, percent: 0.0001%}")
		if code != 4 || j.Verdict != "error" || !strings.Contains(j.Reason, "its percent picked no connection") {
			t.Errorf("exit %d, verdict %s (%s); want 4, error: the fault picked no connection", code, j.Verdict, j.Reason)
		}
	})
	t.Run("http_error on the path", func(t *testing.T) {
		t.Parallel()
		code, j := run(t, true, "http_error", "{status: 503, path_prefix: /}")
		if code != 1 || j.Verdict != "deviated" {
			t.Errorf("exit %d, verdict %s (%s); want 1, deviated", code, j.Verdict, j.Reason)
		}
	})
}

// The same through a proxy that a running chaos proxy holds (an api:
// target): its server counts the proxy's traffic as it goes, so a toxic
// that met none does not let the run pass either.
func TestAPIProxyFaultThatMetNoTrafficIsNotAPass(t *testing.T) {
	t.Parallel()
	const exp = `version: v1
title: Latency on a proxy through its API
vars: {url: ""}
targets:
  link: {proxy: {api: "http://%s", name: link}}
load:
  - name: callers
    http: {url: "${url}"}
    rate: 20/s
    timeout: 2s
steady_state:
  - name: answers fast
    from: callers
    expect: {p99: "< 450ms", success: ">= 99%%"}
method:
  - {fault: %s, target: link, with: %s, for: 1500ms}
recovery: {within: 3s}
`
	for _, row := range []struct {
		name, to, fault, with string
		code                  int
		verdict, reason       string
	}{
		{"client on the service", "upstream", "latency", "{delay: 500ms}", 4, "error", "no request or byte went through proxy link (127.0.0.1:"},
		{"reset, client on the service", "upstream", "reset", "{}", 4, "error", "no connection, request or byte went through proxy link"},
		{"client on the proxy", "listen", "latency", "{delay: 500ms}", 1, "deviated", ""},
		{"http_error on another path", "listen", "http_error", "{status: 503, path_prefix: /pay}", 4, "error", "no request matched it"},
		{"http_error on the path", "listen", "http_error", "{status: 503, path_prefix: /}", 1, "deviated", ""},
	} {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			// A server each: traffic on one proxy would reach every row.
			api := startLinkProxy(t)
			link, err := toxiproxy.NewClient(api).Proxy("link")
			if err != nil {
				t.Fatal(err)
			}
			to := link.Listen
			if row.to == "upstream" {
				to = link.Upstream
			}
			code, j, _ := runExperiment(t, fmt.Sprintf(exp, api, row.fault, row.with), "--var", "url=http://"+to+"/")
			if row.code == 4 && !strings.Contains(j.Reason, " at http://"+api+" while it was on") {
				t.Errorf("the reason does not name the server: %s", j.Reason)
			}
			if code != row.code || j.Verdict != row.verdict || !strings.Contains(j.Reason, row.reason) {
				t.Errorf("exit %d, verdict %s (%s); want %d, %s: %q", code, j.Verdict, j.Reason, row.code, row.verdict, row.reason)
			}
		})
	}
}

// runExperiment runs the experiment text in-process, with args before its
// file, a report directory and a ledger of its own, and reads its journal;
// it returns the exit code, the journal and what the run wrote to stderr.
func runExperiment(t *testing.T, text string, args ...string) (int, *journal.Journal, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	io, _, errb := testStdio()
	args = append([]string{"run", "--report-dir", out, "--ledger", filepath.Join(dir, "ledger")}, args...)
	code := run(append(args, file), io)
	b, err := os.ReadFile(filepath.Join(out, "journal.json"))
	if err != nil {
		t.Fatalf("no journal (exit %d): %v\n%s", code, err, errb)
	}
	j := &journal.Journal{}
	if err := json.Unmarshal(b, j); err != nil {
		t.Fatal(err)
	}
	return code, j, errb.String()
}
