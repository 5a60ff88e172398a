package runner_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// portProxy forwards the connections it accepts to upstream, as Docker's
// port proxy does for a published port: it accepts first, and closes the
// client's connection when upstream cannot be reached.
func portProxy(t *testing.T, upstream string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.DialTimeout("tcp", upstream, time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String()
}

// A tcp probe on a port proxy in front of a service whose link is down:
// the port proxy accepts the connection and closes it when it cannot
// reach the service. The connect alone succeeded, and the check held
// while nothing could reach the service.
func TestTCPCheckBreaksBehindAPortProxy(t *testing.T) {
	px := "127.0.0.1:" + freePort(t)
	front := portProxy(t, px)
	j := run(t, strings.NewReplacer("${px}", px, "${front}", front).Replace(`version: v1
title: port proxy
targets:
  link: {proxy: {listen: "${px}", upstream: "${up}"}}
steady_state:
  - name: reachable
    probe: {tcp: {address: "${front}"}}
    interval: 100ms
method:
  - {fault: down, target: link, for: 1s}
`), newService(t))
	c := check(j, "reachable")
	if j.Verdict != journal.Deviated || c.Results["during"] != journal.Broken || !strings.Contains(c.Reasons["during"], "closed at once") {
		t.Fatalf("verdict %s: %s, check %s during (%v); want deviated, the check broken: the port proxy closed every connection at once", j.Verdict, j.Reason, c.Results["during"], c.Reasons)
	}
}
