package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

func init() {
	register("http_error", func() Params { return &HTTPError{} })
	register("http_delay", func() Params { return &HTTPDelay{} })
}

// Match selects the HTTP requests a fault hits. Every field set must match;
// the zero Match matches every request.
type Match struct {
	Method      string `json:"method,omitempty" yaml:"method" doc:"hit only requests with this method"`
	PathPrefix  string `json:"path_prefix,omitempty" yaml:"path_prefix" doc:"hit only requests whose path starts with this"`
	PathRegex   string `json:"path_regex,omitempty" yaml:"path_regex" doc:"hit only requests whose path matches this regular expression"`
	Header      string `json:"header,omitempty" yaml:"header" doc:"hit only requests that carry this header"`
	HeaderValue string `json:"header_value,omitempty" yaml:"header_value" doc:"with header: hit only requests whose header has this value"`

	re *regexp.Regexp
}

func (m *Match) validate() error {
	if m.HeaderValue != "" && m.Header == "" {
		return fmt.Errorf("header_value %q without header", m.HeaderValue)
	}
	if m.PathRegex == "" {
		m.re = nil
		return nil
	}
	re, err := regexp.Compile(m.PathRegex)
	if err != nil {
		return fmt.Errorf("path_regex: %w", err)
	}
	m.re = re
	return nil
}

func (m *Match) matches(r *request) bool {
	if m.Method != "" && !strings.EqualFold(m.Method, r.method) {
		return false
	}
	if m.PathPrefix != "" && !strings.HasPrefix(r.path, m.PathPrefix) {
		return false
	}
	if m.re != nil && !m.re.MatchString(r.path) {
		return false
	}
	if m.Header != "" {
		v, ok := r.header(m.Header)
		if !ok || (m.HeaderValue != "" && v != m.HeaderValue) {
			return false
		}
	}
	return true
}

// HTTPError answers the requests it hits itself with Status and Body; they
// never reach the upstream. The connection stays usable.
type HTTPError struct {
	Status int    `json:"status" yaml:"status" doc:"the HTTP status answered, 200 to 599"`
	Body   string `json:"body,omitempty" yaml:"body" doc:"the body answered (default: the status text)"`
	Match  `yaml:",inline"`
}

// Kind returns "http_error".
func (*HTTPError) Kind() string { return "http_error" }

// Validate requires a final status code (200 to 599) and a valid match.
func (e *HTTPError) Validate() error {
	if e.Status == 0 {
		return fmt.Errorf("status is required: the HTTP status to answer with, 200 to 599")
	}
	if e.Status < 200 || e.Status > 599 {
		return fmt.Errorf("status %d is not between 200 and 599", e.Status)
	}
	return e.validate()
}

// response is the reply to a request with the given method; close adds
// Connection: close. Replies to HEAD carry the length of the body they
// leave out; 204 and 304 replies have none (RFC 9110 6.4.1).
func (e *HTTPError) response(method string, close bool) []byte {
	body := e.Body
	if body == "" {
		body = http.StatusText(e.Status) + "\n"
	}
	b := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nX-Chaos-Fault: http_error\r\n", e.Status, http.StatusText(e.Status))
	if close {
		b = append(b, "Connection: close\r\n"...)
	}
	if e.Status == http.StatusNoContent || e.Status == http.StatusNotModified {
		return append(b, "\r\n"...)
	}
	b = fmt.Appendf(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n", len(body))
	if method == http.MethodHead {
		return b
	}
	return append(b, body...)
}

// HTTPDelay holds the requests it hits for Delay, plus or minus a uniformly
// drawn Jitter, before passing them on.
type HTTPDelay struct {
	Delay  time.Duration `json:"delay" yaml:"delay" doc:"how long each request hit is held before it is passed on"`
	Jitter time.Duration `json:"jitter,omitempty" yaml:"jitter" doc:"plus or minus up to this much, drawn uniformly"`
	Match  `yaml:",inline"`
}

// Kind returns "http_delay".
func (*HTTPDelay) Kind() string { return "http_delay" }

// Validate rejects negative durations and an invalid match.
func (d *HTTPDelay) Validate() error {
	if err := nonNegativeDuration("delay", d.Delay); err != nil {
		return err
	}
	if err := nonNegativeDuration("jitter", d.Jitter); err != nil {
		return err
	}
	if d.Delay == 0 && d.Jitter == 0 {
		return fmt.Errorf("delay is required: a delay of 0 would do nothing")
	}
	return d.validate()
}
