package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/resilience"
	"github.com/gamedayhq/chaos/resilience/httpx"
)

// payer charges orders at the payment service.
type payer struct {
	url    string
	client *http.Client

	// The resilient client's shared policies, for /metrics; nil when naive.
	breaker  *resilience.Breaker
	bulkhead *resilience.Bulkhead
	retry    *resilience.Retry
	// pipeline adds the fallback and the total timeout around a call.
	pipeline *resilience.Pipeline[payOutcome]
}

// payOutcome is the result of a payment call once the fallback has had its
// say: a charge, or an order left pending.
type payOutcome struct {
	Charge  int64
	Pending bool
	Cause   string
}

// policySettings tunes the resilient payment client.
type policySettings struct {
	AttemptTimeout time.Duration // one attempt, to the response headers
	TotalTimeout   time.Duration // all attempts and the waits between them
	Attempts       int
	Concurrency    int // the bulkhead: payment calls at once
	OpenFor        time.Duration
}

// errInFlight: payment is still handling the first request with this key.
var errInFlight = errors.New("payment is still handling this idempotency key")

// declinedError is a 4xx answer: retrying will not help.
type declinedError struct {
	status int
	body   string
}

func (e *declinedError) Error() string {
	return fmt.Sprintf("payment declined the charge: %d %s", e.status, e.body)
}

// newNaivePayer calls payment the way the naive shop does: the default
// client, no timeout, no retry, no breaker, no bulkhead.
func newNaivePayer(url string) *payer {
	return &payer{url: strings.TrimRight(url, "/"), client: &http.Client{}}
}

// newResilientPayer calls payment through a retry with jittered backoff and
// a budget, a breaker, a bulkhead and a per-attempt timeout (the httpx
// transport), and puts a total timeout and a fallback around each call.
func newResilientPayer(url string, s policySettings) *payer {
	logEvent := func(ev resilience.Event) {
		switch ev.Kind {
		case resilience.EventStateChange:
			log.Printf("shop: payment breaker %s -> %s", ev.From, ev.To)
		case resilience.EventBudgetExhausted:
			log.Printf("shop: payment retry budget exhausted")
		}
	}
	p := &payer{
		url: strings.TrimRight(url, "/"),
		breaker: resilience.NewBreaker(resilience.BreakerSettings{
			Name: "payment", WindowSize: 20, MinimumCalls: 6, FailureRate: 0.5,
			ConsecutiveFailures: 5, OpenDuration: s.OpenFor, OpenJitter: 0.2, HalfOpenProbes: 2,
			MaxHalfOpenWait: 2 * s.AttemptTimeout, OnEvent: logEvent,
		}),
		bulkhead: resilience.NewBulkhead(resilience.BulkheadSettings{Name: "payment", MaxConcurrent: s.Concurrency, MaxWait: 20 * time.Millisecond}),
		retry: resilience.NewRetry(resilience.RetrySettings{
			Name: "payment", MaxAttempts: s.Attempts, InitialDelay: 50 * time.Millisecond, MaxDelay: 400 * time.Millisecond,
			Budget: resilience.NewBudget(resilience.BudgetSettings{Ratio: 0.2, MinPerSecond: 5}), OnEvent: logEvent,
		}),
	}
	attempt := resilience.NewTimeout(resilience.TimeoutSettings{Name: "payment attempt", Duration: s.AttemptTimeout})
	p.client = &http.Client{Transport: &httpx.Transport{
		Policies: func(string) []resilience.Policy {
			return []resilience.Policy{p.retry, p.breaker, p.bulkhead, attempt}
		},
	}}
	p.pipeline = resilience.NewPipeline[payOutcome](
		resilience.NewFallback(resilience.FallbackSettings[payOutcome]{
			Name: "payment pending",
			When: func(err error) bool { var d *declinedError; return !errors.As(err, &d) },
			Func: func(_ context.Context, err error) (payOutcome, error) {
				return payOutcome{Pending: true, Cause: err.Error()}, nil
			},
		}),
		resilience.NewTimeout(resilience.TimeoutSettings{Name: "payment total", Duration: s.TotalTimeout}),
	)
	return p
}

// pay charges o through the pipeline: a failure that retrying later may
// cure comes back as a pending outcome, not as an error.
func (p *payer) pay(ctx context.Context, o Order) (payOutcome, error) {
	return p.pipeline.Do(ctx, func(ctx context.Context) (payOutcome, error) {
		id, err := p.charge(ctx, o)
		return payOutcome{Charge: id}, err
	})
}

// charge asks payment to charge o once, under o's idempotency key, and
// returns the charge's id. The same key always gets the same charge.
func (p *payer) charge(ctx context.Context, o Order) (int64, error) {
	body := fmt.Sprintf(`{"order":%q,"amount":%d}`, o.ID, o.Amount)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/charges", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpx.IdempotencyKeyHeader, o.Key)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("charge order %s: %w", o.ID, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		var c struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(b, &c); err != nil || c.ID == 0 {
			return 0, fmt.Errorf("charge order %s: unreadable answer %q", o.ID, b)
		}
		return c.ID, nil
	case resp.StatusCode == http.StatusConflict:
		return 0, fmt.Errorf("charge order %s: %w", o.ID, errInFlight)
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return 0, resilience.Permanent(&declinedError{status: resp.StatusCode, body: strings.TrimSpace(string(b))})
	default:
		return 0, fmt.Errorf("charge order %s: payment answered %d", o.ID, resp.StatusCode)
	}
}
