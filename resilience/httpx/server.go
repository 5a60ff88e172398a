package httpx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

// Shed is middleware that admits at most the bulkhead's MaxConcurrent
// requests at once, queueing others up to its MaxWait, and answers the
// rest at once with 503 Service Unavailable and a Retry-After of
// retryAfter (rounded up to whole seconds, at least 1), instead of letting
// them pile up.
func Shed(b *resilience.Bulkhead, retryAfter time.Duration) func(http.Handler) http.Handler {
	seconds := strconv.FormatInt(max(int64((retryAfter+time.Second-1)/time.Second), 1), 10)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := b.Acquire(r.Context()); err != nil {
				w.Header().Set("Retry-After", seconds)
				http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
				return
			}
			defer b.Release()
			next.ServeHTTP(w, r)
		})
	}
}

// Record is what a Store keeps for one idempotency key.
type Record struct {
	// Fingerprint identifies the request: method, path, query and body.
	Fingerprint string
	// Done is false while the first request is being handled.
	Done bool
	// Status, Header and Body are the stored response, once Done.
	Status int
	Header http.Header
	Body   []byte
}

// Store keeps idempotency records. Implementations must be safe for
// concurrent use, and Reserve must be atomic: of two requests with the
// same new key, exactly one reserves it.
type Store interface {
	// Reserve records that a request with fingerprint is being handled
	// under key, unless key is already known: then it returns the existing
	// record and false.
	Reserve(ctx context.Context, key, fingerprint string) (existing Record, reserved bool, err error)
	// Save stores the response for a reserved key.
	Save(ctx context.Context, key string, r Record) error
	// Release forgets a reserved key whose handler did not finish.
	Release(ctx context.Context, key string) error
}

// IdempotencyOptions configures Idempotency. The zero value is usable.
type IdempotencyOptions struct {
	// Required answers 400 to POST and PATCH requests without a key.
	Required bool
	// MaxBody is the largest request body accepted; larger ones get 413.
	// Zero means 1 MiB.
	MaxBody int64
}

// ReplayedHeader is set to "true" on responses replayed from the store.
const ReplayedHeader = "Idempotent-Replayed"

// Idempotency is middleware for requests carrying an Idempotency-Key
// header. The first request with a key runs the handler, and its response,
// whatever the status (5xx included) but 429 and 503, is stored and
// replayed to every later request with the same key, also when the
// handler panicked after its status went out (what went out is
// replayed); after a 429 or 503 ("try again later", as Shed answers), a
// panic before any status, or a handler that wrote nothing once its
// client had gone, the next request runs the handler again. Responses are kept whole, in memory for MemoryStore: keyed
// requests are for small answers, not downloads. While the first is still running, the same key answers 409
// Conflict with Retry-After: 1 (so a client whose attempt timeout is
// shorter than the handler gets a 409: Transport does not retry it); the
// same key with a different method, path, query or body answers 422
// Unprocessable Entity. Requests without a key pass through.
//
// Keys are global to the store: scope them per client (for example in a
// preceding middleware) if clients could collide.
func Idempotency(store Store, opts IdempotencyOptions) func(http.Handler) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(IdempotencyKeyHeader)
			if key == "" {
				if opts.Required && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
					http.Error(w, "the Idempotency-Key header is required", http.StatusBadRequest)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBody+1))
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if int64(len(body)) > opts.MaxBody {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			fp := fingerprint(r, body)
			rec, reserved, err := store.Reserve(r.Context(), key, fp)
			switch {
			case err != nil:
				http.Error(w, "idempotency store: "+err.Error(), http.StatusInternalServerError)
			case !reserved && rec.Fingerprint != fp:
				http.Error(w, "Idempotency-Key reused with a different request", http.StatusUnprocessableEntity)
			case !reserved && !rec.Done:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "a request with this Idempotency-Key is in progress", http.StatusConflict)
			case !reserved:
				replay(w, rec)
			default:
				record(w, r, next, store, key, fp)
			}
		})
	}
}

func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, r.Method)
	h.Write([]byte{0})
	io.WriteString(h, r.URL.RequestURI())
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func replay(w http.ResponseWriter, rec Record) {
	for k, v := range rec.Header {
		w.Header()[k] = append([]string(nil), v...)
	}
	w.Header().Set(ReplayedHeader, "true")
	w.WriteHeader(rec.Status)
	w.Write(rec.Body)
}

func record(w http.ResponseWriter, r *http.Request, next http.Handler, store Store, key, fp string) {
	rw := &recorder{ResponseWriter: w}
	ctx := context.WithoutCancel(r.Context())
	returned := false
	defer func() {
		if returned {
			return
		}
		if rw.status != 0 {
			// The handler panicked after its status went out: the client
			// was told the outcome, and a retry must be told the same,
			// not run the handler again.
			keep(ctx, store, key, fp, rw)
			return
		}
		// The handler panicked before answering: let a retry run it again.
		store.Release(ctx, key)
	}()
	next.ServeHTTP(rw, r)
	returned = true
	if rw.status == 0 && r.Context().Err() != nil {
		// The handler gave up on a client that went away, and wrote
		// nothing: no outcome to replay (net/http would send an empty
		// 200 for it). The retry runs it again.
		store.Release(ctx, key)
		return
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	keep(ctx, store, key, fp, rw)
}

// keep stores the response rw recorded for key, to be replayed, or frees
// the key after "try again later".
func keep(ctx context.Context, store Store, key, fp string, rw *recorder) {
	if rw.status == http.StatusTooManyRequests || rw.status == http.StatusServiceUnavailable {
		// "Try again later" is no outcome to replay for a day: the next
		// request with the key runs the handler again.
		store.Release(ctx, key)
		return
	}
	rec := Record{Fingerprint: fp, Done: true, Status: rw.status, Header: rw.header, Body: rw.body.Bytes()}
	if err := store.Save(ctx, key, rec); err != nil {
		store.Release(ctx, key)
	}
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status != 0 {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		// An informational response (103 Early Hints) goes before the
		// final one: it is passed on, and is not the outcome.
		r.ResponseWriter.WriteHeader(status)
		return
	}
	r.status = status
	r.header = r.ResponseWriter.Header().Clone()
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
