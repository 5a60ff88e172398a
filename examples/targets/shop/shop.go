package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gamedayhq/chaos/resilience"
	"github.com/gamedayhq/chaos/resilience/httpx"
)

// shop is the order service. In resilient mode a payment failure leaves the
// order pending and the outbox job charges it later; in naive mode the
// request waits on payment for as long as payment takes.
type shop struct {
	naive bool
	st    *store
	pay   *payer
	pool  *pool
	// grace is how long an order's own payment call has before the outbox
	// job may charge it instead.
	grace time.Duration
	// paymentURL is payment's address for the audit, which lists charges.
	paymentURL string
}

// pool is a fixed number of workers, as in a thread-per-request server: a
// request waits for a free worker (in arrival order) and holds it until it
// is answered.
type pool struct {
	slots   chan struct{}
	waiting atomic.Int64
}

func newPool(n int) *pool { return &pool{slots: make(chan struct{}, n)} }

// maxBody is the most of a request body the shop reads.
const maxBody = 4096

func (p *pool) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read before a worker is taken, as a proxy in front
		// of such a server buffers it: a client slow to send its order
		// would otherwise hold a worker for as long as it likes, and a
		// few of them every worker the carts need.
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		p.waiting.Add(1)
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-r.Context().Done():
			p.waiting.Add(-1)
			http.Error(w, "no worker became free before the client gave up", http.StatusServiceUnavailable)
			return
		}
		defer func() { <-p.slots }()
		h.ServeHTTP(w, r)
	})
}

func (s *shop) handler() http.Handler {
	work := http.NewServeMux()
	work.HandleFunc("GET /cart/{id}", s.getCart)
	work.HandleFunc("POST /orders", s.placeOrder)
	work.HandleFunc("GET /orders/{id}", s.getOrder)
	work.HandleFunc("GET /orders", s.listOrders)
	work.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux := http.NewServeMux()
	mux.Handle("/", s.pool.wrap(work))
	// Operators' endpoints bypass the workers, as an admin port would.
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /audit", s.audit)
	return mux
}

func (s *shop) getCart(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		http.Error(w, "cart id must be a positive number", http.StatusBadRequest)
		return
	}
	items, err := s.st.cart(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	var total int64
	for _, it := range items {
		total += int64(it.Qty) * it.Price
	}
	writeJSON(w, http.StatusOK, map[string]any{"cart": id, "items": items, "total": total})
}

// orderRequest is the body of POST /orders.
type orderRequest struct {
	Item   string `json:"item"`
	Amount int64  `json:"amount"`
}

