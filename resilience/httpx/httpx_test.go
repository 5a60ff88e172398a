package httpx_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/resilience"
	"github.com/gamedayhq/chaos/resilience/httpx"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// autoClock fires every timer at once and records the waits, so that
// retries do not sleep.
type autoClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

type firedTimer struct{}

func (firedTimer) Stop() bool { return false }

func (c *autoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *autoClock) AfterFunc(d time.Duration, f func()) resilience.Timer {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	f()
	return firedTimer{}
}

func (c *autoClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// server answers with the statuses in turn (the last one repeats) and
// records the bodies it received.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  map[string]string
	bodies   []string
}

func newServer(t *testing.T, statuses ...int) *server {
	s := &server{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		i := min(len(s.bodies), len(s.statuses)-1)
		s.bodies = append(s.bodies, string(b))
		status := s.statuses[i]
		for k, v := range s.headers {
			w.Header().Set(k, v)
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func client(t *testing.T, policies func(host string) []resilience.Policy) *http.Client {
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: &httpx.Transport{Base: base, Policies: policies}}
}

func retryOnly(clock resilience.Clock) func(string) []resilience.Policy {
	return func(string) []resilience.Policy {
		return []resilience.Policy{resilience.NewRetry(resilience.RetrySettings{MaxAttempts: 3, MaxRetryAfter: time.Minute, Clock: clock, NoBudget: true})}
	}
}

func TestTransportRetries(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		key      bool
		statuses []int
		attempts int
		status   int
	}{
		{"GET 503 then 200", http.MethodGet, false, []int{503, 200}, 2, 200},
		{"GET 502, 504 then 200", http.MethodGet, false, []int{502, 504, 200}, 3, 200},
		{"GET 429 then 200", http.MethodGet, false, []int{429, 200}, 2, 200},
		{"GET 503 until exhausted", http.MethodGet, false, []int{503}, 3, 503},
		{"GET 404 not retried", http.MethodGet, false, []int{404, 200}, 1, 404},
		{"GET 400 not retried", http.MethodGet, false, []int{400, 200}, 1, 400},
		{"GET 500 not retried", http.MethodGet, false, []int{500, 200}, 1, 500},
		{"PUT 503 retried", http.MethodPut, false, []int{503, 200}, 2, 200},
		{"POST 503 not retried", http.MethodPost, false, []int{503, 200}, 1, 503},
		{"POST with key retried", http.MethodPost, true, []int{503, 503, 201}, 3, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.statuses...)
			c := client(t, retryOnly(&autoClock{}))
			req, _ := http.NewRequest(tt.method, srv.URL, strings.NewReader("payload"))
			if tt.key {
				req.Header.Set(httpx.IdempotencyKeyHeader, "k1")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(body) != http.StatusText(tt.status) {
				t.Errorf("response %d %q; want %d %q", resp.StatusCode, body, tt.status, http.StatusText(tt.status))
			}
			got := srv.received()
			if len(got) != tt.attempts {
				t.Fatalf("attempts = %d; want %d", len(got), tt.attempts)
			}
			for i, b := range got {
				if b != "payload" {
					t.Errorf("attempt %d body = %q; want the replayed payload", i+1, b)
				}
			}
		})
	}
}

func TestTransportRetryAfter(t *testing.T) {
	srv := newServer(t, 503, 200)
	srv.headers = map[string]string{"Retry-After": "7"}
	clock := &autoClock{}
	resp, err := client(t, retryOnly(clock)).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(clock.waits) != 1 || clock.waits[0] != 7*time.Second {
		t.Fatalf("waits = %v; want the server's 7s", clock.waits)
	}

	srv2 := newServer(t, 503, 200)
	srv2.headers = map[string]string{"Retry-After": "3600"}
	resp, err = client(t, retryOnly(&autoClock{})).Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || len(srv2.received()) != 1 {
		t.Fatalf("status %d after %d attempts; want 503 at once: Retry-After is over the cap", resp.StatusCode, len(srv2.received()))
	}
}

func TestTransportNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close() // a server that drops every connection
		}
	}()
	defer ln.Close()
	c := client(t, retryOnly(&autoClock{}))
	_, err = c.Get("http://" + addr + "/")
	if err == nil || !errors.Is(err, resilience.ErrRetriesExhausted) {
		t.Fatalf("GET: %v; want retries exhausted", err)
	}
	if accepted.Load() < 3 {
		t.Errorf("connections = %d; want at least 3 attempts", accepted.Load())
	}
	before := accepted.Load()
	_, err = c.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	if err == nil || !errors.Is(err, resilience.ErrNotRetryable) {
		t.Fatalf("POST: %v; want not retryable", err)
	}
	// net/http itself may retry a request on a connection it had reused,
	// never on a fresh one, so one connection per attempt is expected.
	if n := accepted.Load() - before; n != 1 {
		t.Errorf("POST connections = %d; want 1", n)
	}
}

func TestTransportBreakerOpens(t *testing.T) {
	srv := newServer(t, 500)
	breaker := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 3, MinimumCalls: 3, OpenDuration: time.Hour})
	defer breaker.Reset()
	c := client(t, func(string) []resilience.Policy { return []resilience.Policy{breaker} })
	for range 3 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_, err := c.Get(srv.URL)
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("fourth GET: %v; want ErrOpen", err)
	}
	if n := len(srv.received()); n != 3 {
		t.Errorf("server saw %d requests; want 3", n)
	}
}

func TestTransportAttemptTimeoutSparesBody(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // the first attempt never answers
			return
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release: // the body comes after the attempt timeout
		case <-r.Context().Done():
		}
		io.WriteString(w, "late body")
	}))
	defer srv.Close()
	defer close(release)
	c := client(t, func(string) []resilience.Policy {
		return []resilience.Policy{
			resilience.NewRetry(resilience.RetrySettings{InitialDelay: time.Millisecond}),
			resilience.NewTimeout(resilience.TimeoutSettings{Duration: 100 * time.Millisecond}),
		}
	})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.AfterFunc(200*time.Millisecond, func() { release <- struct{}{} })
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "late body" {
		t.Fatalf("body %q, %v; want the body read after the attempt timeout", body, err)
	}
	if hits.Load() != 2 {
		t.Errorf("attempts = %d; want 2", hits.Load())
	}
}

func TestTransportBodyNotReplayable(t *testing.T) {
	srv := newServer(t, 503, 200)
	c := client(t, retryOnly(&autoClock{}))
	req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || len(srv.received()) != 1 {
		t.Fatalf("status %d after %d attempts; want 503 after 1", resp.StatusCode, len(srv.received()))
	}
}

func TestTransportCallerCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	c := client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Do = %v after %v; want the caller's deadline, promptly", err, time.Since(start))
	}
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int64
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// A request turned away before any attempt still has its body closed, as
// every RoundTripper must.
func TestTransportClosesBodyWhenTurnedAway(t *testing.T) {
	srv := newServer(t, 200)
	breaker := resilience.NewBreaker(resilience.BreakerSettings{})
	breaker.ForceOpen()
	defer breaker.Reset()
	tr := &httpx.Transport{Base: &http.Transport{}, Policies: func(string) []resilience.Policy { return []resilience.Policy{breaker} }}
	body := &closeCounter{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", srv.URL, body)
	if _, err := tr.RoundTrip(req); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("RoundTrip = %v; want ErrOpen", err)
	}
	if n := body.closed.Load(); n != 1 {
		t.Errorf("body closed %d times; want 1", n)
	}
}

