package proxy_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func TestStartAfterCloseFails(t *testing.T) {
	p := proxy.New(proxy.Config{Name: "t", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1"})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Start after Close = %v; want an error saying it is closed", err)
	}
	if p.Addr() != "" {
		t.Errorf("a closed proxy listens on %s", p.Addr())
	}
}

func TestStartTwiceSaysSo(t *testing.T) {
	p := startProxy(t, "127.0.0.1:1", "tcp")
	if err := p.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Start = %v; want already started", err)
	}
}

// When the port is taken while a down fault keeps the proxy from
// listening, removing the fault still succeeds, and the proxy listens
// again as soon as the port is free.
func TestRemoveDownWhilePortTaken(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	addr := p.Addr()
	id := mustAdd(t, p, proxy.Fault{Params: &proxy.Down{}})
	squatter, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("take the port while down: %v", err)
	}
	if err := p.Remove(id); err != nil {
		t.Fatalf("Remove = %v; want nil (the fault is off either way)", err)
	}
	if n := len(p.Faults()); n != 0 {
		t.Fatalf("%d faults left after Remove", n)
	}
	squatter.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			roundTrip(t, c, []byte("back"))
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy does not listen again once the port is free: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The proxy keeps its own copy of a fault's settings.
func TestAddCopiesSettings(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "http")
	f := &proxy.HTTPError{Status: 503, Match: proxy.Match{PathRegex: "^/x"}}
	mustAdd(t, p, proxy.Fault{Params: f})
	f.Status, f.PathRegex = 418, "("
	infos := p.Faults()
	if got := infos[0].Params.(*proxy.HTTPError); got.Status != 503 || got.PathRegex != "^/x" {
		t.Fatalf("the proxy's fault changed with the caller's struct: %+v", got)
	}
	infos[0].Params.(*proxy.HTTPError).Status = 418
	if got := p.Faults()[0].Params.(*proxy.HTTPError); got.Status != 503 {
		t.Fatalf("Faults() handed out the proxy's own settings: changing them made %d", got.Status)
	}
	if _, err := p.Add(proxy.Fault{Params: (*proxy.Latency)(nil)}); err == nil {
		t.Error("Add with a nil *Latency succeeded")
	}
}

// Changes that race must leave every connection acting on the last fault
// set: a close-after timer of a removed timeout fault must not close it.
func TestRacingChangesEndOnTheLastSet(t *testing.T) {
	p := startProxy(t, serveTCP(t, echo), "tcp")
	conns := openConns(t, p, 100)
	for range 20 {
		id := mustAdd(t, p, proxy.Fault{Params: &proxy.Timeout{CloseAfter: 300 * time.Millisecond}})
		var wg sync.WaitGroup
		var other string
		wg.Add(2)
		go func() {
			defer wg.Done()
			other = mustAdd(t, p, proxy.Fault{Params: &proxy.SlowClose{Delay: time.Millisecond}})
		}()
		go func() {
			defer wg.Done()
			if err := p.Remove(id); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if err := p.Remove(other); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond) // past every close_after
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ok")); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("connection %d was closed by a removed fault: %v", i, err)
		}
	}
}
