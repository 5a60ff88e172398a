package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func TestAPI(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	reg := proxy.NewRegistry()
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(p); err == nil {
		t.Error("registering a name twice succeeded")
	}
	srv := httptest.NewServer(proxy.NewAPI(reg, proxy.APIOptions{}))
	defer srv.Close()

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, body := do("POST", "/proxies/test/faults", `{"kind":"latency","direction":"upstream","params":{"delay":"60ms","jitter":"1ms"}}`)
	if status != 201 {
		t.Fatalf("POST fault = %d %s", status, body)
	}
	var added proxy.FaultInfo
	var raw struct {
		Params map[string]any `json:"params"`
	}
	json.Unmarshal([]byte(body), &added)
	json.Unmarshal([]byte(body), &raw)
	if d, ok := added.Params.(*proxy.Latency); !ok || d.Delay != 60*time.Millisecond {
		t.Errorf("decoded params = %+v", added.Params)
	}
	if added.ID == "" || added.Kind != "latency" || added.Direction != proxy.Upstream || added.Percent != 1 || raw.Params["delay"] != "60ms" {
		t.Errorf("POST fault answered %s", body)
	}
	// The fault acts on the proxy.
	if d := roundTrip(t, dial(t, p.Addr()), []byte("x")); d < 55*time.Millisecond {
		t.Errorf("round trip after adding latency over the API took %v", d)
	}

	status, body = do("GET", "/proxies", "")
	var snaps []proxy.Snapshot
	if err := json.Unmarshal([]byte(body), &snaps); status != 200 || err != nil || len(snaps) != 1 {
		t.Fatalf("GET /proxies = %d %s (%v)", status, body, err)
	}
	if s := snaps[0]; s.Name != "test" || s.Listen != p.Addr() || s.Stats.ConnectionsTotal != 1 || len(s.Faults) != 1 {
		t.Errorf("snapshot = %+v", s)
	}

	tests := []struct {
		method, path, body string
		want               int
		wantBody           string
	}{
		{"GET", "/proxies/test", "", 200, `"name": "test"`},
		{"GET", "/proxies/test/faults", "", 200, `"delay": "60ms"`},
		{"GET", "/proxies/nope", "", 404, `no proxy named \"nope\"`},
		{"POST", "/proxies/test/faults", `{"kind":"latnecy"}`, 400, "unknown proxy fault kind"},
		{"POST", "/proxies/test/faults", `{"kind":"latency","params":{"dealy":"1s"}}`, 400, `unknown parameter \"dealy\"; known: connect, delay, jitter`},
		{"POST", "/proxies/test/faults", `{"kind":"latency","params":{"delay":5}}`, 400, "want a duration string"},
		{"POST", "/proxies/test/faults", `{"kind":"http_error","params":{"status":503}}`, 400, "needs a proxy with protocol http"},
		{"POST", "/proxies/test/faults", `{"kind":"bandwidth","params":{"rate":1000},"percent":0.5}`, 201, `"percent": 0.5`},
		{"POST", "/proxies/test/faults", `{"kind":"bandwidth","params":{"rate":1000},"percent":"30%"}`, 201, `"percent": 0.3`},
		{"POST", "/proxies/test/faults", `{"kind":"bandwidth","params":{"rate":1000},"percent":30}`, 400, `for a percentage write \"30%\"`},
		{"POST", "/proxies/test/faults", `{"kind":"bandwidth","params":{"rate":1000},"percent":"0%"}`, 400, `would never hit`},
		{"POST", "/proxies/test/faults", `{"kind":"bandwidth","params":{"rate":1000},"percent":null}`, 201, `"percent": 1`},
		{"POST", "/proxies/test/faults", `not json`, 400, "decode fault"},
		{"DELETE", "/proxies/test/faults/" + added.ID, "", 204, ""},
		{"DELETE", "/proxies/test/faults/" + added.ID, "", 404, "no such fault"},
		{"DELETE", "/proxies/test/faults", "", 204, ""},
		{"GET", "/proxies/test/faults", "", 200, "[]"},
	}
	for _, tt := range tests {
		status, body := do(tt.method, tt.path, tt.body)
		if status != tt.want || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s %s %s = %d %s; want %d containing %q", tt.method, tt.path, tt.body, status, body, tt.want, tt.wantBody)
		}
	}
}

