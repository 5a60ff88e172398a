package experiment_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	_ "github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/runner"
)

// TestEngines checks the engines section: TLS paths taken from the
// experiment file's directory, and what the loader asks of the Docker
// CLI's settings through DockerHost.
func TestEngines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.yaml")
	src := `version: v1
title: engines
engines:
  a: {host: "tcp://192.0.2.1:2376", tls: {ca: certs/ca.pem, cert: /etc/c.pem, key: certs/k.pem, verify: false}}
  b: {context: near}
targets:
  web: {docker: {name: web, engine: [b, a], pick: 1}}
method:
  - {fault: kill, target: web, with: {crash: true}}
`
	var asked []string
	hosts := map[string]string{"near": "unix:///run/near.sock", "": "unix:///var/run/docker.sock"}
	lookup := func(ctx string) (string, error) {
		asked = append(asked, ctx)
		if h, ok := hosts[ctx]; ok {
			return h, nil
		}
		return "", errors.New("no such context")
	}
	_, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}, DockerHost: lookup})
	if err == nil || !strings.Contains(err.Error(), `x.yaml:9:5: step "kill web": a crash signals the container's process from this machine, but engine "a" (tcp://192.0.2.1:2376) is not on this machine`) {
		t.Fatalf("Parse = %v; want the crash on engine a refused", err)
	}
	if !reflect.DeepEqual(asked, []string{"near"}) {
		t.Errorf("DockerHost asked for %q; want the context near only", asked)
	}

	src = strings.Replace(src, "crash: true", "signal: SIGTERM", 1)
	e, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}, DockerHost: lookup})
	if err != nil {
		t.Fatal(err)
	}
	a := e.Engines["a"]
	if a.Name != "a" || a.TLS.CA != experiment.Path(filepath.Join(dir, "certs/ca.pem")) || a.TLS.Cert != "/etc/c.pem" || a.TLS.Key != experiment.Path(filepath.Join(dir, "certs/k.pem")) || a.TLS.Verifies() {
		t.Errorf("engine a = %+v, tls %+v; want its relative paths from %s, verify false", a, a.TLS, dir)
	}
	if b := e.Engines["b"]; b.Name != "b" || b.Context != "near" {
		t.Errorf("engine b = %+v", b)
	}

	// Without DockerHost, contexts are not looked up: the run finds out.
	src = strings.Replace(src, "signal: SIGTERM", "crash: true", 1)
	src = strings.Replace(src, "engine: [b, a]", "engine: [b]", 1)
	if _, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}}); err != nil {
		t.Errorf("Parse without DockerHost = %v", err)
	}
	hosts["near"] = "ssh://far.example"
	if _, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}, DockerHost: lookup}); err == nil || !strings.Contains(err.Error(), `engine "b" (ssh://far.example) is not on this machine`) {
		t.Errorf("Parse with context near on ssh = %v; want the crash refused", err)
	}
}
