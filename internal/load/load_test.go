package load_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gamedayhq/chaos/internal/load"
)

// runFor runs s for d and returns its windows.
func runFor(t *testing.T, s load.Stream, d time.Duration) []load.Window {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var windows []load.Window
	if err := load.Run(ctx, s, func(w load.Window) { windows = append(windows, w) }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return windows
}

// reporter is what checks need of a test or of one attempt at it.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// attempt gathers the errors of one attempt at a timing test.
type attempt struct{ errs []string }

func (a *attempt) Helper() {}

func (a *attempt) Errorf(format string, args ...any) {
	a.errs = append(a.errs, fmt.Sprintf(format, args...))
}

// timing runs a test of rates and latencies up to three times: a loaded
// machine may starve the sender or the server in one attempt, and the
// code must meet the figures in one of them. The last attempt's errors
// fail t.
func timing(t *testing.T, f func(a *attempt)) {
	t.Helper()
	for i := 1; ; i++ {
		var a attempt
		f(&a)
		switch {
		case len(a.errs) == 0:
			return
		case i == 3:
			for _, e := range a.errs {
				t.Error(e)
			}
			return
		}
		t.Logf("attempt %d: %s; trying again", i, strings.Join(a.errs, "; "))
	}
}

func merge(t *testing.T, windows []load.Window) load.Summary {
	t.Helper()
	s, err := load.Merge(windows...)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	return s
}

func okServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkWindows verifies that windows follow each other without gaps and
// that only the first and the last may differ from width.
func checkWindows(t reporter, windows []load.Window, width time.Duration) {
	t.Helper()
	for i, w := range windows {
		if w.Stream != "s" {
			t.Errorf("window %d of stream %q; want s", i, w.Stream)
		}
		if i > 0 && !w.Start.Equal(windows[i-1].End) {
			t.Errorf("window %d starts at %v; want the end of the previous one, %v", i, w.Start, windows[i-1].End)
		}
		d := w.Duration()
		if i > 0 && i < len(windows)-1 && d != width {
			t.Errorf("window %d lasts %v; want %v", i, d, width)
		}
		// The last window may be empty of time: it holds the outcomes of
		// requests still in flight when the stream stopped.
		if d < 0 || d == 0 && i < len(windows)-1 || d >= 2*width {
			t.Errorf("window %d lasts %v; want between 0 and %v", i, d, 2*width)
		}
		var errs int64
		for _, n := range w.Errors {
			errs += n
		}
		if w.Requests != w.Successes+errs {
			t.Errorf("window %d: %d requests; want successes + errors = %d", i, w.Requests, w.Successes+errs)
		}
	}
}

func TestRunAchievesRate(t *testing.T) {
	srv := okServer(t)
	const rate = 500
	timing(t, func(a *attempt) {
		windows := runFor(t, load.Stream{Name: "s", Rate: rate, URL: srv.URL, Window: 250 * time.Millisecond}, 2*time.Second)
		checkWindows(a, windows, 250*time.Millisecond)
		if n := len(windows); n < 7 || n > 10 {
			a.Errorf("2s in 250ms windows gave %d windows; want 8 or 9", n)
		}
		s := merge(t, windows)
		// Requests are counted when they complete; those in flight at the
		// end were sent too. On a busy machine the server may lag, not the
		// sender.
		if sent := sentRate(s); sent < 0.95*rate || sent > 1.02*rate {
			a.Errorf("sent %.1f req/s; want %d within 5%%", sent, rate)
		}
		// Requests still in flight at the end are canceled: how many
		// depends on how fast the server answers on this machine, not on
		// the sender.
		if s.Successes != s.Requests {
			a.Errorf("%d requests, %d successes, errors %v; want all successes", s.Requests, s.Successes, s.Errors)
		}
		t.Logf("%d requests completed, %d still in flight at the end (canceled)", s.Requests, s.Canceled)
		if s.Covered < 1900*time.Millisecond || s.Covered > 2200*time.Millisecond {
			a.Errorf("windows cover %v; want about 2s", s.Covered)
		}
		if s.Latency.P50 <= 0 || s.Latency.Max < s.Latency.P99 || s.Latency.P99 < s.Latency.P90 || s.Latency.P90 < s.Latency.P50 {
			a.Errorf("latency %+v; want 0 < p50 <= p90 <= p99 <= max", s.Latency)
		}
	})
}

// sentRate is the rate at which requests were sent: completed or still in
// flight at the end, not dropped for max_inflight.
func sentRate(s load.Summary) float64 {
	return float64(s.Requests-s.Errors[load.ClassMaxInflight]+s.Canceled) / s.Covered.Seconds()
}

// A server that stops answering for a while must show in the latencies of
// the requests due meanwhile, measured from when they were due.
func TestRunMeasuresFromScheduledTime(t *testing.T) {
	var gate atomic.Pointer[chan struct{}]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil {
			select {
			case <-*g:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)

	const stall = 500 * time.Millisecond
	timing(t, func(a *attempt) {
		go func() {
			time.Sleep(500 * time.Millisecond)
			g := make(chan struct{})
			gate.Store(&g)
			time.Sleep(stall)
			gate.Store(nil)
			close(g)
		}()
		windows := runFor(t, load.Stream{Name: "s", Rate: 200, URL: srv.URL, MaxInflight: 1000, Window: 250 * time.Millisecond}, 1500*time.Millisecond)
		checkWindows(a, windows, 250*time.Millisecond)
		s := merge(t, windows)
		if s.Errors[load.ClassMaxInflight] > 0 {
			a.Errorf("%d requests dropped for max_inflight; want none", s.Errors[load.ClassMaxInflight])
		}
		// About a third of the requests are due during the stall; the
		// first of them waits all of it.
		if s.Latency.Max < stall*8/10 || s.Latency.Max > 3*stall {
			a.Errorf("max latency %v; want about the %v stall", s.Latency.Max, stall)
		}
		if s.Latency.P99 < stall*7/10 {
			a.Errorf("p99 %v; want at least 70%% of the %v stall", s.Latency.P99, stall)
		}
		if s.Latency.P90 < stall/4 {
			a.Errorf("p90 %v; want at least a quarter of the %v stall", s.Latency.P90, stall)
		}
		var worst load.Window
		for _, w := range windows {
			if w.Latency.Max > worst.Latency.Max {
				worst = w
			}
		}
		if worst.Latency.P99 < stall*7/10 {
			a.Errorf("the window with the stall's end has p99 %v; want at least 70%% of the %v stall", worst.Latency.P99, stall)
		}
		// The gate is open again: the next attempt starts as this one did.
		time.Sleep(100 * time.Millisecond)
	})
}

func TestRunErrorClasses(t *testing.T) {
	hijack := func(linger bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			if linger {
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
		}
	}
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     func(*testing.T) string
		stream  load.Stream
		class   string
	}{
		{name: "status", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, class: "status_503"},
		{name: "404 not in success", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, class: "status_404"},
		{name: "200 not in success", handler: func(w http.ResponseWriter, r *http.Request) {}, stream: load.Stream{Success: []int{201}}, class: "status_200"},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, stream: load.Stream{Success: []int{200}}, class: "status_302"},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, stream: load.Stream{Timeout: 50 * time.Millisecond}, class: load.ClassTimeout},
		{name: "refused", url: refused, class: load.ClassRefused},
		{name: "reset", handler: hijack(true), class: load.ClassReset},
		{name: "closed", handler: hijack(false), class: load.ClassReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.stream
			s.Name, s.Rate = "s", 40
			if tt.url != nil {
				s.URL = tt.url(t)
			} else {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				s.URL = srv.URL
			}
			sum := merge(t, runFor(t, s, 400*time.Millisecond))
			if sum.Requests < 5 || sum.Successes != 0 || sum.Errors[tt.class] != sum.Requests {
				t.Errorf("%d requests, %d successes, errors %v; want at least 5 requests, all %s", sum.Requests, sum.Successes, sum.Errors, tt.class)
			}
			if tt.class == load.ClassTimeout && (sum.Latency.P50 < 50*time.Millisecond || sum.Latency.P50 > time.Second) {
				t.Errorf("timed out requests have p50 %v; want about the 50ms timeout", sum.Latency.P50)
			}
		})
	}
}

