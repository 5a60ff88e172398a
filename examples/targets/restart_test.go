package targets_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver the services use, registered as "sqlite"
)

// service is one of the demo's binaries running as a process of its own,
// with the flags the experiments give it (no -db) and TMPDIR set to tmp.
type service struct {
	t    *testing.T
	name string
	args []string
	tmp  string
	url  string
	cmd  *exec.Cmd
}

func newService(t *testing.T, name, tmp, addr string, args ...string) *service {
	return &service{t: t, name: name, tmp: tmp, url: "http://" + addr, args: append([]string{"-listen", addr}, args...)}
}

// start runs the binary and waits until /health answers.
func (s *service) start() {
	s.t.Helper()
	s.cmd = exec.Command(filepath.Join(binaries(s.t), s.name), s.args...)
	s.cmd.Env = append(os.Environ(), "TMPDIR="+s.tmp)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s at %s not healthy after 10s: %v", s.name, s.url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, as a restart does, and waits for the exit.
func (s *service) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Wait()
}

// do sends one request with an optional idempotency key, decodes a JSON
// answer into v and returns the status.
func do(t *testing.T, method, url, key, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v) // an error leaves v as it was
	}
	return resp.StatusCode
}

type charge struct {
	ID    int64  `json:"id"`
	Order string `json:"order"`
}

// Payment is restarted between a charge and its replay, as a shop replays
// a charge whose answer it never got: the replay must find the first
// charge, not make a second one that the charges list, and the shop's
// audit, would show as the only one.
func TestPaymentRestartKeepsCharges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payment binary")
	}
	ports := freePorts(t, 1)
	pay := newService(t, "payment", t.TempDir(), "127.0.0.1:"+ports[0])
	pay.start()
	var first, second charge
	do(t, http.MethodPost, pay.url+"/charges", "key-a", `{"order":"ord_a","amount":1999}`, &first)
	if code := do(t, http.MethodPost, pay.url+"/charges", "key-b", `{"order":"ord_b","amount":1999}`, &second); code != http.StatusCreated {
		t.Fatalf("POST /charges = %d; want 201", code)
	}
	pay.stop()
	pay.start()
	var list struct{ Charges []charge }
	do(t, http.MethodGet, pay.url+"/charges", "", "", &list)
	if len(list.Charges) != 2 {
		t.Errorf("after a restart payment lists %d charges; want the 2 it made", len(list.Charges))
	}
	var replay charge
	do(t, http.MethodPost, pay.url+"/charges", "key-b", `{"order":"ord_b","amount":1999}`, &replay)
	if replay.ID != second.ID {
		t.Errorf("key-b replayed after a restart got charge %d; want the first charge %d", replay.ID, second.ID)
	}
	do(t, http.MethodGet, pay.url+"/charges?order=ord_b", "", "", &list)
	if len(list.Charges) != 1 {
		t.Errorf("order ord_b has %d charges after the restart and the replay; want 1", len(list.Charges))
	}
}

// audit is the part of the shop's GET /audit the tests read.
type audit struct {
	Orders      int  `json:"orders"`
	Paid        int  `json:"paid"`
	ChargedOnce int  `json:"charged_once"`
	ExactlyOnce bool `json:"exactly_once"`
}

// The shop accepts an order while payment is down (202, payment pending)
// and is restarted before payment is back: the restarted shop must still
// have the order, and charge it once payment answers.
func TestShopRestartKeepsPendingOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the shop and payment binaries")
	}
	ports := freePorts(t, 2)
	payAddr := "127.0.0.1:" + ports[1]
	shop := newService(t, "shop", t.TempDir(), "127.0.0.1:"+ports[0], "-payment", "http://"+payAddr, "-grace", "2s")
	shop.start()
	var placed struct {
		Order struct{ ID string }
	}
	if code := do(t, http.MethodPost, shop.url+"/orders", "order-1", `{"item":"book"}`, &placed); code != http.StatusAccepted {
		t.Fatalf("POST /orders with payment down = %d; want 202", code)
	}
	shop.stop()
	pay := newService(t, "payment", t.TempDir(), payAddr)
	pay.start()
	shop.start()

	deadline := time.Now().Add(10 * time.Second)
	for {
		var o struct{ Status string }
		code := do(t, http.MethodGet, shop.url+"/orders/"+placed.Order.ID, "", "", &o)
		if code == http.StatusOK && o.Status == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /orders/%s after the shop's restart = %d, status %q; want the order accepted before it, paid", placed.Order.ID, code, o.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var a audit
	do(t, http.MethodGet, shop.url+"/audit", "", "", &a)
	if !a.ExactlyOnce || a.Orders != 1 || a.ChargedOnce != 1 {
		t.Errorf("audit %+v; want the 1 order charged exactly once", a)
	}
}

