package probe_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/probe"
)

func TestKinds(t *testing.T) {
	got := probe.Kinds()
	for _, want := range []string{"exec", "http", "tcp"} {
		if !slices.Contains(got, want) {
			t.Errorf("Kinds() = %v; want %q among them", got, want)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("Kinds() = %v; want them sorted", got)
	}
	if _, ok := probe.Lookup("gopher"); ok {
		t.Error(`Lookup("gopher") found a kind`)
	}
	res := probe.Run(context.Background(), "gopher", nil, nil)
	if res.OK || res.Err == nil || res.Reason != `unknown probe kind "gopher"` {
		t.Errorf("Run(unknown kind) = %+v; want an error, not an observation", res)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	k := probe.Kind{Name: "probe-test-twice", New: func() (any, any) { return nil, nil }}
	probe.Register(k)
	defer func() {
		if recover() == nil {
			t.Error("Register of a name taken did not panic")
		}
	}()
	probe.Register(k)
}

type limited time.Duration

func (l limited) TimeLimit() time.Duration { return time.Duration(l) }

func TestLimit(t *testing.T) {
	for _, tt := range []struct {
		spec any
		want time.Duration
	}{
		{struct{}{}, probe.DefaultLimit},
		{limited(0), probe.DefaultLimit},
		{limited(3 * time.Second), 3 * time.Second},
	} {
		if got := probe.Limit(tt.spec); got != tt.want {
			t.Errorf("Limit(%#v) = %s; want %s", tt.spec, got, tt.want)
		}
	}
}

func TestStatusParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want probe.Status
		err  string
	}{
		{"200", probe.Status{"200"}, ""},
		{"2xx", probe.Status{"2xx"}, ""},
		{"2XX", probe.Status{"2xx"}, ""},
		{"[200, 3xx]", probe.Status{"200", "3xx"}, ""},
		{"600", nil, `"600" is not a status`},
		{"99", nil, `"99" is not a status`},
		{"6xx", nil, `"6xx" is not a status`},
		{"2x", nil, `"2x" is not a status`},
		{"[200, ok]", nil, `"ok" is not a status`},
		{"{code: 200}", nil, "expected a status such as 200"},
	} {
		var s probe.Status
		err := yaml.Unmarshal([]byte(tt.in), &s)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Status(%s) = %v, %v; want an error containing %q", tt.in, s, err, tt.err)
		case tt.err == "" && (err != nil || !slices.Equal(s, tt.want)):
			t.Errorf("Status(%s) = %v, %v; want %v", tt.in, s, err, tt.want)
		}
	}
}

func TestStatusMatch(t *testing.T) {
	for _, tt := range []struct {
		s    probe.Status
		code int
		want bool
	}{
		{nil, 200, true},
		{nil, 204, true},
		{nil, 301, false},
		{nil, 500, false},
		{probe.Status{"200"}, 200, true},
		{probe.Status{"200"}, 201, false},
		{probe.Status{"5xx"}, 503, true},
		{probe.Status{"5xx"}, 404, false},
		{probe.Status{"200", "3xx"}, 302, true},
		{probe.Status{"200", "3xx"}, 404, false},
	} {
		if got := tt.s.Match(tt.code); got != tt.want {
			t.Errorf("Status(%v).Match(%d) = %t; want %t", tt.s, tt.code, got, tt.want)
		}
	}
	if got := (probe.Status{}).String(); got != "2xx" {
		t.Errorf("empty Status prints %q; want 2xx", got)
	}
	if got := (probe.Status{"200", "3xx"}).String(); got != "200 or 3xx" {
		t.Errorf("Status prints %q; want \"200 or 3xx\"", got)
	}
}

