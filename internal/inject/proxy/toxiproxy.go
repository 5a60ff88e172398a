package proxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Toxiproxy is a set of proxies steered through Toxiproxy's HTTP API
// (version 2): proxies are created, changed, disabled and deleted while
// the process runs, and toxics added to them become faults. Its methods
// are safe for concurrent use.
type Toxiproxy struct {
	version string

	mu      sync.Mutex
	proxies map[string]*toxiProxy
}

// toxiProxy is one proxy as the API shows it. Its *Proxy runs while it is
// enabled; disabling closes it (and every connection), enabling starts a
// new one on the same address with the same toxics.
type toxiProxy struct {
	name, listen, upstream, protocol string
	enabled                          bool
	p                                *Proxy
	since                            time.Time // when p started
	toxics                           []*toxic  // in the order added
}

type toxic struct {
	name, typ, stream string
	toxicity          float32
	attrs             toxicAttrs
	faultID           string // set while the toxic acts on a running proxy
}

// Limits of one Toxiproxy server: the API refuses what would pass them.
const (
	MaxProxies = 1000
	// maxToxics per proxy is MaxFaults, as each toxic may be a fault.
	maxName = 200
)

// NewToxiproxy returns an empty server; version is what GET /version
// answers.
func NewToxiproxy(version string) *Toxiproxy {
	return &Toxiproxy{version: version, proxies: map[string]*toxiProxy{}}
}

// apiError is an error with the HTTP status it answers with, written as
// Toxiproxy writes its errors: {"error": "...", "status": N}.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *apiError) Error() string { return e.Message }

func newAPIError(status int, format string, args ...any) *apiError {
	return &apiError{Message: fmt.Sprintf(format, args...), Status: status}
}

// Toxiproxy's messages, which clients may match on.
var (
	errProxyNotFound = &apiError{"proxy not found", http.StatusNotFound}
	errProxyExists   = &apiError{"proxy already exists", http.StatusConflict}
	errToxicNotFound = &apiError{"toxic not found", http.StatusNotFound}
	errToxicExists   = &apiError{"toxic already exists", http.StatusConflict}
	errInvalidStream = &apiError{"stream was invalid, can be either upstream or downstream", http.StatusBadRequest}
)

func badBody(err error) *apiError {
	return newAPIError(http.StatusBadRequest, "bad request body: %v", err)
}

func missingField(what string) *apiError {
	return newAPIError(http.StatusBadRequest, "missing required field: %s", what)
}

// ProxyConfig is a proxy as Toxiproxy's API and config file describe it,
// with two additions: protocol (tcp, or http for the HTTP toxics) and, in
// a config file or a create or populate request, the toxics to start
// with.
type ProxyConfig struct {
	Name     string        `json:"name"`
	Listen   string        `json:"listen"`
	Upstream string        `json:"upstream"`
	Enabled  *bool         `json:"enabled,omitempty"`
	Protocol string        `json:"protocol,omitempty"`
	Toxics   []ToxicConfig `json:"toxics,omitempty"`
}

// ToxicConfig is a toxic as the API takes it.
type ToxicConfig struct {
	Name       string          `json:"name,omitempty"`
	Type       string          `json:"type"`
	Stream     *string         `json:"stream,omitempty"`
	Toxicity   *float32        `json:"toxicity,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// proxyJSON and toxicJSON are what the API answers.
type proxyJSON struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Upstream string      `json:"upstream"`
	Enabled  bool        `json:"enabled"`
	Toxics   []toxicJSON `json:"toxics"`
	Protocol string      `json:"protocol"`
	// Traffic is this server's own: Toxiproxy has no such field, and its
	// byte counters (in /metrics, when enabled) move only when a
	// connection closes. It lets a client tell whether a toxic met any
	// traffic while it was on.
	Traffic *trafficJSON `json:"traffic,omitempty"`
}

// trafficJSON counts what went through a running proxy since it started
// (a proxy disabled and enabled again starts again): requests and bytes
// (Traffic(false)), and with them the connections it accepted
// (Traffic(true)).
type trafficJSON struct {
	Since       time.Time `json:"since"`
	Bytes       int64     `json:"requests_and_bytes"`
	Connections int64     `json:"requests_bytes_and_connections"`
}

type toxicJSON struct {
	Attributes toxicAttrs `json:"attributes"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Stream     string     `json:"stream"`
	Toxicity   float32    `json:"toxicity"`
	// Hits is this server's own, like a proxy's traffic: for a toxic
	// that picks what it acts on (an HTTP toxic's requests, a toxicity
	// below 1), how many it picked on the running proxy p.
	Hits *int64 `json:"hits,omitempty"`
}

