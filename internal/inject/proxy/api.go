package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Registry is a set of proxies by name, as served by the control API.
type Registry struct {
	mu      sync.RWMutex
	proxies map[string]*Proxy
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{proxies: map[string]*Proxy{}} }

// Add registers p under its name, which must be new.
func (r *Registry) Add(p *Proxy) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.proxies[p.Name()]; ok {
		return fmt.Errorf("register proxy %q: name already taken", p.Name())
	}
	r.proxies[p.Name()] = p
	return nil
}

// Remove unregisters the proxy called name; it does not close it.
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.proxies, name)
}

// Get returns the proxy called name.
func (r *Registry) Get(name string) (*Proxy, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.proxies[name]
	return p, ok
}

// List returns the proxies sorted by name.
func (r *Registry) List() []*Proxy {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps := make([]*Proxy, 0, len(r.proxies))
	for _, p := range r.proxies {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name() < ps[j].Name() })
	return ps
}

// APIOptions configures the control API.
type APIOptions struct {
	// Token, when set, is required on every request as
	// "Authorization: Bearer <Token>". Set one whenever the API is bound
	// to anything but loopback.
	Token string
	// TrustNetwork, without a Token, lets through requests whatever their
	// Host, for an API bound to a network where everyone who can reach it
	// may inject faults (a container's private network, as Toxiproxy's
	// image has it: its clients send no token). Requests from web pages
	// (with an Origin) are still refused.
	TrustNetwork bool
}

// FaultRequest is the body of POST /proxies/{name}/faults. Durations in
// Params are strings such as "150ms"; Percent is "30%" as in experiment
// files, or a fraction from 0 to 1 (zero or absent means all).
type FaultRequest struct {
	Kind      string                     `json:"kind"`
	Direction Direction                  `json:"direction,omitempty"`
	Percent   Share                      `json:"percent,omitempty"`
	Params    map[string]json.RawMessage `json:"params,omitempty"`
}

// Share is the part of connections or requests a fault hits, as a
// fraction from 0 to 1. In JSON it is "30%" or 0.3.
type Share float64

// UnmarshalJSON reads "30%" or 0.3.
func (s *Share) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = 0 // absent: all
		return nil
	}
	var str string
	if json.Unmarshal(b, &str) == nil {
		p, err := experiment.ParsePercent(str)
		if err != nil {
			return fmt.Errorf("percent: %v", err)
		}
		if p == 0 {
			// 0 as a number means "absent"; written as a percentage it
			// can only mean none, which is no fault at all.
			return fmt.Errorf("percent %q would never hit: leave percent out for all, or use more than 0%%", str)
		}
		*s = Share(p)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New(`percent: use "30%" or a fraction such as 0.3`)
	}
	if f < 0 || f > 1 {
		return fmt.Errorf(`percent %v: a number is a fraction from 0 to 1; for a percentage write "%v%%"`, f, f)
	}
	*s = Share(f)
	return nil
}

