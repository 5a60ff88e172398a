package docker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// TestMain lets the test binary stand in for ssh: called as ssh, it
// checks its arguments and relays its standard input and output to the
// unix socket CHAOS_FAKE_SSH_SOCKET, as docker system dial-stdio does on
// the far end of a real ssh.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "ssh" {
		os.Exit(fakeSSH(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeSSH(args []string) int {
	if want := os.Getenv("CHAOS_FAKE_SSH_ARGS"); strings.Join(args, " ") != want {
		os.Stderr.WriteString("fake ssh: args " + strings.Join(args, " ") + ", want " + want + "\n")
		return 255
	}
	c, err := net.Dial("unix", os.Getenv("CHAOS_FAKE_SSH_SOCKET"))
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 255
	}
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		_ = c.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, c)
	return 0
}

// writeContext writes a Docker context into the configuration directory
// cfg as docker context create does, with the TLS files given.
func writeContext(t *testing.T, cfg, name, host string, skipVerify bool, tlsFiles map[string][]byte) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(cfg, "contexts", "meta", id)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"Name": name, "Metadata": map[string]any{},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": skipVerify}}})
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(tlsFiles) > 0 {
		dir := filepath.Join(cfg, "contexts", "tls", id, "docker")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for f, b := range tlsFiles {
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDockerHost(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	writeContext(t, cfg, "far", "ssh://ops@192.0.2.7", false, nil)
	writeContext(t, cfg, "near", "unix:///run/near.sock", false, nil)
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext": "near"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dockerHost, dockerContext, name, want string
	}{
		{name: "far", want: "ssh://ops@192.0.2.7"},
		{name: "default", want: "unix:///var/run/docker.sock"},
		{want: "unix:///run/near.sock"},                                                          // the config file's current context
		{dockerContext: "far", want: "ssh://ops@192.0.2.7"},                                      // DOCKER_CONTEXT before it
		{dockerHost: "tcp://192.0.2.1:2375", dockerContext: "far", want: "tcp://192.0.2.1:2375"}, // DOCKER_HOST before both
		{dockerContext: "default", want: "unix:///var/run/docker.sock"},
	} {
		t.Setenv("DOCKER_HOST", tc.dockerHost)
		t.Setenv("DOCKER_CONTEXT", tc.dockerContext)
		got, err := docker.DockerHost(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("DockerHost(%q) with DOCKER_HOST=%q DOCKER_CONTEXT=%q = %q, %v; want %q", tc.name, tc.dockerHost, tc.dockerContext, got, err, tc.want)
		}
	}
	if _, err := docker.DockerHost("nosuch"); err == nil || !strings.Contains(err.Error(), `no Docker context "nosuch"`) || !strings.Contains(err.Error(), "docker context ls") {
		t.Errorf("DockerHost(nosuch) = %v; want an error naming the context and docker context ls", err)
	}
}

func TestDaemonOf(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	writeContext(t, cfg, "tls", "tcp://192.0.2.7:2376", true, map[string][]byte{"ca.pem": []byte("x"), "key.pem": []byte("x"), "cert.pem": []byte("x")})
	no := false
	for _, tc := range []struct {
		engine experiment.Engine
		want   docker.Daemon
	}{
		{experiment.Engine{Name: "a", Host: "unix:///x.sock"}, docker.Daemon{Name: "a", Host: "unix:///x.sock"}},
		{experiment.Engine{Name: "b", Host: "tcp://h:2376", TLS: &experiment.EngineTLS{CA: "/c/ca.pem", Cert: "/c/cert.pem", Key: "/c/key.pem"}},
			docker.Daemon{Name: "b", Host: "tcp://h:2376", TLS: true, CA: "/c/ca.pem", Cert: "/c/cert.pem", Key: "/c/key.pem"}},
		{experiment.Engine{Name: "c", Host: "tcp://h:2376", TLS: &experiment.EngineTLS{Verify: &no}},
			docker.Daemon{Name: "c", Host: "tcp://h:2376", TLS: true, SkipVerify: true}},
		{experiment.Engine{Name: "d", Context: "tls"}, docker.Daemon{Name: "d", Host: "tcp://192.0.2.7:2376", TLS: true, SkipVerify: true,
			CA: filepath.Join(cfg, "contexts", "tls", hexOf("tls"), "docker", "ca.pem"), Cert: filepath.Join(cfg, "contexts", "tls", hexOf("tls"), "docker", "cert.pem"),
			Key: filepath.Join(cfg, "contexts", "tls", hexOf("tls"), "docker", "key.pem")}},
	} {
		got, err := docker.DaemonOf(&tc.engine)
		if err != nil || got != tc.want {
			t.Errorf("DaemonOf(%+v) = %+v, %v; want %+v", tc.engine, got, err, tc.want)
		}
	}
}

func hexOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// TestConnectToTLS reaches the real engine through a TLS relay that asks
// for a client certificate, as a dockerd with --tlsverify does: with the
// right CA and client certificate, without checking the engine's
// certificate, and not with a CA that did not sign it.
func TestConnectToTLS(t *testing.T) {
	env := dockertest.New(t)
	u, err := url.Parse(env.Host)
	if err != nil || u.Scheme != "unix" {
		t.Skipf("the relay needs the engine on a unix socket, not %s", env.Host)
	}
	dir := t.TempDir()
	ca, caKey := newCA(t, dir, "ca")
	newCA(t, dir, "other-ca")
	serverCert := issue(t, dir, "server", ca, caKey, true)
	issue(t, dir, "client", ca, caKey, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go relay(l, u.Path)
	host := "tcp://" + l.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		d    docker.Daemon
		ok   bool
		why  string // in the error when not ok
	}{
		{"verified", docker.Daemon{Name: "tls", Host: host, TLS: true, CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "client-cert.pem"), Key: filepath.Join(dir, "client-key.pem")}, true, ""},
		{"unverified", docker.Daemon{Name: "tls", Host: host, TLS: true, SkipVerify: true, Cert: filepath.Join(dir, "client-cert.pem"), Key: filepath.Join(dir, "client-key.pem")}, true, ""},
		{"another CA", docker.Daemon{Name: "tls", Host: host, TLS: true, CA: filepath.Join(dir, "other-ca.pem"), Cert: filepath.Join(dir, "client-cert.pem"), Key: filepath.Join(dir, "client-key.pem")}, false, "unknown authority"},
		{"no client certificate", docker.Daemon{Name: "tls", Host: host, TLS: true, CA: filepath.Join(dir, "ca.pem")}, false, "certificate required"},
		{"no TLS", docker.Daemon{Name: "tls", Host: host}, false, `cannot reach Docker engine "tls" at ` + host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := docker.ConnectTo(ctx, tc.d)
			if e != nil {
				defer e.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("ConnectTo(%+v) = %v; want success %v", tc.d, err, tc.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.why) {
					t.Errorf("ConnectTo(%+v) = %v; want an error saying %q", tc.d, err, tc.why)
				}
				return
			}
			if e.Host() != host {
				t.Errorf("Host() = %s; want %s", e.Host(), host)
			}
			if err := e.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

// TestConnectToSSH reaches the real engine as ssh://ops@HOST:2222 does,
// through a stand-in for ssh that relays to the engine's socket.
func TestConnectToSSH(t *testing.T) {
	env := dockertest.New(t)
	u, err := url.Parse(env.Host)
	if err != nil || u.Scheme != "unix" {
		t.Skipf("the relay needs the engine on a unix socket, not %s", env.Host)
	}
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "ssh")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("CHAOS_FAKE_SSH_SOCKET", u.Path)
	t.Setenv("CHAOS_FAKE_SSH_ARGS", "-l ops -p 2222 -- build-7.example docker system dial-stdio")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := docker.ConnectTo(ctx, docker.Daemon{Name: "far", Host: "ssh://ops@build-7.example:2222"})
	if err != nil {
		t.Fatalf("ConnectTo over ssh: %v", err)
	}
	defer e.Close()
	// More than one request, each over a connection of its own or not.
	for range 3 {
		if err := e.Ping(ctx); err != nil {
			t.Fatalf("Ping over ssh: %v", err)
		}
	}
}

// TestConnectCurrentContext connects to the default engine through the
// current context of the Docker CLI when DOCKER_HOST is not set.
func TestConnectCurrentContext(t *testing.T) {
	env := dockertest.New(t)
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	writeContext(t, cfg, "mine", env.Host, false, nil)
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext": "mine"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if e.Host() != env.Host {
		t.Errorf("Connect reached %s; want the context's %s", e.Host(), env.Host)
	}
	// A current context that is not there is an error, not another engine.
	t.Setenv("DOCKER_CONTEXT", "gone")
	if e, err := docker.Connect(ctx); err == nil || !strings.Contains(err.Error(), `no Docker context "gone"`) {
		if e != nil {
			e.Close()
		}
		t.Errorf("Connect with DOCKER_CONTEXT=gone = %v; want no such context", err)
	}
}

// relay passes each TLS connection on to the engine's socket.
func relay(l net.Listener, sock string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if err := c.(*tls.Conn).Handshake(); err != nil {
				return
			}
			u, err := net.Dial("unix", sock)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c) }()
			_, _ = io.Copy(c, u)
		}()
	}
}

func newCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// issue makes a certificate signed by ca, for the server (127.0.0.1) or a
// client, and writes it as NAME-cert.pem and NAME-key.pem.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+"-cert.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kb)
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
