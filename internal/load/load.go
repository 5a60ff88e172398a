// Package load generates traffic at a constant arrival rate and records it
// in time windows: HTTP requests, and whatever a Sender makes (a command
// run, a TCP exchange).
//
// The model is open: request i of a stream is due at start + i/rate whatever
// the server does, and its latency counts from that due time, not from when
// it could be sent. A slow server therefore shows in the latencies instead of
// quietly slowing the sender (coordinated omission). When MaxInflight
// requests already wait for answers, a due request is not sent and counts as
// an error of class ClassMaxInflight.
//
// Latency includes the sender's own lateness: Go's timers may wake up to a
// millisecond late when the process is idle, and a starved CPU delays them
// more. Window.Lag reports the worst of it, so that a slow window can be told
// apart from a slow server.
//
// Windows end on multiples of their length in wall-clock time, so that the
// windows of streams started at different moments line up; the first one is
// between half and one and a half lengths long, the last one ends when the
// stream stops. A request counts in the window it completes in; each window
// also records how long the requests still waiting when it closed had
// waited, so that answers slower than a window, or never given, show before
// they complete.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Defaults for a Stream's zero fields.
const (
	DefaultMethod  = http.MethodGet
	DefaultTimeout = 10 * time.Second
	DefaultWindow  = time.Second
	// MaxDefaultInflight caps the default MaxInflight: each request in flight
	// holds a connection, and so a file descriptor and a local port.
	MaxDefaultInflight = 10000
)

// Stream describes one stream of requests. Method, Timeout, MaxInflight and
// Window have defaults when zero.
type Stream struct {
	// Name identifies the stream in its windows.
	Name string
	// Rate is the number of requests per second.
	Rate float64
	// Method is the HTTP method, GET by default.
	Method string
	// URL, Header values and Body may contain ${seq}, the request's sequence
	// number counted from 1, and ${uuid}, a random UUIDv4 that is the same
	// everywhere in one request and new for each request.
	URL    string
	Header http.Header
	Body   string
	// Timeout bounds each request, from sending it to the end of the answer's
	// body; DefaultTimeout when zero, experiment.MaxStreamTimeout at most.
	Timeout time.Duration
	// MaxInflight is the most requests waiting for an answer at once. When
	// zero it is Rate × Timeout plus a margin, at most MaxDefaultInflight, so
	// that only a timeout that does not fire makes requests drop.
	MaxInflight int
	// Window is the length of the windows the stream is recorded in;
	// DefaultWindow when zero.
	Window time.Duration
	// Success lists the status codes that count as success; when empty,
	// every 2xx and 3xx status does. Redirects are not followed.
	Success []int
	// Transport sends the requests. When nil, Run uses its own keep-alive
	// transport sized for MaxInflight and closes its connections on return.
	Transport http.RoundTripper
	// Sender makes each request when set, in place of an HTTP request:
	// Method, URL, Header, Body, Success and Transport are then unused.
	Sender Sender
	// Cutter, when set, lets its owner end the stream's current window at
	// once, at the start and the end of what a check judges.
	Cutter *Cutter
}

// A Cutter ends a running stream's current window at once and opens the
// next, which then ends on the stream's usual boundary. Windows have a
// fixed width, and a phase of an experiment starts and ends where it
// will: a check that judged the window in which a fault began judged the
// traffic of the second before it too, healthy, beside the traffic under
// the fault, and that diluted what the fault did. Cut at the start and at
// the end of the phase, the windows hold the phase's traffic alone.
type Cutter struct {
	rec atomic.Pointer[recorder]
}

// Cut ends the current window of the stream now and returns the time it
// ended at, which is the start of the next one. ok is false when the
// stream has not started or has stopped.
func (c *Cutter) Cut() (t time.Time, ok bool) {
	if rec := c.rec.Load(); rec != nil {
		return rec.cut()
	}
	return time.Time{}, false
}

func (c *Cutter) attach(r *recorder) {
	if c != nil {
		c.rec.Store(r)
	}
}

