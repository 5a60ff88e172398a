package proxy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// serveTCP runs handle for every connection to a fresh loopback listener
// until the test ends.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo copies everything back, passing on the half-close.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

func startProxy(t testing.TB, upstream, protocol string) *proxy.Proxy {
	t.Helper()
	p := proxy.New(proxy.Config{Name: "test", Listen: "127.0.0.1:0", Upstream: upstream, Protocol: protocol})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return p
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func mustAdd(t testing.TB, p *proxy.Proxy, f proxy.Fault) string {
	t.Helper()
	id, err := p.Add(f)
	if err != nil {
		t.Fatalf("Add(%+v) = %v", f, err)
	}
	return id
}

// roundTrip writes msg and reads len(msg) bytes back, returning how long
// that took.
func roundTrip(t testing.TB, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	if string(got) != string(msg) {
		t.Fatalf("read back %q; want %q", got, msg)
	}
	return time.Since(start)
}

// readAll reads until EOF or an error, bounded by a deadline.
func readAll(c net.Conn, within time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	return b, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
