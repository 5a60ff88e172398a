package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
)

// This file lets a proxy target in an experiment name a proxy that a
// running chaos proxy or Toxiproxy server already holds, by its API URL
// and name: faults become toxics through the API, and reverting deletes
// them. The ledger records the API URL and the toxic names, so that chaos
// recover deletes them after a crash.

// remote is a proxy on a Toxiproxy API.
type remote struct {
	api, name, token string
}

func (r *remote) Close() error { return nil }

func (s *TargetSpec) remote() *remote {
	return &remote{api: strings.TrimSuffix(s.API, "/"), name: s.Name, token: s.Token}
}

func checkAPIURL(api string) error {
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return fmt.Errorf("api %q: want the server's base URL, such as http://127.0.0.1:8474", api)
	}
	return nil
}

var apiClient = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request to the API and decodes a JSON answer into out
// (when not nil). A 404 is returned as errNotThere.
func (r *remote) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.api+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token := r.bearer(); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusNotFound {
		return errNotThere
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Message)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

var errNotThere = errors.New("not found")

// bearer is the API token requests carry: the target's, else
// CHAOS_PROXY_TOKEN.
func (r *remote) bearer() string {
	if r.token != "" {
		return r.token
	}
	return os.Getenv("CHAOS_PROXY_TOKEN")
}

// describe returns the proxy's addresses, or errNotThere.
func (r *remote) describe(ctx context.Context) (string, error) {
	var p struct{ Listen, Upstream string }
	if err := r.call(ctx, "GET", "/proxies/"+url.PathEscape(r.name), nil, &p); err != nil {
		return "", err
	}
	return p.Listen + " -> " + p.Upstream, nil
}

// remoteTraffic is one reading of a proxy's traffic counter.
type remoteTraffic struct {
	Since time.Time `json:"since"`
	Count int64     `json:"count"`
}

// traffic reads the proxy's traffic counter (with conns, the one that
// takes in connections); ok is false where the server has none
// (Toxiproxy), the proxy is not running, or it cannot be read.
func (r *remote) traffic(ctx context.Context, conns bool) (t remoteTraffic, listen string, ok bool) {
	var p proxyJSON
	if err := r.call(ctx, "GET", "/proxies/"+url.PathEscape(r.name), nil, &p); err != nil || p.Traffic == nil {
		return t, "", false
	}
	t = remoteTraffic{Since: p.Traffic.Since, Count: p.Traffic.Bytes}
	if conns {
		t.Count = p.Traffic.Connections
	}
	return t, p.Listen, true
}

// remoteUndo is the ledger's record of what a fault did through an API.
type remoteUndo struct {
	API    string   `json:"api"`
	Proxy  string   `json:"proxy"`
	Toxics []string `json:"toxics,omitempty"`
	// Disabled is set when the fault disabled the proxy (down).
	Disabled bool `json:"disabled,omitempty"`
	// Traffic is what the proxy counted when the fault went on, where
	// the server counts it as it goes (a chaos proxy; not Toxiproxy):
	// equal at the revert, the fault met nothing. Conns says whether the
	// count takes in connections (ConnectionLevel).
	Traffic *remoteTraffic `json:"traffic,omitempty"`
	Conns   bool           `json:"conns,omitempty"`
	// Token is the API's bearer token the run used, for the watchdog and
	// chaos recover to remove the toxics after a crash of the run: an
	// experiment's token: (or CHAOS_PROXY_TOKEN in the run's environment)
	// is not at hand there. Ledger files are readable by their owner only.
	Token string `json:"token,omitempty"`
}

const undoRemoteRemove = "proxy.api.remove"

// plan names the toxics the fault will add, before anything is added.
func (r *remote) plan(kind string, dir Direction, all bool) remoteUndo {
	u := remoteUndo{API: r.api, Proxy: r.name, Token: r.bearer()}
	if kind == "down" && all {
		u.Disabled = true
		return u
	}
	id := make([]byte, 4)
	rand.Read(id)
	base := "chaos-" + kind + "-" + hex.EncodeToString(id)
	for _, s := range streams(dir) {
		u.Toxics = append(u.Toxics, base+"-"+s)
	}
	return u
}