func TestJSONPath(t *testing.T) {
	var doc any = map[string]any{
		"status": "ok", "n": 3.5, "up": true, "none": nil,
		"items": []any{map[string]any{"id": 7.0}}, "obj": map[string]any{"a": 1.0},
	}
	for _, tt := range []struct {
		path string
		want string
		ok   bool
	}{
		{"status", "ok", true},
		{"n", "3.5", true},
		{"up", "true", true},
		{"none", "null", true},
		{"items.0.id", "7", true},
		{"obj", `{"a":1}`, true},
		{"items.1.id", "", false},
		{"items.x", "", false},
		{"missing", "", false},
		{"status.deeper", "", false},
	} {
		got, ok := probe.JSONPath(doc, tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("JSONPath(%q) = %q, %t; want %q, %t", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// newProbe returns a kind's new settings and expectations, decoded from
// YAML as an experiment file writes them, with the kind's defaults.
func newProbe(t *testing.T, kind, spec, expect string) (any, any) {
	t.Helper()
	k, ok := probe.Lookup(kind)
	if !ok {
		t.Fatalf("no %s probe", kind)
	}
	s, e := k.New()
	if d, ok := s.(interface{ SetDefaults() }); ok {
		d.SetDefaults()
	}
	if err := yaml.Unmarshal([]byte(spec), s); err != nil {
		t.Fatalf("decode %s settings %s: %v", kind, spec, err)
	}
	if expect != "" {
		if err := yaml.Unmarshal([]byte(expect), e); err != nil {
			t.Fatalf("decode %s expectations %s: %v", kind, expect, err)
		}
	}
	return s, e
}

// The HTTP probe judges each expectation against a real server, and says
// which one failed with the numbers.
func TestHTTPJudge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			io.WriteString(w, `{"status": "ok", "queue": 12, "items": [{"id": "a"}]}`)
		case "/slow":
			time.Sleep(150 * time.Millisecond)
			io.WriteString(w, "slow")
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "short and stout")
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name   string
		path   string
		expect string
		reason string // "" for a pass
	}{
		{"any 2xx by default", "/health", "", ""},
		{"status mismatch", "/teapot", "", "status 418, want 2xx"},
		{"status listed", "/teapot", "{status: [200, 418]}", ""},
		{"redirects are not followed", "/moved", "{status: 302}", ""},
		{"body contains", "/health", "{body_contains: ok}", ""},
		{"body does not contain", "/teapot", "{status: 418, body_contains: tall}", `body does not contain "tall": "short and stout"`},
		{"body regex", "/teapot", `{status: 4xx, body_regex: "^short.*stout$"}`, ""},
		{"body regex fails", "/teapot", `{status: 4xx, body_regex: "^tall"}`, `body does not match "^tall": "short and stout"`},
		{"json fields", "/health", `{json: {status: ok, queue: "< 20", items.0.id: a}}`, ""},
		{"json fields fail, all of them told", "/health", `{json: {status: down, queue: "< 10", gone: x}}`,
			`JSON field gone is missing, JSON field queue is 12, want < 10, JSON field status is ok, want "down"`},
		{"json of a body that is not", "/teapot", `{status: 418, json: {a: b}}`, `body is not JSON: "short and stout"`},
		{"latency holds", "/health", `{latency: "< 10s"}`, ""},
		{"latency fails", "/slow", `{latency: "< 100ms"}`, "latency "},
		{"an error expected but an answer came", "/health", "{error: any}", "GET " + srv.URL + "/health answered 200, want an error (any)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec, expect := newProbe(t, "http", fmt.Sprintf("{url: %q}", srv.URL+tt.path), tt.expect)
			res := probe.Run(context.Background(), "http", spec, expect)
			if res.Err != nil {
				t.Fatalf("Run = %+v; want an observation", res)
			}
			if tt.reason == "" && !res.OK {
				t.Errorf("Run(%s, %s) failed: %s; want a pass", tt.path, tt.expect, res.Reason)
			}
			if tt.reason != "" && (res.OK || !strings.Contains(res.Reason, tt.reason)) {
				t.Errorf("Run(%s, %s) = ok %t, %q; want a failure saying %q", tt.path, tt.expect, res.OK, res.Reason, tt.reason)
			}
		})
	}

	// What a step exposes: status, body, latency and the top-level JSON
	// fields.
	spec, expect := newProbe(t, "http", fmt.Sprintf("{url: %q}", srv.URL+"/health"), "")
	res := probe.Run(context.Background(), "http", spec, expect)
	if res.Output["status"] != "200" || res.Output["json.status"] != "ok" || res.Output["json.queue"] != "12" || res.Observed["status"] != "200" || res.Observed["latency"] == "" {
		t.Errorf("Run(/health) observed %v, output %v; want status, latency and JSON fields", res.Observed, res.Output)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// An HTTP probe can expect the request to fail: a way to check that a
// dependency is cut.
func TestHTTPExpectError(t *testing.T) {
	url := "http://" + closedAddr(t) + "/"
	for _, tt := range []struct {
		expect string
		ok     bool
	}{
		{"", false},
		{"{error: any}", true},
		{"{error: connection refused}", true},
		{"{error: timed out}", false},
	} {
		spec, expect := newProbe(t, "http", fmt.Sprintf("{url: %q}", url), tt.expect)
		res := probe.Run(context.Background(), "http", spec, expect)
		if res.OK != tt.ok || res.Observed["error"] != "connection refused" {
			t.Errorf("Run(refused, %q) = ok %t, observed %v, %q; want ok %t, observed error: connection refused", tt.expect, res.OK, res.Observed, res.Reason, tt.ok)
		}
	}
}

// A request cut short by its caller (a recovery deadline, an interrupted
// run) is no answer from the system: it does not show the failure error
// expects. Only the probe's own timeout is an observation of "timed out".
func TestHTTPExpectErrorNotFromCaller(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	for _, tt := range []struct {
		name, spec, expect string
		callerLimit        time.Duration
		ok                 bool
	}{
		{"own timeout", `timeout: 200ms`, "{error: timed out}", 0, true},
		{"own timeout, any error", `timeout: 200ms`, "{error: any}", 0, true},
		{"caller's deadline", `timeout: 5s`, "{error: timed out}", 200 * time.Millisecond, false},
		{"caller's deadline, any error", `timeout: 5s`, "{error: any}", 200 * time.Millisecond, false},
		{"caller canceled, any error", `timeout: 5s`, "{error: any}", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec, expect := newProbe(t, "http", fmt.Sprintf("{url: %q, %s}", hang.URL, tt.spec), tt.expect)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch {
			case tt.callerLimit > 0:
				ctx, cancel = context.WithTimeout(ctx, tt.callerLimit)
				defer cancel()
			case tt.callerLimit < 0:
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			res := probe.Run(ctx, "http", spec, expect)
			if res.OK != tt.ok || res.Err != nil {
				t.Errorf("Run(%s, %s) = ok %t, %q, err %v; want ok %t, an observation", tt.spec, tt.expect, res.OK, res.Reason, res.Err, tt.ok)
			}
		})
	}
}

// Each probe opens a connection of its own: one kept alive from an
// earlier probe would still be answered by a server that no longer
// accepts connections (its listener gone, its file descriptors spent, its
// accept loop stuck), while every new client fails.
func TestHTTPProbeNewConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	spec, expect := newProbe(t, "http", fmt.Sprintf("{url: %q}", srv.URL), "")
	if res := probe.Run(context.Background(), "http", spec, expect); !res.OK {
		t.Fatalf("first Run = %q; want a pass", res.Reason)
	}
	// The server answers on the connections it has, and accepts no more.
	srv.Listener.Close()
	res := probe.Run(context.Background(), "http", spec, expect)
	if res.OK || res.Observed["error"] != "connection refused" {
		t.Errorf("Run after the server stopped accepting = ok %t, observed %v, %q; want a failure, connection refused", res.OK, res.Observed, res.Reason)
	}
}

// A request that cannot be built is no observation.
func TestHTTPBadRequest(t *testing.T) {
	spec, expect := newProbe(t, "http", `{url: "http://127.0.0.1:1/", method: "BAD METHOD"}`, "")
	res := probe.Run(context.Background(), "http", spec, expect)
	if res.OK || res.Err == nil {
		t.Errorf("Run(bad method) = %+v; want an error", res)
	}
}

// tcpServer listens on loopback and hands each connection it accepts to
// serve, which owns it.
func tcpServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l.Addr().String()
}

