package proxy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// This file plugs the proxy into chaos: the proxy target kind, which starts
// with the run so that traffic flows through it all the time, and one fault
// per kind, switched on and off during the method.

// TargetSpec is a proxy target in an experiment file: a proxy the run
// starts (listen, upstream, protocol), or one that a running chaos proxy
// or Toxiproxy server holds (api, name, token), whose faults become
// toxics through its API.
type TargetSpec struct {
	Listen   string `yaml:"listen" json:"listen,omitempty" doc:"the address the run's proxy listens on, such as 127.0.0.1:9091: point the client here"`
	Upstream string `yaml:"upstream" json:"upstream,omitempty" doc:"the address the proxy forwards to, such as 127.0.0.1:9090"`
	// Protocol is tcp (default) or http, which adds the HTTP faults.
	Protocol string `yaml:"protocol" json:"protocol,omitempty" doc:"tcp (default) or http, which adds the HTTP faults http_error and http_delay"`
	// API is the base URL of the server, such as http://127.0.0.1:8474.
	API string `yaml:"api" json:"api,omitempty" doc:"the base URL of a running chaos proxy or Toxiproxy server, such as http://127.0.0.1:8474, whose proxy name the faults act on"`
	// Name is the proxy's name on that server.
	Name string `yaml:"name" json:"name,omitempty" doc:"the proxy's name on that server"`
	// Token is sent as a bearer token; CHAOS_PROXY_TOKEN when empty.
	Token string `yaml:"token" json:"token,omitempty" doc:"a bearer token for the server (default: the CHAOS_PROXY_TOKEN environment variable)"`

	target string
}

// Validate checks the addresses and the protocol, or the API URL.
func (s *TargetSpec) Validate() error {
	if s.API != "" || s.Name != "" {
		switch {
		case s.Listen != "" || s.Upstream != "" || s.Protocol != "":
			return errors.New("api and name are a proxy that runs already, listen, upstream and protocol one that the run starts: give one or the other")
		case s.API == "":
			return errors.New("name needs api: the URL of the chaos proxy or Toxiproxy server that holds the proxy")
		case s.Name == "":
			return errors.New("api needs name: the proxy's name on that server")
		}
		return checkAPIURL(s.API)
	}
	switch {
	case s.Token != "":
		return errors.New("token goes with api and name")
	case s.Listen == "" || s.Upstream == "":
		return errors.New("listen and upstream are required (or api and name, for a proxy that runs already)")
	}
	return Config{Listen: s.Listen, Upstream: s.Upstream, Protocol: s.Protocol}.Validate()
}

// settings are a fault's settings in an experiment file: the kind's own,
// plus the direction and the share of connections or requests hit.
type settings[P any] struct {
	Direction string              `yaml:"direction" json:"direction,omitempty" doc:"which way the fault acts: downstream (toward the client, default), upstream (toward the service) or both"`
	Percent   *experiment.Percent `yaml:"percent" json:"percent,omitempty" doc:"the share of connections (or, for HTTP faults, requests) the fault hits (default 100%)"`
	Params    P                   `yaml:",inline" json:"params"`

	name string
}

type params[P any] interface {
	*P
	Params
}

// Validate checks the settings.
func (s *settings[P]) Validate() error {
	switch Direction(s.Direction) {
	case "", Upstream, Downstream, Both:
	default:
		return fmt.Errorf("direction %q: use upstream, downstream or both", s.Direction)
	}
	if s.Percent != nil && *s.Percent == 0 {
		return errors.New("percent 0% would never hit: remove the step, or use more than 0%")
	}
	if p, ok := any(&s.Params).(Params); ok {
		return p.Validate()
	}
	return nil
}