// Sender makes one request of a stream that is not HTTP.
type Sender interface {
	// Send makes request seq (counted from 1) and returns its error class:
	// "" for a success. It must return when ctx is done; ctx carries the
	// stream's timeout. An error wrapped in a *StopError ends the stream:
	// the requests cannot be made as written.
	Send(ctx context.Context, seq uint64) (class string, err error)
}

// StopError is a request that could not be made because of how the stream
// is written, not because of the system it is sent to: a command that
// cannot start. It stops the stream, and Run returns it.
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }

func (e *StopError) Unwrap() error { return e.Err }

// withDefaults returns s with its zero fields set to their defaults.
func (s Stream) withDefaults() Stream {
	if s.Method == "" {
		s.Method = DefaultMethod
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.MaxInflight <= 0 && s.Rate > 0 {
		n := math.Ceil(s.Rate*s.Timeout.Seconds()*1.1) + 16
		s.MaxInflight = int(min(n, MaxDefaultInflight))
	}
	return s
}

// Validate reports what makes s unusable.
func (s Stream) Validate() error {
	var errs []error
	if !(s.Rate > 0) || math.IsInf(s.Rate, 0) {
		errs = append(errs, fmt.Errorf("stream %q: rate must be a positive number of requests per second, not %v", s.Name, s.Rate))
	}
	if s.Timeout > experiment.MaxStreamTimeout.D() {
		errs = append(errs, fmt.Errorf("stream %q: timeout %s is longer than 60s, the longest latency recorded", s.Name, s.Timeout))
	}
	if s.Sender != nil {
		if s.MaxInflight < 0 {
			errs = append(errs, fmt.Errorf("stream %q: max_inflight must not be negative", s.Name))
		}
		return errors.Join(errs...)
	}
	// Placeholders are replaced by digits and hex, which keep a valid URL
	// valid, so checking the template text checks every request.
	u, err := url.Parse(strings.NewReplacer(placeholderSeq, "1", placeholderUUID, "0").Replace(s.URL))
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("stream %q: %w", s.Name, err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("stream %q: url %q must start with http:// or https://", s.Name, s.URL))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("stream %q: url %q has no host", s.Name, s.URL))
	}
	if s.Method != "" && !validMethod(s.Method) {
		errs = append(errs, fmt.Errorf("stream %q: invalid method %q", s.Name, s.Method))
	}
	for _, code := range s.Success {
		if code < 100 || code > 599 {
			errs = append(errs, fmt.Errorf("stream %q: success status %d is not an HTTP status code", s.Name, code))
		}
	}
	if s.MaxInflight < 0 {
		errs = append(errs, fmt.Errorf("stream %q: max_inflight must not be negative", s.Name))
	}
	return errors.Join(errs...)
}

func validMethod(m string) bool {
	for _, r := range m {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return m != ""
}

// Run sends s's requests from now until ctx is done and calls sink with each
// window, in order, and with a last partial window when ctx is done. Requests
// still in flight then are canceled and counted in the last window's
// Canceled, Inflight and Waiting, with their ages when the stream stopped. sink is
// called from a single goroutine; a slow sink delays only later calls to
// itself, never the requests. Run returns once sink has received every
// window, or at once with an error if s is invalid. A request that fails
// with a *StopError stops the stream as ctx would; Run returns that error.
func Run(ctx context.Context, s Stream, sink func(Window)) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("run load: %w", err)
	}
	s = s.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := newGenerator(s, sink)
	g.stop = cancel
	if s.Sender == nil && s.Transport == nil {
		t := NewTransport(s)
		defer t.CloseIdleConnections()
		g.client.Transport = t
	}
	g.run(ctx)
	var stop *StopError
	if errors.As(context.Cause(ctx), &stop) {
		return stop
	}
	return nil
}

