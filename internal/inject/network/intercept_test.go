package network_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// waitTables waits until ns holds n tables of chaos.
func waitTables(t testing.TB, ns network.Namespace, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tables, err := network.Tables(ns, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tables in %s: %v; want %d", ns, tables, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An intercept installs nothing until a proxy fault is on; then the new
// connections to the dependency's real address go through the proxy and
// meet the fault, while a connection opened before and connections to
// other hosts stay direct. Removing the fault lets new connections go
// direct at once; the proxied one carries on, fault-free and never reset,
// and the rules go once it has closed.
func TestIntercept(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	srv := echoTCP(t, l.B, "0.0.0.0:9000")
	dep := l.IPB.String() + ":9000"
	open := dial(t, l.A, "tcp4", dep)
	base := pings(t, open, 10)

	a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 9000}})
	ic := a.Interception()
	noTables(t, l.A)
	pings(t, dial(t, l.A, "tcp4", dep), 3)

	const delay = 40 * time.Millisecond
	id, err := ic.Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: delay}})
	if err != nil {
		t.Fatal(err)
	}
	waitTables(t, l.A, 1)
	proxied := dial(t, l.A, "tcp4", dep)
	if rtt := pings(t, proxied, 5); rtt < delay || rtt > delay+40*time.Millisecond {
		t.Errorf("round trip through the intercept %v; want %v more than %v", rtt, delay, base)
	}
	if proxied.RemoteAddr().String() != dep {
		t.Errorf("the client is connected to %s; want %s", proxied.RemoteAddr(), dep)
	}
	if rtt := pings(t, open, 5); rtt > delay/2 {
		t.Errorf("round trip on the connection opened before: %v; want it direct", rtt)
	}
	if rtt := pings(t, dial(t, l.A, "tcp4", l.IPB2.String()+":9000"), 5); rtt > delay/2 {
		t.Errorf("round trip to another host: %v; want it direct", rtt)
	}
	if n := ic.Proxy().Snapshot().Stats.ConnectionsTotal; n != 1 {
		t.Errorf("the proxy carried %d connections; want the one", n)
	}

	keep := lab.StartPinger(proxied, 5*time.Millisecond)
	if err := ic.Remove(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	accepted := srv.Accepted.Load()
	direct := dial(t, l.A, "tcp4", dep)
	if rtt := pings(t, direct, 5); rtt > delay/2 {
		t.Errorf("round trip after the fault went: %v; want it direct", rtt)
	}
	if n := ic.Proxy().Snapshot().Stats.ConnectionsTotal; n != 1 || srv.Accepted.Load() != accepted+1 {
		t.Errorf("after the fault went a new connection went through the proxy (%d carried)", n)
	}
	if err := keep.Wait(50, 5*time.Second); err != nil {
		t.Errorf("the proxied connection after the fault went: %v; want it to carry on", err)
	}
	if err := keep.Stop(); err != nil {
		t.Errorf("the proxied connection: %v", err)
	}
	waitTables(t, l.A, 0)
	revert(t, a)
	noTables(t, l.A)
}

// With cut_established, a fault reaches the connections opened before it
// too: they are cut (ECONNABORTED), and a reconnect goes through the
// proxy.
func TestInterceptCutsEstablished(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	dep := l.IPB.String() + ":9000"
	open := dial(t, l.A, "tcp4", dep)
	other := dial(t, l.A, "tcp4", l.IPB2.String()+":9000")
	pings(t, open, 3)
	a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 9000}, CutEstablished: true})
	if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: 30 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Ping(open, 1, 2*time.Second); !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("ping on the connection opened before = %v; want it cut", err)
	}
	pings(t, other, 2)
	proxied := dial(t, l.A, "tcp4", dep)
	if rtt := pings(t, proxied, 3); rtt < 30*time.Millisecond {
		t.Errorf("round trip after reconnecting %v; want the fault's 30ms", rtt)
	}
	// Off, and on again: a connection opened meanwhile went direct and is
	// cut; the one the proxy carries, and its upstream, are not.
	ic := a.Interception()
	if err := ic.Remove(t.Context(), "latency-1"); err != nil {
		t.Fatal(err)
	}
	meanwhile := dial(t, l.A, "tcp4", dep)
	pings(t, meanwhile, 2)
	if _, err := ic.Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: 30 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Ping(meanwhile, 1, 2*time.Second); !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("ping on the connection opened while off = %v; want it cut", err)
	}
	if rtt := pings(t, proxied, 3); rtt < 30*time.Millisecond {
		t.Errorf("round trip on the proxied connection %v; want the fault's 30ms", rtt)
	}
	revert(t, a)
	noTables(t, l.A)
}

