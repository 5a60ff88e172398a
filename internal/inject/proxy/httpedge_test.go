package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// okBackend answers every request with 200 "ok".
func okBackend(t *testing.T) string {
	return httpBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	}))
}

// rawConn dials p and returns the connection with a reader and a deadline.
func rawConn(t *testing.T, p *proxy.Proxy) (*net.TCPConn, *bufio.Reader) {
	c := dial(t, p.Addr())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func readReply(t *testing.T, br *bufio.Reader, method string) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read reply to %s: %v", method, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of reply to %s: %v", method, err)
	}
	return resp.StatusCode, string(b)
}

// Synthetic replies that must not have a body (to HEAD; 204 and 304) leave
// a keep-alive connection in step.
func TestHTTPErrorRepliesWithoutBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		method string
	}{{503, "HEAD"}, {204, "GET"}, {304, "GET"}} {
		t.Run(fmt.Sprintf("%d to %s", tc.status, tc.method), func(t *testing.T) {
			p := startProxy(t, okBackend(t), "http")
			mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: tc.status, Match: proxy.Match{PathPrefix: "/err"}}})
			c, br := rawConn(t, p)
			fmt.Fprintf(c, "%s /err HTTP/1.1\r\nHost: x\r\n\r\nGET /fine HTTP/1.1\r\nHost: x\r\n\r\n", tc.method)
			if status, body := readReply(t, br, tc.method); status != tc.status || body != "" {
				t.Errorf("first reply = %d %q; want %d without body", status, body, tc.status)
			}
			if status, body := readReply(t, br, "GET"); status != 200 || body != "ok" {
				t.Errorf("second reply = %d %q; want 200 \"ok\"", status, body)
			}
		})
	}
}

// A synthetic reply to a client that ends the connection ends it.
func TestHTTPErrorClosesWhenAsked(t *testing.T) {
	for name, req := range map[string]string{
		"HTTP/1.0":          "GET /err HTTP/1.0\r\n\r\n",
		"Connection: close": "GET /err HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		// The client waits for 100 Continue before it sends its body;
		// the reply comes at once and the connection closes after it.
		"Expect: 100-continue": "POST /err HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, okBackend(t), "http")
			mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 503}})
			c, br := rawConn(t, p)
			start := time.Now()
			fmt.Fprint(c, req)
			if status, _ := readReply(t, br, "GET"); status != 503 {
				t.Fatalf("status %d; want 503", status)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the reply read %q, %v; want the end of the connection", rest, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("reply and close took %v", d)
			}
		})
	}
}

// Empty lines before the end of the requests are tolerated (RFC 9112 2.2),
// and the reply still arrives.
func TestHTTPEmptyLinesBeforeEOF(t *testing.T) {
	p := startProxy(t, okBackend(t), "http")
	c, br := rawConn(t, p)
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n")
	c.CloseWrite()
	if status, body := readReply(t, br, "POST"); status != 200 || body != "ok" {
		t.Fatalf("reply = %d %q; want 200 \"ok\"", status, body)
	}
}

// A synthetic reply to a request that comes after the upstream closed,
// while replies are delayed, starts no delay line that outlives the proxy.
func TestNoWriterLeftAfterUpstreamCloses(t *testing.T) {
	p := proxy.New(proxy.Config{Name: "t", Listen: "127.0.0.1:0", Upstream: httpBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, "bye")
	})), Protocol: "http"})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, p, proxy.Fault{Params: &proxy.Latency{Delay: 5 * time.Millisecond}})
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 503, Match: proxy.Match{PathPrefix: "/err"}}})
	for range 5 {
		c, br := rawConn(t, p)
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		readReply(t, br, "GET")
		time.Sleep(20 * time.Millisecond) // the upstream's close has come through
		fmt.Fprint(c, "GET /err HTTP/1.1\r\nHost: x\r\n\r\n")
		io.ReadAll(br)
		c.Close()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "proxy.(*link).writer") {
		t.Fatalf("a delay line outlived Close:\n%s", stacks)
	}
}

// A hold keeps back the end of the stream as well as its bytes.
func TestTimeoutHoldsTheClose(t *testing.T) {
	p := startProxy(t, serveTCP(t, func(c net.Conn) {}), "tcp") // closes at once
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{}, Direction: proxy.Both})
	c := dial(t, p.Addr())
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read during a hold = %d, %v; want a timeout, not the upstream's close", n, err)
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	if b, err := readAll(c, 5*time.Second); err != nil || len(b) != 0 {
		t.Fatalf("after the hold read %q, %v; want the close", b, err)
	}
}

// The framing of a message is read over all its Transfer-Encoding and
// Content-Length fields, not the first of each.
func TestHTTPFramingOverRepeatedFields(t *testing.T) {
	upstream := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			// Transfer-Encoding overrides the conflicting lengths.
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		}
	})
	p := startProxy(t, upstream, "http")
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 503, Match: proxy.Match{PathPrefix: "/err"}}})
	c, br := rawConn(t, p)
	fmt.Fprint(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /err HTTP/1.1\r\nHost: x\r\n\r\n")
	// The proxy's own reply waits for the end of the one ahead of it; had
	// the proxy taken that body for one read until close, it never would.
	const reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	got := make([]byte, len(reply))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != reply {
		t.Fatalf("first reply through the proxy: %q, %v", got, err)
	}
	if status, _ := readReply(t, br, "GET"); status != 503 {
		t.Fatalf("second reply %d; want the proxy's 503", status)
	}

	c, br = rawConn(t, p)
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc")
	if b, err := io.ReadAll(br); err == nil && len(b) > 0 {
		t.Fatalf("a request with conflicting Content-Length got %q; want the connection refused", b)
	}
}

// While slow_close keeps the end of the replies back, the proxy still
// answers a request it fails itself, instead of resetting the connection.
func TestHTTPErrorDuringSlowClose(t *testing.T) {
	upstream := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	p := startProxy(t, upstream, "http")
	mustAdd(t, p, proxy.Fault{Params: &proxy.SlowClose{Delay: 500 * time.Millisecond}})
	mustAdd(t, p, proxy.Fault{Params: &proxy.HTTPError{Status: 503, Match: proxy.Match{PathPrefix: "/err"}}})
	c, br := rawConn(t, p)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if status, _ := readReply(t, br, "GET"); status != 200 {
		t.Fatalf("first reply %d; want 200", status)
	}
	time.Sleep(50 * time.Millisecond) // the upstream has closed; the close is held back
	fmt.Fprint(c, "GET /err HTTP/1.1\r\nHost: x\r\n\r\n")
	if status, _ := readReply(t, br, "GET"); status != 503 {
		t.Fatalf("second reply %d; want the proxy's 503", status)
	}
}