func TestTCPJudge(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	// A server that waits for its client to speak, as most do.
	addr := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	spec, expect := newProbe(t, "tcp", fmt.Sprintf("{address: %q}", addr), "")
	if res := probe.Run(context.Background(), "tcp", spec, expect); !res.OK || res.Observed["latency"] == "" {
		t.Errorf("Run(tcp to a listener) = %+v; want a pass with its latency", res)
	}
	spec, expect = newProbe(t, "tcp", fmt.Sprintf("{address: %q}", addr), `{latency: "< 0s"}`)
	if res := probe.Run(context.Background(), "tcp", spec, expect); res.OK || !strings.HasPrefix(res.Reason, "connect took ") {
		t.Errorf("Run(tcp, latency < 0s) = %+v; want a failure on latency", res)
	}
	addr = closedAddr(t)
	spec, expect = newProbe(t, "tcp", fmt.Sprintf("{address: %q}", addr), "")
	if res := probe.Run(context.Background(), "tcp", spec, expect); res.OK || res.Err != nil || res.Reason != "connect "+addr+": connection refused" {
		t.Errorf("Run(tcp to a closed port) = %+v; want a failed observation, connection refused", res)
	}
}

// A proxy, a load balancer or Docker's port proxy accepts a connection
// before it reaches its backend, and closes or resets it when the backend
// is down: the connect alone passed for a service that was gone. A server
// that speaks first and then closes has answered.
func TestTCPClosedAtOnce(t *testing.T) {
	backend := closedAddr(t)
	proxy := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		if b, err := net.Dial("tcp", backend); err == nil {
			b.Close()
		}
	})
	reset := tcpServer(t, func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	banner := tcpServer(t, func(c net.Conn) {
		io.WriteString(c, "220 ready\r\n")
		c.Close()
	})
	for _, tt := range []struct {
		name, addr, want string
	}{
		{"proxy to a dead backend", proxy, "accepted, then closed at once"},
		{"reset", reset, "reset"},
		{"banner", banner, ""},
	} {
		spec, expect := newProbe(t, "tcp", fmt.Sprintf("{address: %q}", tt.addr), "")
		res := probe.Run(context.Background(), "tcp", spec, expect)
		switch {
		case tt.want == "" && !res.OK:
			t.Errorf("%s: Run = %q; want a pass: the server answered", tt.name, res.Reason)
		case tt.want != "" && (res.OK || res.Err != nil || !strings.Contains(res.Reason, tt.want)):
			t.Errorf("%s: Run = ok %v, err %v, %q; want a failed observation saying %q", tt.name, res.OK, res.Err, res.Reason, tt.want)
		}
	}
}

