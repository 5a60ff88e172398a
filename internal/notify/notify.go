// Package notify sends a run's events where teams already look while it
// runs: a webhook (JSON, or a Slack-compatible text), a Prometheus
// Pushgateway (gauges of the verdict and of each fault's window) and
// OpenTelemetry (one trace per run). It also writes the event stream as
// JSON lines (chaos run --events).
//
// Every notifier is a journal.Sink that never blocks the runner: it keeps
// what it must send in memory and sends it from a goroutine of its own,
// each request bounded by a timeout, and it is a journal.Flusher, which
// the run flushes once after its verdict. A notifier that fails says so
// from Flush; it never changes the verdict.
package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// Notifier is a sink that sends the run's events elsewhere.
type Notifier interface {
	journal.Sink
	journal.Flusher
}

// Run is what a notifier knows of the run besides its events.
type Run struct {
	// Title and File are the experiment's.
	Title, File string
	// Name tells the experiment from the others of its call: its file's
	// name without extension, numbered as its report directory is when
	// two files of the call share it. Empty: from File.
	Name string
}

// experimentName is the experiment's Name, or its file's name without its
// extension.
func (r Run) experimentName() string {
	if r.Name != "" {
		return r.Name
	}
	base := filepath.Base(r.File)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// New makes the notifier that n describes.
func New(n *experiment.Notify, run Run) (Notifier, error) {
	switch {
	case n.Webhook != nil:
		return newWebhook(n.Webhook, run), nil
	case n.Pushgateway != nil:
		return newPushgateway(n.Pushgateway, run), nil
	case n.OTel != nil:
		return newOTel(n.OTel, run)
	}
	return nil, fmt.Errorf("notifier of no known kind")
}

// Display is how a URL shows in messages: its scheme and host, with
// anything after them masked, whatever the masker knows.
func Display(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return experiment.Mask
	}
	s := u.Scheme + "://" + u.Host
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		s += "/" + experiment.Mask
	}
	return s
}

// client sends every notifier's requests; each request has its own
// timeout through its context.
var client = &http.Client{}

// sender sends jobs one at a time from a goroutine of its own, in order.
// Jobs wait in a bounded queue: when it is full, a job is dropped and
// counted, so that a slow receiver never holds the run up.
type sender struct {
	name    string // the notifier as messages name it
	rawURL  string // replaced by name in error texts
	timeout time.Duration

	mu      sync.Mutex
	closed  bool
	queue   chan func(ctx context.Context) error
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	sent    int
	failed  int
	dropped int
	lastErr error
}

// queueSize bounds the jobs a notifier keeps waiting.
const queueSize = 1024

func newSender(name, rawURL string, timeout time.Duration) *sender {
	s := &sender{name: name, rawURL: rawURL, timeout: timeout,
		queue: make(chan func(context.Context) error, queueSize), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.loop()
	return s
}

func (s *sender) loop() {
	defer close(s.done)
	for job := range s.queue {
		if s.ctx.Err() != nil {
			s.count(s.ctx.Err(), true)
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		err := job(ctx)
		cancel()
		s.count(err, false)
	}
}

func (s *sender) count(err error, dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case dropped:
		s.dropped++
	case err != nil:
		s.failed++
		s.lastErr = err
	default:
		s.sent++
	}
}

// send queues a job; false when it was dropped.
func (s *sender) send(job func(ctx context.Context) error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.queue <- job:
		return true
	default:
		s.dropped++
		return false
	}
}

// flush waits for the queued jobs until ctx ends, then cancels the one in
// flight and drops the rest, and says what was not sent.
func (s *sender) flush(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == 0 && s.dropped == 0 {
		return nil
	}
	total := s.sent + s.failed + s.dropped
	msg := fmt.Sprintf("%s: %d of %d requests not sent", s.name, s.failed+s.dropped, total)
	if s.lastErr != nil {
		msg += ", the last: " + s.mask(s.lastErr.Error())
	}
	if s.dropped > 0 {
		msg += fmt.Sprintf("; %d not tried: the receiver was too slow to take them in time", s.dropped)
	}
	return fmt.Errorf("%s", msg)
}

// mask replaces the notifier's URL in an error's text by its name: the
// URL may carry a token.
func (s *sender) mask(text string) string {
	if s.rawURL == "" {
		return text
	}
	shown := Display(s.rawURL)
	if strings.HasSuffix(s.rawURL, "/") && !strings.HasSuffix(shown, experiment.Mask) {
		// The path joined on after the URL keeps its slash.
		shown += "/"
	}
	text = strings.ReplaceAll(text, s.rawURL, shown)
	if u, err := url.Parse(s.rawURL); err == nil {
		// net/http names the URL as it sent it, with the path joined on.
		text = strings.ReplaceAll(text, u.Redacted(), shown)
		if u.RawQuery != "" {
			text = strings.ReplaceAll(text, u.RawQuery, experiment.Mask)
		}
		if p := u.EscapedPath(); strings.Trim(p, "/") != "" {
			text = strings.ReplaceAll(text, p, "/"+experiment.Mask)
		}
	}
	return text
}

// checkStatus turns a response that is not 2xx into an error.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
