package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"gopkg.in/yaml.v3"
)

// HTTPSpec is an HTTP probe: one request.
type HTTPSpec struct {
	experiment.HTTPRequest `yaml:",inline"`
	Timeout                experiment.Duration `yaml:"timeout" json:"timeout" min:"1ms" doc:"how long the request may take, answer included"`
}

// SetDefaults sends GET with a 5 s timeout.
func (s *HTTPSpec) SetDefaults() {
	s.HTTPRequest.SetDefaults()
	s.Timeout = experiment.Duration(5 * time.Second)
}

// Validate checks the request.
func (s *HTTPSpec) Validate() error { return s.HTTPRequest.Validate() }

// HTTPExpect is what the response must show. With nothing set, any 2xx
// status passes.
type HTTPExpect struct {
	Status       Status                        `yaml:"status" json:"status,omitzero" doc:"the status: 200, a class such as 2xx, or a list of either (default: any 2xx, unless error is set)"`
	BodyContains string                        `yaml:"body_contains" chaos:"nonempty" json:"body_contains,omitempty" doc:"text the body must contain"`
	BodyRegex    experiment.Regexp             `yaml:"body_regex" json:"body_regex,omitzero" doc:"a regular expression the body must match"`
	JSON         map[string]experiment.Matcher `yaml:"json" json:"json,omitempty" doc:"values in a JSON body, by path (a.b.0.c): each a value to equal (a number equals the same number however written: 0.10 is 0.1), or a comparison such as '> 3'"`
	Latency      experiment.DurationCond       `yaml:"latency" json:"latency,omitzero" doc:"how long the answer may take, as a comparison such as '< 200ms'"`
	// Error expects the request to fail, with an error containing this text
	// ("connection refused", "timed out", "connection reset"), or any error
	// for "any": a way to check that a dependency is cut.
	Error string `yaml:"error" json:"error,omitempty" doc:"expect the request to fail, with an error containing this text ('connection refused', 'timed out'), or any error with 'any': a way to check that a dependency is cut"`
}

// Status matches response codes: 200, a class such as 2xx, or a list of
// either.
type Status []string

// UnmarshalYAML reads one code or class, or a list of them.
func (s *Status) UnmarshalYAML(n *yaml.Node) error {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		return errors.New("expected a status such as 200, 2xx or [200, 202]")
	}
	for _, it := range items {
		v := strings.ToLower(strings.TrimSpace(it.Value))
		if !validStatus(v) {
			return fmt.Errorf("%q is not a status: use 200, 2xx or [200, 202]", it.Value)
		}
		*s = append(*s, v)
	}
	return nil
}

func validStatus(v string) bool {
	if len(v) != 3 {
		return false
	}
	if strings.HasSuffix(v, "xx") {
		return v[0] >= '1' && v[0] <= '5'
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 100 && n <= 599
}

// Match reports whether code is one of the statuses; an empty list matches
// any 2xx.
func (s Status) Match(code int) bool {
	if len(s) == 0 {
		return code >= 200 && code < 300
	}
	c := strconv.Itoa(code)
	for _, v := range s {
		if v == c || strings.HasSuffix(v, "xx") && v[0] == c[0] {
			return true
		}
	}
	return false
}

func (s Status) String() string {
	if len(s) == 0 {
		return "2xx"
	}
	return strings.Join(s, " or ")
}

const maxBody = 1 << 20

var httpClient = &http.Client{
	// Probes observe; following redirects would hide what the service said.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{
		Proxy: nil,
		// Each observation opens a connection of its own, as a new client
		// does. One kept alive from an earlier observation would still be
		// answered by a server that accepts no more connections, and would
		// carry a request the server dropped to net/http's second attempt.
		DisableKeepAlives: true,
	},
}

