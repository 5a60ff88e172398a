package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// PrometheusSpec is an instant PromQL query against a Prometheus server's
// HTTP API.
type PrometheusSpec struct {
	URL   string `yaml:"url" json:"url" chaos:"required" doc:"the Prometheus server, such as http://127.0.0.1:9090"`
	Query string `yaml:"query" json:"query" chaos:"required" doc:"an instant PromQL query: a scalar, or a vector whose every series is checked"`
	// Token is sent as a bearer token; write it as ${env:NAME} so that it
	// stays out of the file and is masked in the journal and reports.
	Token   string              `yaml:"token" json:"token,omitempty" doc:"a bearer token, such as ${env:PROMETHEUS_TOKEN}"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout" min:"1ms" doc:"how long the query may take"`
}

// SetDefaults gives the query 10 seconds.
func (s *PrometheusSpec) SetDefaults() { s.Timeout = experiment.Duration(10 * time.Second) }

// Validate checks the URL and that there is a query.
func (s *PrometheusSpec) Validate() error {
	u, err := httpURL(s.URL)
	switch {
	case err != nil:
		return err
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("url %q: give the server's address only; the query goes in query", s.URL)
	case strings.TrimSpace(s.Query) == "":
		return errors.New("query is empty")
	}
	return nil
}

// TimeLimit is the query's timeout.
func (s *PrometheusSpec) TimeLimit() time.Duration { return s.Timeout.D() }

// PrometheusExpect is what the query's result must be: Value holds for the
// scalar, or for every series of the vector.
type PrometheusExpect struct {
	Value experiment.NumberCond `yaml:"value" json:"value,omitzero" doc:"what the scalar, or every series of the vector, must be, such as \"< 0.01\"; without it, any result holds"`
}

// maxSeriesShown is how many series a reason or an observation lists.
const maxSeriesShown = 5

