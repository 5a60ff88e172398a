package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gamedayhq/chaos/resilience/httpx"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Charge is one payment taken for an order.
type Charge struct {
	ID      int64     `json:"id"`
	Key     string    `json:"key"`
	Order   string    `json:"order"`
	Amount  int64     `json:"amount"`
	Created time.Time `json:"created"`
}

// store keeps the charges and the idempotency records in one SQLite
// database, so that both survive a restart of the service (or of its
// container).
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS charges (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	key     TEXT NOT NULL UNIQUE,
	order_id TEXT NOT NULL,
	amount  INTEGER NOT NULL,
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_order ON charges(order_id);
CREATE TABLE IF NOT EXISTS idempotency (
	key         TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	done        INTEGER NOT NULL DEFAULT 0,
	status      INTEGER NOT NULL DEFAULT 0,
	header      TEXT NOT NULL DEFAULT '{}',
	body        BLOB
);`

func openStore(path string) (*store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create tables in %s: %w", path, err)
	}
	// Requests reserved by a previous process never finished: forget them,
	// so that their retries run again (the charges table, unique by key,
	// still keeps them from charging twice).
	if _, err := db.Exec(`DELETE FROM idempotency WHERE done = 0`); err != nil {
		db.Close()
		return nil, fmt.Errorf("clear unfinished requests in %s: %w", path, err)
	}
	return &store{db: db}, nil
}

// errKeyReused: the key's charge is of another order or amount.
var errKeyReused = errors.New("the Idempotency-Key was charged for another order or amount")

// charge records a charge for key, once: a second call with the same key
// and the same order and amount returns the first charge; with another
// order or amount, errKeyReused. The idempotency middleware compares the
// requests too, but forgets a key whose answer it did not store (the
// process died before, or the store failed): the charge is what is left.
func (s *store) charge(ctx context.Context, key, order string, amount int64) (Charge, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO charges(key, order_id, amount, created) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
		key, order, amount, time.Now().UnixMilli())
	if err != nil {
		return Charge{}, fmt.Errorf("insert charge: %w", err)
	}
	var c Charge
	var created int64
	err = s.db.QueryRowContext(ctx, `SELECT id, key, order_id, amount, created FROM charges WHERE key = ?`, key).
		Scan(&c.ID, &c.Key, &c.Order, &c.Amount, &created)
	if err != nil {
		return Charge{}, fmt.Errorf("read charge: %w", err)
	}
	c.Created = time.UnixMilli(created).UTC()
	if c.Order != order || c.Amount != amount {
		return Charge{}, fmt.Errorf("%w: charge %d is of order %s, %d", errKeyReused, c.ID, c.Order, c.Amount)
	}
	return c, nil
}

// chargeOf returns the charge made under key, if any.
func (s *store) chargeOf(ctx context.Context, key string) (Charge, bool, error) {
	var c Charge
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, key, order_id, amount, created FROM charges WHERE key = ?`, key).
		Scan(&c.ID, &c.Key, &c.Order, &c.Amount, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Charge{}, false, nil
	}
	if err != nil {
		return Charge{}, false, fmt.Errorf("read charge: %w", err)
	}
	c.Created = time.UnixMilli(created).UTC()
	return c, true, nil
}

// charges lists the charges, of one order when order is not empty.
func (s *store) charges(ctx context.Context, order string) ([]Charge, error) {
	q, args := `SELECT id, key, order_id, amount, created FROM charges ORDER BY id`, []any{}
	if order != "" {
		q, args = `SELECT id, key, order_id, amount, created FROM charges WHERE order_id = ? ORDER BY id`, []any{order}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list charges: %w", err)
	}
	defer rows.Close()
	out := []Charge{}
	for rows.Next() {
		var c Charge
		var created int64
		if err := rows.Scan(&c.ID, &c.Key, &c.Order, &c.Amount, &created); err != nil {
			return nil, fmt.Errorf("list charges: %w", err)
		}
		c.Created = time.UnixMilli(created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Reserve implements httpx.Store.
func (s *store) Reserve(ctx context.Context, key, fingerprint string) (httpx.Record, bool, error) {
	// Not cancelled with the request: a reservation written but reported
	// as failed would answer 409 to every retry of the key.
	ctx = context.WithoutCancel(ctx)
	for range 3 {
		res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency(key, fingerprint) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, key, fingerprint)
		if err != nil {
			return httpx.Record{}, false, fmt.Errorf("reserve %q: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return httpx.Record{}, true, nil
		}
		var rec httpx.Record
		var done int
		var header string
		err = s.db.QueryRowContext(ctx, `SELECT fingerprint, done, status, header, body FROM idempotency WHERE key = ?`, key).
			Scan(&rec.Fingerprint, &done, &rec.Status, &header, &rec.Body)
		if errors.Is(err, sql.ErrNoRows) {
			continue // released between the two statements
		}
		if err != nil {
			return httpx.Record{}, false, fmt.Errorf("read %q: %w", key, err)
		}
		rec.Done = done == 1
		if err := json.Unmarshal([]byte(header), &rec.Header); err != nil {
			rec.Header = http.Header{}
		}
		return rec, false, nil
	}
	return httpx.Record{}, false, fmt.Errorf("reserve %q: released and taken again repeatedly", key)
}

// Save implements httpx.Store.
func (s *store) Save(ctx context.Context, key string, r httpx.Record) error {
	header, err := json.Marshal(r.Header)
	if err != nil {
		return fmt.Errorf("save %q: %w", key, err)
	}
	_, err = s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE idempotency SET done = 1, status = ?, header = ?, body = ? WHERE key = ?`,
		r.Status, string(header), r.Body, key)
	if err != nil {
		return fmt.Errorf("save %q: %w", key, err)
	}
	return nil
}

// Release implements httpx.Store.
func (s *store) Release(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM idempotency WHERE key = ? AND done = 0`, key); err != nil {
		return fmt.Errorf("release %q: %w", key, err)
	}
	return nil
}