func (s *shop) placeOrder(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(httpx.IdempotencyKeyHeader)
	if key == "" {
		http.Error(w, "the Idempotency-Key header is required", http.StatusBadRequest)
		return
	}
	var req orderRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || req.Item == "" {
		http.Error(w, `want a JSON body {"item": "...", "amount": cents}`, http.StatusBadRequest)
		return
	}
	if req.Amount <= 0 {
		req.Amount = 1999
	}
	if s.naive {
		s.placeOrderNaive(w, key, req)
		return
	}
	// The order and its outbox record are saved first, in one
	// transaction: whatever happens next, the order is not lost and will
	// be charged once, under its idempotency key.
	ctx := r.Context()
	o, created, err := s.st.create(ctx, key, req.Item, req.Amount, s.grace)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if !created {
		if o.Item != req.Item || o.Amount != req.Amount {
			// Another order under a key already used: answered with the
			// first, the client would take for placed an order the shop
			// never saved nor charged.
			http.Error(w, "Idempotency-Key reused with a different order", http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set(httpx.ReplayedHeader, "true")
		writeOrder(w, o)
		return
	}
	out, err := s.pay.pay(ctx, o)
	// The database writes must happen even if the client has gone.
	dbctx := context.WithoutCancel(ctx)
	var declined *declinedError
	switch {
	case errors.As(err, &declined):
		// Final: the client is told, and the order is not charged later.
		if err := s.st.markDeclined(dbctx, o.ID); err != nil {
			// Still on the outbox, which will ask payment again.
			o.Status = StatusPending
			break
		}
		log.Printf("shop: order %s declined: %v", o.ID, err)
		o.Status = StatusDeclined
	case err != nil || out.Pending:
		cause := out.Cause
		if err != nil {
			cause = err.Error()
		}
		if err := s.st.markPending(dbctx, o.ID, time.Now().Add(backoff(0)), cause); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		o.Status = StatusPending
	default:
		if err := s.st.markPaid(dbctx, o.ID, out.Charge); err != nil {
			// Charged but not recorded: the outbox job will get the same
			// charge back from payment and record it.
			o.Status = StatusPending
		} else {
			o.Status, o.Charge = StatusPaid, out.Charge
		}
	}
	writeOrder(w, o)
}

// placeOrderNaive holds its worker and a database connection while payment
// takes its time, with no timeout, and fails the order if payment fails.
func (s *shop) placeOrderNaive(w http.ResponseWriter, key string, req orderRequest) {
	ctx := context.Background() // like a plain http.Post: blind to the client leaving
	conn, err := s.st.db.Conn(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer conn.Close()
	id := newID()
	charge, err := s.pay.charge(ctx, Order{ID: id, Key: key, Amount: req.Amount})
	if err != nil {
		http.Error(w, "payment failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	o, err := s.st.createPaid(ctx, conn, id, key, req.Item, req.Amount, charge)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeOrder(w, o)
}

// writeOrder answers 201 for a paid order, 402 for a declined one and 202
// for one whose payment is still to come.
func writeOrder(w http.ResponseWriter, o Order) {
	switch o.Status {
	case StatusPaid:
		writeJSON(w, http.StatusCreated, o)
		return
	case StatusDeclined:
		writeJSON(w, http.StatusPaymentRequired, map[string]any{"order": o, "message": "payment declined"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"order": o, "message": "order saved, payment pending"})
}

func (s *shop) getOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.st.byID(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, errNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

func (s *shop) listOrders(w http.ResponseWriter, r *http.Request) {
	list, err := s.st.orders(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": list, "count": len(list)})
}

// backoff is the wait before the outbox job's next try after n failed
// ones: exponential from 200 ms, capped at 2 s, with full jitter.
func backoff(n int) time.Duration {
	d := min(200*time.Millisecond<<min(n, 4), 2*time.Second)
	return time.Duration(rand.Int64N(int64(d))) + 10*time.Millisecond
}

// retryPending charges the due orders of the outbox, one at a time, each
// under its own idempotency key: if an earlier try did charge, payment
// answers with that charge again. It stops early when the breaker or the
// bulkhead refuses, and returns the number of orders it settled.
func (s *shop) retryPending(ctx context.Context, timeout time.Duration) (int, error) {
	orders, attempts, err := s.st.due(ctx, 64)
	if err != nil {
		return 0, err
	}
	settled := 0
	for i, o := range orders {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		charge, err := s.pay.charge(cctx, o)
		cancel()
		var declined *declinedError
		switch {
		case ctx.Err() != nil:
			return settled, ctx.Err()
		case errors.Is(err, resilience.ErrOpen), errors.Is(err, resilience.ErrBulkheadFull):
			return settled, nil // payment is being spared: next round
		case errors.As(err, &declined):
			log.Printf("shop: outbox: order %s declined: %v", o.ID, err)
			if err := s.st.markDeclined(ctx, o.ID); err != nil {
				return settled, err
			}
		case err != nil:
			if attempts[i] > 0 && attempts[i]%10 == 0 {
				log.Printf("shop: outbox: order %s still unpaid after %d tries: %v", o.ID, attempts[i], err)
			}
			if err := s.st.markPending(ctx, o.ID, time.Now().Add(backoff(attempts[i]+1)), err.Error()); err != nil {
				return settled, err
			}
		default:
			if err := s.st.markPaid(ctx, o.ID, charge); err != nil {
				return settled, err
			}
			settled++
		}
	}
	return settled, nil
}

// runOutbox calls retryPending every interval until ctx ends.
func (s *shop) runOutbox(ctx context.Context, every, timeout time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.retryPending(ctx, timeout)
		if err != nil && ctx.Err() == nil {
			log.Printf("shop: outbox: %v", err)
		}
		if n > 0 {
			log.Printf("shop: outbox: %d pending orders charged", n)
		}
	}
}

func (s *shop) metrics(w http.ResponseWriter, r *http.Request) {
	counts, outbox, err := s.st.counts(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	dbs := s.st.db.Stats()
	m := map[string]any{
		"mode":     map[bool]string{true: "naive", false: "resilient"}[s.naive],
		"workers":  map[string]any{"size": cap(s.pool.slots), "busy": len(s.pool.slots), "waiting": s.pool.waiting.Load()},
		"db":       map[string]any{"max": dbs.MaxOpenConnections, "open": dbs.OpenConnections, "in_use": dbs.InUse, "waits": dbs.WaitCount, "wait_time": dbs.WaitDuration.String()},
		"orders":   counts,
		"outbox":   outbox,
		"breaker":  "none",
		"bulkhead": nil,
	}
	if s.pay.breaker != nil {
		b := s.pay.breaker.Snapshot()
		bh := s.pay.bulkhead.Snapshot()
		rs := s.pay.retry.Snapshot()
		m["breaker"] = b.State.String()
		m["breaker_calls"] = map[string]any{"calls": b.Calls, "failures": b.Failures, "generation": b.Generation}
		m["bulkhead"] = map[string]any{"in_flight": bh.InFlight, "waiting": bh.Waiting, "max": bh.Max}
		m["retries"] = map[string]any{"retries": rs.Retries, "gave_up": rs.Stops, "budget": rs.Budget}
	}
	writeJSON(w, http.StatusOK, m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("shop: write response: %v", err)
	}
}

// fetchJSON GETs url into v.
func fetchJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
