package experiment

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Notify is one place the run's events are sent to while it runs: a
// webhook, a Prometheus Pushgateway or an OpenTelemetry collector. A
// notifier that fails only warns: it never changes the verdict.
type Notify struct {
	Pos         Pos          `json:"-" yaml:"-"`
	Webhook     *Webhook     `json:"webhook,omitempty" yaml:"webhook" doc:"POST the run's events, or a summary of the run, as JSON to a URL"`
	Pushgateway *Pushgateway `json:"pushgateway,omitempty" yaml:"pushgateway" doc:"push gauges of the verdict and of each fault's start and end to a Prometheus Pushgateway"`
	OTel        *OTel        `json:"otel,omitempty" yaml:"otel" doc:"export one trace of the run (spans for phases, steps and faults) over OTLP/HTTP to the endpoint the OTEL_EXPORTER_OTLP_* variables name; write otel: {}"`
}

// Validate checks that the notifier is of exactly one kind.
func (n *Notify) Validate() error {
	count := 0
	for _, set := range []bool{n.Webhook != nil, n.Pushgateway != nil, n.OTel != nil} {
		if set {
			count++
		}
	}
	if count != 1 {
		return errorString("a notifier is one of webhook, pushgateway or otel (write otel: {} for the defaults)")
	}
	return nil
}

// Kind names the notifier's kind: webhook, pushgateway or otel.
func (n *Notify) Kind() string {
	switch {
	case n.Webhook != nil:
		return "webhook"
	case n.Pushgateway != nil:
		return "pushgateway"
	}
	return "otel"
}

// Secrets are the parts of the notifier's settings that name a credential:
// the password in a URL, its query values, a webhook URL's path (chat
// webhooks carry their token there) and header values. Outputs mask them.
func (n *Notify) Secrets() []string {
	var out []string
	switch {
	case n.Webhook != nil:
		out = urlSecrets(n.Webhook.URL, true)
		for k, v := range n.Webhook.Headers {
			if !plainHeader(k) {
				out = append(out, v)
			}
		}
	case n.Pushgateway != nil:
		out = urlSecrets(n.Pushgateway.URL, false)
	}
	return out
}

// plainHeader reports whether a header's value says nothing secret.
func plainHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Accept", "User-Agent":
		return true
	}
	return false
}

func urlSecrets(raw string, path bool) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	var out []string
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	if path && strings.Trim(u.Path, "/") != "" {
		out = append(out, u.EscapedPath())
	}
	return out
}

// Webhook bodies.
const (
	// BodySummary is one JSON object at the end of the run: its verdict,
	// reason, times and faults.
	BodySummary = "summary"
	// BodyEvents is one JSON object for each event as it happens.
	BodyEvents = "events"
	// BodySlack is a Slack-compatible {"text": ...} message when the run
	// starts, aborts and ends.
	BodySlack = "slack"
)

// Webhook posts the run's events as JSON to a URL.
type Webhook struct {
	URL     string            `json:"url" yaml:"url" chaos:"required" doc:"the URL, http:// or https://; its path, query and password are masked in every output"`
	Body    string            `json:"body" yaml:"body" doc:"what is posted: summary (one JSON object at the end), events (one JSON object per event as it happens, load windows and passing observations left out), slack (a {\"text\": ...} message when the run starts, aborts and ends)"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers" doc:"request headers, such as Authorization; their values are masked in every output"`
	Timeout Duration          `json:"timeout" yaml:"timeout" min:"1ms" doc:"how long one request may take"`
}

// SetDefaults posts a summary with a 5 s timeout.
func (w *Webhook) SetDefaults() {
	w.Body = BodySummary
	w.Timeout = Duration(5e9)
}

// Validate checks the URL and the body.
func (w *Webhook) Validate() error {
	if err := checkNotifyURL(w.URL); err != nil {
		return err
	}
	switch w.Body {
	case BodySummary, BodyEvents, BodySlack:
		return nil
	}
	return errorString(fmt.Sprintf("body %q: use summary, events or slack", w.Body))
}

// Pushgateway pushes gauges of the run to a Prometheus Pushgateway.
type Pushgateway struct {
	URL     string            `json:"url" yaml:"url" chaos:"required" doc:"the Pushgateway's URL, such as http://127.0.0.1:9091"`
	Job     string            `json:"job" yaml:"job" doc:"the job label of the pushed group"`
	Labels  map[string]string `json:"labels,omitempty" yaml:"labels" doc:"more grouping labels of the pushed group (default: experiment, the experiment file's name without its extension)"`
	Timeout Duration          `json:"timeout" yaml:"timeout" min:"1ms" doc:"how long one push may take"`
}

// SetDefaults pushes as job chaos with a 5 s timeout.
func (p *Pushgateway) SetDefaults() {
	p.Job = "chaos"
	p.Timeout = Duration(5e9)
}

// Validate checks the URL and the labels.
func (p *Pushgateway) Validate() error {
	if err := checkNotifyURL(p.URL); err != nil {
		return err
	}
	if p.Job == "" {
		return errorString("job must not be empty")
	}
	for k := range p.Labels {
		if !labelRE.MatchString(k) || k == "job" {
			return errorString(fmt.Sprintf("label %q: a label name is letters, digits and _, not starting with a digit, and not job", k))
		}
	}
	return nil
}

// OTel exports a trace of the run over OTLP/HTTP. The endpoint, headers
// and timeout come from the standard OTEL_EXPORTER_OTLP_* variables.
type OTel struct {
	ServiceName string `json:"service_name,omitempty" yaml:"service_name" doc:"the service.name of the trace's resource (default: OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else chaos)"`
}

var labelRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// AddNotify adds a notifier given outside the file (chaos run --notify),
// and its secrets to those masked.
func (e *Experiment) AddNotify(n *Notify) {
	e.Notify = append(e.Notify, n)
	e.Secrets = append(e.Secrets, n.Secrets()...)
}

func checkNotifyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorString("url must be an http:// or https:// URL with a host")
	}
	return nil
}