// Every proxy fault acts on the real address: down refuses the
// connections, http_error answers the requests.
func TestInterceptProxyFaults(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	ln, err := lab.ListenTCP(l.B, "0.0.0.0:8080")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "from the dependency") })}
	go hs.Serve(ln)
	defer hs.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, netw, addr string) (net.Conn, error) {
		return lab.Dial(l.A, "tcp4", addr, 2*time.Second)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	url := "http://" + l.IPB.String() + ":8080/"
	get := func() (int, string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 8080}, HTTP: true})
	ic := a.Interception()
	id, err := ic.Add(t.Context(), proxy.Fault{Params: &proxy.HTTPError{Status: 503}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(); code != 503 || err != nil {
		t.Errorf("GET through http_error = %d %q, %v; want 503", code, body, err)
	}
	if err := ic.Remove(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	if code, body, err := get(); code != 200 || body != "from the dependency" {
		t.Errorf("GET after the fault went = %d %q, %v; want the dependency's answer", code, body, err)
	}
	tr.CloseIdleConnections()
	if _, err := ic.Add(t.Context(), proxy.Fault{Params: &proxy.Down{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":8080", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial the dependency while down = %v; want connection refused", err)
	}
	revert(t, a)
	noTables(t, l.A)
	if code, _, err := get(); code != 200 {
		t.Errorf("GET after revert = %d, %v; want 200", code, err)
	}
}

// What an intercept met is counted for its revert: the requests its HTTP
// fault acted on, none when the fault's path is one no request takes,
// though connections came through its proxy.
func TestInterceptMet(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	ln, err := lab.ListenTCP(l.B, "0.0.0.0:8080")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go hs.Serve(ln)
	defer hs.Close()
	for _, tc := range []struct {
		prefix string
		met    bool
	}{{"/pay", false}, {"/", true}} {
		tr := &http.Transport{DialContext: func(ctx context.Context, netw, addr string) (net.Conn, error) {
			return lab.Dial(l.A, "tcp4", addr, 2*time.Second)
		}}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 8080}, HTTP: true})
		if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.HTTPError{Status: 503, Match: proxy.Match{PathPrefix: tc.prefix}}}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			resp, err := client.Get("http://" + l.IPB.String() + ":8080/cart")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		tr.CloseIdleConnections()
		revert(t, a)
		if n, known := a.Met(); !known || (n > 0) != tc.met {
			t.Errorf("http_error on %s, 3 requests for /cart: Met = %d, %v; want met %v", tc.prefix, n, known, tc.met)
		}
	}
	noTables(t, l.A)
}

// Reverting the intercept ends the connections the proxy still carries
// with a FIN: an idle keep-alive connection reads the end of the stream,
// not a reset.
func TestInterceptRevertEndsWithFIN(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 9000}})
	if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	idle := dial(t, l.A, "tcp4", l.IPB.String()+":9000")
	pings(t, idle, 2)
	revert(t, a)
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read on the idle proxied connection after revert = %d, %v; want EOF", n, err)
	}
	noTables(t, l.A)
}

// A connection goes through one proxy only: of two intercepts of the same
// dependency in one namespace, the later one would take every new
// connection and the earlier one's fault would meet none, unseen. The
// second is refused while the first is on; an intercept of another
// dependency is not, nor one of the same after the first is reverted.
func TestInterceptOverlapRefused(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	dep := l.IPB.String()
	first := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: dep, Port: 9000}})
	if _, err := first.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: 40 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []network.Filter{{Host: dep, Port: 9000}, {Host: lab.Subnet, Port: 9000}, {Port: 9000}, {Host: dep}} {
		in := &network.Intercept{Filter: f}
		rec, err := network.Plan(l.A, "test", int(nextSeq.Add(1)), in)
		if err != nil {
			t.Fatal(err)
		}
		a, err := network.Apply(t.Context(), rec, in)
		if err == nil {
			_ = a.Revert(context.Background())
		}
		if !contains(err, "intercepted already") {
			t.Errorf("Apply(intercept of host %q port %d) beside one of %s:9000 = %v; want it refused", f.Host, f.Port, dep, err)
		}
	}
	other := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: dep, Port: 9001}})
	revert(t, other)
	revert(t, first)
	again := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: dep, Port: 9000}})
	revert(t, again)
	noTables(t, l.A)
}

// The connections the target opened to the dependency before an intercept
// went on stay direct: the packets it sends on them are counted as
// bypassing the fault, those through the proxy are not, and cutting them
// (cut_established) leaves none.
func TestInterceptBypassed(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	addr := l.IPB.String() + ":9000"
	for _, tc := range []struct {
		name      string
		before    bool
		cut       bool
		bypassing bool
	}{
		{"only new connections", false, false, false},
		{"a connection open before", true, false, true},
		{"a connection open before, cut", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var old net.Conn
			if tc.before {
				old = dial(t, l.A, "tcp4", addr)
				pings(t, old, 1)
			}
			a := apply(t, l.A, &network.Intercept{Filter: network.Filter{Host: l.IPB.String(), Port: 9000}, CutEstablished: tc.cut})
			if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}}); err != nil {
				t.Fatal(err)
			}
			if old != nil && !tc.cut {
				pings(t, old, 20)
			}
			pings(t, dial(t, l.A, "tcp4", addr), 5)
			revert(t, a)
			n := a.Interception().Bypassed()
			t.Logf("bypassed: %d packets", n)
			if (n > 0) != tc.bypassing {
				t.Errorf("Bypassed() = %d; want bypassing %v", n, tc.bypassing)
			}
		})
	}
	noTables(t, l.A)
}