// json describes t, with its hits on the running proxy p (nil when the
// proxy is not running).
func (t *toxic) json(p *Proxy) toxicJSON {
	// attrs is never changed once made (an update makes new ones), so it
	// can be encoded after the lock is released.
	j := toxicJSON{Attributes: t.attrs, Name: t.name, Type: t.typ, Stream: t.stream, Toxicity: t.toxicity}
	if p != nil && t.faultID != "" {
		if n, ok := p.Hits(t.faultID); ok {
			j.Hits = &n
		}
	}
	return j
}

func (tp *toxiProxy) json() proxyJSON {
	j := proxyJSON{Name: tp.name, Listen: tp.listen, Upstream: tp.upstream, Enabled: tp.enabled, Toxics: tp.toxicList(), Protocol: tp.protocol}
	if tp.p != nil {
		j.Traffic = &trafficJSON{Since: tp.since, Bytes: tp.p.Traffic(false), Connections: tp.p.Traffic(true)}
	}
	return j
}

// toxicList lists the upstream toxics, then the downstream ones, each in
// the order added, as Toxiproxy does.
func (tp *toxiProxy) toxicList() []toxicJSON {
	out := []toxicJSON{}
	for _, up := range []bool{true, false} {
		for _, t := range tp.toxics {
			if t.direction().up() == up {
				out = append(out, t.json(tp.p))
			}
		}
	}
	return out
}

func (t *toxic) direction() Direction {
	if strings.EqualFold(t.stream, "upstream") {
		return Upstream
	}
	return Downstream
}

// fault returns the fault the toxic stands for, or ok false when it acts
// on nothing (a zero toxicity, a latency of 0).
func (t *toxic) fault() (f Fault, ok bool, err error) {
	params, err := t.attrs.params()
	if err != nil || params == nil || t.toxicity <= 0 {
		return Fault{}, false, err
	}
	f = Fault{Params: params, Direction: t.direction()}
	if t.toxicity < 1 {
		f.Percent = float64(t.toxicity)
	}
	if err := params.Validate(); err != nil {
		return Fault{}, false, err
	}
	return f, true, nil
}

// start runs the proxy and switches its toxics on.
func (tp *toxiProxy) start(ctx context.Context) error {
	p := New(Config{Name: tp.name, Listen: tp.listen, Upstream: tp.upstream, Protocol: tp.protocol})
	for _, t := range tp.toxics {
		t.faultID = ""
		f, ok, err := t.fault()
		if err != nil {
			return err
		}
		if ok {
			if t.faultID, err = p.Add(f); err != nil {
				return err
			}
		}
	}
	if err := p.Start(ctx); err != nil {
		p.Close()
		return newAPIError(http.StatusInternalServerError, "%v", err)
	}
	tp.p, tp.enabled, tp.listen, tp.since = p, true, p.Addr(), time.Now()
	return nil
}

// stop closes the proxy and every connection through it.
func (tp *toxiProxy) stop() {
	if tp.p != nil {
		tp.p.Close()
	}
	tp.p, tp.enabled = nil, false
	for _, t := range tp.toxics {
		t.faultID = ""
	}
}

// differs reports whether c names another listen or upstream address than
// tp, comparing the listen addresses as resolved, as Toxiproxy does.
func (tp *toxiProxy) differs(listen, upstream string) (bool, error) {
	addr, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		return false, newAPIError(http.StatusBadRequest, "listen %q: %v", listen, err)
	}
	return addr.String() != tp.listen || upstream != tp.upstream, nil
}

