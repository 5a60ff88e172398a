package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// MetricsSpec scrapes a /metrics endpoint (Prometheus text or OpenMetrics)
// and reads the samples of one metric whose labels include Labels: their
// values, or with Rate their per-second increase between two scrapes that
// far apart.
type MetricsSpec struct {
	URL    string            `yaml:"url" json:"url" chaos:"required" doc:"the endpoint, such as http://127.0.0.1:8080/metrics"`
	Name   string            `yaml:"name" json:"name" chaos:"required" doc:"the sample's name, such as http_requests_total or rpc_duration_seconds_count"`
	Labels map[string]string `yaml:"labels" json:"labels,omitempty" doc:"labels the samples must have; others may have any value"`
	// Rate, when set, scrapes twice this far apart and checks the
	// per-second increase of each sample, as PromQL's rate would.
	Rate    experiment.Duration `yaml:"rate" json:"rate,omitempty" doc:"scrape twice this far apart and check each sample's per-second increase"`
	Token   string              `yaml:"token" json:"token,omitempty" doc:"a bearer token, such as ${env:METRICS_TOKEN}"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout" min:"1ms" doc:"how long each scrape may take"`
}

// SetDefaults gives each scrape 5 seconds.
func (s *MetricsSpec) SetDefaults() { s.Timeout = experiment.Duration(5 * time.Second) }

// Validate checks the URL, the name and the rate's span.
func (s *MetricsSpec) Validate() error {
	_, err := httpURL(s.URL)
	switch {
	case err != nil:
		return err
	case strings.TrimSpace(s.Name) == "" || strings.ContainsAny(s.Name, "{} "):
		return fmt.Errorf("name %q: give the sample's name alone, and its labels under labels", s.Name)
	case s.Rate < 0 || (s.Rate > 0 && s.Rate < experiment.Duration(100*time.Millisecond)):
		return errors.New("rate must be 100ms or more: the time between the two scrapes")
	}
	return nil
}

// TimeLimit is two scrapes and the time between them.
func (s *MetricsSpec) TimeLimit() time.Duration {
	if s.Rate > 0 {
		return 2*s.Timeout.D() + s.Rate.D()
	}
	return s.Timeout.D()
}

// MetricsExpect is what every matching sample, or its rate, must be.
type MetricsExpect struct {
	Value experiment.NumberCond `yaml:"value" json:"value,omitzero" doc:"what every matching sample (or its rate) must be, such as \"< 0.5\"; without it, any sample holds"`
}

// metricsAccept asks for the Prometheus text format first and takes
// OpenMetrics too.
const metricsAccept = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// sample is one flattened sample: a name as it appears in the text format
// (x_bucket, x_sum, x_count for histograms) and its labels.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (s sample) key() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.labels)) {
		fmt.Fprintf(&b, "%s=%q,", k, s.labels[k])
	}
	return b.String()
}

func (s sample) String() string {
	if len(s.labels) == 0 {
		return s.name
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, s.labels[k]))
	}
	return s.name + "{" + strings.Join(parts, ",") + "}"
}

// Scrape reads every sample of an endpoint.
func scrape(ctx context.Context, spec *MetricsSpec) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", metricsAccept)
	if spec.Token != "" {
		req.Header.Set("Authorization", "Bearer "+spec.Token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, errors.New(describe(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil, fmt.Errorf("answered %d", resp.StatusCode)
	}
	dec := expfmt.NewDecoder(io.LimitReader(resp.Body, 64<<20), expfmt.ResponseFormat(resp.Header))
	var out []sample
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("not Prometheus text or OpenMetrics: %v", err)
		}
		out = append(out, flatten(&mf)...)
	}
}

// flatten turns a family into samples as the text format writes them.
func flatten(mf *dto.MetricFamily) []sample {
	var out []sample
	name := mf.GetName()
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		with := func(k, v string) map[string]string {
			l := maps.Clone(labels)
			l[k] = v
			return l
		}
		switch {
		case m.Counter != nil:
			out = append(out, sample{name, labels, m.GetCounter().GetValue()})
			if !strings.HasSuffix(name, "_total") {
				// OpenMetrics names a counter's family without the
				// _total its sample has.
				out = append(out, sample{name + "_total", labels, m.GetCounter().GetValue()})
			}
		case m.Gauge != nil:
			out = append(out, sample{name, labels, m.GetGauge().GetValue()})
		case m.Untyped != nil:
			out = append(out, sample{name, labels, m.GetUntyped().GetValue()})
		case m.Histogram != nil:
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				out = append(out, sample{name + "_bucket", with("le", fmt.Sprint(b.GetUpperBound())), float64(b.GetCumulativeCount())})
			}
			out = append(out, sample{name + "_bucket", with("le", "+Inf"), float64(h.GetSampleCount())},
				sample{name + "_sum", labels, h.GetSampleSum()}, sample{name + "_count", labels, float64(h.GetSampleCount())})
		case m.Summary != nil:
			s := m.GetSummary()
			for _, q := range s.GetQuantile() {
				out = append(out, sample{name, with("quantile", fmt.Sprint(q.GetQuantile())), q.GetValue()})
			}
			out = append(out, sample{name + "_sum", labels, s.GetSampleSum()}, sample{name + "_count", labels, float64(s.GetSampleCount())})
		}
	}
	return out
}

