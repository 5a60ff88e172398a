package httpx_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/resilience"
	"github.com/gamedayhq/chaos/resilience/httpx"
)

func TestShed(t *testing.T) {
	inside := make(chan struct{})
	release := make(chan struct{})
	h := httpx.Shed(resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 1}), 1500*time.Millisecond)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inside <- struct{}{}
			<-release
		}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-inside
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("second request: %d, Retry-After %q; want 503 and 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(release)
	<-done
	go func() { <-inside }()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("after release: %d; want 200", rec.Code)
	}
}

// payment is a handler charging once per call; gate, when set, holds it.
type payment struct {
	charges atomic.Int64
	status  int
	gate    chan struct{}
	entered chan struct{}
}

func (p *payment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.gate != nil {
		<-p.gate
	}
	n := p.charges.Add(1)
	w.Header().Set("X-Charge", "ch_"+string(rune('0'+n)))
	w.WriteHeader(p.status)
	body, _ := io.ReadAll(r.Body)
	io.WriteString(w, "charged "+string(body))
}

func send(h http.Handler, method, path, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set(httpx.IdempotencyKeyHeader, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestIdempotency(t *testing.T) {
	type step struct {
		method, path, key, body string
		status                  int
		replayed                bool
	}
	tests := []struct {
		name    string
		status  int
		steps   []step
		charges int64
	}{
		{"replay", 201, []step{
			{"POST", "/charges", "k", "10", 201, false},
			{"POST", "/charges", "k", "10", 201, true},
			{"POST", "/charges", "k", "10", 201, true},
		}, 1},
		{"5xx stored too", 500, []step{
			{"POST", "/charges", "k", "10", 500, false},
			{"POST", "/charges", "k", "10", 500, true},
		}, 1},
		{"503 not stored: try again later", 503, []step{
			{"POST", "/charges", "k", "10", 503, false},
			{"POST", "/charges", "k", "10", 503, false},
		}, 2},
		{"429 not stored", 429, []step{
			{"POST", "/charges", "k", "10", 429, false},
			{"POST", "/charges", "k", "10", 429, false},
		}, 2},
		{"different body", 201, []step{
			{"POST", "/charges", "k", "10", 201, false},
			{"POST", "/charges", "k", "99", 422, false},
		}, 1},
		{"different path", 201, []step{
			{"POST", "/charges", "k", "10", 201, false},
			{"POST", "/refunds", "k", "10", 422, false},
		}, 1},
		{"different method", 201, []step{
			{"POST", "/charges", "k", "10", 201, false},
			{"PUT", "/charges", "k", "10", 422, false},
		}, 1},
		{"other keys independent", 201, []step{
			{"POST", "/charges", "a", "10", 201, false},
			{"POST", "/charges", "b", "10", 201, false},
		}, 2},
		{"no key passes through", 201, []step{
			{"POST", "/charges", "", "10", 201, false},
			{"POST", "/charges", "", "10", 201, false},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pay := &payment{status: tt.status}
			h := httpx.Idempotency(httpx.NewMemoryStore(time.Hour, nil), httpx.IdempotencyOptions{})(pay)
			var first *httptest.ResponseRecorder
			for i, s := range tt.steps {
				rec := send(h, s.method, s.path, s.key, s.body)
				if rec.Code != s.status || (rec.Header().Get(httpx.ReplayedHeader) == "true") != s.replayed {
					t.Fatalf("step %d: %d replayed=%q; want %d replayed=%v", i, rec.Code, rec.Header().Get(httpx.ReplayedHeader), s.status, s.replayed)
				}
				if i == 0 {
					first = rec
				}
				if s.replayed && (rec.Body.String() != first.Body.String() || rec.Header().Get("X-Charge") != first.Header().Get("X-Charge")) {
					t.Fatalf("step %d replayed %q %q; want %q %q", i, rec.Body, rec.Header().Get("X-Charge"), first.Body, first.Header().Get("X-Charge"))
				}
			}
			if got := pay.charges.Load(); got != tt.charges {
				t.Errorf("charges = %d; want %d", got, tt.charges)
			}
		})
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	pay := &payment{status: 201, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	h := httpx.Idempotency(httpx.NewMemoryStore(time.Hour, nil), httpx.IdempotencyOptions{})(pay)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- send(h, "POST", "/charges", "k", "10") }()
	<-pay.entered
	if rec := send(h, "POST", "/charges", "k", "10"); rec.Code != http.StatusConflict {
		t.Fatalf("while in flight: %d; want 409", rec.Code)
	}
	if rec := send(h, "POST", "/charges", "k", "11"); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("different body while in flight: %d; want 422", rec.Code)
	}
	close(pay.gate)
	if rec := <-done; rec.Code != 201 {
		t.Fatalf("first: %d; want 201", rec.Code)
	}
	if rec := send(h, "POST", "/charges", "k", "10"); rec.Code != 201 || pay.charges.Load() != 1 {
		t.Fatalf("after: %d with %d charges; want a 201 replay and 1 charge", rec.Code, pay.charges.Load())
	}
}

func TestIdempotencyExpiryAndPanic(t *testing.T) {
	clock := &autoClock{now: time.Unix(1_700_000_000, 0)}
	store := httpx.NewMemoryStore(time.Hour, clock)
	pay := &payment{status: 201}
	h := httpx.Idempotency(store, httpx.IdempotencyOptions{})(pay)
	send(h, "POST", "/charges", "k", "10")
	clock.Advance(time.Hour)
	if rec := send(h, "POST", "/charges", "k", "10"); rec.Header().Get(httpx.ReplayedHeader) != "" || pay.charges.Load() != 2 {
		t.Fatalf("after the TTL: replayed %q, %d charges; want a fresh run", rec.Header().Get(httpx.ReplayedHeader), pay.charges.Load())
	}
	if store.Len() != 1 {
		t.Errorf("store holds %d records; want the expired one swept", store.Len())
	}

	panicking := httpx.Idempotency(store, httpx.IdempotencyOptions{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() { _ = recover() }()
		send(panicking, "POST", "/charges", "p", "10")
	}()
	if rec := send(h, "POST", "/charges", "p", "10"); rec.Code != 201 {
		t.Fatalf("after a panic: %d; want the key free again", rec.Code)
	}
}

func TestIdempotencyRequiredAndLimits(t *testing.T) {
	h := httpx.Idempotency(httpx.NewMemoryStore(0, nil), httpx.IdempotencyOptions{Required: true, MaxBody: 4})(&payment{status: 201})
	if rec := send(h, "POST", "/charges", "", "1"); rec.Code != http.StatusBadRequest {
		t.Errorf("POST without key: %d; want 400", rec.Code)
	}
	if rec := send(h, "GET", "/charges", "", ""); rec.Code != 201 {
		t.Errorf("GET without key: %d; want it to pass", rec.Code)
	}
	if rec := send(h, "POST", "/charges", "k", "12345"); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d; want 413", rec.Code)
	}
}

// TestClientServer puts the two halves together over a real socket: a
// client retrying a POST with an Idempotency-Key through a server whose
// first answer is lost behind a 503 from a proxy-like flake.
func TestClientServer(t *testing.T) {
	pay := &payment{status: 201}
	store := httpx.NewMemoryStore(time.Hour, nil)
	var calls atomic.Int64
	inner := httpx.Idempotency(store, httpx.IdempotencyOptions{})(pay)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway) // the charge happened, the answer was lost
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	c := client(t, retryOnly(&autoClock{}))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/charges", strings.NewReader("10"))
	req.Header.Set(httpx.IdempotencyKeyHeader, "order-42")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get(httpx.ReplayedHeader) != "true" || pay.charges.Load() != 1 {
		t.Fatalf("status %d replayed %q charges %d; want 201, replayed, charged once", resp.StatusCode, resp.Header.Get(httpx.ReplayedHeader), pay.charges.Load())
	}
}

// An informational response (103 Early Hints) is passed on and not taken
// for the outcome: the final status is what a retry with the key replays.
func TestIdempotencyInformationalResponse(t *testing.T) {
	var charges atomic.Int64
	h := httpx.Idempotency(httpx.NewMemoryStore(time.Hour, nil), httpx.IdempotencyOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</receipt.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			charges.Add(1)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "charged")
		}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i, replayed := range []string{"", "true"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/charges", strings.NewReader("10"))
		req.Header.Set(httpx.IdempotencyKeyHeader, "k")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || string(body) != "charged" || resp.Header.Get(httpx.ReplayedHeader) != replayed {
			t.Fatalf("request %d: %d %q replayed=%q; want 201 \"charged\" replayed=%q", i, resp.StatusCode, body, resp.Header.Get(httpx.ReplayedHeader), replayed)
		}
	}
	if n := charges.Load(); n != 1 {
		t.Errorf("charges = %d; want 1", n)
	}
}

