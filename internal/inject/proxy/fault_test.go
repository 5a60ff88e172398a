package proxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianRTT(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	rtts := make([]time.Duration, n)
	for i := range rtts {
		rtts[i] = roundTrip(t, c, []byte("ping"))
	}
	return median(rtts)
}

func TestLatencyAccuracy(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	base := medianRTT(t, c, 20)
	mustAdd(t, p, proxy.Fault{Params: &proxy.Latency{Delay: 50 * time.Millisecond}})
	got := medianRTT(t, c, 20)
	if added := got - base; added < 48*time.Millisecond || added > 52*time.Millisecond {
		t.Errorf("latency 50ms added %v to the median round trip (%v -> %v); want 50ms +- 2ms", added, base, got)
	}
}

// TestLatencyNeverEarly: no round trip through a latency ends before the
// delay, whether the last stretch is slept precisely (one connection) or
// on a timer (more connections than the precise sleeps allow): a client
// whose timeout equals the delay must see it fire.
func TestLatencyNeverEarly(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	const delay = 5 * time.Millisecond
	mustAdd(t, p, proxy.Fault{Params: &proxy.Latency{Delay: delay}, Direction: proxy.Downstream})
	for _, conns := range []int{1, 8} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var early []time.Duration
		for range conns {
			c := dial(t, p.Addr())
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4)
				c.SetDeadline(time.Now().Add(20 * time.Second))
				for range 40 {
					start := time.Now()
					if _, err := c.Write([]byte("ping")); err != nil {
						t.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						t.Error(err)
						return
					}
					if d := time.Since(start); d < delay {
						mu.Lock()
						early = append(early, d)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(early) > 0 {
			t.Errorf("%d conns: %d of %d round trips shorter than the %v delay: %v", conns, len(early), 40*conns, delay, early)
		}
	}
}

func TestFaultsApplyToOpenConnections(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	// The delay is long enough to stand out from scheduling noise on a
	// busy machine.
	if d := roundTrip(t, c, []byte("before")); d > 150*time.Millisecond {
		t.Fatalf("round trip without fault took %v", d)
	}
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Latency{Delay: 250 * time.Millisecond}, Direction: proxy.Upstream})
	if d := roundTrip(t, c, []byte("during")); d < 245*time.Millisecond {
		t.Errorf("round trip on an open connection after adding latency took %v; want >= 250ms", d)
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, c, []byte("after")); d > 150*time.Millisecond {
		t.Errorf("round trip after removing the latency took %v", d)
	}

	// A hold keeps bytes back without losing them.
	id = mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{}, Direction: proxy.Both})
	c.Write([]byte("held"))
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); !isTimeout(err) {
		t.Fatalf("Read during timeout = %d, %v; want a read timeout", n, err)
	}
	c.SetReadDeadline(time.Time{})
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after the timeout ends read %q, %v; want \"held\"", got, err)
	}

	mustAdd(t, p, proxy.Fault{Params: &proxy.Reset{}})
	if _, err := readAll(c, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after adding reset = %v; want connection reset", err)
	}
}