func TestRunMaxInflight(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := merge(t, runFor(t, load.Stream{Name: "s", Rate: 100, URL: srv.URL, MaxInflight: 4}, 500*time.Millisecond))
	if s.Canceled != 4 || arrived.Load() != 4 {
		t.Errorf("%d requests reached the server and %d were canceled at stop; want 4 and 4", arrived.Load(), s.Canceled)
	}
	if s.Inflight != 4 || s.Waiting.Max < 400*time.Millisecond {
		t.Errorf("%d requests waiting at the stop, the oldest for %v; want the 4 sent first, for about 500ms", s.Inflight, s.Waiting.Max)
	}
	if d := s.Errors[load.ClassMaxInflight]; d < 35 || d != s.Requests {
		t.Errorf("%d requests, %d dropped for max_inflight; want about 46, all dropped", s.Requests, d)
	}
	if s.Latency.Histogram != "" {
		t.Errorf("requests never sent have latencies %+v; want none", s.Latency)
	}
	// Nothing sent completed: the stream did not achieve its rate, and
	// must not say it did.
	if s.RPS != 0 {
		t.Errorf("rps %.1f with every request dropped for max_inflight; want 0", s.RPS)
	}
}

func TestRunExpandsTemplates(t *testing.T) {
	type seen struct{ path, key, host, body, method string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.URL.Path, r.Header.Get("Idempotency-Key"), r.Host, string(body), r.Method})
		mu.Unlock()
	}))
	defer srv.Close()
	s := load.Stream{
		Name:   "s",
		Rate:   100,
		Method: http.MethodPost,
		URL:    srv.URL + "/orders/${seq}/${uuid}",
		Header: http.Header{"Idempotency-Key": {"${uuid}"}, "Host": {"shop-${seq}.test"}},
		Body:   `{"seq":${seq},"key":"${uuid}","keep":"${keep}"}`,
	}
	sum := merge(t, runFor(t, s, 300*time.Millisecond))
	if sum.Successes < 10 {
		t.Fatalf("%d successes, errors %v; want at least 10", sum.Successes, sum.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	seqs := map[int]bool{}
	keys := map[string]bool{}
	for _, r := range got {
		parts := strings.Split(r.path, "/")
		if len(parts) != 4 {
			t.Fatalf("path %q; want /orders/SEQ/UUID", r.path)
		}
		seq, err := strconv.Atoi(parts[2])
		if err != nil {
			t.Fatalf("path %q: sequence number: %v", r.path, err)
		}
		id, err := uuid.Parse(r.key)
		if err != nil || id.Version() != 4 {
			t.Errorf("Idempotency-Key %q; want a UUIDv4 (%v)", r.key, err)
		}
		if parts[3] != r.key {
			t.Errorf("request %d has uuid %q in its path and %q in its header; want the same", seq, parts[3], r.key)
		}
		if want := `{"seq":` + parts[2] + `,"key":"` + r.key + `","keep":"${keep}"}`; r.body != want {
			t.Errorf("body %s; want %s", r.body, want)
		}
		if want := "shop-" + parts[2] + ".test"; r.host != want {
			t.Errorf("Host %q; want %q", r.host, want)
		}
		if r.method != http.MethodPost {
			t.Errorf("method %s; want POST", r.method)
		}
		seqs[seq] = true
		keys[r.key] = true
	}
	// Every request sent has its own number, from 1 on: those the server
	// saw are distinct and among the first sent (completed, or still in
	// flight at the stop). Which of the latter had reached the server by
	// then is the scheduler's doing: a later one may have, an earlier not.
	sent := sum.Requests + sum.Canceled
	if len(seqs) != len(got) || !seqs[1] {
		t.Errorf("sequence numbers %v of %d requests; want distinct ones, from 1", seqs, len(got))
	}
	for seq := range seqs {
		if seq < 1 || int64(seq) > sent {
			t.Errorf("a request with sequence number %d; want 1 to %d, the number of requests sent", seq, sent)
		}
	}
	if len(keys) != len(got) {
		t.Errorf("%d distinct uuids in %d requests; want one per request", len(keys), len(got))
	}
}

// A sink slower than the windows must neither slow the requests nor lose
// or reorder windows, and Run returns only once it has had all of them.
func TestRunSlowSink(t *testing.T) {
	srv := okServer(t)
	timing(t, func(a *attempt) {
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		var windows []load.Window
		var calls atomic.Int64
		sink := func(w load.Window) {
			calls.Add(1)
			time.Sleep(100 * time.Millisecond)
			windows = append(windows, w)
		}
		start := time.Now()
		if err := load.Run(ctx, load.Stream{Name: "s", Rate: 200, URL: srv.URL, Window: 50 * time.Millisecond}, sink); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if int64(len(windows)) != calls.Load() {
			t.Fatalf("Run returned after %d windows were delivered out of %d; want all", len(windows), calls.Load())
		}
		if n := len(windows); n < 10 || n > 14 {
			a.Errorf("600ms in 50ms windows gave %d windows; want about 12", n)
		}
		if min := time.Duration(len(windows)) * 100 * time.Millisecond; elapsed < min {
			t.Errorf("Run returned after %v; want after the sink has had all windows, at least %v", elapsed, min)
		}
		checkWindows(a, windows, 50*time.Millisecond)
		s := merge(t, windows)
		if sent := sentRate(s); sent < 0.9*200 || sent > 1.05*200 {
			a.Errorf("sent %.1f req/s with a slow sink; want 200 within 10%%", sent)
		}
	})
}

func TestRunStopsWithPartialWindow(t *testing.T) {
	srv := okServer(t)
	start := time.Now()
	windows := runFor(t, load.Stream{Name: "s", Rate: 50, URL: srv.URL, Window: 10 * time.Second}, 300*time.Millisecond)
	if len(windows) != 1 {
		t.Fatalf("%d windows in 300ms of a 10s window; want one partial window", len(windows))
	}
	w := windows[0]
	if d := w.Duration(); d < 250*time.Millisecond || d > time.Second {
		t.Errorf("the partial window lasts %v; want about 300ms", d)
	}
	if w.Start.Before(start) || w.Requests < 10 || w.Requests > 17 {
		t.Errorf("window starting %v after Run with %d requests; want at Run's start with about 15", w.Start.Sub(start), w.Requests)
	}
}

func TestRunRejectsInvalidStream(t *testing.T) {
	tests := []struct {
		s    load.Stream
		want string
	}{
		{load.Stream{Name: "a", URL: "http://x"}, "rate must be a positive"},
		{load.Stream{Name: "a", Rate: -1, URL: "http://x"}, "rate must be a positive"},
		{load.Stream{Name: "a", Rate: 1, URL: "ftp://x"}, "must start with http"},
		{load.Stream{Name: "a", Rate: 1, URL: "http://"}, "has no host"},
		{load.Stream{Name: "a", Rate: 1, URL: "http://x/${seq}", Method: "GE T"}, "invalid method"},
		{load.Stream{Name: "a", Rate: 1, URL: "http://x", Success: []int{2}}, "not an HTTP status code"},
		{load.Stream{Name: "a", Rate: 1, URL: "http://x", MaxInflight: -1}, "max_inflight"},
		// A latency past the histogram's range would be recorded as 60s.
		{load.Stream{Name: "a", Rate: 1, URL: "http://x", Timeout: 2 * time.Minute}, "longer than 60s"},
	}
	for _, tt := range tests {
		err := load.Run(context.Background(), tt.s, func(load.Window) { t.Error("sink called for an invalid stream") })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%+v) = %v; want an error containing %q", tt.s, err, tt.want)
		}
	}
	if err := (load.Stream{Name: "a", Rate: 5, URL: "http://127.0.0.1:1/${seq}?k=${uuid}"}).Validate(); err != nil {
		t.Errorf("Validate(valid stream) = %v; want nil", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.DeadlineExceeded, load.ClassTimeout},
		{io.ErrUnexpectedEOF, load.ClassReset},
		{errors.New("tls: bad certificate"), load.ClassOther},
	}
	for _, tt := range tests {
		if got := load.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}

