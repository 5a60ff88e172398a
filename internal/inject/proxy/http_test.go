package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func httpBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	fmt.Fprint(w, "ok")
})

func client(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPErrorPercent(t *testing.T) {
	p := startProxy(t, httpBackend(t, okHandler), "http")
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 503, Body: "chaos"}, Percent: 0.3})
	c := client(t)
	const n = 2000
	errs := 0
	for range n {
		req, _ := http.NewRequest("GET", "http://"+p.Addr()+"/cart/42", nil)
		status, body := get(t, c, req)
		switch {
		case status == 503 && body == "chaos":
			errs++
		case status == 200 && body == "ok":
		default:
			t.Fatalf("GET = %d %q; want 200 \"ok\" or 503 \"chaos\"", status, body)
		}
	}
	if share := float64(errs) / n; share < 0.25 || share > 0.35 {
		t.Errorf("http_error at 30%% hit %d of %d requests (%.1f%%); want 30%% +- 5%%", errs, n, 100*share)
	}
	s := p.Snapshot().Stats
	if s.Requests != n || s.RequestsFaulted != int64(errs) {
		t.Errorf("Stats = %+v; want %d requests, %d faulted", s, n, errs)
	}
	// Synthetic replies keep the connection usable.
	if s.ConnectionsTotal > 4 {
		t.Errorf("%d connections for %d sequential requests; keep-alive was broken", s.ConnectionsTotal, n)
	}
}

func TestHTTPMatch(t *testing.T) {
	p := startProxy(t, httpBackend(t, okHandler), "http")
	for _, m := range []proxy.Match{
		{Method: "POST", PathPrefix: "/orders"},
		{PathRegex: `^/items/[0-9]+$`},
		{Header: "X-Chaos", HeaderValue: "yes"},
	} {
		mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 502, Match: m}})
	}
	tests := []struct {
		method, path, header string
		want                 int
	}{
		{"POST", "/orders", "", 502},
		{"GET", "/orders", "", 200},
		{"POST", "/cart", "", 200},
		{"GET", "/items/12?x=1", "", 502},
		{"GET", "/items/ab", "", 200},
		{"GET", "/", "yes", 502},
		{"GET", "/", "no", 200},
	}
	c := client(t)
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+p.Addr()+tt.path, strings.NewReader("body"))
		if tt.header != "" {
			req.Header.Set("X-Chaos", tt.header)
		}
		if got, _ := get(t, c, req); got != tt.want {
			t.Errorf("%s %s (X-Chaos: %q) = %d; want %d", tt.method, tt.path, tt.header, got, tt.want)
		}
	}
}

func TestHTTPDelay(t *testing.T) {
	p := startProxy(t, httpBackend(t, okHandler), "http")
	c := client(t)
	timed := func(path string) time.Duration {
		ds := make([]time.Duration, 9)
		for i := range ds {
			req, _ := http.NewRequest("GET", "http://"+p.Addr()+path, nil)
			start := time.Now()
			get(t, c, req)
			ds[i] = time.Since(start)
		}
		return median(ds)
	}
	base := timed("/slow")
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPDelay{Delay: 60 * time.Millisecond, Match: proxy.Match{PathPrefix: "/slow"}}})
	if added := timed("/slow") - base; added < 55*time.Millisecond || added > 80*time.Millisecond {
		t.Errorf("http_delay 60ms added %v to /slow", added)
	}
	if d := timed("/fast"); d > base+30*time.Millisecond {
		t.Errorf("/fast took %v with a delay on /slow only; baseline %v", d, base)
	}
}

func TestHTTPPassesTheRestUnchanged(t *testing.T) {
	second := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first;")
		w.(http.Flusher).Flush()
		select { // the client must see the first part before the second is written
		case <-second:
		case <-time.After(5 * time.Second):
			return
		}
		fmt.Fprint(w, "second")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-TE", strings.Join(r.TransferEncoding, ","))
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw)
	})
	p := startProxy(t, httpBackend(t, mux), "http")
	// A fault that matches nothing here keeps the HTTP path busy.
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 500, Match: proxy.Match{PathPrefix: "/nothing"}}})
	c := client(t)

	t.Run("streaming chunked reply", func(t *testing.T) {
		resp, err := c.Get("http://" + p.Addr() + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		first := make([]byte, len("first;"))
		if _, err := io.ReadFull(br, first); err != nil || string(first) != "first;" {
			t.Fatalf("first part = %q, %v", first, err)
		}
		close(second)
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "second" {
			t.Fatalf("second part = %q, %v", rest, err)
		}
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("TransferEncoding = %v; want chunked", resp.TransferEncoding)
		}
	})
	t.Run("chunked request body", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for i := range 100 {
				fmt.Fprintf(pw, "part %d;", i)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", "http://"+p.Addr()+"/echo", pr)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(b), "part 0;") || !strings.HasSuffix(string(b), "part 99;") || resp.Header.Get("X-Seen-TE") != "chunked" {
			t.Errorf("echo of a chunked body = %q (X-Seen-TE %q)", b, resp.Header.Get("X-Seen-TE"))
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", "http://"+p.Addr()+"/echo", nil)
		if status, _ := get(t, c, req); status != 200 {
			t.Errorf("HEAD = %d", status)
		}
		// The connection must still be in step after a reply without body.
		req, _ = http.NewRequest("POST", "http://"+p.Addr()+"/echo", strings.NewReader("after head"))
		if _, body := get(t, c, req); body != "after head" {
			t.Errorf("POST after HEAD = %q", body)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		conn := dial(t, p.Addr())
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade reply = %v, %v", resp, err)
		}
		// Not HTTP any more: raw bytes must come back as they are.
		const raw = "\x00raw\xffbytes"
		fmt.Fprint(conn, raw)
		got := make([]byte, len(raw))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != raw {
			t.Fatalf("after upgrade read %q, %v", got, err)
		}
	})
	t.Run("100-continue", func(t *testing.T) {
		conn := dial(t, p.Addr())
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("before the body read %q, %v; want a 100 Continue", line, err)
		}
		if _, err := br.ReadString('\n'); err != nil { // the empty line
			t.Fatal(err)
		}
		fmt.Fprint(conn, "body")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "body" {
			t.Errorf("reply = %d %q; want 200 \"body\"", resp.StatusCode, b)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		conn := dial(t, p.Addr())
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Three requests in one write; the proxy answers the middle one
		// itself, and the replies must still come back in order.
		fmt.Fprint(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"+
			"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"+
			"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthree")
		br := bufio.NewReader(conn)
		for _, want := range []string{"200 one", "500 ", "200 three"} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the reply %q: %v", want, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if got := fmt.Sprintf("%d %s", resp.StatusCode, b); !strings.HasPrefix(got, want) {
				t.Errorf("reply = %q; want %q", got, want)
			}
		}
	})
	if s := p.Snapshot().Stats; s.RequestsFaulted != 1 {
		t.Errorf("RequestsFaulted = %d; want 1 (the pipelined /nothing)", s.RequestsFaulted)
	}
}