func TestAPIToken(t *testing.T) {
	srv := httptest.NewServer(proxy.NewAPI(proxy.NewRegistry(), proxy.APIOptions{Token: "s3cret"}))
	defer srv.Close()
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"s3cret", 401},
		{"Bearer s3cret", 200},
		{"bearer s3cret", 200},
		{"BEARER  s3cret ", 200},
		{"Basic s3cret", 401},
		{"Bearers3cret", 401},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/proxies", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /proxies with Authorization %q = %d; want %d", tt.auth, resp.StatusCode, tt.want)
		}
	}
}

// Without a token, requests that a web page could have made the browser
// send are refused.
func TestAPIRefusesWebPages(t *testing.T) {
	reg := proxy.NewRegistry()
	p := startProxy(t, "127.0.0.1:1", "tcp")
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy.NewAPI(reg, proxy.APIOptions{}))
	defer srv.Close()
	for _, tt := range []struct {
		name         string
		host, origin string
		body         string
		want         int
	}{
		{"tool on this machine", "", "", `{"kind":"down"}`, 201},
		{"localhost", "localhost:1234", "", `{"kind":"down"}`, 201},
		{"cross-site form", "", "https://evil.example", `{"kind":"down"}`, 403},
		{"DNS rebinding", "evil.example:8475", "", `{"kind":"down"}`, 403},
		{"trailing data", "", "", `{"kind":"down"} {"kind":"reset"}`, 400},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/proxies/test/faults", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "text/plain")
		if tt.host != "" {
			req.Host = tt.host
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d; want %d", tt.name, resp.StatusCode, tt.want)
		}
		for _, f := range p.Faults() {
			p.Remove(f.ID)
		}
	}
}

// A client that sends its headers and then stalls in the body is cut off
// by the server's read timeout instead of holding a handler for ever.
func TestAPIServerCutsAStalledBody(t *testing.T) {
	srv := proxy.NewAPIServer(proxy.NewAPI(proxy.NewRegistry(), proxy.APIOptions{}))
	if srv.ReadTimeout <= 0 || srv.ReadTimeout > 30*time.Second || srv.ReadHeaderTimeout <= 0 {
		t.Fatalf("NewAPIServer timeouts: read %v, header %v; want both set", srv.ReadTimeout, srv.ReadHeaderTimeout)
	}
	srv.ReadTimeout = 300 * time.Millisecond // the default is 10s; the mechanism is the same
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /proxies/x/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"kind\":")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(c)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the server held a stalled body for %v", d)
	}
}

func TestBindAddrNeverLooksUpLocalhost(t *testing.T) {
	for in, want := range map[string]string{
		"LOCALHOST.:8475": "127.0.0.1:8475",
		"localhost:0":     "127.0.0.1:0",
		"127.0.0.1:9":     "127.0.0.1:9",
		"[::1]:9":         "[::1]:9",
		"0.0.0.0:9":       "0.0.0.0:9",
	} {
		if got, err := proxy.BindAddr(in); err != nil || got != want {
			t.Errorf("BindAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := proxy.BindAddr("nohost"); err == nil {
		t.Error("BindAddr(\"nohost\") = nil error")
	}
}

// The native API refuses a fault past the cap, with the reason.
func TestAPIFaultCap(t *testing.T) {
	p := startProxy(t, "127.0.0.1:1", "tcp")
	reg := proxy.NewRegistry()
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy.NewAPI(reg, proxy.APIOptions{}))
	defer srv.Close()
	post := func() (int, string) {
		resp, err := http.Post(srv.URL+"/proxies/test/faults", "application/json", strings.NewReader(`{"kind":"latency","params":{"delay":"1ms"}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range proxy.MaxFaults {
		if status, body := post(); status != 201 {
			t.Fatalf("fault %d: %d %s", i+1, status, body)
		}
	}
	if status, body := post(); status != 400 || !strings.Contains(body, "too many faults") {
		t.Errorf("fault %d: %d %s; want 400 too many faults", proxy.MaxFaults+1, status, body)
	}
}
