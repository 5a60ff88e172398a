package proxy_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// A proxy given ListenFunc and DialFunc listens and dials only through
// them: the listener comes from ListenFunc, again on the same address
// after a down fault, and each client is connected by DialFunc to where it
// chooses, with no Upstream at all.
func TestListenFuncAndDialFunc(t *testing.T) {
	first := serveTCP(t, echo)
	second := serveTCP(t, func(c net.Conn) { c.Write([]byte("second")) })
	var mu sync.Mutex
	var listened []string
	var dialed []string
	cfg := proxy.Config{
		Name:   "transparent",
		Listen: "127.0.0.1:0",
		ListenFunc: func(ctx context.Context, addr string) (net.Listener, error) {
			mu.Lock()
			listened = append(listened, addr)
			mu.Unlock()
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", addr)
		},
		DialFunc: func(ctx context.Context, client *net.TCPConn) (*net.TCPConn, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no dial timeout")
			}
			mu.Lock()
			n := len(dialed)
			dialed = append(dialed, client.RemoteAddr().String())
			mu.Unlock()
			to := first
			if n == 1 {
				to = second
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", to)
			if err != nil {
				return nil, err
			}
			return c.(*net.TCPConn), nil
		},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() without upstream but with DialFunc = %v", err)
	}
	p := proxy.New(cfg)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c1 := dial(t, p.Addr())
	roundTrip(t, c1, []byte("to the first"))
	c2 := dial(t, p.Addr())
	got, err := readAll(c2, 5*time.Second)
	if string(got) != "second" || err != nil {
		t.Fatalf("second client read %q, %v; want the second upstream's greeting", got, err)
	}
	mu.Lock()
	if len(dialed) != 2 || dialed[0] != c1.LocalAddr().String() || dialed[1] != c2.LocalAddr().String() {
		t.Errorf("DialFunc got clients %v; want %s and %s", dialed, c1.LocalAddr(), c2.LocalAddr())
	}
	mu.Unlock()

	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Down{}})
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a connection was accepted while down")
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), []byte("after down"))
	mu.Lock()
	defer mu.Unlock()
	if len(listened) != 2 || listened[0] != "127.0.0.1:0" || listened[1] != p.Addr() {
		t.Errorf("ListenFunc got %v; want 127.0.0.1:0, then %s again", listened, p.Addr())
	}
}
