// Package httpx adapts package resilience to net/http: a client
// http.RoundTripper that runs every request through a resilience pipeline
// per host, and server middleware for load shedding and idempotency keys.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

// IdempotencyKeyHeader is the request header carrying an idempotency key.
const IdempotencyKeyHeader = "Idempotency-Key"

// Transport is an http.RoundTripper that sends each request through a
// resilience pipeline, one per host, built on first use by Policies.
//
// Only requests that are safe to send twice are retried: idempotent
// methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), or requests carrying an
// Idempotency-Key header, and only if their body can be replayed (GetBody
// is set, as http.NewRequest does for in-memory bodies). Retried are
// network errors and the statuses 429, 502, 503 and 504, honouring
// Retry-After up to the Retry's MaxRetryAfter; never other 4xx. Every 5xx
// and 429 counts as a breaker failure; other statuses as successes.
//
// When retrying ends on an error status, that last response is returned
// as a normal response; breaker and bulkhead rejections and network
// errors are returned as errors. Policy timeouts bound the time to the
// response headers, and the reading of an error response's body (5xx,
// 429), which is part of the attempt; the body of any other response is
// read under the request's own context. Likewise a Bulkhead's slot is
// held until the response headers arrive (or an error response's body is
// read): it bounds the requests waiting on a host, not the bodies still
// being read from it.
type Transport struct {
	// Base sends the requests. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// Policies returns the policies for one host (host:port as in the URL),
	// outermost first, in the order resilience.NewPipeline documents. It
	// is called once per host. Nil means DefaultPolicies.
	Policies func(host string) []resilience.Policy
	// MaxErrorBody is the largest body of a retryable error response that
	// is kept in memory so the response can be retried or returned later;
	// a larger one is returned at once, without retrying. Zero means 1 MiB.
	MaxErrorBody int64

	mu        sync.Mutex
	pipelines sync.Map // host -> *resilience.Pipeline[*http.Response]
}

// DefaultPolicies returns a Transport's policies when none are set: three
// attempts within a retry budget, a breaker named after the host with
// default settings, and a 10s attempt timeout.
func DefaultPolicies(host string) []resilience.Policy {
	return []resilience.Policy{
		resilience.NewRetry(resilience.RetrySettings{Name: host}),
		resilience.NewBreaker(resilience.BreakerSettings{Name: host}),
		resilience.NewTimeout(resilience.TimeoutSettings{Name: host, Duration: 10 * time.Second}),
	}
}

func (t *Transport) pipeline(host string) *resilience.Pipeline[*http.Response] {
	if p, ok := t.pipelines.Load(host); ok {
		return p.(*resilience.Pipeline[*http.Response])
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pipelines.Load(host); ok {
		return p.(*resilience.Pipeline[*http.Response])
	}
	policies := t.Policies
	if policies == nil {
		policies = DefaultPolicies
	}
	p := resilience.NewPipeline[*http.Response](policies(host)...)
	t.pipelines.Store(host, p)
	return p
}

// StatusError is the error a Transport's pipeline sees for a 5xx or 429
// response; it carries the response, whose body is held in memory.
type StatusError struct {
	Response   *http.Response
	method     string
	url        string
	retryAfter time.Duration
}

// Error names the request and the status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.method, e.url, e.Response.Status)
}

// RetryAfter returns the delay the server asked for, or 0; resilience.Retry
// honours it.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	limit := t.MaxErrorBody
	if limit <= 0 {
		limit = 1 << 20
	}
	a := &attempts{base: base, req: req, limit: limit, replayable: replayable(req)}
	resp, err := t.pipeline(req.URL.Host).Do(req.Context(), a.send)
	if a.n == 0 && req.Body != nil && req.Body != http.NoBody {
		// Turned away before any attempt (an open breaker, a full
		// bulkhead): a RoundTripper closes the body whatever happens.
		req.Body.Close()
	}
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			resp, err = se.Response, nil
		}
	}
	if a.streamed != nil && a.streamed != resp {
		// A fallback replaced the streamed error response: nobody else
		// will close it.
		a.streamed.Body.Close()
	}
	return resp, err
}

