package httpx_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/resilience"
	"github.com/gamedayhq/chaos/resilience/httpx"
)

// A payment client: retries within a budget, a breaker and a bulkhead per
// host, and a timeout on each attempt. POSTs are retried because they carry
// an Idempotency-Key.
func ExampleTransport() {
	var calls int
	payment := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"status":"paid"}`)
	}))
	defer payment.Close()

	client := &http.Client{Transport: &httpx.Transport{
		Policies: func(host string) []resilience.Policy {
			return []resilience.Policy{
				resilience.NewRetry(resilience.RetrySettings{Name: host, MaxAttempts: 3, InitialDelay: 10 * time.Millisecond}),
				resilience.NewBreaker(resilience.BreakerSettings{Name: host}),
				resilience.NewBulkhead(resilience.BulkheadSettings{Name: host, MaxConcurrent: 20}),
				resilience.NewTimeout(resilience.TimeoutSettings{Name: host, Duration: 2 * time.Second}),
			}
		},
	}}
	req, _ := http.NewRequest(http.MethodPost, payment.URL+"/charges", strings.NewReader(`{"amount":1000}`))
	req.Header.Set(httpx.IdempotencyKeyHeader, "order-42")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err) // resilience.ErrOpen, ErrBulkheadFull, a network error...
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", calls, "attempts")
	// Output: 201 {"status":"paid"} after 2 attempts
}

// A payment server that charges once per Idempotency-Key and sheds load
// beyond 50 concurrent requests.
func ExampleIdempotency() {
	charges := 0
	charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		charges++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charge %d", charges)
	})
	store := httpx.NewMemoryStore(24*time.Hour, nil)
	shed := httpx.Shed(resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 50}), time.Second)
	h := shed(httpx.Idempotency(store, httpx.IdempotencyOptions{Required: true})(charge))

	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(`{"amount":1000}`))
		req.Header.Set(httpx.IdempotencyKeyHeader, "order-42")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body, "replayed:", rec.Header().Get(httpx.ReplayedHeader) == "true")
	}
	// Output:
	// 201 charge 1 replayed: false
	// 201 charge 1 replayed: true
}

// Load shedding: at most 2 requests are handled at once and the rest are
// told at once to come back in a second.
func ExampleShed() {
	entered, busy := make(chan struct{}), make(chan struct{})
	h := httpx.Shed(resilience.NewBulkhead(resilience.BulkheadSettings{MaxConcurrent: 2}), time.Second)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-busy
		}))
	serve := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec
	}
	for range 2 {
		go serve()
		<-entered
	}
	rec := serve()
	close(busy)
	fmt.Println(rec.Code, rec.Header().Get("Retry-After"))
	// Output: 503 1
}