// The exec probe judges the exit code (0 unless told), stdout and stderr,
// and exposes them to later steps.
func TestExecJudge(t *testing.T) {
	for _, tt := range []struct {
		name   string
		run    string
		expect string
		reason string
	}{
		{"exit 0 by default", "echo hello", "", ""},
		{"exit code fails", "echo oops >&2; exit 3", "", "exit code 3, want == 0 (stderr: oops)"},
		{"exit code condition", "exit 3", `{exit_code: ">= 1"}`, ""},
		{"exit code exact", "exit 3", `{exit_code: 2}`, "exit code 3, want == 2"},
		{"stdout contains", "echo hello world", "{stdout_contains: world}", ""},
		{"stdout does not contain", "echo hello", "{stdout_contains: world}", `stdout does not contain "world": "hello"`},
		{"stdout regex", "echo count=42", `{stdout_regex: "count=[0-9]+"}`, ""},
		{"stdout regex fails", "echo count=x", `{stdout_regex: "count=[0-9]+"}`, `stdout does not match "count=[0-9]+": "count=x"`},
		{"stderr contains", "echo warned >&2", "{stderr_contains: warn}", ""},
		{"stderr does not contain", "true", "{stderr_contains: warn}", `stderr does not contain "warn": (empty)`},
		{"stdout value", "echo lag=3", `{stdout_value: {match: "lag=([^ ]+)", value: "< 5"}}`, ""},
		{"stdout value NaN holds nothing", "echo lag=NaN", `{stdout_value: {match: "lag=([^ ]+)", value: "!= 0"}}`, `stdout's match of "lag=([^ ]+)" is NaN, want != 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec, expect := newProbe(t, "exec", fmt.Sprintf("{run: [%q], shell: true}", tt.run), tt.expect)
			res := probe.Run(context.Background(), "exec", spec, expect)
			if res.Err != nil {
				t.Fatalf("Run = %+v; want an observation", res)
			}
			if tt.reason == "" && !res.OK {
				t.Errorf("Run(%q, %s) failed: %s; want a pass", tt.run, tt.expect, res.Reason)
			}
			if tt.reason != "" && (res.OK || res.Reason != tt.reason) {
				t.Errorf("Run(%q, %s) = ok %t, %q; want a failure saying %q", tt.run, tt.expect, res.OK, res.Reason, tt.reason)
			}
		})
	}
	spec, expect := newProbe(t, "exec", `{run: ["echo out; echo err >&2; exit 4"], shell: true}`, `{exit_code: 4}`)
	res := probe.Run(context.Background(), "exec", spec, expect)
	if !res.OK || res.Output["stdout"] != "out" || res.Output["stderr"] != "err" || res.Output["exit_code"] != "4" || res.Observed["exit_code"] != "4" {
		t.Errorf("Run = %+v; want stdout, stderr and exit code exposed", res)
	}
}

// A command still running at its timeout is killed with all it started,
// and is a failed observation.
func TestExecTimeout(t *testing.T) {
	spec, expect := newProbe(t, "exec", `{run: ["sleep 30 & sleep 30"], shell: true, timeout: 300ms}`, "")
	start := time.Now()
	res := probe.Run(context.Background(), "exec", spec, expect)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %s with a 300ms timeout; want the command and its children killed", took)
	}
	if res.OK || res.Err != nil || !strings.Contains(res.Reason, "still running after 300ms, killed") {
		t.Errorf("Run(timeout) = %+v; want a failed observation saying it was killed", res)
	}
}

// The timeout bounds the connect: a short one (set to judge a fast
// connect) does not cut short the wait in which a proxy whose backend is
// down closes the connection it accepted, and a probe whose caller gives
// up during that wait has not seen the connection stay open.
func TestTCPShortTimeoutStillWatches(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	// A proxy whose backend takes 40ms to be found down.
	proxy := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		select {
		case <-done:
		case <-time.After(40 * time.Millisecond):
		}
	})
	spec, expect := newProbe(t, "tcp", fmt.Sprintf("{address: %q, timeout: 20ms}", proxy), "")
	if res := probe.Run(context.Background(), "tcp", spec, expect); res.OK || !strings.Contains(res.Reason, "accepted, then closed at once") {
		t.Errorf("Run(tcp, timeout 20ms, to a proxy that closes after 40ms) = ok %v, %q; want a failure: it closed within the wait", res.OK, res.Reason)
	}
	open := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		<-done
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	spec, expect = newProbe(t, "tcp", fmt.Sprintf("{address: %q}", open), "")
	if res := probe.Run(ctx, "tcp", spec, expect); res.OK {
		t.Errorf("Run(tcp, its caller gone 30ms in) = %+v; want no pass: the connection was not watched", res)
	}
}
