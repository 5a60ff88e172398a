package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Daemon is how to reach one Docker engine: what an experiment's
// engines: entry names, with a context read into its address and TLS
// files. Fault records carry it, so that chaos recover reverts a fault on
// the engine it was injected on without the experiment file.
type Daemon struct {
	// Name is the engine's name under engines:; empty for the default
	// engine.
	Name string `json:"name,omitempty"`
	// Host is the engine's address (unix://, tcp://, ssh://).
	Host string `json:"host,omitempty"`
	// TLS says to talk TLS; CA, Cert and Key are its files, any of which
	// may be empty; SkipVerify leaves the engine's certificate unchecked.
	TLS        bool   `json:"tls,omitempty"`
	CA         string `json:"ca,omitempty"`
	Cert       string `json:"cert,omitempty"`
	Key        string `json:"key,omitempty"`
	SkipVerify bool   `json:"skip_verify,omitempty"`
}

// Default reports whether the endpoint is the default engine's.
func (p *Daemon) Default() bool { return p == nil || (p.Name == "" && p.Host == "") }

// String names the engine for messages.
func (p *Daemon) String() string {
	if p.Default() {
		return "the default engine"
	}
	if p.Name == "" {
		return p.Host
	}
	return fmt.Sprintf("engine %q (%s)", p.Name, p.Host)
}

// configDir is the Docker CLI's configuration directory: DOCKER_CONFIG,
// else ~/.docker.
func configDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// currentContext is the context the Docker CLI would use: DOCKER_CONTEXT,
// else the config file's currentContext; "" or "default" for none.
func currentContext() string {
	if c := os.Getenv("DOCKER_CONTEXT"); c != "" {
		return c
	}
	b, err := os.ReadFile(filepath.Join(configDir(), "config.json"))
	if err != nil {
		return ""
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return cfg.CurrentContext
}

// contextDaemon reads a context of the Docker CLI from its store:
// contexts/meta/SHA256(NAME)/meta.json for the address, and
// contexts/tls/SHA256(NAME)/docker/ for the TLS files.
func contextDaemon(name string) (Daemon, error) {
	if name == "default" {
		return Daemon{Host: defaultHost()}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	dir := configDir()
	b, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Daemon{}, fmt.Errorf("no Docker context %q in %s: list them with docker context ls", name, filepath.Join(dir, "contexts"))
	}
	if err != nil {
		return Daemon{}, fmt.Errorf("read Docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return Daemon{}, fmt.Errorf("read Docker context %q: %w", name, err)
	}
	d, ok := meta.Endpoints["docker"]
	if !ok || d.Host == "" {
		return Daemon{}, fmt.Errorf("the Docker context %q has no docker endpoint", name)
	}
	p := Daemon{Host: d.Host, SkipVerify: d.SkipTLSVerify}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	for _, f := range []struct {
		file string
		to   *string
	}{{"ca.pem", &p.CA}, {"cert.pem", &p.Cert}, {"key.pem", &p.Key}} {
		if _, err := os.Stat(filepath.Join(tlsDir, f.file)); err == nil {
			*f.to = filepath.Join(tlsDir, f.file)
			p.TLS = true
		}
	}
	if d.SkipTLSVerify {
		p.TLS = true
	}
	return p, nil
}

// defaultHost is DOCKER_HOST, else the default socket.
func defaultHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// DockerHost returns the address of the Docker context name, or for ""
// that of the default engine as the Docker CLI chooses it: DOCKER_HOST,
// else the current context (DOCKER_CONTEXT, or the config file's), else
// the default socket. The experiment loader uses it to refuse faults that
// need an engine on this machine.
func DockerHost(name string) (string, error) {
	if name == "" {
		if os.Getenv("DOCKER_HOST") != "" {
			return defaultHost(), nil
		}
		name = currentContext()
		if name == "" {
			return defaultHost(), nil
		}
	}
	p, err := contextDaemon(name)
	return p.Host, err
}

// DaemonOf returns how to reach the engine an experiment names.
func DaemonOf(en *experiment.Engine) (Daemon, error) {
	if en.Context != "" {
		p, err := contextDaemon(en.Context)
		if err != nil {
			return p, fmt.Errorf("engine %q: %w", en.Name, err)
		}
		p.Name = en.Name
		return p, nil
	}
	p := Daemon{Name: en.Name, Host: en.Host}
	if t := en.TLS; t != nil {
		p.TLS, p.CA, p.Cert, p.Key, p.SkipVerify = true, string(t.CA), string(t.Cert), string(t.Key), !t.Verifies()
	}
	return p, nil
}

// options are the client options that reach p: its address, its TLS, and
// for ssh:// the Docker CLI's way through docker system dial-stdio.
func (p Daemon) options() ([]client.Opt, error) {
	var opts []client.Opt
	if p.TLS {
		cfg, err := tlsconfig.Client(tlsconfig.Options{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key, InsecureSkipVerify: p.SkipVerify, ExclusiveRootPools: p.CA != ""})
		if err != nil {
			return nil, fmt.Errorf("TLS settings of %s: %w", p.String(), err)
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg.Clone()}, CheckRedirect: client.CheckRedirect}))
	}
	scheme, err := experiment.HostScheme(p.Host)
	if err != nil {
		return nil, err
	}
	if scheme == "ssh" {
		dial, err := sshDialer(p.Host)
		if err != nil {
			return nil, err
		}
		// The host is a placeholder: every connection goes through ssh.
		return append(opts, client.WithHost("http://docker.example.com"), client.WithDialContext(dial)), nil
	}
	return append(opts, client.WithHost(p.Host)), nil
}

// ConnectTo connects to the engine at p, as Connect does to the default
// one.
func ConnectTo(ctx context.Context, p Daemon) (*Engine, error) {
	if p.Default() {
		return Connect(ctx)
	}
	opts, err := p.options()
	if err != nil {
		return nil, err
	}
	cli, err := client.NewClientWithOpts(append(opts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, fmt.Errorf("configure the Docker client for %s: %w", p.String(), err)
	}
	return ping(ctx, cli, p.Host, p.Name)
}