// hangingServer answers at once but every nth request, which it holds
// until the client gives up or the test ends.
func hangingServer(t *testing.T, n int64) *httptest.Server {
	t.Helper()
	var seen atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1)%n == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv
}

// A request that has not completed when a window closes is recorded in it
// with its age, from its due time as latencies are; one still in flight
// when the stream stops is in the last window with its age then. A slow
// answer shows before it comes, and one never given shows at all.
func TestRunRecordsWaitingRequests(t *testing.T) {
	srv := hangingServer(t, 10)
	const width = 200 * time.Millisecond
	start := time.Now()
	windows := runFor(t, load.Stream{Name: "s", Rate: 100, URL: srv.URL, Window: width}, 1200*time.Millisecond)
	checkWindows(t, windows, width)
	last := windows[len(windows)-1]
	if last.Canceled < 5 || last.Inflight != last.Canceled {
		t.Errorf("last window: %d canceled, %d waiting; want the 12 or so hung requests in both", last.Canceled, last.Inflight)
	}
	if age, ran := last.Waiting.Max, last.End.Sub(start); age < ran/2 || age > ran {
		t.Errorf("the oldest request hung at the stop waited %v; want most of the %v run", age, ran)
	}
	for i, w := range windows[1 : len(windows)-1] {
		// Every tenth request hangs: by the end of the second window,
		// about 10 of the 20 or more sent so far.
		if w.Inflight < 1 || w.Waiting.Max < width/2 || w.Waiting.Max > w.End.Sub(start)+10*time.Millisecond {
			t.Errorf("window %d: %d waiting, the oldest for %v; want some, the oldest for about %v", i+1, w.Inflight, w.Waiting.Max, w.End.Sub(start))
		}
	}
	s := merge(t, windows)
	if s.Inflight != last.Inflight {
		t.Errorf("Merge of the run: %d waiting; want those of the last window, %d", s.Inflight, last.Inflight)
	}
	if p99, added, _ := s.AtLeast(99, width); p99 < width || added < 5 {
		t.Errorf("p99 with the requests waiting %v or longer = %v (%d added); want at least %v", width, p99, added, width)
	}
}