// A 5xx too big to hold for a retry is still a failure for the breaker
// (the base transport here leaves Response.Request unset, as fakes do).
func TestTransportBigErrorBodyCountsAsFailure(t *testing.T) {
	big := strings.Repeat("x", 100)
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Header: http.Header{}, Body: io.NopCloser(strings.NewReader(big))}, nil
	})
	breaker := resilience.NewBreaker(resilience.BreakerSettings{WindowSize: 3, MinimumCalls: 3, OpenDuration: time.Hour})
	defer breaker.Reset()
	pol := func(string) []resilience.Policy { return []resilience.Policy{breaker} }
	tr := &httpx.Transport{Base: base, Policies: pol, MaxErrorBody: 10}
	for range 3 {
		req, _ := http.NewRequest("GET", "http://example.invalid/x", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != big {
			t.Fatalf("body %d bytes; want the whole %d", len(b), len(big))
		}
	}
	if s := breaker.Snapshot(); s.State != resilience.StateOpen {
		t.Errorf("breaker %v after three 503s; want open", s.State)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The body of an error response is read within the attempt, so the
// attempt timeout bounds it: a server that sent 503 and then stalled held
// the request until the client's own timeout (forever without one),
// retried nothing, and the 503 came back with an empty body.
func TestTransportAttemptTimeoutBoundsErrorBody(t *testing.T) {
	var hits atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.(http.Flusher).Flush()
			select { // the body never comes
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(done)
	c := client(t, func(string) []resilience.Policy {
		return []resilience.Policy{
			resilience.NewRetry(resilience.RetrySettings{InitialDelay: time.Millisecond}),
			resilience.NewTimeout(resilience.TimeoutSettings{Duration: 50 * time.Millisecond}),
		}
	})
	c.Timeout = 5 * time.Second
	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET after %v: %v; want the second attempt's answer", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" || hits.Load() != 2 {
		t.Fatalf("after %v: %d %q after %d attempts; want 200 \"ok\" after 2", time.Since(start), resp.StatusCode, body, hits.Load())
	}
}

// A protocol switch (a WebSocket handshake) hands the connection over as
// a response body that is also an io.Writer, as net/http documents: the
// Transport passed it on wrapped in a body that was not, and the upgraded
// connection could not be written to.
func TestTransportSwitchingProtocolsBodyIsWritable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, line)
	}))
	defer srv.Close()
	c := client(t, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("status %d, body %T; want 101 and an io.ReadWriteCloser", resp.StatusCode, resp.Body)
	}
	io.WriteString(rw, "hello\n")
	if got, err := bufio.NewReader(rw).ReadString('\n'); got != "hello\n" {
		t.Fatalf("read back %q, %v; want the echo", got, err)
	}
}

// closeTracker counts the response bodies its base handed out and closed.
type closeTracker struct {
	base           http.RoundTripper
	opened, closed atomic.Int64
}

type trackedBody struct {
	io.ReadCloser
	once sync.Once
	t    *closeTracker
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { b.t.closed.Add(1) })
	return b.ReadCloser.Close()
}

func (c *closeTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.opened.Add(1)
		resp.Body = &trackedBody{ReadCloser: resp.Body, t: c}
	}
	return resp, err
}

// A Fallback that replaces the 503 whose body was too big to hold dropped
// that response unclosed: its connection, and the goroutines reading it,
// stayed until the server hung up.
func TestTransportFallbackClosesStreamedErrorResponse(t *testing.T) {
	big := strings.Repeat("x", 1<<16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, big)
	}))
	defer s.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tracker := &closeTracker{base: base}
	fb := resilience.NewFallback(resilience.FallbackSettings[*http.Response]{
		Func: func(ctx context.Context, err error) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("chaostest-cached"))}, nil
		},
	})
	pol := func(string) []resilience.Policy { return []resilience.Policy{fb} }
	c := &http.Client{Transport: &httpx.Transport{Base: tracker, Policies: pol, MaxErrorBody: 1024}}
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "chaostest-cached" {
		t.Fatalf("body %q; want the fallback's", b)
	}
	if o, c := tracker.opened.Load(), tracker.closed.Load(); o != c {
		t.Errorf("%d responses received, %d closed; the 503 the fallback replaced was left open", o, c)
	}
}

// An error response whose body broke off was handed on with an empty body
// that read to a clean end, as if the server had sent nothing more: the
// caller could not tell a cut-off answer from a complete one. It now
// reads what came, then the error, as from net/http.
func TestTransportErrorBodyCutOffReportsTheError(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "chaostest-partial")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer s.Close()
	c := client(t, retryOnly(&autoClock{}))
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("body %q read to a clean end; want the error that cut it off", b)
	}
	if string(b) != "chaostest-partial" {
		t.Errorf("body %q; want what the server sent before it broke off", b)
	}
}
