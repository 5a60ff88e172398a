package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/notify"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The HTTP client keeps idle connections for reuse.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

func TestDisplay(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://127.0.0.1:9091", "http://127.0.0.1:9091"},
		{"http://127.0.0.1:9091/", "http://127.0.0.1:9091"},
		{"https://hooks.example/services/T0/B0/XYZ", "https://hooks.example/***"},
		{"https://hooks.example/?token=abc", "https://hooks.example/***"},
		{"http://user:pw@host:1/x", "http://host:1/***"},
		{"not a url", "***"},
	} {
		if got := notify.Display(c.in); got != c.want {
			t.Errorf("Display(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func webhook(url, body string, timeout time.Duration) *experiment.Notify {
	w := &experiment.Webhook{}
	w.SetDefaults()
	w.URL, w.Body, w.Timeout = url, body, experiment.Duration(timeout)
	return &experiment.Notify{Webhook: w}
}

// runEvents is a short run's events as the runner emits them.
func runEvents() []journal.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []journal.Event{
		{Time: at(0), Type: journal.RunStarted, RunID: "r1", Message: "started"},
		{Time: at(1), Type: journal.PhaseStarted, Phase: "method", Message: "method"},
		{Time: at(2), Type: journal.StepStarted, Step: "s", Kind: "fault", Message: "s"},
		{Time: at(3), Type: journal.FaultInjected, Step: "s", Fault: "latency", Target: "link", TargetID: "link", Message: "latency on link"},
		journal.WindowEvent(journal.Window{Stream: "cart"}),
		{Time: at(500), Type: journal.FaultReverted, Step: "s", Fault: "latency", TargetID: "link", Message: "latency on link"},
		{Time: at(501), Type: journal.StepFinished, Step: "s", Outcome: journal.StepDone, Message: "s done"},
		func() journal.Event { e := journal.VerdictEvent(journal.Passed, "held"); e.Time = at(600); return e }(),
	}
}

// An events webhook posts every event but the routine ones, in order,
// each with the run's ID and title; a summary webhook posts once, with the
// fault's window.
func TestWebhookBodies(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]json.RawMessage{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad headers", 400)
			return
		}
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], b)
		mu.Unlock()
	}))
	defer srv.Close()
	run := notify.Run{Title: "t", File: "x/e.yaml"}
	var sinks []notify.Notifier
	for _, body := range []string{experiment.BodyEvents, experiment.BodySummary} {
		n := webhook(srv.URL+"/"+body, body, 5*time.Second)
		n.Webhook.Headers = map[string]string{"Authorization": "Bearer tok"}
		s, err := notify.New(n, run)
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	events := runEvents()
	for _, ev := range events {
		for _, s := range sinks {
			s.Event(ev)
		}
	}
	for _, s := range sinks {
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var types []journal.Type
	for _, b := range got["/events"] {
		var body notify.EventBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if body.RunID != "r1" || body.Title != "t" {
			t.Errorf("body %s; want run r1, title t", b)
		}
		types = append(types, body.Event.Type)
	}
	var want []journal.Type
	for _, ev := range events {
		if !ev.Routine() {
			want = append(want, ev.Type)
		}
	}
	if strings.Join(toStrings(types), " ") != strings.Join(toStrings(want), " ") {
		t.Errorf("events posted: %v; want %v", types, want)
	}
	if len(got["/summary"]) != 1 {
		t.Fatalf("%d summaries; want 1", len(got["/summary"]))
	}
	var sum notify.Summary
	json.Unmarshal(got["/summary"][0], &sum)
	if sum.Verdict != journal.Passed || len(sum.Faults) != 1 || sum.Faults[0].Reverted.Sub(sum.Faults[0].Injected) != 497*time.Millisecond {
		t.Errorf("summary %s; want passed with one fault of 497ms", got["/summary"][0])
	}
}

func toStrings(ts []journal.Type) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}

// A receiver that never answers costs a flush its timeout, not more: the
// request in flight is cut and the queued ones are counted as not sent,
// under the notifier's name without the URL's path.
func TestFlushBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	s, err := notify.New(webhook("http://"+l.Addr().String()+"/secret-path", experiment.BodyEvents, 300*time.Millisecond), notify.Run{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 20 {
		for _, ev := range runEvents() {
			s.Event(ev)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("queueing 160 events took %s: the sink blocked", d)
	}
	ferr := s.Flush(context.Background())
	took := time.Since(start)
	if ferr == nil || !strings.Contains(ferr.Error(), "not sent") || strings.Contains(ferr.Error(), "secret-path") {
		t.Errorf("Flush = %v; want what was not sent, without the URL's path", ferr)
	}
	// Two timeouts at most (one request, then the flush's own); the margin
	// is for a loaded machine.
	if took > 15*time.Second {
		t.Errorf("flush took %s; want about 600ms", took)
	}
	s.Event(runEvents()[0]) // after Flush: dropped, no panic
}

// A notifier's URL written with a trailing slash shows as its scheme and
// host in the error of a request that failed, with the path net/http
// joined on still after a slash.
func TestFailedPushShowsItsPath(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &experiment.Pushgateway{}
	p.SetDefaults()
	p.URL, p.Timeout = "http://"+addr+"/", experiment.Duration(time.Second)
	s, err := notify.New(&experiment.Notify{Pushgateway: p}, notify.Run{Title: "t", File: "shop.yaml", Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	s.Event(runEvents()[0])
	ferr := s.Flush(context.Background())
	if want := `"http://` + addr + `/metrics/job/chaos/experiment/shop"`; ferr == nil || !strings.Contains(ferr.Error(), want) {
		t.Errorf("Flush = %v; want the URL it was sent to, %s", ferr, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// The event stream writes each event as the journal does, one line each;
// a write that fails is reported by Flush.
func TestLines(t *testing.T) {
	var b strings.Builder
	l := notify.NewLines(&b, "out")
	for _, ev := range runEvents() {
		l.Event(ev)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(runEvents()) {
		t.Fatalf("%d lines; want %d", len(lines), len(runEvents()))
	}
	for i, line := range lines {
		want, _ := json.Marshal(runEvents()[i])
		if line != string(want) {
			t.Errorf("line %d: %s; want %s", i+1, line, want)
		}
	}
	bad := notify.NewLines(failWriter{}, "stdout")
	bad.Event(runEvents()[0])
	if err := bad.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "events to stdout: broken pipe") {
		t.Errorf("Flush = %v; want the write's error", err)
	}
}