// newProxy checks c and returns the proxy it describes, not running.
func newProxy(c ProxyConfig) (*toxiProxy, error) {
	if err := checkName("proxy", c.Name); err != nil {
		return nil, err
	}
	tp := &toxiProxy{name: c.Name, listen: cmp.Or(c.Listen, "127.0.0.1:0"), upstream: c.Upstream, protocol: cmp.Or(c.Protocol, "tcp")}
	if err := (Config{Listen: tp.listen, Upstream: tp.upstream, Protocol: tp.protocol}).Validate(); err != nil {
		return nil, badBody(err)
	}
	for _, tc := range c.Toxics {
		if _, err := tp.newToxic(tc); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

func checkName(what, name string) error {
	switch {
	case len(name) > maxName:
		return newAPIError(http.StatusBadRequest, "%s name is longer than %d bytes", what, maxName)
	case strings.ContainsAny(name, "/?#%") || strings.IndexFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return newAPIError(http.StatusBadRequest, "%s name %q: it goes into the API's paths, so it takes no '/', '?', '#', '%%' or control characters", what, name)
	}
	return nil
}

// newToxic checks tc and appends the toxic it describes to tp, switched on
// when tp runs.
func (tp *toxiProxy) newToxic(tc ToxicConfig) (*toxic, error) {
	t := &toxic{typ: tc.Type, stream: "downstream", toxicity: 1}
	if tc.Stream != nil {
		t.stream = *tc.Stream
	}
	if tc.Toxicity != nil {
		t.toxicity = *tc.Toxicity
	}
	if !strings.EqualFold(t.stream, "upstream") && !strings.EqualFold(t.stream, "downstream") {
		return nil, errInvalidStream
	}
	t.name = cmp.Or(tc.Name, t.typ+"_"+t.stream)
	zero, ok := toxicTypes[t.typ]
	if !ok {
		return nil, newAPIError(http.StatusBadRequest, "invalid toxic type: %q; known: %s", t.typ, strings.Join(ToxicTypes(), ", "))
	}
	if err := checkName("toxic", t.name); err != nil {
		return nil, err
	}
	if tp.toxic(t.name) != nil {
		return nil, errToxicExists
	}
	if len(tp.toxics) >= MaxFaults {
		return nil, newAPIError(http.StatusBadRequest, "proxy %s has %d toxics, the most it takes", tp.name, MaxFaults)
	}
	t.attrs = zero()
	if err := decodeAttrs(t.typ, t.attrs, tc.Attributes); err != nil {
		return nil, badBody(err)
	}
	f, ok, err := t.fault()
	if err != nil {
		return nil, badBody(fmt.Errorf("%s: %w", t.typ, err))
	}
	if _, isHTTP := t.attrs.(interface{ matchFields() }); isHTTP && tp.protocol != "http" {
		return nil, newAPIError(http.StatusBadRequest, "%s toxics need a proxy created with \"protocol\": \"http\"; proxy %s speaks %s", t.typ, tp.name, tp.protocol)
	}
	if ok && tp.p != nil {
		if t.faultID, err = tp.p.Add(f); err != nil {
			return nil, newAPIError(http.StatusBadRequest, "%v", err)
		}
	}
	tp.toxics = append(tp.toxics, t)
	return t, nil
}

func (tp *toxiProxy) toxic(name string) *toxic {
	for _, t := range tp.toxics {
		if t.name == name {
			return t
		}
	}
	return nil
}

// updateToxic changes the attributes the request names, and the
// toxicity when it gives one; a toxic's type and stream stay.
func (tp *toxiProxy) updateToxic(t *toxic, tc ToxicConfig) error {
	if tc.Type != "" && tc.Type != t.typ || tc.Stream != nil && !strings.EqualFold(*tc.Stream, t.stream) {
		return newAPIError(http.StatusBadRequest, "toxic %s is a %s toxic on the %s stream: to change either, delete it and add it again", t.name, t.typ, t.stream)
	}
	next := &toxic{name: t.name, typ: t.typ, stream: t.stream, toxicity: t.toxicity, attrs: cloneAttrs(t.typ, t.attrs)}
	if tc.Toxicity != nil {
		next.toxicity = *tc.Toxicity
	}
	if err := decodeAttrs(t.typ, next.attrs, tc.Attributes); err != nil {
		return badBody(err)
	}
	f, ok, err := next.fault()
	if err != nil {
		return badBody(fmt.Errorf("%s: %w", t.typ, err))
	}
	if tp.p != nil {
		switch {
		case ok && t.faultID != "":
			err = tp.p.Update(t.faultID, f)
		case ok:
			next.faultID, err = tp.p.Add(f)
		case t.faultID != "":
			err = tp.p.Remove(t.faultID)
		}
		if err != nil {
			return newAPIError(http.StatusBadRequest, "%v", err)
		}
		if ok && t.faultID != "" {
			next.faultID = t.faultID
		}
	}
	*t = *next
	return nil
}

func (tp *toxiProxy) removeToxic(t *toxic) {
	if t.faultID != "" && tp.p != nil {
		tp.p.Remove(t.faultID)
	}
	tp.toxics = slices.DeleteFunc(tp.toxics, func(o *toxic) bool { return o == t })
}

// Populate creates the proxies in r, a JSON array of ProxyConfig (the
// format of Toxiproxy's config file and of POST /populate). A proxy whose
// name exists already is kept as it is when its listen and upstream
// addresses and its protocol are the same, and replaced otherwise; a kept
// proxy whose entry lists toxics takes those, in place of its own, without
// dropping its connections. Every entry is checked before any proxy
// changes; it returns the proxies it created or kept, and stops at the
// first that cannot start.
func (s *Toxiproxy) Populate(ctx context.Context, r io.Reader) ([]ProxyConfig, error) {
	var in []ProxyConfig
	if err := decodeStrict(r, &in); err != nil {
		return nil, err
	}
	out, err := s.populate(ctx, in)
	res := make([]ProxyConfig, len(out))
	for i, p := range out {
		res[i] = p.config()
	}
	return res, err
}

func (s *Toxiproxy) populate(ctx context.Context, in []ProxyConfig) ([]proxyJSON, error) {
	fresh := make([]*toxiProxy, len(in))
	for i, c := range in {
		if c.Name == "" {
			return nil, missingField(fmt.Sprintf("name at proxy %d", i+1))
		}
		if c.Upstream == "" {
			return nil, missingField(fmt.Sprintf("upstream at proxy %d", i+1))
		}
		tp, err := newProxy(c)
		if err != nil {
			return nil, prefix(fmt.Sprintf("proxy %d", i+1), err)
		}
		fresh[i] = tp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []proxyJSON{}
	for i, tp := range fresh {
		if old, ok := s.proxies[tp.name]; ok {
			differs, err := old.differs(tp.listen, tp.upstream)
			if err != nil {
				return out, err
			}
			if !differs && old.protocol == tp.protocol {
				if in[i].Toxics != nil && !sameToxics(old.toxics, tp.toxics) {
					if err := old.setToxics(in[i].Toxics); err != nil {
						return out, prefix(fmt.Sprintf("proxy %d", i+1), err)
					}
				}
				out = append(out, old.json())
				continue
			}
			old.stop()
			delete(s.proxies, tp.name)
		} else if len(s.proxies) >= MaxProxies {
			return out, tooManyProxies()
		}
		if err := s.install(ctx, tp, in[i]); err != nil {
			return out, err
		}
		out = append(out, tp.json())
	}
	return out, nil
}

// sameToxics reports whether a and b are the same toxics in the same
// order.
func sameToxics(a, b []*toxic) bool {
	return slices.EqualFunc(a, b, func(x, y *toxic) bool {
		if x.name != y.name || x.typ != y.typ || x.stream != y.stream || x.toxicity != y.toxicity {
			return false
		}
		xa, _ := json.Marshal(x.attrs)
		ya, _ := json.Marshal(y.attrs)
		return bytes.Equal(xa, ya)
	})
}

// setToxics replaces tp's toxics with those of tcs, already checked, on
// the running proxy as well: its connections stay.
func (tp *toxiProxy) setToxics(tcs []ToxicConfig) error {
	for _, t := range slices.Clone(tp.toxics) {
		tp.removeToxic(t)
	}
	for _, tc := range tcs {
		if _, err := tp.newToxic(tc); err != nil {
			return err
		}
	}
	return nil
}

func tooManyProxies() *apiError {
	return newAPIError(http.StatusBadRequest, "there are %d proxies, the most one chaos proxy serves", MaxProxies)
}

// install starts tp unless c disables it, and registers it. The caller
// holds s.mu.
func (s *Toxiproxy) install(ctx context.Context, tp *toxiProxy, c ProxyConfig) error {
	if c.Enabled == nil || *c.Enabled {
		if err := tp.start(ctx); err != nil {
			return err
		}
	}
	s.proxies[tp.name] = tp
	return nil
}

func prefix(what string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return &apiError{Message: ae.Message + " at " + what, Status: ae.Status}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (p proxyJSON) config() ProxyConfig {
	enabled := p.Enabled
	c := ProxyConfig{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream, Enabled: &enabled, Protocol: p.Protocol}
	for _, t := range p.Toxics {
		attrs, _ := json.Marshal(t.Attributes)
		stream, toxicity := t.Stream, t.Toxicity
		c.Toxics = append(c.Toxics, ToxicConfig{Name: t.Name, Type: t.Type, Stream: &stream, Toxicity: &toxicity, Attributes: attrs})
	}
	return c
}

// Close closes every proxy. The server is empty afterwards.
func (s *Toxiproxy) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, tp := range s.proxies {
		tp.stop()
		delete(s.proxies, name)
	}
	return nil
}

// NewToxiproxyAPI returns Toxiproxy's HTTP API over s:
//
//	GET    /version
//	POST   /reset                           enable every proxy, remove every toxic
//	GET    /proxies                         {name: proxy} with their toxics
//	POST   /proxies                         create; 201
//	POST   /populate                        create or replace a list; 201
//	GET    /proxies/{proxy}
//	POST   /proxies/{proxy}                 (or PATCH) change listen, upstream, enabled
//	DELETE /proxies/{proxy}                 204
//	GET    /proxies/{proxy}/toxics
//	POST   /proxies/{proxy}/toxics          add a toxic
//	GET    /proxies/{proxy}/toxics/{toxic}
//	POST   /proxies/{proxy}/toxics/{toxic}  (or PATCH) change attributes, toxicity
//	DELETE /proxies/{proxy}/toxics/{toxic}  204
//
// Errors are {"error": "...", "status": N}. Access follows the rules of
// NewAPI: a bearer token when opts has one, no web pages otherwise.
func NewToxiproxyAPI(s *Toxiproxy, opts APIOptions) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(*http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
			status, v, err := h(r)
			if err != nil {
				writeToxiError(w, err)
				return
			}
			if v == nil {
				w.WriteHeader(status)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(v)
		})
	}
	handle("GET /version", func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]string{"version": s.version}, nil
	})
	handle("POST /reset", s.reset)
	handle("GET /proxies", s.list)
	handle("POST /proxies", s.create)
	handle("POST /populate", s.populateAPI)
	handle("GET /proxies/{proxy}", s.withProxy(func(_ *http.Request, tp *toxiProxy) (int, any, error) {
		return http.StatusOK, tp.json(), nil
	}))
	handle("POST /proxies/{proxy}", s.withProxy(s.update))
	handle("PATCH /proxies/{proxy}", s.withProxy(s.update))
	handle("DELETE /proxies/{proxy}", s.delete)
	handle("GET /proxies/{proxy}/toxics", s.withProxy(func(_ *http.Request, tp *toxiProxy) (int, any, error) {
		return http.StatusOK, tp.toxicList(), nil
	}))
	handle("POST /proxies/{proxy}/toxics", s.withProxy(s.addToxic))
	handle("GET /proxies/{proxy}/toxics/{toxic}", s.withToxic(func(_ *http.Request, tp *toxiProxy, t *toxic) (int, any, error) {
		return http.StatusOK, t.json(tp.p), nil
	}))
	handle("POST /proxies/{proxy}/toxics/{toxic}", s.withToxic(s.changeToxic))
	handle("PATCH /proxies/{proxy}/toxics/{toxic}", s.withToxic(s.changeToxic))
	handle("DELETE /proxies/{proxy}/toxics/{toxic}", s.withToxic(func(_ *http.Request, tp *toxiProxy, t *toxic) (int, any, error) {
		tp.removeToxic(t)
		return http.StatusNoContent, nil, nil
	}))
	return guard(mux, opts, func(w http.ResponseWriter, status int, err error) {
		writeToxiError(w, &apiError{Message: err.Error(), Status: status})
	})
}