func runHTTP(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*HTTPSpec)
	expect, _ := expectAny.(*HTTPExpect)
	if expect == nil {
		expect = &HTTPExpect{}
	}
	rctx, cancel := context.WithTimeout(ctx, spec.Timeout.D())
	defer cancel()
	req, err := NewRequest(rctx, &spec.HTTPRequest)
	if err != nil {
		return Errorf("%w", err)
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		obs := map[string]string{"error": describe(err)}
		// A request its caller cut short (a deadline of the run's, an
		// interrupt) got no answer from the system, failed or not: only
		// the probe's own timeout says the system did not answer.
		if expect.Error != "" && ctx.Err() == nil && (expect.Error == "any" || strings.Contains(describe(err), expect.Error)) {
			return Result{OK: true, Observed: obs, Output: obs}
		}
		return Failf(obs, "%s %s: %s", spec.Method, spec.URL, describe(err))
	}
	defer resp.Body.Close()
	if expect.Error != "" {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return Failf(map[string]string{"status": strconv.Itoa(resp.StatusCode)}, "%s %s answered %d, want an error (%s)", spec.Method, spec.URL, resp.StatusCode, expect.Error)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	elapsed := time.Since(start)
	obs := map[string]string{
		"status":  strconv.Itoa(resp.StatusCode),
		"latency": experiment.FormatValue(elapsed.Seconds(), experiment.UnitDuration),
	}
	out := map[string]string{"status": obs["status"], "body": string(body), "latency": obs["latency"]}
	if err != nil {
		return Result{Observed: obs, Reason: "read body: " + describe(err), Output: out}
	}
	fail := func(format string, args ...any) Result {
		r := Failf(obs, format, args...)
		r.Output = out
		return r
	}
	mask := maskOf(ctx)
	if !expect.Status.Match(resp.StatusCode) {
		return fail("status %d, want %s", resp.StatusCode, expect.Status)
	}
	if !expect.Latency.IsZero() && !expect.Latency.Holds(elapsed.Seconds()) {
		return fail("latency %s, want %s", obs["latency"], expect.Latency)
	}
	if expect.BodyContains != "" && !strings.Contains(string(body), expect.BodyContains) {
		return fail("body does not contain %q: %s", expect.BodyContains, excerpt(mask, body))
	}
	if expect.BodyRegex.Regexp != nil && !expect.BodyRegex.Match(body) {
		return fail("body does not match %q: %s", expect.BodyRegex.String(), excerpt(mask, body))
	}
	if len(expect.JSON) > 0 {
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return fail("body is not JSON: %s", excerpt(mask, body))
		}
		// Every field is observed, so that a failure shows all the numbers.
		var bad []string
		for _, path := range slices.Sorted(maps.Keys(expect.JSON)) {
			got, ok := JSONPath(doc, path)
			if !ok {
				bad = append(bad, fmt.Sprintf("JSON field %s is missing", path))
				continue
			}
			obs["json."+path] = got
			if m := expect.JSON[path]; !m.Match(got) {
				bad = append(bad, fmt.Sprintf("JSON field %s is %s, want %s", path, got, m))
			}
		}
		if len(bad) > 0 {
			return fail("%s", strings.Join(bad, ", "))
		}
	}
	if doc := (map[string]any{}); json.Unmarshal(body, &doc) == nil {
		for k, v := range doc {
			out["json."+k] = jsonText(v)
		}
	}
	return Result{OK: true, Observed: obs, Output: out}
}

// NewRequest builds an HTTP request from its description.
func NewRequest(ctx context.Context, r *experiment.HTTPRequest) (*http.Request, error) {
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if r.Body != "" && req.Header.Get("Content-Type") == "" && json.Valid([]byte(r.Body)) {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// excerpt quotes an output for a reason, masked before it is cut short.
func excerpt(mask func(string) string, b []byte) string {
	s := mask(strings.TrimSpace(string(b)))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty)"
	}
	return strconv.Quote(s)
}

// TimeLimit is the probe's timeout.
func (s *HTTPSpec) TimeLimit() time.Duration { return s.Timeout.D() }

func init() {
	Register(Kind{
		Name: "http",
		New:  func() (any, any) { return &HTTPSpec{}, &HTTPExpect{} },
		Doc: experiment.Doc{
			Summary: "Sends one HTTP request. Without expect, any 2xx status passes; a request that fails (refused, timed out) fails the observation unless error expects it.",
			Default: "any 2xx status",
			Example: "{url: http://127.0.0.1:8080/health, timeout: 2s}",
			Expect:  `{status: 200, latency: "< 300ms", body_contains: ok}`,
			Outputs: []string{"status: the status code", "body: the response body", "latency: how long the answer took", "json.PATH: each json value expected, as found"},
		},
		Run: runHTTP,
	})
}

// JSONSchema describes a status expectation.
func (Status) JSONSchema() map[string]any {
	one := map[string]any{"type": []string{"string", "integer"}, "pattern": `^([1-5][0-9][0-9]|[1-5]xx)$`}
	return map[string]any{"anyOf": []any{one, map[string]any{"type": "array", "items": one}}, "title": "status", "description": "a status code such as 200, a class such as 2xx, or a list of either"}
}
