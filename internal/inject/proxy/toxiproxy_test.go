package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
	"github.com/gamedayhq/chaos/internal/porttest"
)

type toxiAPI struct {
	t   *testing.T
	url string
}

func newToxiAPI(t *testing.T, opts proxy.APIOptions) *toxiAPI {
	s := proxy.NewToxiproxy("test")
	srv := httptest.NewServer(proxy.NewToxiproxyAPI(s, opts))
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return &toxiAPI{t, srv.URL}
}

func (a *toxiAPI) do(method, path, body string, header ...string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func keys(t *testing.T, body string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %s", body)
	}
	return slices.Sorted(maps.Keys(m))
}

// The answers have Toxiproxy's shapes: clients decode them field by field.
func TestToxiproxyShapes(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	status, body := a.do("POST", "/proxies", fmt.Sprintf(`{"name":"p","listen":"127.0.0.1:0","upstream":%q}`, upstream))
	// protocol and traffic are this server's own; clients skip fields
	// they do not know.
	if status != 201 || !slices.Equal(keys(t, body), []string{"enabled", "listen", "name", "protocol", "toxics", "traffic", "upstream"}) {
		t.Fatalf("POST /proxies = %d %s", status, body)
	}
	if !strings.Contains(body, `"toxics":[]`) {
		t.Errorf("a new proxy's toxics are %s; want []", body)
	}
	for typ, attrs := range map[string][]string{
		"latency":    {"jitter", "latency"},
		"bandwidth":  {"rate"},
		"slow_close": {"delay"},
		"timeout":    {"timeout"},
		"reset_peer": {"timeout"},
		"slicer":     {"average_size", "delay", "size_variation"},
		"limit_data": {"bytes"},
	} {
		body := `{"type":"` + typ + `"}`
		if typ == "slicer" {
			body = `{"type":"slicer","attributes":{"average_size":10}}`
		}
		status, resp := a.do("POST", "/proxies/p/toxics", body)
		if status != 200 || !slices.Equal(keys(t, resp), []string{"attributes", "name", "stream", "toxicity", "type"}) {
			t.Errorf("POST %s toxic = %d %s", typ, status, resp)
			continue
		}
		var got struct {
			Attributes map[string]any
			Name       string
			Toxicity   float64
		}
		json.Unmarshal([]byte(resp), &got)
		if !slices.Equal(slices.Sorted(maps.Keys(got.Attributes)), attrs) || got.Name != typ+"_downstream" || got.Toxicity != 1 {
			t.Errorf("%s toxic = %s; want attributes %v, named %s_downstream, toxicity 1", typ, resp, attrs, typ)
		}
	}
	status, body = a.do("GET", "/proxies/p/toxics/nope", "")
	if status != 404 || body != `{"error":"toxic not found","status":404}`+"\n" {
		t.Errorf("GET an unknown toxic = %d %s", status, body)
	}
	status, body = a.do("GET", "/version", "")
	if status != 200 || body != `{"version":"test"}`+"\n" {
		t.Errorf("GET /version = %d %s", status, body)
	}
}