func writeToxiError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Message: err.Error(), Status: http.StatusInternalServerError}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(ae)
}

// decode reads a JSON body into v, as decodeStrict does.
func decode(r *http.Request, v any) error { return decodeStrict(r.Body, v) }

// decodeStrict reads one JSON value from r into v. Unknown fields are
// errors: a misspelt "stream" or "toxicity" would otherwise leave a toxic
// that does something else than the test meant.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badBody(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badBody(errors.New("more after the JSON value"))
	}
	return nil
}

func (s *Toxiproxy) withProxy(h func(*http.Request, *toxiProxy) (int, any, error)) func(*http.Request) (int, any, error) {
	return func(r *http.Request) (int, any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		tp, ok := s.proxies[r.PathValue("proxy")]
		if !ok {
			return 0, nil, errProxyNotFound
		}
		return h(r, tp)
	}
}

func (s *Toxiproxy) withToxic(h func(*http.Request, *toxiProxy, *toxic) (int, any, error)) func(*http.Request) (int, any, error) {
	return s.withProxy(func(r *http.Request, tp *toxiProxy) (int, any, error) {
		t := tp.toxic(r.PathValue("toxic"))
		if t == nil {
			return 0, nil, errToxicNotFound
		}
		return h(r, tp, t)
	})
}

