package probe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/probe"
)

// metricsServer serves a counter that grows by 100 a second, gauges (one
// NaN) and a histogram, in the format asked for: OpenMetrics when
// openMetrics is set.
func metricsServer(t *testing.T, openMetrics bool) string {
	t.Helper()
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 100 * time.Since(start).Seconds()
		if openMetrics {
			w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
			fmt.Fprintf(w, `# TYPE app_requests counter
app_requests_total{code="200"} %g
app_requests_total{code="502"} 3 # {trace_id="abc"} 1.0
# TYPE app_queue gauge
app_queue 7
# EOF
`, n)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, `# TYPE app_requests_total counter
app_requests_total{code="200"} %g
app_requests_total{code="502"} 3
# TYPE app_queue gauge
app_queue 7
# TYPE app_ratio gauge
app_ratio NaN
# TYPE app_seconds histogram
app_seconds_bucket{le="0.1"} 8
app_seconds_bucket{le="+Inf"} 10
app_seconds_sum 1.5
app_seconds_count 10
`, n)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func TestMetricsProbe(t *testing.T) {
	text, om := metricsServer(t, false), metricsServer(t, true)
	cond := func(s string) experiment.NumberCond {
		var c experiment.NumberCond
		if err := yaml.Unmarshal([]byte(fmt.Sprintf("%q", s)), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name   string
		spec   probe.MetricsSpec
		value  string
		reason string // "" when it holds
		obs    string // an observed value it must show
	}{
		{"gauge", probe.MetricsSpec{URL: text, Name: "app_queue"}, "< 10", "", "7"},
		{"gauge breaks", probe.MetricsSpec{URL: text, Name: "app_queue"}, "< 5", "app_queue value 7, want < 5", "7"},
		{"NaN holds no comparison", probe.MetricsSpec{URL: text, Name: "app_ratio"}, "!= 0", "app_ratio value NaN, want != 0", "NaN"},
		{"labels", probe.MetricsSpec{URL: text, Name: "app_requests_total", Labels: map[string]string{"code": "502"}}, "== 3", "", "3"},
		{"every series", probe.MetricsSpec{URL: text, Name: "app_requests_total"}, "< 2.5", `app_requests_total{code="502"} 3`, ""},
		{"histogram count", probe.MetricsSpec{URL: text, Name: "app_seconds_count"}, "== 10", "", "10"},
		{"histogram bucket", probe.MetricsSpec{URL: text, Name: "app_seconds_bucket", Labels: map[string]string{"le": "0.1"}}, "== 8", "", "8"},
		{"rate", probe.MetricsSpec{URL: text, Name: "app_requests_total", Labels: map[string]string{"code": "200"}, Rate: experiment.Duration(500 * time.Millisecond)}, "> 50", "", ""},
		{"rate of a still counter", probe.MetricsSpec{URL: text, Name: "app_requests_total", Labels: map[string]string{"code": "502"}, Rate: experiment.Duration(200 * time.Millisecond)}, "> 0", "want > 0", "0/s"},
		{"OpenMetrics", probe.MetricsSpec{URL: om, Name: "app_requests_total", Labels: map[string]string{"code": "502"}}, "== 3", "", "3"},
		{"OpenMetrics gauge", probe.MetricsSpec{URL: om, Name: "app_queue"}, "== 7", "", "7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Timeout = experiment.Duration(5 * time.Second)
			res := probe.Run(context.Background(), "metrics", &tt.spec, &probe.MetricsExpect{Value: cond(tt.value)})
			switch {
			case res.Err != nil:
				t.Fatalf("Run = error %v", res.Err)
			case tt.reason == "" && !res.OK:
				t.Errorf("Run failed: %s; want it to hold", res.Reason)
			case tt.reason != "" && (res.OK || !strings.Contains(res.Reason, tt.reason)):
				t.Errorf("Run = ok %v, %q; want a failure saying %q", res.OK, res.Reason, tt.reason)
			}
			if tt.obs != "" && res.Observed["value"] != tt.obs && res.Observed["rate"] != tt.obs {
				t.Errorf("observed %v; want %s", res.Observed, tt.obs)
			}
		})
	}
}

// No sample of that name is an error of the experiment; an endpoint that
// does not answer is a failed observation, as a fault may cause.
func TestMetricsProbeNoSample(t *testing.T) {
	text := metricsServer(t, false)
	res := probe.Run(context.Background(), "metrics", &probe.MetricsSpec{URL: text, Name: "app_requets_total", Timeout: experiment.Duration(time.Second)}, &probe.MetricsExpect{})
	if res.Err == nil || !strings.Contains(res.Reason, "no sample app_requets_total") {
		t.Errorf("Run(misspelt name) = %+v; want an error", res)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := down.URL
	down.Close()
	res = probe.Run(context.Background(), "metrics", &probe.MetricsSpec{URL: url, Name: "x", Timeout: experiment.Duration(time.Second)}, &probe.MetricsExpect{})
	if res.OK || res.Err != nil || !strings.Contains(res.Reason, "connection refused") {
		t.Errorf("Run(endpoint down) = %+v; want a failed observation", res)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") }))
	defer bad.Close()
	res = probe.Run(context.Background(), "metrics", &probe.MetricsSpec{URL: bad.URL, Name: "x", Timeout: experiment.Duration(time.Second)}, &probe.MetricsExpect{})
	if res.OK || !strings.Contains(res.Reason, "not Prometheus text or OpenMetrics") {
		t.Errorf("Run(HTML) = %+v; want a failure saying it is no metrics", res)
	}
}

// A sample that the first scrape had and the second has not has no rate:
// its worker, say, is gone. That fails the observation; judging the
// samples left alone would pass a rate that every worker but the lost
// one keeps up.
func TestMetricsProbeRateSampleGone(t *testing.T) {
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE jobs_total counter\njobs_total{worker=\"1\"} %d\n", 100*n)
		if n == 1 {
			fmt.Fprintf(w, "jobs_total{worker=\"2\"} %d\n", 100*n)
		}
	}))
	defer srv.Close()
	spec := &probe.MetricsSpec{URL: srv.URL, Name: "jobs_total", Rate: experiment.Duration(200 * time.Millisecond), Timeout: experiment.Duration(time.Second)}
	var value experiment.NumberCond
	if err := yaml.Unmarshal([]byte(`"> 1"`), &value); err != nil {
		t.Fatal(err)
	}
	res := probe.Run(context.Background(), "metrics", spec, &probe.MetricsExpect{Value: value})
	if res.OK || res.Err != nil || !strings.Contains(res.Reason, `jobs_total{worker="2"}`) {
		t.Errorf("Run with a sample gone in the second scrape = ok %v, err %v, %q; want a failed observation naming it", res.OK, res.Err, res.Reason)
	}
}
