package proxy_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// openConns opens n connections through p and makes sure each one is
// through to the upstream (an echo) before returning them.
func openConns(t testing.TB, p *proxy.Proxy, n int) []*net.TCPConn {
	t.Helper()
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conns[i] = dial(t, p.Addr())
		roundTrip(t, conns[i], []byte("hi"))
	}
	return conns
}

// A fault added while many connections are open holds every one of them
// once Add returns, and all of them let their bytes through once Remove
// returns.
func TestAddReachesEveryOpenConnection(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	conns := openConns(t, p, 300)

	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{}, Direction: proxy.Both})
	for i, c := range conns {
		fmt.Fprintf(c, "%04d", i)
	}
	// Every write above came after Add returned, so none may come back.
	buf := make([]byte, 4)
	for i, c := range conns[:20] {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if n, err := c.Read(buf); !isTimeout(err) {
			t.Fatalf("connection %d read %q, %v during a hold; want a timeout", i, buf[:n], err)
		}
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != fmt.Sprintf("%04d", i) {
			t.Fatalf("connection %d read %q, %v after the hold; want %04d", i, buf, err, i)
		}
	}
}

// BenchmarkAddRemove measures switching a latency fault on and off while
// idle connections are open: every one of them has to pick up the change
// before Add and Remove return.
func BenchmarkAddRemove(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
			p := startProxy(b, serveTCP(b, echo), "tcp")
			openConns(b, p, n)
			f := proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}, Direction: proxy.Both}
			b.ResetTimer()
			for b.Loop() {
				id, err := p.Add(f)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Remove(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The byte counters of a connection that stays open move as bytes go.
func TestStatsCountOpenConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("open connections are counted live on Linux only")
	}
	p := startProxy(t, serveTCP(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
	}), "tcp")
	c := dial(t, p.Addr())
	const size = 3 << 20
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.Snapshot().Stats
		if s.BytesUpstream == size && s.ConnectionsOpen == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats with the connection open: %+v; want %d bytes upstream", s, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