func streams(d Direction) []string {
	switch d {
	case Upstream:
		return []string{"upstream"}
	case Both:
		return []string{"upstream", "downstream"}
	}
	return []string{"downstream"}
}

// inject adds the toxics that u names for the fault f, or disables the
// proxy.
func (r *remote) inject(ctx context.Context, f Fault, u remoteUndo) error {
	if u.Disabled {
		return r.call(ctx, "POST", "/proxies/"+url.PathEscape(r.name), map[string]bool{"enabled": false}, nil)
	}
	typ, attrs, err := toxicFor(f.Params)
	if err != nil {
		return err
	}
	toxicity := float32(1)
	if f.Percent > 0 {
		toxicity = float32(f.Percent)
	}
	for i, s := range streams(f.Direction) {
		body := map[string]any{"name": u.Toxics[i], "type": typ, "stream": s, "toxicity": toxicity, "attributes": attrs}
		if err := r.call(ctx, "POST", "/proxies/"+url.PathEscape(r.name)+"/toxics", body, nil); err != nil {
			if _, ext := toxiproxyHas[typ]; !ext {
				err = fmt.Errorf("%w (%s is a chaos proxy extension: Toxiproxy itself has no such toxic)", err, typ)
			}
			return fmt.Errorf("add toxic %s to proxy %s at %s: %w", typ, r.name, r.api, err)
		}
	}
	return nil
}

// toxiproxyHas are the toxic types Toxiproxy itself knows.
var toxiproxyHas = map[string]bool{"latency": true, "bandwidth": true, "slow_close": true, "timeout": true, "reset_peer": true, "slicer": true, "limit_data": true}

// toxicFor returns the toxic type and attributes that stand for params,
// in Toxiproxy's units. Settings those units cannot carry are refused
// rather than rounded.
func toxicFor(p Params) (string, map[string]any, error) {
	switch f := p.(type) {
	case *Latency:
		if f.Connect > 0 {
			return "", nil, errors.New("latency: connect is not available on a proxy reached through an API")
		}
		d, err := wholeMillis("delay", f.Delay)
		if err != nil {
			return "", nil, err
		}
		j, err := wholeMillis("jitter", f.Jitter)
		return "latency", map[string]any{"latency": d, "jitter": j}, err
	case *Bandwidth:
		if f.Rate%1000 != 0 {
			return "", nil, fmt.Errorf("bandwidth: rate %d bytes/s: a proxy reached through an API takes whole KB/s (multiples of 1000)", f.Rate)
		}
		return "bandwidth", map[string]any{"rate": f.Rate / 1000}, nil
	case *SlowClose:
		d, err := wholeMillis("delay", f.Delay)
		return "slow_close", map[string]any{"delay": d}, err
	case *Timeout:
		d, err := wholeMillis("close_after", f.CloseAfter)
		return "timeout", map[string]any{"timeout": d}, err
	case *Reset:
		if f.OnData {
			d, err := wholeMillis("delay", f.Delay)
			return "reset_peer", map[string]any{"timeout": d}, err
		}
		if f.Delay > 0 {
			return "", nil, errors.New("reset: delay with after_bytes is not available on a proxy reached through an API")
		}
		return "reset", map[string]any{"after_bytes": f.AfterBytes}, nil
	case *Slicer:
		if f.Delay%time.Microsecond != 0 {
			return "", nil, fmt.Errorf("slicer: delay %v: a proxy reached through an API takes whole microseconds", f.Delay)
		}
		return "slicer", map[string]any{"average_size": f.Size, "size_variation": f.Variation, "delay": int64(f.Delay / time.Microsecond)}, nil
	case *LimitData:
		return "limit_data", map[string]any{"bytes": f.Bytes}, nil
	case *Down:
		return "down", map[string]any{}, nil
	case *HTTPError:
		return "http_error", httpAttrs(map[string]any{"status": f.Status, "body": f.Body}, f.Match), nil
	case *HTTPDelay:
		d, err := wholeMillis("delay", f.Delay)
		if err != nil {
			return "", nil, err
		}
		j, err := wholeMillis("jitter", f.Jitter)
		return "http_delay", httpAttrs(map[string]any{"delay": d, "jitter": j}, f.Match), err
	}
	return "", nil, fmt.Errorf("%s is not available on a proxy reached through an API", p.Kind())
}