// matching keeps the samples of the spec's name whose labels include its
// labels.
func (s *MetricsSpec) matching(all []sample) []sample {
	var out []sample
	for _, smp := range all {
		if smp.name != s.Name {
			continue
		}
		ok := true
		for k, v := range s.Labels {
			if smp.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, smp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func runMetrics(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*MetricsSpec)
	expect, _ := expectAny.(*MetricsExpect)
	if expect == nil {
		expect = &MetricsExpect{}
	}
	what := (&sample{name: spec.Name, labels: spec.Labels}).String()
	first, err := scrape(ctx, spec)
	if err != nil {
		// The endpoint not answering is what a fault may do: a failed
		// observation, not a broken experiment.
		return Failf(map[string]string{"error": err.Error()}, "scrape %s: %v", spec.URL, err)
	}
	samples := spec.matching(first)
	if len(samples) == 0 {
		return Errorf("scrape %s: no sample %s: check the name and labels", spec.URL, what)
	}
	obs := map[string]string{}
	if spec.Rate > 0 {
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return Failf(nil, "scrape %s: %v", spec.URL, ctx.Err())
		case <-time.After(spec.Rate.D()):
		}
		second, err := scrape(ctx, spec)
		if err != nil {
			return Failf(map[string]string{"error": err.Error()}, "scrape %s again: %v", spec.URL, err)
		}
		elapsed := time.Since(t0).Seconds()
		before := map[string]float64{}
		for _, s := range samples {
			before[s.key()] = s.value
		}
		var rates []sample
		for _, s := range spec.matching(second) {
			v0, ok := before[s.key()]
			if !ok {
				v0 = 0 // a series born between the scrapes started from nothing
			}
			delete(before, s.key())
			inc := s.value - v0
			if inc < 0 {
				inc = s.value // a reset: the counter restarted from zero
			}
			rates = append(rates, sample{s.name, s.labels, inc / elapsed})
		}
		// A sample the first scrape had and the second has not is no
		// mistake of the experiment's, which the first scrape showed to
		// match: the system dropped it (its worker gone, its process
		// restarted). It has no rate, and the samples left alone would
		// pass what it may not.
		if len(before) > 0 {
			var gone []string
			for _, s := range samples {
				if _, ok := before[s.key()]; ok {
					gone = append(gone, s.String())
				}
			}
			more := ""
			if len(gone) > maxSeriesShown {
				more = fmt.Sprintf(" and %d more", len(gone)-maxSeriesShown)
				gone = gone[:maxSeriesShown]
			}
			return Failf(map[string]string{"gone": fmt.Sprint(len(before))}, "scrape %s again: no sample %s%s in the second scrape", spec.URL, strings.Join(gone, ", "), more)
		}
		samples = rates
	}
	text := func(s sample) string {
		v := experiment.FormatValue(s.value, experiment.UnitNumber)
		if math.IsNaN(s.value) {
			v = "NaN"
		}
		if spec.Rate > 0 {
			v += "/s"
		}
		if len(samples) == 1 {
			return v
		}
		return s.String() + " " + v
	}
	key := "value"
	if spec.Rate > 0 {
		key = "rate"
	}
	if len(samples) == 1 {
		obs[key] = text(samples[0])
	} else {
		obs["series"] = fmt.Sprint(len(samples))
		var shown []string
		for _, s := range samples[:min(len(samples), maxSeriesShown)] {
			shown = append(shown, text(s))
		}
		obs[key+"s"] = strings.Join(shown, ", ")
	}
	if expect.Value.IsZero() {
		return Result{OK: true, Observed: obs, Output: obs}
	}
	var bad []string
	for _, s := range samples {
		if !expect.Value.Holds(s.value) {
			bad = append(bad, text(s))
		}
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > maxSeriesShown {
			more = fmt.Sprintf(" and %d more", len(bad)-maxSeriesShown)
			bad = bad[:maxSeriesShown]
		}
		r := Failf(obs, "%s %s %s%s, want %s", what, key, strings.Join(bad, ", "), more, expect.Value)
		r.Output = obs
		return r
	}
	return Result{OK: true, Observed: obs, Output: obs}
}

func init() {
	Register(Kind{
		Name: "metrics",
		New:  func() (any, any) { return &MetricsSpec{}, &MetricsExpect{} },
		Doc: experiment.Doc{
			Summary: "Scrapes a /metrics endpoint (Prometheus text or OpenMetrics) and reads the samples of one metric whose labels include labels: their values, or with rate their per-second increase between two scrapes. The value expectation must hold for every matching sample; no matching sample is an error, and with rate a sample gone by the second scrape fails the observation; NaN holds no comparison. Without expect, any sample passes.",
			Default: "any sample of the metric",
			Example: "{url: \"http://127.0.0.1:8080/metrics\", name: http_requests_total, labels: {code: \"500\"}, rate: 5s}",
			Expect:  "{value: \"< 1\"}",
			Outputs: []string{"value: the sample's value, for a single sample", "rate: its per-second increase, with rate", "series: how many samples, for several", "values: the first samples with their values (rates: with rate), for several"},
		},
		Run: runMetrics,
	})
}

// httpURL parses an http:// or https:// URL with a host.
func httpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://"):
		return nil, fmt.Errorf("url %q must start with http:// or https://", raw)
	case err != nil:
		return nil, fmt.Errorf("url %q: %v", raw, errors.Unwrap(err))
	case u.Host == "":
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	return u, nil
}
