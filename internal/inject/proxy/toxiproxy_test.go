package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
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
	if status != 201 || !slices.Equal(keys(t, body), []string{"enabled", "listen", "name", "protocol", "toxics", "upstream"}) {
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