// sender writes n bytes to every client and closes.
func sender(n int) func(net.Conn) {
	return func(c net.Conn) {
		c.Write(bytes.Repeat([]byte("x"), n))
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name  string
		fault proxy.Fault
		serve func(net.Conn)
		check func(t *testing.T, p *proxy.Proxy)
	}{
		{
			name:  "latency connect",
			fault: proxy.Fault{Params: &proxy.Latency{Connect: 100 * time.Millisecond}},
			serve: echo,
			check: func(t *testing.T, p *proxy.Proxy) {
				start := time.Now()
				roundTrip(t, dial(t, p.Addr()), []byte("hi"))
				if d := time.Since(start); d < 95*time.Millisecond {
					t.Errorf("first round trip took %v; want >= 100ms", d)
				}
			},
		},
		{
			name:  "bandwidth",
			fault: proxy.Fault{Params: &proxy.Bandwidth{Rate: 200 << 10}},
			serve: sender(100 << 10),
			check: func(t *testing.T, p *proxy.Proxy) {
				start := time.Now()
				b, err := readAll(dial(t, p.Addr()), 10*time.Second)
				d := time.Since(start)
				if err != nil || len(b) != 100<<10 {
					t.Fatalf("read %d bytes, %v; want 100 KiB", len(b), err)
				}
				if d < 400*time.Millisecond || d > 1500*time.Millisecond {
					t.Errorf("100 KiB at 200 KiB/s took %v; want about 500ms", d)
				}
			},
		},
		{
			name:  "timeout close_after",
			fault: proxy.Fault{Params: &proxy.Timeout{CloseAfter: 150 * time.Millisecond}},
			serve: sender(10),
			check: func(t *testing.T, p *proxy.Proxy) {
				start := time.Now()
				b, err := readAll(dial(t, p.Addr()), 5*time.Second)
				if err != nil || len(b) != 0 {
					t.Errorf("read %q, %v; want nothing then EOF", b, err)
				}
				if d := time.Since(start); d < 140*time.Millisecond || d > 2*time.Second {
					t.Errorf("closed after %v; want about 150ms", d)
				}
			},
		},
		{
			name:  "reset on connect",
			fault: proxy.Fault{Params: &proxy.Reset{}},
			serve: echo,
			check: func(t *testing.T, p *proxy.Proxy) {
				// The reset may even beat the end of the client's connect.
				c, err := net.Dial("tcp", p.Addr())
				if err == nil {
					defer c.Close()
					_, err = readAll(c, 5*time.Second)
				}
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("dial and read = %v; want connection reset", err)
				}
			},
		},
		{
			name:  "reset after bytes",
			fault: proxy.Fault{Params: &proxy.Reset{AfterBytes: 10 << 10}},
			serve: func(c net.Conn) { sender(1 << 20)(c); io.Copy(io.Discard, c) },
			check: func(t *testing.T, p *proxy.Proxy) {
				// The upstream sends at once, so the reset may beat the end
				// of the client's connect, as above.
				var b []byte
				c, err := net.Dial("tcp", p.Addr())
				if err == nil {
					defer c.Close()
					b, err = readAll(c, 5*time.Second)
				}
				if !errors.Is(err, syscall.ECONNRESET) || len(b) > 10<<10 {
					t.Errorf("read %d bytes, %v; want at most 10 KiB then a reset", len(b), err)
				}
			},
		},
		{
			name:  "down",
			fault: proxy.Fault{Params: &proxy.Down{}},
			serve: echo,
			check: func(t *testing.T, p *proxy.Proxy) {
				if _, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("Dial = %v; want connection refused", err)
				}
			},
		},
		{
			name:  "slicer",
			fault: proxy.Fault{Params: &proxy.Slicer{Size: 1000, Delay: 2 * time.Millisecond}},
			serve: sender(50_000),
			check: func(t *testing.T, p *proxy.Proxy) {
				c := dial(t, p.Addr())
				start := time.Now()
				buf := make([]byte, 64<<10)
				total, reads, biggest := 0, 0, 0
				for {
					n, err := c.Read(buf)
					total += n
					reads++
					biggest = max(biggest, n)
					if err != nil {
						break
					}
				}
				if total != 50_000 {
					t.Fatalf("read %d bytes; want 50000", total)
				}
				// 50 slices 2ms apart; reads may merge slices on a busy machine.
				if d := time.Since(start); d < 90*time.Millisecond || reads < 10 {
					t.Errorf("50 slices came in %v over %d reads (biggest %d); want >= 98ms over many reads", d, reads, biggest)
				}
			},
		},
		{
			name:  "limit_data",
			fault: proxy.Fault{Params: &proxy.LimitData{Bytes: 10_000}},
			serve: func(c net.Conn) { sender(1 << 20)(c); io.Copy(io.Discard, c) },
			check: func(t *testing.T, p *proxy.Proxy) {
				b, err := readAll(dial(t, p.Addr()), 5*time.Second)
				if err != nil || len(b) != 10_000 {
					t.Errorf("read %d bytes, %v; want 10000 then EOF", len(b), err)
				}
			},
		},
		{
			name:  "slow_close",
			fault: proxy.Fault{Params: &proxy.SlowClose{Delay: 200 * time.Millisecond}},
			serve: sender(3),
			check: func(t *testing.T, p *proxy.Proxy) {
				c := dial(t, p.Addr())
				buf := make([]byte, 3)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if _, err := readAll(c, 5*time.Second); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d < 150*time.Millisecond {
					t.Errorf("EOF came %v after the data; want about 200ms", d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, serveTCP(t, tt.serve), "tcp")
			mustAdd(t, p, tt.fault)
			tt.check(t, p)
		})
	}
}

