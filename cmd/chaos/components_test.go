package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/probe"
)

// requireComponents skips the test when a program it runs against is not
// installed, or fails it when CHAOS_REQUIRE_COMPONENTS=1.
func requireComponents(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			msg := p + " is not installed: run scripts/components.sh (as root, on Debian) to install the components it needs"
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
	// A var no value uses is refused on the command line: dir goes only
	// to the files that write into it.
	src, err := os.ReadFile(filepath.Join("testdata", "components", file))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "${dir}") {
		vars["dir"] = dir
	}
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
// saysOneOf reports whether reason holds one of the texts alts lists,
// separated by |.
func saysOneOf(reason, alts string) bool {
	for _, a := range strings.Split(alts, "|") {
		if strings.Contains(reason, a) {
			return true
		}
	}
	return false
}

func (r componentRun) expectChecks(t *testing.T, want map[string]map[string]string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Log(r.stderr)
		}
	}()
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
			if result == journal.Broken && !saysOneOf(c.Reasons[phase], what) {
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
		r := runComponent(t, "redis-latency.yaml", map[string]string{"delay": "3s"}, "redis_port", "proxy_port")
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

// startPrometheus runs Debian's prometheus on a free loopback port with
// its own data directory, scraping target every second, and returns its
// URL once it is ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: app
    static_configs: [{targets: [%q]}]
`, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logb syncBuffer
	cmd := exec.Command("prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, err := httpGet(url+"/-/ready", time.Second); err == nil && code == 200 {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not get ready within 30s:\n%s", logb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promValue runs an instant query and returns its one value.
func promValue(url, query string) (float64, error) {
	resp, err := http.Get(url + "/api/v1/query?query=" + neturl.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%d series", len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// TestPrometheusProbe has Prometheus scrape an app whose calls to its
// backend go through the fault proxy: the error ratio it computes holds
// before an http_error fault and breaks during it, and a fault that hits
// no request leaves it holding. A metrics probe reads the rate of the
// app's 502s from its /metrics directly, with the same outcome.
func TestPrometheusProbe(t *testing.T) {
	requireComponents(t, "prometheus")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(t.TempDir(), "proxies.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[{"name": "backend", "listen": %q, "upstream": %q, "protocol": "http"}]`,
		proxyAddr, strings.TrimPrefix(backend.URL, "http://"))), 0o644); err != nil {
		t.Fatal(err)
	}
	api := startChaosProxy(t, "--config", cfg)

	// The app counts its answers by status code: 502 when the backend
	// fails it.
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests answered, by status code."}, []string{"code"})
	reg.MustRegister(requests)
	requests.WithLabelValues("200")
	requests.WithLabelValues("502")
	client := &http.Client{Timeout: 2 * time.Second}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get("http://" + proxyAddr + "/work")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != 200 {
			requests.WithLabelValues("502").Inc()
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		requests.WithLabelValues("200").Inc()
	})
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)

	// Traffic for the whole test, bounded in time.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if resp, err := client.Get(app.URL + "/work"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()

	prom := startPrometheus(t, strings.TrimPrefix(app.URL, "http://"))
	query := `sum(rate(app_requests_total{code!="200"}[3s])) / sum(rate(app_requests_total[3s]))`
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := promValue(prom, query)
		if err == nil && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus has no error ratio of 0 after 30s: %v, %v", v, err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	t.Setenv("CHAOS_TEST_PROMETHEUS_TOKEN", "s3cr3t-prom-t0ken")
	vars := map[string]string{"prometheus": prom, "api": "http://" + api, "app": app.URL}
	t.Run("fault that hits no request", func(t *testing.T) {
		// The probes hold throughout, but under a fault that picked no
		// request (the proxy's server counts what each toxic picked): the
		// run cannot say the system held under it.
		vars := maps.Clone(vars)
		vars["path"] = "/never"
		r := runComponent(t, "prometheus-errors.yaml", vars)
		if r.code != exitErr || !strings.Contains(r.journal.Reason, "no request matched it") {
			t.Fatalf("exit code %d, verdict %s: %s; want an error: the fault met no request\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.stderr)
		}
		r.expectChecks(t, map[string]map[string]string{
			"few errors":          {"before": journal.Held, "during": journal.Unobserved},
			"few 502s at the app": {"before": journal.Held, "during": journal.Skipped},
		})
	})
	t.Run("http_error", func(t *testing.T) {
		r := runComponent(t, "prometheus-errors.yaml", vars)
		if r.code != exitDeviated {
			t.Fatalf("exit code %d, verdict %s: %s; want deviated\n%s", r.code, r.journal.Verdict, r.journal.Reason, r.stderr)
		}
		r.expectChecks(t, map[string]map[string]string{
			"few errors":          {"before": journal.Held, "during": "broken:value", "after": journal.Held},
			"few 502s at the app": {"before": journal.Held, "during": "broken:rate", "after": journal.Held},
		})
		b, _ := json.Marshal(r.journal)
		if strings.Contains(string(b), "s3cr3t-prom-t0ken") {
			t.Errorf("the journal holds the bearer token")
		}
		var assert *journal.Step
		for i := range r.journal.Steps {
			if r.journal.Steps[i].Name == "Prometheus sees the errors" {
				assert = &r.journal.Steps[i]
			}
		}
		if assert == nil || assert.Outcome != journal.StepDone || !strings.Contains(assert.Observed["values"], `{code="502"}`) {
			t.Errorf("assert step %+v; want it done, with the series by code observed", assert)
		}
	})
	t.Run("Prometheus errors are no observation", func(t *testing.T) {
		for _, tt := range []struct{ query, want string }{
			{`sum(rate(app_requests_total[3s]`, "bad query"},
			{`app_requests_total{code="418"}`, "returned no data"},
			{`app_requests_total[10s]`, "returns a matrix"},
		} {
			spec := &probe.PrometheusSpec{URL: prom, Query: tt.query, Timeout: experiment.Duration(5 * time.Second)}
			res := probe.Run(context.Background(), "prometheus", spec, &probe.PrometheusExpect{})
			if res.Err == nil || !strings.Contains(res.Reason, tt.want) {
				t.Errorf("query %s: ok %v, err %v, reason %q; want an error saying %q", tt.query, res.OK, res.Err, res.Reason, tt.want)
			}
		}
	})
}