func TestToxiproxyRefusals(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	a.do("POST", "/proxies", fmt.Sprintf(`{"name":"p","upstream":%q,"enabled":false}`, upstream))
	a.do("POST", "/proxies/p/toxics", `{"name":"l","type":"latency","stream":"upstream","attributes":{"latency":10}}`)
	for _, tt := range []struct {
		method, path, body string
		want               int
		msg                string
	}{
		{"POST", "/proxies", `{"name":"q","upstream":"x:1","enabeld":false}`, 400, `unknown field "enabeld"`},
		{"POST", "/proxies", `{"name":"a/b","upstream":"x:1"}`, 400, `takes no '/'`},
		{"POST", "/proxies", `{"name":"q","upstream":"nowhere"}`, 400, `upstream "nowhere"`},
		{"POST", "/proxies", `{"name":"q","upstream":"x:1","protocol":"udp"}`, 400, `protocol "udp"`},
		{"POST", "/proxies", `{"name":"q"} {}`, 400, "more after the JSON value"},
		{"POST", "/proxies/p/toxics", `{"type":"latency","toxcity":0.5}`, 400, `unknown field "toxcity"`},
		{"POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":1.5}}`, 400, "bad request body"},
		{"POST", "/proxies/p/toxics", `{"type":"slicer","attributes":{"average_size":10,"size_variation":10}}`, 400, "size_variation 10"},
		{"POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":9223372036854775807}}`, 400, "too long"},
		{"POST", "/proxies/p/toxics", `{"name":"l","type":"latency"}`, 409, "toxic already exists"},
		{"POST", "/proxies/p/toxics/l", `{"stream":"downstream","attributes":{"latency":5}}`, 400, "delete it and add it again"},
		{"PATCH", "/proxies/p/toxics/l", `{"type":"bandwidth"}`, 400, "delete it and add it again"},
		{"POST", "/proxies/p", `{"name":"other"}`, 400, "cannot be renamed"},
		{"POST", "/proxies/p", `{"protocol":"http"}`, 400, "to change its protocol"},
		{"POST", "/populate", `{"name":"p"}`, 400, "bad request body"},
		{"POST", "/populate", `[{"name":"p","upstream":"x:1","toxics":[{"type":"nope"}]}]`, 400, "invalid toxic type"},
		{"DELETE", "/proxies/nope", "", 404, "proxy not found"},
		{"POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":"` + strings.Repeat("9", 2<<20) + `"}}`, 400, "too large"},
	} {
		status, body := a.do(tt.method, tt.path, tt.body)
		var e struct {
			Error  string
			Status int
		}
		json.Unmarshal([]byte(body), &e)
		if status != tt.want || e.Status != tt.want || !strings.Contains(e.Error, tt.msg) {
			t.Errorf("%s %s %.80s = %d %.300s; want %d with %q", tt.method, tt.path, tt.body, status, body, tt.want, tt.msg)
		}
	}
	// The refused changes changed nothing.
	_, body := a.do("GET", "/proxies/p", "")
	if !strings.Contains(body, `"toxics":[{"attributes":{"latency":10,"jitter":0},"name":"l","type":"latency","stream":"upstream","toxicity":1}]`) {
		t.Errorf("after the refusals: %s", body)
	}
	// /populate answers its error with the proxies made before it.
	status, body := a.do("POST", "/populate", fmt.Sprintf(`[{"name":"ok","upstream":%q,"enabled":false},{"name":"busy","listen":"%s","upstream":"x:1"}]`, upstream, upstream))
	if status != 500 || !slices.Equal(keys(t, body), []string{"error", "proxies", "status"}) || !strings.Contains(body, `"name":"ok"`) {
		t.Errorf("POST /populate with a listen address in use = %d %s", status, body)
	}
}

func TestToxiproxyCaps(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	var b strings.Builder
	b.WriteString("[")
	for i := range proxy.MaxProxies {
		if i > 0 {
			b.WriteString(",")
		}
		// Disabled: no listener each.
		fmt.Fprintf(&b, `{"name":"p%d","upstream":"127.0.0.1:1","enabled":false}`, i)
	}
	b.WriteString("]")
	if status, body := a.do("POST", "/populate", b.String()); status != 201 {
		t.Fatalf("populate %d proxies = %d %.200s", proxy.MaxProxies, status, body)
	}
	if status, body := a.do("POST", "/proxies", `{"name":"one-more","upstream":"127.0.0.1:1","enabled":false}`); status != 400 || !strings.Contains(body, "the most") {
		t.Errorf("proxy number %d = %d %s; want 400", proxy.MaxProxies+1, status, body)
	}
	for i := range proxy.MaxFaults {
		if status, body := a.do("POST", "/proxies/p0/toxics", fmt.Sprintf(`{"name":"t%d","type":"latency","attributes":{"latency":1}}`, i)); status != 200 {
			t.Fatalf("toxic %d = %d %s", i, status, body)
		}
	}
	if status, body := a.do("POST", "/proxies/p0/toxics", `{"name":"more","type":"latency"}`); status != 400 || !strings.Contains(body, "the most it takes") {
		t.Errorf("toxic number %d = %d %s; want 400", proxy.MaxFaults+1, status, body)
	}
}

// The Toxiproxy endpoints keep the rules of the native API.
func TestToxiproxyAccess(t *testing.T) {
	open := newToxiAPI(t, proxy.APIOptions{})
	for _, tt := range []struct {
		name   string
		header []string
		want   int
	}{
		{"tool on this machine", nil, 200},
		{"cross-site page", []string{"Origin", "https://evil.example"}, 403},
		{"DNS rebinding", []string{"Host", "evil.example:8474"}, 403},
		{"localhost", []string{"Host", "LOCALHOST.:8474"}, 200},
	} {
		status, body := open.do("GET", "/proxies", "", tt.header...)
		if status != tt.want {
			t.Errorf("%s: %d %s; want %d", tt.name, status, body, tt.want)
		}
		if status == 403 && !strings.Contains(body, `"status":403`) {
			t.Errorf("%s: refusal %s is not in Toxiproxy's error shape", tt.name, body)
		}
	}
	trusting := newToxiAPI(t, proxy.APIOptions{TrustNetwork: true})
	if status, body := trusting.do("GET", "/proxies", "", "Host", "toxiproxy:8474"); status != 200 {
		t.Errorf("TrustNetwork: a Host that is a service name = %d %s; want 200", status, body)
	}
	if status, _ := trusting.do("GET", "/proxies", "", "Origin", "https://evil.example"); status != 403 {
		t.Errorf("TrustNetwork: a request from a web page = %d; want 403", status)
	}
	locked := newToxiAPI(t, proxy.APIOptions{Token: "s3cret"})
	for auth, want := range map[string]int{"": 401, "Bearer nope": 401, "Bearer s3cret": 200, "bearer s3cret": 200} {
		if status, _ := locked.do("POST", "/reset", "", "Authorization", auth); status != want && !(want == 200 && status == 204) {
			t.Errorf("POST /reset with Authorization %q = %d; want %d", auth, status, want)
		}
	}
}

// A proxy's traffic counts grow with what goes through it as it goes, on
// a connection still open, and start again (with a new since) when the
// proxy is disabled and enabled again: a client compares two readings to
// tell whether a toxic met anything.
func TestToxiproxyTrafficCounts(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	a.do("POST", "/proxies", fmt.Sprintf(`{"name":"p","listen":"127.0.0.1:0","upstream":%q}`, upstream))
	type reading struct {
		Listen  string
		Traffic struct {
			Since time.Time
			Bytes int64 `json:"requests_and_bytes"`
			Conns int64 `json:"requests_bytes_and_connections"`
		}
	}
	read := func() reading {
		t.Helper()
		var r reading
		if _, body := a.do("GET", "/proxies/p", ""); json.Unmarshal([]byte(body), &r) != nil || r.Traffic.Since.IsZero() {
			t.Fatalf("GET /proxies/p: %s", body)
		}
		return r
	}
	r0 := read()
	if r0.Traffic.Bytes != 0 || r0.Traffic.Conns != 0 {
		t.Fatalf("a new proxy counts %+v", r0.Traffic)
	}
	c, err := net.Dial("tcp", r0.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	r1 := read()
	for r1.Traffic.Conns == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r1 = read()
	}
	if r1.Traffic.Conns != 1 || r1.Traffic.Bytes != 0 {
		t.Errorf("after a connection that sent nothing: %+v; want 1 counted with connections, 0 without", r1.Traffic)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	r2 := read()
	for r2.Traffic.Bytes < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r2 = read()
	}
	if r2.Traffic.Bytes != 10 || r2.Traffic.Conns != 11 || !r2.Traffic.Since.Equal(r0.Traffic.Since) {
		t.Errorf("after 5 bytes each way on an open connection: %+v; want 10 and 11, since %v", r2.Traffic, r0.Traffic.Since)
	}
	a.do("POST", "/proxies/p", `{"enabled":false}`)
	if _, body := a.do("GET", "/proxies/p", ""); strings.Contains(body, `"traffic"`) {
		t.Errorf("a disabled proxy counts traffic: %s", body)
	}
	a.do("POST", "/proxies/p", `{"enabled":true}`)
	if r3 := read(); !r3.Traffic.Since.After(r0.Traffic.Since) {
		t.Errorf("enabled again: since %v, was %v; want later", r3.Traffic.Since, r0.Traffic.Since)
	}
}

// A populate that names a proxy's toxics gets them, even when it keeps
// the proxy as it is: a test suite that populates in its setup and resets
// in its teardown must not find its toxics gone on the second test, with
// a 201 that says all went well.
func TestToxiproxyPopulateKeepsNoStaleToxics(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	free, err := porttest.Free()
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprintf("127.0.0.1:%d", free)
	config := func(toxics string) string {
		return fmt.Sprintf(`[{"name":"p","listen":%q,"upstream":%q%s}]`, port, upstream, toxics)
	}
	withLatency := config(`,"toxics":[{"type":"latency","attributes":{"latency":150}}]`)
	for i := range 2 {
		if status, body := a.do("POST", "/populate", withLatency); status != 201 || !strings.Contains(body, `"latency":150`) {
			t.Fatalf("populate %d = %d %s; want the latency toxic", i+1, status, body)
		}
		c := dial(t, port)
		if d := roundTrip(t, c, []byte("x")); d < 140*time.Millisecond {
			t.Errorf("populate %d: a round trip took %v; want the 150ms latency", i+1, d)
		}
		c.Close()
		a.do("POST", "/reset", "")
	}
	// Without toxics, a populate keeps the proxy as it is, connections and
	// toxics, as Toxiproxy does.
	c := dial(t, port)
	roundTrip(t, c, []byte("x"))
	a.do("POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":150}}`)
	if status, body := a.do("POST", "/populate", config("")); status != 201 || !strings.Contains(body, `"latency":150`) {
		t.Fatalf("populate without toxics = %d %s; want the proxy kept with its toxic", status, body)
	}
	if d := roundTrip(t, c, []byte("x")); d < 140*time.Millisecond {
		t.Errorf("after a populate without toxics, a round trip on an open connection took %v; want the 150ms latency", d)
	}
	// The toxics listed for a kept proxy act on its open connections; the
	// same ones again change nothing.
	a.do("DELETE", "/proxies/p/toxics/latency_downstream", "")
	if status, body := a.do("POST", "/populate", withLatency); status != 201 {
		t.Fatalf("populate = %d %s", status, body)
	}
	if d := roundTrip(t, c, []byte("x")); d < 140*time.Millisecond {
		t.Errorf("a round trip on an open connection took %v; want the 150ms latency", d)
	}
	if status, body := a.do("POST", "/populate", withLatency); status != 201 {
		t.Fatalf("populate = %d %s", status, body)
	}
	if d := roundTrip(t, c, []byte("x")); d < 140*time.Millisecond {
		t.Errorf("after a populate with the same toxics, a round trip on an open connection took %v; want the 150ms latency", d)
	}
}

