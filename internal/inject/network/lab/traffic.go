package lab

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/network"
)

// ListenTCP listens on addr inside ns (IPv4 unless addr is IPv6).
func ListenTCP(ns network.Namespace, addr string) (*net.TCPListener, error) {
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp"+family(addr), addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// ListenUDP opens a UDP socket on addr inside ns (IPv4 unless addr is
// IPv6).
func ListenUDP(ns network.Namespace, addr string) (*net.UDPConn, error) {
	var c net.PacketConn
	err := ns.Do(func() (err error) {
		c, err = net.ListenPacket("udp"+family(addr), addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// family is "6" for an IPv6 address and port, else "4".
func family(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Is6() {
		return "6"
	}
	return "4"
}

// Dial connects from inside ns.
func Dial(ns network.Namespace, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Server serves connections from a listener until Close.
type Server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	// Accepted counts the connections served.
	Accepted atomic.Int64
	// Bytes counts what a sink read.
	Bytes atomic.Int64
}

// Serve runs handle for each connection ln accepts.
func Serve(ln net.Listener, handle func(c net.Conn, s *Server)) *Server {
	s := &Server{ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.Accepted.Add(1)
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c, s)
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

// Echo writes back what it reads.
func Echo(c net.Conn, _ *Server) { _, _ = io.Copy(c, c) }

// Sink reads and counts.
func Sink(c net.Conn, s *Server) {
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		s.Bytes.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// Source writes until the peer goes.
func Source(c net.Conn, _ *Server) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// Close stops accepting, closes every connection and waits for the
// handlers.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// EchoUDP answers every datagram c receives with the same bytes, until
// the returned stop is called.
func EchoUDP(c *net.UDPConn) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	return func() { c.Close(); <-done }
}

// Ping sends 32 bytes on c and waits for them to come back, n times, and
// returns each round trip. It stops at the first error.
func Ping(c net.Conn, n int, timeout time.Duration) ([]time.Duration, error) {
	buf := make([]byte, 32)
	var rtts []time.Duration
	for range n {
		_ = c.SetDeadline(time.Now().Add(timeout))
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			return rtts, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(start))
	}
	_ = c.SetDeadline(time.Time{})
	return rtts, nil
}

// Pinger pings on one connection every interval in the background and
// records the round trips and the first error.
type Pinger struct {
	c    net.Conn
	mu   sync.Mutex
	rtts []time.Duration
	err  error
	stop chan struct{}
	done chan struct{}
}

// StartPinger starts pinging on c.
func StartPinger(c net.Conn, every time.Duration) *Pinger {
	p := &Pinger{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			rtt, err := Ping(c, 1, 10*time.Second)
			p.mu.Lock()
			p.rtts = append(p.rtts, rtt...)
			select {
			case <-p.stop: // the error is Stop's deadline
			default:
				if err != nil {
					p.err = err
				}
			}
			p.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Since returns the round trips from the i-th on.
func (p *Pinger) Since(i int) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.rtts[min(i, len(p.rtts)):]...)
}

// Count returns how many round trips were made.
func (p *Pinger) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rtts)
}

// Err returns the first error, nil while pings succeed.
func (p *Pinger) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Wait waits until n more round trips than now were made, or an error,
// or the timeout.
func (p *Pinger) Wait(n int, timeout time.Duration) error {
	want := p.Count() + n
	deadline := time.Now().Add(timeout)
	for p.Count() < want {
		if err := p.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("pings stalled")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// Stop stops pinging and closes the connection; it returns the first
// error the pings met.
func (p *Pinger) Stop() error {
	close(p.stop)
	_ = p.c.SetDeadline(time.Now())
	<-p.done
	p.c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