// CheckTarget refuses an HTTP fault on a proxy that does not speak HTTP,
// and settings that a proxy reached through an API cannot carry: there,
// a fault both ways is a toxic per stream, each picking its own share.
func (s *settings[P]) CheckTarget(target any) error {
	if t, ok := target.(*TargetSpec); ok && t.API != "" {
		if Direction(s.Direction) == Both && s.Percent != nil && s.Percent.Fraction() < 1 {
			return fmt.Errorf("direction both with percent %v is not available on a proxy reached through an API: it takes a toxic per stream, each picking its own %v, so more would be hit than asked; use upstream or downstream, or 100%%", *s.Percent, *s.Percent)
		}
		if p, ok := any(&s.Params).(Params); ok {
			_, _, err := toxicFor(p)
			return err
		}
		return nil
	}
	if _, ok := any(&s.Params).(httpParams); !ok {
		return nil
	}
	if t, ok := target.(*TargetSpec); ok && t.API == "" && t.Protocol != "http" {
		return fmt.Errorf("needs a proxy with protocol: http, and this one speaks %s", cmp.Or(t.Protocol, "tcp"))
	}
	return nil
}

const undoRemove = "proxy.remove"

// undoData names the fault on its proxy.
type undoData struct {
	Proxy string `json:"proxy"`
	ID    string `json:"id,omitempty"`
	// Traffic is the proxy's Traffic when the fault went on, when its
	// revert can tell from it whether the fault met any (not a down: the
	// connections it refuses never reach the proxy); Conns, whether it
	// counts connections (ConnectionLevel).
	Traffic *int64 `json:"traffic,omitempty"`
	Conns   bool   `json:"conns,omitempty"`
	// Unused says that nothing had gone through the proxy yet when a down
	// went on: if nothing has at its revert either, no client uses it.
	Unused bool `json:"unused,omitempty"`
}

func resourceKey(name string) string { return "proxy:" + name }

func registerFault[P any, PP params[P]](name string, doc experiment.Doc) {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: name, New: func() inject.Fault { return &settings[P]{name: name} }, Doc: doc})
}

// Plan records how to take the fault off its proxy: off the one in this
// process it goes with the process; off one reached through an API it is
// removed through that API.
func (s *settings[P]) Plan(_ context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	if px, ok := env.Lookup(resourceKey(t.ID)); ok {
		if r, ok := px.(*remote); ok {
			all := s.Percent == nil || s.Percent.Fraction() >= 1
			data, _ := json.Marshal(r.plan(s.name, Direction(s.Direction), all))
			// Another run's experiment may name the same proxy as a
			// target of another name: it holds the proxy all the same.
			return inject.Undo{Action: undoRemoteRemove, Target: t, Data: data, Holds: []string{"proxy " + r.name + " at " + r.api}}, nil
		}
	}
	data, _ := json.Marshal(undoData{Proxy: t.ID})
	return inject.Undo{Action: undoRemove, Target: t, Data: data, Volatile: true}, nil
}

