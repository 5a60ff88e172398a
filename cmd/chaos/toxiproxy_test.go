package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// syncBuffer is a bytes.Buffer safe to write from the command and read
// from the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChaosProxy runs `chaos proxy ARGS --api 127.0.0.1:0` in-process and
// returns the address of its API once it listens; the command is stopped,
// as by Ctrl-C, when the test ends.
func startChaosProxy(t *testing.T, args ...string) string {
	t.Helper()
	io, _, _ := testStdio()
	errb := &syncBuffer{}
	io.err = errb
	sigs := make(chan os.Signal, 1)
	io.signals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"proxy", "--api", "127.0.0.1:0"}, args...), io) }()
	t.Cleanup(func() {
		sigs <- os.Interrupt
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("chaos proxy exited %d\n%s", code, errb.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("chaos proxy did not stop within 20s")
		}
	})
	re := regexp.MustCompile(`API on http://(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("chaos proxy exited %d before it listened\n%s", code, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("chaos proxy did not announce its API within 10s\n%s", errb.String())
	return ""
}

// upstreams are the servers behind the proxies: echo copies back, sink
// counts what it receives, and send writes 50,000 bytes and closes.
type upstreams struct {
	echo, sink, send, web string
	mu                    sync.Mutex
	sunk                  int
}

func startUpstreams(t *testing.T) *upstreams {
	u := &upstreams{}
	u.echo = serveConns(t, func(c net.Conn) { io.Copy(c, c) })
	u.sink = serveConns(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		u.mu.Lock()
		u.sunk += int(n)
		u.mu.Unlock()
	})
	u.send = serveConns(t, func(c net.Conn) { c.Write(bytes.Repeat([]byte("x"), 50_000)) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "upstream") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	u.web = ln.Addr().String()
	return u
}

func (u *upstreams) received() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sunk
}

func serveConns(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
				c.Close()
				mu.Lock()
				delete(open, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoTrip sends msg through c to an echo upstream and returns how long
// the reply took.
func echoTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: read %q, %v", msg, got, err)
	}
	c.SetReadDeadline(time.Time{})
	return time.Since(start)
}

func readToEnd(c net.Conn, within time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(within))
	return io.ReadAll(c)
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func apiErr(err error) *toxiproxy.ApiError {
	var ae *toxiproxy.ApiError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// TestToxiproxyGoClient drives chaos proxy with Toxiproxy's own Go client,
// through every endpoint and toxic, and checks each toxic on real
// traffic.
func TestToxiproxyGoClient(t *testing.T) {
	u := startUpstreams(t)
	api := startChaosProxy(t)
	client := toxiproxy.NewClient(api)

	v, err := client.Version()
	if err != nil || !strings.Contains(string(v), `"version"`) {
		t.Fatalf("Version() = %s, %v", v, err)
	}

	echo, err := client.CreateProxy("echo", "127.0.0.1:0", u.echo)
	if err != nil {
		t.Fatalf("CreateProxy = %v", err)
	}
	if !echo.Enabled || strings.HasSuffix(echo.Listen, ":0") {
		t.Fatalf("created proxy = %+v; want enabled on a port of its own", echo)
	}
	c := dialT(t, echo.Listen)
	base := echoTrip(t, c, "hello")

	t.Run("errors", func(t *testing.T) {
		_, err := client.CreateProxy("echo", "127.0.0.1:0", u.echo)
		if ae := apiErr(err); ae == nil || ae.Status != 409 || ae.Message != "proxy already exists" {
			t.Errorf("second CreateProxy = %v; want HTTP 409 proxy already exists", err)
		}
		_, err = client.Proxy("nope")
		if ae := apiErr(err); ae == nil || ae.Status != 404 || ae.Message != "proxy not found" {
			t.Errorf("Proxy(nope) = %v; want HTTP 404 proxy not found", err)
		}
		_, err = client.CreateProxy("nameless", "127.0.0.1:0", "")
		if ae := apiErr(err); ae == nil || ae.Status != 400 || ae.Message != "missing required field: upstream" {
			t.Errorf("CreateProxy without upstream = %v", err)
		}
		_, err = echo.AddToxic("", "latnecy", "", 1, nil)
		if ae := apiErr(err); ae == nil || ae.Status != 400 || !strings.HasPrefix(ae.Message, "invalid toxic type") {
			t.Errorf("AddToxic(latnecy) = %v; want 400 invalid toxic type", err)
		}
		_, err = echo.AddToxic("", "latency", "sideways", 1, nil)
		if ae := apiErr(err); ae == nil || ae.Status != 400 || !strings.HasPrefix(ae.Message, "stream was invalid") {
			t.Errorf("AddToxic(stream sideways) = %v", err)
		}
		_, err = echo.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latancy": 5})
		if ae := apiErr(err); ae == nil || ae.Status != 400 || !strings.Contains(ae.Message, `has no attribute "latancy"`) {
			t.Errorf("AddToxic with a misspelt attribute = %v; want 400 naming it", err)
		}
		_, err = echo.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": -5})
		if ae := apiErr(err); ae == nil || ae.Status != 400 {
			t.Errorf("AddToxic with a negative latency = %v; want 400", err)
		}
		_, err = echo.UpdateToxic("ghost", 1, toxiproxy.Attributes{"latency": 5})
		if ae := apiErr(err); ae == nil || ae.Status != 404 || ae.Message != "toxic not found" {
			t.Errorf("UpdateToxic(ghost) = %v", err)
		}
		if err := echo.RemoveToxic("ghost"); apiErr(err) == nil || apiErr(err).Status != 404 {
			t.Errorf("RemoveToxic(ghost) = %v", err)
		}
		if ts, _ := echo.Toxics(); len(ts) != 0 {
			t.Errorf("failed calls left toxics: %+v", ts)
		}
	})

	t.Run("latency", func(t *testing.T) {
		tx, err := echo.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": 200, "jitter": 0})
		if err != nil {
			t.Fatal(err)
		}
		if tx.Name != "latency_downstream" || tx.Stream != "downstream" || tx.Toxicity != 1 || tx.Attributes["latency"] != float64(200) {
			t.Errorf("AddToxic answered %+v", tx)
		}
		if d := echoTrip(t, c, "slow"); d < 190*time.Millisecond {
			t.Errorf("round trip with latency 200ms downstream took %v", d)
		}
		// A second latency toxic, upstream, adds to the first.
		if _, err := echo.AddToxic("up", "latency", "upstream", 1, toxiproxy.Attributes{"latency": 100}); err != nil {
			t.Fatal(err)
		}
		if d := echoTrip(t, c, "slower"); d < 290*time.Millisecond {
			t.Errorf("round trip with 200ms down and 100ms up took %v", d)
		}
		ts, err := echo.Toxics()
		if err != nil || len(ts) != 2 || ts[0].Name != "up" || ts[1].Name != "latency_downstream" {
			t.Errorf("Toxics() = %+v, %v; want the upstream toxic first", ts, err)
		}
		tx, err = echo.UpdateToxic("latency_downstream", -1, toxiproxy.Attributes{"latency": 0})
		if err != nil || tx.Attributes["latency"] != float64(0) || tx.Toxicity != 1 {
			t.Fatalf("UpdateToxic = %+v, %v", tx, err)
		}
		if err := echo.RemoveToxic("up"); err != nil {
			t.Fatal(err)
		}
		if d := echoTrip(t, c, "fast"); d > base+150*time.Millisecond {
			t.Errorf("round trip after updating to 0 and removing the other took %v", d)
		}
		if err := echo.RemoveToxic("latency_downstream"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("toxicity is per connection", func(t *testing.T) {
		if _, err := echo.AddToxic("half", "latency", "downstream", 0.5, toxiproxy.Attributes{"latency": 300}); err != nil {
			t.Fatal(err)
		}
		defer echo.RemoveToxic("half")
		slow, fast := 0, 0
		for range 24 {
			conn := dialT(t, echo.Listen)
			first := echoTrip(t, conn, "a")
			second := echoTrip(t, conn, "b")
			conn.Close()
			switch {
			case first >= 290*time.Millisecond && second >= 290*time.Millisecond:
				slow++
			case first < 250*time.Millisecond && second < 250*time.Millisecond:
				fast++
			default:
				t.Errorf("one connection was slow once and fast once: %v, %v", first, second)
			}
		}
		if slow < 3 || fast < 3 {
			t.Errorf("toxicity 0.5: %d slow connections, %d fast; want some of each", slow, fast)
		}
		tx, err := echo.UpdateToxic("half", 0, nil)
		if err != nil || tx.Toxicity != 0 {
			t.Fatalf("UpdateToxic(toxicity 0) = %+v, %v", tx, err)
		}
		for range 5 {
			if d := echoTrip(t, dialT(t, echo.Listen), "z"); d > 250*time.Millisecond {
				t.Errorf("toxicity 0: a round trip took %v", d)
			}
		}
	})

	send, err := client.CreateProxy("send", "127.0.0.1:0", u.send)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := client.CreateProxy("sink", "127.0.0.1:0", u.sink)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("bandwidth", func(t *testing.T) {
		if _, err := send.AddToxic("bw", "bandwidth", "", 1, toxiproxy.Attributes{"rate": 100}); err != nil {
			t.Fatal(err)
		}
		defer send.RemoveToxic("bw")
		start := time.Now()
		b, err := readToEnd(dialT(t, send.Listen), 10*time.Second)
		if err != nil || len(b) != 50_000 {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
		// 50,000 bytes at 100 KB/s (100,000 bytes/s): 0.5 s.
		if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
			t.Errorf("50 kB at 100 KB/s took %v; want about 500ms", d)
		}
	})

	t.Run("slow_close", func(t *testing.T) {
		if _, err := send.AddToxic("", "slow_close", "", 1, toxiproxy.Attributes{"delay": 300}); err != nil {
			t.Fatal(err)
		}
		defer send.RemoveToxic("slow_close_downstream")
		conn := dialT(t, send.Listen)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(conn, make([]byte, 50_000)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := readToEnd(conn, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("the close came %v after the data; want about 300ms", d)
		}
	})

	t.Run("limit_data", func(t *testing.T) {
		if _, err := send.AddToxic("", "limit_data", "", 1, toxiproxy.Attributes{"bytes": 1000}); err != nil {
			t.Fatal(err)
		}
		b, err := readToEnd(dialT(t, send.Listen), 10*time.Second)
		if err != nil || len(b) != 1000 {
			t.Errorf("read %d bytes, %v; want 1000 then the end", len(b), err)
		}
		send.RemoveToxic("limit_data_downstream")
		// Upstream: the sink gets 10 of the bytes sent.
		if _, err := sink.AddToxic("", "limit_data", "upstream", 1, toxiproxy.Attributes{"bytes": 10}); err != nil {
			t.Fatal(err)
		}
		defer sink.RemoveToxic("limit_data_upstream")
		before := u.received()
		conn := dialT(t, sink.Listen)
		conn.Write(bytes.Repeat([]byte("y"), 100))
		readToEnd(conn, 5*time.Second)
		waitFor(t, "the sink to count", func() bool { return u.received()-before == 10 })
	})

	t.Run("slicer", func(t *testing.T) {
		if _, err := send.AddToxic("", "slicer", "", 1, toxiproxy.Attributes{"average_size": 1000, "size_variation": 100, "delay": 2000}); err != nil {
			t.Fatal(err)
		}
		defer send.RemoveToxic("slicer_downstream")
		conn := dialT(t, send.Listen)
		start := time.Now()
		reads, total := 0, 0
		buf := make([]byte, 64<<10)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			n, err := conn.Read(buf)
			total += n
			reads++
			if err != nil {
				break
			}
		}
		// 50 slices 2 ms (2000 µs) apart.
		if d := time.Since(start); total != 50_000 || reads < 10 || d < 80*time.Millisecond {
			t.Errorf("read %d bytes in %d reads over %v; want 50000 in about 50 slices over 100ms", total, reads, d)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		conn := dialT(t, echo.Listen)
		echoTrip(t, conn, "before")
		if _, err := echo.AddToxic("", "timeout", "upstream", 1, toxiproxy.Attributes{"timeout": 0}); err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("lost"))
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := conn.Read(make([]byte, 8)); !isTimeoutErr(err) {
			t.Errorf("read under timeout 0 = %v; want nothing", err)
		}
		if err := echo.RemoveToxic("timeout_upstream"); err != nil {
			t.Fatal(err)
		}
		// As in Toxiproxy, removing a timeout closes the connections it stopped.
		if b, err := readToEnd(conn, 5*time.Second); len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("after the timeout went: read %q, %v; want the connection closed", b, err)
		}
		// With a timeout, the connection closes by itself.
		if _, err := echo.AddToxic("", "timeout", "", 1, toxiproxy.Attributes{"timeout": 200}); err != nil {
			t.Fatal(err)
		}
		defer echo.RemoveToxic("timeout_downstream")
		conn = dialT(t, echo.Listen)
		start := time.Now()
		conn.Write([]byte("ping"))
		if b, err := readToEnd(conn, 5*time.Second); len(b) != 0 || err != nil {
			t.Errorf("under timeout 200: read %q, %v; want nothing, then the end", b, err)
		}
		if d := time.Since(start); d < 180*time.Millisecond {
			t.Errorf("timeout 200 closed after %v", d)
		}
	})

	t.Run("reset_peer", func(t *testing.T) {
		if _, err := echo.AddToxic("", "reset_peer", "upstream", 1, toxiproxy.Attributes{"timeout": 100}); err != nil {
			t.Fatal(err)
		}
		defer echo.RemoveToxic("reset_peer_upstream")
		conn := dialT(t, echo.Listen)
		start := time.Now()
		conn.Write([]byte("ping"))
		if _, err := readToEnd(conn, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read under reset_peer = %v; want connection reset", err)
		}
		if d := time.Since(start); d < 90*time.Millisecond {
			t.Errorf("reset after %v; want about 100ms", d)
		}
	})

	t.Run("down", func(t *testing.T) {
		conn := dialT(t, echo.Listen)
		echoTrip(t, conn, "up")
		if err := echo.Disable(); err != nil {
			t.Fatal(err)
		}
		if _, err := readToEnd(conn, 5*time.Second); isTimeoutErr(err) {
			t.Errorf("an open connection survived Disable")
		}
		if _, err := net.Dial("tcp", echo.Listen); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial a disabled proxy = %v; want connection refused", err)
		}
		if p, _ := client.Proxy("echo"); p == nil || p.Enabled {
			t.Errorf("Proxy(echo) after Disable = %+v", p)
		}
		if err := echo.Enable(); err != nil {
			t.Fatal(err)
		}
		echoTrip(t, dialT(t, echo.Listen), "back")
	})

	t.Run("populate and proxies", func(t *testing.T) {
		cfg := []toxiproxy.Proxy{
			{Name: "pop1", Listen: "127.0.0.1:0", Upstream: u.echo, Enabled: true},
			{Name: "pop2", Listen: "127.0.0.1:0", Upstream: u.echo, Enabled: false},
		}
		ps, err := client.Populate(cfg)
		if err != nil || len(ps) != 2 || !ps[0].Enabled || ps[1].Enabled {
			t.Fatalf("Populate = %+v, %v", ps, err)
		}
		echoTrip(t, dialT(t, ps[0].Listen), "populated")
		// The same again keeps pop1 as it is: its listen, as resolved, is the same.
		again, err := client.Populate([]toxiproxy.Proxy{{Name: "pop1", Listen: ps[0].Listen, Upstream: u.echo, Enabled: true}})
		if err != nil || len(again) != 1 || again[0].Listen != ps[0].Listen {
			t.Errorf("second Populate = %+v, %v", again, err)
		}
		_, err = client.Populate([]toxiproxy.Proxy{{Name: "ok", Upstream: u.echo}, {Name: "bad"}})
		if ae := apiErr(err); ae == nil || ae.Status != 400 || ae.Message != "missing required field: upstream at proxy 2" {
			t.Errorf("Populate with a proxy without upstream = %v", err)
		}
		all, err := client.Proxies()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"echo", "send", "sink", "pop1", "pop2"} {
			if all[name] == nil {
				t.Errorf("Proxies() has no %s: %v", name, all)
			}
		}
		if all["ok"] != nil {
			t.Error("a Populate refused as a whole created a proxy")
		}
		if err := all["pop2"].Delete(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Proxy("pop2"); apiErr(err) == nil || apiErr(err).Status != 404 {
			t.Errorf("Proxy(pop2) after Delete = %v; want 404", err)
		}
		// Save changes the upstream: the proxy restarts towards it.
		pop1 := all["pop1"]
		pop1.Upstream = u.send
		if err := pop1.Save(); err != nil {
			t.Fatal(err)
		}
		if b, _ := readToEnd(dialT(t, pop1.Listen), 5*time.Second); len(b) != 50_000 {
			t.Errorf("after Save with a new upstream read %d bytes; want the sender's 50000", len(b))
		}
	})

	t.Run("client helpers and reset", func(t *testing.T) {
		_, err := client.AddToxic(&toxiproxy.ToxicOptions{ProxyName: "echo", ToxicName: "l", ToxicType: "latency", Stream: "upstream", Toxicity: 1, Attributes: toxiproxy.Attributes{"latency": 250}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.UpdateToxic(&toxiproxy.ToxicOptions{ProxyName: "echo", ToxicName: "l", Toxicity: 1, Attributes: toxiproxy.Attributes{"latency": 300}}); err != nil {
			t.Fatal(err)
		}
		if d := echoTrip(t, dialT(t, echo.Listen), "x"); d < 290*time.Millisecond {
			t.Errorf("round trip after updating to 300ms took %v", d)
		}
		if err := client.RemoveToxic(&toxiproxy.ToxicOptions{ProxyName: "echo", ToxicName: "l"}); err != nil {
			t.Fatal(err)
		}
		echo.AddToxic("again", "latency", "", 1, toxiproxy.Attributes{"latency": 300})
		echo.Disable()
		if err := client.ResetState(); err != nil {
			t.Fatal(err)
		}
		p, err := client.Proxy("echo")
		if err != nil || !p.Enabled || len(p.ActiveToxics) != 0 {
			t.Errorf("after ResetState: %+v, %v; want enabled without toxics", p, err)
		}
		if d := echoTrip(t, dialT(t, echo.Listen), "x"); d > 250*time.Millisecond {
			t.Errorf("round trip after ResetState took %v", d)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("waited 5s for %s", what)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The extensions: HTTP toxics on a proxy created with protocol http, and
// toxics declared in the config file.
func TestToxiproxyExtensions(t *testing.T) {
	u := startUpstreams(t)
	cfg := filepath.Join(t.TempDir(), "proxies.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[
	  {"name": "web", "listen": "127.0.0.1:0", "upstream": %q, "protocol": "http",
	   "toxics": [{"type": "http_error", "attributes": {"status": 503, "body": "injected", "path_prefix": "/pay"}}]},
	  {"name": "slow", "listen": "127.0.0.1:0", "upstream": %q,
	   "toxics": [{"name": "lag", "type": "latency", "stream": "upstream", "attributes": {"latency": 200}}]}
	]`, u.web, u.echo)), 0o644)
	api := startChaosProxy(t, "--config", cfg)
	client := toxiproxy.NewClient(api)
	web, err := client.Proxy("web")
	if err != nil || len(web.ActiveToxics) != 1 || web.ActiveToxics[0].Name != "http_error_downstream" {
		t.Fatalf("Proxy(web) = %+v, %v", web, err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + web.Listen + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/pay"); code != 503 || body != "injected" {
		t.Errorf("GET /pay = %d %q; want the injected 503", code, body)
	}
	if code, body := get("/cart"); code != 200 || body != "upstream" {
		t.Errorf("GET /cart = %d %q; want the upstream's answer", code, body)
	}
	if _, err := web.AddToxic("d", "http_delay", "", 1, toxiproxy.Attributes{"delay": 200, "method": "GET"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	get("/cart")
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("GET under http_delay 200 took %v", d)
	}

	slow, err := client.Proxy("slow")
	if err != nil {
		t.Fatal(err)
	}
	if d := echoTrip(t, dialT(t, slow.Listen), "x"); d < 190*time.Millisecond {
		t.Errorf("round trip through a proxy with latency from the config took %v", d)
	}
	// HTTP toxics need an HTTP proxy.
	_, err = slow.AddToxic("", "http_error", "", 1, toxiproxy.Attributes{"status": 500})
	if ae := apiErr(err); ae == nil || ae.Status != 400 || !strings.Contains(ae.Message, `"protocol": "http"`) {
		t.Errorf("http_error on a tcp proxy = %v; want 400", err)
	}
	// down as a toxic, with toxicity: some connections are reset.
	if _, err := slow.AddToxic("", "down", "", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", slow.Listen); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial under the down toxic = %v; want refused", err)
	}
}