// A handler that gives up on a client that went away and writes nothing
// made no outcome: the middleware must not store the empty 200 net/http
// would send for it, or the client's retry with the key is told the
// charge succeeded when it never ran.
func TestIdempotencyHandlerThatGaveUpIsNotReplayed(t *testing.T) {
	pay := &payment{status: http.StatusCreated}
	h := httpx.Idempotency(httpx.NewMemoryStore(0, nil), httpx.IdempotencyOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Context().Err() != nil {
				return // the client is gone: charge nothing
			}
			pay.ServeHTTP(w, r)
		}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the first attempt's client timed out
	req := httptest.NewRequestWithContext(ctx, "POST", "/charges", strings.NewReader("10"))
	req.Header.Set(httpx.IdempotencyKeyHeader, "k")
	h.ServeHTTP(httptest.NewRecorder(), req)

	rec := send(h, "POST", "/charges", "k", "10") // the retry
	if rec.Code != http.StatusCreated || pay.charges.Load() != 1 || rec.Header().Get(httpx.ReplayedHeader) != "" {
		t.Errorf("retry got %d %q (replayed %q), %d charges; want the handler run: 201, one charge",
			rec.Code, rec.Body.String(), rec.Header().Get(httpx.ReplayedHeader), pay.charges.Load())
	}
}

// A handler that panicked after it had sent its status let the next
// request with the key run it again: the client had been told 201, its
// retry charged a second time and could be told something else. Once a
// status has gone out, what went out is the outcome, and is replayed; a
// panic before any status still frees the key.
func TestIdempotencyPanicAfterStatusIsReplayed(t *testing.T) {
	var charges atomic.Int64
	h := httpx.Idempotency(httpx.NewMemoryStore(0, nil), httpx.IdempotencyOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if charges.Add(1) > 1 {
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "chaostest-charged")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	c := &http.Client{Transport: base}
	post := func() (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/charges", strings.NewReader("10"))
		req.Header.Set(httpx.IdempotencyKeyHeader, "chaostest-key")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(); code != http.StatusCreated {
		t.Fatalf("first request: %d; want 201", code)
	}
	if code, body := post(); code != http.StatusCreated || body != "chaostest-charged" || charges.Load() != 1 {
		t.Fatalf("retry after the panic: %d %q, %d charges; want the 201 replayed and one charge", code, body, charges.Load())
	}
}
