package probe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/probe"
)

// prometheusServer answers every instant query with the given result, as
// Prometheus's HTTP API writes it.
func prometheusServer(t *testing.T, resultType, result string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":%q,"result":%s}}`, resultType, result)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The value expectation holds only for numbers Prometheus returned: NaN
// holds no comparison, and a native histogram is no number to compare.
func TestPrometheusJudge(t *testing.T) {
	now := float64(time.Now().Unix())
	for _, tt := range []struct {
		name         string
		resultType   string
		result       string
		value        string
		ok, observed bool
		reason       string
	}{
		{"scalar holds", "scalar", fmt.Sprintf(`[%v, "0.2"]`, now), "< 0.5", true, true, ""},
		{"scalar breaks", "scalar", fmt.Sprintf(`[%v, "0.7"]`, now), "< 0.5", false, true, "value 0.7, want < 0.5"},
		{"NaN scalar", "scalar", fmt.Sprintf(`[%v, "NaN"]`, now), "!= 0", false, true, "value NaN, want != 0"},
		{"NaN series", "vector", fmt.Sprintf(`[{"metric": {"job": "api"}, "value": [%v, "NaN"]}]`, now), "!= 0", false, true, `value {job="api"} NaN, want != 0`},
		{"native histogram", "vector", fmt.Sprintf(`[{"metric": {"job": "api"}, "histogram": [%v, {"count": "10", "sum": "2.5", "buckets": [[0, "0.1", "0.2", "10"]]}]}]`, now),
			"< 0.5", false, false, "returns a native histogram"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := prometheusServer(t, tt.resultType, tt.result)
			spec, expect := newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: q, timeout: 5s}", url), fmt.Sprintf("{value: %q}", tt.value))
			res := probe.Run(context.Background(), "prometheus", spec, expect)
			switch {
			case tt.observed && res.Err != nil:
				t.Fatalf("Run = error %v; want an observation", res.Err)
			case !tt.observed && res.Err == nil:
				t.Fatalf("Run = ok %t, %q; want an error: nothing was observed to compare", res.OK, res.Reason)
			case res.OK != tt.ok:
				t.Errorf("Run = ok %t, %q; want ok %t", res.OK, res.Reason, tt.ok)
			case !strings.Contains(res.Reason, tt.reason):
				t.Errorf("Run reason %q; want it to contain %q", res.Reason, tt.reason)
			}
		})
	}
}

// scrapedPrometheus answers every instant query with value, as of now, and
// a query for the timestamp of the last sample of a series with the time
// scraped gives: a Prometheus whose last scrape was then.
func scrapedPrometheus(t *testing.T, value string, scraped func() time.Time) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		secs := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
		now := secs(time.Now())
		v := value
		switch q := r.FormValue("query"); {
		case strings.HasPrefix(q, "timestamp("):
			v = secs(scraped())
		case q == "push_time_seconds":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,%q]}]}}`, now, v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Prometheus answers with what it last scraped: the observation counts
// from then, which may be before a fault the check is judged under.
func TestPrometheusDataAge(t *testing.T) {
	scraped := time.Now().Add(-10 * time.Second)
	url := scrapedPrometheus(t, "0", func() time.Time { return scraped })
	spec, expect := newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: 'sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))'}", url), `{value: "< 0.5"}`)
	res := probe.Run(context.Background(), "prometheus", spec, expect)
	if !res.OK || res.Since.Sub(scraped).Abs() > time.Second || !strings.HasPrefix(res.Observed["data_age"], "10") {
		t.Errorf("Run = ok %v, %q, since %s, observed %v; want a pass, since the scrape at %s, 10s old", res.OK, res.Reason, res.Since, res.Observed, scraped)
	}
	// A query that reads older data on purpose says nothing of its age.
	spec, expect = newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: 'errors_total offset 1h'}", url), "")
	if res := probe.Run(context.Background(), "prometheus", spec, expect); !res.OK || !res.Since.IsZero() {
		t.Errorf("Run(offset) = ok %v, since %s; want a pass with no data time", res.OK, res.Since)
	}
}

// A Thanos or a Mimir that could not reach one of its stores answers with
// what the others hold, and a warning: a pass on it is no observation of
// the series left out. A failure stays one.
func TestPrometheusWarningsNoPass(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("query") != "errors" {
			io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","warnings":["partial response: store chaostest-eu unreachable"],"data":{"resultType":"vector","result":[{"metric":{"zone":"us"},"value":[%d,"0"]}]}}`, time.Now().Unix())
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		value string
		ok    bool
		err   bool
	}{{"", false, true}, {"< 1", false, true}, {"> 1", false, false}} {
		expect := ""
		if tt.value != "" {
			expect = fmt.Sprintf("{value: %q}", tt.value)
		}
		spec, exp := newProbe(t, "prometheus", fmt.Sprintf("{url: %q, query: errors}", srv.URL), expect)
		res := probe.Run(context.Background(), "prometheus", spec, exp)
		if res.OK != tt.ok || (res.Err != nil) != tt.err || !strings.Contains(res.Observed["warnings"], "store chaostest-eu unreachable") {
			t.Errorf("value %q: Run = ok %v, err %v, %q, observed %v; want ok %v, an error %v, the warning observed", tt.value, res.OK, res.Err, res.Reason, res.Observed, tt.ok, tt.err)
		}
	}
}