func httpAttrs(attrs map[string]any, m Match) map[string]any {
	for k, v := range map[string]string{"method": m.Method, "path_prefix": m.PathPrefix, "path_regex": m.PathRegex, "header": m.Header, "header_value": m.HeaderValue} {
		if v != "" {
			attrs[k] = v
		}
	}
	return attrs
}

func wholeMillis(name string, d time.Duration) (int64, error) {
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("%s %v: a proxy reached through an API takes whole milliseconds", name, d)
	}
	return int64(d / time.Millisecond), nil
}

// revertRemote deletes the toxics u names and enables the proxy again if
// the fault disabled it. A proxy that is gone counts as reverted. A toxic
// already deleted, or a proxy enabled again, while the proxy is still
// there, means someone else (a client's reset) ended the fault before the
// revert: that is an *inject.EndedEarly, once the rest is reverted.
func revertRemote(ctx context.Context, u remoteUndo, token string) error {
	r := &remote{api: u.API, name: u.Proxy, token: token}
	var hits int64
	counted := u.Traffic != nil && len(u.Toxics) > 0
	for _, t := range u.Toxics {
		// Before they go: what each toxic picked, where the server says.
		var tj struct {
			Hits *int64 `json:"hits"`
		}
		if !counted || r.call(ctx, "GET", "/proxies/"+url.PathEscape(r.name)+"/toxics/"+url.PathEscape(t), nil, &tj) != nil || tj.Hits == nil {
			counted = false
			break
		}
		hits += *tj.Hits
	}
	var errs []error
	var gone []string
	for _, t := range u.Toxics {
		err := r.call(ctx, "DELETE", "/proxies/"+url.PathEscape(r.name)+"/toxics/"+url.PathEscape(t), nil, nil)
		switch {
		case errors.Is(err, errNotThere):
			gone = append(gone, "toxic "+t)
		case err != nil:
			errs = append(errs, fmt.Errorf("delete toxic %s of proxy %s at %s: %w", t, r.name, r.api, err))
		}
	}
	if u.Disabled {
		var p struct {
			Enabled bool `json:"enabled"`
		}
		err := r.call(ctx, "GET", "/proxies/"+url.PathEscape(r.name), nil, &p)
		switch {
		case errors.Is(err, errNotThere):
		case err == nil && p.Enabled:
			gone = append(gone, "the disabled proxy (enabled again)")
		default:
			err = r.call(ctx, "POST", "/proxies/"+url.PathEscape(r.name), map[string]bool{"enabled": true}, nil)
			if err != nil && !errors.Is(err, errNotThere) {
				errs = append(errs, fmt.Errorf("enable proxy %s at %s: %w", r.name, r.api, err))
			}
		}
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if strings.Contains(err.Error(), "HTTP 401") {
			err = fmt.Errorf("%w; set CHAOS_PROXY_TOKEN to the server's token and run chaos recover", err)
		}
		return err
	}
	if len(gone) > 0 {
		if _, err := r.describe(ctx); errors.Is(err, errNotThere) {
			return nil // the proxy itself is gone, and its toxics with it
		}
		return inject.GoneEarly("%s of proxy %s at %s: removed by someone else before the revert (a reset?)", strings.Join(gone, " and "), r.name, r.api)
	}
	if u.Traffic != nil {
		if now, listen, ok := r.traffic(ctx, u.Conns); ok && now.Count == u.Traffic.Count && now.Since.Equal(u.Traffic.Since) {
			what := "request or byte"
			if u.Conns {
				what = "connection, request or byte"
			}
			return inject.NotReached("no %s went through proxy %s (%s) at %s while it was on: is the client pointed at its listen address?", what, r.name, listen, r.api)
		}
	}
	if counted && hits == 0 {
		return pickedNothing(r.name + " at " + r.api)
	}
	return nil
}
