package network

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// The intercept fault sends a target's new connections to a dependency
// (host and port) through the fault proxy, in place, and switches on one
// proxy fault for them, written under its own key with the settings it
// has on a proxy target:
//
//	fault: intercept
//	with: {host: 10.0.0.7, port: 5432, latency: {delay: 300ms}}
//
// Every proxy fault works on a target that keeps talking to its
// dependency's real address; see Intercept.
func init() {
	for _, k := range targetKinds {
		inject.RegisterFault(inject.FaultKind{Target: k, Name: "intercept", New: func() inject.Fault { return &InterceptSettings{} }, Doc: experiment.Doc{
			Summary: "Sends the target's new TCP connections to a dependency (host and port) through the fault proxy, in place, and switches on one proxy fault for them, written under its own key with the settings it has on a proxy target.",
			Example: "{host: 10.0.0.7, port: 5432, latency: {delay: 300ms}}",
		}})
	}
}

// InterceptSettings are the settings of the intercept fault: which
// connections go through the proxy, and exactly one proxy fault.
type InterceptSettings struct {
	Intercept `yaml:",inline"`

	Latency   *ProxyFault[proxy.Latency]   `yaml:"latency" json:"latency,omitempty" doc:"the proxy fault latency: delays the bytes (see its entry for a proxy target)"`
	Bandwidth *ProxyFault[proxy.Bandwidth] `yaml:"bandwidth" json:"bandwidth,omitempty" doc:"the proxy fault bandwidth: limits the throughput (see its entry for a proxy target)"`
	Timeout   *ProxyFault[proxy.Timeout]   `yaml:"timeout" json:"timeout,omitempty" doc:"the proxy fault timeout: forwards nothing, as a hung peer (see its entry for a proxy target)"`
	Reset     *ProxyFault[proxy.Reset]     `yaml:"reset" json:"reset,omitempty" doc:"the proxy fault reset: aborts connections with a TCP RST (see its entry for a proxy target)"`
	Down      *ProxyFault[proxy.Down]      `yaml:"down" json:"down,omitempty" doc:"the proxy fault down: resets open connections and refuses new ones (see its entry for a proxy target)"`
	Slicer    *ProxyFault[proxy.Slicer]    `yaml:"slicer" json:"slicer,omitempty" doc:"the proxy fault slicer: cuts the stream into small writes with pauses (see its entry for a proxy target)"`
	LimitData *ProxyFault[proxy.LimitData] `yaml:"limit_data" json:"limit_data,omitempty" doc:"the proxy fault limit_data: closes each connection after a number of bytes (see its entry for a proxy target)"`
	SlowClose *ProxyFault[proxy.SlowClose] `yaml:"slow_close" json:"slow_close,omitempty" doc:"the proxy fault slow_close: delays passing on the end of the stream (see its entry for a proxy target)"`
	HTTPError *ProxyFault[proxy.HTTPError] `yaml:"http_error" json:"http_error,omitempty" doc:"the proxy fault http_error: answers the HTTP requests it hits with a status, with http: true (see its entry for a proxy target)"`
	HTTPDelay *ProxyFault[proxy.HTTPDelay] `yaml:"http_delay" json:"http_delay,omitempty" doc:"the proxy fault http_delay: holds the HTTP requests it hits, with http: true (see its entry for a proxy target)"`
}

// ProxyFault is one proxy fault inside an intercept: the kind's own
// settings, the direction it acts on and the share of connections (HTTP
// faults: requests) it hits, as on a proxy target.
type ProxyFault[P any] struct {
	Direction string              `yaml:"direction" json:"direction,omitempty" doc:"upstream, downstream or both: the data the proxy fault acts on"`
	Percent   *experiment.Percent `yaml:"percent" json:"percent,omitempty" doc:"the share of connections (HTTP faults: requests) the proxy fault hits (default: all)"`
	Params    P                   `yaml:",inline" json:"params"`
}