// Inject adds the fault to the proxy.
func (s *settings[P]) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	px, ok := env.Lookup(resourceKey(t.ID))
	if !ok {
		return u, fmt.Errorf("proxy %s is not running", t.ID)
	}
	f := Fault{Params: any(&s.Params).(Params), Direction: Direction(s.Direction)}
	if s.Percent != nil {
		f.Percent = s.Percent.Fraction()
	}
	if r, ok := px.(*remote); ok {
		var ru remoteUndo
		if err := json.Unmarshal(u.Data, &ru); err != nil {
			return u, err
		}
		if !ru.Disabled {
			// Not a down: the connections it refuses never reach the proxy.
			ru.Conns = ConnectionLevel(f.Params)
			if t, _, ok := r.traffic(ctx, ru.Conns); ok {
				ru.Traffic = &t
				u.Data, _ = json.Marshal(ru)
			}
		}
		return u, r.inject(ctx, f, ru)
	}
	p := px.(*Proxy)
	conns := ConnectionLevel(f.Params)
	before := p.Traffic(conns)
	id, err := p.Add(f)
	if err != nil {
		return u, fmt.Errorf("add %s to proxy %s: %w", s.name, t.ID, err)
	}
	d := undoData{Proxy: t.ID, ID: id, Conns: conns}
	if _, down := f.Params.(*Down); !down {
		d.Traffic = &before
	} else {
		d.Unused = p.Traffic(true) == 0
	}
	u.Data, _ = json.Marshal(d)
	return u, nil
}

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name: "proxy",
		New:  func() any { return &TargetSpec{} },
		Doc: experiment.Doc{
			Summary: "A fault proxy between a client and a service: one the run starts with listen and upstream, which carries traffic for the whole run and faults only while a fault step is active, or a proxy on a running chaos proxy or Toxiproxy server, with api and name. Point the client at listen instead of the service.",
			Example: "{listen: 127.0.0.1:9091, upstream: 127.0.0.1:9090, protocol: http}",
		},
		Resolve: func(ctx context.Context, _ *inject.Env, spec any) ([]inject.Target, error) {
			s := spec.(*TargetSpec)
			if s.API == "" {
				return []inject.Target{{Kind: "proxy", ID: s.target, Name: s.Listen + " -> " + s.Upstream}}, nil
			}
			desc, err := s.remote().describe(ctx)
			switch {
			case errors.Is(err, errNotThere):
				return nil, nil
			case err != nil:
				return nil, fmt.Errorf("proxy %s at %s: %w", s.Name, s.API, err)
			}
			return []inject.Target{{Kind: "proxy", ID: s.target, Name: fmt.Sprintf("%s at %s: %s", s.Name, s.API, desc)}}, nil
		},
		Start: func(ctx context.Context, env *inject.Env, name string, spec any) (io.Closer, error) {
			s := spec.(*TargetSpec)
			s.target = name
			if s.API != "" {
				r := s.remote()
				if _, err := r.describe(ctx); err != nil {
					if errors.Is(err, errNotThere) {
						err = errors.New("the server has no proxy of that name")
					}
					return nil, fmt.Errorf("proxy %s at %s: %w", s.Name, s.API, err)
				}
				env.Put(resourceKey(name), r)
				return r, nil
			}
			p := New(Config{Name: name, Listen: s.Listen, Upstream: s.Upstream, Protocol: s.Protocol})
			if err := p.Start(ctx); err != nil {
				return nil, err
			}
			env.Put(resourceKey(name), p)
			return p, nil
		},
		// The run's own proxy depends on nothing: it dials its upstream
		// for each connection. A proxy on a server waits for the services,
		// which may run the server.
		BeforeServices: func(spec any) bool { return spec.(*TargetSpec).API == "" },
		Listens: func(spec any) string {
			if s := spec.(*TargetSpec); s.API == "" {
				return s.Listen
			}
			return ""
		},
	})
	registerFault[Latency]("latency", experiment.Doc{
		Summary: "Delays the bytes in its direction, without reordering them or limiting throughput.",
		Example: "{delay: 300ms, jitter: 50ms}",
	})
	registerFault[Bandwidth]("bandwidth", experiment.Doc{
		Summary: "Limits the throughput in its direction; with several, the lowest rate wins.",
		Example: "{rate: 10240}",
	})
	registerFault[Timeout]("timeout", experiment.Doc{
		Summary: "Accepts connections but forwards nothing in its direction: bytes wait, as behind a hung peer, and flow again when the fault is removed.",
		Example: "{close_after: 5s}",
	})
	registerFault[Reset]("reset", experiment.Doc{
		Summary: "Aborts connections with a TCP RST to both peers: open ones at once and new ones as soon as they are accepted, or after some bytes.",
		Example: "{after_bytes: 1024}",
	})
	registerFault[Down]("down", experiment.Doc{
		Summary: "Takes the service away: open connections are reset and new ones refused. With percent below 100%, that share of new connections is accepted and reset. It takes no settings of its own.",
		Example: "{}",
	})
	registerFault[Slicer]("slicer", experiment.Doc{
		Summary: "Cuts the stream in its direction into small writes with pauses between them, for peers that assume a message arrives in one read.",
		Example: "{size: 64, variation: 16, delay: 1ms}",
	})
	registerFault[LimitData]("limit_data", experiment.Doc{
		Summary: "Closes each connection once a number of bytes have gone through, as a peer that gives up in the middle of a transfer.",
		Example: "{bytes: 4096}",
	})
	registerFault[SlowClose]("slow_close", experiment.Doc{
		Summary: "Delays passing on the end of the stream: the peer sees the close that much later.",
		Example: "{delay: 2s}",
	})
	registerFault[HTTPError]("http_error", experiment.Doc{
		Summary: "Answers the HTTP requests it hits itself, with a status and body; they never reach the service. Needs protocol: http.",
		Example: "{status: 503, path_prefix: /api, percent: 30%}",
	})
	registerFault[HTTPDelay]("http_delay", experiment.Doc{
		Summary: "Holds the HTTP requests it hits before passing them on. Needs protocol: http.",
		Example: "{delay: 2s, method: POST}",
	})
	inject.RegisterUndo(undoRemoteRemove, func(ctx context.Context, env *inject.Env, u inject.Undo) error {
		var d remoteUndo
		if err := json.Unmarshal(u.Data, &d); err != nil {
			return fmt.Errorf("remove proxy toxics: bad undo record: %w", err)
		}
		// The run's own token; after a crash, the one the ledger kept,
		// else CHAOS_PROXY_TOKEN.
		token := d.Token
		if px, ok := env.Lookup(resourceKey(u.Target.ID)); ok {
			if r, ok := px.(*remote); ok && r.token != "" {
				token = r.token
			}
		}
		return revertRemote(ctx, d, token)
	})
	inject.RegisterUndo(undoRemove, func(_ context.Context, env *inject.Env, u inject.Undo) error {
		var d undoData
		if err := json.Unmarshal(u.Data, &d); err != nil {
			return fmt.Errorf("remove proxy fault: bad undo record: %w", err)
		}
		px, ok := env.Lookup(resourceKey(d.Proxy))
		if !ok || d.ID == "" {
			// The proxy lived in a process that is gone, and its faults
			// with it.
			return nil
		}
		p := px.(*Proxy)
		hits, counted := p.Hits(d.ID)
		if err := p.Remove(d.ID); err != nil && !errors.Is(err, ErrNoFault) {
			return fmt.Errorf("remove fault %s from proxy %s: %w", d.ID, d.Proxy, err)
		}
		switch {
		case d.Traffic != nil && p.Traffic(d.Conns) == *d.Traffic && d.Conns:
			return inject.NotReached("no connection, request or byte went through proxy %s (%s) while it was on: is the client pointed at its listen address?", d.Proxy, p.Addr())
		case d.Traffic != nil && p.Traffic(d.Conns) == *d.Traffic:
			return inject.NotReached("no request or byte went through proxy %s (%s) while it was on, so the fault, which acts on the bytes, met none: is the client pointed at its listen address?", d.Proxy, p.Addr())
		case d.Unused && p.Traffic(true) == 0:
			return inject.NotReached("nothing has gone through proxy %s (%s) since it started, so no client met it: is the client pointed at its listen address?", d.Proxy, p.Addr())
		case counted && hits == 0:
			return pickedNothing(d.Proxy)
		}
		return nil
	})
}

// pickedNothing is the Unreached of a fault that picks what it acts on
// (an HTTP fault's requests, a share of the connections) and picked
// nothing on proxy: traffic went through, none of it faulted.
func pickedNothing(proxy string) error {
	return inject.NotReached("it acted on nothing that went through proxy %s while it was on: no request matched it (an HTTP fault's method, path or header), or its percent picked no connection or request", proxy)
}