func (s *Toxiproxy) list(*http.Request) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]proxyJSON, len(s.proxies))
	for name, tp := range s.proxies {
		out[name] = tp.json()
	}
	return http.StatusOK, out, nil
}

func (s *Toxiproxy) create(r *http.Request) (int, any, error) {
	var c ProxyConfig
	if err := decode(r, &c); err != nil {
		return 0, nil, err
	}
	if c.Name == "" {
		return 0, nil, missingField("name")
	}
	if c.Upstream == "" {
		return 0, nil, missingField("upstream")
	}
	tp, err := newProxy(c)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.proxies[c.Name]; ok {
		return 0, nil, errProxyExists
	}
	if len(s.proxies) >= MaxProxies {
		return 0, nil, tooManyProxies()
	}
	if err := s.install(r.Context(), tp, c); err != nil {
		tp.stop()
		return 0, nil, err
	}
	return http.StatusCreated, tp.json(), nil
}

func (s *Toxiproxy) populateAPI(r *http.Request) (int, any, error) {
	var in []ProxyConfig
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	out, err := s.populate(r.Context(), in)
	if err != nil {
		// Toxiproxy answers the error and the proxies made before it.
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{Message: err.Error(), Status: http.StatusInternalServerError}
		}
		return ae.Status, struct {
			*apiError
			Proxies []proxyJSON `json:"proxies"`
		}{ae, out}, nil
	}
	return http.StatusCreated, map[string][]proxyJSON{"proxies": out}, nil
}