// Requests in flight at a window's close are there even on a healthy
// server, for less than its answer takes: they are recorded young, and
// counting only those that waited past a bound leaves the figures alone.
func TestRunYoungWaitingRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	timing(t, func(a *attempt) {
		windows := runFor(t, load.Stream{Name: "s", Rate: 100, URL: srv.URL, Window: 200 * time.Millisecond}, time.Second)
		seen := false
		for _, w := range windows[:len(windows)-1] {
			seen = seen || w.Inflight > 0
			if w.Waiting.Max > time.Second {
				a.Errorf("a request of a server that answers in 30ms waited %v at a window's close", w.Waiting.Max)
			}
		}
		if !seen {
			a.Errorf("no window closed with a request of 30ms in flight at 100 req/s; want most")
		}
		s := merge(t, windows[:len(windows)-1])
		if p99, added, _ := s.AtLeast(99, time.Second); added != 0 || p99 != s.Percentile(99) {
			a.Errorf("p99 with the requests waiting 1s or longer = %v (%d added); want the completed ones' %v", p99, added, s.Percentile(99))
		}
	})
}

// A stream's requests go to the target itself, never through a proxy the
// environment names (HTTP_PROXY on a CI runner): a caching proxy answered
// for a stopped target and the run passed.
func TestTransportIgnoresProxyFromEnvironment(t *testing.T) {
	if tr := load.NewTransport(load.Stream{}); tr.Proxy != nil {
		t.Error("the stream's transport uses a proxy function; want none")
	}
}

