package probe_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/probe"
)

// realPrometheus runs Debian's prometheus on a free loopback port,
// scraping the targets every second, and returns its URL once it is ready.
func realPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus is not installed")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: app
    static_configs: [{targets: ["%s"]}]
`, strings.Join(targets, `", "`))), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command("prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
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
	u := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(u + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return u
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus did not get ready within 60s:\n%s", log)
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// promCount is how many series an instant query returns.
func promCount(u, query string) int {
	resp, err := http.Get(u + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var n int
	for i := 0; i+8 <= len(b); i++ {
		if string(b[i:i+8]) == `"metric"` {
			n++
		}
	}
	return n
}

// A range reads the samples of a target that is down since: Prometheus
// marked its series stale, and an instant selector no longer sees them,
// but rate(x[1m]) goes on computing from them for a minute. The
// observation counts from that target's last scrape, not from the live
// one's, so that it is not taken for one made under a fault.
func TestPrometheusTargetDownDataAge(t *testing.T) {
	counter := func() *httptest.Server {
		var n atomic.Int64
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "chaostest_errors_total %d\n", n.Add(1))
		}))
	}
	live, gone := counter(), counter()
	t.Cleanup(live.Close)
	prom := realPrometheus(t, live.Listener.Addr().String(), gone.Listener.Addr().String())
	waitFor(t, 60*time.Second, "scrapes", func() bool { return promCount(prom, "count_over_time(chaostest_errors_total[1m]) > 4") == 2 })
	gone.Close()
	down := time.Now()
	waitFor(t, 30*time.Second, "target down", func() bool { return promCount(prom, "chaostest_errors_total") == 1 })
	for _, q := range []string{"sum(rate(chaostest_errors_total[1m]))", "rate(chaostest_errors_total[1m])", "max_over_time(chaostest_errors_total[30s])"} {
		spec, expect := newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: %q, timeout: 10s}", prom, q), `{value: ">= 0"}`)
		res := probe.Run(context.Background(), "prometheus", spec, expect)
		if res.Err != nil {
			t.Fatalf("%s: %v", q, res.Err)
		}
		if res.Since.IsZero() || res.Since.After(down) {
			t.Errorf("%s = ok %v, observed %v, since %s; want it counted from before %s, the last scrape of the target now down", q, res.OK, res.Observed, res.Since, down)
		}
	}
}

// A Pushgateway keeps what a batch job pushed, and Prometheus scrapes it
// afresh each time: a value pushed before a fault, by a job the fault
// then stopped, reads as scraped under it. The observation counts from
// the push.
func TestPrometheusPushgatewayDataAge(t *testing.T) {
	if _, err := exec.LookPath("prometheus-pushgateway"); err != nil {
		t.Skip("prometheus-pushgateway is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command("prometheus-pushgateway", "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var pushed time.Time
	waitFor(t, 30*time.Second, "the push", func() bool {
		resp, err := http.Post("http://"+addr+"/metrics/job/chaostest-batch", "text/plain", strings.NewReader("chaostest_failed_jobs 0\n"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		pushed = time.Now()
		return resp.StatusCode/100 == 2
	})
	prom := realPrometheus(t, addr)
	waitFor(t, 60*time.Second, "scrapes", func() bool { return promCount(prom, "chaostest_failed_jobs") == 1 })
	time.Sleep(3 * time.Second)
	spec, expect := newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: 'max(chaostest_failed_jobs)', timeout: 10s}", prom), `{value: "< 1"}`)
	res := probe.Run(context.Background(), "prometheus", spec, expect)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Since.IsZero() || res.Since.After(pushed.Add(500*time.Millisecond)) {
		t.Errorf("Run = ok %v, observed %v, since %s; want it counted from the push at %s", res.OK, res.Observed, res.Since, pushed)
	}
}