func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get(IdempotencyKeyHeader) != ""
}

// attempts sends the attempts of one request.
type attempts struct {
	base       http.RoundTripper
	req        *http.Request
	limit      int64
	replayable bool
	n          int
	// streamed is the error response too big to hold, whose body still
	// holds its connection: closed unless it is the one returned.
	streamed *http.Response
}

func (a *attempts) send(ctx context.Context) (*http.Response, error) {
	a.n++
	if a.n > 1 && !a.replayable {
		return nil, resilience.Permanent(fmt.Errorf("%s %s: request cannot be sent again", a.req.Method, a.req.URL.Redacted()))
	}
	req := a.req
	// A policy deadline (ctx) must stop the request until the headers
	// arrive, but not the body read that follows, which the request's own
	// context governs.
	rctx, cancel := req.Context(), context.CancelFunc(func() {})
	stop := func() bool { return true }
	if ctx != req.Context() {
		rctx, cancel = context.WithCancel(req.Context())
		stop = context.AfterFunc(ctx, cancel)
	}
	if rctx != req.Context() || a.n > 1 {
		req = req.WithContext(rctx)
		if a.n > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				cancel()
				return nil, resilience.Permanent(fmt.Errorf("%s %s: replay body: %w", req.Method, req.URL.Redacted(), err))
			}
			req.Body = body
		}
	}
	resp, err := a.base.RoundTrip(req)
	var se *StatusError
	held := false
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		// An error response's body is read within the attempt, under the
		// policy deadline: a server that sends the status and then stalls
		// must not hold the attempt, its bulkhead slot and the retries
		// after it past that deadline.
		se, held = a.hold(resp, cancel)
	}
	if !stop() && err == nil {
		// The policy deadline fired as the headers arrived, or while the
		// error response's body was read.
		resp.Body.Close()
		resp, err = nil, ctx.Err()
	}
	if err != nil {
		cancel()
		if !a.replayable {
			err = resilience.Permanent(err)
		}
		return nil, err
	}
	if se != nil && !held {
		a.streamed = resp
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if !held {
			// Too big to hold for a retry: passed on as it streams, but
			// still a failure for the breaker.
			return nil, resilience.Permanent(se)
		}
		if !a.replayable {
			return nil, resilience.Permanent(se)
		}
		return nil, se
	}
	if se != nil {
		return nil, resilience.Permanent(se)
	}
	if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// A protocol switch (a WebSocket): net/http hands over the
		// connection as a body the caller also writes to, and finds it
		// writable by a type assertion.
		resp.Body = &cancelConn{ReadWriteCloser: rw, cancel: cancel}
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// hold reads an error response's body into memory, so that the response
// can be dropped for a retry or returned after the attempt's context is
// gone. A body over the limit is left to stream and ok is false.
func (a *attempts) hold(resp *http.Response, cancel context.CancelFunc) (*StatusError, bool) {
	se := &StatusError{Response: resp, method: a.req.Method, url: a.req.URL.Redacted(), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	body, err := io.ReadAll(io.LimitReader(resp.Body, a.limit+1))
	if int64(len(body)) > a.limit {
		resp.Body = &cancelBody{ReadCloser: struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}, cancel: cancel}
		return se, false
	}
	resp.Body.Close()
	cancel()
	var r io.Reader = bytes.NewReader(body)
	if err != nil {
		// Cut off: what came, then the error, as net/http would give it,
		// not a body that ends cleanly as if it were whole.
		r = io.MultiReader(r, errReader{err})
	}
	resp.Body = io.NopCloser(r)
	return se, true
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		// A delay too long to represent is as good as forever.
		return time.Duration(min(s, int64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// cancelBody releases the request's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// cancelConn is a cancelBody that can be written to: the connection of a
// 101 Switching Protocols response.
type cancelConn struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (c *cancelConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.cancel()
	return err
}