// SIGTERM reaches the shop while an order waits on payment: the shop
// stops taking requests but answers the ones it has, rather than cut them
// off with the order saved and charged behind the client's back.
func TestShopStopAnswersOrdersInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the shop and payment binaries")
	}
	ports := freePorts(t, 3)
	payAddr := "127.0.0.1:" + ports[1]
	pay := newService(t, "payment", t.TempDir(), payAddr)
	pay.start()
	// A slow link to payment: every charge takes 500 ms, within the
	// shop's attempt timeout below. It tells when a charge reaches it.
	charging := make(chan struct{}, 1)
	slow := &http.Server{Addr: "127.0.0.1:" + ports[2], Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case charging <- struct{}{}:
		default:
		}
		time.Sleep(500 * time.Millisecond)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, pay.url+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	l, err := net.Listen("tcp", slow.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go slow.Serve(l)
	t.Cleanup(func() { slow.Shutdown(context.Background()) })

	shop := newService(t, "shop", t.TempDir(), "127.0.0.1:"+ports[0], "-payment", "http://"+slow.Addr,
		"-attempt-timeout", "1s", "-total-timeout", "1500ms")
	shop.start()
	type answer struct {
		code int
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, shop.url+"/orders", strings.NewReader(`{"item":"book"}`))
		req.Header.Set("Idempotency-Key", "order-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{code: resp.StatusCode}
	}()
	// The order waits on payment: a fixed sleep here could end, on a
	// loaded machine, before the order had even reached the shop.
	select {
	case <-charging:
	case got := <-done:
		t.Fatalf("POST /orders = %d, %v before its charge reached payment", got.code, got.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the order's charge did not reach payment within 10s")
	}
	shop.stop()
	got := <-done
	if got.err != nil || got.code != http.StatusCreated {
		t.Errorf("POST /orders in flight when the shop was stopped = %d, %v; want 201: its charge went through", got.code, got.err)
	}
	var list struct{ Charges []charge }
	do(t, http.MethodGet, pay.url+"/charges", "", "", &list)
	if len(list.Charges) != 1 {
		t.Fatalf("payment holds %d charges; want the order's 1", len(list.Charges))
	}
}

// SIGTERM reaches payment while a charge waits on its database: payment
// stops taking requests but answers the ones it has, rather than exit with
// the charge cut off, and the shop's order left pending for a charge that
// may have been made.
func TestPaymentStopAnswersChargesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payment binary")
	}
	ports := freePorts(t, 1)
	tmp := t.TempDir()
	dbPath := filepath.Join(tmp, "payment.db")
	pay := newService(t, "payment", tmp, "127.0.0.1:"+ports[0], "-db", dbPath)
	pay.start()
	// The database is busy: the charge waits for its write lock, held
	// here until payment has been told to stop.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		err  error
	}
	done := make(chan answer, 1)
	sent := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			http.MethodPost, pay.url+"/charges", strings.NewReader(`{"order":"ord_1","amount":1999}`))
		req.Header.Set("Idempotency-Key", "key-1")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{code: resp.StatusCode}
	}()
	select {
	case <-sent:
	case got := <-done:
		t.Fatalf("POST /charges = %d, %v before it was sent", got.code, got.err)
	case <-time.After(10 * time.Second):
		t.Fatal("POST /charges not sent within 10s")
	}
	time.Sleep(200 * time.Millisecond) // payment reads it, and waits on the lock
	if err := pay.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	pay.cmd.Wait()
	if got.err != nil || got.code != http.StatusCreated {
		t.Errorf("POST /charges in flight when payment was stopped = %d, %v; want 201", got.code, got.err)
	}
}
