package experiment

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Engine is a Docker engine an experiment names under engines: by a Docker
// context of the Docker CLI, or by its address and TLS settings as the
// Docker CLI takes them (-H, --tlscacert, --tlscert, --tlskey, --tlsverify).
type Engine struct {
	Pos Pos `json:"-" yaml:"-"`
	// Name is the key under engines:.
	Name    string     `json:"name" yaml:"-"`
	Context string     `json:"context,omitempty" yaml:"context" doc:"a Docker context of the Docker CLI by name (docker context ls), read from ~/.docker/contexts (or DOCKER_CONFIG's)"`
	Host    string     `json:"host,omitempty" yaml:"host" doc:"the engine's address: unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]; ssh runs the ssh command and docker system dial-stdio on the host, as the Docker CLI does"`
	TLS     *EngineTLS `json:"tls,omitempty" yaml:"tls" doc:"TLS for a tcp:// host, as the Docker CLI's --tlscacert, --tlscert, --tlskey and --tlsverify"`
}

// EngineTLS is how chaos talks TLS to a tcp:// engine.
type EngineTLS struct {
	CA   Path `json:"ca,omitempty" yaml:"ca" doc:"the CA certificate the engine's certificate must be signed by (--tlscacert; default: the system's roots)"`
	Cert Path `json:"cert,omitempty" yaml:"cert" doc:"the client certificate (--tlscert)"`
	Key  Path `json:"key,omitempty" yaml:"key" doc:"the client certificate's key (--tlskey)"`
	// Verify is true unless set to false.
	Verify *bool `json:"verify,omitempty" yaml:"verify" doc:"check the engine's certificate (--tlsverify; default true); false talks TLS without checking it, as --tls alone"`
}

// Verifies reports whether the engine's certificate is checked.
func (t *EngineTLS) Verifies() bool { return t.Verify == nil || *t.Verify }

// Validate checks that the engine is named one way, and its address.
func (e *Engine) Validate() error {
	switch {
	case e.Context != "" && e.Host != "":
		return errorString("give either context or host, not both")
	case e.Context == "" && e.Host == "":
		return errorString("name the engine with context (a Docker context) or host (unix://, tcp:// or ssh://)")
	case e.Context != "" && e.TLS != nil:
		return errorString("a context carries its own TLS settings: remove tls, or use host")
	case e.Context != "":
		return nil
	}
	scheme, err := HostScheme(e.Host)
	if err != nil {
		return err
	}
	if e.TLS != nil {
		if scheme != "tcp" {
			return fmt.Errorf("tls is for a tcp:// host, not %s://", scheme)
		}
		if (e.TLS.Cert == "") != (e.TLS.Key == "") {
			return errorString("tls: give cert and key together")
		}
	}
	return nil
}

// HostScheme returns the scheme of a Docker engine address, which must be
// one chaos can talk to: unix, tcp or ssh.
func HostScheme(host string) (string, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("host %q: want unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]", host)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return "", fmt.Errorf("host %q: a unix socket needs its path, as unix:///var/run/docker.sock", host)
		}
	case "tcp", "ssh":
		if u.Host == "" {
			return "", fmt.Errorf("host %q: name the machine, as %s://HOST:PORT", host, u.Scheme)
		}
	default:
		return "", fmt.Errorf("host %q: scheme %s:// is not one chaos talks to: use unix://, tcp:// or ssh://", host, u.Scheme)
	}
	return u.Scheme, nil
}

// LocalHost reports whether a Docker engine address is on this machine:
// a unix socket. chaos reaches the processes of such an engine's
// containers from here; a tcp:// or ssh:// engine, even on this machine,
// is taken for a remote one.
func LocalHost(host string) bool { return strings.HasPrefix(host, "unix://") }

// Engined is implemented by target settings that act on Docker engines:
// EngineNames lists the engines, by their names under engines:, that the
// target searches; none means the default engine.
type Engined interface {
	EngineNames() []string
}

// HostFault is implemented by fault settings that act from chaos's own
// machine on the target's processes (a crash, the network and resource
// faults), which a remote engine's containers are out of reach of.
type HostFault interface {
	// HostNeeds says what the fault needs of the engine of its target:
	// NeedsNothing or NeedsLocalEngine (any engine on this machine); and
	// why, in words such as "a crash signals the container's process from
	// this machine".
	HostNeeds() (need HostNeed, why string)
}

// HostNeed is what a fault needs of the engine of its target.
type HostNeed int