func runPrometheus(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*PrometheusSpec)
	expect, _ := expectAny.(*PrometheusExpect)
	if expect == nil {
		expect = &PrometheusExpect{}
	}
	var rt http.RoundTripper = api.DefaultRoundTripper
	if spec.Token != "" {
		rt = config.NewAuthorizationCredentialsRoundTripper("Bearer", config.NewInlineSecret(spec.Token), rt)
	}
	client, err := api.NewClient(api.Config{Address: spec.URL, RoundTripper: rt})
	if err != nil {
		return Errorf("prometheus %s: %v", spec.URL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout.D())
	defer cancel()
	start := time.Now()
	papi := promv1.NewAPI(client)
	v, warnings, _, err := papi.Query(ctx, spec.Query, time.Now(), promv1.WithTimeout(spec.Timeout.D()))
	elapsed := time.Since(start)
	if err != nil {
		// Prometheus could not answer the query: that is no observation
		// of the system, whatever the reason.
		return Errorf("prometheus %s: query %s: %s", spec.URL, spec.Query, promError(err))
	}
	obs := map[string]string{"latency": experiment.FormatValue(elapsed.Seconds(), experiment.UnitDuration)}
	if len(warnings) > 0 {
		obs["warnings"] = strings.Join(warnings, "; ")
	}
	type sample struct {
		labels string
		value  float64
	}
	var samples []sample
	switch r := v.(type) {
	case *model.Scalar:
		samples = append(samples, sample{"", float64(r.Value)})
	case model.Vector:
		for _, s := range r {
			if s.Histogram != nil {
				// Its value is left 0, which would hold "< 0.5".
				return Errorf("prometheus %s: query %s returns a native histogram (%s): use histogram_quantile, histogram_count or histogram_sum for a number", spec.URL, spec.Query, s.Metric)
			}
			samples = append(samples, sample{s.Metric.String(), float64(s.Value)})
		}
	default:
		return Errorf("prometheus %s: query %s returns a %s: use an instant query that returns a scalar or a vector", spec.URL, spec.Query, v.Type())
	}
	since, age, known := dataAge(ctx, papi, spec.Query, spec.Timeout.D())
	if known {
		obs["data_age"] = experiment.FormatValue(age.Seconds(), experiment.UnitDuration)
	}
	result := func(r Result) Result {
		if known {
			r.Since = since
		}
		return r
	}
	if len(samples) == 0 {
		r := Errorf("prometheus %s: query %s returned no data: no series matches (check the metric names and labels, and that the target is scraped)", spec.URL, spec.Query)
		r.Observed = map[string]string{"series": "0"}
		return r
	}
	text := func(s sample) string {
		f := experiment.FormatValue(s.value, experiment.UnitNumber)
		if math.IsNaN(s.value) {
			f = "NaN"
		}
		if s.labels == "" || s.labels == "{}" {
			return f
		}
		return s.labels + " " + f
	}
	if len(samples) == 1 {
		obs["value"] = text(samples[0])
	} else {
		obs["series"] = fmt.Sprint(len(samples))
		var shown []string
		for _, s := range samples[:min(len(samples), maxSeriesShown)] {
			shown = append(shown, text(s))
		}
		obs["values"] = strings.Join(shown, ", ")
	}
	// A pass on a result Prometheus warned of is no observation: a
	// Thanos or a Mimir that could not reach a store answers with what
	// the others hold, and says so only in its warnings.
	warned := func() Result {
		r := Errorf("prometheus %s: query %s answered with warnings, and what it left out may not hold: %s", spec.URL, spec.Query, obs["warnings"])
		r.Observed = obs
		return r
	}
	if expect.Value.IsZero() {
		if len(warnings) > 0 {
			return warned()
		}
		return result(Result{OK: true, Observed: obs, Output: obs})
	}
	var bad []string
	for _, s := range samples {
		// NaN (a ratio of nothing to nothing) holds no comparison.
		if !expect.Value.Holds(s.value) {
			bad = append(bad, text(s))
		}
	}
	if len(bad) > 0 {
		what := "value"
		if len(samples) > 1 {
			what = fmt.Sprintf("%d of %d series", len(bad), len(samples))
		}
		more := ""
		if len(bad) > maxSeriesShown {
			more = fmt.Sprintf(" and %d more", len(bad)-maxSeriesShown)
			bad = bad[:maxSeriesShown]
		}
		r := Failf(obs, "%s %s%s, want %s", what, strings.Join(bad, ", "), more, expect.Value)
		r.Output = obs
		return result(r)
	}
	if len(warnings) > 0 {
		return warned()
	}
	return result(Result{OK: true, Observed: obs, Output: obs})
}

// maxSelectors is the most series selectors of a query whose data age is
// looked up.
const maxSelectors = 10

