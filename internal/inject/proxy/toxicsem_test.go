package proxy_test

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// counting serves echo and counts the bytes the upstream received.
func counting(n *atomic.Int64) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			n.Add(int64(k))
			if k > 0 {
				c.Write(buf[:k])
			}
			if err != nil {
				return
			}
		}
	}
}

func TestTimeoutDropDiscardsAndClosesOnRemove(t *testing.T) {
	var got atomic.Int64
	p := startProxy(t, serveTCP(t, counting(&got)), "tcp")
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("before"))
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{Drop: true}, Direction: proxy.Upstream})
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); !isTimeout(err) {
		t.Fatalf("read during the timeout = %d, %v; want nothing", n, err)
	}
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	// The dropped bytes never come: the connection ends instead.
	b, err := readAll(c, 5*time.Second)
	if len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("after removing the timeout read %q, %v; want the connection closed", b, err)
	}
	if n := got.Load(); n != int64(len("before")) {
		t.Errorf("upstream received %d bytes; want only the %d sent before the timeout", n, len("before"))
	}
	// A connection the timeout never hit is not closed by its removal.
	c2 := dial(t, p.Addr())
	roundTrip(t, c2, []byte("new"))
	id = mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{Drop: true}, Percent: 0.000001})
	if err := p.Remove(id); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c2, []byte("still open"))
}

func TestTimeoutDropCloseAfter(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{Drop: true, CloseAfter: 200 * time.Millisecond}})
	start := time.Now()
	c.Write([]byte("ping"))
	b, err := readAll(c, 5*time.Second)
	if len(b) != 0 || err != nil {
		t.Errorf("read %q, %v; want nothing, then EOF", b, err)
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("closed after %v; want about 200ms", d)
	}
}

func TestResetOnData(t *testing.T) {
	var got atomic.Int64
	p := startProxy(t, serveTCP(t, counting(&got)), "tcp")
	mustAdd(t, p, proxy.Fault{Params: &proxy.Reset{OnData: true, Delay: 200 * time.Millisecond}, Direction: proxy.Upstream})
	c := dial(t, p.Addr())
	// Nothing sent: the connection stays.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("idle read = %v; want the connection still open", err)
	}
	start := time.Now()
	c.Write([]byte("trigger"))
	_, err := readAll(c, 5*time.Second)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after sending = %v; want connection reset", err)
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("reset %v after the data; want about 200ms", d)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("upstream received %d bytes; want the triggering bytes dropped", n)
	}

	// The end of the stream triggers it too.
	c = dial(t, p.Addr())
	c.CloseWrite()
	if _, err := readAll(c, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after a half-close = %v; want connection reset", err)
	}
}

func TestUpdateKeepsTheFault(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Latency{Delay: 200 * time.Millisecond}})
	if d := roundTrip(t, c, []byte("slow")); d < 190*time.Millisecond {
		t.Fatalf("round trip under 200ms latency took %v", d)
	}
	if err := p.Update(id, proxy.Fault{Params: &proxy.Latency{Delay: 5 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, c, []byte("fast")); d > 150*time.Millisecond {
		t.Errorf("round trip after updating to 5ms took %v", d)
	}
	fs := p.Faults()
	if len(fs) != 1 || fs[0].ID != id || fs[0].Params.(*proxy.Latency).Delay != 5*time.Millisecond {
		t.Errorf("Faults() after Update = %+v", fs)
	}
	if err := p.Update("latency-99", proxy.Fault{Params: &proxy.Latency{Delay: 1}}); !errors.Is(err, proxy.ErrNoFault) {
		t.Errorf("Update(unknown) = %v; want ErrNoFault", err)
	}
	if err := p.Update(id, proxy.Fault{Params: &proxy.Latency{}}); err == nil {
		t.Error("Update with a zero latency succeeded")
	}

	// limit_data's count carries on over an update.
	lim := mustAdd(t, p, proxy.Fault{Params: &proxy.LimitData{Bytes: 10}})
	roundTrip(t, c, []byte("123456"))
	if err := p.Update(lim, proxy.Fault{Params: &proxy.LimitData{Bytes: 8}}); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("abcdef"))
	b, _ := readAll(c, 5*time.Second)
	if string(b) != "ab" {
		t.Errorf("after 6 of 8 bytes, read %q; want \"ab\" then the end", b)
	}
}

// A limit_data lowered below what already went through closes the
// connection at the next bytes, which it drops, as Toxiproxy's does; it
// used to bring the whole proxy down.
func TestLimitDataLoweredBelowWhatPassed(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	c := dial(t, p.Addr())
	lim := mustAdd(t, p, proxy.Fault{Params: &proxy.LimitData{Bytes: 10}})
	roundTrip(t, c, []byte("123456"))
	if err := p.Update(lim, proxy.Fault{Params: &proxy.LimitData{Bytes: 4}}); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("abc"))
	if b, _ := readAll(c, 5*time.Second); len(b) != 0 {
		t.Errorf("after 6 bytes, under a limit lowered to 4, read %q; want nothing, then the end", b)
	}
	// The proxy still serves.
	roundTrip(t, dial(t, p.Addr()), []byte("1234"))
}

func TestMaxFaults(t *testing.T) {
	p := proxy.New(proxy.Config{Upstream: "127.0.0.1:1"})
	for i := range proxy.MaxFaults {
		if _, err := p.Add(proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}}); err != nil {
			t.Fatalf("Add #%d = %v", i+1, err)
		}
	}
	_, err := p.Add(proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}})
	if !errors.Is(err, proxy.ErrTooManyFaults) || !strings.Contains(err.Error(), "100") {
		t.Errorf("Add past the cap = %v; want ErrTooManyFaults", err)
	}
	if n := len(p.Faults()); n != proxy.MaxFaults {
		t.Errorf("%d faults; want %d", n, proxy.MaxFaults)
	}
}

func TestResetRejectsDelayAlone(t *testing.T) {
	for _, r := range []proxy.Reset{{Delay: time.Second}, {OnData: true, AfterBytes: 5}, {OnData: true, Delay: -1}} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil", r)
		}
	}
}