// NewAPI returns the JSON control API over the proxies in reg:
//
//	GET    /proxies                        snapshots of all proxies
//	GET    /proxies/{name}                 snapshot of one proxy
//	GET    /proxies/{name}/faults          its faults
//	POST   /proxies/{name}/faults          add a fault (a FaultRequest); 201 with the fault
//	DELETE /proxies/{name}/faults/{id}     remove one fault; 204
//	DELETE /proxies/{name}/faults          remove all faults; 204
//
// Errors are {"error": "..."} with a 4xx status. Without a token, requests
// with an Origin header (sent by browsers) or a Host that is not loopback
// are refused, so that web pages cannot reach the API through the browser.
func NewAPI(reg *Registry, opts APIOptions) http.Handler {
	a := &api{reg: reg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proxies", a.list)
	mux.HandleFunc("GET /proxies/{name}", a.withProxy(func(w http.ResponseWriter, r *http.Request, p *Proxy) {
		writeJSON(w, http.StatusOK, p.Snapshot())
	}))
	mux.HandleFunc("GET /proxies/{name}/faults", a.withProxy(func(w http.ResponseWriter, r *http.Request, p *Proxy) {
		writeJSON(w, http.StatusOK, p.Faults())
	}))
	mux.HandleFunc("POST /proxies/{name}/faults", a.withProxy(a.add))
	mux.HandleFunc("DELETE /proxies/{name}/faults/{id}", a.withProxy(a.remove))
	mux.HandleFunc("DELETE /proxies/{name}/faults", a.withProxy(a.removeAll))
	return guard(mux, opts, func(w http.ResponseWriter, status int, err error) { writeError(w, status, err) })
}

// guard lets through the requests the API's rules allow: with a token,
// those that carry it as a bearer token; without, those that do not come
// from a web page. Refusals are written by fail, in the API's own error
// shape.
func guard(h http.Handler, opts APIOptions, fail func(http.ResponseWriter, int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.Token != "" {
			if !bearer(r.Header.Get("Authorization"), opts.Token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="chaos proxy"`)
				fail(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
				return
			}
		} else if err := fromThisMachine(r, opts.TrustNetwork); err != nil {
			fail(w, http.StatusForbidden, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearer reports whether the Authorization header value carries token as
// a bearer token. The scheme is case-insensitive (RFC 9110 11.1); the
// token is compared in constant time.
func bearer(header, token string) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(cred)), []byte(token)) == 1
}

// API server limits. A client must send its whole request, body included,
// within APIReadTimeout: one that stalls in the middle of a body would
// otherwise hold its connection and handler forever.
const (
	APIReadTimeout = 10 * time.Second
	maxAPIBody     = 1 << 20
)

// NewAPIServer returns an HTTP server for a control API handler with the
// read, write and idle timeouts and the header size cap it needs.
func NewAPIServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       APIReadTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// BindAddr returns the address to bind a control API given as addr: a
// localhost name becomes 127.0.0.1, so that an address trusted as loopback
// (IsLoopback) is never looked up in DNS, where "localhost." or
// "LOCALHOST." may point anywhere.
func BindAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// fromThisMachine keeps web pages out of an API without a token, which
// is bound to loopback: a page can make the browser send a request there,
// across sites (it then carries an Origin) or through a DNS name made to
// point at 127.0.0.1 (it then carries that name as its Host).
func fromThisMachine(r *http.Request, anyHost bool) error {
	if o := r.Header.Get("Origin"); o != "" {
		return fmt.Errorf("requests from web pages (Origin %q) are refused", o)
	}
	if anyHost {
		return nil
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if r.Host == "" {
		return nil // HTTP/1.0 without Host: no browser sends that
	}
	if !IsLoopback(host) {
		return fmt.Errorf("host %q is not a loopback address; bind the API elsewhere with a token", r.Host)
	}
	return nil
}

type api struct{ reg *Registry }

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	snaps := []Snapshot{}
	for _, p := range a.reg.List() {
		snaps = append(snaps, p.Snapshot())
	}
	writeJSON(w, http.StatusOK, snaps)
}

func (a *api) withProxy(h func(http.ResponseWriter, *http.Request, *Proxy)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.reg.Get(r.PathValue("name"))
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("no proxy named %q", r.PathValue("name")))
			return
		}
		h(w, r, p)
	}
}

func (a *api) add(w http.ResponseWriter, r *http.Request, p *Proxy) {
	var req FaultRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode fault: %w", err))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, errors.New("decode fault: more after the JSON object"))
		return
	}
	f, err := req.Fault()
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id, err := p.Add(f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	for _, info := range p.Faults() {
		if info.ID == id {
			writeJSON(w, http.StatusCreated, info)
			return
		}
	}
	// Removed again by a concurrent request before it could be listed.
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (a *api) remove(w http.ResponseWriter, r *http.Request, p *Proxy) {
	if err := p.Remove(r.PathValue("id")); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNoFault) {
			status = http.StatusNotFound
		}
		writeError(w, status, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) removeAll(w http.ResponseWriter, r *http.Request, p *Proxy) {
	for _, info := range p.Faults() {
		if err := p.Remove(info.ID); err != nil && !errors.Is(err, ErrNoFault) {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// Fault builds the typed fault the request describes.
func (fr FaultRequest) Fault() (Fault, error) {
	params, err := NewParams(fr.Kind)
	if err != nil {
		return Fault{}, err
	}
	if err := decodeParams(params, fr.Params); err != nil {
		return Fault{}, fmt.Errorf("fault %s: %w", fr.Kind, err)
	}
	return Fault{Params: params, Direction: fr.Direction, Percent: float64(fr.Percent)}, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// paramFields maps the JSON names of a params struct, embedded Match
// included, to its settable fields.
func paramFields(v reflect.Value, into map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			paramFields(v.Field(i), into)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		into[name] = v.Field(i)
	}
}

func decodeParams(p Params, raw map[string]json.RawMessage) error {
	fields := map[string]reflect.Value{}
	paramFields(reflect.ValueOf(p).Elem(), fields)
	for key, msg := range raw {
		fv, ok := fields[key]
		if !ok {
			known := make([]string, 0, len(fields))
			for k := range fields {
				known = append(known, k)
			}
			sort.Strings(known)
			return fmt.Errorf("unknown parameter %q; known: %s", key, strings.Join(known, ", "))
		}
		if fv.Type() == durationType {
			var s string
			if err := json.Unmarshal(msg, &s); err != nil {
				return fmt.Errorf("parameter %s: want a duration string such as \"150ms\"", key)
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("parameter %s: %w", key, err)
			}
			fv.SetInt(int64(d))
			continue
		}
		if err := json.Unmarshal(msg, fv.Addr().Interface()); err != nil {
			return fmt.Errorf("parameter %s: want a %s", key, fv.Type())
		}
	}
	return nil
}

// encodeParams renders params with durations as strings, the form
// decodeParams reads.
func encodeParams(p Params) map[string]any {
	out := map[string]any{}
	if p == nil {
		return out
	}
	fields := map[string]reflect.Value{}
	paramFields(reflect.ValueOf(p).Elem(), fields)
	for name, fv := range fields {
		if fv.IsZero() {
			continue
		}
		if fv.Type() == durationType {
			out[name] = time.Duration(fv.Int()).String()
			continue
		}
		out[name] = fv.Interface()
	}
	return out
}

// MarshalJSON renders durations in Params as strings such as "150ms".
func (fi FaultInfo) MarshalJSON() ([]byte, error) {
	type plain FaultInfo
	return json.Marshal(struct {
		plain
		Params map[string]any `json:"params"`
	}{plain(fi), encodeParams(fi.Params)})
}

// UnmarshalJSON reads what MarshalJSON writes, building the typed Params
// from the kind.
func (fi *FaultInfo) UnmarshalJSON(b []byte) error {
	type plain FaultInfo
	var v struct {
		plain
		Params map[string]json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	params, err := NewParams(v.Kind)
	if err != nil {
		return err
	}
	if err := decodeParams(params, v.Params); err != nil {
		return fmt.Errorf("fault %s: %w", v.Kind, err)
	}
	*fi = FaultInfo(v.plain)
	fi.Params = params
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