// dropSecond is a server that answers the first request on each
// connection and closes the connection on the second, unanswered: it
// drops every second request it receives on a kept-alive connection.
func dropSecond(t *testing.T) (url string, answered, dropped *atomic.Int64) {
	t.Helper()
	answered, dropped = new(atomic.Int64), new(atomic.Int64)
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.RemoteAddr]++
		n := seen[r.RemoteAddr]
		mu.Unlock()
		if n == 2 {
			dropped.Add(1)
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		answered.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, answered, dropped
}

// A request the server received and dropped is an error, though net/http
// would send it again on a new connection when the kept-alive one it was
// written on closes before the answer: the stream counts what the server
// did with the requests it was sent, not what a retry got.
func TestRunCountsDroppedRequestOnKeptAliveConnection(t *testing.T) {
	url, answered, dropped := dropSecond(t)
	sum := merge(t, runFor(t, load.Stream{Name: "s", Rate: 50, URL: url}, time.Second))
	if dropped.Load() < 5 {
		t.Fatalf("the server dropped %d requests; want at least 5", dropped.Load())
	}
	// One dropped request may have been cut short by the stream's end.
	if got := sum.Errors[load.ClassReset]; got < dropped.Load()-1 {
		t.Errorf("%d requests, %d successes, errors %v; the server answered %d and dropped %d: want every dropped one a reset",
			sum.Requests, sum.Successes, sum.Errors, answered.Load(), dropped.Load())
	}
	if sum.Successes > answered.Load() {
		t.Errorf("%d successes; the server answered %d", sum.Successes, answered.Load())
	}
}

