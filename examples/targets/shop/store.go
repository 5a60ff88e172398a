package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Order statuses.
const (
	// StatusNew: saved, its payment call is under way.
	StatusNew = "new"
	// StatusPending: payment failed or was refused; the outbox job retries.
	StatusPending = "payment_pending"
	// StatusPaid: charged.
	StatusPaid = "paid"
	// StatusDeclined: payment refused the charge. The client was told so,
	// and the order is never tried again.
	StatusDeclined = "payment_declined"
)

// Order is a placed order.
type Order struct {
	ID      string    `json:"id"`
	Key     string    `json:"idempotency_key"`
	Item    string    `json:"item"`
	Amount  int64     `json:"amount"`
	Status  string    `json:"status"`
	Charge  int64     `json:"charge,omitempty"`
	Created time.Time `json:"created"`
}

// store keeps the carts, the orders and the payment outbox in SQLite.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS cart_items (
	cart_id INTEGER NOT NULL,
	item    TEXT NOT NULL,
	qty     INTEGER NOT NULL,
	price   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cart_items_cart ON cart_items(cart_id);
CREATE TABLE IF NOT EXISTS orders (
	id      TEXT PRIMARY KEY,
	key     TEXT NOT NULL UNIQUE,
	item    TEXT NOT NULL,
	amount  INTEGER NOT NULL,
	status  TEXT NOT NULL,
	charge  INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS outbox (
	order_id   TEXT PRIMARY KEY REFERENCES orders(id),
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT ''
);`

// openStore opens (or creates) the database and seeds carts 1 to 100.
// conns bounds the connection pool, as a server's database pool would be.
func openStore(path string, conns int) (*store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create tables in %s: %w", path, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM cart_items`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("read carts: %w", err)
	}
	if n == 0 {
		items := []struct {
			name  string
			price int64
		}{{"book", 1999}, {"lamp", 3450}, {"mug", 899}}
		tx, err := db.Begin()
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("seed carts: %w", err)
		}
		for cart := 1; cart <= 100; cart++ {
			for i, it := range items {
				if _, err := tx.Exec(`INSERT INTO cart_items VALUES (?, ?, ?, ?)`, cart, it.name, 1+(cart+i)%3, it.price); err != nil {
					tx.Rollback()
					db.Close()
					return nil, fmt.Errorf("seed carts: %w", err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			db.Close()
			return nil, fmt.Errorf("seed carts: %w", err)
		}
	}
	return &store{db: db}, nil
}

// CartItem is one line of a cart.
type CartItem struct {
	Item  string `json:"item"`
	Qty   int    `json:"qty"`
	Price int64  `json:"price"`
}

// cart reads a cart; it uses one database connection for a moment.
func (s *store) cart(ctx context.Context, id int) ([]CartItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT item, qty, price FROM cart_items WHERE cart_id = ? ORDER BY item`, id)
	if err != nil {
		return nil, fmt.Errorf("read cart %d: %w", id, err)
	}
	defer rows.Close()
	items := []CartItem{}
	for rows.Next() {
		var it CartItem
		if err := rows.Scan(&it.Item, &it.Qty, &it.Price); err != nil {
			return nil, fmt.Errorf("read cart %d: %w", id, err)
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "ord_" + hex.EncodeToString(b[:])
}

// create saves a new order and its outbox record in one transaction. The
// outbox record is due after grace: until then the caller's own payment
// call is expected to settle it. If the key is already known, create
// returns the existing order and false.
func (s *store) create(ctx context.Context, key, item string, amount int64, grace time.Duration) (Order, bool, error) {
	o := Order{ID: newID(), Key: key, Item: item, Amount: amount, Status: StatusNew, Created: time.Now().UTC()}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Order{}, false, fmt.Errorf("save order: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO orders(id, key, item, amount, status, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
		o.ID, key, item, amount, o.Status, o.Created.UnixMilli())
	if err != nil {
		return Order{}, false, fmt.Errorf("save order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		tx.Rollback()
		existing, err := s.byKey(ctx, key)
		return existing, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(order_id, next_at) VALUES (?, ?)`, o.ID, time.Now().Add(grace).UnixMilli()); err != nil {
		return Order{}, false, fmt.Errorf("save outbox record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Order{}, false, fmt.Errorf("save order: %w", err)
	}
	return o, true, nil
}

// createPaid saves an order that is already charged, with no outbox
// record (the naive path). conn is the connection held during the call.
func (s *store) createPaid(ctx context.Context, conn *sql.Conn, id, key, item string, amount, charge int64) (Order, error) {
	o := Order{ID: id, Key: key, Item: item, Amount: amount, Status: StatusPaid, Charge: charge, Created: time.Now().UTC()}
	res, err := conn.ExecContext(ctx, `INSERT INTO orders(id, key, item, amount, status, charge, created) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
		o.ID, key, item, amount, o.Status, charge, o.Created.UnixMilli())
	if err != nil {
		return Order{}, fmt.Errorf("save order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.byKey(ctx, key)
	}
	return o, nil
}

// markPaid records the charge and removes the outbox record, in one
// transaction.
func (s *store) markPaid(ctx context.Context, id string, charge int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s paid: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, charge = ? WHERE id = ?`, StatusPaid, charge, id); err != nil {
		return fmt.Errorf("mark %s paid: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE order_id = ?`, id); err != nil {
		return fmt.Errorf("mark %s paid: %w", id, err)
	}
	return tx.Commit()
}

// markPending records a failed payment attempt: the order waits for the
// outbox job, which tries again at next.
func (s *store) markPending(ctx context.Context, id string, next time.Time, cause string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s pending: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = ? WHERE id = ? AND status != ?`, StatusPending, id, StatusPaid); err != nil {
		return fmt.Errorf("mark %s pending: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE order_id = ?`, next.UnixMilli(), cause, id); err != nil {
		return fmt.Errorf("mark %s pending: %w", id, err)
	}
	return tx.Commit()
}

// markDeclined records that payment refused the order's charge and takes
// it off the outbox, in one transaction: a client told its order was
// declined must not find it charged later, when the outbox comes back to it
// (by then payment may have forgotten the key, or never have seen it).
func (s *store) markDeclined(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s declined: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = ? WHERE id = ? AND status != ?`, StatusDeclined, id, StatusPaid); err != nil {
		return fmt.Errorf("mark %s declined: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE order_id = ?`, id); err != nil {
		return fmt.Errorf("mark %s declined: %w", id, err)
	}
	return tx.Commit()
}