// NewTransport returns the transport Run uses when s.Transport is nil. It
// keeps up to s's MaxInflight connections per host alive, so that a stream at
// a steady rate opens no new connections once warmed up. Streams to the same
// hosts may share one; its owner closes its idle connections when done.
// It never goes through a proxy named by HTTP_PROXY, as the http probe does
// not: a caching proxy would answer for a target that is down, and any
// proxy would add its own latency and errors to the target's.
func NewTransport(s Stream) *http.Transport {
	s = s.withDefaults()
	conns := s.MaxInflight
	if conns <= 0 {
		// No rate to size it by: keep as many as any stream may need.
		conns = MaxDefaultInflight
	}
	d := &net.Dialer{Timeout: s.Timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		// A request written as the server closes its idle connection
		// fails (OneAttempt: it is not sent again), so the stream closes
		// an idle connection first: before the 5 s after which Node.js
		// and Apache close theirs.
		IdleConnTimeout:       4 * time.Second,
		TLSHandshakeTimeout:   s.Timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Requests carry only the headers the stream names: no implicit
		// Accept-Encoding that would make the server compress.
		DisableCompression: true,
	}
}

// generator is one running stream.
type generator struct {
	s      Stream
	client http.Client
	url    Template
	body   Template
	header map[string][]Template
	host   *Template // the Host header, which net/http takes from Request.Host
	uuid   bool
	ok     [600]bool // success by status code

	rec  *recorder
	stop context.CancelCauseFunc // ends the stream with a *StopError
}

type job struct {
	seq uint64
	due time.Time
}

func newGenerator(s Stream, sink func(Window)) *generator {
	g := &generator{
		s:      s,
		url:    ParseTemplate(s.URL),
		body:   ParseTemplate(s.Body),
		header: make(map[string][]Template, len(s.Header)),
		rec:    newRecorder(s.Name, sink),
	}
	g.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	g.client.Transport = s.Transport
	g.uuid = g.url.UsesUUID() || g.body.UsesUUID()
	for k, vs := range s.Header {
		ts := make([]Template, len(vs))
		for i, v := range vs {
			ts[i] = ParseTemplate(v)
			g.uuid = g.uuid || ts[i].UsesUUID()
		}
		if http.CanonicalHeaderKey(k) == "Host" && len(ts) > 0 {
			g.host = &ts[0]
			continue
		}
		g.header[k] = ts
	}
	if len(s.Success) == 0 {
		for code := 200; code < 400; code++ {
			g.ok[code] = true
		}
	}
	for _, code := range s.Success {
		g.ok[code] = true
	}
	return g
}

// run schedules requests until ctx is done. Workers are started on demand,
// up to MaxInflight, and kept: handing a request to an idle goroutine costs
// less than starting one per request with a fresh stack.
func (g *generator) run(ctx context.Context) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	workers := 0

	start := time.Now()
	firstEnd := firstBoundary(start, g.s.Window)
	g.rec.begin(start, firstEnd, g.s.Window)
	g.s.Cutter.attach(g.rec)
	defer g.s.Cutter.attach(nil)
	g.schedule(ctx, start, firstEnd, func(j job) {
		select {
		case jobs <- j:
			return
		default:
		}
		if workers >= g.s.MaxInflight {
			g.rec.dropInflight()
			return
		}
		workers++
		wg.Add(1)
		slot := g.rec.slot()
		slot.Store(g.rec.since(j.due))
		go func() {
			defer wg.Done()
			g.do(ctx, j, slot)
			for j := range jobs {
				g.do(ctx, j, slot)
			}
		}()
	})
	close(jobs)
	wg.Wait()
	g.rec.finish()
}

// schedule calls dispatch with each request when it is due, and closes
// windows on time even when no request completes, until ctx is done.
func (g *generator) schedule(ctx context.Context, start, nextWindow time.Time, dispatch func(job)) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	perRequest := float64(time.Second) / g.s.Rate
	for i := uint64(0); ; {
		due := start.Add(time.Duration(float64(i) * perRequest))
		now := time.Now()
		if !now.Before(nextWindow) {
			if end, ok := g.rec.tryRotate(now); ok {
				nextWindow = end
			} else {
				// Requests are completing and rotate windows themselves;
				// look again a little later rather than wait behind them.
				nextWindow = now.Add(time.Millisecond)
			}
		}
		if wait := min(due.Sub(now), nextWindow.Sub(now)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				g.rec.stop(due)
				return
			case <-timer.C:
			}
			continue
		}
		if ctx.Err() != nil {
			g.rec.stop(due)
			return
		}
		i++
		dispatch(job{seq: i, due: due})
	}
}

