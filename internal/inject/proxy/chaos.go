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
	Listen   string `yaml:"listen" json:"listen,omitempty"`
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Protocol is tcp (default) or http, which adds the HTTP faults.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// API is the base URL of the server, such as http://127.0.0.1:8474.
	API string `yaml:"api" json:"api,omitempty"`
	// Name is the proxy's name on that server.
	Name string `yaml:"name" json:"name,omitempty"`
	// Token is sent as a bearer token; CHAOS_PROXY_TOKEN when empty.
	Token string `yaml:"token" json:"token,omitempty"`

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
	Direction string              `yaml:"direction" json:"direction,omitempty"`
	Percent   *experiment.Percent `yaml:"percent" json:"percent,omitempty"`
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
// and settings that a proxy reached through an API cannot carry.
func (s *settings[P]) CheckTarget(target any) error {
	if t, ok := target.(*TargetSpec); ok && t.API != "" {
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
}

func resourceKey(name string) string { return "proxy:" + name }

func registerFault[P any, PP params[P]](name string) {
	inject.RegisterFault(inject.FaultKind{Target: "proxy", Name: name, New: func() inject.Fault { return &settings[P]{name: name} }})
}

// Plan records how to take the fault off its proxy: off the one in this
// process it goes with the process; off one reached through an API it is
// removed through that API.
func (s *settings[P]) Plan(_ context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	if px, ok := env.Lookup(resourceKey(t.ID)); ok {
		if r, ok := px.(*remote); ok {
			all := s.Percent == nil || s.Percent.Fraction() >= 1
			data, _ := json.Marshal(r.plan(s.name, Direction(s.Direction), all))
			return inject.Undo{Action: undoRemoteRemove, Target: t, Data: data}, nil
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
		return u, r.inject(ctx, f, ru)
	}
	id, err := px.(*Proxy).Add(f)
	if err != nil {
		return u, fmt.Errorf("add %s to proxy %s: %w", s.name, t.ID, err)
	}
	u.Data, _ = json.Marshal(undoData{Proxy: t.ID, ID: id})
	return u, nil
}

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name: "proxy",
		New:  func() any { return &TargetSpec{} },
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
	})
	registerFault[Latency]("latency")
	registerFault[Bandwidth]("bandwidth")
	registerFault[Timeout]("timeout")
	registerFault[Reset]("reset")
	registerFault[Down]("down")
	registerFault[Slicer]("slicer")
	registerFault[LimitData]("limit_data")
	registerFault[SlowClose]("slow_close")
	registerFault[HTTPError]("http_error")
	registerFault[HTTPDelay]("http_delay")
	inject.RegisterUndo(undoRemoteRemove, func(ctx context.Context, env *inject.Env, u inject.Undo) error {
		var d remoteUndo
		if err := json.Unmarshal(u.Data, &d); err != nil {
			return fmt.Errorf("remove proxy toxics: bad undo record: %w", err)
		}
		// The run's own token; after a crash, CHAOS_PROXY_TOKEN.
		var token string
		if px, ok := env.Lookup(resourceKey(u.Target.ID)); ok {
			if r, ok := px.(*remote); ok {
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
		if err := px.(*Proxy).Remove(d.ID); err != nil && !errors.Is(err, ErrNoFault) {
			return fmt.Errorf("remove fault %s from proxy %s: %w", d.ID, d.Proxy, err)
		}
		return nil
	})
}