// TestToxiproxyNodeClient runs the npm toxiproxy-node-client against chaos
// proxy (testdata/toxiproxy-node/client.test.mjs). It skips without node
// or without the package installed (scripts/node-deps.sh installs it),
// and fails instead when CHAOS_REQUIRE_NODE=1.
func TestToxiproxyNodeClient(t *testing.T) {
	dir := filepath.Join("testdata", "toxiproxy-node")
	skip := func(why string) {
		if os.Getenv("CHAOS_REQUIRE_NODE") == "1" {
			t.Fatalf("%s, and CHAOS_REQUIRE_NODE=1", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node not found: install Node.js 18 or newer to run Toxiproxy's Node client against chaos proxy")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "toxiproxy-node-client")); err != nil {
		skip("toxiproxy-node-client is not installed: run scripts/node-deps.sh")
	}
	u := startUpstreams(t)
	api := startChaosProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "client.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOXIPROXY_URL=http://"+api, "ECHO="+u.echo, "SEND="+u.send)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test client.test.mjs: %v\n%s", err, out)
	}
	// A run that found no test would pass too.
	if !bytes.Contains(out, []byte("ℹ pass 11\n")) || !bytes.Contains(out, []byte("ℹ fail 0\n")) {
		t.Fatalf("node ran other than the 11 tests of client.test.mjs, all passing:\n%s", out)
	}
	t.Logf("%s", out)
}

