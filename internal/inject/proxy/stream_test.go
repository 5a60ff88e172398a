package proxy_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// hashServer reads until the client half-closes, then answers with the
// SHA-256 of what it read.
func hashServer(c net.Conn) {
	h := sha256.New()
	if _, err := io.Copy(h, c); err != nil {
		return
	}
	c.Write(h.Sum(nil))
}

// pattern is a random block whose length is not a power of two, so that a
// lost, repeated or reordered run of bytes changes the hash.
var pattern = func() []byte {
	b := make([]byte, 1<<20+7)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}()

func TestIntegrity(t *testing.T) {
	tests := []struct {
		name  string
		fault *proxy.Fault
		size  int64
	}{
		{"no fault", nil, 1 << 30},
		{"latency", &proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond, Jitter: 500 * time.Microsecond}, Direction: proxy.Both}, 1 << 30},
		{"slicer", &proxy.Fault{Params: &proxy.Slicer{Size: 24 << 10, Variation: 8 << 10}, Direction: proxy.Both}, 1 << 30},
	}
	addr := serveTCP(t, hashServer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, addr, "tcp")
			if tt.fault != nil {
				mustAdd(t, p, *tt.fault)
			}
			c := dial(t, p.Addr())
			start := time.Now()
			h := sha256.New()
			w := io.MultiWriter(c, h)
			for left := tt.size; left > 0; {
				n := min(left, int64(len(pattern)))
				if _, err := w.Write(pattern[:n]); err != nil {
					t.Fatalf("write: %v", err)
				}
				left -= n
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(c, time.Minute)
			if err != nil {
				t.Fatalf("read hash: %v", err)
			}
			if want := h.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("upstream hash %x; want %x", got, want)
			}
			el := time.Since(start)
			t.Logf("%d MiB in %v (%.0f MiB/s)", tt.size>>20, el.Round(time.Millisecond), float64(tt.size>>20)/el.Seconds())
			if s := p.Snapshot().Stats; s.BytesUpstream != tt.size {
				t.Errorf("BytesUpstream = %d; want %d", s.BytesUpstream, tt.size)
			}
		})
	}
}

func TestHalfCloseGetsWholeReply(t *testing.T) {
	// A reply without Content-Length, delimited by the close, suits both
	// protocols.
	reply := append([]byte("HTTP/1.1 200 OK\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef"), 1<<16)...)
	addr := serveTCP(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // until the client's half-close
		c.Write(reply)
	})
	for _, protocol := range []string{"tcp", "http"} {
		for _, fault := range []*proxy.Fault{nil, {Params: &proxy.Latency{Delay: 5 * time.Millisecond}, Direction: proxy.Both}} {
			name := protocol + "/no fault"
			if fault != nil {
				name = protocol + "/latency"
			}
			t.Run(name, func(t *testing.T) {
				p := startProxy(t, addr, protocol)
				if fault != nil {
					mustAdd(t, p, *fault)
				}
				c := dial(t, p.Addr())
				// With protocol http the bytes must be a request for the
				// proxy to pass them on.
				if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
				got, err := readAll(c, 10*time.Second)
				if err != nil {
					t.Fatalf("read reply: %v", err)
				}
				if !bytes.Equal(got, reply) {
					t.Fatalf("got %d bytes of reply; want the %d sent", len(got), len(reply))
				}
			})
		}
	}
}

// openSockets counts the process's socket descriptors. Other descriptors
// are left out on purpose: the runtime keeps a pool of pipes for splice(2)
// that the garbage collector empties when it sees fit.
func openSockets(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func TestTenThousandConnectionsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	ignore := goleak.IgnoreCurrent()
	// Warm up the poller so that its descriptors are in the baseline.
	addr, stop := echoServer(t)
	warm := startLeakProxy(t, addr)
	wc := dial(t, warm.Addr())
	roundTrip(t, wc, []byte("warm"))
	wc.Close()
	warm.Close()
	stop()
	fds := openSockets(t)

	addr, stop = echoServer(t)
	p := startLeakProxy(t, addr)
	const total, workers = 10000, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			msg := []byte("ping")
			buf := make([]byte, 4)
			for i := range next {
				c, err := net.Dial("tcp", p.Addr())
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					_, err = c.Write(msg)
					if err == nil {
						_, err = io.ReadFull(c, buf)
					}
					// Every fourth client leaves without a clean close.
					if i%4 == 0 {
						c.(*net.TCPConn).SetLinger(0)
					}
					c.Close()
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	var faultID string
	for i := range total {
		if i == total/2 {
			// The second half goes through the fault path and its delay line.
			id, err := p.Add(proxy.Fault{Params: &proxy.Latency{Delay: 200 * time.Microsecond}, Direction: proxy.Both})
			if err != nil {
				t.Fatal(err)
			}
			faultID = id
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("a connection failed: %v", firstErr)
	}
	p.Remove(faultID)
	if s := p.Snapshot().Stats; s.ConnectionsTotal != total {
		t.Errorf("ConnectionsTotal = %d; want %d", s.ConnectionsTotal, total)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	stop()
	goleak.VerifyNone(t, ignore)
	// Closed sockets leave the table as soon as Close returns, but allow
	// the runtime a moment for its own bookkeeping.
	deadline := time.Now().Add(2 * time.Second)
	for openSockets(t) > fds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openSockets(t); n > fds {
		t.Errorf("%d sockets open after the run; %d before", n, fds)
	}
}

// echoServer is serveTCP with echo, stopped by the caller, so that the
// leak test can stop everything before it counts.
func echoServer(t *testing.T) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				echo(c)
			})
		}
	})
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }
}

func startLeakProxy(t *testing.T, upstream string) *proxy.Proxy {
	p := proxy.New(proxy.Config{Name: "leak", Listen: "127.0.0.1:0", Upstream: upstream})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p
}
