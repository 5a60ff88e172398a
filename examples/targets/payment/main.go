// Command payment is the demo shop's payment service. POST /charges takes a
// payment exactly once per Idempotency-Key: a retried request gets the
// stored answer of the first one (the resilience/httpx idempotency
// middleware), and the charges table is unique by key, so that even a
// request replayed after a restart does not charge twice.
//
//	POST /charges          {"order": "...", "amount": 1999}, header Idempotency-Key: 201 charged (a retry gets the same charge), 422 key used for another order or amount, 503 try again
//	GET  /charges?order=ID the charges of one order (all without order)
//	GET  /health
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/resilience/httpx"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "address to listen on")
	dbPath := flag.String("db", "", "SQLite file for the charges (default: payment-ADDRESS.db in the temporary directory, kept across restarts)")
	flag.Parse()
	if err := run(*listen, *dbPath); err != nil {
		log.Fatalf("payment: %v", err)
	}
}

func run(listen, dbPath string) error {
	if dbPath == "" {
		// Named after the address, not made afresh and removed at exit:
		// a payment restarted on the same address must find the charges
		// and the idempotency records of the one before, or a key
		// replayed across the restart is charged a second time.
		dbPath = filepath.Join(os.TempDir(), "payment-"+strings.Trim(strings.ReplaceAll(listen, ":", "-"), "-")+".db")
	}
	st, err := openStore(dbPath)
	if err != nil {
		return err
	}
	defer st.db.Close()
	srv := &http.Server{Addr: listen, Handler: newHandler(st), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("payment: listening on %s, charges in %s", listen, dbPath)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// ListenAndServe returns as soon as Shutdown begins. The charges in
	// flight are answered before the database closes and the process
	// exits: cut off, the shop would leave pending an order that may be
	// charged.
	<-drained
	return nil
}

// chargeRequest is the body of POST /charges.
type chargeRequest struct {
	Order  string `json:"order"`
	Amount int64  `json:"amount"`
}

func newHandler(st *store) http.Handler {
	mux := http.NewServeMux()
	charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Order == "" || req.Amount <= 0 {
			http.Error(w, `want a JSON body {"order": "...", "amount": cents > 0}`, http.StatusBadRequest)
			return
		}
		// The charge is finished even if the caller hangs up: its answer
		// is stored for the key, and a cancelled write would be stored as
		// a failure and replayed to every retry.
		c, err := st.charge(context.WithoutCancel(r.Context()), r.Header.Get(httpx.IdempotencyKeyHeader), req.Order, req.Amount)
		switch {
		case errors.Is(err, errKeyReused):
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		case err != nil:
			// The database failed, for now: 503 is no outcome that the
			// middleware stores for the key, so the caller's retry runs
			// the charge again (the charges table, unique by key, keeps
			// it from charging twice). A 500 would be replayed to every
			// retry, and the order never charged.
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusCreated, c)
	})
	mux.Handle("POST /charges", refuseReusedKeys(st, httpx.Idempotency(st, httpx.IdempotencyOptions{Required: true, MaxBody: maxBody})(charge)))
	mux.HandleFunc("GET /charges", func(w http.ResponseWriter, r *http.Request) {
		cs, err := st.charges(r.Context(), r.URL.Query().Get("order"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"charges": cs, "count": len(cs)})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// maxBody is the largest body of POST /charges.
const maxBody = 4096

// refuseReusedKeys answers 422 to a charge whose key was charged for
// another order or amount, before the idempotency middleware sees it. The
// middleware compares a retry with the first request, but forgets a key
// whose answer it did not store (the process died before it could): a new
// request under that key would then be answered with the other order's
// charge, and its answer stored for the key, so that the first order's
// own retries would be refused as a different request.
func refuseReusedKeys(st *store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(httpx.IdempotencyKeyHeader)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req chargeRequest
		if json.Unmarshal(body, &req) != nil {
			next.ServeHTTP(w, r) // the handler refuses it
			return
		}
		c, found, err := st.chargeOf(r.Context(), key)
		switch {
		case err != nil:
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case found && (c.Order != req.Order || c.Amount != req.Amount):
			http.Error(w, fmt.Sprintf("%v: charge %d is of order %s, %d", errKeyReused, c.ID, c.Order, c.Amount), http.StatusUnprocessableEntity)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "payment: write response:", err)
	}
}
