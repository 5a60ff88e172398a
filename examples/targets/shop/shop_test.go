package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/resilience/httpx"
)

// fakePayment charges through the same idempotency middleware as the
// payment service. It counts the requests it receives and the charges its
// handler makes, per order.
type fakePayment struct {
	*httptest.Server
	down atomic.Bool
	// gone answers 404 in front of payment, as a gateway does for a
	// service it has no route to: no charge, and nothing stored.
	gone     atomic.Bool
	requests atomic.Int64
	mu       sync.Mutex
	charges  map[string]int
	next     int64
}

func newFakePayment(t *testing.T) *fakePayment {
	f := &fakePayment{charges: map[string]int{}}
	charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Order string }
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.charges[req.Order]++
		f.next++
		id := f.next
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"order":%q}`, id, req.Order)
	})
	idem := httpx.Idempotency(httpx.NewMemoryStore(time.Hour, nil), httpx.IdempotencyOptions{Required: true})(charge)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			f.mu.Lock()
			var list []map[string]string
			for order, n := range f.charges {
				for range n {
					list = append(list, map[string]string{"order": order})
				}
			}
			f.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"charges": list})
			return
		}
		f.requests.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if f.gone.Load() {
			http.NotFound(w, r)
			return
		}
		idem.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePayment) chargesOf(order string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.charges[order]
}

var testPolicy = policySettings{AttemptTimeout: 200 * time.Millisecond, TotalTimeout: time.Second, Attempts: 2, Concurrency: 4, OpenFor: 200 * time.Millisecond}

func newTestShop(t *testing.T, path, paymentURL string) *shop {
	t.Helper()
	st, err := openStore(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.db.Close() })
	return &shop{st: st, pay: newResilientPayer(paymentURL, testPolicy), pool: newPool(4), grace: 2 * time.Second, paymentURL: paymentURL}
}

// settle runs the outbox job until order id is paid, for at most 5 s.
func settle(t *testing.T, s *shop, id string) Order {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.retryPending(context.Background(), time.Second); err != nil {
			t.Fatalf("retryPending: %v", err)
		}
		o, err := s.st.byID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status == StatusPaid {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s after 5s of outbox retries", id, o.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The shop charges an order, then dies before it records the payment. The
// restarted shop finds the order in its outbox and charges it again under
// the same key: payment replays the first charge instead of making a second.
func TestCrashBetweenChargeAndStatusUpdateChargesOnce(t *testing.T) {
	pay := newFakePayment(t)
	path := filepath.Join(t.TempDir(), "shop.db")
	ctx := context.Background()

	first := newTestShop(t, path, pay.URL)
	o, created, err := first.st.create(ctx, "key-1", "book", 1999, 0)
	if err != nil || !created {
		t.Fatalf("create = %v, %v; want a new order", created, err)
	}
	chargeID, err := first.pay.charge(ctx, o)
	if err != nil {
		t.Fatalf("charge: %v", err)
	}
	first.st.db.Close() // the crash: the charge is not recorded

	second := newTestShop(t, path, pay.URL)
	got := settle(t, second, o.ID)
	if got.Charge != chargeID {
		t.Errorf("order recorded with charge %d; want the first charge %d, replayed", got.Charge, chargeID)
	}
	if n := pay.chargesOf(o.ID); n != 1 {
		t.Errorf("payment charged order %s %d times; want 1", o.ID, n)
	}
	if n := pay.requests.Load(); n != 2 {
		t.Errorf("payment saw %d requests; want 2 (the charge and its replay)", n)
	}
	if _, outbox, _ := second.st.counts(ctx); outbox != 0 {
		t.Errorf("%d outbox records left; want 0", outbox)
	}
}

func postOrder(t *testing.T, h http.Handler, key string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item":"book"}`))
	req.Header.Set(httpx.IdempotencyKeyHeader, key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

// With payment down, an order is saved as payment_pending with an outbox
// record and answered 202; once payment is back the outbox job charges it,
// once.
func TestPaymentDownOrderPendingThenChargedOnce(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	pay.down.Store(true)

	code, body := postOrder(t, s.handler(), "key-2")
	if code != http.StatusAccepted {
		t.Fatalf("POST /orders with payment down = %d %v; want 202", code, body)
	}
	order, _ := body["order"].(map[string]any)
	id, _ := order["id"].(string)
	if order["status"] != StatusPending || body["message"] != "order saved, payment pending" {
		t.Fatalf("answer %v; want a payment_pending order", body)
	}
	counts, outbox, err := s.st.counts(context.Background())
	if err != nil || counts[StatusPending] != 1 || outbox != 1 {
		t.Fatalf("counts %v, outbox %d, %v; want 1 pending order with 1 outbox record", counts, outbox, err)
	}

	pay.down.Store(false)
	settle(t, s, id)
	if n := pay.chargesOf(id); n != 1 {
		t.Errorf("order charged %d times; want 1", n)
	}
	a, err := s.runAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !a.ExactlyOnce || a.ChargedOnce != 1 {
		t.Errorf("audit %+v; want exactly once, 1 order charged once", a)
	}
}

// A client retrying POST /orders with the same Idempotency-Key gets the same
// order, charged once.
func TestSameOrderKeyOneOrderOneCharge(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	h := s.handler()
	code1, b1 := postOrder(t, h, "key-3")
	code2, b2 := postOrder(t, h, "key-3")
	if code1 != http.StatusCreated || code2 != http.StatusCreated {
		t.Fatalf("statuses %d and %d; want 201 twice", code1, code2)
	}
	if b1["id"] == nil || b1["id"] != b2["id"] {
		t.Fatalf("orders %v and %v; want the same one", b1["id"], b2["id"])
	}
	if n := pay.chargesOf(b1["id"].(string)); n != 1 {
		t.Errorf("charged %d times; want 1", n)
	}
}

// The naive shop holds a worker while payment is slow: with every worker
// taken, a cart request waits too. The resilient shop answers it at once.
func TestSlowPaymentNaiveBlocksCartsResilientDoesNot(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	defer slow.Close()
	defer close(release)
	for _, naive := range []bool{true, false} {
		t.Run(fmt.Sprintf("naive=%v", naive), func(t *testing.T) {
			s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), slow.URL)
			s.naive = naive
			if naive {
				s.pay = newNaivePayer(slow.URL)
			}
			srv := httptest.NewServer(s.handler())
			defer srv.Close()
			for i := range cap(s.pool.slots) {
				go func() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"item":"book"}`))
					req.Header.Set(httpx.IdempotencyKeyHeader, fmt.Sprintf("slow-%v-%d", naive, i))
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
			}
			// The orders take the workers: the naive shop's hold them
			// until payment answers, and the cart must wait once they all
			// do (after a fixed sleep, on a loaded machine, some orders
			// had not come yet and the cart had a worker); the resilient
			// shop's give theirs back once their calls give up.
			deadline := time.Now().Add(10 * time.Second)
			for naive && len(s.pool.slots) < cap(s.pool.slots) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d workers taken by the orders after 10s", len(s.pool.slots), cap(s.pool.slots))
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !naive {
				time.Sleep(300 * time.Millisecond)
			}
			client := &http.Client{Timeout: time.Second}
			start := time.Now()
			resp, err := client.Get(srv.URL + "/cart/42")
			if err == nil {
				resp.Body.Close()
			}
			took := time.Since(start)
			if naive && err == nil {
				t.Errorf("naive: GET /cart answered %d in %s while every worker waited on payment; want it stuck", resp.StatusCode, took)
			}
			if !naive && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Errorf("resilient: GET /cart = %v (after %s); want 200", err, took)
			}
		})
	}
}

// Payment's side answers an order's charge with a 4xx: the shop tells the
// client 402, payment declined. The order must not be charged later, when
// the outbox comes back to it, behind the client's back: not by the outbox
// nor by a retry of the client's request with the same key.
func TestDeclinedOrderNotChargedLater(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	h := s.handler()
	ctx := context.Background()
	pay.gone.Store(true)
	if code, body := postOrder(t, h, "key-5"); code != http.StatusPaymentRequired {
		t.Fatalf("POST /orders answered 404 by payment's side = %d %v; want 402", code, body)
	}
	o, err := s.st.byKey(ctx, "key-5")
	if err != nil {
		t.Fatal(err)
	}
	pay.gone.Store(false)
	// A day later (payment's idempotency records may have expired by
	// then; this one never had one), the outbox looks at its due orders.
	if _, err := s.st.db.Exec(`UPDATE outbox SET next_at = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.retryPending(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if code, body := postOrder(t, h, "key-5"); code != http.StatusPaymentRequired {
		t.Errorf("POST /orders again with the declined order's key = %d %v; want 402 again", code, body)
	}
	if n := pay.chargesOf(o.ID); n != 0 {
		t.Errorf("order %s, answered 402 to its client, charged %d times; want 0", o.ID, n)
	}
	a, err := s.runAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !a.ExactlyOnce || a.Paid != 0 || a.Orders != 1 {
		t.Errorf("audit %+v; want exactly once, the 1 order unpaid", a)
	}
}

// Clients slow to send their order (phones on a bad network, on Black
// Friday) must not take the workers the carts need.
func TestSlowOrderBodiesDoNotBlockCarts(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	for i := range cap(s.pool.slots) {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The headers and the start of the body; the rest never comes.
		fmt.Fprintf(c, "POST /orders HTTP/1.1\r\nHost: shop\r\nIdempotency-Key: slow-%d\r\nContent-Length: 40\r\n\r\n{\"item\":", i)
	}
	time.Sleep(200 * time.Millisecond) // the orders reach the shop
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	resp, err := client.Get(srv.URL + "/cart/42")
	if err != nil {
		t.Fatalf("GET /cart/42 with %d order bodies on their way = %v after %s; want 200 at once", cap(s.pool.slots), err, time.Since(start))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /cart/42 = %d; want 200", resp.StatusCode)
	}
}

// A client reuses the key of its book order for a lamp: the shop must not
// answer with the book order as if it had taken the lamp, which it never
// saves nor charges.
func TestSameKeyOtherOrderRefused(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	h := s.handler()
	if code, body := postOrder(t, h, "key-6"); code != http.StatusCreated {
		t.Fatalf("POST /orders = %d %v; want 201", code, body)
	}
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item":"lamp","amount":3450}`))
	req.Header.Set(httpx.IdempotencyKeyHeader, "key-6")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("POST /orders of a lamp with the book order's key = %d %s; want 422", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if code, _ := postOrder(t, h, "key-6"); code != http.StatusCreated {
		t.Errorf("POST /orders of the book again with its key = %d; want 201, replayed", code)
	}
}

// Payment charges an order, then answers only after the shop's attempts
// have timed out: the order is answered 202, pending. The outbox must get
// the same charge back under the order's key (payment answers 409 while it
// still works on the first request), not make a second, and the order must
// end paid.
func TestLateChargeAnswerSettledOnce(t *testing.T) {
	var charges atomic.Int64
	charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := charges.Add(1)
		time.Sleep(1500 * time.Millisecond) // beyond the shop's total timeout
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d}`, id)
	})
	pay := httptest.NewServer(httpx.Idempotency(httpx.NewMemoryStore(time.Hour, nil), httpx.IdempotencyOptions{Required: true})(charge))
	defer pay.Close()
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)

	code, body := postOrder(t, s.handler(), "key-7")
	order, _ := body["order"].(map[string]any)
	id, _ := order["id"].(string)
	if code != http.StatusAccepted || order["status"] != StatusPending {
		t.Fatalf("POST /orders with payment answering late = %d %v; want 202, payment pending", code, body)
	}
	o := settle(t, s, id)
	if n := charges.Load(); n != 1 || o.Charge != 1 {
		t.Errorf("payment charged %d times, the order records charge %d; want the 1 charge", n, o.Charge)
	}
}

// The audit is what the Black Friday experiments judge exactly once by: an
// order charged twice, a paid order without its charge, an order left
// pending or stuck in flight past the grace, a charge without its order and
// a declined order charged must each be counted, and break exactly once.
func TestAuditCountsEveryBreach(t *testing.T) {
	pay := newFakePayment(t)
	s := newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
	ctx := context.Background()
	order := func(key string) Order {
		t.Helper()
		o, created, err := s.st.create(ctx, key, "book", 1999, s.grace)
		if err != nil || !created {
			t.Fatalf("create %s = %v, %v", key, created, err)
		}
		return o
	}
	charge := func(o Order, n int) {
		pay.mu.Lock()
		pay.charges[o.ID] += n
		pay.mu.Unlock()
	}
	once := order("once")
	charge(once, 1)
	if err := s.st.markPaid(ctx, once.ID, 1); err != nil {
		t.Fatal(err)
	}
	clean, err := s.runAudit(ctx)
	if err != nil || !clean.ExactlyOnce || clean.ChargedOnce != 1 {
		t.Fatalf("audit of 1 order charged once = %+v, %v; want exactly once", clean, err)
	}

	breaches := map[string]struct {
		make  func()
		field func(Audit) int
	}{
		"double_charged": {func() {
			o := order("twice")
			charge(o, 2)
			s.st.markPaid(ctx, o.ID, 2)
		}, func(a Audit) int { return a.DoubleCharged }},
		"missing": {func() {
			s.st.markPaid(ctx, order("missing").ID, 3)
		}, func(a Audit) int { return a.Missing }},
		"pending": {func() {
			s.st.markPending(ctx, order("pending").ID, time.Now().Add(time.Hour), "payment down")
		}, func(a Audit) int { return a.Pending }},
		"stale": {func() {
			o := order("stale")
			s.st.db.Exec(`UPDATE orders SET created = ? WHERE id = ?`, time.Now().Add(-2*s.grace).UnixMilli(), o.ID)
		}, func(a Audit) int { return a.Stale }},
		"orphans": {func() {
			charge(Order{ID: "ord_unknown"}, 1)
		}, func(a Audit) int { return a.Orphans }},
		"declined_charged": {func() {
			o := order("declined")
			charge(o, 1)
			s.st.markDeclined(ctx, o.ID)
		}, func(a Audit) int { return a.DeclinedCharged }},
	}
	for name, b := range breaches {
		t.Run(name, func(t *testing.T) {
			// Each breach on a fresh shop and payment.
			pay = newFakePayment(t)
			s = newTestShop(t, filepath.Join(t.TempDir(), "shop.db"), pay.URL)
			o := order("once")
			charge(o, 1)
			s.st.markPaid(ctx, o.ID, 1)
			b.make()
			a, err := s.runAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if b.field(a) != 1 || a.ExactlyOnce {
				t.Errorf("audit %+v; want %s 1, not exactly once", a, name)
			}
		})
	}
}