// dataAge is how old the data a query reads is: Prometheus answers with
// what it last scraped (or its rules last recorded), which may be from
// before a fault a check is judged under. For each series selector of the
// query it asks for the time of the last sample of each of its series (a
// series whose target is down has none: Prometheus marks it stale, and a
// range goes on reading it, so its last sample is looked for through the
// query's longest range), and the oldest of those is the query's data time
// (since, by the local clock). A series a Pushgateway keeps is scraped
// afresh each time, but is as old as its push: its group's
// push_time_seconds counts. Ages are reckoned on Prometheus's clock, so
// that a skew between the clocks does not count. known is false when the
// query cannot be taken apart, reads no series, or reads data of another
// time on purpose (offset, @).
func dataAge(ctx context.Context, papi promv1.API, query string, timeout time.Duration) (since time.Time, age time.Duration, known bool) {
	sels, window, ok := selectors(query)
	if !ok || len(sels) == 0 || len(sels) > maxSelectors {
		return time.Time{}, 0, false
	}
	var pushes model.Vector
	if v, _, _, err := papi.Query(ctx, "push_time_seconds", time.Time{}, promv1.WithTimeout(timeout)); err == nil {
		pushes, _ = v.(model.Vector)
	}
	for _, sel := range sels {
		asked := time.Now()
		last := "timestamp(" + sel + ")"
		if window > 0 {
			// A range reads the samples of series Prometheus has
			// since marked stale (their target down, their process
			// gone): an instant selector no longer sees them, and
			// their last sample is found by stepping back through
			// the range.
			step := max(window/1000, time.Second)
			last += " or max_over_time(" + last + "[" + model.Duration(window).String() + ":" + model.Duration(step).String() + "])"
		}
		// No evaluation time: Prometheus takes its own now, and the
		// answer carries it.
		v, _, _, err := papi.Query(ctx, last, time.Time{}, promv1.WithTimeout(timeout))
		if err != nil {
			return time.Time{}, 0, false
		}
		vec, _ := v.(model.Vector)
		for _, smp := range vec {
			t := float64(smp.Value)
			if math.IsNaN(t) {
				continue
			}
			for _, p := range pushes {
				if pushed := float64(p.Value); pushed < t && pushedWith(p.Metric, smp.Metric) {
					t = pushed
				}
			}
			oldest := time.UnixMilli(int64(math.Round(t * 1000)))
			a := max(smp.Timestamp.Time().Sub(oldest), 0)
			if s := asked.Add(-a); !known || s.Before(since) {
				since, age, known = s, a, true
			}
		}
	}
	return since, age, known
}

// pushedWith reports whether a Pushgateway group's push_time_seconds
// belongs to a series: the series has every label of the group's.
func pushedWith(group, series model.Metric) bool {
	for k, v := range group {
		if k != model.MetricNameLabel && series[k] != v {
			return false
		}
	}
	return true
}

// promError says what went wrong in Prometheus's words, without the
// client's prefixes.
func promError(err error) string {
	var pe *promv1.Error
	if errors.As(err, &pe) {
		msg := pe.Msg
		if pe.Detail != "" {
			msg += ": " + pe.Detail
		}
		switch pe.Type {
		case promv1.ErrBadData:
			return "bad query: " + msg
		case promv1.ErrClient, promv1.ErrServer:
			return string(pe.Type) + ": " + msg
		}
		return msg
	}
	return describe(err)
}

func init() {
	Register(Kind{
		Name: "prometheus",
		New:  func() (any, any) { return &PrometheusSpec{}, &PrometheusExpect{} },
		Doc: experiment.Doc{
			Summary: "Runs an instant PromQL query against a Prometheus server's HTTP API. The value expectation must hold for the scalar, or for every series of the vector; no data at all, a native histogram (no number to compare), or a pass on a result that came with warnings (a Thanos or a Mimir that could not reach a store answers with the rest), is an error; NaN holds no comparison. Without expect, any result passes. Prometheus answers with what it last scraped: the probe asks it when each series the query reads was last scraped (a range such as [1m] goes on reading the samples of a target that is down since: they count from its last scrape; a series a Pushgateway keeps counts from its push, by push_time_seconds; a series a recording rule writes counts from the rule's last run, not from the data it was made of, so query the scraped series instead), and its observation counts from the oldest of those (data_age before it ran), so that a value scraped before a fault does not count as seen under it; a check whose every observation during the method read data from before its faults makes the run an error, and after the faults a pass on data scraped before they ended is observed again until Prometheus has newer data (for up to twice its age, a minute at most), else the run is an error; a probe or assert step that passes on data from before the faults last changed (one was injected or reverted) is observed again the same way.",
			Default: "any result",
			Example: "{url: \"http://127.0.0.1:9090\", query: \"sum(rate(http_requests_total{code=~'5..'}[1m]))\"}",
			Expect:  "{value: \"< 0.5\"}",
			Outputs: []string{"value: the result, for a scalar or a single series", "series: how many series, for several", "values: the first series with their values, for several", "data_age: how long before the query the stalest series it reads was last scraped"},
		},
		Run: runPrometheus,
	})
}