// firstBoundary ends the first window on a multiple of w in wall-clock time,
// so that the windows of streams started at different moments line up, and
// makes it at least w/2 long so that it holds enough requests to judge.
func firstBoundary(start time.Time, w time.Duration) time.Time {
	// Sub and Add keep start's monotonic reading, which Truncate drops.
	end := start.Add(w - start.Sub(start.Truncate(w)))
	if end.Sub(start) < w/2 {
		end = end.Add(w)
	}
	return end
}

// ended reports whether the stream's ctx is done by now. A socket given the
// ctx's deadline may time out a moment before the ctx itself is marked done.
func ended(ctx context.Context, now time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}

// do sends one request and records its outcome. slot holds the request's
// due time while it is in flight, for the windows that close meanwhile.
func (g *generator) do(ctx context.Context, j job, slot *atomic.Int64) {
	slot.Store(g.rec.since(j.due))
	defer slot.Store(0)
	lag := time.Since(j.due)
	var a *answer
	if g.s.Sender != nil {
		a = &answer{slot: slot, origin: g.rec.origin}
	}
	class, err := g.send(ctx, j, a)
	now := time.Now()
	var stop *StopError
	if errors.As(err, &stop) && g.stop != nil {
		g.stop(stop)
	}
	if err != nil && ended(ctx, now) {
		g.rec.cancel(now, j.due)
		return
	}
	latency := now.Sub(j.due)
	if a != nil {
		if at := a.at.Load(); at != 0 {
			latency = g.rec.origin.Add(time.Duration(at)).Sub(j.due)
		}
	}
	g.rec.add(now, j.due, latency, lag, class)
}

// answer is where answered marks the time a Sender's answer came in.
type answer struct {
	slot   *atomic.Int64
	origin time.Time
	at     atomic.Int64 // since origin; 0 until answered
}

type answerKey struct{}

// answered, called by a Sender in Send, says that the request's answer is
// in, though Send goes on to check it for a while (a tcp request without
// reply watches that its connection is not closed at once): its latency
// ends now rather than when Send returns, and the windows that close
// meanwhile do not count it as waiting for an answer.
func answered(ctx context.Context) {
	if a, ok := ctx.Value(answerKey{}).(*answer); ok {
		a.at.Store(max(int64(time.Since(a.origin)), 1))
		a.slot.Store(0)
	}
}

func (g *generator) send(ctx context.Context, j job, a *answer) (class string, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.s.Timeout)
	defer cancel()
	if g.s.Sender != nil {
		return g.s.Sender.Send(context.WithValue(ctx, answerKey{}, a), j.seq)
	}
	req, err := g.request(ctx, j.seq)
	if err != nil {
		return ClassOther, err
	}
	req, unanswered := OneAttempt(req, cancel)
	resp, err := g.client.Do(req)
	if unanswered() {
		if err == nil {
			resp.Body.Close()
		}
		return ClassReset, ErrUnanswered
	}
	if err != nil {
		return Classify(err), err
	}
	// The answer ends with its body; reading it all also lets the
	// connection be reused.
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Classify(err), err
	}
	if resp.StatusCode >= len(g.ok) || resp.StatusCode < 0 || !g.ok[resp.StatusCode] {
		return StatusClass(resp.StatusCode), nil
	}
	return "", nil
}