// Validate checks the direction, the percent and the kind's settings.
func (p *ProxyFault[P]) Validate() error {
	switch proxy.Direction(p.Direction) {
	case "", proxy.Upstream, proxy.Downstream, proxy.Both:
	default:
		return fmt.Errorf("direction %q: use upstream, downstream or both", p.Direction)
	}
	if p.Percent != nil && p.Percent.Fraction() <= 0 {
		return errors.New("percent 0% would never hit: remove the step, or use more than 0%")
	}
	return p.params().Validate()
}

func (p *ProxyFault[P]) params() proxy.Params { return any(&p.Params).(proxy.Params) }

func (p *ProxyFault[P]) fault() proxy.Fault {
	f := proxy.Fault{Params: p.params(), Direction: proxy.Direction(p.Direction)}
	if p.Percent != nil {
		f.Percent = p.Percent.Fraction()
	}
	return f
}

// proxyKeys are the keys of the proxy faults, in the order of the fields.
func proxyKeys() []string {
	t := reflect.TypeFor[InterceptSettings]()
	var out []string
	for i := 1; i < t.NumField(); i++ {
		out = append(out, t.Field(i).Tag.Get("yaml"))
	}
	return out
}

// proxyFault returns the one proxy fault set, and its key.
func (s *InterceptSettings) proxyFault() (proxy.Fault, string, error) {
	v := reflect.ValueOf(s).Elem()
	var f proxy.Fault
	var keys []string
	for i := 1; i < v.NumField(); i++ {
		if v.Field(i).IsNil() {
			continue
		}
		keys = append(keys, v.Type().Field(i).Tag.Get("yaml"))
		f = v.Field(i).Interface().(interface{ fault() proxy.Fault }).fault()
	}
	switch len(keys) {
	case 0:
		return f, "", fmt.Errorf("a proxy fault is required, under its own key: one of %s", strings.Join(proxyKeys(), ", "))
	case 1:
		return f, keys[0], nil
	}
	return f, "", fmt.Errorf("%s: one proxy fault per intercept step; use a step for each", strings.Join(keys, " and "))
}

// Validate checks the connections and the proxy fault. An HTTP fault
// makes the proxy parse HTTP.
func (s *InterceptSettings) Validate() error {
	if err := s.Intercept.Validate(); err != nil {
		return err
	}
	_, _, err := s.proxyFault()
	return err
}

func (s *InterceptSettings) intercept() *Intercept {
	in := s.Intercept
	if _, key, _ := s.proxyFault(); strings.HasPrefix(key, "http_") {
		in.HTTP = true
	}
	return &in
}

// Precheck refuses a target whose namespace chaos cannot act in.
func (s *InterceptSettings) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, t)
}

// Plan records the table the intercept will own in the target's
// namespace.
func (s *InterceptSettings) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, s.intercept())
}

// Inject starts the intercept and switches its proxy fault on, which puts
// the redirect in (and cuts the open connections, with cut_established).
func (s *InterceptSettings) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	pf, key, err := s.proxyFault()
	if err != nil {
		return u, err
	}
	cut := 0
	u, err = apply(ctx, env, u, s.intercept(), func(a *Applied) error {
		if _, err := a.Interception().Add(ctx, pf); err != nil {
			return fmt.Errorf("intercept on %s: switch %s on: %w", t, key, err)
		}
		cut = a.Interception().CutCount()
		return nil
	})
	if err == nil && s.CutEstablished {
		u.Notes = append(slices.Clip(u.Notes), cutNote(cut))
	}
	return u, err
}

// cutNote says how many open connections an intercept cut.
func cutNote(n int) string {
	if n == 1 {
		return "cut 1 open connection to the dependency"
	}
	return fmt.Sprintf("cut %d open connections to the dependency", n)
}

// Describe says where the intercept acts, the rules it installs and the
// proxy fault.
func (s *InterceptSettings) Describe(ctx context.Context, env *inject.Env, t inject.Target) ([]string, error) {
	out, err := describe(ctx, env, t, s.intercept())
	if err != nil {
		return nil, err
	}
	_, key, _ := s.proxyFault()
	return append(out, "  then the proxy's "+key+" fault acts on the connections it carries"), nil
}
