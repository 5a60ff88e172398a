// Command payment is the demo shop's payment service. POST /charges takes a
// payment exactly once per Idempotency-Key: a retried request gets the
// stored answer of the first one (the resilience/httpx idempotency
// middleware), and the charges table is unique by key, so that even a
// request replayed after a restart does not charge twice.
//
//	POST /charges          {"order": "...", "amount": 1999}, header Idempotency-Key
//	GET  /charges?order=ID the charges of one order (all without order)
//	GET  /health
package main

import (
	"context"
	"encoding/json"
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
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("payment: listening on %s, charges in %s", listen, dbPath)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
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
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusCreated, c)
	})
	mux.Handle("POST /charges", httpx.Idempotency(st, httpx.IdempotencyOptions{Required: true, MaxBody: 4096})(charge))
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "payment: write response:", err)
	}
}