func (g *generator) request(ctx context.Context, seq uint64) (*http.Request, error) {
	v := Vars{Seq: seq}
	if g.uuid {
		v.UUID = uuid.NewString()
	}
	var body io.Reader
	if b := g.body.Expand(v); b != "" {
		body = strings.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, g.s.Method, g.url.Expand(v), body)
	if err != nil {
		return nil, fmt.Errorf("build request %d: %w", seq, err)
	}
	if len(g.header) > 0 {
		req.Header = make(http.Header, len(g.header))
		for k, ts := range g.header {
			vs := make([]string, len(ts))
			for i, t := range ts {
				vs[i] = t.Expand(v)
			}
			req.Header[k] = vs
		}
	}
	if g.host != nil {
		req.Host = g.host.Expand(v)
	}
	return req, nil
}

// recorder counts outcomes into the current window and hands closed windows
// to the sink's goroutine, so that neither the scheduler nor the requests
// wait on the sink.
type recorder struct {
	stream string
	sink   func(Window)

	// dropped counts requests not sent for max_inflight since they were
	// last added to cur: the scheduler counts them without waiting for mu,
	// which every completing request takes.
	dropped atomic.Int64

	// origin is when the stream started; slots hold, for each worker, the
	// due time of its request in flight as time since origin plus 1ns, or
	// 0 when it has none or its answer is in (answered). Workers are added under slotsMu, which the
	// scheduler takes without waiting for mu.
	origin  time.Time
	slotsMu sync.Mutex
	slots   []*atomic.Int64

	mu       sync.Mutex
	cur      *Tally
	end      time.Time // end of the current window
	firstEnd time.Time // end of the first window
	width    time.Duration
	stopped  bool
	cuts     []time.Time // where Cut ended windows off their boundaries
	canceled []time.Time // due times of the requests canceled at stop
	closed   []closedWindow
	wake     chan struct{}
	done     chan struct{}
}

type closedWindow struct {
	t   *Tally
	end time.Time
}