func TestDownCutsOpenConnectionsAndComesBack(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("up"))
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Down{}})
	if _, err := readAll(c, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read on an open connection after down = %v; want connection reset", err)
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), []byte("back"))
}

func TestDownPercentResetsAShare(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	mustAdd(t, p, proxy.Fault{Params: &proxy.Down{}, Percent: 0.5})
	ok, reset := 0, 0
	for range 100 {
		c, err := net.Dial("tcp", p.Addr())
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("x"))
			_, err = io.ReadFull(c, make([]byte, 1))
			c.Close()
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE):
			reset++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok < 25 || reset < 25 {
		t.Errorf("down at 50%%: %d connections worked, %d were reset; want about half each", ok, reset)
	}
}

func TestAddRejectsBadFaults(t *testing.T) {
	tcp := proxy.New(proxy.Config{Upstream: "127.0.0.1:1"})
	tests := []struct {
		fault proxy.Fault
		want  string
	}{
		{proxy.Fault{}, "no kind"},
		{proxy.Fault{Params: &proxy.Latency{Delay: -1}}, "delay -1ns is negative"},
		{proxy.Fault{Params: &proxy.Latency{}, Percent: 1.5}, "percent 1.5"},
		{proxy.Fault{Params: &proxy.Latency{}, Direction: "sideways"}, `direction "sideways"`},
		{proxy.Fault{Params: &proxy.Latency{}}, "delay is required"},
		{proxy.Fault{Params: &proxy.Bandwidth{}}, "rate is required"},
		{proxy.Fault{Params: &proxy.Bandwidth{Rate: -5}}, "rate -5"},
		{proxy.Fault{Params: &proxy.Slicer{}}, "size is required"},
		{proxy.Fault{Params: &proxy.Slicer{Size: 10, Variation: 10}}, "variation 10"},
		{proxy.Fault{Params: &proxy.LimitData{}}, "bytes is required"},
		{proxy.Fault{Params: &proxy.HTTPError{Status: 503}}, "needs a proxy with protocol http"},
	}
	for _, tt := range tests {
		if _, err := tcp.Add(tt.fault); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%+v) = %v; want an error containing %q", tt.fault, err, tt.want)
		}
	}
	if len(tcp.Faults()) != 0 {
		t.Errorf("Faults() = %v after only bad Adds", tcp.Faults())
	}
	if err := tcp.Remove("latency-99"); !errors.Is(err, proxy.ErrNoFault) {
		t.Errorf("Remove(unknown) = %v; want ErrNoFault", err)
	}
}

func TestNewParamsKnowsEveryKind(t *testing.T) {
	want := []string{"bandwidth", "down", "http_delay", "http_error", "latency", "limit_data", "reset", "slicer", "slow_close", "timeout"}
	if got := proxy.Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v; want %v", got, want)
	}
	for _, k := range want {
		p, err := proxy.NewParams(k)
		if err != nil || p.Kind() != k {
			t.Errorf("NewParams(%q) = %v, %v", k, p, err)
		}
	}
	if _, err := proxy.NewParams("latnecy"); err == nil {
		t.Error("NewParams(\"latnecy\") = nil error")
	}
}