// What faults need of the engine of their target.
const (
	NeedsNothing HostNeed = iota
	NeedsLocalEngine
)

// checkEngines checks what refers to engines: a target's engine names
// must be under engines:, a context must exist, and a fault that acts from
// this machine must have its target on an engine of this machine.
func (d *decoder) checkEngines(e *Experiment, doc *yaml.Node, dockerHost func(context string) (string, error)) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range e.Engines {
			if !yield(n) {
				return
			}
		}
	})
	hosts := map[string]string{}
	for _, n := range names {
		en := e.Engines[n]
		if en == nil {
			// Written as a key with nothing after it.
			en = &Engine{Pos: posOf(cmpNode(valueOf(valueOf(doc, "engines"), n), doc))}
			e.Engines[n] = en
			d.add(en.Pos, fmt.Sprintf("engine %q: name it with context (a Docker context) or host (unix://, tcp:// or ssh://)", n))
		}
		en.Name = n
		if !validName(n) {
			d.add(en.Pos, fmt.Sprintf("engine name %q: use letters, digits, _ and -", n))
		}
		if en.Context != "" && dockerHost != nil {
			h, err := dockerHost(en.Context)
			if err != nil {
				d.add(posOf(cmpNode(valueOf(valueOf(valueOf(doc, "engines"), n), "context"), valueOf(valueOf(doc, "engines"), n))), fmt.Sprintf("engine %q: %v", n, err))
				continue
			}
			hosts[n] = h
		} else if en.Host != "" {
			hosts[n] = en.Host
		}
	}
	targetsNode := valueOf(doc, "targets")
	for _, t := range e.Targets {
		en, ok := t.Spec.(Engined)
		if !ok {
			continue
		}
		for _, n := range en.EngineNames() {
			if e.Engines[n] == nil {
				pos := t.Pos
				if kn := valueOf(valueOf(targetsNode, t.Name), t.Kind); kn != nil {
					pos = posOf(cmpNode(valueOf(kn, "engine"), kn))
				}
				d.add(pos, fmt.Sprintf("%s target %q: engine %q is not defined under engines%s", t.Kind, t.Name, n, d.didYouMean(n, func() []string { return names })))
			}
		}
	}
	var probes []*Probe
	for _, c := range slices.Concat(e.SteadyState, e.AbortWhen) {
		probes = append(probes, c.Probe)
	}
	for _, s := range slices.Concat(e.Method, e.Rollbacks) {
		probes = append(probes, s.Probe)
	}
	for _, s := range e.Services {
		if s.Ready != nil {
			probes = append(probes, &s.Ready.Probe)
		}
	}
	for _, p := range probes {
		if p == nil {
			continue
		}
		if en, ok := p.Spec.(Engined); ok {
			for _, n := range en.EngineNames() {
				if e.Engines[n] == nil {
					d.add(p.Pos, fmt.Sprintf("%s probe: engine %q is not defined under engines%s", p.Kind, n, d.didYouMean(n, func() []string { return names })))
				}
			}
		}
	}
	for _, s := range slices.Concat(e.Method, e.Rollbacks) {
		hf, ok := s.With.(HostFault)
		if !ok || s.Kind != StepFault {
			continue
		}
		need, why := hf.HostNeeds()
		t := e.Targets.Get(s.Target)
		if need == NeedsNothing || t == nil {
			continue
		}
		var engines []string
		if en, ok := t.Spec.(Engined); ok {
			engines = en.EngineNames()
		}
		if len(engines) == 0 {
			if dockerHost == nil {
				continue
			}
			// The default engine, when the target is a container.
			if _, ok := t.Spec.(Engined); !ok {
				continue
			}
			h, err := dockerHost("")
			if err == nil && !LocalHost(h) {
				d.add(s.Pos, fmt.Sprintf("step %q: %s, but the default Docker engine (%s) is not on this machine: run chaos on the Docker host, or choose a fault that acts through the engine's API (kill without crash, stop, pause, restart, disconnect)", s.Name, why, h))
			}
			continue
		}
		for _, n := range engines {
			h, known := hosts[n]
			switch {
			case known && !LocalHost(h):
				d.add(s.Pos, fmt.Sprintf("step %q: %s, but engine %q (%s) is not on this machine: run chaos on that Docker host, or choose a fault that acts through the engine's API (kill without crash, stop, pause, restart, disconnect)", s.Name, why, n, h))
			default:
				continue
			}
			break
		}
	}
}

// cmpNode returns the first node that is not nil.
func cmpNode(ns ...*yaml.Node) *yaml.Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}
