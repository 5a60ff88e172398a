package probe

import (
	"slices"
	"testing"
	"time"
)

func TestPromSelectors(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  []string // nil: not taken apart
	}{
		{`up`, []string{"up"}},
		{`sum(rate(http_requests_total{code=~"5..", path="/a}b"}[1m])) / sum(rate(http_requests_total[1m]))`,
			[]string{`http_requests_total{code=~"5..", path="/a}b"}`, "http_requests_total"}},
		{`histogram_quantile(0.99, sum by (le, job) (rate(rpc_seconds_bucket{job='api'}[5m])))`, []string{`rpc_seconds_bucket{job='api'}`}},
		{`sum without(instance) (x) > bool 0.5 and on(job) group_left(team) y`, []string{"x", "y"}},
		{`max_over_time(rate(x[1m])[5m:30s]) + 1e3 * 0x1f`, []string{"x"}},
		{`topk(3, count_values("v", build_info)) or vector(1)`, []string{"build_info"}},
		{`{__name__=~"job:.*:rate5m"} # a comment with words`, []string{`{__name__=~"job:.*:rate5m"}`}},
		{`sum(x) by (job) / ignoring (code) sum(y)`, []string{"x", "y"}},
		{`time() - process_start_time_seconds`, []string{"process_start_time_seconds"}},
		{`x offset 5m`, nil},
		{`x @ 1609746000`, nil},
		{`x{a="b`, nil},
	} {
		got, _, ok := selectors(tt.query)
		if tt.want == nil {
			if ok {
				t.Errorf("selectors(%s) = %q; want it not taken apart", tt.query, got)
			}
			continue
		}
		if !ok || !slices.Equal(got, tt.want) {
			t.Errorf("selectors(%s) = %q, %v; want %q", tt.query, got, ok, tt.want)
		}
	}
}

// The window is the longest range the query reads, a subquery's included.
func TestPromSelectorsWindow(t *testing.T) {
	for q, want := range map[string]time.Duration{
		`up`:                                   0,
		`sum(rate(x[1m])) / sum(rate(y[90s]))`: 90 * time.Second,
		`max_over_time(rate(x[1m])[5m:30s])`:   5 * time.Minute,
		`sum(rate(x{path="/a[1h]"}[2m]))`:      2 * time.Minute,
	} {
		if _, got, ok := selectors(q); !ok || got != want {
			t.Errorf("selectors(%s) window = %s, %v; want %s", q, got, ok, want)
		}
	}
}