// A request that completes in a later window than the one it was due in
// is counted there, and also among that window's late outcomes by the
// start of the window it was due in: what it met belongs to the time it
// was sent in, such as a fault's, though its answer came after.
func TestRunRecordsLateOutcomes(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every tenth request waits past its stream's timeout.
		if seen.Add(1)%10 == 0 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	const width = 200 * time.Millisecond
	windows := runFor(t, load.Stream{Name: "s", Rate: 50, URL: srv.URL, Window: width, Timeout: 500 * time.Millisecond}, 1500*time.Millisecond)
	starts := map[time.Time]bool{}
	for _, w := range windows {
		starts[w.Start] = true
	}
	var late, timeouts int64
	for _, w := range windows {
		var inWindow int64
		for _, l := range w.Late {
			if !starts[l.Due] || !l.Due.Before(w.Start) {
				t.Errorf("window at %s: late outcomes due in the window at %s; want an earlier window's start", w.Start, l.Due)
			}
			late += l.Requests
			inWindow += l.Errors[load.ClassTimeout]
		}
		if inWindow != w.Errors[load.ClassTimeout] {
			t.Errorf("window at %s: %d timeouts, %d of them late; want all late: a timeout of 500ms outlives a 200ms window", w.Start, w.Errors[load.ClassTimeout], inWindow)
		}
		timeouts += w.Errors[load.ClassTimeout]
	}
	if timeouts < 3 || late < timeouts {
		t.Errorf("%d timeouts, %d late outcomes; want several timeouts, each late", timeouts, late)
	}
}

// A cut ends the current window at once and opens the next, whose outcomes
// that come in late are counted by its own start: a check that judges from
// the cut on judges nothing sent before it. Without cuts, the window in
// which a fault began held the healthy traffic of up to a window before
// it, beside the traffic under the fault.
func TestCutEndsTheWindow(t *testing.T) {
	var held atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if held.Load() {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	var cutter load.Cutter
	if _, ok := cutter.Cut(); ok {
		t.Fatal("Cut before the stream started: ok")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got := make(chan []time.Time, 1)
	go func() {
		// Off the 1s boundaries: 1.3s and 1.7s after the start, give or
		// take the scheduler.
		time.Sleep(1300 * time.Millisecond)
		c1, ok1 := cutter.Cut()
		held.Store(true)
		time.Sleep(400 * time.Millisecond)
		held.Store(false)
		c2, ok2 := cutter.Cut()
		if ok1 && ok2 {
			got <- []time.Time{c1, c2}
		}
		close(got)
	}()
	var windows []load.Window
	err := load.Run(ctx, load.Stream{Name: "s", Rate: 100, URL: srv.URL, Timeout: 300 * time.Millisecond, Cutter: &cutter},
		func(w load.Window) { windows = append(windows, w) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cutter.Cut(); ok {
		t.Error("Cut after the stream ended: ok")
	}
	cuts := <-got
	if len(cuts) != 2 {
		t.Fatalf("cuts %v; want two, both ok", cuts)
	}
	starts := map[time.Time]bool{}
	for i, w := range windows {
		starts[w.Start] = true
		if i > 0 && !w.Start.Equal(windows[i-1].End) {
			t.Errorf("window %d starts at %s, the one before ended at %s; want them to meet", i, w.Start, windows[i-1].End)
		}
	}
	for _, c := range cuts {
		if !starts[c] {
			t.Errorf("no window starts at the cut at %s (windows %v)", c, spans(windows))
		}
	}
	var timeouts int64
	for _, w := range windows {
		if w.End.After(cuts[0]) || w.Start.Before(cuts[1]) {
			continue
		}
		timeouts += w.Errors[load.ClassTimeout]
	}
	if timeouts != 0 {
		t.Errorf("%d timeouts in windows before the first cut; want none: the server held nothing then", timeouts)
	}
	var late int64
	for _, w := range windows {
		for _, l := range w.Late {
			if l.Due.Before(cuts[0]) || l.Due.After(cuts[1]) {
				continue
			}
			if !starts[l.Due] {
				t.Errorf("late outcomes due in the window at %s, which no window starts at; want the cut at %s or a later start (windows %v)", l.Due, cuts[0], spans(windows))
			}
			late += l.Errors[load.ClassTimeout]
		}
	}
	if late < 10 {
		t.Errorf("%d late timeouts of requests sent after the cut; want the ~40 held", late)
	}
}

func spans(ws []load.Window) []string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s-%s", w.Start.Format("05.000"), w.End.Format("05.000")))
	}
	return out
}
