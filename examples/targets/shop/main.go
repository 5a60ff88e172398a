// Command shop is the demo shop: carts, orders, and a payment service it
// depends on for orders only.
//
//	GET  /cart/{id}          a cart (no payment involved)
//	POST /orders             {"item": "book"}, header Idempotency-Key: 201 paid, 202 payment pending, 402 declined, 422 key used for another order
//	GET  /orders/{id}        one order
//	GET  /orders?status=...  the orders, of one status (new, payment_pending, paid, payment_declined)
//	GET  /health
//	GET  /metrics            workers, database pool, breaker, bulkhead, orders per status
//	GET  /audit              orders against payment's charges: exactly once?
//
// It serves requests from a fixed pool of workers, as a thread-per-request
// server does, and keeps orders in SQLite.
//
// With -mode=resilient (the default) the payment call has a timeout per
// attempt, retries with jittered backoff within a budget, a circuit breaker
// and a bulkhead; an order whose payment fails is saved as payment_pending
// with an outbox record, answered 202, and charged later by a background
// job under the same idempotency key.
//
// With -mode=naive (or -naive) the shop calls payment with no timeout, no
// retry, no breaker, no bulkhead and no fallback, and holds its worker and a
// database connection while it waits: a slow payment service takes the
// whole shop down, carts included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is the shop's command line.
type config struct {
	listen, paymentURL, dbPath, mode string
	workers, dbConns                 int
	policy                           policySettings
	grace, retryEvery                time.Duration
}

func main() {
	var c config
	naive := flag.Bool("naive", false, "same as -mode=naive")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&c.paymentURL, "payment", "http://127.0.0.1:9090", "payment service base URL")
	flag.StringVar(&c.dbPath, "db", "", "SQLite file for the orders (default: shop-ADDRESS.db in the temporary directory, kept across restarts)")
	flag.StringVar(&c.mode, "mode", "resilient", "resilient or naive")
	flag.IntVar(&c.workers, "workers", 16, "requests served at once; the others wait for a worker")
	flag.IntVar(&c.dbConns, "db-conns", 8, "database connections in the pool")
	flag.DurationVar(&c.policy.AttemptTimeout, "attempt-timeout", 300*time.Millisecond, "resilient: timeout of one payment attempt")
	flag.DurationVar(&c.policy.TotalTimeout, "total-timeout", time.Second, "resilient: timeout of a payment call, retries included")
	flag.IntVar(&c.policy.Attempts, "attempts", 3, "resilient: payment attempts per call, the first included")
	flag.IntVar(&c.policy.Concurrency, "payment-concurrency", 4, "resilient: payment calls at once (the bulkhead)")
	flag.DurationVar(&c.policy.OpenFor, "breaker-open", 2*time.Second, "resilient: how long the breaker stays open before probing")
	flag.DurationVar(&c.grace, "grace", 5*time.Second, "resilient: how long an order's own payment call has before the outbox job takes over")
	flag.DurationVar(&c.retryEvery, "retry-every", 500*time.Millisecond, "resilient: how often the outbox job looks for pending payments")
	flag.Parse()
	if *naive {
		c.mode = "naive"
	}
	if c.mode != "resilient" && c.mode != "naive" {
		fmt.Fprintf(os.Stderr, "shop: -mode must be resilient or naive, not %q\n", c.mode)
		os.Exit(2)
	}
	if c.grace <= c.policy.TotalTimeout {
		fmt.Fprintf(os.Stderr, "shop: -grace (%s) must be longer than -total-timeout (%s)\n", c.grace, c.policy.TotalTimeout)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatalf("shop: %v", err)
	}
}

func run(ctx context.Context, c config) error {
	if c.dbPath == "" {
		// Named after the address, not made afresh and removed at exit:
		// a shop restarted on the same address must find the orders it
		// accepted with payment pending, or they are never charged.
		c.dbPath = filepath.Join(os.TempDir(), "shop-"+strings.Trim(strings.ReplaceAll(c.listen, ":", "-"), "-")+".db")
	}
	st, err := openStore(c.dbPath, c.dbConns)
	if err != nil {
		return err
	}
	defer st.db.Close()
	s := &shop{naive: c.mode == "naive", st: st, pool: newPool(c.workers), grace: c.grace, paymentURL: c.paymentURL}
	if s.naive {
		s.pay = newNaivePayer(c.paymentURL)
	} else {
		s.pay = newResilientPayer(c.paymentURL, c.policy)
		go s.runOutbox(ctx, c.retryEvery, c.policy.TotalTimeout)
	}
	srv := &http.Server{Addr: c.listen, Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("shop: %s mode, listening on %s, %d workers, %d database connections, payment at %s, orders in %s",
		c.mode, c.listen, c.workers, c.dbConns, c.paymentURL, c.dbPath)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// ListenAndServe returns as soon as Shutdown begins. The orders in
	// flight are answered before the database closes and the process
	// exits: cut off, their clients would count as failed an order that
	// is saved and charged.
	<-drained
	return nil
}