func newRecorder(stream string, sink func(Window)) *recorder {
	return &recorder{stream: stream, sink: sink, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// begin opens the first window and starts the sink's goroutine.
func (r *recorder) begin(start, end time.Time, width time.Duration) {
	r.origin = start
	r.cur = NewTally(r.stream, start)
	r.end = end
	r.firstEnd = end
	r.width = width
	go r.emit()
}

// tryRotate closes every window that ended by now and returns the end of
// the current one, unless mu is busy. It is how the scheduler closes windows
// in which no request completes, without ever queueing behind the requests.
func (r *recorder) tryRotate(now time.Time) (time.Time, bool) {
	if !r.mu.TryLock() {
		return time.Time{}, false
	}
	closed := r.rotateLocked(now)
	end := r.end
	r.mu.Unlock()
	if closed {
		r.signal()
	}
	return end, true
}

// foldLocked adds the pending drops to the current window.
func (r *recorder) foldLocked() {
	if n := r.dropped.Swap(0); n > 0 {
		r.cur.dropN(ClassMaxInflight, n)
	}
}

// slot adds a worker's slot.
func (r *recorder) slot() *atomic.Int64 {
	s := new(atomic.Int64)
	r.slotsMu.Lock()
	r.slots = append(r.slots, s)
	r.slotsMu.Unlock()
	return s
}

// since is the value a slot holds for a request due at due.
func (r *recorder) since(due time.Time) int64 { return int64(due.Sub(r.origin)) + 1 }

// waitingLocked records in the current window the requests in flight at
// its end that were due by then.
func (r *recorder) waitingLocked() {
	end := int64(r.end.Sub(r.origin)) + 1
	r.slotsMu.Lock()
	defer r.slotsMu.Unlock()
	for _, s := range r.slots {
		if due := s.Load(); due != 0 && due <= end {
			r.cur.AddWaiting(time.Duration(end - due))
		}
	}
}

func (r *recorder) rotateLocked(now time.Time) bool {
	r.foldLocked()
	if r.stopped || now.Before(r.end) {
		return false
	}
	for !now.Before(r.end) {
		r.waitingLocked()
		r.closed = append(r.closed, closedWindow{r.cur, r.end})
		r.cur = NewTally(r.stream, r.end)
		r.end = r.end.Add(r.width)
	}
	return true
}

func (r *recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// add records the outcome, known at now, of a request due at due.
func (r *recorder) add(now, due time.Time, latency, lag time.Duration, class string) {
	r.mu.Lock()
	closed := r.rotateLocked(now)
	r.cur.Add(latency, class)
	r.cur.AddLag(lag)
	if due.Before(r.cur.w.Start) {
		r.cur.AddLate(r.windowOf(due), latency, class)
	}
	r.mu.Unlock()
	if closed {
		r.signal()
	}
}

// windowOf is the start of the window that holds t: the first one runs
// from the stream's start to firstEnd, the others are width long, unless
// a cut ended one early: the next then starts at the cut.
func (r *recorder) windowOf(t time.Time) time.Time {
	start := r.origin
	if !t.Before(r.firstEnd) {
		start = r.firstEnd.Add(t.Sub(r.firstEnd) / r.width * r.width)
	}
	for i := len(r.cuts) - 1; i >= 0; i-- {
		if c := r.cuts[i]; !t.Before(c) {
			if c.After(start) {
				start = c
			}
			break
		}
	}
	return start
}

// cut closes the current window now, if it has begun, and opens the next,
// which ends on the usual boundary. The time is read under mu, so that
// every outcome recorded before it is in the closed window, and every one
// after it in the next.
func (r *recorder) cut() (time.Time, bool) {
	r.mu.Lock()
	now := time.Now()
	closed := r.rotateLocked(now)
	ok := !r.stopped && r.cur != nil
	if ok && now.After(r.cur.w.Start) {
		next := r.end
		r.end = now
		r.waitingLocked()
		r.closed = append(r.closed, closedWindow{r.cur, now})
		r.cur = NewTally(r.stream, now)
		r.end = next
		r.cuts = append(r.cuts, now)
		closed = true
	}
	r.mu.Unlock()
	if closed {
		r.signal()
	}
	return now, ok
}

func (r *recorder) dropInflight() { r.dropped.Add(1) }

// cancel records a request due at due that the stream's end cut short. It
// goes into the last window, with its age when the stream stopped, which
// may not be known yet.
func (r *recorder) cancel(now, due time.Time) {
	r.mu.Lock()
	closed := r.rotateLocked(now)
	r.canceled = append(r.canceled, due)
	r.mu.Unlock()
	if closed {
		r.signal()
	}
}

// stop ends the stream at the due time of the first request not sent, or
// now if that is later: a scheduler that got no CPU for a while before it
// noticed the end has not run its schedule up to now. It closes the windows
// that ended by then and makes the current window the last one: outcomes of
// requests still in flight go into it.
func (r *recorder) stop(next time.Time) {
	r.mu.Lock()
	// Reading the clock under the lock orders it after every outcome
	// recorded so far.
	end := time.Now()
	if next.Before(end) {
		end = next
	}
	closed := r.rotateLocked(end)
	r.stopped = true
	// Outcomes recorded meanwhile may have opened a window after end.
	if start := r.cur.w.Start; end.Before(start) {
		end = start
	}
	r.end = end
	r.mu.Unlock()
	if closed {
		r.signal()
	}
}

// finish closes the last window, once no request is in flight any more, and
// waits until the sink has had every window.
func (r *recorder) finish() {
	r.mu.Lock()
	r.foldLocked()
	last := r.cur
	for _, due := range r.canceled {
		last.Cancel()
		last.AddWaiting(r.end.Sub(due))
	}
	if last.w.Requests > 0 || last.w.Canceled > 0 || r.end.After(last.w.Start) {
		r.closed = append(r.closed, closedWindow{last, r.end})
	}
	r.cur = nil
	r.mu.Unlock()
	close(r.wake)
	<-r.done
}

// emit runs the sink until finish.
func (r *recorder) emit() {
	defer close(r.done)
	for range r.wake {
		r.flush()
	}
	r.flush()
}

func (r *recorder) flush() {
	for {
		r.mu.Lock()
		batch := r.closed
		r.closed = nil
		r.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, c := range batch {
			r.sink(c.t.Window(c.end))
		}
	}
}
