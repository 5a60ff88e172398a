package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func newTestStore(t *testing.T, path string) *store {
	t.Helper()
	st, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.db.Close() })
	return st
}

// postCharge sends POST /charges with key and body, and returns the status
// and the charge answered, if any.
func postCharge(t *testing.T, h http.Handler, key, body string) (int, Charge) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var c Charge
	json.Unmarshal(rec.Body.Bytes(), &c) // an error answer leaves c empty
	return rec.Code, c
}

func countCharges(t *testing.T, st *store) int {
	t.Helper()
	cs, err := st.charges(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// The database fails a charge for a moment: the answer must not be stored
// for the key, or every retry is answered the same failure and the order
// is never charged.
func TestFailedChargeRunsAgainOnRetry(t *testing.T) {
	st := newTestStore(t, filepath.Join(t.TempDir(), "payment.db"))
	h := newHandler(st)
	if _, err := st.db.Exec(`CREATE TRIGGER fail BEFORE INSERT ON charges BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
		t.Fatal(err)
	}
	code, _ := postCharge(t, h, "key-1", `{"order":"ord_1","amount":1999}`)
	if code != http.StatusServiceUnavailable {
		t.Errorf("charge while the database fails = %d; want 503, a failure to retry", code)
	}
	if _, err := st.db.Exec(`DROP TRIGGER fail`); err != nil {
		t.Fatal(err)
	}
	code, c := postCharge(t, h, "key-1", `{"order":"ord_1","amount":1999}`)
	if code != http.StatusCreated || c.ID == 0 || c.Order != "ord_1" {
		t.Fatalf("retry once the database is back = %d %+v; want 201 and the order's charge", code, c)
	}
	if n := countCharges(t, st); n != 1 {
		t.Errorf("%d charges; want 1", n)
	}
}

// Payment dies between a charge and the storing of its answer, and is
// restarted: the key's idempotency record is gone, its charge is not. A
// request for another order under that key must be refused, not answered
// with the first order's charge; and the first order's own retry must
// still get its charge back.
func TestKeyReusedAfterRestartRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payment.db")
	st := newTestStore(t, path)
	code, first := postCharge(t, newHandler(st), "key-1", `{"order":"ord_1","amount":1999}`)
	if code != http.StatusCreated {
		t.Fatalf("charge = %d; want 201", code)
	}
	// The state a crash before the answer was stored leaves behind.
	if _, err := st.db.Exec(`UPDATE idempotency SET done = 0`); err != nil {
		t.Fatal(err)
	}
	st.db.Close()
	st = newTestStore(t, path)
	h := newHandler(st)

	code, c := postCharge(t, h, "key-1", `{"order":"ord_2","amount":500}`)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("another order under a charged key = %d %+v; want 422", code, c)
	}
	code, c = postCharge(t, h, "key-1", `{"order":"ord_1","amount":1999}`)
	if code != http.StatusCreated || c.ID != first.ID {
		t.Errorf("the first order's retry = %d %+v; want 201 and its charge %d", code, c, first.ID)
	}
	if n := countCharges(t, st); n != 1 {
		t.Errorf("%d charges; want 1", n)
	}
}