// due lists up to limit orders whose outbox record is due, oldest first,
// with the number of attempts made.
func (s *store) due(ctx context.Context, limit int) ([]Order, []int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.key, o.item, o.amount, o.status, o.created, b.attempts
		FROM outbox b JOIN orders o ON o.id = b.order_id WHERE b.next_at <= ? ORDER BY b.next_at LIMIT ?`, time.Now().UnixMilli(), limit)
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var orders []Order
	var attempts []int
	for rows.Next() {
		var o Order
		var created int64
		var n int
		if err := rows.Scan(&o.ID, &o.Key, &o.Item, &o.Amount, &o.Status, &created, &n); err != nil {
			return nil, nil, fmt.Errorf("read outbox: %w", err)
		}
		o.Created = time.UnixMilli(created).UTC()
		orders = append(orders, o)
		attempts = append(attempts, n)
	}
	return orders, attempts, rows.Err()
}

const orderColumns = `id, key, item, amount, status, charge, created`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var created int64
	err := row.Scan(&o.ID, &o.Key, &o.Item, &o.Amount, &o.Status, &o.Charge, &created)
	o.Created = time.UnixMilli(created).UTC()
	return o, err
}

// errNotFound is returned for an unknown order.
var errNotFound = errors.New("no such order")

func (s *store) byKey(ctx context.Context, key string) (Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, errNotFound
	}
	return o, err
}

func (s *store) byID(ctx context.Context, id string) (Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, errNotFound
	}
	return o, err
}

// orders lists the orders, of one status when status is not empty.
func (s *store) orders(ctx context.Context, status string) ([]Order, error) {
	q, args := `SELECT `+orderColumns+` FROM orders ORDER BY created`, []any{}
	if status != "" {
		q, args = `SELECT `+orderColumns+` FROM orders WHERE status = ? ORDER BY created`, []any{status}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// counts returns the number of orders per status and of outbox records.
func (s *store) counts(ctx context.Context) (map[string]int, int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM orders GROUP BY status`)
	if err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	defer rows.Close()
	out := map[string]int{StatusNew: 0, StatusPending: 0, StatusPaid: 0, StatusDeclined: 0}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, 0, fmt.Errorf("count orders: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var outbox int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil {
		return nil, 0, fmt.Errorf("count outbox: %w", err)
	}
	return out, outbox, nil
}