// A populate that asks for another protocol gets it: a proxy kept as tcp
// would pass HTTP toxics' requests untouched, had it taken them.
func TestToxiproxyPopulateChangesTheProtocol(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	free, err := porttest.Free()
	if err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf(`{"name":"p","listen":"127.0.0.1:%d","upstream":%q`, free, upstream)
	if status, body := a.do("POST", "/populate", "["+entry+"}]"); status != 201 {
		t.Fatalf("populate = %d %s", status, body)
	}
	status, body := a.do("POST", "/populate", "["+entry+`,"protocol":"http","toxics":[{"type":"http_error","attributes":{"status":503}}]}]`)
	if status != 201 || !strings.Contains(body, `"protocol":"http"`) || !strings.Contains(body, `"http_error"`) {
		t.Errorf("populate asking for http = %d %s; want the proxy speaking http with its toxic", status, body)
	}
}

// A config file is read as strictly as the API's requests: a misspelt
// "stream" would leave a toxic on the other stream, a misspelt "enabled"
// a proxy up that the file meant down.
func TestToxiproxyConfigRefusesUnknownFields(t *testing.T) {
	for _, config := range []string{
		`[{"name":"a","upstream":"127.0.0.1:1","enabled":false,"toxics":[{"type":"latency","steam":"upstream","attributes":{"latency":100}}]}]`,
		`[{"name":"a","upstream":"127.0.0.1:1","enabeld":false}]`,
		`[{"name":"a","upstream":"127.0.0.1:1","enabled":false}] [{"name":"b","upstream":"127.0.0.1:1","enabled":false}]`,
	} {
		s := proxy.NewToxiproxy("test")
		got, err := s.Populate(context.Background(), strings.NewReader(config))
		s.Close()
		if err == nil || !strings.Contains(err.Error(), "bad request body") || len(got) != 0 {
			t.Errorf("Populate(%s) = %+v, %v; want it refused", config, got, err)
		}
	}
}

// A toxic's hits count the connections its toxicity picked, each once,
// however much went through them.
func TestToxiproxyHitsCountConnections(t *testing.T) {
	a := newToxiAPI(t, proxy.APIOptions{})
	upstream := serveTCP(t, echo)
	_, body := a.do("POST", "/proxies", fmt.Sprintf(`{"name":"p","upstream":%q}`, upstream))
	var p struct{ Listen string }
	json.Unmarshal([]byte(body), &p)
	a.do("POST", "/proxies/p/toxics", `{"type":"latency","toxicity":0.5,"attributes":{"latency":50}}`)
	slow := 0
	for range 20 {
		c := dial(t, p.Listen)
		hit := false
		for range 3 {
			hit = roundTrip(t, c, []byte("x")) >= 50*time.Millisecond
		}
		if hit {
			slow++
		}
		c.Close()
	}
	var tx struct{ Hits *int64 }
	_, body = a.do("GET", "/proxies/p/toxics/latency_downstream", "")
	if json.Unmarshal([]byte(body), &tx); tx.Hits == nil || *tx.Hits != int64(slow) {
		t.Errorf("after %d of 20 connections slowed: %s; want hits %d", slow, body, slow)
	}
}