// update changes a proxy's addresses and whether it is enabled. A proxy
// whose addresses change restarts, dropping its connections.
func (s *Toxiproxy) update(r *http.Request, tp *toxiProxy) (int, any, error) {
	var in struct {
		ProxyConfig
		Listen *string `json:"listen"`
		// The Go client sends the toxics it last saw with every update;
		// Toxiproxy ignores them, and so does this.
		Toxics json.RawMessage `json:"toxics"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Name != "" && in.Name != tp.name {
		return 0, nil, newAPIError(http.StatusBadRequest, "a proxy cannot be renamed: delete it and create it again")
	}
	if in.Protocol != "" && in.Protocol != tp.protocol {
		return 0, nil, newAPIError(http.StatusBadRequest, "proxy %s speaks %s: to change its protocol, delete it and create it again", tp.name, tp.protocol)
	}
	listen, upstream := cmp.Or(deref(in.Listen), tp.listen), cmp.Or(in.Upstream, tp.upstream)
	if err := (Config{Listen: listen, Upstream: upstream}).Validate(); err != nil {
		return 0, nil, badBody(err)
	}
	differs, err := tp.differs(listen, upstream)
	if err != nil {
		return 0, nil, err
	}
	enabled := tp.enabled
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	if differs {
		tp.stop()
		tp.listen, tp.upstream = listen, upstream
	}
	if enabled && tp.p == nil {
		if err := tp.start(r.Context()); err != nil {
			return 0, nil, err
		}
	} else if !enabled {
		tp.stop()
	}
	return http.StatusOK, tp.json(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *Toxiproxy) delete(r *http.Request) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp, ok := s.proxies[r.PathValue("proxy")]
	if !ok {
		return 0, nil, errProxyNotFound
	}
	tp.stop()
	delete(s.proxies, tp.name)
	return http.StatusNoContent, nil, nil
}

func (s *Toxiproxy) reset(r *http.Request) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range s.proxies {
		for _, t := range slices.Clone(tp.toxics) {
			tp.removeToxic(t)
		}
		if tp.p == nil {
			if err := tp.start(r.Context()); err != nil {
				return 0, nil, err
			}
		}
	}
	return http.StatusNoContent, nil, nil
}

func (s *Toxiproxy) addToxic(r *http.Request, tp *toxiProxy) (int, any, error) {
	var tc ToxicConfig
	if err := decode(r, &tc); err != nil {
		return 0, nil, err
	}
	t, err := tp.newToxic(tc)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t.json(tp.p), nil
}

func (s *Toxiproxy) changeToxic(r *http.Request, tp *toxiProxy, t *toxic) (int, any, error) {
	var tc ToxicConfig
	if err := decode(r, &tc); err != nil {
		return 0, nil, err
	}
	if tc.Name != "" && tc.Name != t.name {
		return 0, nil, newAPIError(http.StatusBadRequest, "a toxic cannot be renamed: delete it and add it again")
	}
	if err := tp.updateToxic(t, tc); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t.json(tp.p), nil
}