// --api LOCALHOST. is trusted as loopback, so it must be bound as
// loopback rather than looked up in DNS, which may point it anywhere.
func TestProxyAPILocalhostNameIsLoopback(t *testing.T) {
	for _, mode := range [][]string{nil, {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"}} {
		api := startChaosProxy(t, append(mode, "--api", "LOCALHOST.:0")...)
		if !strings.HasPrefix(api, "127.0.0.1:") {
			t.Errorf("chaos proxy %v --api LOCALHOST.:0 listens on %s", mode, api)
		}
	}
}

// startLinkProxy starts chaos proxy, with args, holding one HTTP proxy
// named link to the web upstream, and returns its API address.
func startLinkProxy(t *testing.T, args ...string) string {
	t.Helper()
	u := startUpstreams(t)
	cfg := filepath.Join(t.TempDir(), "proxies.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[{"name": "link", "listen": "127.0.0.1:0", "upstream": %q, "protocol": "http"}]`, u.web)), 0o644)
	return startChaosProxy(t, append([]string{"--config", cfg}, args...)...)
}

// An experiment's proxy target can be a proxy that a running chaos proxy
// (or Toxiproxy) holds: its faults become toxics through the API, the
// revert deletes them, and the ledger records the API and the toxic
// names, so that chaos recover deletes them after a crash.
func TestProxyTargetThroughAPI(t *testing.T) {
	api := startLinkProxy(t)
	client := toxiproxy.NewClient(api)
	link, err := client.Proxy("link")
	if err != nil {
		t.Fatal(err)
	}
	exp := fmt.Sprintf(`version: v1
title: Faults through the API
targets:
  link: {proxy: {api: "http://%[1]s", name: link}}
steady_state:
  - name: fast
    probe: {http: {url: "http://%[2]s/", timeout: 2s}}
    expect: {latency: "< 150ms"}
    when: [before, after]
method:
  - {fault: latency, target: link, with: {delay: 150ms, direction: both}}
  - name: slow both ways
    probe: {http: {url: "http://%[2]s/", timeout: 3s}}
    expect: {latency: ">= 290ms"}
  - wait: 1s
  - {fault: http_error, target: link, with: {status: 503, path_prefix: /pay}}
  - name: payments fail
    probe: {http: {url: "http://%[2]s/pay"}}
    expect: {status: 503}
  - {fault: down, target: link, for: 1s}
`, api, link.Listen)
	ledger := t.TempDir()
	done, _ := runAsync(t, exp, "--ledger", ledger)
	// While the latency is on, its toxics are listed and the ledger names them.
	var snapshot []byte
	waitFor(t, "the latency toxics", func() bool {
		ts, _ := link.Toxics()
		return len(ts) >= 2
	})
	ts, _ := link.Toxics()
	ts = ts[:2]
	entries, _ := filepath.Glob(filepath.Join(ledger, "*.json"))
	if len(entries) == 1 {
		snapshot, _ = os.ReadFile(entries[0])
	}
	for _, tx := range ts {
		if !strings.HasPrefix(tx.Name, "chaos-latency-") || tx.Type != "latency" || tx.Attributes["latency"] != float64(150) || !bytes.Contains(snapshot, []byte(`"`+tx.Name+`"`)) {
			t.Errorf("toxic %+v (ledger: %s)", tx, snapshot)
		}
	}
	if !bytes.Contains(snapshot, []byte(`"api": "http://`+api+`"`)) {
		t.Errorf("the ledger does not name the API:\n%s", snapshot)
	}
	r := waitRun(t, done, 0)
	if !strings.Contains(r.stderr, "fault.injected") || !strings.Contains(r.stderr, "down on proxy link") {
		t.Errorf("the run did not report its faults:\n%s", r.stderr)
	}
	// Everything was reverted: no toxics, the proxy enabled.
	p, err := client.Proxy("link")
	if err != nil || !p.Enabled || len(p.ActiveToxics) != 0 {
		t.Errorf("after the run: %+v, %v; want enabled with no toxics", p, err)
	}

	// A run that died with its faults on: the ledger as it was, and the
	// toxics still there. chaos recover deletes them.
	crashed := t.TempDir()
	os.WriteFile(filepath.Join(crashed, "crashed.json"), snapshot, 0o644)
	for _, tx := range ts {
		if _, err := link.AddToxic(tx.Name, tx.Type, tx.Stream, 1, tx.Attributes); err != nil {
			t.Fatal(err)
		}
	}
	io, out, errb := testStdio()
	if code := run([]string{"recover", "--force", "--ledger", crashed}, io); code != 0 {
		t.Fatalf("chaos recover exited %d\n%s\n%s", code, out, errb)
	}
	if left, _ := link.Toxics(); len(left) != 0 {
		t.Errorf("after chaos recover, toxics left: %+v", left)
	}

	// A name the server does not have fails the run before anything is injected.
	bad := strings.Replace(exp, "name: link}", "name: nope}", 1)
	done, _ = runAsync(t, bad)
	if r := waitRun(t, done, 4); !strings.Contains(r.stderr, "has no proxy of that name") {
		t.Errorf("a run against a missing proxy said:\n%s", r.stderr)
	}
}

// A toxic deleted by another client of the server (its reset between
// tests) ends the fault before the run reverts it: the run cannot tell
// when, so what its checks saw meanwhile does not count as the system
// coping with the fault, and the run is an error, not a pass. Another
// run's experiment that names the same proxy under another target name
// holds it all the same, and is refused while the first run's fault is on.
func TestProxyTargetThroughAPIShared(t *testing.T) {
	api := startLinkProxy(t)
	client := toxiproxy.NewClient(api)
	link, err := client.Proxy("link")
	if err != nil {
		t.Fatal(err)
	}
	exp := func(target, hold string) string {
		return fmt.Sprintf(`version: v1
title: Latency through a shared server
targets:
  %[3]s: {proxy: {api: "http://%[1]s", name: link}}
steady_state:
  - name: answers
    probe: {http: {url: "http://%[2]s/", timeout: 2s}}
    interval: 100ms
    expect: {latency: "< 1s"}
    when: [during]
method:
  - {fault: latency, target: %[3]s, with: {delay: 20ms}, for: %[4]s}
`, api, link.Listen, target, hold)
	}
	toxicOn := func() bool {
		ts, _ := link.Toxics()
		return len(ts) > 0
	}

	t.Run("reset by another client", func(t *testing.T) {
		done, _ := runAsync(t, exp("link", "2s"))
		waitFor(t, "the latency toxic", toxicOn)
		if err := client.ResetState(); err != nil {
			t.Fatal(err)
		}
		r := waitRun(t, done, exitErr)
		if !strings.Contains(r.stderr, "was gone before its revert came: toxic chaos-latency-") {
			t.Errorf("the run does not say its fault was gone before the revert:\n%s", r.stderr)
		}
	})

	t.Run("two runs", func(t *testing.T) {
		ledger := t.TempDir()
		first, _ := runAsync(t, exp("link", "3s"), "--ledger", ledger)
		waitFor(t, "the latency toxic", toxicOn)
		second, _ := runAsync(t, exp("shop", "100ms"), "--ledger", ledger)
		r := waitRun(t, second, exitErr)
		if !strings.Contains(r.stderr, "proxy link at http://"+api+" (through proxy shop ") || !strings.Contains(r.stderr, "is already changed by fault \"latency\" (step \"latency link\")") {
			t.Errorf("the second run was not refused for the proxy the first holds:\n%s", r.stderr)
		}
		waitRun(t, first, exitPassed)
		if toxicOn() {
			t.Error("toxics are left after both runs")
		}
	})
}

// A server that wants a token: the run's ledger keeps the token it used,
// so that the watchdog or chaos recover, which do not have the
// experiment's token:, still delete the toxics of a run that died.
func TestProxyTargetThroughAPIWithTokenRecovered(t *testing.T) {
	t.Setenv("CHAOS_PROXY_TOKEN", "")
	api := startLinkProxy(t, "--token", "s3cret")
	call := func(method, path string, body []byte) []byte {
		req, _ := http.NewRequest(method, "http://"+api+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		return b
	}
	toxics := func() []json.RawMessage {
		var ts []json.RawMessage
		json.Unmarshal(call("GET", "/proxies/link/toxics", nil), &ts)
		return ts
	}
	ledger := t.TempDir()
	done, signal := runAsync(t, fmt.Sprintf(`version: v1
title: Latency through a guarded API
targets:
  link: {proxy: {api: "http://%s", name: link, token: s3cret}}
method:
  - {fault: latency, target: link, with: {delay: 50ms}, for: 60s}
`, api), "--ledger", ledger)
	var snapshot []byte
	waitFor(t, "the latency toxic and its ledger", func() bool {
		entries, _ := filepath.Glob(filepath.Join(ledger, "*.json"))
		if len(entries) == 1 {
			snapshot, _ = os.ReadFile(entries[0])
		}
		return len(toxics()) > 0 && bytes.Contains(snapshot, []byte(`"action": "proxy.api.remove"`))
	})
	on := toxics()
	signal(os.Interrupt)
	waitRun(t, done, exitInterrupted)

	// The run died with the toxic on: its ledger as it was, the toxic back.
	crashed := t.TempDir()
	os.WriteFile(filepath.Join(crashed, "crashed.json"), snapshot, 0o644)
	for _, tx := range on {
		call("POST", "/proxies/link/toxics", tx)
	}
	if len(toxics()) == 0 {
		t.Fatal("the toxic could not be put back")
	}
	stdio, out, errb := testStdio()
	if code := run([]string{"recover", "--force", "--ledger", crashed}, stdio); code != 0 {
		t.Fatalf("chaos recover exited %d\n%s\n%s", code, out, errb)
	}
	if left := toxics(); len(left) != 0 {
		t.Errorf("after chaos recover, toxics left: %s", left)
	}
}
